"""Connection limits: how long and how much a client may take before it has sent a request.

uvicorn's httptools protocol bounds neither the size of a request head nor
the time to send it, nor the time to send a body, nor the number of open
connections: 300 half-sent requests stayed open for ever, a body trickled at
one byte a second was waited for, a 32 MB header was accepted (and copied
quadratically by the parser). This subclass adds, per connection:

- a request head (request line and headers) of at most ``max_header_bytes``,
  else ``431`` and the connection is closed;
- a deadline of ``header_timeout`` seconds from the connection opening (or the
  first byte of a later request) to the end of the head, else ``408`` (or a
  silent close if nothing was sent) — this also closes connections that never
  send anything;
- a deadline of ``body_timeout`` seconds from the end of the head to the end
  of the body, else ``408`` and close;
- at most ``max_connections`` open connections: one more is answered ``503``
  and closed at once, while the open ones keep being served. (uvicorn's own
  ``limit_concurrency`` answers 503 to *every* request once the limit is
  reached, health checks on open connections included.)

Between requests, uvicorn's keep-alive timeout (``timeout_keep_alive``) closes
idle connections. The limits reach worker processes on the uvicorn config
(``config.specops_limits``), which is pickled for each worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from framework.serving.defaults import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES,
)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may cost the server (see the module docstring)."""

    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS


def _reply(status: int, reason: str, message: str) -> bytes:
    body = f'{{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"{message}"}}'.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of :class:`ConnectionLimits`."""

    def __init__(self, config: Any, server_state: Any, app_state: Any, _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: ConnectionLimits = getattr(config, "specops_limits", None) or (
            ConnectionLimits()
        )
        self._deadline: Any = None  # the armed TimerHandle, if any
        self._in_head = True  # waiting for, or reading, a request head
        self._head_bytes = 0
        self._refused = False

    # connection ----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self._refused = True
            self.transport = transport
            transport.write(
                _reply(
                    503,
                    "Service Unavailable",
                    f"the server has its limit of {self.limits.max_connections} open "
                    "connections; retry shortly",
                )
            )
            transport.close()
            return
        super().connection_made(transport)
        self._arm(self.limits.header_timeout, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes - len(data) > self.limits.max_header_bytes:
                return  # already refused; the connection is closing
        super().data_received(data)
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            self._close_with(
                431,
                "Request Header Fields Too Large",
                f"the request line and headers are over the server's limit of "
                f"{self.limits.max_header_bytes:,} bytes",
            )

    # parser callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        if self._deadline is None:
            self._arm(self.limits.header_timeout, self._head_too_slow)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._arm(self.limits.body_timeout, self._body_too_slow)
        super().on_headers_complete()
        if self.parser.should_upgrade() and self.cycle is not None:
            # no protocol to upgrade to: answer, then close (the parser reads nothing
            # after an upgrade request, so the connection would only hold a slot)
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        super().on_message_complete()

    # deadlines -------------------------------------------------------------------

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_too_slow(self) -> None:
        self._deadline = None
        if self._head_bytes == 0 and (self.cycle is None or self.cycle.response_complete):
            if not self.transport.is_closing():
                self.transport.close()  # nothing was sent: just close
            return
        self._close_with(
            408,
            "Request Timeout",
            f"the request line and headers took longer than {self.limits.header_timeout:g} s",
        )

    def _body_too_slow(self) -> None:
        self._deadline = None
        self._close_with(
            408,
            "Request Timeout",
            f"the request body took longer than {self.limits.body_timeout:g} s to arrive",
        )

    def _close_with(self, status: int, reason: str, message: str) -> None:
        """Answer (when no answer to this request has started) and close the connection.

        The app, if it is waiting for the body, sees a disconnect and stops.
        """
        self._disarm()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._in_head:
            may_answer = cycle is None or cycle.response_complete
        else:
            may_answer = cycle is not None and not cycle.response_started
        if may_answer:
            self.transport.write(_reply(status, reason, message))
        self.transport.close()
