"""The default metadata backend: ``store.db`` (SQLite) in a ``.specops`` directory.

Everything SQLite-specific about the store lives here: how the file is opened
(damage refused before SQLite sees it, WAL, read-only copies: see
:mod:`framework.store.opening`), how writers queue (``BEGIN IMMEDIATE``), how an
older store's tables gain new columns (``PRAGMA table_info``), the page check
``store verify`` starts with, and run liveness as ``flock`` files under ``live/``
(:mod:`framework.store.liveness`). The store's own queries are portable SQL.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from framework.store.backends import Liveness
from framework.store.failures import as_user_error, read_only
from framework.store.liveness import LIVE_DIR, LiveLock, held
from framework.store.opening import (
    DATABASE,
    check_database_file,
    connect_read_only,
    connect_read_write,
    connection_closed,
    connection_opened,
    opening,
    read_only_reason,
)


class SQLiteMetadata:
    """The rows of one local store, in ``root/store.db``."""

    dialect = "sqlite"

    def __init__(self, root: Path, *, write: bool = True) -> None:
        """Open (for ``write``, creating) the database of the store at ``root``.

        A damaged or lost database is refused before SQLite sees it. Without
        ``write``, a store this process cannot write is opened read-only.
        """
        self.root = root
        self.database = root / DATABASE
        self.display_url = str(root)
        self.connection: sqlite3.Connection | None = None
        self._locks: dict[str, LiveLock] = {}
        try:
            with opening:  # no other thread reads the header until this connection counts
                check_database_file(root)
                reason = read_only_reason(root)
                if reason and write:
                    raise read_only(root, reason)
                self.read_only = reason is not None
                if not self.read_only:
                    root.mkdir(parents=True, exist_ok=True)
                connect = connect_read_only if self.read_only else connect_read_write
                self.connection = connect(self.database)
                connection_opened(self.database)
        except BaseException as exc:
            self.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise as_user_error(exc) or exc from exc
            raise

    # statements --------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        assert self.connection is not None, "store closed"
        return self.connection.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        assert self.connection is not None, "store closed"
        self.connection.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[SQLiteMetadata]:
        """Taken up front (``BEGIN IMMEDIATE``) so concurrent writers queue, not fail."""
        self.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[SQLiteMetadata]:
        """One read transaction: every query inside sees the same committed state."""
        self.execute("BEGIN")
        try:
            yield self
        finally:
            self.execute("COMMIT")

    # schema ------------------------------------------------------------------

    def ensure_schema(self, statements: Sequence[str]) -> None:
        """Create what is missing, inside one write transaction.

        A checksum of the schema and of SQLite's schema cookie (bumped by every change
        of a table: another specops adding a column, a hand-made ``ALTER``) is kept in
        ``PRAGMA user_version``: a store already brought up to this schema, unchanged
        since, skips the statements (two header reads instead of a dozen statements
        and a scratch database on every open). Older specops versions ignore
        ``user_version``, so a store they open stays readable by both.
        """
        if self._schema_mark(statements) == self._user_version():
            return
        with self.transaction():
            for statement in statements:
                self.execute(statement)
            present = set(_tables(self.connection))
            for table, column, declared in _missing(self.connection, statements):
                if table in present:
                    self.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declared}")
            self.execute(f"PRAGMA user_version = {self._schema_mark(statements)}")

    def _schema_mark(self, statements: Sequence[str]) -> int:
        """A positive 31-bit checksum (``user_version`` is a signed int) of the schema
        and of the database's schema cookie."""
        cookie = self.execute("PRAGMA schema_version").fetchone()[0]
        text = "\n;".join([*statements, str(cookie)])
        return zlib.crc32(text.encode()) & 0x7FFFFFFF or 1

    def _user_version(self) -> int:
        return int(self.execute("PRAGMA user_version").fetchone()[0])

    def missing_columns(self, statements: Sequence[str]) -> list[tuple[str, str]]:
        return [(table, column) for table, column, _ in _missing(self.connection, statements)]

    def integrity_problems(self, *, full: bool) -> list[str]:
        """SQLite's own check of every page (``integrity_check`` when ``full``, else the
        faster ``quick_check``): damage is found even where no query happens to read."""
        pragma = "integrity_check" if full else "quick_check"
        try:
            lines = [str(row[0]) for row in self.execute(f"PRAGMA {pragma}(20)")]
        except sqlite3.DatabaseError as exc:
            lines = [str(exc)]
        return [] if lines == ["ok"] else lines

    # liveness ----------------------------------------------------------------

    def hold(self, name: str) -> Liveness:
        """A lock file ``live/<name>.lock`` flocked until release or this process's death."""
        lock = LiveLock(self.root / LIVE_DIR / f"{name}.lock")
        token = str(lock.path.relative_to(self.root))
        self._locks[token] = lock

        def release() -> None:
            self._locks.pop(token, None)
            lock.release()

        return Liveness(token, release)

    def is_held(self, token: str) -> bool | None:
        """Held by a live process; a lock file gone or unheld means its process ended."""
        return bool(held(self.root / token))

    def held_paths(self) -> set[Path]:
        """The lock files this object holds (``store gc`` ignores its own)."""
        return {lock.path for lock in self._locks.values()}

    def close(self) -> None:
        for lock in list(self._locks.values()):
            lock.release()
        self._locks.clear()
        if self.connection is not None:
            self.connection.close()
            self.connection = None
            connection_closed(self.database)


def _missing(
    db: sqlite3.Connection | None, statements: Sequence[str]
) -> list[tuple[str, str, str]]:
    """``(table, column, declared type)`` of every column the schema has and ``db`` lacks
    (all of a missing table's columns)."""
    assert db is not None, "store closed"
    scratch = sqlite3.connect(":memory:")
    try:
        for statement in statements:
            if statement.upper().startswith("CREATE TABLE"):
                scratch.execute(statement)
        missing = []
        for table in _tables(scratch):
            wanted = scratch.execute(f"PRAGMA table_info({table})").fetchall()
            present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            missing += [(table, row[1], row[2]) for row in wanted if row[1] not in present]
        return missing
    finally:
        scratch.close()


def _tables(db: sqlite3.Connection | None) -> list[str]:
    assert db is not None, "store closed"
    rows = db.execute("SELECT name FROM sqlite_master WHERE type='table'")
    return [row[0] for row in rows if not row[0].startswith("sqlite_")]


def sqlite_path(url: str) -> Path:
    """The store directory a ``sqlite:`` URL (or a plain path) names:
    ``sqlite:///abs/dir`` (also ``sqlite:////abs/dir``) or ``sqlite:rel/dir``."""
    if not url.lower().startswith("sqlite:"):
        return Path(url).expanduser()
    rest = url[len("sqlite:") :]
    if rest.startswith("//"):
        rest = rest[2:]  # the (empty) authority
    if rest.startswith("//"):
        rest = "/" + rest.lstrip("/")
    return Path(rest).expanduser()


def open_sqlite(
    url: str, params: Mapping[str, Any], workdir: Path, *, read_only: bool
) -> SQLiteMetadata:
    """The ``sqlite`` metadata factory: ``sqlite:///abs/.specops`` or a directory path."""
    return SQLiteMetadata(sqlite_path(url), write=not read_only)
