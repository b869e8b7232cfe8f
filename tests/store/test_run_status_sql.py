"""``run_status_sql`` judges every run marked running as ``Store.run`` does (running or
interrupted), from one listing of the live locks: a killed run (its lock file left
behind, unheld, or gone), a run a real child process holds, another machine's run, and
runs of stores older than run locks (judged by their PID)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

HOLD = """
import sys, time
from pathlib import Path
from framework.store import Store
store = Store(Path(sys.argv[1]))
liveness = store.db.hold("run-" + sys.argv[2])
print("held", flush=True)
time.sleep(600)
"""


def _row(run_id: str, status: str, owner: str | None, lock: str | None, at: str) -> tuple:
    return (run_id, "m", "m.yaml", "h", "{}", status, at, owner, lock)


def _insert(store: object, rows: list[tuple]) -> None:
    with store.transaction() as db:  # type: ignore[attr-defined]
        db.executemany(
            "INSERT INTO runs (id, spec_name, spec_path, spec_hash, spec_json, status,"
            " started_at, owner, lock) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def _dead_pid() -> int:
    """A PID no process has any more (a child that exited and was reaped)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    return int(child.stdout)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A store and a real child process holding the lock of run ``live-run``."""
    from framework.store import Store

    root = tmp_path / ".specops"
    Store(root).close()
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root), "live-run"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield root, child
    finally:
        child.kill()
        child.communicate()


def _statuses(root: Path) -> tuple[dict[str, str], dict[str, str], list[str], list[str]]:
    """Each run's status by SQL and by ``Store.run``; the runs each filter keeps."""
    from framework.store import Store
    from framework.store.browsing import run_status_sql

    store = Store(root, write=False)
    try:
        judged = run_status_sql(store)
        expression, args = judged.status()
        by_sql = dict(store.db.execute(f"SELECT r.id, {expression} FROM runs r", args).fetchall())
        by_store = {run.id: run.status for run in store.runs()}
        kept = {}
        for status in ("running", "interrupted"):
            where, more = judged.where(status)
            kept[status] = sorted(
                row[0] for row in store.db.execute(f"SELECT r.id FROM runs r WHERE {where}", more)
            )
        return by_sql, by_store, kept["running"], kept["interrupted"]
    finally:
        store.close()


def test_every_kind_of_run_marked_running_is_judged_as_the_store_does(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    from framework.store import Store

    root, _ = holder
    host = socket.gethostname()
    at = "2026-01-01T00:00:00.000+00:00"
    dead = _dead_pid()
    rows = [
        _row("live-run", "running", f"{host}:1", "live/run-live-run.lock", at),
        _row("other-host", "running", "elsewhere.example:12", "live/run-other-host.lock", at),
        _row("gone-lock", "running", f"{host}:2", "live/run-gone-lock.lock", at),
        _row("legacy-dead", "running", f"{host}:{dead}", None, at),
        _row("legacy-alive", "running", f"{host}:{1}", None, at),  # init lives
        _row("legacy-odd", "running", f"{host}:abc", "", at),
        _row("legacy-other-host", "running", f"elsewhere.example:{dead}", None, at),
        _row("no-owner", "running", None, "live/run-no-owner.lock", at),
        _row("passed", "passed", f"{host}:{dead}", "live/run-passed.lock", at),
    ]
    # the bulk: killed runs whose lock files stayed behind, held by nobody
    rows += [
        _row(f"killed-{i:04d}", "running", f"{host}:{dead}", f"live/run-killed-{i:04d}.lock", at)
        for i in range(300)
    ]
    store = Store(root)
    try:
        _insert(store, rows)
    finally:
        store.close()
    for i in range(300):
        (root / "live" / f"run-killed-{i:04d}.lock").write_text(f"{host} {dead} 0\n")

    by_sql, by_store, running, interrupted = _statuses(root)
    assert by_sql == by_store
    assert running == sorted(
        ["live-run", "other-host", "legacy-alive", "legacy-odd", "legacy-other-host", "no-owner"]
    )
    assert interrupted == sorted(
        ["gone-lock", "legacy-dead", *(f"killed-{i:04d}" for i in range(300))]
    )


def test_the_held_run_shows_interrupted_once_its_process_is_killed(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    from framework.store import Store

    root, child = holder
    store = Store(root)
    try:
        owner, at = f"{socket.gethostname()}:1", "2026-01-01T00:00:00.000+00:00"
        _insert(store, [_row("live-run", "running", owner, "live/run-live-run.lock", at)])
    finally:
        store.close()
    assert _statuses(root)[2:] == (["live-run"], [])
    child.kill()
    child.wait(10)
    assert _statuses(root)[2:] == ([], ["live-run"])


def test_a_run_that_starts_after_the_locks_were_listed_is_not_judged_dead(
    tmp_path: Path,
) -> None:
    """Its lock may postdate the listing: between the listing and the query it counts as
    alive, whatever its lock says, rather than interrupted for one view."""
    from framework.store import Store
    from framework.store.browsing import run_status_sql
    from framework.store.store import now

    root = tmp_path / ".specops"
    store = Store(root)
    try:
        judged = run_status_sql(store)
        _insert(store, [_row("late", "running", f"{socket.gethostname()}:1",
                             "live/run-late.lock", now())])  # fmt: skip
        expression, args = judged.status()
        assert store.db.execute(f"SELECT {expression} FROM runs r", args).fetchall()[0][0] == (
            "running"
        )
        assert store.run("late").status == "interrupted"  # no such lock: asked now, it is dead
    finally:
        store.close()


def test_a_store_older_than_run_locks_is_judged_by_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opened read-only, a runs table without the lock column is read without it."""
    from framework.store import Store

    root = tmp_path / ".specops"
    host = socket.gethostname()
    dead = _dead_pid()
    store = Store(root)
    try:
        _insert(
            store,
            [
                _row("old-dead", "running", f"{host}:{dead}", None, "2026-01-01T00:00:00+00:00"),
                _row("old-alive", "running", f"{host}:1", None, "2026-01-01T00:00:01+00:00"),
            ],
        )
    finally:
        store.close()
    with sqlite3.connect(root / "store.db") as db:
        db.execute("ALTER TABLE runs DROP COLUMN lock")
    # tests run as root: the read-only file system is the one thing made up here
    monkeypatch.setattr(
        "framework.store.sqlite_backend.read_only_reason",
        lambda root: "its file system is mounted read-only",
    )
    store = Store(root, write=False)
    try:
        assert ("runs", "lock") in store._missing  # read as it is: not upgraded
    finally:
        store.close()
    by_sql, by_store, running, interrupted = _statuses(root)
    assert by_sql == by_store == {"old-dead": "interrupted", "old-alive": "running"}
    assert (running, interrupted) == (["old-alive"], ["old-dead"])


def test_held_lock_names_lists_the_held_locks_once_dead_stays_dead(
    holder: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    from framework.store.liveness import held_lock_names

    root, child = holder
    (root / "live" / "run-dead.lock").write_text("elsewhere 1 0\n")  # left by a killed run
    (root / "live" / "run-half.lock.claim").write_text("")  # a lock being made: not yet one
    assert held_lock_names(root, prefix="run-") == {"run-live-run.lock"}
    assert held_lock_names(root, prefix="run-") == {"run-live-run.lock"}  # asked again
    everything = held_lock_names(root)
    assert "run-live-run.lock" in everything and any(n.startswith("open-") for n in everything)
    child.kill()
    child.wait(10)
    assert held_lock_names(root) == set()
    assert held_lock_names(tmp_path / "no-store") == set()
