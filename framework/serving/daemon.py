"""Servers in the background: start one detached, list them, stop them.

Each running server writes ``<store>/serve/<pid>.json`` (what it serves, where,
its log file) when it starts and removes it when it stops, so ``specops serve
--status`` and ``--stop`` need nothing but the store. A record whose process is
gone (killed, machine restarted) is stale and is removed when seen. Before a
signal is sent, the process is checked to still be a ``specops serve`` (a PID
can be reused), and only SIGTERM is sent first: the server answers what is in
flight and flushes its request log; SIGKILL follows only if it has not exited
after the grace period.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import UserError
from framework.serving.defaults import TOKEN_ENV
from framework.serving.server import connect_host, url_of

if TYPE_CHECKING:
    from framework.serving.served import ServedModel
    from framework.serving.settings import ServeSettings

SERVE_DIR = "serve"
READY_SECONDS = 120
STOP_SECONDS = 30


@dataclass(frozen=True)
class ServerRecord:
    """A running server, as its PID file describes it."""

    pid: int
    model: str
    version: int | None
    ref: str
    follows: str | None
    host: str
    port: int
    url: str
    workers: int
    log: str | None
    started_at: str
    package: str | None = None

    @classmethod
    def for_this_process(
        cls, settings: ServeSettings, served: ServedModel, log_file: str | None
    ) -> ServerRecord:
        return cls(
            pid=os.getpid(),
            model=served.name,
            version=served.version,
            ref=settings.ref or served.ref,
            follows=served.follows,
            host=settings.host,
            port=settings.port,
            url=url_of(settings.host, settings.port),
            workers=settings.workers,
            log=log_file,
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            package=settings.package,
        )


def serve_dir(store_root: Path) -> Path:
    return store_root / SERVE_DIR


def write_record(store_root: Path, record: ServerRecord) -> Path:
    """Write this server's PID file atomically; returns its path."""
    directory = serve_dir(store_root)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{record.pid}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(asdict(record), indent=2))
    partial.replace(path)
    return path


def is_serving(pid: int) -> bool:
    """True if ``pid`` is alive (not a zombie) and is a ``specops serve`` process."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # not Linux: trust the PID file
        return True
    try:
        status = (proc / "status").read_text()
        command = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if "\nState:\tZ" in status:
        return False
    return b"serve" in command


def records(store_root: Path) -> list[ServerRecord]:
    """The servers running on this store; stale PID files are removed."""
    directory = serve_dir(store_root)
    found = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            record = ServerRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if is_serving(record.pid):
            found.append(record)
        else:
            path.unlink(missing_ok=True)
    return found


def current_state(record: ServerRecord, timeout: float = 2.0) -> dict[str, Any]:
    """What the server's ``/version`` says now (the version answering, ``stale``); {} if
    it does not answer."""
    status, body = http_get(record.host, record.port, "/version", timeout)
    if status != 200:
        return {}
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def http_get(host: str, port: int, path: str, timeout: float) -> tuple[int, bytes]:
    """One GET against a local server; (0, b'') when it does not answer."""
    connection = http.client.HTTPConnection(connect_host(host), port, timeout=timeout)
    headers = {}
    token = os.environ.get(TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        connection.close()


def stop(record: ServerRecord, store_root: Path, grace: float = STOP_SECONDS) -> bool:
    """SIGTERM, wait for a graceful exit, SIGKILL after ``grace`` seconds; True if it stopped."""
    pid_file = serve_dir(store_root) / f"{record.pid}.json"
    if not is_serving(record.pid):
        pid_file.unlink(missing_ok=True)
        return True
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not is_serving(record.pid):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        time.sleep(0.2)
    pid_file.unlink(missing_ok=True)
    return not is_serving(record.pid)


SERVE_MODULE = "framework.cli.main"

SAFE_PATH = {"PYTHONSAFEPATH": "1"}
"""Python 3.11+: no working directory on ``sys.path`` (as ``-P``), in the detached server
and in any Python it starts (a compiled runtime's build): ``-m`` would put it first, so an
``orjson.py`` left where a server is started would run inside it."""

RUN_WITHOUT_CWD = (
    "import runpy, sys; sys.path.pop(0); module = sys.argv.pop(1); "
    "runpy.run_module(module, run_name='__main__', alter_sys=True)"
)
"""Python 3.10 knows neither ``-P`` nor ``PYTHONSAFEPATH``: drop the working directory
('' first on sys.path for ``-c``), then run the module as ``-m`` would."""


def python_module(module: str) -> list[str]:
    """This interpreter running ``module`` as ``python -m`` does; with :data:`SAFE_PATH`
    in its environment, without the working directory on ``sys.path``."""
    if sys.version_info >= (3, 11):
        return [sys.executable, "-m", module]
    return [sys.executable, "-c", RUN_WITHOUT_CWD, module]


def serve_argv(settings: ServeSettings) -> list[str]:
    """The ``specops serve`` command line for these settings (never the token)."""
    argv = [*python_module(SERVE_MODULE), "serve"]
    if settings.package is not None:
        argv += ["--package", settings.package]
    else:
        argv.append(settings.ref or "")
    if settings.store is not None:
        argv += ["--store", settings.store]
    if settings.artifacts is not None:
        argv += ["--artifacts", settings.artifacts]
    if settings.follow:
        argv += ["--follow", settings.follow]
    argv += [
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(settings.workers),
        "--max-body-bytes",
        str(settings.max_body_bytes),
        "--poll-ms",
        str(round(settings.poll_seconds * 1000)),
        "--max-header-bytes",
        str(settings.max_header_bytes),
        "--header-timeout",
        repr(settings.header_timeout),
        "--body-timeout",
        repr(settings.body_timeout),
        "--keep-alive-timeout",
        repr(settings.keep_alive_timeout),
        "--max-connections",
        str(settings.max_connections),
        "--retry-max",
        repr(settings.retry_max_seconds),
    ]
    if not settings.request_log:
        argv.append("--no-request-log")
    if not settings.fast_path:
        argv.append("--no-fast-path")
    if settings.runtime:
        argv += ["--runtime", settings.runtime]
    if settings.strict_columns:
        argv.append("--strict-columns")
    if settings.log_max_rows:
        argv += ["--log-max-rows", str(settings.log_max_rows)]
    if settings.log_max_bytes:
        argv += ["--log-max-bytes", str(settings.log_max_bytes)]
    return argv


def start_background(
    settings: ServeSettings, store_root: Path, name: str, timeout: float = READY_SECONDS
) -> ServerRecord:
    """Start ``specops serve`` detached from this process; return once it answers ready.

    Its output goes to ``<store>/serve/<name>-<port>.log`` (appended). If it exits
    before it is ready, the error it printed is raised here.
    """
    from framework.store.addressing import ARTIFACTS_VARIABLE, STORE_VARIABLE, address_for

    address = address_for(store_root)
    store_root = store_root.resolve()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **SAFE_PATH}
    cwd = None
    if address.is_local:
        settings = replace(settings, store=str(store_root))  # the child may run elsewhere
    else:
        # a shared store's URL (which may hold a password) goes to the child in its
        # environment, never on its command line where `ps` shows it; the child finds
        # the same workdir (server records, caches) from its working directory
        env[STORE_VARIABLE] = address.metadata
        env.pop(ARTIFACTS_VARIABLE, None)
        if address.artifacts:
            env[ARTIFACTS_VARIABLE] = address.artifacts
        settings = replace(settings, store=None, artifacts=None)
        cwd = store_root.parent
    directory = serve_dir(store_root)
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / f"{name}-{settings.port or 'any'}.log"
    if settings.token:
        env[TOKEN_ENV] = settings.token
    argv = [*serve_argv(settings), "--log-file", str(log_path)]
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,  # not killed with this process or its terminal
            close_fds=True,
        )
    pid_file = directory / f"{process.pid}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise UserError(
                f"the server exited with code {code} before it was ready; "
                f"{_tail(log_path)}(log: {log_path})"
            )
        if pid_file.is_file():
            with contextlib.suppress(OSError, ValueError, TypeError):
                record = ServerRecord(**json.loads(pid_file.read_text()))
                status, _ = http_get(record.host, record.port, "/v2/health/ready", 1.0)
                if status == 200:
                    return record
        time.sleep(0.1)
    process.terminate()
    raise UserError(f"the server was not ready after {timeout:.0f} s (log: {log_path})")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return "it said:\n  " + "\n  ".join(text) + "\n" if text else ""
