"""A damaged, lost, full or read-only store is named (exit 2), never crashed on or lost.

Real damage only: bytes overwritten in the middle of a real store.db, a real tmpfs
that fills up, a real read-only bind mount, real processes killed with SIGKILL. The
promise in each case: exit 2 with the file and what to do, nothing stored is
changed or deleted, and what a live process owns is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import (
    aliases_and_history,
    breast_cancer_spec,
    build_store,
    champion,
    install_plugin,
    store_execute,
    store_rows,
)

PAUSE = '''
"""Test plugin: wait at SPECOPS_PAUSE_AT=STEP until the file SPECOPS_GO exists."""

import os
import time
from pathlib import Path

from framework import hookimpl


@hookimpl
def specops_step_start(run, step):
    if os.environ.get("SPECOPS_PAUSE_AT") == step.name:
        go = Path(os.environ["SPECOPS_GO"])
        Path(str(go) + ".waiting").write_text(run.run_id)
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bc/1 (champion, then replaced), bc/2 rejected, bc/3 champion: built once."""
    directory = tmp_path_factory.mktemp("built")
    build_store(directory)
    return directory


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built project (spec.yaml and .specops) for one test."""
    target = tmp_path / "project"
    shutil.copytree(built, target)
    return target


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def blobs(store: Path) -> dict[str, bytes]:
    """Every file under artifacts/: what must never be lost."""
    root = store / "artifacts"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def bc_rows(path: Path, copies: int = 1) -> Path:
    """Rows the bc model scores: scikit-learn's breast cancer features, ``copies`` times."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    frame = pd.concat([frame] * copies, ignore_index=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def table_pages(store: Path, table: str) -> tuple[int, int]:
    """(root page number, page size) of ``table`` in the store's database."""
    with sqlite3.connect(store / "store.db") as db:
        page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
        size = db.execute("PRAGMA page_size").fetchone()[0]
        return int(page.fetchone()[0]), int(size)


def damage_page(store: Path, table: str) -> None:
    """Overwrite the header and cell pointers of ``table``'s root page with junk."""
    page, size = table_pages(store, table)
    with (store / "store.db").open("r+b") as handle:
        handle.seek((page - 1) * size)
        handle.write(b"\xff" * 64)


# damaged database -------------------------------------------------------------------


def test_a_damaged_page_is_named_by_every_command_and_found_by_verify(cli, project: Path) -> None:
    store = project / ".specops"
    assert (store / "store.db").stat().st_size > 20 * 4096  # many pages: damage one mid-file
    damage_page(store, "model_versions")
    before = blobs(store)
    for args in (
        ("models", "list"),
        ("models", "show", "bc"),
        ("runs", "list"),
        ("models", "promote", "bc/1"),
        ("store", "gc", "--min-age", "0", "--apply"),
    ):
        result = cli(*args, "--store", store)
        assert result.code == 2, (args, result.err)
        assert f"store database {store / 'store.db'} is damaged" in result.err, args
        assert "restore it from a backup" in result.err
        assert "Traceback" not in result.err
    verified = cli("store", "verify", "--store", store, "--json")
    assert verified.code == 1  # verify found a problem: exit 1, as for a corrupt blob
    report = json.loads(verified.out)
    assert report["problems"][0]["kind"] == "damaged_database"
    assert report["problems"][0]["path"] == str(store / "store.db")
    full = cli("store", "verify", "--full", "--store", store, "--json")
    assert full.code == 1 and json.loads(full.out)["checked"]["database"] == "integrity_check"
    assert blobs(store) == before


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        ("truncate", "truncated: 50000 bytes"),
        ("text", "not a SQLite database"),
    ],
)
def test_a_truncated_or_replaced_database_is_refused_and_left_as_it_is(
    cli, project: Path, damage: str, why: str
) -> None:
    store = project / ".specops"
    database = store / "store.db"
    if damage == "truncate":
        os.truncate(database, 50000)
    else:
        database.write_text("these are my notes, not a database\n")
    before, data = blobs(store), database.read_bytes()
    for args in (
        ("models", "list", "--store", store),
        ("store", "verify", "--store", store),
        ("run", project / "spec.yaml"),
    ):
        result = cli(*args)
        assert result.code == 2, (args, result.err)
        assert f"store database {database} is damaged ({why}" in result.err, result.err
    assert database.read_bytes() == data and blobs(store) == before


@pytest.mark.parametrize("state", ["empty", "missing"])
def test_a_lost_database_beside_blobs_is_refused_never_a_new_store(
    cli, project: Path, state: str
) -> None:
    """0 bytes (or gone) while artifacts/ holds blobs: the records are lost, not new."""
    store = project / ".specops"
    database = store / "store.db"
    if state == "empty":
        database.write_bytes(b"")
    else:
        database.unlink()
    before = blobs(store)
    for args in (
        ("run", project / "spec.yaml"),  # would have started again at version 1
        ("store", "gc", "--min-age", "0", "--apply", "--store", store),  # deleted every blob
        ("store", "verify", "--store", store),  # said ok
        ("models", "list", "--store", store),
    ):
        result = cli(*args)
        assert result.code == 2, (args, result.err)
        assert f"store database {database} is {state}" in result.err
        assert f"holds {len(before)} blob(s)" in result.err
    assert blobs(store) == before
    if state == "empty":
        assert database.stat().st_size == 0
    else:
        assert not database.exists()


@pytest.mark.parametrize(
    ("part", "replace", "said"),
    [
        ("", "file", "the store path {path} is a file, not a store directory"),
        ("store.db", "directory", "store database {path} is a directory, not a file"),
        ("artifacts", "file", "{path} is a file, but the store keeps its blobs in a folder"),
        ("live", "file", "{path} is a file, but the store keeps the lock files"),
        ("serve", "file", "{path} is a file, but the store keeps the records of its servers"),
        ("artifacts", "dangling", "{path} is a broken symbolic link (to {path}.gone)"),
    ],
)
def test_a_store_part_of_the_wrong_kind_is_named_by_every_command(
    cli, project: Path, tmp_path: Path, part: str, replace: str, said: str
) -> None:
    """A file where the store keeps a folder (or the reverse) was a FileExistsError
    (exit 3) for every command, or "store.db is missing" for a folder there."""
    store = project / ".specops"
    path = store / part if part else store
    if path.exists():
        path.rename(tmp_path / "moved-away")
    if replace == "file":
        path.write_text("not what the store put here\n")
    elif replace == "directory":
        path.mkdir()
    else:
        path.symlink_to(f"{path}.gone")
    for args in (
        ("models", "list", "--store", store),
        ("store", "verify", "--store", store),
        ("store", "gc", "--min-age", "0", "--apply", "--store", store),
        ("run", project / "spec.yaml"),
    ):
        result = cli(*args)
        assert result.code == 2, (args, result.err)
        assert said.format(path=path) in result.err, (args, result.err)
    assert path.is_symlink() or (path.is_file() if replace == "file" else path.is_dir())


def test_a_blob_folder_replaced_by_a_file_is_named_when_a_run_stores_a_blob(
    cli, project: Path
) -> None:
    store = project / ".specops"
    assert cli("run", project / "spec.yaml", "--set", "model.params.n_estimators=7").code == 0
    (version,) = store_rows(store, "SELECT max(version) FROM model_versions")[0]
    for name in "0123456789abcdef":  # the next run's new blobs need a folder of their own
        for other in "0123456789abcdef":
            place = store / "artifacts" / (name + other)
            if not place.exists():
                place.write_text("not a folder\n")

    result = cli("run", project / "spec.yaml", "--set", "model.params.n_estimators=9")

    assert result.code == 2, result.err
    assert "is not a directory, but the store keeps the blobs whose names start with" in result.err
    assert store_rows(store, "SELECT max(version) FROM model_versions")[0][0] == version
    assert not list((store / "artifacts").glob(".incoming-*"))


def test_a_checkpoint_stopped_half_way_is_not_called_damage(cli, project: Path) -> None:
    """A checkpoint writes page 1 (the new page count) before the pages that grow the
    file; killed there, or out of disk space there (seen after `monitor` on a nearly
    full disk), the file is shorter than its header says while the WAL holds every
    page. SQLite finishes the checkpoint on the next open: that is no damage, and
    "restore it from a backup" would have thrown a good store away."""
    store, crashed = project / ".specops", project / "crashed"
    shutil.copytree(store, crashed, ignore=shutil.ignore_patterns("store.db*"))
    db = sqlite3.connect(store / "store.db")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    with db:
        db.execute("CREATE TABLE grown (data BLOB)")
        db.executemany("INSERT INTO grown VALUES (?)", [(os.urandom(8000),)] * 20)
    for name in ("store.db", "store.db-wal"):  # the moment the checkpoint starts
        shutil.copy2(store / name, crashed / name)
    db.close()  # the last connection checkpoints: page 1 now has the grown page count
    page_size = int.from_bytes((store / "store.db").read_bytes()[16:18], "big")
    with (crashed / "store.db").open("r+b") as handle:  # ... and only page 1 got written
        handle.write((store / "store.db").read_bytes()[:page_size])
    assert (crashed / "store.db").stat().st_size < (store / "store.db").stat().st_size

    listed = cli("models", "list", "--store", crashed, "--json")
    verified = cli("store", "verify", "--store", crashed)

    assert listed.code == 0, listed.err
    assert sorted(v["version"] for v in json.loads(listed.out)["models"][0]["versions"]) == [
        1,
        2,
        3,
    ]
    assert verified.code == 0, verified.err + verified.out
    assert store_rows(crashed, "SELECT count(*) FROM grown") == [(20,)]


def test_a_new_store_is_still_created_where_there_is_nothing(cli, write_spec) -> None:
    spec = write_spec(breast_cancer_spec(n_estimators=5))
    assert cli("run", spec).code == 0
    assert champion(spec.parent / ".specops") == 1


# read-only store --------------------------------------------------------------------


@contextlib.contextmanager
def read_only_mount(directory: Path) -> Iterator[None]:
    """``directory`` as a read-only bind mount: a store root cannot write to either."""
    bind = subprocess.run(["mount", "--bind", str(directory), str(directory)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bind.stderr.decode().strip()}")
    try:
        remount = ["mount", "-o", "remount,ro,bind", str(directory)]
        subprocess.run(remount, check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(directory)], check=True)


def test_a_read_only_store_answers_reads_and_names_itself_on_writes(
    cli, project: Path, tmp_path: Path
) -> None:
    store = project / ".specops"
    rows = bc_rows(tmp_path / "rows.csv")
    before = blobs(store)
    first, second = (row[0] for row in store_rows(store, "SELECT id FROM runs LIMIT 2"))
    listed = sorted(store.iterdir())
    with read_only_mount(store):
        for args in (
            ("models", "list"),
            ("models", "show", "bc"),
            ("runs", "list"),
            ("runs", "diff", first, second),
            ("runs", "show", first),
            ("store", "verify"),
            ("store", "gc", "--min-age", "0"),
            ("predict", "bc", "-i", rows, "-o", tmp_path / "out.csv"),
            ("reproduce", first),
        ):
            result = cli(*args, "--store", store)
            assert result.code == 0, (args, result.err)
        history = cli("monitor", "history", "bc", "--store", store)  # read, not refused
        assert "no monitor runs recorded for 'bc'" in history.err, history.err
        for args in (
            ("models", "promote", "bc/1", "--store", store),
            ("models", "rollback", "bc", "--store", store),
            ("store", "gc", "--apply", "--store", store),
            ("run", project / "spec.yaml"),
        ):
            result = cli(*args)
            assert result.code == 2, (args, result.err)
            assert f"the store at {store} is read-only" in result.err
            assert "mounted read-only" in result.err
        assert sorted(store.iterdir()) == listed  # nothing was even tried: no -shm, no lock
    assert (tmp_path / "out.csv").read_text().startswith('"prediction"')
    assert blobs(store) == before and champion(store) == 3


def test_a_read_only_store_is_served_without_a_request_log(project: Path) -> None:
    """serve wrote its PID record into the store first: a read-only store could not be
    served at all, though serving only reads the model."""
    from tests.serving.conftest import Client, start_server

    store = project / ".specops"
    with read_only_mount(store):
        refused = subprocess.run(
            [sys.executable, "-m", "framework.cli.main", "serve", "bc", "--store", store],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode == 2, refused.stderr
        assert "serve a read-only store with --no-request-log" in refused.stderr
        server = start_server("bc", "--store", store, "--no-request-log")
        try:
            client = Client(server.port)
            assert client.get("/ping")[0] == 200
            status, version = client.get("/version")
            assert status == 200 and version["version"] == 3
        finally:
            server.stop()
        _, err = server.process.communicate(timeout=10)
        assert "not listed by `specops serve --status`" in err


# full disk --------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(directory: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` at ``directory``."""
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "--lazy", str(directory)], check=True)


def fill(directory: Path, leave_kib: int) -> Path:
    """A file that uses all but ``leave_kib`` KiB of the file system."""
    filler = directory / "filler"
    filler.unlink(missing_ok=True)
    stats = os.statvfs(directory)
    size = stats.f_bavail * stats.f_frsize - leave_kib * 1024
    with filler.open("wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, max(size, 0))
    return filler


def test_a_full_disk_is_named_at_every_fill_level_and_nothing_is_half_written(
    cli, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", "3m") as disk:
        spec = disk / "spec.yaml"
        spec.write_text(breast_cancer_spec(n_estimators=10))
        assert cli("run", spec).code == 0
        store = disk / ".specops"
        versions = store_rows(store, "SELECT name, version, files_json FROM model_versions")
        for leave in (8, 40, 200, 600, 800):  # SQLite's -shm, its pages, the blobs, the package
            fill(disk, leave)
            result = cli("run", spec, "--set", f"model.params.n_estimators={20 + leave}")
            assert result.code == 2, (leave, result.err)
            assert "no space left on device while writing" in result.err, result.err
            assert f"(file system at {disk})" in result.err
            assert "Traceback" not in result.err
            left = [p.name for p in store.rglob(".*") if p.name.startswith((".incoming", ".pack"))]
            assert left == [], leave
        (disk / "filler").unlink()
        assert store_rows(store, "SELECT name, version, files_json FROM model_versions") == versions
        assert cli("store", "verify", "--store", store).code == 0
        assert champion(store) == 1


def test_a_lock_file_that_cannot_be_written_is_named_and_not_left_behind(
    tmp_path: Path,
) -> None:
    """Room for SQLite but not for a lock file's first block: every command said only
    "no space left on device" (which file, on which file system?) and left an empty
    lock file. The error now carries the lock's path, which the CLI's message names."""
    from framework.store.liveness import LiveLock

    with small_disk(tmp_path / "disk", "1m") as disk:
        store = disk / ".specops"
        (store / "live").mkdir(parents=True)
        fill(disk, 0)
        with pytest.raises(OSError) as raised:
            LiveLock.for_process(store)
        assert raised.value.filename is not None
        assert Path(raised.value.filename).parent == store / "live"
        assert list((store / "live").iterdir()) == []


def test_predict_on_a_full_disk_is_exit_2_and_leaves_no_partial_file(
    cli, built: Path, tmp_path: Path
) -> None:
    rows = bc_rows(tmp_path / "rows.parquet", copies=10)
    with small_disk(tmp_path / "disk", "1m") as disk:
        fill(disk, 16)
        out = disk / "out.csv"
        result = cli("predict", "bc", "-i", rows, "-o", out, "--store", built / ".specops")
        assert result.code == 2, result.err
        assert f"no space left on device while writing {out} (file system at {disk})" in result.err
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


# live runs: gc and liveness -----------------------------------------------------------


@pytest.fixture
def pause_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    code = textwrap.dedent(PAUSE).lstrip()
    install_plugin(site, "specops-pause", "specops_pause", code, "pause")
    return site


def start_paused_run(project: Path, site: Path, step: str) -> tuple[subprocess.Popen[str], Path]:
    go = project / "go"
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "SPECOPS_PAUSE_AT": step,
        "SPECOPS_GO": str(go),
    }
    spec = project / "spec.yaml"
    command = [sys.executable, "-m", "framework.cli.main", "run", str(spec), "--set"]
    process = subprocess.Popen(
        [*command, "model.params.n_estimators=14"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    waiting = Path(str(go) + ".waiting")
    deadline = time.monotonic() + 120
    while not waiting.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached its pause"
        time.sleep(0.05)
    return process, go


def test_gc_with_min_age_0_never_deletes_what_a_live_run_owns(
    cli, project: Path, pause_site: Path
) -> None:
    store = project / ".specops"
    process, go = start_paused_run(project, pause_site, "register")
    try:
        package_dirs = list(store.glob(".package-*"))
        assert len(package_dirs) == 1  # the run's package directory, made before register
        # an old leftover of a killed run: gc does delete that one
        stale = store / ".package-killed-long-ago"
        stale.mkdir()
        os.utime(stale, (time.time() - 7200, time.time() - 7200))
        listed = cli("runs", "list", "--store", store, "--json")
        assert json.loads(listed.out)["runs"][0]["status"] == "running"
        result = cli("store", "gc", "--min-age", "0", "--apply", "--store", store, "--json")
        assert result.code == 0, result.err
        report = json.loads(result.out)
        assert str(package_dirs[0]) in [g["path"] for g in report["kept_live"]]
        assert str(stale) in report["deleted"]
        assert package_dirs[0].is_dir() and not stale.exists()
    finally:
        go.touch()
        _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert cli("store", "verify", "--store", store).code == 0
    assert champion(store) == 4


def test_a_dead_run_is_interrupted_even_when_its_pid_lives_again(
    cli, project: Path, pause_site: Path
) -> None:
    """The run's process is SIGKILLed and its PID then belongs to a live process (here:
    this test's own, as for a container whose processes are always PID 1)."""
    store = project / ".specops"
    process, go = start_paused_run(project, pause_site, "train")
    run_id = Path(str(go) + ".waiting").read_text()
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    reused = f"{socket.gethostname()}:{os.getpid()}"
    store_execute(store, f"UPDATE runs SET owner = '{reused}' WHERE id = '{run_id}'")
    shown = cli("runs", "show", run_id, "--store", store, "--json")
    assert json.loads(shown.out)["status"] == "interrupted"
    listed = json.loads(cli("runs", "list", "--store", store, "--json").out)
    assert {r["run_id"]: r["status"] for r in listed["runs"]}[run_id] == "interrupted"
    # gc removes the dead run's lock file; the run still shows interrupted after
    gc = json.loads(cli("store", "gc", "--min-age", "0", "--apply", "--store", store, "--json").out)
    assert any(p.endswith(f"run-{run_id}.lock") for p in gc["deleted"])
    shown = cli("runs", "show", run_id, "--store", store, "--json")
    assert json.loads(shown.out)["status"] == "interrupted"


def test_runs_of_an_old_store_without_locks_still_show_by_host_and_pid(cli, project: Path) -> None:
    """A store made before run locks: it opens, is upgraded, and its rows display."""
    store = project / ".specops"
    store_execute(store, "ALTER TABLE runs DROP COLUMN lock")
    store_execute(store, "UPDATE runs SET status = 'running', owner = 'elsewhere:1'")
    listed = json.loads(cli("runs", "list", "--store", store, "--json").out)
    assert {r["status"] for r in listed["runs"]} == {"running"}  # another host: cannot tell
    store_execute(store, f"UPDATE runs SET owner = '{socket.gethostname()}:999999999'")
    listed = json.loads(cli("runs", "list", "--store", store, "--json").out)
    assert {r["status"] for r in listed["runs"]} == {"interrupted"}
    assert cli("run", project / "spec.yaml").code == 0  # and it still takes new runs
    assert champion(store) == 4


# promote verifies what it points at ---------------------------------------------------


def test_promote_and_rollback_refuse_a_version_whose_files_are_damaged(cli, project: Path) -> None:
    store = project / ".specops"
    files = json.loads(
        store_rows(store, "SELECT files_json FROM model_versions WHERE version = 1")[0][0]
    )
    digest = sorted(files.values())[0]
    blob = store / "artifacts" / digest[:2] / digest[2:]
    blob.write_bytes(blob.read_bytes()[:-10])
    before = aliases_and_history(store)
    promoted = cli("models", "promote", "bc/1", "--store", store)
    assert promoted.code == 2
    assert "bc@champion not moved to bc/1" in promoted.err and str(blob) in promoted.err
    assert "is corrupt" in promoted.err and "the alias is unchanged" in promoted.err
    rolled = cli("models", "rollback", "bc", "--store", store)  # would return to bc/1
    assert rolled.code == 2 and "not moved to bc/1" in rolled.err
    assert aliases_and_history(store) == before


# killed predict: partial outputs -----------------------------------------------------


def test_partial_outputs_of_killed_predicts_are_swept_by_the_next_one(
    cli, built: Path, tmp_path: Path
) -> None:
    rows = bc_rows(tmp_path / "rows.parquet", copies=60)
    out = tmp_path / "out" / "scores.csv"
    out.parent.mkdir()
    command = [sys.executable, "-m", "framework.cli.main", "predict", "bc", "-i", str(rows)]
    command += ["-o", str(out), "--chunk-rows", "100", "--store", str(built / ".specops")]
    seen: list[set[Path]] = []
    for _ in range(2):
        before = set(out.parent.glob(".scores.csv.*.partial"))
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not set(out.parent.glob(".scores.csv.*.partial")) - before:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        seen.append(set(out.parent.glob(".scores.csv.*.partial")))
    # SIGKILL: no finally ran, so each left its partial; the second swept the first's
    assert len(seen[0]) == 1 and len(seen[1]) == 1 and seen[0] != seen[1]
    live = out.parent / ".scores.csv.specops-4242-abcdef.partial"  # a writer alive right now
    live.write_text("being written")
    with live.open() as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        small = bc_rows(tmp_path / "small.csv")
        assert cli("predict", "bc", "-i", small, "-o", out, "--store", built / ".specops").code == 0
        left = sorted(p.name for p in out.parent.iterdir())
    assert left == [live.name, "scores.csv"]


def test_the_sweep_never_removes_a_partial_file_specops_did_not_name(
    cli, built: Path, tmp_path: Path
) -> None:
    """The output's folder is the user's: only names carrying specops' mark are swept."""
    out = tmp_path / "out" / "scores.csv"
    out.parent.mkdir()
    theirs = [
        ".scores.csv.backup.partial",
        ".scores.csv.4242-abcdef.partial",
        ".scores.csv.abcdefgh.partial",
        ".scores.csv.specops-1-abcdef.partial.bak",
        ".scores.csv.specops-x-abcdef.partial",
    ]
    for name in theirs:
        (out.parent / name).write_text("the user's own")
    dead = out.parent / ".scores.csv.specops-4242-abcdef.partial"  # no lock: its writer died
    dead.write_text("half written")

    small = bc_rows(tmp_path / "small.csv")
    assert cli("predict", "bc", "-i", small, "-o", out, "--store", built / ".specops").code == 0

    assert not dead.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([*theirs, "scores.csv"])
    assert all((out.parent / name).read_text() == "the user's own" for name in theirs)


# durability -------------------------------------------------------------------------


def test_a_blobs_directory_is_synced_before_the_row_naming_it_commits(
    cli, bc_spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Power loss can undo a rename whose directory was not synced: every blob a version
    names has its directory fsynced before the transaction recording it commits."""
    import framework.store.artifacts as artifacts
    import framework.store.opening as opening

    events: list[str] = []
    sync, connect = artifacts.sync_directory, opening.connect_read_write

    def synced(directory: Path) -> None:
        sync(directory)
        events.append(f"sync {directory}")

    def traced(database: Path) -> sqlite3.Connection:
        db = connect(database)
        db.set_trace_callback(
            lambda sql: (
                events.append(sql)
                if "INSERT INTO model_versions" in sql or sql == "COMMIT"
                else None
            )
        )
        return db

    monkeypatch.setattr(artifacts, "sync_directory", synced)
    monkeypatch.setattr("framework.store.sqlite_backend.connect_read_write", traced)
    assert cli("run", bc_spec).code == 0
    store = bc_spec.parent / ".specops"
    files = json.loads(store_rows(store, "SELECT files_json FROM model_versions")[0][0])
    insert = next(i for i, e in enumerate(events) if "INSERT INTO model_versions" in e)
    commit = events.index("COMMIT", insert)
    synced_before = set(events[:commit])
    for digest in files.values():
        assert f"sync {store / 'artifacts' / digest[:2]}" in synced_before, digest
