"""Bad requests get a clear 4xx in their protocol's error shape, and the server keeps serving.

One server for the module, with a token and a 64 KiB body limit; every request
goes over one keep-alive connection, as a busy client's would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import stored_package
from tests.serving.conftest import FEATURES, Client, Server, split_payload, start_server

TOKEN = "s3cret-token"
LIMIT = 65536


@pytest.fixture(scope="module")
def server(lgb_store: Path) -> Iterator[Server]:
    running = start_server(
        "churn",
        "--store",
        lgb_store,
        "--no-request-log",
        "--max-body-bytes",
        str(LIMIT),
        token=TOKEN,
    )
    yield running
    running.stop()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    connection = server.connect()
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def rows(sample_rows: pd.DataFrame) -> pd.DataFrame:
    return sample_rows.head(3).reset_index(drop=True)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))


def expect_mlflow_error(reply: tuple[int, dict[str, str], bytes], status: int, *words: str) -> str:
    code, headers, body = reply
    assert code == status, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert set(error) == {"error_code", "message"}
    assert "Traceback" not in error["message"]
    for word in words:
        assert word in error["message"], error["message"]
    return error["error_code"]


def post(client: Client, document: Any, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    body = document if isinstance(document, (bytes, str)) else json.dumps(document)
    return client.request("POST", "/invocations", body, **kwargs)


def test_malformed_json(client: Client) -> None:
    code = expect_mlflow_error(post(client, b'{"dataframe_split": {"columns": [}'), 400, "JSON")
    assert code == "MALFORMED_REQUEST"


def test_unknown_payload_form(client: Client, rows: pd.DataFrame) -> None:
    expect_mlflow_error(
        post(client, {"rows": records(rows)}), 400, "dataframe_split", "found keys: rows"
    )
    expect_mlflow_error(post(client, [1, 2]), 400, "JSON object")


def test_missing_column_is_named(client: Client, rows: pd.DataFrame) -> None:
    expect_mlflow_error(
        post(client, split_payload(rows.drop(columns=["plan"]))), 400, "missing", "plan"
    )


def test_wrong_dtype_names_column_and_value(client: Client, rows: pd.DataFrame) -> None:
    bad = records(rows)
    bad[1]["income"] = "lots"
    expect_mlflow_error(post(client, {"dataframe_records": bad}), 400, "income", "'lots'")


def test_extra_columns_are_ignored_and_named(client: Client, rows: pd.DataFrame) -> None:
    status, _, expected = post(client, split_payload(rows))
    extra = rows.assign(customer_id=[1, 2, 3], note="x")
    status, headers, body = post(client, split_payload(extra))
    assert status == 200, body
    assert body == expected
    assert headers["specops-ignored-columns"] == "customer_id, note"
    assert headers["specops-ignored-columns-count"] == "2"


def test_empty_batch(client: Client) -> None:
    expect_mlflow_error(post(client, {"dataframe_records": []}), 400, "empty batch")
    empty = {"dataframe_split": {"columns": FEATURES, "data": []}}
    expect_mlflow_error(post(client, empty), 400, "empty batch")


def test_rows_of_the_wrong_width(client: Client, rows: pd.DataFrame) -> None:
    payload = split_payload(rows)
    payload["dataframe_split"]["data"][1] = payload["dataframe_split"]["data"][1][:-1]
    expect_mlflow_error(post(client, payload), 400, "data[1]", "8 values", "9 columns")


def test_body_over_the_limit_is_413(client: Client, rows: pd.DataFrame) -> None:
    big = split_payload(pd.concat([rows] * 400, ignore_index=True))
    assert len(json.dumps(big)) > LIMIT
    code = expect_mlflow_error(post(client, big), 413, f"{LIMIT:,} bytes")
    assert code == "REQUEST_LIMIT_EXCEEDED"


def test_wrong_content_type_is_415(client: Client, rows: pd.DataFrame) -> None:
    body = json.dumps(split_payload(rows))
    expect_mlflow_error(post(client, body, content_type="text/plain"), 415, "text/plain")
    expect_mlflow_error(
        post(client, body, content_type="application/json; charset=latin-1"), 415, "UTF-8"
    )


def test_missing_numbers_are_handled_as_in_training(
    client: Client, rows: pd.DataFrame, lgb_store: Path
) -> None:
    holes = rows.copy()
    holes.loc[0, "income"] = np.nan
    holes.loc[1, ["score", "tenure"]] = np.nan
    expected, _ = stored_package(lgb_store, "churn").predict(holes)
    as_null = records(holes)  # pandas writes NaN as null
    status, _, body = post(client, {"dataframe_records": as_null})
    assert status == 200, body
    assert json.loads(body)["predictions"] == expected.values.tolist()
    literal = json.dumps({"dataframe_records": holes.to_dict(orient="records")})
    assert "NaN" in literal  # Python's json writes NaN literally; the server reads it too
    status, _, body = post(client, literal)
    assert status == 200, body
    assert json.loads(body)["predictions"] == expected.values.tolist()


def test_v2_errors_have_the_v2_shape(client: Client, rows: pd.DataFrame) -> None:
    tensor = {"name": "plan", "shape": [3], "datatype": "FP64", "data": [1.0, 2.0, 3.0]}
    status, _, body = client.request(
        "POST", "/v2/models/churn/infer", json.dumps({"inputs": [tensor]})
    )
    assert status == 400 and "plan" in json.loads(body)["error"]
    short = {"name": "age", "shape": [3], "datatype": "FP64", "data": [1.0]}
    status, _, body = client.request(
        "POST", "/v2/models/churn/infer", json.dumps({"inputs": [short]})
    )
    assert status == 400 and "needs 3" in json.loads(body)["error"]
    status, _, body = client.request("POST", "/v2/models/nope/infer", json.dumps({"inputs": []}))
    assert status == 404 and set(json.loads(body)) == {"error"}
    status, _, body = client.request("POST", "/v2/models/churn/infer", "x", content_type="text/csv")
    assert status == 415 and "error" in json.loads(body)


def test_unknown_paths_and_methods(client: Client) -> None:
    status, _, body = client.request("GET", "/nothing-here")
    assert status == 404 and json.loads(body)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    status, _, body = client.request("GET", "/v2/nothing")
    assert status == 404 and "error" in json.loads(body)
    status, _, body = client.request("GET", "/invocations")
    assert status == 405 and "POST" in json.loads(body)["message"]


def test_token_is_required_except_for_health(client: Client, rows: pd.DataFrame) -> None:
    status, headers, body = post(client, split_payload(rows), auth=False)
    assert status == 401 and "predictions" not in json.loads(body)
    assert headers["www-authenticate"] == "Bearer"
    status, _, body = post(
        client, split_payload(rows), auth=False, headers={"Authorization": "Bearer wrong"}
    )
    assert status == 401
    status, _, body = client.request(
        "POST", "/v2/models/churn/infer", json.dumps({"inputs": []}), auth=False
    )
    assert status == 401 and "error" in json.loads(body)
    for path in ("/ping", "/health", "/v2/health/live", "/v2/health/ready"):
        assert client.request("GET", path, auth=False)[0] == 200
    assert client.request("GET", "/version", auth=False)[0] == 401


def bad_requests(rows: pd.DataFrame) -> list[tuple[str, str, bytes | str, str | None, bool]]:
    """(method, path, body, content type, with token) of every kind of bad request."""
    good = records(rows)
    wrong_type = [dict(good[0], income="lots")]
    v2_bad = json.dumps(
        {"inputs": [{"name": "plan", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
    )
    over = json.dumps(split_payload(pd.concat([rows] * 400, ignore_index=True)))
    json_type = "application/json"
    no_age = json.dumps(split_payload(rows.drop(columns="age")))
    return [
        ("POST", "/invocations", b"{not json", json_type, True),
        ("POST", "/invocations", json.dumps({"rows": good}), json_type, True),
        ("POST", "/invocations", no_age, json_type, True),
        ("POST", "/invocations", json.dumps({"dataframe_records": wrong_type}), json_type, True),
        ("POST", "/invocations", json.dumps({"dataframe_split": {"data": [[1]]}}), json_type, True),
        ("POST", "/invocations", json.dumps({"dataframe_records": []}), json_type, True),
        ("POST", "/invocations", json.dumps({"inputs": good}), "text/plain", True),
        ("POST", "/invocations", over, json_type, True),
        ("POST", "/v2/models/nope/infer", v2_bad, json_type, True),
        ("POST", "/v2/models/churn/infer", v2_bad, json_type, True),
        ("POST", "/invocations", json.dumps({"inputs": good}), json_type, False),
    ]  # fmt: skip


def test_ten_thousand_bad_requests_leave_memory_flat(
    server: Server, client: Client, rows: pd.DataFrame
) -> None:
    cases = bad_requests(rows)
    good = json.dumps(split_payload(rows))
    status, _, body = post(client, good)
    assert status == 200
    expected = json.loads(body)

    def hammer(count: int) -> None:
        for i in range(count):
            method, path, body, content_type, auth = cases[i % len(cases)]
            status, _, _ = client.request(method, path, body, content_type=content_type, auth=auth)
            assert 400 <= status < 500, (i, path, status)

    hammer(1_000)  # warm up: allocator pools, first-call caches
    before = server.rss_kb()
    hammer(10_000)
    after = server.rss_kb()
    assert after - before < 4 * 1024, f"RSS grew from {before} kB to {after} kB"
    status, _, body = post(client, good)
    assert status == 200 and json.loads(body) == expected
    assert server.process.poll() is None
