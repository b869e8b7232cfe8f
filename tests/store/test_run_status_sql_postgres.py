"""``run_status_sql`` on a PostgreSQL store: a run whose advisory lock a real child
process holds is running on every machine, a killed one interrupted; a token of another
kind of store (a copied row) is judged by host and PID, as ``Store.run`` does."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.store.test_run_status_sql import _dead_pid, _insert, _row
from tests.team.postgres_server import PostgresDatabase

pytestmark = pytest.mark.team

HOLD = """
import sys, time
from pathlib import Path
from framework.store import Store
from framework.store import StoreAddress
store = Store(StoreAddress(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
liveness = store.db.hold("run-" + sys.argv[4])
print(liveness.token, flush=True)
time.sleep(600)
"""


def test_runs_marked_running_on_postgres_are_judged_as_the_store_does(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    from framework.store import Store, StoreAddress
    from framework.store.browsing import run_status_sql

    address = StoreAddress(postgres_db.url, tmp_path / "work", str(tmp_path / "blobs"))
    writer = Store(address)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, postgres_db.url, str(tmp_path / "child"),
         str(tmp_path / "blobs"), "live"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        token = child.stdout.readline().strip()
        assert token.endswith("run-live"), child.stderr.read() if child.stderr else ""
        prefix = token[: -len("run-live")]
        host, dead, at = socket.gethostname(), _dead_pid(), "2026-01-01T00:00:00.000+00:00"
        rows = [
            _row("live", "running", "elsewhere.example:1", token, at),  # any machine's
            _row("copied-here", "running", f"{host}:1", "live/run-copied-here.lock", at),
            _row("copied-there", "running", "elsewhere.example:1", "live/run-x.lock", at),
            _row("legacy-dead", "running", f"{host}:{dead}", None, at),
            _row("legacy-alive", "running", f"{host}:1", None, at),
        ]
        rows += [
            _row(f"killed-{i:03d}", "running", "elsewhere.example:1", f"{prefix}run-k{i}", at)
            for i in range(40)
        ]
        _insert(writer, rows)
        store = Store(address, write=False)
        try:
            judged = run_status_sql(store)
            expression, args = judged.status()
            by_sql = dict(
                store.db.execute(f"SELECT r.id, {expression} FROM runs r", args).fetchall()
            )
            by_store = {run.id: run.status for run in store.runs()}
            _insert(writer, [_row("late", "running", f"{host}:1", f"{prefix}run-late", at)])
            where, more = judged.where("running")  # "late" began after the locks were asked
            running = sorted(
                row[0] for row in store.db.execute(f"SELECT r.id FROM runs r WHERE {where}", more)
            )
        finally:
            store.close()
        assert by_sql == by_store
        assert running == ["copied-there", "late", "legacy-alive", "live"]
        assert by_sql["killed-000"] == by_sql["copied-here"] == "interrupted"
    finally:
        writer.close()
        child.kill()
        child.communicate()
