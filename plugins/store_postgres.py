"""The ``postgresql`` metadata store: a team's shared registry in a PostgreSQL database.

``--store postgresql://user@db.internal/specops`` (or ``SPECOPS_STORE``, or the spec's
``store: {url: ...}``) keeps runs, versions, aliases and the prediction log in
PostgreSQL instead of ``.specops/store.db``; every process and machine pointed at the
same URL sees the same registry. The store's queries are SQLite's portable subset
with ``?`` placeholders; :mod:`plugins.store_postgres_sql` translates them and the
schema. What differs from SQLite, and why:

- **Writers queue.** SQLite's ``BEGIN IMMEDIATE`` takes the database's one write lock
  at the start of a transaction, so a transaction that reads ``MAX(version) + 1`` is
  sure nobody else takes that number before it commits. PostgreSQL's row locks cannot
  lock a row that does not exist yet (the next version), and SERIALIZABLE would make
  the loser fail and retry instead of wait. So every write transaction starts with
  ``pg_advisory_xact_lock(WRITE_LOCK)``: one constant key per database, held until
  COMMIT or ROLLBACK; writers from every process and machine queue behind it exactly
  as SQLite's do, and a killed writer's lock goes with its connection.
- **Liveness.** A run's process holds a session advisory lock (keyed by a 64-bit hash
  of ``run-<id>``) on a connection of its own; when the process dies, however it
  dies, its connection closes and the server drops the lock, so ``runs list`` on any
  machine sees the run as interrupted. TCP keepalives (30 s idle, 3 probes 10 s apart)
  make the server notice a machine that vanished without closing the connection.
- **Secrets.** The password (in the URL, ``params.password``, ``PGPASSWORD`` or
  ``~/.pgpass``) is given to libpq and nowhere else: ``display_url`` has none, and
  connection errors are specops' own sentences with the host, port, database and user
  named, never libpq's text unscrubbed. Every text parameter written passes through
  the same redaction as SQLite's rows (``${env:...}`` values are never stored).

Needs psycopg 3 (``pip install 'specops[postgres]'``), imported only when a
PostgreSQL store is opened. Connection poolers in transaction mode (PgBouncer) break
session advisory locks: connect to PostgreSQL itself, or a pooler in session mode.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from framework import StoreError, hookimpl
from framework.store import Liveness, redact_parameters
from plugins.store_postgres_sql import Schema, placeholders, translate_schema

SPECOPS_HOOK_API = "1"

PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "connect_timeout": {
            "type": "integer",
            "minimum": 2,
            "maximum": 600,
            "description": "Seconds to wait for the server to answer (default 10).",
        },
        "lock_timeout": {
            "type": "integer",
            "minimum": 1,
            "maximum": 3600,
            "description": "Seconds a write waits for the store's write lock (default 120).",
        },
        "sslmode": {
            "enum": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
            "description": "libpq's sslmode.",
        },
        "application_name": {"type": "string", "maxLength": 63},
        "password": {
            "type": "string",
            "description": 'The role\'s password; write "${env:NAME}", never the value.',
        },
    },
    "additionalProperties": True,
}
"""The params a spec's ``store.params`` may give the PostgreSQL store. Other keys are
left alone: the same mapping configures the artifact store (``endpoint_url``)."""

CONNECT_TIMEOUT = 10
LOCK_TIMEOUT = 120


def _key(text: str) -> int:
    """A signed 64-bit advisory lock key from a name (the key space is per database)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


WRITE_LOCK = _key("specops: the store's write lock")
"""The one key every write transaction (and schema creation) takes: see the module text."""

TABLE_MARK = "specops store"
"""The comment on every table specops makes: how it tells its tables from another
application's of the same name."""

TOKEN_PREFIX = "pg-advisory:"
"""What ``runs.lock`` records for a run whose liveness is a PostgreSQL advisory lock."""


class PostgresMetadata:
    """The store's rows in one PostgreSQL database (one schema: the role's search path)."""

    dialect = "postgresql"

    def __init__(
        self, url: str, params: Mapping[str, Any] | None = None, *, read_only: bool = False
    ) -> None:
        params = dict(params or {})
        self._url = url
        self.display_url = display_url(url)
        self.read_only = read_only
        self._password = params.get("password")
        self._connect_timeout = int(params.get("connect_timeout") or CONNECT_TIMEOUT)
        self._lock_timeout = int(params.get("lock_timeout") or LOCK_TIMEOUT)
        self._options = {
            key: params[key] for key in ("sslmode", "application_name") if params.get(key)
        }
        self._secrets = _secrets_of(url, self._password)
        self._lock = threading.RLock()
        self._depth = 0  # open transactions, nested ones joining the outer (under _lock)
        self._holder: Any = None  # the connection holding liveness locks
        self._held: dict[str, int] = {}  # name -> how many times held
        self._conn: Any = None
        self._conn = self._connect()

    # connections ---------------------------------------------------------------

    def _connect(self) -> Any:
        import psycopg

        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": self._connect_timeout,
            "application_name": "specops",
            # the client notices a server that vanished; the server side is set per
            # session on the liveness connection (see _holder_connection)
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            **self._options,
        }
        if self._password:
            kwargs["password"] = self._password
        try:
            conn = psycopg.connect(self._url, row_factory=_row_factory, **kwargs)
        except psycopg.Error as exc:
            raise self._connect_error(exc) from None
        except (ValueError, UnicodeError) as exc:
            raise StoreError(
                f"invalid PostgreSQL store URL {self.display_url}: {self._scrub(str(exc))}"
            ) from None
        conn.adapters.register_loader("numeric", _numeric_loader())
        try:
            if self.read_only:
                conn.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            conn.close()
            raise self._statement_error(exc) from None
        return conn

    def _connection(self) -> Any:
        """The connection, opened again if the previous one broke between transactions
        (a server restart: a long-running server keeps working afterwards)."""
        if self._conn is None:
            raise StoreError(f"the store at {self.display_url} is closed")
        if self._conn.closed and self._depth == 0:
            self._conn = self._connect()
        return self._conn

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _connect_error(self, exc: BaseException) -> StoreError:
        """One line naming where and as whom, and what failed; never the password."""
        return StoreError(
            f"cannot connect to the PostgreSQL store {self.display_url}: "
            f"{_connect_reason(self._scrub(str(exc)), self._connect_timeout)}"
        )

    def _statement_error(self, exc: BaseException) -> BaseException:
        """The StoreError a failed statement means to a user, or ``exc`` itself (a bug)."""
        import psycopg
        from psycopg import errors

        text = self._scrub(_first_line(str(exc)))
        if isinstance(exc, errors.ReadOnlySqlTransaction):
            return StoreError(
                f"the store at {self.display_url} is open read-only: this command writes "
                "to it (reading commands work)"
            )
        if isinstance(exc, errors.InsufficientPrivilege):
            return StoreError(
                f"the store at {self.display_url} refused a write: {text} (the role needs "
                "to own the database, or CREATE, INSERT, UPDATE and DELETE rights on its "
                "tables; reading commands need only SELECT)"
            )
        if isinstance(exc, errors.LockNotAvailable):
            return StoreError(
                f"waited {self._lock_timeout} s for the write lock of the store at "
                f"{self.display_url}: another specops process holds it (raise "
                "store.params.lock_timeout, or look for a stuck process)"
            )
        if isinstance(exc, psycopg.OperationalError):  # AdminShutdown, a lost socket
            return StoreError(
                f"lost the connection to the PostgreSQL store {self.display_url}: {text}; "
                "nothing more was written"
            )
        if isinstance(exc, psycopg.InterfaceError) and self._conn is not None:
            return StoreError(f"the connection to the store at {self.display_url}: {text}")
        if isinstance(exc, psycopg.Error):  # our own bug or a constraint: keep its type
            exc.args = tuple(self._scrub(str(a)) for a in exc.args)
        return exc

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            converted = self._statement_error(exc)
            if converted is exc:
                raise
            raise converted from None

    # statements ------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """Run one statement with ``?`` placeholders; its rows answer ``row[0]`` and
        ``row["name"]``. Inside a transaction, on that transaction's connection."""
        named = isinstance(params, Mapping)
        query, count = placeholders(sql, named)
        with self._lock, self._errors():
            conn = self._connection()
            if not count and not params:
                return conn.execute(sql)  # no placeholders: the text as written, % and all
            return conn.execute(query, _adapted(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        query, _ = placeholders(sql)
        batch = [_adapted(row) for row in rows]
        if not batch:
            return
        with self._lock, self._errors(), self._connection().cursor() as cursor:
            cursor.executemany(query, batch)

    @contextmanager
    def transaction(self) -> Iterator[PostgresMetadata]:
        """One write transaction: BEGIN, then the store's write lock (see the module
        text), so writers of every process and machine run one after another. A
        transaction opened inside another joins it (one COMMIT, at the outer end)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                # one round trip (a constant key and a number: nothing to quote)
                self.execute(
                    f"BEGIN; SET LOCAL lock_timeout = '{self._lock_timeout}s'; "
                    f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"
                )
                yield self
            except BaseException:
                self._depth = 0
                self._rollback()
                raise
            self._depth = 0
            self.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[PostgresMetadata]:
        """Several reads that see one committed state (REPEATABLE READ), locking nothing
        writers wait for."""
        with self._lock:
            if self._depth:
                yield self
                return
            self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                self._rollback()
                raise
            self._depth = 0
            self.execute("COMMIT")

    def _rollback(self) -> None:
        conn = self._conn
        if conn is None or conn.closed:
            return
        try:
            conn.execute("ROLLBACK")
        except Exception:  # the connection broke: the server rolls back for us
            conn.close()

    # schema ------------------------------------------------------------------------

    def ensure_schema(self, statements: Sequence[str]) -> None:
        """Create the tables, indexes and columns the schema has and the database lacks.

        One catalog query when nothing is missing (every open of an up-to-date store).
        Otherwise the DDL runs in one transaction under the write lock, so two
        processes creating a new store at once queue instead of failing on each
        other's half-made tables (PostgreSQL's DDL is transactional: all or none).

        Each table made is marked (``COMMENT ON TABLE``): a table of the same name
        without the mark belongs to something else (MLflow's database has ``runs``,
        ``params`` and ``metrics`` too) and is refused, never altered nor read.
        """
        schema = translate_schema(list(statements))
        present = self._present()
        self._refuse_foreign(schema, present)
        if not _missing(schema, present):
            return
        with self.transaction():
            present = self._present()  # again, under the lock: another process may be done
            self._refuse_foreign(schema, present)
            missing = _missing(schema, present)
            if not missing:
                return
            for table in schema.tables:
                if table.name not in present.tables:
                    self.execute(table.statement)
                    self.execute(f"COMMENT ON TABLE {table.name} IS '{TABLE_MARK}'")
            for table in schema.tables:
                have = present.tables.get(table.name)
                if have is None:
                    continue
                for column in table.columns:
                    if column.name not in have:
                        self.execute(
                            f"ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS "
                            f"{column.name} {column.declared}"
                        )
            for index in schema.indexes:
                if index.name not in present.indexes:
                    self.execute(index.statement)

    def missing_columns(self, statements: Sequence[str]) -> list[tuple[str, str]]:
        schema = translate_schema(list(statements))
        present = self._present()
        self._refuse_foreign(schema, present)
        return [
            (table.name, column.name)
            for table in schema.tables
            for column in table.columns
            if column.name not in present.tables.get(table.name, set())
        ]

    def _present(self) -> _Catalog:
        """The tables (with their columns and marks) and indexes of the schema we use."""
        rows = self.execute(
            "SELECT c.relname, c.relkind, a.attname, obj_description(c.oid, 'pg_class')"
            " FROM pg_class AS c"
            " LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0"
            " AND NOT a.attisdropped AND c.relkind IN ('r', 'p')"
            " WHERE c.relnamespace = current_schema()::regnamespace"
            " AND c.relkind IN ('r', 'p', 'i')"
        ).fetchall()
        catalog = _Catalog({}, set())
        for name, kind, column, comment in rows:
            if kind == "i":
                catalog.indexes.add(name)
            else:
                catalog.tables.setdefault(name, set()).add(column)
                if comment == TABLE_MARK:
                    catalog.marked.add(name)
        return catalog

    def _refuse_foreign(self, schema: Schema, present: _Catalog) -> None:
        """A table the store needs exists but specops did not make it: stop, touching
        nothing (adding columns to another application's table would damage it)."""
        foreign = sorted(
            t.name
            for t in schema.tables
            if t.name in present.tables and t.name not in present.marked
        )
        if foreign:
            raise StoreError(
                f"the database {self.display_url} already has table(s) specops did not make "
                f"({', '.join(foreign)}): another application's? Give specops a database of "
                "its own, or a schema of its own (?options=-c%20search_path%3Dspecops in "
                "the URL, after CREATE SCHEMA specops)"
            )

    def sync_identities(self) -> list[str]:
        """Move every identity sequence past its column's largest value (after rows were
        copied in with their ids); the columns it moved."""
        moved = []
        with self.transaction():
            for table, column, sequence, last, called in self._identities():
                top = self.execute(f"SELECT MAX({column}) FROM {table}").fetchone()[0]
                if top is not None and (top > last or (top == last and not called)):
                    self.execute("SELECT setval(?::regclass, ?, true)", (sequence, top))
                    moved.append(f"{table}.{column}")
        return moved

    def _identities(self) -> list[tuple[str, str, str, int, bool]]:
        """``(table, column, sequence, last_value, is_called)`` of each identity column."""
        rows = self.execute(
            "SELECT c.relname, a.attname, pg_get_serial_sequence(c.relname, a.attname)"
            " FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
            " AND a.attidentity IN ('a', 'd') ORDER BY 1, 2"
        ).fetchall()
        found = []
        for table, column, sequence in rows:
            last, called = self.execute(f"SELECT last_value, is_called FROM {sequence}").fetchone()
            found.append((table, column, sequence, int(last), bool(called)))
        return found

    def integrity_problems(self, *, full: bool) -> list[str]:
        """What PostgreSQL can say is wrong: an identity sequence behind its rows (the
        next insert would fail), an index left invalid; with ``full``, every table read
        through (a damaged page fails the read) and, where the ``amcheck`` extension is
        installed, every B-tree index checked."""
        problems = []
        for table, column, _sequence, last, called in self._identities():
            top = self.execute(f"SELECT MAX({column}) FROM {table}").fetchone()[0]
            if top is not None and (top > last or (top == last and not called)):
                problems.append(
                    f"{table}.{column}: its sequence is at {last} but the table holds ids up "
                    f"to {top} (rows inserted with their ids by hand or by a tool); the next "
                    "insert would fail. Fix: SELECT setval(pg_get_serial_sequence("
                    f"'{table}', '{column}'), (SELECT MAX({column}) FROM {table}))"
                )
        invalid = self.execute(
            "SELECT c.relname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid"
        ).fetchall()
        problems += [f"index {row[0]} is invalid (a failed CREATE INDEX)" for row in invalid]
        if full:
            problems += self._read_everything()
        return problems

    def _read_everything(self) -> list[str]:
        import psycopg

        problems = []
        catalog = self._present()
        amcheck = self.execute("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'").fetchone()
        for table in sorted(catalog.tables):
            try:
                self.execute(f"SELECT count(*) FROM {table}").fetchone()
            except psycopg.Error as exc:
                problems.append(f"table {table}: {self._scrub(_first_line(str(exc)))}")
        if amcheck:
            for index in sorted(catalog.indexes):
                try:
                    self.execute("SELECT bt_index_check(?::regclass)", (index,))
                except psycopg.Error as exc:
                    problems.append(f"index {index}: {self._scrub(_first_line(str(exc)))}")
        return problems

    # liveness ----------------------------------------------------------------------

    def hold(self, name: str) -> Liveness:
        """A session advisory lock keyed by ``name``, on a connection of its own, held
        until ``release`` or until this process dies (its connection closes)."""
        key = _key(name)
        with self._lock:
            holder = self._holder_connection()
            with self._errors():
                taken = holder.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
            if not taken:
                raise StoreError(
                    f"{name} is held by another live process on the store at {self.display_url}"
                )
            self._held[name] = self._held.get(name, 0) + 1
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            self._release(name, key)

        return Liveness(TOKEN_PREFIX + name, release)

    def _holder_connection(self) -> Any:
        if self._holder is None or self._holder.closed:
            holder = self._connect()
            try:  # a machine that vanishes without closing its socket: dropped in ~1 min
                holder.execute("SET tcp_keepalives_idle = 30")
                holder.execute("SET tcp_keepalives_interval = 10")
                holder.execute("SET tcp_keepalives_count = 3")
            except Exception:
                holder.close()
                raise
            self._holder = holder
            self._held.clear()  # a new connection holds nothing
        return self._holder

    def _release(self, name: str, key: int) -> None:
        with self._lock:
            count = self._held.get(name, 0)
            if not count:
                return
            if count > 1:
                self._held[name] = count - 1
            else:
                del self._held[name]
            holder = self._holder
            if holder is not None and not holder.closed:
                try:
                    holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
                except Exception:  # the connection is gone, and its locks with it
                    holder.close()

    def is_held(self, token: str) -> bool | None:
        """Is the lock ``token`` names held by a live session (any process, any machine)?
        None for a token of another kind of store."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        key = _key(token[len(TOKEN_PREFIX) :])
        row = self.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = ?::bigint::oid AND objid = ?::bigint::oid AND objsubid = 1"
            " AND granted)",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        ).fetchone()
        return bool(row[0])

    def held_tokens(self, tokens: Sequence[str]) -> dict[str, bool | None]:
        """:meth:`is_held` for many tokens in one query: the database's granted session
        advisory locks listed once (a runs page with thousands of killed runs asks once,
        not once a run). None for a token of another kind of store."""
        ours = [t for t in tokens if t.startswith(TOKEN_PREFIX)]
        found: dict[str, bool | None] = {t: None for t in tokens}
        if not ours:
            return found
        rows = self.execute(
            "SELECT classid::bigint, objid::bigint FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND objsubid = 1 AND granted"
        ).fetchall()
        held = {(int(c) << 32) | int(o) for c, o in rows}
        for token in ours:
            key = _key(token[len(TOKEN_PREFIX) :])
            found[token] = (key & 0xFFFFFFFFFFFFFFFF) in held
        return found

    def close(self) -> None:
        with self._lock:
            for conn in (self._holder, self._conn):
                if conn is not None and not conn.closed:
                    with suppress(Exception):
                        conn.close()  # the server drops this session's locks
            self._holder = None
            self._held.clear()
            self._conn = None

    def __repr__(self) -> str:
        return f"PostgresMetadata({self.display_url!r})"


# -- rows and values ---------------------------------------------------------------------


class PgRow:
    """A result row: ``row[0]``, ``row["name"]`` (case-insensitive, like ``sqlite3.Row``),
    ``keys()``, and iteration over its values."""

    __slots__ = ("_index", "_keys", "_values")

    def __init__(self, values: Sequence[Any], keys: list[str], index: dict[str, int]) -> None:
        self._values = tuple(values)
        self._keys = keys
        self._index = index

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            position = self._index.get(key)
            if position is None:
                position = self._index.get(key.lower())
            if position is None:
                raise IndexError(f"no column named {key!r}")
            return self._values[position]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._keys)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PgRow):
            return self._values == other._values and self._keys == other._keys
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._keys, self._values, strict=False))!r})"


def _row_factory(cursor: Any) -> Any:
    description = cursor.description or []
    keys = [column.name for column in description]
    index: dict[str, int] = {}
    for position, key in enumerate(keys):  # the first of two same-named columns wins
        index.setdefault(key, position)
        index.setdefault(key.lower(), position)

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(values, keys, index)

    return make


@lru_cache(maxsize=1)
def _numeric_loader() -> Any:
    """The loader class, made on first use (psycopg is imported only then)."""
    from psycopg.adapt import Loader

    class NumericLoader(Loader):
        """NUMERIC (what SUM and AVG of integers return) as int when whole, else float:
        the numbers SQLite gives, so arithmetic and ``int(row[0])`` work alike."""

        def load(self, data: Any) -> Any:
            text = bytes(data).decode()
            if text.lstrip("-").isdigit():
                return int(text)
            return float(text)

    return NumericLoader


def _adapted(params: Sequence[Any] | Mapping[str, Any]) -> Any:
    """What psycopg is given: ``${env:...}`` values replaced (as in SQLite's rows),
    booleans as 0/1 (the columns are integers, as in SQLite), memoryviews as bytes."""
    params = redact_parameters(params)
    if isinstance(params, Mapping):
        return {key: _value(value) for key, value in params.items()}
    return tuple(_value(value) for value in params)


def _value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return value


class _Catalog:
    __slots__ = ("indexes", "marked", "tables")

    def __init__(self, tables: dict[str, set[str]], indexes: set[str]) -> None:
        self.tables = tables
        self.indexes = indexes
        self.marked: set[str] = set()
        """Tables carrying specops' mark (made by ``ensure_schema``)."""


def _missing(schema: Schema, present: _Catalog) -> bool:
    for table in schema.tables:
        have = present.tables.get(table.name)
        if have is None or any(column.name not in have for column in table.columns):
            return True
    return any(index.name not in present.indexes for index in schema.indexes)


# -- URLs and messages ---------------------------------------------------------------

SECRET_QUERY_KEYS = ("password", "pass", "secret", "token", "key")


def display_url(url: str) -> str:
    """``postgresql://user@host:port/db``: the URL without its password and without
    query parameters that may hold one (``sslmode`` and the like stay)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "postgresql://(invalid URL)"
    rest, _, _fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    userinfo, at, hosts_and_path = rest.rpartition("@")
    if at:
        user = userinfo.partition(":")[0]
        rest = f"{user}@{hosts_and_path}" if user else hosts_and_path
    kept = [
        (key, value)
        for key, value in parse_qsl(query, keep_blank_values=True)
        if not any(word in key.lower() for word in SECRET_QUERY_KEYS)
    ]
    return f"{scheme.lower()}://{rest}" + (f"?{urlencode(kept)}" if kept else "")


def _secrets_of(url: str, password: str | None) -> list[str]:
    """Every form a secret of this URL may take in a message, longest first."""
    found: set[str] = set()
    _scheme, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    userinfo, at, _ = rest.rpartition("@")
    if at and ":" in userinfo:
        raw = userinfo.partition(":")[2]
        found |= {raw, unquote(raw)}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if any(word in key.lower() for word in SECRET_QUERY_KEYS) and value:
            found |= {value, unquote(value)}
    if password:
        found.add(password)
    return sorted((s for s in found if s), key=len, reverse=True)


def _first_line(text: str) -> str:
    return " ".join(text.strip().splitlines()[0].split()) if text.strip() else text


def _connect_reason(text: str, timeout: int) -> str:
    """libpq's reason in a few words: what failed (its text, scrubbed, when unknown)."""
    lowered = text.lower()
    if "password authentication failed" in lowered or "authentication failed" in lowered:
        return "authentication failed (wrong user or password)"
    if "no password supplied" in lowered or "fe_sendauth" in lowered:
        return (
            "the server asks for a password and none was given (put it in PGPASSWORD, "
            "~/.pgpass, or store.params.password as ${env:NAME})"
        )
    if "does not exist" in lowered and "database" in lowered:
        return "the database does not exist (create it, or fix the URL's path)"
    if "role" in lowered and "does not exist" in lowered:
        return "the role (user) does not exist"
    if "timeout expired" in lowered or "timed out" in lowered:
        return f"no answer within {timeout} s (store.params.connect_timeout)"
    if "connection refused" in lowered:
        return "connection refused (is PostgreSQL running and listening there?)"
    if "could not translate host name" in lowered or "failed to resolve host" in lowered:
        return "unknown host name (or port)"
    if "no pg_hba.conf entry" in lowered:
        return "the server's pg_hba.conf admits no such connection (host, user, database, SSL)"
    if "ssl" in lowered:
        return f"SSL negotiation failed: {_last_reason(text)}"
    return _last_reason(text)


def _last_reason(text: str) -> str:
    """libpq's own words, the ``connection to server ... failed:`` prefix dropped."""
    line = _first_line(text)
    for marker in ("failed: FATAL: ", "failed: "):
        if marker in line:
            line = line.rsplit(marker, 1)[1]
            break
    return line.removeprefix("connection failed: ").strip() or "unknown error"


# -- registration ---------------------------------------------------------------------


def open_postgres(
    url: str, params: Mapping[str, Any], workdir: Path, *, read_only: bool
) -> PostgresMetadata:
    """The ``postgresql`` metadata factory (``workdir`` is unused: the rows are remote)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError(
            f"the store {display_url(url)} is PostgreSQL, which needs psycopg: "
            "pip install 'specops[postgres]'"
        ) from None
    return PostgresMetadata(url, params, read_only=read_only)


@hookimpl
def specops_register_metadata_stores(register: Any) -> None:
    summary = "Runs, versions and aliases in a PostgreSQL database, shared by a team"
    register("postgresql", open_postgres, PARAMS_SCHEMA, summary=summary)
    register("postgres", open_postgres, PARAMS_SCHEMA, summary=summary + " (alias)")
