"""Requests built to break the server rather than to be scored: each is a 4xx naming what is
wrong, never a 500, an answer many times the request, or a request log that loses entries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.prediction_log import read_window
from tests.serving.conftest import FEATURES, Server
from tests.serving.test_request_errors import ROWS, TOKEN, call, refused

INFER = "/v2/models/churn/infer"
ROW = ROWS[0]


@pytest.fixture(scope="module")
def app(lgb_store: Path) -> Iterator[Any]:
    from framework.plugins import get_plugins
    from framework.serving.app import ServingApp
    from framework.serving.model_holder import load_from_store
    from framework.serving.settings import ServeSettings

    holder = load_from_store(lgb_store, "churn", get_plugins())
    serving = ServingApp(holder, ServeSettings(max_body_bytes=2**20, token=TOKEN))
    yield serving
    serving.executor.shutdown()


def column_tensors() -> list[dict[str, Any]]:
    tensors = []
    for name in FEATURES:
        value = ROW[name]
        datatype = {bool: "BOOL", str: "BYTES"}.get(type(value), "FP64")
        tensors.append({"name": name, "datatype": datatype, "shape": [1], "data": [value]})
    return tensors


@pytest.mark.parametrize("datatype", [["FP64"], {"a": 1}, 5, None])
def test_a_datatype_that_is_not_text_is_a_400(app: Any, datatype: Any) -> None:
    tensors = column_tensors()
    tensors[0]["datatype"] = datatype  # a list or object was a TypeError: HTTP 500
    reply = call(app, "POST", INFER, {"inputs": tensors})
    refused(reply, INFER, 400, "input 'age' has datatype", "use one of")


def test_an_output_asked_for_twice_is_a_400_not_an_answer_rendered_again(app: Any) -> None:
    outputs = [{"name": "probabilities"}] * 5_000  # each repeat was rendered: 340 KB for 1 row
    reply = call(app, "POST", INFER, {"inputs": column_tensors(), "outputs": outputs})
    refused(reply, INFER, 400, "outputs[1] asks for 'probabilities' again")
    once = call(app, "POST", INFER, {"inputs": column_tensors(), "outputs": outputs[:1]})
    assert once[0] == 200 and len(once[2]) < 500


def test_a_boolean_binary_data_size_is_not_a_number_of_bytes(app: Any) -> None:
    tensors = column_tensors()
    tensors[0] = {"name": "age", "datatype": "BOOL", "shape": [1]}
    tensors[0]["parameters"] = {"binary_data_size": True}
    header = json.dumps({"inputs": tensors}).encode()
    headers = {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(header)),
    }
    reply = call(app, "POST", INFER, header + b"\x01", headers)
    refused(reply, INFER, 400, "binary_data_size True")


def test_values_json_cannot_echo_do_not_cost_the_log_other_requests(
    lgb_store: Path, serve: Any
) -> None:
    """A 400-digit integer in a category column and a lone surrogate (``\\ud800``) are
    scored (unseen categories), but orjson cannot write them: the log's whole flush
    failed, dropping every request queued with them. Now they are logged as text."""
    started = time.time()
    server: Server = serve("churn", "--store", lgb_store)
    client = server.connect()
    good = json.dumps({"dataframe_records": [ROW]})
    big = json.dumps({"dataframe_records": [{**ROW, "plan": 10**400}]})
    surrogate = json.dumps({"dataframe_records": [{**ROW, "region": "x", "\ud800k": 1}]})
    surrogate = surrogate.replace('"x"', '"\\ud800"')
    for body in (good, big, surrogate, good):
        status, _, answer = client.request("POST", "/invocations", body)
        assert status == 200, answer
    client.close()
    server.stop()  # a graceful stop flushes the queue
    _, err = server.process.communicate(timeout=10)
    assert "could not write" not in err, err
    logged = read_window(lgb_store, "churn", since=started)
    assert logged["plan"].tolist() == [ROW["plan"], "1" + "0" * 400, ROW["plan"], ROW["plan"]]
    assert logged["region"].tolist()[2] == "?"


def test_the_log_queue_is_bounded_by_bytes_while_the_store_cannot_take_it(
    lgb_store: Path, tmp_path: Path
) -> None:
    """One-row requests of 64 MiB were each held until the store took them (bounded by
    rows only): with the store locked by another writer, memory grew with every request."""
    from framework.plugins import get_plugins
    from framework.serving.batch import Batch
    from framework.serving.model_holder import load_from_store
    from framework.serving.request_log import DEFAULT_MAX_PENDING_BYTES, RequestLogWriter
    from framework.store import Store

    served = load_from_store(lgb_store, "churn", get_plugins()).current
    batch = Batch({name: [ROW[name]] for name in FEATURES}, 1)
    predictions = served.predict(batch)
    writer = RequestLogWriter(tmp_path / ".specops")  # not started: nothing drains the queue
    body = 64 * 2**20
    for _ in range(10):
        writer.record(served, batch, predictions, body)
    kept = DEFAULT_MAX_PENDING_BYTES // body
    assert writer.dropped_rows == 10 - kept
    store = Store(tmp_path / ".specops")
    try:
        assert writer.flush(store) == kept  # what was kept is written once the store is free
    finally:
        store.close()
    writer.record(served, batch, predictions, body)  # and the queue takes requests again
    assert writer.dropped_rows == 10 - kept


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda data: data + b"trailing junk", "13 bytes after its stream ends"),
        (lambda data: data + data, "bytes after its stream ends"),  # a second member
        (lambda data: data[: len(data) // 2], "cut short"),
    ],
    ids=["trailing-bytes", "two-members", "truncated"],
)
def test_a_gzip_body_is_one_whole_stream(app: Any, mangle: Any, words: str) -> None:
    import gzip

    data = gzip.compress(json.dumps({"inputs": column_tensors()}).encode())
    assert call(app, "POST", INFER, data, {"content-encoding": "gzip"})[0] == 200
    reply = call(app, "POST", INFER, mangle(data), {"content-encoding": "gzip"})
    refused(reply, INFER, 400, words)


@pytest.mark.parametrize(
    ("given", "env", "message"),
    [
        ("", None, "--token is empty (an unset variable?)"),
        (None, "s3cret\n", "SPECOPS_SERVE_TOKEN has spaces around it"),
        (" s3cret", None, "--token has spaces around it"),
        ("s3crét", None, "use printable ASCII"),
    ],
    ids=["empty-flag", "newline-in-env", "leading-space", "non-ascii"],
)
def test_a_token_no_client_could_send_is_refused_before_serving(
    lgb_store: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, given: Any, env: Any, message: str
) -> None:
    """``--token "$UNSET"`` served with no token at all, silently; a token with a newline
    (or a space, or non-ASCII) could never match what a client sends: every request 401."""
    import socket

    monkeypatch.delenv("SPECOPS_SERVE_TOKEN", raising=False)
    if env is not None:
        monkeypatch.setenv("SPECOPS_SERVE_TOKEN", env)
    flag = [] if given is None else ["--token", given]
    with socket.socket() as taken:  # a server that got past the check would stop here
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        result = cli("serve", "churn", "--store", lgb_store, "--port", port, *flag)
    assert result.code == 2 and message in result.err, result.err
    assert "cannot listen" not in result.err
