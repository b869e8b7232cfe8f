"""A worker holds at most four ``--max-body-bytes`` of request bodies at once (red-team-2 R5).

Bounded only per request, connections that each send most of a big body and wait held
gigabytes between them. Past the budget a body is answered 503 with ``Retry-After``
before it is read; the bytes count again as soon as a held request ends.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.serving.app import BODIES_AT_ONCE
from tests.serving.conftest import Server, start_server

LIMIT = 1_048_576
DECLARED = 1_000_000  # four fit in the budget, a fifth does not


@pytest.fixture(scope="module")
def server(lgb_store: Path) -> Iterator[Server]:
    started = start_server(
        "churn", "--store", lgb_store, "--no-request-log", "--max-body-bytes", str(LIMIT)
    )
    yield started
    started.stop()


def half_sent(server: Server, chunked: bool = False) -> socket.socket:
    """A connection that sent its head and 900 kB of its body, then waits."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    length = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % DECLARED
    sock.sendall(
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + length
        + b"\r\n\r\n"
    )
    part = b" " * 900_000
    sock.sendall(b"%x\r\n" % len(part) + part + b"\r\n" if chunked else part)
    return sock


def answer_of(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    return received


def ping(server: Server) -> None:
    client = server.connect()
    try:
        assert client.get("/ping")[0] == 200
    finally:
        client.close()


def test_a_body_past_the_workers_budget_is_refused_at_once_and_the_rest_served(
    server: Server,
) -> None:
    assert BODIES_AT_ONCE * DECLARED <= BODIES_AT_ONCE * LIMIT < (BODIES_AT_ONCE + 1) * DECLARED
    held = [half_sent(server) for _ in range(BODIES_AT_ONCE)]
    time.sleep(0.5)  # each is being read: its declared length counted
    try:
        started = time.monotonic()
        refused = answer_of(half_sent(server))
        assert time.monotonic() - started < 5
        assert refused.startswith(b"HTTP/1.1 503 "), refused[:200]
        assert b"retry-after: 1" in refused.lower() and b"connection: close" in refused.lower()
        assert b"retry shortly" in refused
        ping(server)  # a request without a body is served meanwhile
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.5)  # the held requests ended: their bytes are given back
    again = half_sent(server)
    try:
        again.sendall(b" " * (DECLARED - 900_000))  # the rest: a whole (malformed) body
        answered = answer_of_one(again)
        assert answered.startswith(b"HTTP/1.1 400 "), answered[:200]  # read, then judged
    finally:
        again.close()


def answer_of_one(sock: socket.socket) -> bytes:
    """The first answer on a kept-alive connection (the head and its body)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_chunked_body_counts_as_it_arrives(server: Server) -> None:
    held = [half_sent(server, chunked=True) for _ in range(BODIES_AT_ONCE)]
    time.sleep(0.5)
    try:
        last = half_sent(server, chunked=True)  # 900 kB more than the budget has left
        answered = answer_of(last)
        assert answered.startswith(b"HTTP/1.1 503 "), answered[:200]
        ping(server)
    finally:
        for sock in held:
            sock.close()
