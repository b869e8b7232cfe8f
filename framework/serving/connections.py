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
        self._due: float | None = None  # when the armed deadline passes (loop time), if any
        self._on_due: Any = None  # what to do then
        self._timer: Any = None  # the one TimerHandle that checks the deadline, if any
        self._timer_at = 0.0  # when it fires
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
        if self._timer is not None:  # it would hold this protocol until it fired
            self._timer.cancel()
            self._timer = None
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
        if self._due is None:
            self._arm(self.limits.header_timeout, self._head_too_slow)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._arm(self.limits.body_timeout, self._body_too_slow)
        super().on_headers_complete()
        if self.cycle is not None:
            self.cycle.transport = HeadWithBody(self.transport, self.loop)
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
        """Set the deadline. Each request moves it twice (head, then body) and clears it
        once: a timer created and cancelled each time cost ~3 µs a request, so one timer
        stays scheduled and, when it fires, acts only if the deadline it finds has passed
        (else it waits for that one). It is moved earlier only when a deadline needs it."""
        due = self.loop.time() + seconds
        self._due, self._on_due = due, callback
        if self._timer is None or self._timer_at > due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = self.loop.call_at(due, self._check), due

    def _disarm(self) -> None:
        # a timer still scheduled finds nothing due; no bound method of this protocol is
        # kept either (that cycle would hold a closed connection until a full collection)
        self._due = self._on_due = None

    def _check(self) -> None:
        self._timer = None
        due = self._due
        if due is None:
            return
        if self.loop.time() < due:  # moved later since the timer was set
            self._timer, self._timer_at = self.loop.call_at(due, self._check), due
            return
        callback, self._due, self._on_due = self._on_due, None, None
        callback()

    def _head_too_slow(self) -> None:
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


class HeadWithBody:
    """The transport one request's answer is written through: its first write (the
    status line and headers) is held until the next (the body), and both leave in one
    system call (``writelines``: one ``writev``), where uvicorn wrote each at once. On a
    single-row request that is one write, and for the client one read, fewer.

    Whatever happens, the held bytes leave in order: with the next write, before a
    close, or at the latest when the event loop next runs its callbacks.
    """

    __slots__ = ("_fresh", "_held", "_loop", "_transport")

    def __init__(self, transport: Any, loop: Any) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._fresh = True

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
        elif self._fresh:
            self._fresh = False
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, ...
        return getattr(self._transport, name)
