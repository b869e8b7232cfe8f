"""Numbered schema migrations on the local (SQLite) store: a store made by an older
specops ends at the latest version with its data intact, processes opening it at once
migrate it once, and a store made by a newer specops is refused for writing."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from framework.errors import StoreError
from framework.store import Store
from framework.store.integrity import verify
from framework.store.migrations import LATEST, MIGRATIONS, SCHEMA_DDL, history
from framework.store.store import _schema_statements
from tests.test_old_store import FIXTURE

REPO = Path(__file__).resolve().parents[1]
ALL = list(range(1, LATEST + 1))


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    """A copy of the store an older specops made (no schema version recorded)."""
    store = tmp_path / ".specops"
    shutil.copytree(FIXTURE / "store", store)
    return store


def _rows(store: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(store / "store.db") as db:
        return db.execute(sql).fetchall()


def test_the_migrations_are_numbered_in_order_and_the_table_matches_its_sql() -> None:
    assert [m.number for m in MIGRATIONS] == list(range(1, LATEST + 1))
    assert all(m.why for m in MIGRATIONS)
    made, declared = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for statement in _schema_statements():
        made.execute(statement)
    declared.execute(SCHEMA_DDL)  # what recorded_version asks the backend about
    columns = "SELECT name, type, pk FROM pragma_table_info('store_schema')"
    assert made.execute(columns).fetchall() == declared.execute(columns).fetchall()
    made.close()
    declared.close()


def test_an_old_store_opens_at_the_latest_version_with_its_data_intact(old_store: Path) -> None:
    assert _rows(old_store, "SELECT name FROM sqlite_master WHERE name = 'store_schema'") == []
    tables = ("runs", "model_versions", "aliases", "alias_history", "metrics", "datasets")
    columns = {  # the columns it had (the baseline adds the ones it lacked, runs.lock)
        table: ", ".join(r[1] for r in _rows(old_store, f"PRAGMA table_info({table})"))
        for table in tables
    }
    before = {t: _rows(old_store, f"SELECT {columns[t]} FROM {t} ORDER BY 1, 2") for t in tables}

    store = Store(old_store)
    try:
        assert store.schema_version == LATEST
        assert [row["version"] for row in history(store.db)] == ALL
        assert store.alias("churn") == 3
        assert verify(store).ok and verify(store).schema_version == LATEST
    finally:
        store.close()

    for table, rows in before.items():  # migrating changed no row
        assert _rows(old_store, f"SELECT {columns[table]} FROM {table} ORDER BY 1, 2") == rows
    indexes = {r[0] for r in _rows(old_store, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"runs_by_spec", "runs_by_start", "model_versions_by_run"} <= indexes
    assert {"alias_history_by_alias", "runs_by_status"} <= indexes
    plan = _rows(
        old_store,
        "EXPLAIN QUERY PLAN SELECT * FROM model_versions WHERE run_id = 'x' ORDER BY name",
    )
    assert "model_versions_by_run" in " ".join(str(r[-1]) for r in plan)

    again = Store(old_store)  # nothing left to do: no new row
    again.close()
    assert [r[0] for r in _rows(old_store, "SELECT version FROM store_schema")] == ALL


def _plan(store: Path, sql: str) -> str:
    return " ".join(str(r[-1]) for r in _rows(store, f"EXPLAIN QUERY PLAN {sql}"))


RUNS_BY_STATUS = (  # runs list --status passed; the look for runs still marked running
    "SELECT id FROM runs r WHERE r.status = 'passed' ORDER BY started_at DESC, id DESC LIMIT 50",
    "SELECT DISTINCT lock FROM runs r WHERE r.status = 'running' AND COALESCE(r.owner, '') <> ''",
)


def test_a_store_at_schema_2_gains_the_index_on_runs_status_and_its_queries_use_it(
    old_store: Path,
) -> None:
    Store(old_store).close()  # as the specops of schema 2 left it: no runs_by_status
    with sqlite3.connect(old_store / "store.db") as db:
        db.execute("DROP INDEX runs_by_status")
        db.execute("DELETE FROM store_schema WHERE version > 2")
    db.close()
    assert "runs_by_status" not in _plan(old_store, RUNS_BY_STATUS[0])
    runs = _rows(old_store, "SELECT id, status FROM runs ORDER BY id")

    store = Store(old_store)
    try:
        assert store.schema_version == LATEST
        assert [row["version"] for row in history(store.db)] == ALL
        assert {(run.id, run.status) for run in store.runs()} == set(runs)
    finally:
        store.close()
    for query in RUNS_BY_STATUS:
        assert "USING COVERING INDEX runs_by_status" in _plan(old_store, query) or (
            "USING INDEX runs_by_status" in _plan(old_store, query)
        ), _plan(old_store, query)


def test_a_new_store_starts_at_the_latest_version(tmp_path: Path) -> None:
    store = Store(tmp_path / ".specops")
    try:
        recorded = history(store.db)
    finally:
        store.close()
    assert [row["version"] for row in recorded] == [m.number for m in MIGRATIONS]
    import framework

    assert {row["specops_version"] for row in recorded} == {framework.__version__}


OPEN_AT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from framework.store import Store
    from framework.store.migrations import history
    start = float(sys.argv[2])
    time.sleep(max(0.0, start - time.time()))
    store = Store(Path(sys.argv[1]))
    print(store.schema_version, len(history(store.db)))
    store.close()
    """
)


def test_processes_opening_an_old_store_at_once_migrate_it_once(old_store: Path) -> None:
    start = time.time() + 3.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT, str(old_store), str(start)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert out.split() == [str(LATEST), str(LATEST)]
    rows = _rows(old_store, "SELECT version, why FROM store_schema ORDER BY version")
    assert [r[0] for r in rows] == ALL  # each applied once (the primary key says so too)


def _make_newer(store: Path, *statements: str) -> None:
    Store(store).close()  # at the latest version
    with sqlite3.connect(store / "store.db") as db:
        db.execute(
            "INSERT INTO store_schema VALUES (?, 'a later specops', '2027-01-01', '9.0')",
            (LATEST + 1,),
        )
        for statement in statements:
            db.execute(statement)
    db.close()


def test_a_store_made_by_a_newer_specops_is_refused_for_writing_and_still_read(
    cli, old_store: Path
) -> None:
    _make_newer(old_store)
    wanted = (
        f"made by a newer specops (schema {LATEST + 1}; this one knows {LATEST}): upgrade specops"
    )
    with pytest.raises(StoreError, match=r"made by a newer specops \(schema"):
        Store(old_store)

    promoted = cli("models", "promote", "churn/1", "--store", old_store)
    assert promoted.code == 2
    assert wanted in promoted.err and "Traceback" not in promoted.err

    listed = cli("models", "list", "--store", old_store, "--json")  # reading works
    assert listed.code == 0, listed.err
    assert json.loads(listed.out)["models"][0]["aliases"] == {"champion": 3}
    assert cli("store", "verify", "--store", old_store).code == 0
    assert _rows(old_store, "SELECT MAX(version) FROM store_schema") == [(LATEST + 1,)]
    assert _rows(old_store, "SELECT version FROM aliases") == [(3,)]  # nothing changed


def test_a_newer_store_lacking_a_column_this_specops_reads_is_refused_for_reading(
    cli, old_store: Path
) -> None:
    _make_newer(old_store, "ALTER TABLE runs DROP COLUMN trigger")
    listed = cli("runs", "list", "--store", old_store)
    assert listed.code == 2
    assert f"made by a newer specops (schema {LATEST + 1}; this one knows {LATEST})" in listed.err
    assert "lacks runs.trigger, which this one reads: upgrade specops" in listed.err


def test_a_read_only_old_store_is_read_and_never_migrated(
    old_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(old_store).close()  # as the specops before schema versions left it:
    with sqlite3.connect(old_store / "store.db") as db:  # every column, no version
        db.execute("DROP TABLE store_schema")
        for index in ("runs_by_spec", "runs_by_start", "model_versions_by_run", "runs_by_status"):
            db.execute(f"DROP INDEX {index}")
        db.execute("DROP INDEX alias_history_by_alias")
    db.close()
    # tests run as root: the read-only file system is the one thing made up here
    monkeypatch.setattr(
        "framework.store.sqlite_backend.read_only_reason",
        lambda root: "its file system is mounted read-only",
    )
    with pytest.raises(StoreError, match="read-only"):
        Store(old_store)  # for writing: refused, as before
    store = Store(old_store, write=False)
    try:
        assert store.read_only and store.schema_version == 1
        assert store.alias("churn") == 3
    finally:
        store.close()
    assert _rows(old_store, "SELECT name FROM sqlite_master WHERE name = 'store_schema'") == []


def test_store_verify_says_the_schema_version(cli, old_store: Path) -> None:
    report = cli("store", "verify", "--store", old_store, "--json")
    assert report.code == 0, report.err
    assert json.loads(report.out)["checked"]["schema_version"] == LATEST
    table = cli("store", "verify", "--store", old_store)
    assert f"schema version {LATEST}" in " ".join(table.out.split())  # rich wraps lines
