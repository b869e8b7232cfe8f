"""The store on PostgreSQL, several processes at once: the promises a team store makes.

Each test opens :class:`framework.store.Store` on a PostgreSQL database of its own
(artifacts in a local folder every process shares) from real processes:

- eight processes registering the same model name at once get versions 1..8, each
  once, and every run is recorded as done;
- processes promoting and rolling back one alias at once lose no move: the alias
  history is one unbroken chain (each move starts where the one before ended) and
  the alias ends where its history does;
- a process killed (SIGKILL) inside a write transaction leaves nothing of it, and the
  next writer does not wait for it; a run whose process was killed shows
  ``interrupted`` to every other process.
"""

# ruff: noqa: F811  (the fixtures imported from tests.team.postgres_server are arguments)
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from framework.store import Store, StoreAddress
from framework.store.store import undo_stack
from tests.team.postgres_server import (  # noqa: F401 (fixtures)
    PostgresDatabase,
    postgres_db,
    postgres_server,
)

REPO = Path(__file__).resolve().parents[2]

PRELUDE = """
import json, os, sys, time
from pathlib import Path
from framework.store import Store, StoreAddress

url, work, blobs = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

class Spec:
    name = "churn"
    path = Path("spec.yaml")
    spec_hash = "h"
    document = {"name": "churn"}
    profile = None

def wait_for_go():
    print("ready", flush=True)
    sys.stdin.readline()

def package(where):
    where.mkdir(parents=True, exist_ok=True)
    (where / "model.bin").write_bytes(os.urandom(64))
    (where / "meta.json").write_text(json.dumps({"pid": os.getpid()}))
    return where
"""


@pytest.fixture
def address(postgres_db: PostgresDatabase, tmp_path: Path) -> StoreAddress:
    return StoreAddress(postgres_db.url, tmp_path / "work", str(tmp_path / "blobs"))


def start(script: str, address: StoreAddress, *args: str, count: int) -> list[subprocess.Popen]:
    """``count`` processes running ``script``, each ready and waiting for one word."""
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                PRELUDE + script,
                address.metadata,
                str(address.workdir / f"p{i}"),
                str(address.artifacts),
                str(i),
                *args,
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    for process in processes:
        line = process.stdout.readline().strip()
        if line != "ready":
            for other in processes:
                other.kill()
            raise AssertionError(f"a process did not start: {line} {process.stderr.read()}")
    return processes


def go(processes: list[subprocess.Popen]) -> None:
    for process in processes:  # all at once, as near as the OS allows
        process.stdin.write("go\n")
        process.stdin.flush()


def finish(processes: list[subprocess.Popen], timeout: float = 300) -> list[str]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err
        outputs.append(out)
    return outputs


REGISTER = """
me = sys.argv[4]
store = Store(StoreAddress(url, work, blobs))
run_id = f"run-{me}"
wait_for_go()
store.begin_run(run_id, Spec(), {}, {"who": me})
version = store.add_version(
    name="churn", run_id=run_id, status="registered", model_type="lgbm",
    package_dir=package(work / "pkg"), signature={}, metrics={"auc": 0.9}, lineage={},
)
store.end_run(run_id, "done", {"version": version.version})
store.close()
print(version.version)
"""


def test_eight_processes_registering_one_name_get_unique_gap_free_versions(
    address: StoreAddress,
) -> None:
    Store(address).close()  # a new store (its creation by many at once: test_postgres_backend)
    processes = start(REGISTER, address, count=8)
    go(processes)
    versions = sorted(int(out.strip().splitlines()[-1]) for out in finish(processes))
    assert versions == list(range(1, 9))

    store = Store(address, write=False)
    try:
        stored = store.versions("churn")
        assert [v.version for v in stored] == list(range(1, 9))
        assert len({v.run_id for v in stored}) == 8  # one version per run, none shared
        runs = {run.id: run for run in store.runs()}
        assert sorted(runs) == [f"run-{i}" for i in range(8)]
        assert {run.status for run in runs.values()} == {"done"}
        for run_id, run in runs.items():
            (made,) = store.versions_of_run(run_id)
            assert run.outputs == {"version": made.version}
            assert store.params(run_id) == {"who": run_id.removeprefix("run-")}
        for version in stored:  # every blob a version names is there and whole
            for relative, digest in version.files.items():
                store.artifacts.verified(digest, f"{relative} of {version.ref}")
    finally:
        store.close()


MOVES = """
import random
me = int(sys.argv[4])
rounds = int(sys.argv[5])
store = Store(StoreAddress(url, work, blobs))
rng = random.Random(me)
wait_for_go()
done = []
for i in range(rounds):
    try:
        if rng.random() < 0.6:
            move = store.set_alias("churn", "champion", rng.randint(1, 4), actor=f"p{me}",
                                   reason=f"promote {me}.{i}")
        else:
            move = store.rollback("churn", "champion", actor=f"p{me}", note=f"{me}.{i}")
        done.append(move.id)
    except Exception as exc:  # nothing left to undo: a refusal, counted, not a loss
        if "roll back" not in str(exc):
            raise
store.close()
print(json.dumps(done))
"""


def test_concurrent_promotes_and_rollbacks_never_lose_a_move(address: StoreAddress) -> None:
    store = Store(address)
    try:
        store.begin_run("seed", _Spec(), {}, {})
        for _ in range(4):
            store.add_version(
                name="churn",
                run_id="seed",
                status="registered",
                model_type="lgbm",
                package_dir=_package(address.workdir / "seed"),
                signature={},
                metrics={},
                lineage={},
            )
        store.set_alias("churn", "champion", 1, actor="seed", reason="first")
        store.end_run("seed", "done", {})
    finally:
        store.close()

    processes = start(MOVES, address, "15", count=5)
    go(processes)
    made = [move for out in finish(processes) for move in json.loads(out.strip().splitlines()[-1])]

    store = Store(address, write=False)
    try:
        history = store.alias_history("churn", "champion")
        current = store.alias("churn", "champion")
    finally:
        store.close()
    assert len(made) == len(set(made))  # every process saw its own move recorded
    assert sorted(move.id for move in history[1:]) == sorted(made)  # and no other
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version, (before, after)  # an unbroken chain
    assert current == history[-1].to_version
    rollbacks = [move for move in history if move.is_rollback]
    assert rollbacks and len(rollbacks) < len(history)
    # what the undo stack says is undoable ends at the alias's version
    stack = undo_stack(history)
    assert stack == [] or stack[-1].to_version == current


IN_TRANSACTION = """
store = Store(StoreAddress(url, work, blobs))
wait_for_go()
with store.transaction() as db:
    db.execute("INSERT INTO store_settings (key, value) VALUES (?, ?)", ("half", "written"))
    print("inside", flush=True)
    time.sleep(600)
"""


def test_a_writer_killed_inside_its_transaction_leaves_nothing_and_blocks_no_one(
    address: StoreAddress,
) -> None:
    Store(address).close()  # the schema exists before the writer starts
    (writer,) = start(IN_TRANSACTION, address, count=1)
    try:
        go([writer])
        assert writer.stdout.readline().strip() == "inside", writer.stderr.read()
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(10)
        store = Store(address)
        try:
            began = time.monotonic()
            with store.transaction() as db:  # the dead writer's lock went with its session
                db.execute("INSERT INTO store_settings (key, value) VALUES (?, ?)", ("next", "1"))
            assert time.monotonic() - began < 10
            assert store.setting("half") is None
            assert store.setting("next") == "1"
        finally:
            store.close()
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.communicate()


RUN_AND_HANG = """
store = Store(StoreAddress(url, work, blobs))
wait_for_go()
store.begin_run("run-killed", Spec(), {}, {})
print("running", flush=True)
time.sleep(600)
"""


def test_a_killed_run_shows_interrupted_to_every_other_process(address: StoreAddress) -> None:
    (runner,) = start(RUN_AND_HANG, address, count=1)
    try:
        go([runner])
        assert runner.stdout.readline().strip() == "running", runner.stderr.read()
        observer = Store(address, write=False)
        try:
            assert observer.run("run-killed").status == "running"
            os.kill(runner.pid, signal.SIGKILL)
            runner.wait(10)
            deadline = time.monotonic() + 10
            while observer.run("run-killed").status == "running":
                assert time.monotonic() < deadline, "the killed run still shows running"
                time.sleep(0.05)
            assert observer.run("run-killed").status == "interrupted"
        finally:
            observer.close()
    finally:
        if runner.poll() is None:
            runner.kill()
        runner.communicate()


class _Spec:
    name = "churn"
    path = Path("spec.yaml")
    spec_hash = "h"
    document = {"name": "churn"}
    profile = None


def _package(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "model.bin").write_bytes(os.urandom(64))
    return where
