"""Writing a released model package to a directory, all or nothing.

Shared by the ``directory`` and ``container`` deploy targets, so both write the
package (and its ``release.json``) the same way and replace an earlier export the
same way. Stdlib only: ``framework`` re-exports these for plugins.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.components import Release

RELEASE_FILE = "release.json"
"""Which model version a package is: ``specops serve --package`` reads its name and version."""


def write_release_package(release: Release, directory: Path) -> None:
    """Copy the release's model package into ``directory``, plus ``release.json``."""
    shutil.copytree(release.package_dir, directory, dirs_exist_ok=True)
    info = {"name": release.name, "version": release.version, "task": release.task}
    (directory / RELEASE_FILE).write_text(json.dumps(info, indent=2))


def replace_directory(target: Path, write: Callable[[Path], None]) -> None:
    """Have ``write`` fill a staging directory beside ``target``, then swap it into place.

    A reader of ``target`` sees the old directory or the new one, never half of one;
    if ``write`` fails, ``target`` is left as it was and the staging directory is removed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        write(staging)
        if target.exists():
            retired = target.with_name(f".{target.name}-old")
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
