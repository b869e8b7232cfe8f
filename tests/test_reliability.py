"""Crashes and concurrency with real processes: whatever happens, the store stays whole.

A kill is SIGKILL: no ``finally``, no ``atexit``. The store's promise is that a row
is written only after the blobs it names, and each alias move is one transaction
with its history row, so after any kill ``store verify`` passes and the champion
is the old version or the new one, never something in between.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    aliases_and_history,
    breast_cancer_spec,
    champion,
    install_plugin,
    store_rows,
)

KILLER = '''
"""Test plugin: SIGKILL this very process at SPECOPS_KILL_AT=STEP:start|end."""

import os
import signal

from framework import hookimpl


def _die_at(step, when):
    if os.environ.get("SPECOPS_KILL_AT") == f"{step.name}:{when}":
        os.kill(os.getpid(), signal.SIGKILL)


@hookimpl
def specops_step_start(run, step):
    _die_at(step, "start")


@hookimpl
def specops_step_end(run, step):
    _die_at(step, "end")
'''

DIE_INSIDE_ALIAS_MOVE = """
import os, signal, sys
from pathlib import Path

import framework.store.store as module
from framework.store.store import Store


class Dying:
    '''A connection that kills the process right after the alias row is written,
    before its history row: the middle of the move's transaction.'''

    def __init__(self, db):
        self.db = db

    def execute(self, sql, *args):
        cursor = self.db.execute(sql, *args)
        if sql.startswith("INSERT INTO aliases"):
            os.kill(os.getpid(), signal.SIGKILL)
        return cursor


real = module._move_alias
module._move_alias = lambda db, *a, **k: real(Dying(db), *a, **k)
store = Store.open_existing(Path(sys.argv[1]))
if sys.argv[2] == "rollback":
    store.rollback("bc", actor="test")
else:
    store.set_alias("bc", "champion", int(sys.argv[2]), actor="test", reason="manual promote")
"""


@pytest.fixture
def spec(write_spec) -> Path:
    return write_spec(breast_cancer_spec(n_estimators=10))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A third-party plugin laid out as pip would: module, dist-info, entry point."""
    site = tmp_path / "site"
    code = textwrap.dedent(KILLER).lstrip()
    install_plugin(site, "specops-killer", "specops_killer", code, "killer")
    return site


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def specops(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``specops ARGS`` as its own process; the caller waits or kills."""
    return subprocess.Popen(
        [sys.executable, "-m", "framework.cli.main", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


def killed_after(delay: float, *args: str | Path) -> int:
    """Start ``specops ARGS`` and SIGKILL it if it is still running after ``delay`` seconds;
    its exit code (negative when killed)."""
    process = specops(*args)
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.kill()
    process.communicate(timeout=60)
    return process.returncode


def assert_consistent(cli, store: Path, context: str = "") -> None:
    """``store verify`` passes and the champion is a whole, registered version."""
    verified = cli("store", "verify", "--store", store, "--json")
    assert verified.code == 0, f"{context}\n{verified.out}{verified.err}"
    number = champion(store)
    if number is not None:
        status = store_rows(store, f"SELECT status FROM model_versions WHERE version = {number}")
        assert status == [("registered",)], context


def _open_store(root: str, barrier: Any, results: Any) -> None:
    from framework.store.store import Store

    barrier.wait()
    try:
        Store(Path(root)).close()
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_creating_one_store_at_once_all_succeed(tmp_path: Path) -> None:
    """The first write of a new store file races; the loser must retry, not fail."""
    context = multiprocessing.get_context("fork")
    for round_number in range(8):
        root = str(tmp_path / f"store{round_number}")
        barrier, results = context.Barrier(4), context.Queue()
        workers = [
            context.Process(target=_open_store, args=(root, barrier, results)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [results.get(timeout=10) for _ in workers] == ["ok"] * 4


def test_two_runs_at_once_on_one_store_lose_nothing(cli, spec: Path) -> None:
    store = spec.parent / ".specops"
    processes = [specops("run", spec, "--json"), specops("run", spec, "--json")]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, f"exit {process.returncode}: {err[-3000:]}"
    reports = [json.loads(out) for out, _ in outputs]

    assert sorted(r["model"]["version"] for r in reports) == [1, 2]
    assert len({r["run_id"] for r in reports}) == 2
    query = "SELECT version, run_id, status FROM model_versions ORDER BY version"
    recorded = store_rows(store, query)
    assert {(v, run) for v, run, _ in recorded} == {
        (r["model"]["version"], r["run_id"]) for r in reports
    }
    assert store_rows(store, "SELECT status, COUNT(*) FROM runs GROUP BY status") == [("passed", 2)]
    history = store_rows(store, "SELECT from_version, to_version FROM alias_history ORDER BY id")
    assert len(history) == 2 and history[0][0] is None and history[1][0] == history[0][1]
    assert champion(store) == history[-1][1]
    assert_consistent(cli, store)
    listed = json.loads(cli("runs", "list", "--store", store, "--json").out)["runs"]
    assert {r["run_id"] for r in listed} == {r["run_id"] for r in reports}


@pytest.mark.parametrize("kill_at", ["register:end", "deploy:start"])
def test_a_run_killed_after_register_keeps_the_old_champion(
    cli, spec: Path, site: Path, kill_at: str
) -> None:
    store = spec.parent / ".specops"
    assert cli("run", spec).code == 0
    assert champion(store) == 1

    killed = specops("run", spec, env={"PYTHONPATH": str(site), "SPECOPS_KILL_AT": kill_at})
    killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL

    # the version was committed whole before the kill; the alias never moved
    assert store_rows(store, "SELECT version, status FROM model_versions ORDER BY version") == [
        (1, "registered"),
        (2, "registered"),
    ]
    assert champion(store) == 1
    assert store_rows(store, "SELECT COUNT(*) FROM alias_history") == [(1,)]
    assert_consistent(cli, store, kill_at)
    dead = store_rows(store, "SELECT id, status FROM runs WHERE status != 'passed'")
    assert [status for _, status in dead] == ["running"]
    shown = json.loads(cli("runs", "show", dead[0][0], "--store", store, "--json").out)
    assert shown["models"][0]["ref"] == "bc/2" and shown["seconds"] is None
    assert shown["status"] == "interrupted"  # its process is gone, so it is not still running

    # what the kill left behind is garbage gc can see and remove; the store still works
    leftovers = json.loads(cli("store", "gc", "--min-age", "0", "--store", store, "--json").out)
    assert any(".package-" in g["path"] for g in leftovers["garbage"])
    assert cli("store", "gc", "--min-age", "0", "--apply", "--store", store).code == 0
    assert not list(store.glob(".package-*"))
    assert_consistent(cli, store, kill_at)
    assert cli("run", spec).code == 0
    assert champion(store) == 3


@pytest.mark.parametrize("move", ["2", "rollback"])
def test_a_kill_inside_an_alias_move_leaves_the_alias_where_it_was(
    cli, spec: Path, move: str
) -> None:
    store = spec.parent / ".specops"
    assert cli("run", spec).code == 0
    assert cli("run", spec).code == 0  # bc/2 is champion, bc/1 before it
    before = aliases_and_history(store)

    dying = subprocess.run(
        [sys.executable, "-c", DIE_INSIDE_ALIAS_MOVE, str(store), move],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dying.returncode == -signal.SIGKILL, dying.stderr
    after = aliases_and_history(store)
    assert after == before
    assert_consistent(cli, store, move)


def test_kills_at_random_moments_leave_the_store_consistent(cli, spec: Path) -> None:
    store = spec.parent / ".specops"
    started = time.monotonic()
    first = specops("run", spec)
    first.communicate(timeout=300)
    assert first.returncode == 0
    duration = time.monotonic() - started

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    deadline = time.monotonic() + 180
    kills: list[str] = []
    for trees in (5, 6, 7):
        if time.monotonic() > deadline:
            break
        delay = rng.uniform(0.3 * duration, 1.1 * duration)
        code = killed_after(delay, "run", spec, "--set", f"model.params.n_estimators={trees}")
        kills.append(f"run after {delay:.2f}s -> {code}")
        assert_consistent(cli, store, f"seed {seed}: {kills}")

    for _ in range(4):
        if time.monotonic() > deadline:
            break
        current = champion(store)
        registered = "SELECT version FROM model_versions WHERE status='registered'"
        others = [v for (v,) in store_rows(store, registered) if v != current]
        args = (
            ("models", "promote", f"bc/{others[0]}")
            if others and rng.random() < 0.6
            else ("models", "rollback", "bc")
        )
        delay = rng.uniform(0.0, 1.0)
        code = killed_after(delay, *args, "--store", store)
        kills.append(f"{' '.join(args)} after {delay:.2f}s -> {code}")
        assert_consistent(cli, store, f"seed {seed}: {kills}")
        history = store_rows(store, "SELECT to_version FROM alias_history ORDER BY id")
        assert champion(store) in {current, *others}, f"seed {seed}: {kills}"
        assert champion(store) == history[-1][0], f"seed {seed}: {kills}"


def test_refused_promote_and_rollback_move_nothing(cli, cli_process, spec: Path) -> None:
    store = spec.parent / ".specops"
    assert cli("run", spec).code == 0
    before = aliases_and_history(store)

    missing = cli_process("models", "promote", "bc/5", "--store", store)
    assert missing.code == 2 and "model 'bc' has no version 5; versions: 1" in missing.err
    nobody = cli_process("models", "rollback", "churn", "--store", store)
    assert (
        nobody.code == 2 and "no model named 'churn'" in nobody.err and "models: bc" in nobody.err
    )
    first = cli_process("models", "rollback", "bc", "--store", store)
    assert first.code == 2 and "nothing to roll back to" in first.err
    for result in (missing, nobody, first):
        assert "Traceback" not in result.err and result.out == ""

    after = aliases_and_history(store)
    assert after == before


def test_a_changed_artifact_is_named_and_never_loaded(cli, spec: Path) -> None:
    store = spec.parent / ".specops"
    assert cli("run", spec).code == 0
    files = json.loads(store_rows(store, "SELECT files_json FROM model_versions")[0][0])
    blob = store / "artifacts" / files["model/model.txt"][:2] / files["model/model.txt"][2:]
    blob.chmod(0o644)
    blob.write_text(blob.read_text() + "\n")

    assert cli("models", "show", "bc", "--store", store).code == 0  # reads rows, loads nothing
    verified = cli("store", "verify", "--store", store)
    assert verified.code == 1
    assert "model bc/1 file model/model.txt" in verified.out and str(blob) in verified.out

    rerun = cli("run", spec)  # the gate loads the champion to rescore it
    assert rerun.code == 2
    assert "model/model.txt of bc/1 is corrupt" in rerun.err and "refusing to load it" in rerun.err
    assert store_rows(store, "SELECT version FROM model_versions") == [(1,)]
    assert champion(store) == 1
