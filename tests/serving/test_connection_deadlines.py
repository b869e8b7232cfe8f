"""The head and body deadlines of a keep-alive connection's later requests.

A connection keeps one timer that checks its deadline when it fires (each request moves
the deadline instead of creating and cancelling timers). So a deadline moved later by
an answered request must still end a second request that stalls: from that request's
first byte, not from the connection's opening, and not never.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.conftest import Server, start_server

TIMEOUT = 1.0
SLACK = 2.0
PING = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module")
def server(lgb_store: Path) -> Iterator[Server]:
    started = start_server(
        "churn",
        "--store",
        lgb_store,
        "--no-request-log",
        "--header-timeout",
        str(TIMEOUT),
        "--body-timeout",
        str(3 * TIMEOUT),
        "--keep-alive-timeout",
        str(10 * TIMEOUT),
    )
    yield started
    started.stop()


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def answered(sock: socket.socket) -> bytes:
    """One answer to a ping on a kept-alive connection."""
    received = b""
    while not received.endswith(b'{"status":"ok"}'):
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    return received


def test_a_later_request_that_stalls_in_its_head_gets_408_from_its_own_start(
    server: Server,
) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    try:
        for _ in range(3):  # each moves the deadline; none lets it pass
            sock.sendall(PING)
            assert answered(sock).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.6 * TIMEOUT)  # over a second in all: past the first deadline
        started = time.monotonic()
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Half")
        received = read_until_closed(sock)
        waited = time.monotonic() - started
    finally:
        sock.close()
    assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    assert b"request line and headers took longer than 1 s" in received
    assert 0.8 * TIMEOUT < waited < TIMEOUT + SLACK


def test_the_body_deadline_is_the_bodys_own_when_it_is_later_than_the_heads(
    server: Server,
) -> None:
    """The head's deadline (1 s) passes while the body is still allowed (3 s): the timer
    set for the head waits on; the body's own deadline then ends the request."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    try:
        sock.sendall(PING)
        assert answered(sock).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        received = read_until_closed(sock)
        waited = time.monotonic() - started
    finally:
        sock.close()
    assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    assert b"request body took longer than 3 s" in received
    assert 2.8 * TIMEOUT < waited < 3 * TIMEOUT + SLACK
