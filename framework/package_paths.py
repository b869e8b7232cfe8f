"""Where a stored version's files may be written: inside its package folder, nowhere else.

A version's file list (``ModelVersion.files``: relative path -> sha256) is read from the
store's database, and whoever can write that database (a team store's PostgreSQL, a
store handed over for ``store copy``, a hand-edited ``store.db``) chooses it. Its keys
become paths when a package is written out (``ModelPackage.from_store``, a runtime's
folder for ``models show`` and the UI's version page) and its values name blobs. A key
``../../home/u/.bashrc`` wrote a blob of the attacker's choosing there (tested by
tests/test_red_team_store_paths.py); so every key must be a plain relative path inside
the package, and every value a sha256, before anything is written or read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from framework.errors import StoreError

SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_PATH = 1024
"""Characters of a package file's relative path (specops writes a few dozen)."""


def path_problem(relative: object) -> str | None:
    """Why ``relative`` is not a path inside a package folder, or None."""
    if not isinstance(relative, str) or not relative:
        return "is not a non-empty text"
    if len(relative) > MAX_PATH:
        return f"is longer than {MAX_PATH} characters"
    if "\0" in relative or "\\" in relative:
        return "holds a NUL or a backslash"
    if relative.startswith("/"):
        return "is absolute"
    if any(part in ("", ".", "..") for part in relative.split("/")):
        return "has an empty, '.' or '..' part"
    return None


def check_version_files(files: Mapping[str, str], ref: str) -> None:
    """StoreError unless every path of ``files`` stays inside the package and every
    digest is a sha256: the row names files no specops wrote (a damaged or crafted
    store), so nothing of it is written or read."""
    if not isinstance(files, Mapping):
        raise StoreError(f"{ref}'s file list is not a mapping: the store is damaged")
    for relative, digest in files.items():
        problem = path_problem(relative)
        if problem is None and not (isinstance(digest, str) and SHA256.fullmatch(digest)):
            problem = f"names the blob {str(digest)[:80]!r}, which is not a sha256"
        if problem is not None:
            raise StoreError(
                f"{ref}'s file {str(relative)[:120]!r} {problem}: the store's record of this "
                "version is damaged or crafted; nothing of it is written or read "
                "(`specops store verify`)"
            )


def inside(directory: Path, relative: str, ref: str) -> Path:
    """``directory / relative``, only for a ``relative`` :func:`path_problem` accepts."""
    problem = path_problem(relative)
    if problem is not None:
        raise StoreError(
            f"{ref}'s file {str(relative)[:120]!r} {problem}: not written outside its folder"
        )
    return directory / relative
