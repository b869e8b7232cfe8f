"""Numbered schema migrations: a store made by an older specops opens with a newer one.

Two layers keep a store's schema up to date, both applied when a store is opened for
writing (``Store.__init__``):

1. **The tables** of ``framework/store/*.sql`` (``CREATE TABLE IF NOT EXISTS``), with
   any nullable column a table lacks added (``MetadataBackend.ensure_schema``). This
   is migration 1, the baseline: what every specops before schema versions made. It
   is re-checked on every open (cheaply) because it is additive and harmless both
   ways: an older specops ignores a table or a nullable column it does not know.
2. **Numbered migrations** (``MIGRATIONS``) for everything else: indexes, new
   constraints, backfills, renames. Each is applied once, in order, inside the
   store's write transaction (the one writers of every process and machine queue
   for), and recorded in ``store_schema``, so two processes opening an old store at
   once migrate it once: the second finds the work done when it gets the lock.

The version is recorded in a table (``store_schema``, one row per migration) rather
than a ``store_settings`` row or SQLite's ``user_version``: it works alike on every
backend, the primary key on ``version`` makes a migration applied twice fail instead
of pass silently, and the rows say which specops version upgraded a shared store and
when (a team runs several). A store with tables but no row is one made before schema
versions: version 1.

A store whose version is newer than ``LATEST`` was upgraded by a newer specops: this
one refuses to write to it (its writes may break what the newer migrations assume) and
reads it only when every column it reads is there (see ``Store.__init__``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from framework.errors import StoreError
from framework.store.backends import MetadataBackend

SCHEMA_TABLE = "store_schema"

SCHEMA_DDL = (
    "CREATE TABLE IF NOT EXISTS store_schema (version INTEGER NOT NULL PRIMARY KEY, "
    "why TEXT NOT NULL, applied_at TEXT NOT NULL, specops_version TEXT NOT NULL)"
)
"""The table's shape, to ask a backend whether a store has it (see ``05_schema_versions.sql``,
which creates it with the other tables)."""


@dataclass(frozen=True)
class Migration:
    """One step of the schema: portable SQL statements and/or a function over the backend
    (for what differs between dialects: look at ``db.dialect``)."""

    number: int
    why: str
    statements: tuple[str, ...] = ()
    apply: Callable[[MetadataBackend], None] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "baseline: the tables of framework/store/*.sql, as specops made them before "
        "schema versions (created by ensure_schema)",
    ),
    Migration(
        2,
        "indexes for the queries that grow with a team: runs by spec and start time, "
        "versions by run, alias history by alias",
        (
            # runs list [--spec NAME], run id prefixes: ORDER BY started_at DESC, id DESC
            "CREATE INDEX IF NOT EXISTS runs_by_spec ON runs (spec_name, started_at, id)",
            "CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at, id)",
            # runs show, reproduce: the versions a run made
            "CREATE INDEX IF NOT EXISTS model_versions_by_run ON model_versions (run_id)",
            # models history, rollback (read under the write lock: keep it short)
            "CREATE INDEX IF NOT EXISTS alias_history_by_alias ON alias_history (name, alias, id)",
        ),
    ),
    Migration(
        3,
        "an index on runs by status: runs list --status, the web UI's status filters and "
        "every listing's look for runs still marked running no longer scan the table",
        (
            # WHERE r.status = ? ORDER BY started_at DESC, id DESC; WHERE status = 'running'
            "CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, started_at, id)",
        ),
    ),
)

BASELINE = 1
"""The version of a store made before schema versions (tables, no ``store_schema`` row)."""

LATEST = MIGRATIONS[-1].number
"""The schema version this specops makes and knows."""


def recorded_version(db: MetadataBackend) -> int | None:
    """The store's schema version: the largest migration recorded; None when none is
    (a new store, or one made before schema versions), or the table is missing."""
    if db.missing_columns([SCHEMA_DDL]):
        return None
    row = db.execute("SELECT MAX(version) FROM store_schema").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def newer_error(where: str, version: int) -> StoreError:
    """A store this specops must not write to (exit 2)."""
    return StoreError(
        f"the store at {where} was made by a newer specops (schema {version}; this one "
        f"knows {LATEST}): upgrade specops to write to it (reading commands work while "
        "every column they read is there)"
    )


def migrate(db: MetadataBackend, where: str) -> list[int]:
    """Apply the migrations the store lacks, in order, in one write transaction, each
    recorded; the numbers applied (none when another process did them first).

    The baseline's tables must exist already (``ensure_schema``): a store without a
    recorded version is then at version 1 whether it is new or made by an older
    specops, and migration 1 is recorded with nothing to do.
    """
    import framework

    with db.transaction():
        current = recorded_version(db) or 0  # again, under the lock
        if current > LATEST:
            raise newer_error(where, current)
        applied = []
        for migration in MIGRATIONS:
            if migration.number <= current:
                continue
            for statement in migration.statements:
                db.execute(statement)
            if migration.apply is not None:
                migration.apply(db)
            db.execute(
                "INSERT INTO store_schema (version, why, applied_at, specops_version)"
                " VALUES (?, ?, ?, ?)",
                (
                    migration.number,
                    migration.why,
                    datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    framework.__version__,
                ),
            )
            applied.append(migration.number)
    return applied


def history(db: MetadataBackend) -> list[dict[str, object]]:
    """The migrations recorded, oldest first (empty for a store made before versions)."""
    if db.missing_columns([SCHEMA_DDL]):
        return []
    rows = db.execute(
        "SELECT version, why, applied_at, specops_version FROM store_schema ORDER BY version"
    )
    return [
        {"version": int(r[0]), "why": r[1], "applied_at": r[2], "specops_version": r[3]}
        for r in rows
    ]
