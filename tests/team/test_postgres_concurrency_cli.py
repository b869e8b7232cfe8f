"""`specops` processes at once on one shared store (PostgreSQL + S3), as a team runs them.

- eight ``specops run`` of one spec at once: versions 1..8, each once, every run
  recorded and finished;
- ``models promote`` and ``models rollback`` from several processes at once: every
  command that succeeded is one move in the alias history, which stays one unbroken
  chain (no move lost, none made from a stale "current version");
- ``specops run`` killed with SIGKILL while it uploads (right after its gate step is
  recorded, i.e. during register) or while it ingests: the run shows
  ``interrupted``, ``store verify --full`` passes (no version names a missing or
  partial blob), and the next run gets the next version number;
- ``store gc --apply --min-age 0`` looping on another machine while runs upload: it
  deletes their blobs in flight, they store them again under the write lock, nothing a
  row names is ever missing.
"""

# ruff: noqa: F811  (the fixtures imported from tests.team.* are arguments)
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import breast_cancer_spec
from tests.team.postgres_server import (  # noqa: F401 (fixtures)
    PASSWORD,
    PostgresDatabase,
    postgres_db,
    postgres_server,
)
from tests.team.s3_server import S3Prefix, S3Server, s3_server  # noqa: F401 (fixtures)

pytest.importorskip("psycopg", reason="the postgres extra is not installed")
pytest.importorskip("boto3", reason="the s3 extra is not installed")


class Shared:
    """A shared store (a fresh database, a fresh S3 prefix) and a spec to run on it."""

    def __init__(self, db: PostgresDatabase, s3: S3Server, home: Path) -> None:
        self.db = db
        self.artifacts = S3Prefix(s3, f"t-{uuid.uuid4().hex[:12]}")
        self.home = home
        (home / "spec.yaml").write_text(breast_cancer_spec(n_estimators=10).lstrip())

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SPECOPS_", "AWS_"))}
        return {
            **base,
            **self.artifacts.server.env,
            "SPECOPS_STORE": self.db.url,
            "SPECOPS_ARTIFACTS": self.artifacts.url,
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }

    def popen(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "framework.cli.main", *args],
            cwd=cwd or self.home,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def specops(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "framework.cli.main", *args],
            cwd=self.home,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert PASSWORD not in done.stdout + done.stderr
        return done

    def rows(self, query: str, params: tuple = ()) -> list:
        from plugins.store_postgres import PostgresMetadata

        backend = PostgresMetadata(self.db.url, read_only=True)
        try:
            return [tuple(row) for row in backend.execute(query, params).fetchall()]
        finally:
            backend.close()


@pytest.fixture
def shared(postgres_db: PostgresDatabase, s3_server: S3Server, tmp_path: Path) -> Shared:
    return Shared(postgres_db, s3_server, tmp_path)


def test_eight_runs_at_once_get_versions_one_to_eight(shared: Shared) -> None:
    runs = [shared.popen("run", "spec.yaml", "--json", "--set", f"seed={i + 1}") for i in range(8)]
    results = []
    for process in runs:
        out, err = process.communicate(timeout=600)
        assert process.returncode in (0, 1), err  # passed, or the gate kept the champion
        assert PASSWORD not in out + err
        results.append(json.loads(out))
    versions = sorted(result["model"]["version"] for result in results)
    assert versions == list(range(1, 9))
    listed = shared.specops("runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    statuses = {run["run_id"]: run["status"] for run in json.loads(listed.stdout)["runs"]}
    assert sorted(statuses) == sorted(result["run_id"] for result in results)
    assert set(statuses.values()) <= {"passed", "rejected"}
    stored = shared.rows("SELECT id, status FROM runs ORDER BY id")
    assert sorted(run_id for run_id, _ in stored) == sorted(r["run_id"] for r in results)
    assert {status for _, status in stored} <= {"passed", "rejected"}
    owners = shared.rows("SELECT version, run_id FROM model_versions WHERE name = 'bc'")
    assert len({run_id for _, run_id in owners}) == 8
    verify = shared.specops("store", "verify", "--full")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_promotes_and_rollbacks_from_several_processes_lose_no_move(shared: Shared) -> None:
    for n in (10, 11, 12):  # three registered versions to move between
        done = shared.specops("run", "spec.yaml", "--set", f"model.params.n_estimators={n}")
        assert done.returncode in (0, 1), done.stderr
    query = "SELECT version FROM model_versions WHERE status = 'registered'"
    registered = [row[0] for row in shared.rows(query)]
    assert len(registered) >= 2

    def command(i: int, j: int) -> tuple[str, ...]:
        if (i + j) % 3:
            target = f"bc/{registered[(i + j) % len(registered)]}"
            return ("models", "promote", target, "--reason", f"p{i}.{j}")
        return ("models", "rollback", "bc", "--reason", f"r{i}.{j}")

    # three workers at once, each running its four commands one after another
    commands = [[command(i, j) for j in range(4)] for i in range(3)]
    champion_moves = "SELECT id FROM alias_history WHERE name = 'bc' AND alias = 'champion'"
    moves_before = len(shared.rows(champion_moves))
    moved = 0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _RUN_IN_TURN, json.dumps(script)],
            cwd=shared.home,
            env=shared.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for script in commands
    ]
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        results = json.loads(out.strip().splitlines()[-1])
        assert {code for code, _ in results} <= {0, 2}, err  # 2: nothing left to roll back
        moved += sum(1 for _, made in results if made)
    history = shared.rows(
        "SELECT from_version, to_version, reason FROM alias_history"
        " WHERE name = 'bc' AND alias = 'champion' ORDER BY id"
    )
    assert len(history) - moves_before == moved  # each command that moved: one row, no loss
    for before, after in itertools.pairwise(history):
        assert after[0] == before[1], (before, after)
    current = shared.rows("SELECT version FROM aliases WHERE name = 'bc' AND alias = 'champion'")
    assert current == [(history[-1][1],)]


_RUN_IN_TURN = """
import json, subprocess, sys
results = []
for command in json.loads(sys.argv[1]):
    done = subprocess.run([sys.executable, "-m", "framework.cli.main", *command],
                          capture_output=True, text=True)
    if done.returncode not in (0, 2):
        sys.stderr.write(done.stderr)
    # exit 0 and "nothing moved": a promote to the version the alias already points at
    results.append([done.returncode, done.returncode == 0 and "nothing moved" not in done.stdout])
print(json.dumps(results))
"""


@pytest.mark.parametrize("kill_after", ["ingest", "gate"])
def test_a_run_killed_mid_way_leaves_no_half_version(shared: Shared, kill_after: str) -> None:
    first = shared.specops("run", "spec.yaml", "--json")
    assert first.returncode == 0, first.stderr
    victim = shared.popen("run", "spec.yaml", "--set", "model.params.n_estimators=13")
    try:
        deadline = time.monotonic() + 120
        while not shared.rows(
            "SELECT 1 FROM steps JOIN runs ON runs.id = steps.run_id"
            " WHERE runs.status = 'running' AND steps.name = ?",
            (kill_after,),
        ):
            assert victim.poll() is None, victim.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(victim.pid, signal.SIGKILL)  # uploading (gate done: register is next)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
        victim.communicate()
    (killed,) = shared.rows("SELECT id FROM runs WHERE status = 'running'")
    shown = shared.specops("runs", "list", "--json")
    assert shown.returncode == 0, shown.stderr
    statuses = {run["run_id"]: run["status"] for run in json.loads(shown.stdout)["runs"]}
    assert statuses[killed[0]] == "interrupted"
    assert list(statuses.values()).count("interrupted") == 1
    verify = shared.specops("store", "verify", "--full")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    versions = shared.rows("SELECT version FROM model_versions ORDER BY version")
    after = shared.specops("run", "spec.yaml", "--json")
    assert after.returncode in (0, 1), after.stderr
    assert json.loads(after.stdout)["model"]["version"] == len(versions) + 1


def test_gc_from_another_machine_while_runs_upload_deletes_nothing_they_reference(
    shared: Shared, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``store gc --apply --min-age 0`` in a loop, from a working directory of its own
    (another machine: its live-process locks do not show the runs), while three runs
    upload: whatever gc deletes before a row names it is stored again under the write
    lock, so every run ends well and ``store verify --full`` passes."""
    elsewhere = tmp_path_factory.mktemp("gc-machine")
    first = shared.specops("run", "spec.yaml")
    assert first.returncode == 0, first.stderr
    runs = [shared.popen("run", "spec.yaml", "--json", "--set", f"seed={i + 2}") for i in range(3)]
    rounds = 0
    while any(run.poll() is None for run in runs) or rounds == 0:
        gc = shared.popen("store", "gc", "--apply", "--min-age", "0", cwd=elsewhere)
        out, err = gc.communicate(timeout=300)
        assert gc.returncode == 0, out + err
        rounds += 1
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode in (0, 1), err
    versions = shared.rows("SELECT version FROM model_versions ORDER BY version")
    assert versions == [(v,) for v in range(1, 5)]
    verify = shared.specops("store", "verify", "--full")
    assert verify.returncode == 0, verify.stdout + verify.stderr
