"""Writing a released model package to a directory, all or nothing.

Shared by the ``directory`` and ``container`` deploy targets, so both write the
package (and its ``release.json``) the same way and replace an earlier export the
same way. Stdlib only: ``framework`` re-exports these for plugins.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.components import Release

RELEASE_FILE = "release.json"
"""Which model version a package is: ``specops serve --package`` reads its name and version."""


def write_release_package(release: Release, directory: Path) -> None:
    """Copy the release's model package into ``directory``, plus ``release.json``.

    ``release.json`` lists every file with its sha256, so loading the directory
    (``specops serve --package``) refuses a file changed, lost or added since.
    """
    from framework.manifest import MANIFEST_KEY, package_files

    shutil.copytree(release.package_dir, directory, dirs_exist_ok=True)
    info = {
        "name": release.name,
        "version": release.version,
        "task": release.task,
        MANIFEST_KEY: package_files(directory),
    }
    (directory / RELEASE_FILE).write_text(json.dumps(info, indent=2))


def replace_directory(
    target: Path,
    write: Callable[[Path], None],
    *,
    owner: Mapping[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Have ``write`` fill a staging directory beside ``target``, mark it as specops'
    (with ``owner``: target type, model, version, run), then swap it into place.

    Only an absent path, an empty directory or a directory an earlier deploy wrote
    (see :mod:`framework.ownership`) is replaced; anything else raises UserError naming
    it, before anything is written. A reader of ``target`` sees the old directory or the
    new one, never half of one; if ``write`` fails, ``target`` is left as it was and
    the staging directory is removed. Nothing but the staging directory and the old,
    marked ``target`` is ever deleted. ``actor`` names who is refused
    (:data:`framework.ownership.DEPLOY`, the default, or ``PREDICT``). A staging
    directory left by a writer that was killed is removed by the next write of
    ``target`` (:mod:`framework.partial_output`).
    """
    from framework.errors import UserError
    from framework.ownership import DEPLOY, replace_refusal, write_marker
    from framework.partial_output import staging_directory

    run_id = (owner or {}).get("run_id")
    actor = actor or DEPLOY
    refusal = replace_refusal(target, run_id, actor=actor)
    if refusal:
        raise UserError(refusal)
    target.parent.mkdir(parents=True, exist_ok=True)
    # locked while this process lives: one killed mid-write is swept by the next write
    with staging_directory(target) as (staging, retired):
        write(staging)
        write_marker(staging, owner or {})
        refusal = replace_refusal(target, run_id, actor=actor)  # changed while we wrote?
        if refusal:
            raise UserError(refusal)
        if target.exists():
            # a fresh name of our own: a user's file called ".NAME-old" is never touched
            os.replace(target, retired)
            try:
                os.replace(staging, target)
            except OSError:
                os.replace(retired, target)
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
