"""The ASGI application: routing, body limits, auth, and the two protocols' endpoints.

A raw ASGI callable rather than a web framework: a single-row prediction is
about 20 µs of model work, so the per-request cost of routing, validation and
middleware layers would dominate. Small requests are answered on the event
loop; bodies over ``INLINE_BYTES`` are parsed and scored on one worker thread,
so a 10,000-row request does not stall health checks (LightGBM releases the GIL
while it predicts).

Routes (``*`` needs the bearer token when one is set; health checks never do)::

    GET  /ping, /health                      MLflow liveness
    GET  /version                          * which model version answers
    POST /invocations                      * MLflow scoring
    GET  /v2/health/live, /v2/health/ready   Open Inference health
    GET  /v2                               * server metadata
    GET  /v2/models/{name}[/versions/{v}]  * model metadata
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer   *
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from framework.serving import heap, jsonio
from framework.serving.batch import Batch
from framework.serving.errors import (
    RequestError,
    bad_request,
    busy,
    internal_error,
    method_not_allowed,
    not_found,
    too_large,
    unauthorized,
    unsupported_media,
)
from framework.serving.model_holder import ModelHolder
from framework.serving.protocols import mlflow, v2
from framework.serving.request_log import RequestLogWriter
from framework.serving.served import ServedModel
from framework.serving.settings import ServeSettings

log = logging.getLogger("specops.serve")

INLINE_BYTES = 64 * 1024
"""Bodies up to this size are answered on the event loop (about 100 rows)."""

BODIES_AT_ONCE = 4
"""A worker holds at most this many ``--max-body-bytes`` of request bodies at once, in all:
a body beyond that is answered 503 (``Retry-After``) before it is read, or as soon as a
chunked one goes over. (Bounded only per request, 1,000 connections each sending most of
a 64 MiB body held 64 GB; 20 of them took 1.5 GB here.)"""

JSON_HEADERS = [(b"content-type", b"application/json")]
MODEL_HEADER = b"specops-model"
IGNORED_HEADER = b"specops-ignored-columns"
"""The first few columns a request sent that the model does not take (it ignored them)."""
IGNORED_COUNT_HEADER = b"specops-ignored-columns-count"
"""How many distinct columns were ignored (the names header lists at most ten)."""

Headers = dict[bytes, bytes]
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]
Handler = Callable[[Headers, bytes, tuple[str, ...]], Reply]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected before sending its whole body."""


class ServingApp:
    """One server process's app: a model holder, settings and an optional request log."""

    def __init__(
        self,
        holder: ModelHolder,
        settings: ServeSettings,
        request_log: RequestLogWriter | None = None,
    ) -> None:
        self.holder = holder
        self.settings = settings
        self.request_log = request_log
        self.token = settings.token.encode() if settings.token else None
        self.body_budget = BODIES_AT_ONCE * settings.max_body_bytes
        self.bodies_held = 0
        """Bytes of the request bodies being received or answered (event loop only)."""
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="specops-predict")
        self.routes: dict[str, tuple[str, Handler, bool]] = {
            "/ping": ("GET", self.ping, True),
            "/health": ("GET", self.ping, True),
            "/version": ("GET", self.version, False),
            "/invocations": ("POST", self.invocations, False),
            "/v2/health/live": ("GET", self.live, True),
            "/v2/health/ready": ("GET", self.ready, True),
            "/v2": ("GET", self.server_metadata, False),
        }
        self.model_routes: dict[str, tuple[str, Handler]] = {  # /v2/models/{name}[/versions/{v}]
            "": ("GET", self.model_metadata),
            "ready": ("GET", self.model_ready),
            "infer": ("POST", self.infer),
        }

    # ASGI ----------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        """Start following the alias and writing the request log."""
        heap.settle()
        self.holder.after_swap = heap.settle
        self.holder.start()
        if self.request_log is not None:
            self.request_log.start()

    def stop(self) -> None:
        """Stop following, flush the request log, release the worker thread."""
        self.holder.stop()
        if self.request_log is not None:
            self.request_log.close()
        self.executor.shutdown(wait=True)

    async def http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        render_error = v2.render_error if path.startswith("/v2") else mlflow.render_error
        body_read = False
        held = [0]  # bytes of this request's body counted in self.bodies_held
        try:
            headers: Headers = dict(scope["headers"])
            method, handler, public, params = self.route(path)
            if scope["method"] != method and not (method == "GET" and scope["method"] == "HEAD"):
                raise method_not_allowed(scope["method"], path, method)
            if self.token is not None and not public and not self.authorized(headers):
                raise unauthorized()
            body = await self.read_body(headers, receive, held) if method == "POST" else b""
            body_read = True
            if len(body) > INLINE_BYTES:
                loop = asyncio.get_running_loop()
                status, extra, payload = await loop.run_in_executor(
                    self.executor, handler, headers, body, params
                )
            else:
                status, extra, payload = handler(headers, body, params)
        except ClientGone:
            return
        except RequestError as exc:
            status, extra, payload = exc.status, JSON_HEADERS, render_error(exc)
            if exc.status == 401:
                extra = [*JSON_HEADERS, (b"www-authenticate", b"Bearer")]
            elif exc.status == 503:
                extra = [*JSON_HEADERS, (b"retry-after", b"1")]
            if not body_read and _has_body(scope):  # refused before its body was read
                extra = [*extra, (b"connection", b"close")]  # (it never will be): end here
        except Exception:
            log.exception("%s %s failed", scope.get("method"), path)
            status, extra, payload = 500, JSON_HEADERS, render_error(internal_error())
        finally:
            self.bodies_held -= held[0]  # answered (or gone): its body no longer counts
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*extra, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def route(self, path: str) -> tuple[str, Handler, bool, tuple[str, ...]]:
        """The method, handler, whether it is public, and path parameters of a path."""
        found = self.routes.get(path)
        if found is not None:
            return (*found, ())
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "v2" and parts[1] == "models":
            name, rest = parts[2], parts[3:]
            version = None
            if len(rest) >= 2 and rest[0] == "versions":
                version, rest = rest[1], rest[2:]
            action = rest[0] if len(rest) == 1 else ("" if not rest else None)
            if action in self.model_routes:
                method, handler = self.model_routes[action]
                return method, handler, False, (name, version or "")
        raise not_found(f"no endpoint {path}; see docs/serving.md for the routes")

    def authorized(self, headers: Headers) -> bool:
        assert self.token is not None
        header = headers.get(b"authorization", b"")
        scheme, _, credential = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self.token)

    async def read_body(self, headers: Headers, receive: Receive, held: list[int]) -> bytes:
        """The whole body, refused with 413 as soon as it is known to be over the limit,
        and with 503 when the bodies the worker holds would go over its budget (a declared
        length before anything is read; a chunked body as it arrives). What it counts in
        :attr:`bodies_held` is added to ``held[0]``; the caller gives it back."""
        limit = self.settings.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                announced = int(declared)
            except ValueError:
                raise bad_request("Content-Length is not a number") from None
            if announced > limit:
                raise too_large(limit)
            self._hold(held, max(announced, 0))
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise too_large(limit)
            if len(body) > held[0]:  # no (or a smaller) declared length
                self._hold(held, len(body) - held[0])
            return body
        chunks, size = [body], len(body)
        while True:
            if size > held[0]:
                self._hold(held, size - held[0])
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                if size > held[0]:
                    self._hold(held, size - held[0])
                return b"".join(chunks)

    def _hold(self, held: list[int], size: int) -> None:
        """Count ``size`` more bytes of a body, or refuse it (503) past the budget."""
        if self.bodies_held + size > self.body_budget:
            raise busy(self.body_budget)
        self.bodies_held += size
        held[0] += size

    # handlers: MLflow ----------------------------------------------------------

    def ping(self, headers: Headers, body: bytes, params: tuple[str, ...]) -> Reply:
        return 200, JSON_HEADERS, b'{"status":"ok"}'

    def version(self, headers: Headers, body: bytes, params: tuple[str, ...]) -> Reply:
        served = self.holder.current
        return 200, self._model_headers(served), jsonio.dumps(self.holder.describe())

    def invocations(self, headers: Headers, body: bytes, params: tuple[str, ...]) -> Reply:
        served = self.holder.current  # one model for the whole request, even across a swap
        if b"content-encoding" in headers and headers[b"content-encoding"] != b"identity":
            raise unsupported_media("compressed request bodies are not supported here")
        content_type = headers.get(b"content-type")
        batch = mlflow.parse(
            body,
            content_type.decode("latin-1") if content_type else None,
            served,
            strict=self.settings.strict_columns,
        )
        predictions = served.predict(batch)
        if self.request_log is not None:
            self.request_log.record(served, batch, predictions, len(body))
        headers_out = [*self._model_headers(served), *_ignored_headers(batch)]
        return 200, headers_out, mlflow.render(predictions, served)

    # handlers: Open Inference ----------------------------------------------------

    def live(self, headers: Headers, body: bytes, params: tuple[str, ...]) -> Reply:
        return 200, JSON_HEADERS, b'{"live":true}'

    def ready(self, headers: Headers, body: bytes, params: tuple[str, ...]) -> Reply:
        return 200, JSON_HEADERS, b'{"ready":true}'

    def server_metadata(self, headers: Headers, body: bytes, params: tuple[str, ...]) -> Reply:
        return 200, JSON_HEADERS, jsonio.dumps(v2.server_metadata())

    def model_metadata(self, headers: Headers, body: bytes, params: tuple[str, ...]) -> Reply:
        served = self._served(*params)
        return 200, self._model_headers(served), jsonio.dumps(v2.model_metadata(served))

    def model_ready(self, headers: Headers, body: bytes, params: tuple[str, ...]) -> Reply:
        served = self._served(*params)
        answer = {"name": served.name, "ready": True}
        return 200, self._model_headers(served), jsonio.dumps(answer)

    def infer(self, headers: Headers, body: bytes, params: tuple[str, ...]) -> Reply:
        served = self._served(*params)
        body = v2.decode_body(body, headers, self.settings.max_body_bytes)
        request = v2.parse(body, headers, served, strict=self.settings.strict_columns)
        predictions = served.predict(request.batch)
        if self.request_log is not None:
            self.request_log.record(served, request.batch, predictions, len(body))
        payload, header_length = v2.render(predictions, served, request)
        ignored = _ignored_headers(request.batch)
        if header_length is None:
            return 200, [*self._model_headers(served), *ignored], payload
        extra = [
            (b"content-type", b"application/octet-stream"),
            (v2.HEADER_LENGTH, str(header_length).encode()),
            (MODEL_HEADER, served.ref_header),
            *ignored,
        ]
        return 200, extra, payload

    # helpers -----------------------------------------------------------------------

    def _served(self, name: str, version: str) -> ServedModel:
        served = self.holder.current
        if name != served.name:
            raise not_found(f"no model named '{name}' here; this server serves '{served.name}'")
        if version and version != str(served.version):
            raise not_found(
                f"version {version} of '{name}' is not served here; "
                f"this server answers with version {served.version}"
            )
        return served

    @staticmethod
    def _model_headers(served: ServedModel) -> list[tuple[bytes, bytes]]:
        return [*JSON_HEADERS, (MODEL_HEADER, served.ref_header)]


def _ignored_headers(batch: Batch) -> list[tuple[bytes, bytes]]:
    """The ignored-columns headers of an answer (none when nothing was ignored)."""
    ignored = batch.ignored
    if not ignored.count:
        return []
    return [(IGNORED_HEADER, ignored.header()), (IGNORED_COUNT_HEADER, str(ignored.count).encode())]


def _has_body(scope: dict[str, Any]) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


def app_from_env() -> ServingApp:
    """The app of one worker process (``--workers N``): settings from the environment."""
    from framework.serving.server import build_app, configure_logging, tune_process

    configure_logging()
    tune_process()
    settings = ServeSettings.from_env()
    return build_app(settings)
