"""Running a server in the foreground: load, bind, announce, serve until told to stop.

The model is loaded before the port is bound, so a wrong reference or a corrupt
version is a clear error (exit 2) and never a half-started server. The socket
is bound here rather than by uvicorn so that ``--port 0`` works (the kernel
picks a free port, which is then announced and written to the PID file) and so
that every worker of ``--workers N`` shares it. uvicorn runs with httptools
and uvloop, no access log (it costs more than a prediction), and shuts down
gracefully on SIGTERM or Ctrl-C: requests in flight are answered and the
request log is flushed.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import UserError
from framework.serving.settings import SETTINGS_ENV, TOKEN_ENV, ServeSettings

if TYPE_CHECKING:
    from framework.serving.app import ServingApp
    from framework.serving.model_holder import ModelHolder
    from framework.serving.served import ServedModel

log = logging.getLogger("specops.serve")

GRACEFUL_SECONDS = 15


def require_serve_extra() -> None:
    """Fail with the install command when the server's dependencies are missing."""
    missing = [module for module in ("uvicorn", "httptools", "orjson") if not _has(module)]
    if missing:
        raise UserError(f"specops serve needs {', '.join(missing)}: pip install 'specops[serve]'")


SWITCH_INTERVAL = 0.0005


def tune_process() -> None:
    """Let the event loop thread take the GIL back within 0.5 ms instead of 5 ms, and
    keep the garbage collector off the request path (:mod:`framework.serving.heap`).

    The request log writer and the alias follower run Python code in background
    threads; with the default switch interval a request arriving meanwhile can
    wait up to 5 ms for the interpreter, which shows as tail latency.
    """
    from framework.serving import heap

    sys.setswitchinterval(SWITCH_INTERVAL)
    heap.tune_collector()


def configure_logging() -> None:
    """Server messages (swaps, errors) on stderr with a timestamp; once per process."""
    logger = logging.getLogger("specops")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def store_root_of(settings: ServeSettings) -> Path | None:
    """The store a server reads and logs to; a package server has one only if given.

    The local workdir is returned: for a shared store (a URL) ``Store(workdir)`` in this
    process opens the shared store (see :mod:`framework.store.addressing`), and the
    workdir keeps this machine's server records and caches."""
    from framework.refs import store_root

    if settings.package is not None and not (settings.store or os.environ.get("SPECOPS_STORE")):
        return None
    return store_root(settings.store, settings.artifacts)


def load_holder(settings: ServeSettings) -> ModelHolder:
    """Load what the settings name: a stored version (following its alias) or a package."""
    from framework.plugins import get_plugins
    from framework.serving.model_holder import load_from_package, load_from_store

    plugins = get_plugins()
    if settings.package is not None:
        return load_from_package(
            Path(settings.package).expanduser(),
            plugins,
            fast_path=settings.fast_path,
            runtime=settings.runtime,
        )
    root = store_root_of(settings)
    assert root is not None and settings.ref is not None
    return load_from_store(
        root,
        settings.ref,
        plugins,
        follow=settings.follow,
        poll_seconds=settings.poll_seconds,
        fast_path=settings.fast_path,
        runtime=settings.runtime,
        retry_min_seconds=settings.retry_min_seconds,
        retry_max_seconds=settings.retry_max_seconds,
    )


def build_app(settings: ServeSettings, holder: ModelHolder | None = None) -> ServingApp:
    """The ASGI app for these settings, with its request log when there is a store."""
    from framework.prediction_log import LogLimits
    from framework.serving.app import ServingApp
    from framework.serving.request_log import RequestLogWriter

    holder = holder or load_holder(settings)
    request_log = None
    root = store_root_of(settings)
    if settings.request_log and root is not None:
        defaults = LogLimits()
        limits = LogLimits(
            max_rows=settings.log_max_rows or defaults.max_rows,
            max_bytes=settings.log_max_bytes or defaults.max_bytes,
        )
        request_log = RequestLogWriter(root, limits)
    return ServingApp(holder, settings, request_log)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; ``port`` 0 lets the kernel choose."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "is another server using it? (`specops serve --status` lists specops servers)"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def connect_host(host: str) -> str:
    """The address a client on this machine reaches a server listening on ``host`` at."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def url_of(host: str, port: int) -> str:
    shown = connect_host(host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _write_record(root: Path | None, record: Any, request_log: bool) -> Path | None:
    """This server's PID record in the store, or None: a store on a read-only mount
    is still served (read-only, with --no-request-log), only not listed by --status."""
    from framework.serving import daemon
    from framework.store.failures import READ_ONLY

    if root is None:
        return None
    try:
        return daemon.write_record(root, record)
    except OSError as exc:
        if exc.errno not in READ_ONLY:
            raise
        if request_log:
            raise UserError(
                f"cannot write {daemon.serve_dir(root)} ({exc.strerror}): the request log "
                "is kept in the store too; serve a read-only store with --no-request-log"
            ) from exc
        print(
            f"note: cannot write {daemon.serve_dir(root)} ({exc.strerror}): this server "
            "is not listed by `specops serve --status`; stop it with Ctrl-C or its PID",
            file=sys.stderr,
        )
        return None


def run(settings: ServeSettings, log_file: str | None = None) -> int:
    """Serve in this process until SIGTERM or Ctrl-C; returns the exit code.

    The caller has checked the serve extra (``require_serve_extra``).
    """
    import uvicorn

    from framework.serving import daemon

    configure_logging()
    tune_process()
    holder = load_holder(settings)
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    settings = settings.with_port(port)
    served = holder.current
    root = store_root_of(settings)
    record = daemon.ServerRecord.for_this_process(settings, served, log_file)
    pid_file = _write_record(root, record, settings.request_log)
    _announce(settings, served, holder)
    from framework.serving.connections import ConnectionLimits, LimitedHttpProtocol

    limits = ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
    )
    uv_options = {
        "http": LimitedHttpProtocol,
        "ws": "none",  # no WebSocket routes: an upgrade request is an ordinary request
        "loop": "uvloop" if _has("uvloop") else "asyncio",
        "lifespan": "on",
        "access_log": False,
        "log_level": "warning",
        "server_header": False,
        "proxy_headers": False,  # nothing here reads the client's address
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        "timeout_keep_alive": settings.keep_alive_timeout,
    }
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if settings.workers <= 1:
            app = build_app(settings, holder)
            config = uvicorn.Config(app, **uv_options)
            config.specops_limits = limits  # type: ignore[attr-defined]
            uvicorn.Server(config).run(sockets=[sock])
        else:
            from uvicorn.supervisors import Multiprocess

            del holder, served  # each worker loads its own copy
            os.environ[SETTINGS_ENV] = settings.to_env()
            if settings.token:
                os.environ[TOKEN_ENV] = settings.token
            config = uvicorn.Config(
                "framework.serving.app:app_from_env",
                factory=True,
                workers=settings.workers,
                **uv_options,
            )
            config.specops_limits = limits  # type: ignore[attr-defined]
            _multiprocess(Multiprocess, config, sock).run()
    except Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)
    log.info("server stopped")
    return 0


def _multiprocess(supervisor: type, config: object, sock: socket.socket) -> object:
    """uvicorn's worker supervisor; it took a ``target`` argument before uvicorn 0.36."""
    import inspect

    import uvicorn

    if "target" in inspect.signature(supervisor).parameters:
        return supervisor(config, target=uvicorn.Server(config).run, sockets=[sock])
    return supervisor(config, sockets=[sock])


class Stopped(Exception):
    """SIGTERM or Ctrl-C after uvicorn's graceful shutdown: exit 0, PID file removed."""


def _stopped(signum: int, frame: object) -> None:
    # uvicorn shuts down gracefully on the signal, then re-raises it with the handler it
    # found installed: this one, so the server's clean-up runs instead of a hard exit.
    raise Stopped


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _announce(settings: ServeSettings, served: ServedModel, holder: ModelHolder) -> None:
    url = url_of(settings.host, settings.port)
    follows = f", follows {served.name}@{holder.follows}" if holder.following else ""
    if served.scorer is not None:
        path = f"{served.runtime} runtime"
    else:
        path = f"native runtime, {'fast' if served.fast is not None else 'pandas'} path"
    if served.big_runtime:
        from framework.serving.served import BIG_ROWS

        path += f"; {served.big_runtime} from {BIG_ROWS:,} rows"
    print(
        f"serving {served.ref}{follows} on {url} ({settings.workers} worker(s), {path})\n"
        f"  MLflow:         POST {url}/invocations   GET {url}/ping  {url}/version\n"
        f"  Open Inference: POST {url}/v2/models/{served.name}/infer   "
        f"GET {url}/v2/health/ready",
        flush=True,
    )
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.token:
        log.warning(
            "listening on %s without a token: anyone who can reach this address can "
            "query the model (set --token or SPECOPS_SERVE_TOKEN)",
            settings.host,
        )
