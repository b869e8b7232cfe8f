"""The UI's ASGI application: routing, auth, limits, and one thread that reads the store.

A plain ASGI callable like :mod:`framework.serving.app`: pages are a handful of
indexed queries and an HTML string, so a web framework would add more than it
saves. Page modules each expose ``ROUTES = [(method, pattern, handler)]``;
``PAGE_MODULES`` lists them, and a module that is not there (yet) is skipped.

A handler is ``handler(request: Request) -> Response`` (plain, not async). All
handlers run on one worker thread: SQLite connections belong to the thread that
opened them, and one reader keeps a slow page from starving the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from framework.ui.html import Response, error_page, esc, redirect

log = logging.getLogger("specops.ui")

PAGE_MODULES: tuple[str, ...] = (
    "framework.ui.pages.models",
    "framework.ui.pages.version",
    "framework.ui.pages.runs",
    "framework.ui.pages.run",
    "framework.ui.pages.compare",
    "framework.ui.pages.monitoring",
    "framework.ui.pages.spec",
    "framework.ui.writes",
)

MAX_BODY_BYTES = 1024 * 1024
"""A form post (promote, rollback) or an uploaded spec; anything larger is refused."""
MAX_QUERY_VALUES = 200
"""Query arguments kept per request (``compare?run=...`` repeats one)."""
TOKEN_COOKIE = "specops_ui_token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    b'<rect width="16" height="16" rx="3" fill="#1d2330"/>'
    b'<path d="M3 11 L6 7 L9 9 L13 4" stroke="#7aa7ff" stroke-width="2" fill="none"/></svg>'
)
"""The tab icon (browsers ask for /favicon.ico on every page; a 404 is a console error)."""

Handler = Callable[["Request"], Response]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class UiSettings:
    """One UI server: the store it reads, where it listens, and what it may do."""

    store: str | None = None
    """``--store`` as given (None: $SPECOPS_STORE, else the nearest .specops)."""
    artifacts: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allow_writes: bool = False
    root: Path = field(default_factory=Path.cwd)
    """The directory the UI was started in: the spec page reads spec paths under it."""
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    """Signs CSRF tokens; new per server process, so a restart invalidates old forms."""


@dataclass
class Request:
    """One HTTP request as a handler sees it."""

    method: str
    path: str
    params: dict[str, str]
    """Values of the ``{name}`` parts of the route's pattern, percent-decoded."""
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    app: UiApp

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first ``?name=`` value (stripped), or ``default`` when absent or empty."""
        values = self.query.get(name)
        value = values[0].strip() if values else ""
        return value or default

    def args(self, name: str) -> list[str]:
        """Every ``?name=`` value, in order, empty ones left out."""
        return [v.strip() for v in self.query.get(name, []) if v.strip()]

    def int_arg(self, name: str, default: int, low: int = 1, high: int = 10**6) -> int:
        """An integer argument clamped to [low, high]; junk reads as ``default``."""
        try:
            value = int(self.arg(name, str(default)) or default)
        except ValueError:
            return default
        return max(low, min(high, value))

    def form(self) -> dict[str, list[str]]:
        """The body of an ``application/x-www-form-urlencoded`` POST."""
        return _parse_query(self.body.decode("utf-8", errors="replace"))

    @property
    def store(self) -> Any:
        """The store, opened read-only once (on the handlers' thread) and kept."""
        return self.app.store()

    @property
    def settings(self) -> UiSettings:
        return self.app.settings

    @property
    def store_label(self) -> str:
        """Where the store is, safe to show in the page header (no password)."""
        return self.app.store_label


Route = tuple[str, re.Pattern[str], Handler]


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``/models/{name}/versions/{version}`` -> a regex; each ``{x}`` is one segment."""
    parts = re.split(r"(\{[a-z_]+\})", pattern)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


def collect_routes(modules: tuple[str, ...] = PAGE_MODULES) -> list[Route]:
    """Every page module's ``ROUTES``; a module not written yet is skipped (logged)."""
    routes: list[Route] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            log.info("UI pages %s not present: skipped", name)
            continue
        for method, pattern, handler in getattr(module, "ROUTES", []):
            routes.append((method.upper(), compile_pattern(pattern), handler))
    return routes


class UiApp:
    """The UI: settings, routes, the store (on its own thread) and the ASGI entry."""

    def __init__(self, settings: UiSettings, routes: list[Route] | None = None) -> None:
        self.settings = settings
        self.routes = collect_routes() if routes is None else routes
        self.token = settings.token.encode() if settings.token else None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="specops-ui")
        self._store: Any = None
        self._runtimes: list[str] | None = None
        self._plugins_lock = threading.Lock()
        self.store_label = ""

    # the store -------------------------------------------------------------------

    def store(self) -> Any:
        """The read-only store, opened on first use by the handlers' thread."""
        if self._store is None:
            from framework.ui.queries import open_store

            self._store = open_store(self.settings.store, self.settings.artifacts)
            self.store_label = _shown_store(self._store.display_url, self.settings.root)
        return self._store

    def installed_runtimes(self) -> list[str] | None:
        """The runtimes registered here (what serving could load), looked up once;
        None when the plugins cannot be listed (verdicts are then judged alone)."""
        with self._plugins_lock:  # the warm-up thread may be listing them right now
            if self._runtimes is None:
                from framework.errors import UserError

                try:
                    from framework.plugins import get_plugins

                    self._runtimes = list(get_plugins().registry.types("runtime"))
                except UserError:
                    return None
            return self._runtimes

    def warm(self) -> None:
        """Before the first page asks: open the store on the handlers' thread, and list
        the plugins (~0.2 s) on a thread of their own so no page waits for both. A
        failure is left for the page that needs it to show."""
        from framework.errors import UserError

        def plugins() -> None:
            with contextlib.suppress(UserError):
                self.installed_runtimes()

        threading.Thread(target=plugins, name="specops-ui-plugins", daemon=True).start()
        with contextlib.suppress(UserError):
            self.store()

    def close(self) -> None:
        """Close the store on the thread that opened it, then stop that thread."""
        if self._store is not None:
            store, self._store = self._store, None
            self.executor.submit(store.close).result()
        self.executor.shutdown(wait=True)

    # ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.executor.submit(self.warm)  # not awaited: the port answers now
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"].upper()
        path = scope["path"]
        query = _parse_query(scope.get("query_string", b"").decode("latin-1"))
        response = self.refusal(headers, method, path, query)
        if response is None:
            received, too_big = await _read_body(receive, headers)
            if too_big:
                response = error_page(413, "Too large", f"bodies over {MAX_BODY_BYTES} bytes")
            else:
                response = await self.dispatch(method, path, query, headers, received)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(k.encode(), v.encode()) for k, v in response.all_headers()],
            }
        )
        body = response.encoded() if method != "HEAD" else b""
        await send({"type": "http.response.body", "body": body})
        log.debug("%s %s %d %.1f ms", method, path, response.status,
                  (time.perf_counter() - started) * 1000)  # fmt: skip

    def refusal(
        self, headers: dict[str, str], method: str, path: str, query: dict[str, list[str]]
    ) -> Response | None:
        """A request refused before any handler runs: a foreign Host on a loopback
        server (DNS rebinding), or a missing token when one is set."""
        if _loopback(self.settings.host) and not _loopback_host(headers.get("host", "")):
            return error_page(
                421, "Wrong host", "this server answers only to localhost / 127.0.0.1"
            )
        if self.token is None:
            return None
        if self.authorized(headers):
            return None
        given = query.get("token", [""])[0]
        if given and method in ("GET", "HEAD") and hmac.compare_digest(given.encode(), self.token):
            # a link with ?token=T logs a browser in: the token moves into a cookie
            # and out of the address bar (and out of the history)
            response = redirect(_without_token(path, query))
            response.headers.append(
                (
                    "set-cookie",
                    f"{TOKEN_COOKIE}={quote(given, safe='')}; HttpOnly; SameSite=Strict; Path=/",
                )
            )
            return response
        response = error_page(
            401,
            "Token needed",
            "this UI needs its token: open it with ?token=TOKEN once (the browser keeps it "
            "in a cookie), or send 'Authorization: Bearer TOKEN'",
        )
        response.headers.append(("www-authenticate", 'Bearer realm="specops ui"'))
        return response

    def authorized(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            credential.strip().encode("latin-1"), self.token
        ):
            return True
        for part in headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == TOKEN_COOKIE and hmac.compare_digest(
                unquote(value).encode("latin-1", errors="replace"), self.token
            ):
                return True
        return False

    async def dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        if path == "/":
            return redirect("/models", 302)
        if path == "/favicon.ico" and method in ("GET", "HEAD"):
            return Response(200, FAVICON, "image/svg+xml")
        allowed = []
        for route_method, pattern, handler in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if route_method != method and not (route_method == "GET" and method == "HEAD"):
                allowed.append(route_method)
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            request = Request(method, path, params, query, headers, body, self)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, self.answer, handler, request)
        if allowed:
            response = error_page(405, "Method not allowed", f"{method} is not allowed here")
            response.headers.append(("allow", ", ".join(sorted(set(allowed)))))
            return response
        missing = f"no page at {_quoted_path(path)}"
        return error_page(404, "Not found", missing, store=self.store_label)

    def answer(self, handler: Handler, request: Request) -> Response:
        """Run a handler on the store's thread; what it raises becomes a page."""
        from framework.errors import UserError

        try:
            return handler(request)
        except UserError as exc:  # bad input, a missing or damaged store: said plainly
            from framework.errors import StoreError
            from framework.redact import scrub_text

            if isinstance(exc, StoreError):
                return error_page(
                    503, "Store unavailable", scrub_text(str(exc)), store=self.store_label
                )
            return error_page(400, "Cannot show this", scrub_text(str(exc)), store=self.store_label)
        except Exception as exc:
            from framework.store.failures import as_user_error

            trouble = as_user_error(exc)  # a damaged, locked or full store: said, not a bug
            if trouble is None and _unreadable_rows(exc):
                trouble = UserError(
                    f"a record of the store could not be read ({str(exc)[:200]}); "
                    "run `specops store verify`"
                )
            if trouble is not None:
                from framework.redact import scrub_text

                return error_page(
                    503, "Store unavailable", scrub_text(str(trouble)), store=self.store_label
                )
            log.exception("UI page %s failed", request.path)
            return error_page(
                500,
                "Internal error",
                esc("this page failed; the server's log has the traceback"),
                store=self.store_label,
            )


def _shown_store(display_url: str, root: Path) -> str:
    """The store as the page header shows it: relative to the UI's directory when it is
    a local store inside it (``.specops``), else its display URL (never a password)."""
    if "://" in display_url:
        return display_url
    try:
        return str(Path(display_url).resolve().relative_to(root.resolve()))
    except (ValueError, OSError):
        return display_url


def _unreadable_rows(exc: BaseException) -> bool:
    """Whether a page failed on the store's rows themselves (bytes that are not text
    or JSON, an SQLite error), not on a bug of the page."""
    import json
    import sqlite3

    return isinstance(exc, (sqlite3.DatabaseError, json.JSONDecodeError, UnicodeDecodeError))


async def _read_body(receive: Receive, headers: dict[str, str]) -> tuple[bytes, bool]:
    """The request body, or (b'', True) as soon as it exceeds ``MAX_BODY_BYTES``."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return b"", True
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), False


def _parse_query(text: str) -> dict[str, list[str]]:
    """``a=1&b=2`` as lists of values; more than ``MAX_QUERY_VALUES`` reads as none."""
    try:
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_QUERY_VALUES)
    except ValueError:
        return {}


def _without_token(path: str, query: dict[str, list[str]]) -> str:
    """The address a ``?token=`` login goes on to: the same page and arguments, less the
    token, and always on this server (``//host/x`` would be another site's address)."""
    from urllib.parse import urlencode

    rest = [(key, value) for key, values in query.items() if key != "token" for value in values]
    target = "/" + path.lstrip("/\\")
    return f"{target}?{urlencode(rest)}" if rest else target


def _loopback(host: str) -> bool:
    return host in LOOPBACK


def _loopback_host(header: str) -> bool:
    """Whether a Host header names this machine's loopback (any port)."""
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return host in LOOPBACK


MAX_QUOTED_PATH = 120
"""Characters of an unknown path a 404 quotes: a page names the path, it does not echo
a 60 KB request line back."""


def _quoted_path(path: str) -> str:
    """``path`` as a 404 quotes it, cut to :data:`MAX_QUOTED_PATH` characters."""
    if len(path) <= MAX_QUOTED_PATH:
        return path
    return f"{path[: MAX_QUOTED_PATH - 20]}... ({len(path):,} characters)"
