"""A real MLflow tracking server on 127.0.0.1 for the tracker and export tests.

``mlflow_server`` (session) starts ``mlflow server`` as a subprocess on a free port,
with its own SQLite backend and artifact folder in a temporary directory, and with
artifacts served through the server (``--serve-artifacts``, the default), so a client
needs only the tracking URI, as a team's client would. It waits until ``/health``
answers; the server is stopped (its whole process group) when the test process exits.
It starts in 7-10 s on this machine (2 busy cores), so there is one per test process,
shared by every module that imports the fixture; ``start_seconds`` says how long it took.

Use it from a test module with ``from tests.team.mlflow_server import mlflow_server``
(or from tests/team/conftest.py).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT = 90.0
"""The server imports the whole of MLflow and migrates its database before it answers."""


@dataclass(frozen=True)
class MlflowServer:
    """A running ``mlflow server``: where it answers and where it keeps things."""

    uri: str
    database: Path
    artifacts: Path
    log: Path
    start_seconds: float
    process: subprocess.Popen[bytes]

    def client(self):  # -> mlflow.MlflowClient, bound to this server only
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mlflow_command() -> str | None:
    here = Path(sys.executable).parent / "mlflow"
    return str(here) if here.is_file() else shutil.which("mlflow")


def _server_module_present() -> bool:
    """The full ``mlflow`` package, not only ``mlflow-skinny`` (which has no server)."""
    import importlib.util

    try:
        return importlib.util.find_spec("mlflow.server") is not None
    except ImportError:
        return False


def _wait_until_up(uri: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mlflow server exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=1.0) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"mlflow server did not answer on {uri} within {START_TIMEOUT:.0f} s")


_shared: MlflowServer | None = None
_starting = threading.Lock()


def shared_server() -> MlflowServer:
    """The process's one ``mlflow server``, started on first use and stopped when the
    process exits, however many test modules import the fixture."""
    global _shared
    with _starting:
        if _shared is None or _shared.process.poll() is not None:
            _shared = _start(Path(tempfile.mkdtemp(prefix="specops-mlflow-")))
        return _shared


def _start(root: Path) -> MlflowServer:
    database, artifacts, log = root / "mlflow.db", root / "artifacts", root / "server.log"
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # no background job runner: it starts 6 more processes (~280 MB each) the tests
    # never use (MLflow's GenAI jobs)
    environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(_mlflow_command()),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",  # 2 shared cores: one worker answers the tests well enough
                "--backend-store-uri",
                f"sqlite:///{database}",
                "--artifacts-destination",
                str(artifacts),
                "--serve-artifacts",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=root,
            env=environment,
            start_new_session=True,  # its own process group: stopped whole at the end
        )
    atexit.register(shutil.rmtree, root, True)
    atexit.register(_stop, process)  # runs first: the server goes before its files
    try:
        _wait_until_up(uri, process, log)
    except BaseException:
        _stop(process)
        raise
    return MlflowServer(uri, database, artifacts, log, time.perf_counter() - started, process)


@pytest.fixture(scope="session")
def mlflow_server() -> MlflowServer:
    """``mlflow server`` on a free 127.0.0.1 port with a SQLite backend and artifacts
    served through it; skipped when the full ``mlflow`` package is absent, unless CI."""
    if _mlflow_command() is None or not _server_module_present():
        why = "the full mlflow package (its server) is not installed: the test extra"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return shared_server()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and whatever it started (uvicorn's worker): the group the
    fixture made for it, and nothing else."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
