"""Opening a store's database: refuse a damaged or lost one, and read a read-only one.

Checked before SQLite touches the file, because SQLite would otherwise treat a
0-byte file as a new, empty store (and the next run would start at version 1 while
``store gc`` saw every model blob as garbage), and report a truncated or replaced
file only later, as a bare "file is not a database".
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote

from framework.errors import StoreError
from framework.redact import RedactingConnection
from framework.store.failures import damaged, existing_parent, remember

DATABASE = "store.db"
SQLITE_MAGIC = b"SQLite format 3\x00"


_connections: dict[Path, int] = {}
"""SQLite connections this process has open, per database file.

Closing *any* descriptor of a file drops every POSIX lock this process holds on it,
SQLite's included. A header read while a connection is open would therefore leave
that connection unlocked: another process closing the store would then take itself
for the last user and delete the WAL file under it, and the connection (a server's
alias follower, say) would read a deleted WAL, never seeing a commit again. So the
header is read only when no connection here has the file open; one that is open
was checked when it was opened.
"""


opening = threading.RLock()
"""Held from a header check to the count of the connection opened after it, so that no
thread reads a header while another thread's connection is open but not yet counted."""


def connection_opened(database: Path) -> None:
    key = database.absolute()
    with opening:
        _connections[key] = _connections.get(key, 0) + 1


def connection_closed(database: Path) -> None:
    key = database.absolute()
    with opening:
        left = _connections.get(key, 0) - 1
        if left > 0:
            _connections[key] = left
        else:
            _connections.pop(key, None)


def check_database_file(root: Path) -> None:
    """Refuse a store whose database is not SQLite, is truncated, or is lost while its
    blobs remain. A store with neither (a genuinely new one) passes."""
    database = root / DATABASE
    with opening:
        if database.absolute() in _connections:
            return  # checked when first opened; reading it now would drop SQLite's locks
        _check_database_file(root, database)


STORE_DIRECTORIES = {
    "artifacts": "its blobs",
    "live": "the lock files of live processes",
    "serve": "the records of its servers",  # framework.serving.daemon.SERVE_DIR
}
"""Folders a store keeps under its root, and what each holds (for the message)."""


def check_layout(root: Path) -> None:
    """Refuse a store whose root, database or folders are the wrong kind of thing (a
    file where a folder goes, a folder where store.db goes): named, before any
    ``mkdir`` or ``open`` inside it fails with a bare FileExistsError."""
    if _exists(root) and not root.is_dir():
        raise StoreError(
            f"the store path {root} is {_kind(root)}, not a store directory: "
            "point --store (or store.path) at the .specops directory, or move it away"
        )
    database = root / DATABASE
    if _exists(database) and not database.is_file():
        raise StoreError(
            f"store database {database} is {_kind(database)}, not a file: "
            "restore store.db from a backup, or move the store away to start a new one"
        )
    for name, holds in STORE_DIRECTORIES.items():
        place = root / name
        if _exists(place) and not place.is_dir():
            raise StoreError(
                f"{place} is {_kind(place)}, but the store keeps {holds} in a folder "
                f"there: move it away (or restore {root} from a backup) and run again"
            )


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _kind(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"a broken symbolic link (to {os.readlink(path)})"
    if path.is_dir():
        return "a directory"
    return "a file" if path.is_file() else "a special file"


def _check_database_file(root: Path, database: Path) -> None:
    check_layout(root)
    size = database.stat().st_size if database.is_file() else None
    if not size:
        blobs = _count_blobs(root / "artifacts")
        if blobs:
            state = "missing" if size is None else "empty (0 bytes)"
            raise StoreError(
                f"store database {database} is {state}, but {root / 'artifacts'} holds "
                f"{blobs} blob(s): the store's records are lost, not new. Restore store.db "
                "from a backup; specops will not start a new store over these blobs, nor "
                "garbage-collect them (move artifacts/ away to start afresh)"
            )
        return
    # a checkpoint writes page 1 (the new page count) before the pages that grow the
    # file, so a concurrent reader may see a header ahead of the size: look again
    deadline = time.monotonic() + TORN_READ_SECONDS
    while True:
        problem, settled = _header_problem(database)
        if problem is None:
            return
        if problem.startswith("truncated") and _has_wal(database):
            # a checkpoint that stopped half-way (its process killed, or the disk full
            # while it grew the file) leaves exactly this; the WAL still holds every
            # page and SQLite finishes the checkpoint on the next open. Real damage
            # is still found by the first read of a missing page, or `store verify`.
            return
        if settled or time.monotonic() > deadline:
            raise damaged(database, problem)
        time.sleep(0.05)


TORN_READ_SECONDS = 1.0
"""How long a database whose size disagrees with its header is looked at again before
it is called truncated (a checkpoint of another process may be extending it)."""


def _has_wal(database: Path) -> bool:
    """Whether ``database`` has a write-ahead log with frames in it (more than its
    32-byte header): pages SQLite reads in preference to the main file's."""
    try:
        return database.with_name(database.name + "-wal").stat().st_size > 32
    except OSError:
        return False


def _header_problem(database: Path) -> tuple[str | None, bool]:
    """What is wrong with the file's SQLite header and size (None: nothing), and whether
    that is settled (a whole header of something else) or may be a write in progress."""
    with database.open("rb") as handle:
        header = handle.read(100)
        size = os.fstat(handle.fileno()).st_size
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        torn = len(header) < 100 and SQLITE_MAGIC.startswith(header[:16])  # being written?
        return f"not a SQLite database: {size} bytes of something else", not torn
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96]  # the page count is valid (SQLite >= 3.7)
    if page_size < 512 or size % page_size or (counted and size < pages * page_size):
        return f"truncated: {size} bytes, its header says {pages} page(s) of {page_size}", False
    return None, True


def read_only_reason(root: Path) -> str | None:
    """Why this process cannot write the store, or None when it can."""
    probe = existing_parent(root)
    try:
        if os.statvfs(probe).f_flag & os.ST_RDONLY:
            return "its file system is mounted read-only"
    except OSError:
        pass
    for path in (root, root / DATABASE):
        if path.exists() and not os.access(path, os.W_OK):
            return f"no write permission on {path}"
    if not root.exists() and not os.access(probe, os.W_OK):
        return f"no write permission on {probe}"
    return None


PAGE_SIZE = 16384
"""Bytes per page of a new store's database (SQLite's default is 4096). The request log
appends a served batch's columns as one blob (about 2 MB for 10,000 rows): at 4 KiB
pages that is ~520 overflow pages, each written to the WAL and copied at checkpoint;
16 KiB pages cut the append's CPU from ~4.9 to ~2.8 ms per 10,000-row request,
measured, while the small tables' reads stay one or two pages. An existing store keeps
its page size (changing it would rewrite the whole file: a VACUUM, never done behind a
user's back)."""


def connect_read_write(database: Path) -> sqlite3.Connection:
    remember(database)
    # every row written through it has ${env:...} values replaced (framework.redact)
    db = sqlite3.connect(database, timeout=60, isolation_level=None, factory=RedactingConnection)
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # takes effect only on a new, empty file
    _enable_wal(db)
    db.execute("PRAGMA busy_timeout=60000")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def connect_read_only(database: Path) -> sqlite3.Connection:
    """A connection that writes nothing, not even WAL index files.

    ``mode=ro`` reads a WAL store whose ``-shm`` file exists or can be made; on a
    read-only file system after a clean close neither holds, so the fallback is
    ``immutable=1``, which is right there because nothing can change the file.
    """
    remember(database)
    uri = f"file:{quote(str(database.absolute()))}"
    try:
        db = _read_only(f"{uri}?mode=ro")
    except sqlite3.OperationalError:
        # immutable=1 never looks at the file again: right only where nobody can change
        # it. Where the store can be written (a writer was busy, say), a follower on an
        # immutable connection would never see an alias move.
        if read_only_reason(database.parent) is None:
            raise
        db = _read_only(f"{uri}?mode=ro&immutable=1")
    return db


def _read_only(uri: str) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=60000")
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        db.close()
        raise
    return db


def _enable_wal(db: sqlite3.Connection, timeout: float = 60.0) -> None:
    """Switch to WAL mode, retrying while another process does the same.

    Two processes creating one store both hold a read lock on the new file and ask
    to write its header; SQLite refuses one at once ("database is locked") rather
    than wait, since waiting could deadlock. The loser retries until WAL is on.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _count_blobs(artifacts: Path) -> int:
    if not artifacts.is_dir():
        return 0
    return sum(
        1
        for directory in artifacts.iterdir()
        if directory.is_dir() and len(directory.name) == 2
        for entry in directory.iterdir()
        if entry.is_file() and not entry.name.startswith(".")
    )
