"""An exported package's file list with each file's sha256, written at export, checked at load.

A package in the store is verified blob by blob as it is copied out; an exported
directory (``directory`` and ``container`` deploy targets) has no store behind it, so
``release.json`` carries ``files: {relative path: sha256}`` for every file, and loading
the directory refuses a changed, missing or added file, naming it, before reading any
of them. This catches a half-copied, damaged or hand-edited package; it is not a
signature: whoever can rewrite the model files can rewrite ``release.json`` too.

A ``release.json`` without ``files`` (exported by an earlier specops) still loads,
with a warning that nothing was verified.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from framework.errors import StoreError
from framework.export import RELEASE_FILE

MANIFEST_KEY = "files"
NOT_LISTED: frozenset[str] = frozenset({RELEASE_FILE, ".specops-deploy.json"})
"""Files beside the package that are not part of it: the manifest itself and the deploy
target's ownership marker (``framework.ownership.MARKER``), written after the package."""

log = logging.getLogger("specops.package")


def sha256_of(path: Path) -> str:
    """The store's own file hash (imported late: loading the store is not needed to start)."""
    from framework.store.artifacts import sha256_file

    return sha256_file(path)


def package_files(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (posix relative path -> sha256), except ``NOT_LISTED``."""
    files: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if relative in NOT_LISTED:
            continue
        if path.is_symlink():
            raise StoreError(f"model package {directory}: {relative} is a symbolic link")
        if path.is_file():
            files[relative] = sha256_of(path)
    return files


def check_entries(directory: Path) -> None:
    """Refuse a package holding anything but regular files and folders.

    Checked for every package, with or without ``release.json``: a FIFO named
    ``signature.json`` blocked the loader for ever, and ``model/model.txt`` linked to
    ``/dev/zero`` was read without end. Nothing is opened here (``lstat`` only), and
    folders are walked with a list, not recursion, however deep they nest.
    """
    pending = [directory]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise StoreError(f"model package {directory}: cannot list {folder}: {exc}") from exc
        for entry in entries:
            relative = Path(entry.path).relative_to(directory).as_posix()
            if entry.is_symlink():
                raise StoreError(f"model package {directory}: {relative} is a symbolic link")
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif not entry.is_file(follow_symlinks=False):
                raise StoreError(
                    f"model package {directory}: {relative} is not a regular file "
                    "(a FIFO, socket or device)"
                )


def verify_package(directory: Path) -> None:
    """Refuse a package holding special files or symbolic links, and an exported package
    whose files differ from its ``release.json`` list.

    The list is not checked for a directory without ``release.json`` (a package
    materialised from the store, already verified blob by blob).
    """
    check_entries(directory)
    release = directory / RELEASE_FILE
    if not release.is_file():
        return
    try:
        listed = json.loads(release.read_text()).get(MANIFEST_KEY)
    except (OSError, ValueError, AttributeError, RecursionError) as exc:
        raise StoreError(f"{release} is unreadable: {exc}") from exc
    if listed is None:
        log.warning(
            "%s lists no file hashes (exported by an older specops): its files are not "
            "verified; export it again to add them",
            release,
        )
        return
    if not isinstance(listed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in listed.items()
    ):
        raise StoreError(f"{release}: '{MANIFEST_KEY}' must map file paths to sha256 hashes")
    actual = package_files(directory)
    for relative in sorted(listed):
        if relative not in actual:
            raise StoreError(
                f"model package {directory}: {relative} is missing (listed in {RELEASE_FILE})"
            )
        if actual[relative] != listed[relative]:
            raise StoreError(
                f"model package {directory}: {relative} has changed since export "
                f"(sha256 {actual[relative][:12]}..., {RELEASE_FILE} says "
                f"{listed[relative][:12]}...); export it again"
            )
    added = sorted(set(actual) - set(listed))
    if added:
        raise StoreError(
            f"model package {directory}: {added[0]} is not part of the exported package "
            f"(not listed in {RELEASE_FILE})"
        )
