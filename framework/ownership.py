"""What a deploy target may replace: only a directory it wrote itself, never the project.

A deploy target's ``path`` comes from a spec, and a spec is untrusted input: a typo
(``path: .``, ``path: ../data``) must not delete what the user keeps there. So every
directory a target writes carries a marker file, :data:`MARKER`, that names what wrote
it and lists every file it wrote. An existing path is replaced only when it is

* an empty directory (nothing is lost), or
* a real directory (not a symbolic link) holding that marker and nothing the marker
  does not list (a file the user added later would be lost, so it is refused too).

Anything else (a file, a link, a directory of someone else's files) is refused with a
message naming the path. A target that writes one file (the ``batch`` target's
predictions) leaves a sidecar marker beside it, ``.NAME.specops-deploy.json``, with the
file's size and SHA-256: the file is replaced only while it is still what it wrote.

Independently of markers, a path that is the spec's folder, the store, or a parent of
either is refused at ``specops validate``: replacing it would delete the spec, its data
or the registry. Stdlib only: ``framework`` exports these.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.components import Finding, StepContext

MARKER = ".specops-deploy.json"
"""The file a deploy target writes into each directory it creates, to prove it owns it."""

MARKER_KIND = "specops deploy target output"
"""The marker's ``written_by``: a JSON file that merely has the name is not a marker."""

MAX_LISTED = 5
"""How many unexpected files a refusal names before it says 'and N more'."""

DEPLOY = "a deploy"
PREDICT = "specops predict"
"""Who is refused, as a refusal names it (``actor``): ``a deploy only replaces a
directory it wrote itself``, ``the last specops predict did not write``."""


def write_marker(directory: Path, owner: Mapping[str, Any]) -> None:
    """Record in ``directory`` that specops wrote it, with ``owner`` (target type, model,
    version, run) and the list of every file and folder in it, so a later deploy can tell
    its own files from files a user added."""
    entries = sorted(_entries(directory) - {MARKER})
    info = {
        "written_by": MARKER_KIND,
        **dict(owner),
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": entries,
    }
    _write_new(directory / MARKER, json.dumps(info, indent=2, default=str) + "\n")


def replace_refusal(target: Path, run_id: str | None = None, *, actor: str = DEPLOY) -> str | None:
    """Why ``target`` may not be replaced by ``actor`` (:data:`DEPLOY`, :data:`PREDICT`:
    the rule is the same, the message names who asks), or None when it may (absent,
    an empty directory, or a directory specops wrote that holds nothing else).
    ``run_id``: the deploying run; what another target of that same run wrote is
    refused too (two targets of one spec share the path, the first would be lost)."""
    if target.is_symlink():
        return _refusal(target, f"is a symbolic link (to {os.readlink(target)})", actor=actor)
    if not target.exists():
        return None
    if not target.is_dir():
        return _refusal(target, f"is a file, not a directory {actor} wrote", actor=actor)
    try:
        found = _entries(target)
    except OSError as exc:
        return _refusal(target, f"cannot be listed ({exc.strerror or exc})", actor=actor)
    if not found:
        return None
    marker = target / MARKER
    if MARKER not in found or marker.is_symlink() or not marker.is_file():
        why = f"is a directory specops did not write (it has no {MARKER})"
        return _refusal(target, why, actor=actor)
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
        listed = set(info["files"]) if info.get("written_by") == MARKER_KIND else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        listed = None
    if listed is None:
        return _refusal(target, f"has a {MARKER} that specops did not write", actor=actor)
    if run_id is not None and info.get("run_id") == run_id:
        return _same_run(target, info)
    extra = sorted(found - listed - {MARKER})
    if extra:
        named = ", ".join(extra[:MAX_LISTED])
        if len(extra) > MAX_LISTED:
            named += f" and {len(extra) - MAX_LISTED} more"
        why = f"holds files {_the_last(actor)} did not write: {named}"
        return _refusal(target, why, actor=actor)
    return None


def file_marker(path: Path) -> Path:
    """The sidecar marker of a file a deploy writes: ``.NAME.specops-deploy.json`` beside it."""
    return path.with_name(f".{path.name}{MARKER}")


def mark_file(path: Path, owner: Mapping[str, Any]) -> None:
    """Record beside ``path`` that a deploy wrote it, with its size and SHA-256, so the
    next deploy can tell it from a file someone else put (or changed) there."""
    info = {
        "written_by": MARKER_KIND,
        **dict(owner),
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "file": path.name,
        "size": path.stat().st_size,
        "sha256": _sha256(path),
    }
    _write_new(file_marker(path), json.dumps(info, indent=2, default=str) + "\n")


def file_refusal(path: Path, run_id: str | None = None, *, actor: str = DEPLOY) -> str | None:
    """Why the file at ``path`` may not be replaced by ``actor``, or None when it may
    (absent, or exactly the file specops wrote there, by its sidecar marker; not
    one another target of the deploying run ``run_id`` wrote)."""
    if path.is_symlink():
        why = f"is a symbolic link (to {os.readlink(path)})"
        return _refusal(path, why, what="file", actor=actor)
    marker = file_marker(path)
    if not path.exists():
        return _absent_file_refusal(path, marker, actor)
    if not path.is_file():
        return _refusal(path, "is not a file", what="file", actor=actor)
    if marker.is_symlink() or not marker.is_file():
        why = f"is a file specops did not write (no {marker.name})"
        return _refusal(path, why, what="file", actor=actor)
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
        recorded = (info["size"], info["sha256"]) if info.get("written_by") == MARKER_KIND else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        recorded = None
    if recorded is None:
        why = f"has a {marker.name} that specops did not write"
        return _refusal(path, why, what="file", actor=actor)
    if run_id is not None and info.get("run_id") == run_id:
        return _same_run(path, info)
    try:
        current = (
            (path.stat().st_size, _sha256(path)) if path.stat().st_size == recorded[0] else None
        )
    except OSError as exc:
        why = f"cannot be read ({exc.strerror or exc})"
        return _refusal(path, why, what="file", actor=actor)
    if current != tuple(recorded):
        why = f"changed since {_the_last(actor)} wrote it"
        return _refusal(path, why, what="file", actor=actor)
    return None


def protected_refusal(target: Path, ctx: StepContext) -> str | None:
    """Why ``target`` (resolved) must never be a deploy path whatever it holds: it is
    the spec's folder, the store, a parent of one of them, or inside the store."""
    places = [("the spec's folder", ctx.base_dir)]
    if ctx.store_root is not None:
        places.append(("the store", ctx.store_root))
    target = target.resolve()
    for label, place in places:
        place = place.resolve()
        if _same(target, place):
            return f"deploy path {target} is {label}: a deploy would replace it"
        if any(_same(target, parent) for parent in place.parents):
            return f"deploy path {target} holds {label} ({place}): a deploy would replace it"
    if ctx.store_root is not None:
        store = ctx.store_root.resolve()
        if any(_same(parent, store) for parent in target.parents):
            return f"deploy path {target} is inside the store ({store})"
    return None


def _same(path: Path, place: Path) -> bool:
    """Whether two paths name one directory: equal, or (both existing) the same file on
    disk, however spelt: another case on a case-insensitive file system (macOS,
    Windows), a bind mount, a second mount of the same folder."""
    if path == place:
        return True
    try:
        return os.path.samefile(path, place)
    except (OSError, ValueError):
        return False


def deploy_path_findings(target: Path, ctx: StepContext, key: str = "path") -> list[Finding]:
    """A deploy directory's static checks, for a target's ``validate``: not a protected
    place, no file where a parent folder must go, and nothing there it may not replace."""
    from framework.components import Finding

    hint = "choose a new or empty directory; paths are relative to the spec file"
    from framework.partial_output import STAGING_ADDED

    refusal = _length_refusal(target, STAGING_ADDED) or protected_refusal(target, ctx)
    if refusal:
        return [Finding(refusal, key=key, hint=hint)]
    for place in target.parents:
        if place.exists():
            if not place.is_dir():
                return [Finding(f"{place} exists and is not a directory", key=key)]
            break
    refusal = replace_refusal(target)
    return [Finding(refusal, key=key)] if refusal else []


def deploy_file_findings(target: Path, ctx: StepContext, key: str) -> list[Finding]:
    """A deployed file's static checks, for a target's ``validate``: not in the store,
    not over a folder, and nothing there it may not replace."""
    from framework.components import Finding

    refusal = (
        _length_refusal(target, len(f".{MARKER}") + len(".tmp") + 10)
        or protected_refusal(target, ctx)
        or file_refusal(target)
    )
    return [Finding(refusal, key=key)] if refusal else []


NAME_MAX = 255
"""Bytes in one file or folder name on common file systems (ext4, XFS, APFS, NTFS)."""

PATH_MAX = 4096
"""Bytes in a whole path on Linux."""


def _length_refusal(target: Path, added: int) -> str | None:
    """Why ``target`` cannot be written by a deploy because a name in it is too long
    (with the ``added`` characters of the staging or marker name made from it), caught
    at ``validate`` rather than after the model is registered."""
    longest = max((len(part.encode()) for part in target.parts), default=0)
    if longest + added > NAME_MAX:
        return (
            f"deploy path {_shortened(target)} has a name of {longest} bytes: a deploy "
            f"adds {added} characters to it for its staging or marker files, and a name "
            f"may have at most {NAME_MAX} bytes"
        )
    if len(str(target).encode()) + added > PATH_MAX:
        return (
            f"deploy path {_shortened(target)} is {len(str(target).encode())} bytes long: "
            f"a path may have at most {PATH_MAX}"
        )
    return None


def _shortened(target: Path) -> str:
    text = str(target)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-50:]}"


def _absent_file_refusal(path: Path, marker: Path, actor: str = DEPLOY) -> str | None:
    """Why a deploy may not write the absent file ``path``: its sidecar's name is
    taken by a link or by something specops did not write (the marker written after
    the output would replace it), or None."""
    if marker.is_symlink():
        why = f"has a {marker.name} that is a symbolic link (to {os.readlink(marker)})"
        return _refusal(path, why, what="file", actor=actor)
    if not marker.exists():
        return None
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
        ours = isinstance(info, dict) and info.get("written_by") == MARKER_KIND
    except (OSError, ValueError):
        ours = False
    if not ours:
        why = f"has a {marker.name} that specops did not write"
        return _refusal(path, why, what="file", actor=actor)
    return None


def _write_new(path: Path, text: str) -> None:
    """Write ``path`` through a fresh temporary file renamed over it: a link (or a link
    put there since a check) at that name is replaced, never followed to its target."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)  # as a plain write would leave it, not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _entries(directory: Path) -> set[str]:
    """Every file, folder and link under ``directory`` (links not followed), as
    POSIX paths relative to it."""
    found: set[str] = set()
    for root, dirs, files in os.walk(directory, followlinks=False, onerror=_raise):
        base = Path(root).relative_to(directory)
        for name in (*dirs, *files):
            found.add((base / name).as_posix())
    return found


def _raise(error: OSError) -> None:
    raise error


def _same_run(path: Path, info: dict[str, Any]) -> str:
    return (
        f"{path} was just written by this run's {info.get('target', 'other')} deploy target; "
        "two deploy targets of one spec write to the same path: give each its own"
    )


def _sha256(path: Path) -> str:
    from framework.store.artifacts import sha256_file  # late: framework's import stays light

    return sha256_file(path)


def _the_last(actor: str) -> str:
    """``a deploy`` -> ``the last deploy``; ``specops predict`` -> ``the last specops predict``."""
    for article in ("a ", "an "):
        if actor.startswith(article):
            return f"the last {actor[len(article) :]}"
    return f"the last {actor}"


def _refusal(target: Path, why: str, what: str = "directory", actor: str = DEPLOY) -> str:
    new = "new or empty path" if what == "directory" else "new path"
    return (
        f"{target} {why}; {actor} only replaces a {what} it wrote itself "
        f"(marked by {MARKER}). Choose a {new}, or remove {target} yourself "
        "if nothing in it is needed"
    )
