"""Every refusal the server promises, status and message, asked of the ASGI app in process.

``test_bad_input.py`` holds a real server to the common mistakes over HTTP; this
module covers the rest of the table in docs/serving.md ("What a request is
checked against") without a process per case: the app is a plain ASGI callable,
so each request is one ``asyncio.run``. Every refusal must come in its
protocol's error shape (MLflow: ``error_code`` and ``message``; ``/v2``:
``error``) and name what is wrong.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import FEATURES, make_frame

TOKEN = "in-process-token"
LIMIT = 65536
ROWS = json.loads(make_frame(3, seed=99).drop(columns="target").to_json(orient="records"))


@pytest.fixture(scope="module")
def app(lgb_store: Path) -> Iterator[Any]:
    from framework.plugins import get_plugins
    from framework.serving.app import ServingApp
    from framework.serving.model_holder import load_from_store
    from framework.serving.settings import ServeSettings

    holder = load_from_store(lgb_store, "churn", get_plugins())
    serving = ServingApp(holder, ServeSettings(max_body_bytes=LIMIT, token=TOKEN))
    yield serving
    serving.executor.shutdown()


def call(
    app: Any,
    method: str,
    path: str,
    body: bytes | str | Any = b"",
    headers: dict[str, str] | None = None,
    auth: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    """One request through the app: (status, response headers, body)."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    sent = {"content-type": "application/json", **(headers or {})}
    if auth:
        sent["authorization"] = f"Bearer {TOKEN}"
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()],
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    start, reply = messages
    return (
        start["status"],
        {k.decode(): v.decode("latin-1") for k, v in start["headers"]},
        reply["body"],
    )


def refused(reply: tuple[int, dict[str, str], bytes], path: str, status: int, *words: str) -> str:
    """Assert a refusal in the path's protocol shape; returns its message."""
    code, headers, body = reply
    assert code == status, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    if path.startswith("/v2"):
        assert set(error) == {"error"}
        message = error["error"]
    else:
        assert set(error) == {"error_code", "message"}
        message = error["message"]
    assert "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


def tensor(name: str, values: list[Any], datatype: str | None = None) -> dict[str, Any]:
    if datatype is None:
        datatype = {bool: "BOOL", str: "BYTES"}.get(type(values[0]), "FP64")
    return {"name": name, "shape": [len(values)], "datatype": datatype, "data": values}


def columns_as_tensors(rows: list[dict[str, Any]] = ROWS) -> list[dict[str, Any]]:
    return [tensor(name, [row[name] for row in rows]) for name in FEATURES]


def with_inputs(*replaced: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The good per-column request with some tensors replaced (by name) or dropped."""
    by_name = {t["name"]: t for t in columns_as_tensors()}
    for item in replaced:
        by_name[item["name"]] = item
    return {"inputs": [t for name, t in by_name.items() if name not in drop]}


INFER = "/v2/models/churn/infer"


# ---------------------------------------------------------------------------
# MLflow: /invocations
# ---------------------------------------------------------------------------

MLFLOW_BAD_JSON = [
    ({"dataframe_split": "rows"}, "dataframe_split must be an object"),
    ({"dataframe_split": {"columns": FEATURES}}, 'dataframe_split has no "data"'),
    ({"dataframe_split": {"columns": "age", "data": []}}, '"columns" must be a list'),
    ({"dataframe_split": {"columns": [1, 2], "data": [[1, 2]]}}, "column names must be strings"),
    ({"dataframe_split": {"columns": ["age", "age"], "data": [[1, 2]]}}, "repeated: age"),
    ({"dataframe_split": {"columns": FEATURES, "data": {"a": 1}}}, "must be a list of rows"),
    ({"dataframe_split": {"columns": FEATURES, "data": [5]}}, "dataframe_split.data[0] must be"),
    ({"dataframe_records": "rows"}, "dataframe_records must be a list of objects"),
    ({"dataframe_records": [ROWS[0], 7]}, "dataframe_records[1] must be an object"),
    ({"inputs": {"age": [1, 2], "income": 3.0}}, "income hold a single value"),
    ({"inputs": {"age": [1, 2], "income": [3.0]}}, "different lengths (age: 2, income: 1)"),
    ({"inputs": 5}, "inputs must be a list of records"),
    ({"instances": ROWS, "inputs": ROWS}, "exactly one of the keys"),
    ({"dataframe_records": [dict(ROWS[0], age=[30])]}, "column 'age' holds lists or objects"),
]


@pytest.mark.parametrize(("document", "words"), MLFLOW_BAD_JSON)
def test_mlflow_payload_errors_name_what_is_wrong(app: Any, document: Any, words: str) -> None:
    refused(call(app, "POST", "/invocations", document), "/invocations", 400, words)


def test_missing_column_suggests_the_misspelt_one(app: Any) -> None:
    records = [{("plann" if k == "plan" else k): v for k, v in row.items()} for row in ROWS]
    refused(
        call(app, "POST", "/invocations", {"dataframe_records": records}),
        "/invocations",
        400,
        "missing column(s) the model needs: plan",
        "did you mean 'plann'?",
    )


def test_mlflow_content_type_and_encoding_are_checked(app: Any) -> None:
    good = {"dataframe_records": ROWS}
    for headers, status, words in [
        ({"content-type": "application/json; boundary=x"}, 415, "parameter(s): boundary"),
        ({"content-encoding": "gzip"}, 415, "compressed request bodies are not supported"),
        ({"content-length": "many"}, 400, "Content-Length is not a number"),
        ({"content-length": str(LIMIT + 1)}, 413, f"{LIMIT:,} bytes"),
    ]:
        refused(call(app, "POST", "/invocations", good, headers), "/invocations", status, words)
    assert call(app, "POST", "/invocations", good, {"content-encoding": "identity"})[0] == 200


def test_mlflow_csv_errors(app: Any) -> None:
    csv = {"content-type": "text/csv"}
    broken = f'{",".join(FEATURES)}\n"1,2\n'.encode()
    refused(call(app, "POST", "/invocations", broken, csv), "/invocations", 400, "CSV")
    refused(call(app, "POST", "/invocations", b"", csv), "/invocations", 400, "empty batch")
    refused(
        call(app, "POST", "/invocations", b"age,plan\n30,pro\n", csv),
        "/invocations",
        400,
        "missing column(s) the model needs: income",
    )


# ---------------------------------------------------------------------------
# Open Inference: /v2/models/{name}/infer
# ---------------------------------------------------------------------------

V2_BAD_JSON = [
    ([1, 2], "must be a JSON object with an 'inputs' list"),
    ({"inputs": []}, "non-empty 'inputs' list"),
    ({"inputs": ["age"]}, "inputs[0] must be an object"),
    ({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}, "inputs[0] has no name"),
    ({"inputs": [tensor("age", [1.0], "FLOAT")]}, "has datatype 'FLOAT'"),
    ({"inputs": [{**tensor("age", [1.0]), "shape": [-1]}]}, "needs a shape"),
    ({"inputs": [{**tensor("age", [1.0]), "shape": [True]}]}, "needs a shape"),
    ({"inputs": [{"name": "age", "shape": [1], "datatype": "FP64"}]}, "neither 'data' nor"),
    ({"inputs": [{**tensor("age", [1.0]), "data": 1.0}]}, "input 'age' data must be a list"),
    ({"inputs": [{**tensor("age", [1.0, 2.0]), "data": [[1.0], 2.0]}]}, "mixes nested lists"),
    ({"inputs": [tensor("age", [1.0, 2.0]), tensor("age", [1.0, 2.0])]}, "'age' is given twice"),
    (with_inputs(tensor("tenure", [3.0, 4.0])), "'tenure' has 2 rows but the others have 3"),
    (
        with_inputs({**tensor("age", [1.0] * 6), "shape": [3, 2]}),
        "'age' has shape [3, 2]; a column input has shape [n] or [n, 1]",
    ),
    (with_inputs(tensor("plan", [1.0, 2.0, 3.0])), "'plan' is FP64 but the model takes categories"),
    (
        with_inputs(tensor("age", ["a", "b", "c"], "BYTES")),
        "'age' is BYTES but the model takes numbers there: send FP64",
    ),
    (with_inputs(tensor("plan", ["pro", 2, None], "BYTES")), "holds values that are not text"),
    (with_inputs(tensor("age", [1.0, "x", 3.0], "FP64")), "holds values that are not numbers"),
    (with_inputs(tensor("active", [True, 2, None], "BOOL")), "holds values that are not booleans"),
    (with_inputs(drop=("income",)), "missing column(s) the model needs: income"),
    (
        {"inputs": [{"name": "rows", "shape": [1, 3], "datatype": "BYTES", "data": ["1"] * 3}]},
        "'rows' has 3 columns but the model takes 9",
    ),
    (
        {"inputs": [{"name": "rows", "shape": [1, 9], "datatype": "FP64", "data": [1.0] * 9}]},
        "send the tensor as BYTES, or one input per column",
    ),
    ({**with_inputs(), "parameters": [1]}, "'parameters' must be an object"),
    ({**with_inputs(), "outputs": "predictions"}, "'outputs' must be a list"),
    (
        {**with_inputs(), "outputs": [{"name": "score"}]},
        "outputs[0] asks for 'score'; this model has: predictions, probabilities",
    ),
]


@pytest.mark.parametrize(("document", "words"), V2_BAD_JSON)
def test_v2_request_errors_name_what_is_wrong(app: Any, document: Any, words: str) -> None:
    refused(call(app, "POST", INFER, document), INFER, 400, words)


def binary_request(
    inputs: list[tuple[dict[str, Any], bytes]], extra: bytes = b""
) -> tuple[bytes, dict[str, str]]:
    """An infer body with binary tensors: the JSON header, then each input's bytes."""
    header = json.dumps({"inputs": [spec for spec, _ in inputs]}).encode()
    body = header + b"".join(raw for _, raw in inputs) + extra
    return body, {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(header)),
    }


def binary_tensor(name: str, datatype: str, count: int, raw: bytes) -> tuple[dict[str, Any], bytes]:
    spec = {
        "name": name,
        "shape": [count],
        "datatype": datatype,
        "parameters": {"binary_data_size": len(raw)},
    }
    return spec, raw


def test_v2_binary_tensor_errors(app: Any) -> None:
    ages = struct.pack("<3d", 30.0, 40.0, 50.0)
    cases = [
        (binary_request([binary_tensor("age", "FP64", 3, ages[:16])]), "needs 24"),
        (binary_request([binary_tensor("age", "FP64", 3, ages)], extra=b"xx"), "2 binary bytes"),
        (
            binary_request([binary_tensor("plan", "BYTES", 1, struct.pack("<I", 9) + b"pro")]),
            "input 'plan' has malformed BYTES data",
        ),
        (
            binary_request([binary_tensor("plan", "BYTES", 1, struct.pack("<I", 2) + b"\xff\xfe")]),
            "input 'plan' has malformed BYTES data",
        ),
    ]
    for (body, headers), words in cases:
        refused(call(app, "POST", INFER, body, headers), INFER, 400, words)

    body, headers = binary_request([binary_tensor("age", "FP64", 3, ages)])
    too_far = body[: -len(ages)]  # the header promises 24 bytes that never come
    refused(call(app, "POST", INFER, too_far, headers), INFER, 400, "only 0 binary bytes")
    for length, words in (("x", "must be a number"), (str(len(body) + 1), "but the body has")):
        bad = {**headers, "inference-header-content-length": length}
        refused(call(app, "POST", INFER, body, bad), INFER, 400, "Inference-Header-Content-Length")
        refused(call(app, "POST", INFER, body, bad), INFER, 400, words)


def test_v2_compressed_bodies(app: Any) -> None:
    plain = json.dumps(with_inputs()).encode()
    status, _, expected = call(app, "POST", INFER, plain)
    assert status == 200, expected
    for encoding, packed in (("gzip", gzip.compress(plain)), ("deflate", zlib.compress(plain))):
        status, _, answer = call(app, "POST", INFER, packed, {"content-encoding": encoding})
        assert status == 200, answer
        assert json.loads(answer) == json.loads(expected)
    refused(
        call(app, "POST", INFER, plain, {"content-encoding": "br"}),
        INFER,
        415,
        "content encoding 'br' is not supported",
    )
    refused(
        call(app, "POST", INFER, b"not gzip", {"content-encoding": "gzip"}),
        INFER,
        400,
        "the gzip body cannot be decompressed",
    )
    bomb = gzip.compress(b" " * (LIMIT * 4))  # small on the wire, over the limit inflated
    assert len(bomb) < LIMIT
    refused(call(app, "POST", INFER, bomb, {"content-encoding": "gzip"}), INFER, 413, "limit")


# ---------------------------------------------------------------------------
# routes, methods, auth, failures
# ---------------------------------------------------------------------------


def test_routes_methods_and_versions(app: Any) -> None:
    assert call(app, "HEAD", "/ping", auth=False)[0] == 200
    refused(call(app, "POST", "/ping", b"{}"), "/ping", 405, "POST is not allowed on /ping; use")
    refused(call(app, "GET", INFER), INFER, 405, "use POST")
    refused(call(app, "POST", "/v2/models/churn", b"{}"), "/v2/models/churn", 405, "use GET")
    path = "/v2/models/churn/versions/7"
    refused(call(app, "GET", path), path, 404, "version 7 of 'churn' is not served here", "1")
    path = "/v2/models/nope/ready"
    refused(call(app, "GET", path), path, 404, "no model named 'nope'", "serves 'churn'")
    path = "/v2/models/churn/versions/1/infer/more"
    refused(call(app, "POST", path, b"{}"), path, 404, "no endpoint")
    assert call(app, "GET", "/v2/models/churn/versions/1/ready")[0] == 200


@pytest.mark.parametrize("path", ["/version", "/v2", "/v2/models/churn", "/v2/models/churn/ready"])
def test_metadata_routes_need_the_token(app: Any, path: str) -> None:
    reply = call(app, "GET", path, auth=False)
    refused(reply, path, 401, "Authorization: Bearer")
    assert reply[1]["www-authenticate"] == "Bearer"
    assert call(app, "GET", path, headers={"authorization": f"Basic {TOKEN}"}, auth=False)[0] == 401
    assert call(app, "GET", path)[0] == 200


def test_a_failure_inside_is_a_500_without_a_traceback(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(batch: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.holder.current, "predict", broken)
    for path, document in (("/invocations", {"dataframe_records": ROWS}), (INFER, with_inputs())):
        message = refused(call(app, "POST", path, document), path, 500, "the server log")
        assert "secret internals" not in message
    code = json.loads(call(app, "POST", "/invocations", {"dataframe_records": ROWS})[2])
    assert code["error_code"] == "INTERNAL_ERROR"
