"""What a damaged, full or read-only store means to a user: one message, exit code 2.

SQLite and the OS report these as ``sqlite3.DatabaseError`` ("file is not a
database", "database disk image is malformed", "database or disk is full",
"attempt to write a readonly database") or ``OSError`` (ENOSPC, EDQUOT, EFBIG,
EROFS, EACCES), from wherever the write or read happened. None of them is a bug of
specops: each is turned into a :class:`StoreError` naming the file and what to do.
This module imports nothing heavy, so the CLI's error path may use it freely.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from framework.errors import StoreError, UserError

NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
"""Out of room: the disk is full, the user's quota is used up, or a file size limit."""

READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
"""The file system or the permissions refuse writes."""

_opened: list[Path] = []
"""The store databases this process opened, newest last: an SQLite error found while
reading a damaged page later carries no file name, so the message names this one."""


def remember(database: Path) -> None:
    if database not in _opened:
        _opened.append(database)


def damaged(database: Path, why: str) -> StoreError:
    """The one message for a store database SQLite cannot read."""
    return StoreError(
        f"store database {database} is damaged ({why}): restore it from a backup, or move "
        f"the store {database.parent} away to start a new one"
    )


def read_only(root: Path, why: str) -> StoreError:
    return StoreError(
        f"the store at {root} is read-only ({why}): this command writes to it; read-only "
        "commands (models list/show, runs list/show/diff, store verify, store gc without "
        "--apply, predict, serve --no-request-log) still work"
    )


def no_space(path: str | os.PathLike[str] | None, detail: str = "") -> UserError:
    """No room left while writing ``path``: name the file and its file system."""
    where = f" while writing {path}" if path else ""
    mount = f" (file system at {_mount_point(Path(path))})" if path else ""
    extra = f"; {detail}" if detail else ""
    return UserError(
        f"no space left on device{where}{mount}{extra}: free some space (or raise the quota "
        "or file size limit) and run again; nothing was half-written"
    )


def write_error(path: Path, exc: OSError) -> UserError:
    """Writing ``path`` failed: a full disk says so in the common words, else the OS's."""
    if exc.errno in NO_SPACE or _says_no_space(str(exc)):
        return no_space(path)
    return UserError(f"cannot write {path}: {exc}")


def as_user_error(exc: BaseException) -> UserError | None:
    """The user-facing error an SQLite or OS failure means, or None if it means a bug.

    The failure may be the cause of what reached the CLI (a plugin's code that hit a
    full disk is reported as a fault of that plugin; the disk is the problem).
    """
    if isinstance(exc, UserError):
        return None
    for current in _chain(exc):
        if isinstance(current, sqlite3.DatabaseError):
            found = _sqlite_error(current)
            if found is not None:
                return found
        if isinstance(current, OSError) and current.errno in NO_SPACE | READ_ONLY:
            return _from_os_error(current)
        bad_path = _bad_path(current)
        if bad_path is not None:
            return bad_path
    if any(_says_no_space(str(current)) for current in _chain(exc)):
        return no_space(None, str(exc))  # a library that reported ENOSPC only in words
    return None


SHOWN_PATH = 120
"""Characters of an over-long path a message shows (its start and its end)."""


def _bad_path(exc: BaseException) -> UserError | None:
    """A path no file system takes (a name over 255 bytes, a path over 4096, a NUL
    character): it came from a spec or an argument, so it is bad input, not a bug
    of whichever plugin or module tried to open it first."""
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        name = str(exc.filename) if exc.filename is not None else ""
        shown = name if len(name) <= SHOWN_PATH else f"{name[:60]}...{name[-50:]}"
        return UserError(
            f"path too long for the file system ({len(name)} characters; a name may have "
            f"at most 255 bytes, a whole path 4096): {shown}; shorten it in the spec or "
            "the arguments"
        )
    if isinstance(exc, ValueError) and "embedded null byte" in str(exc):
        return UserError(
            "a path contains a NUL character, which no file system accepts: check the "
            'paths in the spec (a YAML escape such as "\\0") and the arguments'
        )
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from or during, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _says_no_space(text: str) -> bool:
    return "No space left on device" in text or "Disk quota exceeded" in text


def _sqlite_error(exc: sqlite3.DatabaseError) -> UserError | None:
    database = _opened[-1] if _opened else Path("store.db")
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name == "SQLITE_FULL" or "disk is full" in text:
        return no_space(database)
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return read_only(database.parent, f"cannot write {database.name}: {text}")
    if (
        name in {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
        or "malformed" in text
        or "not a database" in text
    ):
        return damaged(database, text)
    if name.startswith("SQLITE_CANTOPEN") or "unable to open database" in text:
        return StoreError(f"cannot open store database {database}: {text}")
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        if _nearly_full(database):  # SQLite says "I/O error" when it cannot grow -shm/-wal
            return no_space(database, f"SQLite: {text}")
        return StoreError(
            f"reading or writing store database {database} failed ({text}): the disk or "
            "file system reported an error; check it, then run `specops store verify`"
        )
    return None


def _from_os_error(exc: OSError) -> UserError:
    if exc.errno in NO_SPACE:
        return no_space(exc.filename)
    where = f"{exc.filename}" if exc.filename else "a file"
    if exc.errno == errno.EROFS:
        return UserError(f"cannot write {where}: it is on a read-only file system")
    return UserError(f"permission denied: {where} ({exc.strerror}); check who owns it")


NEARLY_FULL = 256 * 1024
"""Bytes: with less free than this, an SQLite I/O error is taken to mean a full disk."""


def _nearly_full(path: Path) -> bool:
    try:
        stats = os.statvfs(_mount_point(path))
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < NEARLY_FULL


def _mount_point(path: Path) -> Path:
    """The mount point of the file system holding ``path`` (which may not exist yet)."""
    current = existing_parent(path)
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current


def existing_parent(path: Path) -> Path:
    """``path``, or its nearest ancestor that exists."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current
