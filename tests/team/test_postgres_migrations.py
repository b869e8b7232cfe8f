"""Numbered schema migrations on a shared PostgreSQL store (a real server): a store made
before schema versions ends at the latest version with its data intact, processes
opening it at once migrate it once, a read-only open never migrates, and a store made
by a newer specops is refused for writing."""

# ruff: noqa: F811  (the fixtures imported below are arguments)
from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from framework.errors import StoreError
from framework.store import Store, StoreAddress
from framework.store.migrations import LATEST, history
from tests.team.postgres_server import (  # noqa: F401 (fixtures)
    PostgresDatabase,
    postgres_db,
    postgres_server,
)
from tests.team.test_store_shared import _record_version, store_plugins  # noqa: F401

pytest.importorskip("psycopg")

REPO = Path(__file__).resolve().parents[2]
MIGRATION_2_INDEXES = (
    "runs_by_spec",
    "runs_by_start",
    "model_versions_by_run",
    "alias_history_by_alias",
)
MIGRATION_3_INDEXES = ("runs_by_status",)
INDEXES = MIGRATION_2_INDEXES + MIGRATION_3_INDEXES
ALL = list(range(1, LATEST + 1))


def _address(db: PostgresDatabase, tmp_path: Path, name: str = "w") -> StoreAddress:
    return StoreAddress(db.url, tmp_path / name, str(tmp_path / "blobs"))


def _old_store(db: PostgresDatabase, tmp_path: Path) -> None:
    """A store as specops made it before schema versions: its tables and rows, no
    ``store_schema`` and none of the indexes of migrations 2 and 3."""
    store = Store.open(_address(db, tmp_path, "maker"))
    try:
        version = _record_version(store, tmp_path, "20261205-000000-aaaaaa", "one")
        store.set_alias("shared", "champion", version.version, actor="test", reason="first")
        with store.transaction() as meta:
            meta.execute("DROP TABLE store_schema")
            for index in INDEXES:
                meta.execute(f"DROP INDEX {index}")
    finally:
        store.close()


def _indexes(db: PostgresDatabase) -> set[str]:
    from plugins.store_postgres import PostgresMetadata

    meta = PostgresMetadata(db.url)
    try:
        return {r[0] for r in meta.execute("SELECT indexname FROM pg_indexes").fetchall()}
    finally:
        meta.close()


def test_an_old_postgres_store_opens_at_the_latest_version_with_its_data_intact(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    _old_store(postgres_db, tmp_path)
    assert not set(INDEXES) & _indexes(postgres_db)

    reader = Store.open_existing(_address(postgres_db, tmp_path, "r"), write=False)
    try:  # a read-only open reads it and migrates nothing
        assert reader.schema_version == 1 and history(reader.db) == []
        assert reader.alias("shared") == 1
    finally:
        reader.close()
    assert not set(INDEXES) & _indexes(postgres_db)

    store = Store.open(_address(postgres_db, tmp_path))
    try:
        assert store.schema_version == LATEST
        assert [row["version"] for row in history(store.db)] == ALL
        assert store.alias("shared") == 1 and [r.status for r in store.runs()] == ["passed"]
        assert len(store.versions_of_run("20261205-000000-aaaaaa")) == 1
        from framework.store.integrity import verify

        report = verify(store)  # no identity sequence behind its rows, no invalid index
        assert report.ok, report.problems
        assert report.schema_version == LATEST
    finally:
        store.close()
    assert set(INDEXES) <= _indexes(postgres_db)


def test_a_postgres_store_at_schema_2_gains_the_index_on_runs_status_and_uses_it(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    store = Store.open(_address(postgres_db, tmp_path, "maker"))
    try:  # as the specops of schema 2 left it: no runs_by_status
        _record_version(store, tmp_path, "20261205-000000-aaaaaa", "one")
        with store.transaction() as meta:
            meta.execute("DROP INDEX runs_by_status")
            meta.execute("DELETE FROM store_schema WHERE version > 2")
    finally:
        store.close()
    assert "runs_by_status" not in _indexes(postgres_db)

    store = Store.open(_address(postgres_db, tmp_path))
    try:
        assert store.schema_version == LATEST
        assert [row["version"] for row in history(store.db)] == ALL
        assert [(r.id, r.status) for r in store.runs()] == [("20261205-000000-aaaaaa", "passed")]
        with store.db.snapshot() as db:  # a few rows: ask the planner to avoid a scan
            db.execute("SET LOCAL enable_seqscan = off")
            plan = " ".join(
                str(row[0])
                for row in db.execute(
                    "EXPLAIN SELECT id FROM runs r WHERE r.status = 'passed'"
                    " ORDER BY started_at DESC, id DESC LIMIT 50"
                ).fetchall()
            )
        assert "runs_by_status" in plan, plan
    finally:
        store.close()
    assert "runs_by_status" in _indexes(postgres_db)


OPEN_AT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import framework.plugins
    from framework.store import Store, StoreAddress
    from framework.store.migrations import history
    if not framework.plugins.get_plugins().registry.find("metadata_store", "postgresql"):
        import plugins.store_local, plugins.store_postgres  # entry points not installed
        framework.plugins._cached = framework.plugins.load_plugins(
            extra=[("store_local", plugins.store_local), ("store_postgres", plugins.store_postgres)]
        )
    url, workdir, blobs, start = sys.argv[1:5]
    time.sleep(max(0.0, float(start) - time.time()))
    store = Store.open(StoreAddress(url, Path(workdir), blobs))
    print(store.schema_version, len(history(store.db)))
    store.close()
    """
)


def test_processes_opening_an_old_postgres_store_at_once_migrate_it_once(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    _old_store(postgres_db, tmp_path)
    start = time.time() + 4.0
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                OPEN_AT,
                postgres_db.url,
                str(tmp_path / f"w{i}"),
                str(tmp_path / "blobs"),
                str(start),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert out.split() == [str(LATEST), str(LATEST)]
    store = Store.open_existing(_address(postgres_db, tmp_path, "r"), write=False)
    try:
        assert [row["version"] for row in history(store.db)] == ALL  # each once
    finally:
        store.close()


def test_a_postgres_store_made_by_a_newer_specops_is_refused_for_writing(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    store = Store.open(_address(postgres_db, tmp_path))
    try:
        _record_version(store, tmp_path, "20261205-000000-aaaaaa", "one")
        with store.transaction() as meta:
            meta.execute(
                "INSERT INTO store_schema VALUES (?, 'a later specops', '2027-01-01', '9.0')",
                (LATEST + 1,),
            )
    finally:
        store.close()

    with pytest.raises(StoreError) as raised:
        Store.open(_address(postgres_db, tmp_path, "w2"))
    assert (
        f"was made by a newer specops (schema {LATEST + 1}; this one knows {LATEST}): "
        "upgrade specops"
    ) in str(raised.value)
    assert "secret" not in str(raised.value)

    reader = Store.open_existing(_address(postgres_db, tmp_path, "r"), write=False)
    try:  # reading works: every column this specops reads is there
        assert reader.schema_version == LATEST + 1
        assert [v.version for v in reader.versions("shared")] == [1]
    finally:
        reader.close()
