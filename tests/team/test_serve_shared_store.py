"""`specops serve` on a shared store (a real PostgreSQL server + local artifacts).

Two servers follow ``NAME@champion`` in one PostgreSQL store; a promote made from a
third process is served by both within the documented delay (the poll interval plus
a load), and both write the request log into the shared store, which a reader on
"another machine" (another workdir) reads whole. A server whose PostgreSQL server
stops keeps answering with its loaded version, says so in ``/version`` (naming the
server, never the password), and follows the alias again once PostgreSQL is back.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import URL, Client, make_frame, split_payload
from tests.team.postgres_server import PASSWORD, PostgresCluster, PostgresDatabase, postgres_bin

SPEC = """
name: shared
task: binary
seed: 3
data:
  source: {type: csv, params: {path: data.csv}}
  target: target
model:
  type: lightgbm
  params: {n_estimators: 20, num_leaves: 7}
gate:
  accuracy: {min: 0.0}
"""
POLL_MS = 200
SECONDS = 30


@dataclass
class SharedStore:
    """A project whose runs go to a PostgreSQL store with local artifacts."""

    project: Path
    url: str
    artifacts: Path

    @property
    def env(self) -> dict[str, str]:
        return {"SPECOPS_STORE": self.url, "SPECOPS_ARTIFACTS": str(self.artifacts)}


def specops(store: SharedStore, *args: str | Path, cwd: Path | None = None) -> str:
    """A specops command in its own process, on the shared store (environment only)."""
    (cwd or store.project).mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "framework.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or store.project,
        env={**os.environ, **store.env},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    return done.stdout


def make_shared_store(directory: Path, url: str) -> SharedStore:
    """Versions 1 and 2 of ``shared`` in the store; the champion back at 1."""
    project = directory / "project"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("")  # the workdir is project/.specops
    make_frame(600, 1).to_csv(project / "data.csv", index=False)
    (project / "spec.yaml").write_text(SPEC)
    store = SharedStore(project, url, directory / "artifacts")
    specops(store, "run", "spec.yaml")
    specops(store, "run", "spec.yaml", "--set", "model.params.n_estimators=3")
    specops(store, "models", "promote", "shared/1")
    return store


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    def version(self) -> dict[str, Any]:
        client = Client(self.port)
        try:
            status, answer = client.get("/version")
        finally:
            client.close()
        assert status == 200
        return answer

    def predict(self, rows: Any) -> str:
        client = Client(self.port)
        try:
            status, headers, body = client.request(
                "POST", "/invocations", json.dumps(split_payload(rows))
            )
        finally:
            client.close()
        assert status == 200, body
        assert len(json.loads(body)["predictions"]) == len(rows)
        return headers["specops-model"]

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        assert self.process.stderr is not None
        return self.process.stderr.read()


def start_server(cwd: Path, *args: str, env: dict[str, str]) -> Server:
    """``specops serve ARGS --port 0`` in ``cwd`` (its workdir: cwd/.specops)."""
    command = [sys.executable, "-m", "framework.cli.main", "serve", *args, "--port", "0"]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    lines = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            lines.append(line)
            match = URL.search(line)
            if match:
                return Server(process, int(match.group(2)))
        if process.poll() is not None:
            break
    process.kill()
    _, err = process.communicate(timeout=10)
    raise AssertionError(f"server did not start: {''.join(lines)}{err}")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def wait_all(servers: list[Server], predicate: Any, what: str) -> float:
    """Seconds until every server's /version satisfies ``predicate``."""
    began = time.monotonic()
    answers: list[dict[str, Any]] = []
    while time.monotonic() < began + SECONDS:
        answers = [server.version() for server in servers]
        if all(predicate(answer) for answer in answers):
            return time.monotonic() - began
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen; /version said {answers}")


def test_two_servers_follow_a_promote_from_a_third_process_and_both_write_the_request_log(
    postgres_db: PostgresDatabase, tmp_path: Path, servers: list[Server]
) -> None:
    store = make_shared_store(tmp_path, postgres_db.url)
    rows = make_frame(50, 7).drop(columns="target")
    # one server is given the store on its command line, the other in its environment
    flags = ["--store", store.url, "--artifacts", str(store.artifacts)]
    servers.append(start_server(store.project, "shared", *flags, "--poll-ms", str(POLL_MS), env={}))
    servers.append(
        start_server(tmp_path, "shared", "--poll-ms", str(POLL_MS), env=store.env)  # elsewhere
    )
    for server in servers:
        answer = server.version()
        assert answer["version"] == 1 and answer["store"] == {"reachable": True}
        assert server.predict(rows.head(10)) == "shared/1"

    began = time.monotonic()
    specops(store, "models", "promote", "shared/2", cwd=tmp_path / "elsewhere-1")
    returned = time.monotonic() - began
    delay = wait_all(servers, lambda a: a["version"] == 2, "both servers swapping")
    print(
        f"\npromote command returned after {returned:.2f} s; both servers served version 2 "
        f"{delay:.2f} s later ({returned + delay:.2f} s from its start; poll {POLL_MS} ms)"
    )
    assert delay < 5.0  # docs/team.md: the poll interval plus loading the version
    for server in servers:
        assert server.predict(rows.head(5)) == "shared/2"

    # the request log: every answer of both servers, in the shared store
    deadline = time.monotonic() + SECONDS
    frame = None
    while time.monotonic() < deadline:
        frame = read_log(store, tmp_path / "reader")
        if len(frame) >= 2 * (10 + 5):
            break
        time.sleep(0.2)
    assert frame is not None and len(frame) == 2 * (10 + 5)
    assert frame["version"].value_counts().to_dict() == {1: 20, 2: 10}
    for server in list(servers):
        log = server.stop()
        assert PASSWORD not in log and "dropped" not in log


def read_log(store: SharedStore, workdir: Path) -> Any:
    """The store's prediction log of ``shared``, read as from another machine."""
    from framework.prediction_log import read_window
    from framework.store import Store, StoreAddress

    workdir.mkdir(exist_ok=True)
    opened = Store.open_existing(
        StoreAddress(store.url, workdir, str(store.artifacts)), write=False
    )
    try:
        return read_window(opened, "shared")
    finally:
        opened.close()


# ---------------------------------------------------------------------------
# PostgreSQL stopped under a server
# ---------------------------------------------------------------------------


@pytest.fixture
def private_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    """A cluster of this test's own, since it is stopped and started again."""
    import tempfile

    from tests.team.postgres_server import shared_cluster

    shared_cluster()  # skips (or fails under CI) exactly as the shared one does
    bin_dir = postgres_bin()
    assert bin_dir is not None
    cluster = PostgresCluster(bin_dir, Path(tempfile.mkdtemp(prefix="specops-pg-own-")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def pg_ctl(cluster: PostgresCluster, *args: str) -> None:
    options = (
        f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {cluster.base} "
        "-c fsync=off -c max_connections=200"
    )
    data, log = str(cluster.data), str(cluster.log)
    cluster._run("pg_ctl", "-D", data, "-l", log, "-w", "-o", options, *args)


def test_a_server_keeps_serving_while_postgres_is_down_and_follows_again_once_it_is_back(
    private_cluster: PostgresCluster, tmp_path: Path, servers: list[Server]
) -> None:
    store = make_shared_store(tmp_path, private_cluster.url("specops"))
    rows = make_frame(20, 8).drop(columns="target")
    servers.append(start_server(store.project, "shared", "--poll-ms", str(POLL_MS), env=store.env))
    [server] = servers
    assert server.version()["store"] == {"reachable": True}

    pg_ctl(private_cluster, "stop", "-m", "fast")
    try:
        wait_all(servers, lambda a: not a["store"]["reachable"], "noticing PostgreSQL is down")
        answer = server.version()
        assert answer["version"] == 1
        error = answer["store"]["error"]
        print(f"\n/version while PostgreSQL is down: {answer['store']}")
        assert f"127.0.0.1:{private_cluster.port}" in error, error
        assert PASSWORD not in json.dumps(answer) and "\n" not in error
        assert answer["stale"].startswith("the store cannot be reached since ")
        assert server.predict(rows) == "shared/1"  # the loaded version still answers
        time.sleep(1.5)  # the request log tries to write it (every 0.5 s) and cannot
    finally:
        pg_ctl(private_cluster, "start")

    wait_all(servers, lambda a: a["store"] == {"reachable": True}, "reaching PostgreSQL again")
    specops(store, "models", "promote", "shared/2", cwd=tmp_path)
    wait_all(servers, lambda a: a["version"] == 2, "following the promote after the outage")
    assert server.predict(rows) == "shared/2"
    # the request log writer opened the store again: what was answered since is logged
    deadline = time.monotonic() + SECONDS
    logged = read_log(store, tmp_path / "reader")
    while (logged["version"] == 2).sum() < len(rows) and time.monotonic() < deadline:
        time.sleep(0.2)
        logged = read_log(store, tmp_path / "reader")
    assert (logged["version"] == 2).sum() == len(rows)
    log = server.stop()
    assert PASSWORD not in log
    # the answers given while PostgreSQL was down could not be logged, and it says so
    assert "prediction log: cannot open the store, requests are dropped: " in log, log
    assert f"{len(rows)} row(s) dropped (the store was busy or unreachable)" in log, log


def test_a_detached_server_on_a_shared_store_gets_its_url_in_its_environment_not_its_argv(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    store = make_shared_store(tmp_path, postgres_db.url)
    started = json.loads(specops(store, "serve", "shared", "--detach", "--port", "0", "--json"))
    pid = started["pid"]
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert PASSWORD not in argv and "postgresql://" not in argv  # `ps` shows argv
        listed = json.loads(specops(store, "serve", "--status", "--json"))["servers"]
        assert [(s["pid"], s["serving_version"]) for s in listed] == [(pid, 1)]
        answer = Server(subprocess.Popen(["true"]), started["port"]).version()
        assert answer["store"] == {"reachable": True} and answer["version"] == 1
        # given on the command line, the URL is not repeated with its password
        said = specops(store, "serve", "shared", "--detach", "--port", "0", "--store", store.url)
        assert "stop with: specops serve --stop shared --store postgresql://specops:***@" in said
    finally:
        stopped = specops(store, "serve", "--stop", "shared")
    assert f"pid {pid}" in stopped and stopped.count("stopped shared") == 2
    assert (store.project / ".specops" / "serve").is_dir()  # records in the local workdir


def test_every_worker_of_a_multi_worker_server_follows_the_shared_store(
    postgres_db: PostgresDatabase, tmp_path: Path, servers: list[Server]
) -> None:
    """--workers 2: each worker process resolves the store (given in the environment
    only) itself, follows the alias and logs its own answers."""
    store = make_shared_store(tmp_path, postgres_db.url)
    server = start_server(
        store.project, "shared", "--workers", "2", "--poll-ms", str(POLL_MS), env=store.env
    )
    servers.append(server)
    rows = make_frame(10, 3).drop(columns="target")
    specops(store, "models", "promote", "shared/2")
    began = time.monotonic()
    answered: set[str] = set()
    while time.monotonic() < began + SECONDS:  # 20 answers in a row from version 2
        answered = {server.predict(rows) for _ in range(20)}
        if answered == {"shared/2"}:
            break
        time.sleep(0.05)
    assert answered == {"shared/2"}
    deadline = time.monotonic() + SECONDS
    while len(read_log(store, tmp_path / "reader")) < 20 * 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(read_log(store, tmp_path / "reader")) >= 20 * 10


def test_the_http_deploy_target_on_a_shared_store_starts_a_server_that_follows_it(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    store = make_shared_store(tmp_path, postgres_db.url)
    deploy = "deploy={type: http, params: {port: 0}}"
    report = json.loads(specops(store, "run", "spec.yaml", "--set", deploy, "--json"))
    [server] = json.loads(specops(store, "serve", "--status", "--json"))["servers"]
    try:
        assert server["serving_version"] == 3 and server["follows"] == "champion"
        argv = Path(f"/proc/{server['pid']}/cmdline").read_bytes().decode()
        assert "postgresql://" not in argv
        running = Server(subprocess.Popen(["true"]), server["port"])
        assert running.version()["store"] == {"reachable": True}
        assert report["status"] == "passed"
        specops(store, "models", "promote", "shared/1", cwd=tmp_path / "laptop")
        wait_all([running], lambda a: a["version"] == 1, "following the promote")
    finally:
        specops(store, "serve", "--stop", "shared")
