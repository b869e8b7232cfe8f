"""Every request form costs a bounded multiple of its size, and slow or greedy clients are cut off.

The first half asks the ASGI app in process: each request form, with a body
just under the size limit (2 MiB here, 64 MiB by default), built to be as
expensive as that form allows (a distinct unknown key per record, a header of
a hundred thousand columns, a huge declared shape, deep nesting), must be
answered (200 or a 4xx naming what is wrong) within a time bound and with a
peak of Python memory bounded by a small multiple of the body. Unknown columns
are ignored and named in a header by default and refused with
``--strict-columns``: both are held to the same bounds.

The second half holds a real server on 127.0.0.1 to its connection limits,
with small values so the tests are quick: a request head over the size limit,
half-sent heads, a trickled body, idle keep-alive connections, one connection
too many; and health checks stay fast while big requests are scored.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import FEATURES, Server, start_server
from tests.serving.test_request_errors import ROWS, TOKEN, call, refused

LIMIT = 2 * 2**20
SECONDS = 3.0
"""Time bound for one request of just under LIMIT bytes (2-125 ms measured)."""
MEMORY_FACTOR = 40
"""Peak Python memory while answering, as a multiple of the body: 31 at worst, for a
body of tiny distinct objects (``[{"k0":1},{"k1":1},...]``), which is what the JSON
parser's Python objects cost; 5-25 for the other forms (measured)."""
INFER = "/v2/models/churn/infer"
CSV = {"content-type": "text/csv"}
BINARY = "application/octet-stream"


@pytest.fixture(scope="module")
def app(lgb_store: Path) -> Iterator[Any]:
    yield from _app(lgb_store, strict=False)


@pytest.fixture(scope="module")
def strict_app(lgb_store: Path) -> Iterator[Any]:
    yield from _app(lgb_store, strict=True)


def _app(lgb_store: Path, *, strict: bool) -> Iterator[Any]:
    from framework.plugins import get_plugins
    from framework.serving.app import ServingApp
    from framework.serving.model_holder import load_from_store
    from framework.serving.settings import ServeSettings

    holder = load_from_store(lgb_store, "churn", get_plugins())
    settings = ServeSettings(max_body_bytes=LIMIT, token=TOKEN, strict_columns=strict)
    serving = ServingApp(holder, settings)
    # first calls import pandas and friends: keep that out of the measured requests
    assert call(serving, "POST", "/invocations", dumps({"dataframe_records": [ROW]}))[0] == 200
    assert call(serving, "POST", "/invocations", f"{CSV_HEADER}\n{CSV_ROW}\n", CSV)[0] == 200
    assert call(serving, "POST", INFER, dumps({"inputs": column_tensors(1)}))[0] == 200
    yield serving
    serving.executor.shutdown()


def just_under(build: Callable[[int], bytes]) -> bytes:
    """``build(n)`` for the largest n that keeps it under LIMIT (sizes grow linearly in n)."""
    small, double = len(build(1000)), len(build(2000))
    per_item = (double - small) / 1000
    n = int((LIMIT * 0.995 - (small - 1000 * per_item)) / per_item)
    body = build(n)
    while not LIMIT * 0.95 < len(body) < LIMIT:
        n = int(n * LIMIT * 0.98 / len(body))
        body = build(n)
    assert LIMIT * 0.95 < len(body) < LIMIT, len(body)
    return body


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


ROW = ROWS[0]
ROW_VALUES = [ROW[name] for name in FEATURES]
COLUMNS = {name: [ROW[name]] for name in FEATURES}
CSV_HEADER = ",".join(FEATURES)
CSV_ROW = ",".join("" if v is None else str(v) for v in ROW_VALUES)


def column_tensors(n: int) -> list[dict[str, Any]]:
    tensors = []
    for name in FEATURES:
        value = ROW[name]
        datatype = (
            "BYTES" if isinstance(value, str) else "BOOL" if value in (True, False) else "FP64"
        )
        tensors.append({"name": name, "datatype": datatype, "shape": [n], "data": [value] * n})
    return tensors


def binary_body(spec: list[dict[str, Any]], raw: bytes) -> bytes:
    return dumps({"inputs": spec}) + raw


def binary_headers(spec: list[dict[str, Any]]) -> dict[str, str]:
    return {
        "content-type": BINARY,
        "inference-header-content-length": str(len(dumps({"inputs": spec}))),
    }


def binary_columns(n: int) -> tuple[list[dict[str, Any]], bytes]:
    spec, chunks = [], []
    for name in FEATURES:
        value = ROW[name]
        if isinstance(value, str):
            encoded = value.encode()
            raw = (struct.pack("<I", len(encoded)) + encoded) * n
            datatype = "BYTES"
        elif value in (True, False):
            raw, datatype = bytes([int(value)]) * n, "BOOL"
        else:
            raw, datatype = struct.pack("<d", float(value or 0.0)) * n, "FP64"
        spec.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": [n],
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        chunks.append(raw)
    return spec, b"".join(chunks)


Form = tuple[str, str, Callable[[int], bytes], dict[str, str], int, tuple[str, ...]]

# (case, path, body builder, extra headers, status, words in the answer: in the error
# message of a refusal, in the specops-ignored-columns header of a 200)
FORMS: list[Form] = [
    (
        "records: a distinct unknown key per record",
        "/invocations",
        lambda n: dumps({"dataframe_records": [{**ROW, f"extra{i}": 1} for i in range(n)]}),
        {},
        200,
        ("extra0, extra1, extra2", "extra9"),
    ),
    (
        "records: only unknown keys",
        "/invocations",
        lambda n: dumps({"dataframe_records": [{f"k{i}": 1} for i in range(n)]}),
        {},
        400,
        ("missing column(s) the model needs: age",),
    ),
    (
        "records: one record with every key unknown",
        "/invocations",
        lambda n: dumps({"dataframe_records": [{**ROW, **{f"k{i}": 1 for i in range(n)}}]}),
        {},
        200,
        ("k0, k1, k2, k3, k4",),
    ),
    (
        "records: valid rows",
        "/invocations",
        lambda n: dumps({"dataframe_records": [ROW] * n}),
        {},
        200,
        (),
    ),
    (
        "instances: records with distinct unknown keys",
        "/invocations",
        lambda n: dumps({"instances": [{**ROW, f"extra{i}": 1} for i in range(n)]}),
        {},
        200,
        ("extra0",),
    ),
    (
        "inputs: an object of columns, every key unknown",
        "/invocations",
        lambda n: dumps({"inputs": {**COLUMNS, **{f"k{i}": [1] for i in range(n)}}}),
        {},
        200,
        ("k0",),
    ),
    (
        "instances: rows far wider than the model",
        "/invocations",
        lambda n: dumps({"instances": [[1] * n]}),
        {},
        400,
        ("instances[0] has",),
    ),
    (
        "dataframe_split: unknown column names",
        "/invocations",
        lambda n: dumps({"dataframe_split": {"columns": [f"c{i}" for i in range(n)], "data": []}}),
        {},
        400,
        ("missing column(s) the model needs: age",),
    ),
    (
        "dataframe_split: the model's columns and many unknown ones",
        "/invocations",
        lambda n: dumps(
            {
                "dataframe_split": {
                    "columns": [*FEATURES, *(f"c{i}" for i in range(n))],
                    "data": [[*ROW_VALUES, *([0] * n)]],
                }
            }
        ),
        {},
        200,
        ("c0, c1",),
    ),
    (
        "dataframe_split: one known name repeated",
        "/invocations",
        lambda n: dumps({"dataframe_split": {"columns": ["age"] * n, "data": [[1] * n]}}),
        {},
        400,
        ("repeated: age",),
    ),
    (
        "dataframe_split: valid rows",
        "/invocations",
        lambda n: dumps({"dataframe_split": {"columns": FEATURES, "data": [ROW_VALUES] * n}}),
        {},
        200,
        (),
    ),
    (
        "a top-level object of many keys",
        "/invocations",
        lambda n: dumps({f"k{i}": 1 for i in range(n)}),
        {},
        400,
        ("exactly one of the keys", "in all"),
    ),
    (
        "deeply nested JSON",
        "/invocations",
        lambda n: b"[" * n + b"]" * n,
        {},
        400,
        ("not valid JSON",),
    ),
    (
        "CSV: a header of unknown columns",
        "/invocations",
        lambda n: (",".join(f"c{i}" for i in range(n)) + "\n1\n").encode(),
        CSV,
        400,
        ("missing column(s) the model needs: age",),
    ),
    (
        "CSV: the model's columns and many unknown ones",
        "/invocations",
        lambda n: (
            ",".join([*FEATURES, *(f"c{i}" for i in range(n))])
            + "\n"
            + ",".join([CSV_ROW, *(["0"] * n)])
            + "\n"
        ).encode(),
        CSV,
        200,
        ("c0, c1",),
    ),
    (
        "CSV: a row far wider than the header",
        "/invocations",
        lambda n: f"{CSV_HEADER}\n{CSV_ROW}\n{','.join(['1'] * n)}\n".encode(),
        CSV,
        400,
        ("CSV body cannot be read",),
    ),
    (
        "CSV: valid rows",
        "/invocations",
        lambda n: (CSV_HEADER + "\n" + (CSV_ROW + "\n") * n).encode(),
        CSV,
        200,
        (),
    ),
    (
        "V2: many inputs with unknown names",
        INFER,
        lambda n: dumps(
            {
                "inputs": [
                    {"name": f"t{i}", "datatype": "FP64", "shape": [1], "data": [1]}
                    for i in range(n)
                ]
            }
        ),
        {},
        400,
        ("missing column(s) the model needs: age",),
    ),
    (
        "V2: the model's inputs and many unknown ones",
        INFER,
        lambda n: dumps(
            {
                "inputs": [
                    *column_tensors(1),
                    *(
                        {"name": f"t{i}", "datatype": "FP64", "shape": [1], "data": [1]}
                        for i in range(n)
                    ),
                ]
            }
        ),
        {},
        200,
        ("t0, t1",),
    ),
    (
        "V2: a huge declared shape",
        INFER,
        lambda n: dumps(
            {"inputs": [{"name": "x", "datatype": "FP64", "shape": [2**31] * n, "data": [1]}]}
        ),
        {},
        400,
        ("more values than a",),
    ),
    (
        "V2: deeply nested tensor data",
        INFER,
        lambda n: (
            b'{"inputs":[{"name":"x","datatype":"FP64","shape":[1,9],"data":'
            + b"[" * n
            + b"]" * n
            + b"}]}"
        ),
        {},
        400,
        ("not valid JSON",),
    ),
    (
        "V2: valid JSON column tensors",
        INFER,
        lambda n: dumps({"inputs": column_tensors(n)}),
        {},
        200,
        (),
    ),
    (  # 3 bytes a row, each a row of missing values: 164x the body before it was refused
        "records: rows that leave out every column",
        "/invocations",
        lambda n: dumps({"dataframe_records": [ROW] + [{}] * n}),
        {},
        400,
        ("records for the model's 9 columns", "send the values of each record"),
    ),
    (
        "instances: records of one key each",
        "/invocations",
        lambda n: dumps({"instances": [ROW] + [{"age": 1}] * n}),
        {},
        400,
        ("instances has", "values, more than a"),
    ),
]


@pytest.mark.parametrize(
    ("path", "build", "headers", "status", "words"),
    [case[1:] for case in FORMS],
    ids=[case[0] for case in FORMS],
)
def test_each_request_form_just_under_the_limit_is_bounded(
    app: Any,
    path: str,
    build: Callable[[int], bytes],
    headers: dict[str, str],
    status: int,
    words: tuple[str, ...],
) -> None:
    answered_within_bounds(app, path, build, headers, status, words)


# With --strict-columns, the forms that were ignored above are refused, naming them
STRICT_FORMS: list[Form] = [
    (
        "records: a distinct unknown key per record",
        "/invocations",
        FORMS[0][2],
        {},
        400,
        ("unexpected column(s): extra0", "dataframe_records[0]"),
    ),
    (
        "records: one record with every key unknown",
        "/invocations",
        FORMS[2][2],
        {},
        400,
        ("k0, k1, k2, k3, k4 (and possibly more)",),
    ),
    (
        "instances: records with distinct unknown keys",
        "/invocations",
        FORMS[4][2],
        {},
        400,
        ("unexpected column(s): extra0", "instances[0]"),
    ),
    (
        "inputs: an object of columns, every key unknown",
        "/invocations",
        FORMS[5][2],
        {},
        400,
        ("unexpected column(s): k0",),
    ),
    *(
        (case, path, build, headers, 400, (word,))
        for case, path, build, headers, _, _ in FORMS
        for marker, word in (
            ("dataframe_split: unknown column names", "unexpected column(s): c0"),
            ("dataframe_split: the model's columns and", "unexpected column(s): c0"),
            ("CSV: a header of unknown columns", "unexpected column(s): c0"),
            ("CSV: the model's columns and", "unexpected column(s): c0"),
            ("V2: many inputs with unknown names", "inputs[0] is named 't0'"),
            ("V2: the model's inputs and", "is named 't0'"),
        )
        if case.startswith(marker)
    ),
]


@pytest.mark.parametrize(
    ("path", "build", "headers", "status", "words"),
    [case[1:] for case in STRICT_FORMS],
    ids=[case[0] for case in STRICT_FORMS],
)
def test_unknown_columns_refused_with_strict_columns_are_bounded(
    strict_app: Any,
    path: str,
    build: Callable[[int], bytes],
    headers: dict[str, str],
    status: int,
    words: tuple[str, ...],
) -> None:
    answered_within_bounds(strict_app, path, build, headers, status, words)


def answered_within_bounds(
    app: Any,
    path: str,
    build: Callable[[int], bytes],
    headers: dict[str, str],
    status: int,
    words: tuple[str, ...],
) -> None:
    """The request is answered as expected, within the time and memory bounds."""
    body = just_under(build)
    elapsed, peak, reply = measured(app, path, body, headers)
    if status == 200:
        assert reply[0] == 200, reply[2][:300]
        ignored = reply[1].get("specops-ignored-columns", "")
        for word in words:
            assert word in ignored, ignored
        if words:
            assert len(ignored) < 1000 and int(reply[1]["specops-ignored-columns-count"]) > 10
    else:
        refused(reply, path, status, *words)
    assert elapsed < SECONDS, f"{elapsed:.2f} s for {len(body):,} bytes"
    assert peak < MEMORY_FACTOR * len(body), f"peak {peak:,} for a body of {len(body):,} bytes"


def measured(
    app: Any, path: str, body: bytes, headers: dict[str, str]
) -> tuple[float, int, tuple[int, dict[str, str], bytes]]:
    """(seconds, peak Python memory in bytes, reply) of a request through the app: timed
    once as it runs, and its memory traced on a second run (tracing slows it down)."""
    started = time.perf_counter()
    reply = call(app, "POST", path, body, headers)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    try:
        assert call(app, "POST", path, body, headers)[0] == reply[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return elapsed, peak, reply


def test_binary_tensors_just_under_the_limit(app: Any) -> None:
    spec, raw = binary_columns(1)
    per_row = len(raw)
    rows = (LIMIT - 4096) // per_row
    spec, raw = binary_columns(rows)
    headers = binary_headers(spec)
    elapsed, peak, reply = measured(app, INFER, binary_body(spec, raw), headers)
    assert reply[0] == 200, reply[2][:300]
    assert elapsed < SECONDS and peak < MEMORY_FACTOR * LIMIT

    # a tiny body declaring a shape of 2**31 x 2**31 values: refused before anything is sized
    huge = [
        {
            "name": "age",
            "datatype": "FP64",
            "shape": [2**31, 2**31],
            "parameters": {"binary_data_size": 8},
        }
    ]
    reply = call(app, "POST", INFER, binary_body(huge, b"\0" * 8), binary_headers(huge))
    refused(reply, INFER, 400, "input 'age' has shape [2147483648, 2147483648]", "more values")


# ---------------------------------------------------------------------------
# numbers a JSON or CSV parser reads but a float cannot hold
# ---------------------------------------------------------------------------

HUGE = "1" + "0" * 400


def with_age(value: str) -> bytes:
    return dumps({"dataframe_records": [{**ROW, "age": "AGE"}]}).replace(b'"AGE"', value.encode())


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/invocations", with_age(HUGE), {}),
        ("/invocations", with_age("-" + HUGE), {}),
        (
            "/invocations",
            f"{CSV_HEADER}\n{CSV_ROW}\n{CSV_ROW.replace(str(ROW['age']), HUGE, 1)}\n".encode(),
            CSV,
        ),
        (
            INFER,
            dumps({"inputs": column_tensors(2)}).replace(
                b'"shape":[2],"data":[' + str(ROW["age"]).encode(),
                b'"shape":[2],"data":[' + HUGE.encode(),
                1,
            ),
            {},
        ),
    ],
    ids=["records", "records negative", "csv", "v2 tensor"],
)
def test_a_400_digit_integer_is_a_400_naming_the_column(
    app: Any, path: str, body: bytes, headers: dict[str, str]
) -> None:
    assert HUGE.encode() in body
    refused(call(app, "POST", path, body, headers), path, 400, "column 'age' row", "too large")


@pytest.mark.parametrize(
    "literal", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "-0", "1e-400", "9" * 30]
)
def test_other_extreme_numbers_never_fail_inside(app: Any, literal: str) -> None:
    """Read as Python and pandas read them (1e400 is infinity, NaN missing): scored, not a 500."""
    status, _, body = call(app, "POST", "/invocations", with_age(literal))
    assert status == 200, body
    status, _, body = call(
        app,
        "POST",
        "/invocations",
        f"{CSV_HEADER}\n{CSV_ROW.replace(str(ROW['age']), literal, 1)}\n",
        CSV,
    )
    assert status == 200, body


def test_more_digits_than_python_converts_is_malformed(app: Any) -> None:
    refused(
        call(app, "POST", "/invocations", with_age("1" * 5000)),
        "/invocations",
        400,
        "not valid JSON",
    )


# ---------------------------------------------------------------------------
# connections: a real server with small limits
# ---------------------------------------------------------------------------

TIMEOUT = 1.0
SLACK = 2.0
"""Seconds a limit may take beyond its value on a busy machine."""
SERVER_BODY_LIMIT = 4 * 2**20


@pytest.fixture(scope="module")
def limited(lgb_store: Path) -> Iterator[Server]:
    server = start_server(
        "churn",
        "--store",
        lgb_store,
        "--no-request-log",
        "--max-body-bytes",
        str(SERVER_BODY_LIMIT),
        "--max-header-bytes",
        "16384",
        "--header-timeout",
        str(TIMEOUT),
        "--body-timeout",
        str(TIMEOUT),
        "--keep-alive-timeout",
        str(TIMEOUT),
    )
    yield server
    server.stop()


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def answer_of(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return received, time.monotonic() - started


def ping(server: Server) -> None:
    client = server.connect()
    try:
        assert client.get("/ping")[0] == 200
    finally:
        client.close()


def test_a_32_mb_request_head_is_refused_at_once(limited: Server) -> None:
    sock = connect(limited)
    started = time.monotonic()
    # the server may close the connection before the head is sent: refused as well
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(
            b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (32 * 2**20) + b"\r\n\r\n"
        )
    received, _ = answer_of(sock)
    assert time.monotonic() - started < SLACK
    assert received == b"" or received.startswith(b"HTTP/1.1 431 "), received[:200]
    assert b"16,384 bytes" in received or received == b""
    ping(limited)


def test_half_sent_requests_and_silent_connections_are_closed(limited: Server) -> None:
    sockets = [connect(limited) for _ in range(30)]
    for index, sock in enumerate(sockets):
        if index % 3:
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Ty")
    started = time.monotonic()
    answers = [answer_of(sock)[0] for sock in sockets]
    assert time.monotonic() - started < TIMEOUT + SLACK
    for index, received in enumerate(answers):
        if index % 3:
            assert received.startswith(b"HTTP/1.1 408 "), received[:200]
            assert b"request line and headers took longer than 1 s" in received
        else:
            assert received == b""  # nothing was asked: closed without an answer
    ping(limited)


def test_a_trickled_body_is_dropped_after_the_body_timeout(limited: Server) -> None:
    sock = connect(limited)
    sock.sendall(
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    started = time.monotonic()
    try:
        for _ in range(int((TIMEOUT + SLACK) / 0.1)):
            sock.sendall(b" ")
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass
    received, _ = answer_of(sock)
    assert time.monotonic() - started < TIMEOUT + SLACK + 0.5
    assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    assert b"request body took longer than 1 s" in received
    ping(limited)


def test_a_body_over_the_limit_is_refused_and_the_connection_closed_at_once(
    limited: Server,
) -> None:
    """The rest of the body will not be read, so the connection ends with the refusal
    (a 413 from Content-Length, and any refusal before the body: here a 404 and a 405)."""
    for path, length, status in [
        (b"/invocations", b"999999999", b"413"),
        (b"/nowhere", b"100000", b"404"),
        (b"/ping", b"100000", b"405"),
    ]:
        sock = connect(limited)
        sock.sendall(
            b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + length + b"\r\n\r\n{"
        )
        received, waited = answer_of(sock)
        assert received.startswith(b"HTTP/1.1 " + status) and b"connection: close" in received
        assert waited < TIMEOUT * 0.9  # not closed by the body deadline


def test_an_upgrade_request_is_answered_and_the_connection_closed(limited: Server) -> None:
    sock = connect(limited)
    sock.sendall(
        b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    received, waited = answer_of(sock)
    assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(b'{"status":"ok"}')
    assert waited < TIMEOUT * 0.9


def test_an_idle_keep_alive_connection_is_closed(limited: Server) -> None:
    sock = connect(limited)
    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    received, waited = answer_of(sock)
    assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(b'{"status":"ok"}')
    assert TIMEOUT * 0.8 < waited < TIMEOUT + SLACK


def test_connections_beyond_the_limit_are_refused_while_open_ones_are_served(
    lgb_store: Path, serve: Any
) -> None:
    server: Server = serve(
        "churn", "--store", lgb_store, "--no-request-log", "--max-connections", "5"
    )
    client = server.connect()
    assert client.get("/ping")[0] == 200
    idle = [connect(server) for _ in range(4)]
    time.sleep(0.2)
    extra = [answer_of(connect(server))[0] for _ in range(3)]
    for received in extra:
        assert received.startswith(b"HTTP/1.1 503 "), received[:200]
        assert b"limit of 5 open connections" in received
    assert client.get("/ping")[0] == 200  # the open ones are still served
    assert client.get("/version")[0] == 200
    for sock in idle:
        sock.close()
    time.sleep(0.2)
    ping(server)  # slots freed: new connections are served again
    client.close()


PROBED = (
    "records: valid rows",
    "records: only unknown keys",
    "records: a distinct unknown key per record",
    "dataframe_split: valid rows",
    "CSV: valid rows",
    "CSV: a header of unknown columns",
    "V2: valid JSON column tensors",
    "V2: many inputs with unknown names",
)


def test_probes_stay_fast_while_big_requests_are_scored(limited: Server) -> None:
    """/ping keeps answering while bodies of each form just under the limit are parsed and
    scored (the JSON parser holds the interpreter while it parses: see docs/serving.md)."""
    global LIMIT
    saved, LIMIT = LIMIT, SERVER_BODY_LIMIT
    try:
        requests = [
            (path, just_under(build), headers.get("content-type", "application/json"), status)
            for name, path, build, headers, status, _ in FORMS
            if name in PROBED
        ]
    finally:
        LIMIT = saved
    assert len(requests) == len(PROBED)
    answers: list[tuple[int, float]] = []
    done = threading.Event()

    def scoring() -> None:
        client = limited.connect()
        try:
            for path, body, content_type, _ in requests:
                started = time.monotonic()
                status, _, _ = client.request("POST", path, body, content_type=content_type)
                answers.append((status, time.monotonic() - started))
        finally:
            client.close()
            done.set()

    worker = threading.Thread(target=scoring, daemon=True)
    prober = limited.connect()
    latencies = []
    try:
        worker.start()
        while not done.is_set():
            started = time.monotonic()
            assert prober.get("/ping")[0] == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.01)
    finally:
        prober.close()
        worker.join(timeout=60)
    assert [status for status, _ in answers] == [status for *_, status in requests]
    assert max(seconds for _, seconds in answers) < SECONDS * 2
    latencies.sort()
    assert len(latencies) > 10
    # a probe's usual timeout is 1 s; idle, the slowest is about 0.1 s here
    assert latencies[-1] < 1.0, f"slowest /ping {latencies[-1]:.3f} s"
