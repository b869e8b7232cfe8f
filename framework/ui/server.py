"""Run the UI: bind, announce the address, serve with uvicorn until stopped.

:func:`serve` is what ``specops ui`` runs in the foreground; :func:`running` starts
the same app on a background thread (tests, the browser suite, benchmarks) and
yields its base URL. Both bind the socket first so ``--port 0`` can say which port
the kernel chose before the first request.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from framework.ui.app import LOOPBACK, UiApp, UiSettings


def _uvicorn_config(app: UiApp) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        ws="none",
        h11_max_incomplete_event_size=64 * 1024,
        timeout_keep_alive=5,
    )


def address(settings: UiSettings) -> str:
    """The URL a browser on this machine opens."""
    from framework.serving.server import url_of

    return url_of(settings.host, settings.port) + "/"


def serve(settings: UiSettings) -> int:
    """Serve until Ctrl-C or SIGTERM; the address is printed once bound."""
    import uvicorn

    from framework.serving.server import bind

    sock = bind(settings.host, settings.port)
    settings = replace(settings, port=sock.getsockname()[1])
    app = UiApp(settings)
    mode = "promote/rollback allowed" if settings.allow_writes else "read-only"
    auth = "token required" if settings.token else "no token"
    print(f"specops ui: {address(settings)} ({mode}, {auth}); Ctrl-C stops it", flush=True)
    if settings.host not in LOOPBACK and not settings.token:  # refused earlier; kept safe
        sock.close()
        return 2
    import signal

    def stopped(signum: int, frame: object) -> None:
        # uvicorn stops gracefully on the signal, then raises it again with the handler
        # it found installed: this one, so the clean-up below runs instead of a hard exit
        raise _Stopped

    previous = {sig: signal.signal(sig, stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.Server(_uvicorn_config(app)).run(sockets=[sock])
    except (_Stopped, KeyboardInterrupt):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        app.close()
    return 0


class _Stopped(Exception):
    """SIGTERM or Ctrl-C after uvicorn's graceful shutdown: exit 0."""


@contextmanager
def running(
    store: str | None = None, *, allow_writes: bool = False, token: str | None = None, **more: Any
) -> Iterator[str]:
    """The UI on 127.0.0.1 (a free port) in a background thread; yields its base URL
    (``http://127.0.0.1:PORT``, no trailing slash) and stops it on exit."""
    import uvicorn

    from framework.serving.server import bind

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    settings = UiSettings(
        store=store, host="127.0.0.1", port=port, token=token, allow_writes=allow_writes, **more
    )
    app = UiApp(settings)
    server = uvicorn.Server(_uvicorn_config(app))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="specops-ui-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        if not server.started:
            raise RuntimeError("the UI server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        app.close()


def free_port() -> int:
    """A port free right now on 127.0.0.1 (for a server started as a process)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
