"""One rule on every scoring path (docs/serving.md, "What a request is checked against").

- A column the model does not take is ignored and named in the answer's
  ``specops-ignored-columns`` headers, in every form of both protocols; with
  ``--strict-columns`` it is a 400 naming it.
- A boolean counts as 1/0 in a number column: JSON ``true``, a V2 ``BOOL`` tensor,
  ``true`` in a CSV cell or a text tensor.
- The request log stores number columns as float64 whatever form sent them, and
  names the ignored columns of each request.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.serving.conftest import FEATURES, Server
from tests.serving.test_request_errors import (
    LIMIT,
    ROWS,
    TOKEN,
    call,
    columns_as_tensors,
    refused,
    tensor,
)

INFER = "/v2/models/churn/infer"
CSV = {"content-type": "text/csv"}
EXTRA = {"customer_id": 7, "churned": "yes"}


def make_app(lgb_store: Path, **settings: Any) -> Any:
    from framework.plugins import get_plugins
    from framework.serving.app import ServingApp
    from framework.serving.model_holder import load_from_store
    from framework.serving.settings import ServeSettings

    fast_path = settings.get("fast_path", True)
    holder = load_from_store(lgb_store, "churn", get_plugins(), fast_path=fast_path)
    return ServingApp(holder, ServeSettings(max_body_bytes=LIMIT, token=TOKEN, **settings))


@pytest.fixture(scope="module")
def app(lgb_store: Path) -> Iterator[Any]:
    serving = make_app(lgb_store)
    yield serving
    serving.executor.shutdown()


@pytest.fixture(scope="module")
def strict_app(lgb_store: Path) -> Iterator[Any]:
    serving = make_app(lgb_store, strict_columns=True)
    yield serving
    serving.executor.shutdown()


@pytest.fixture(scope="module")
def pandas_app(lgb_store: Path) -> Iterator[Any]:
    serving = make_app(lgb_store, fast_path=False)
    yield serving
    serving.executor.shutdown()


def csv_body(rows: list[dict[str, Any]]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


def binary_request(tensors: list[tuple[str, str, bytes]], json_inputs: list[dict[str, Any]]):
    """A V2 body: the JSON tensors, then binary ones (name, datatype, raw bytes) in order."""
    inputs = list(json_inputs)
    for name, datatype, raw in tensors:
        size = {"FP64": 8, "INT64": 8, "BOOL": 1}[datatype]
        inputs.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": [len(raw) // size],
                "parameters": {"binary_data_size": len(raw)},
            }
        )
    header = json.dumps({"inputs": inputs}).encode()
    body = header + b"".join(raw for _, _, raw in tensors)
    return body, {"content-type": "application/octet-stream",
                  "inference-header-content-length": str(len(header))}  # fmt: skip


def binary_forms(extra: bool) -> tuple[bytes, dict[str, str]]:
    """age and income as binary FP64, with (optionally) an unknown binary input between."""
    ages = struct.pack("<3d", *(float(r["age"]) for r in ROWS))
    incomes = struct.pack("<3d", *(float(r["income"] or "nan") for r in ROWS))
    others = [t for t in columns_as_tensors() if t["name"] not in ("age", "income")]
    binary = [("age", "FP64", ages)]
    if extra:
        binary.append(("customer_id", "INT64", struct.pack("<3q", 1, 2, 3)))
    binary.append(("income", "FP64", incomes))
    return binary_request(binary, others)


def with_extra(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, **EXTRA} for row in rows]


def forms(extra: bool) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """Every request form, carrying the extra columns or not."""
    rows = with_extra(ROWS) if extra else ROWS
    names = [*FEATURES, *EXTRA] if extra else FEATURES
    columns = {name: [row[name] for row in rows] for name in names}
    tensors = columns_as_tensors()
    if extra:
        tensors += [tensor("customer_id", [7, 8, 9]), tensor("churned", ["y", "n", "y"])]
    split = {"columns": names, "data": [[row[name] for name in names] for row in rows]}
    return {
        "dataframe_records": ("/invocations", json.dumps({"dataframe_records": rows}).encode(), {}),
        "dataframe_split": ("/invocations", json.dumps({"dataframe_split": split}).encode(), {}),
        "instances": ("/invocations", json.dumps({"instances": rows}).encode(), {}),
        "inputs columns": ("/invocations", json.dumps({"inputs": columns}).encode(), {}),
        "csv": ("/invocations", csv_body(rows), CSV),
        "v2 json": (INFER, json.dumps({"inputs": tensors}).encode(), {}),
        "v2 binary": (INFER, *binary_forms(extra)),
    }


FORMS = list(forms(False))


@pytest.mark.parametrize("form", FORMS)
def test_extra_columns_are_ignored_and_named_in_every_form(app: Any, form: str) -> None:
    path, clean, headers = forms(False)[form]
    expected = call(app, "POST", path, clean, headers)
    assert expected[0] == 200, expected[2]
    assert "specops-ignored-columns" not in expected[1]

    path, body, headers = forms(True)[form]
    status, answer_headers, answer = call(app, "POST", path, body, headers)
    assert status == 200, answer
    assert answer == expected[2]  # the same answer as without them
    expected_names = "customer_id" if form == "v2 binary" else "customer_id, churned"
    assert answer_headers["specops-ignored-columns"] == expected_names
    assert answer_headers["specops-ignored-columns-count"] == str(expected_names.count(",") + 1)


@pytest.mark.parametrize("form", FORMS)
def test_strict_columns_refuses_extra_columns_by_name(strict_app: Any, form: str) -> None:
    path, body, headers = forms(True)[form]
    message = refused(call(strict_app, "POST", path, body, headers), path, 400, "customer_id")
    assert "age" in message  # and says what the model takes
    path, clean, headers = forms(False)[form]
    assert call(strict_app, "POST", path, clean, headers)[0] == 200


def test_odd_and_many_ignored_names_keep_the_header_short_and_ascii(app: Any) -> None:
    odd = {"total, €": 1, 'say "hi"': 2, "line\nbreak": 3}
    many = {f"col{i}": i for i in range(500)}
    status, headers, body = call(
        app, "POST", "/invocations", {"dataframe_records": [{**ROWS[0], **odd, **many}]}
    )
    assert status == 200, body
    header = headers["specops-ignored-columns"]
    assert header.isascii() and "\n" not in header and len(header) < 400
    assert header.startswith('"total, \\u20ac", "say \\"hi\\"", "line\\nbreak", col0')
    assert headers["specops-ignored-columns-count"] == "503"


def test_a_misspelt_column_is_suggested_from_the_ignored_ones(app: Any) -> None:
    records = [{("plann" if k == "plan" else k): v for k, v in row.items()} for row in ROWS]
    for document in ({"dataframe_records": records}, {"inputs": records}):
        refused(
            call(app, "POST", "/invocations", document),
            "/invocations",
            400,
            "missing column(s) the model needs: plan",
            "did you mean 'plann'?",
        )


# ---------------------------------------------------------------------------
# booleans in number columns: 1/0 on every path
# ---------------------------------------------------------------------------


def boolean_forms(value: Any) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """Every path, with ``visits`` (a number column) set to ``value`` in each row:
    True/False are sent as each protocol spells a boolean, numbers as numbers."""
    flag = isinstance(value, bool)
    rows = [{**row, "visits": value} for row in ROWS]
    csv_rows = [{**row, "visits": str(value).upper() if flag else value} for row in ROWS]
    tensors = [
        tensor("visits", [value] * 3, "BOOL" if flag else "FP64") if t["name"] == "visits" else t
        for t in columns_as_tensors()
    ]
    as_fp64 = [tensor("visits", [value] * 3, "FP64") if t["name"] == "visits" else t
               for t in columns_as_tensors()]  # fmt: skip
    text = [
        [("true" if v is True else "false" if v is False else str(v)) if v is not None else ""
         for v in (row[name] for name in FEATURES)]
        for row in rows
    ]  # fmt: skip
    whole = {"name": "x", "datatype": "BYTES", "shape": [3, len(FEATURES)], "data": text}
    return {
        "mlflow json": ("/invocations", json.dumps({"dataframe_records": rows}).encode(), {}),
        "csv": ("/invocations", csv_body(csv_rows), CSV),
        "v2 json tensor": (INFER, json.dumps({"inputs": tensors}).encode(), {}),
        "v2 json in FP64": (INFER, json.dumps({"inputs": as_fp64}).encode(), {}),
        "v2 text tensor": (INFER, json.dumps({"inputs": [whole]}).encode(), {}),
    }


@pytest.mark.parametrize("form", list(boolean_forms(True)))
@pytest.mark.parametrize("serving", ["app", "pandas_app"])
def test_a_boolean_in_a_number_column_is_one_or_zero_on_every_path(
    form: str, serving: str, request: pytest.FixtureRequest
) -> None:
    scoring = request.getfixturevalue(serving)
    for flag, number in ((True, 1), (False, 0)):
        path, body, headers = boolean_forms(number)[form]
        expected = call(scoring, "POST", path, body, headers)
        assert expected[0] == 200, expected[2]
        path, body, headers = boolean_forms(flag)[form]
        answer = call(scoring, "POST", path, body, headers)
        assert answer[0] == 200, answer[2]
        assert answer[2] == expected[2], (flag, answer[2], expected[2])


@pytest.mark.parametrize(
    ("values", "datatype"),
    [([True, False, None], "BOOL"), ([1, 0, None], "FP64"), ([True, 0, None], "FP64")],
)
def test_a_boolean_column_takes_booleans_or_one_and_zero(
    app: Any, values: list[Any], datatype: str
) -> None:
    rows = [{**row, "active": [True, False, None][i]} for i, row in enumerate(ROWS)]
    expected = call(app, "POST", "/invocations", {"dataframe_records": rows})
    tensors = [tensor("active", values, datatype) if t["name"] == "active" else t
               for t in columns_as_tensors(rows)]  # fmt: skip
    answer = call(app, "POST", INFER, {"inputs": tensors})
    assert answer[0] == 200, answer[2]
    v2 = [output["data"] for output in json.loads(answer[2])["outputs"]]
    assert v2[0] == json.loads(expected[2])["predictions"]


def test_a_word_other_than_true_or_false_in_a_number_column_is_refused(app: Any) -> None:
    rows = [{**ROWS[0], "visits": "yes"}]
    refused(
        call(app, "POST", "/invocations", {"dataframe_records": rows}),
        "/invocations",
        400,
        "column 'visits' must be numeric",
        "'yes'",
    )


# ---------------------------------------------------------------------------
# the request log: typed columns, ignored columns named
# ---------------------------------------------------------------------------


def test_the_log_keeps_number_columns_as_numbers_whatever_form_sent_them(
    lgb_store: Path, serve: Any
) -> None:
    """A whole-tensor BYTES request sends numbers as text; records send them as numbers:
    read_window gives one float64 column, never a mix of "12" and 12."""
    from framework.packed_columns import unpack
    from framework.prediction_log import IGNORED_KEY, read_window
    from framework.store import Store

    started = time.time()
    server: Server = serve("churn", "--store", lgb_store)
    client = server.connect()
    text = [[("" if row[n] is None else str(row[n]).lower()) for n in FEATURES] for row in ROWS]
    whole = {"name": "x", "datatype": "BYTES", "shape": [3, len(FEATURES)], "data": text}
    status, answer = client.post_json(INFER, {"inputs": [whole]})
    assert status == 200, answer
    status, answer = client.post_json("/invocations", {"dataframe_records": with_extra(ROWS)})
    assert status == 200, answer
    client.close()
    server.stop()  # a graceful stop flushes the log

    logged = read_window(lgb_store, "churn", since=started)
    assert len(logged) == 6
    for name in ("age", "income", "score", "visits", "tenure", "ratio", "active"):
        assert logged[name].dtype == np.float64, (name, logged[name].tolist())
    sent = [row["age"] for row in ROWS]
    assert logged["age"].tolist() == [float(a) for a in sent * 2]
    assert logged["active"].tolist() == [float(row["active"]) for row in ROWS] * 2
    assert logged["plan"].tolist() == [row["plan"] for row in ROWS] * 2
    assert "customer_id" not in logged.columns

    store = Store.open_existing(lgb_store)
    try:
        outputs = [
            unpack(blob)
            for (blob,) in store.db.execute(
                "SELECT outputs FROM prediction_log WHERE model = 'churn' AND at >= ? ORDER BY id",
                (started,),
            )
        ]
    finally:
        store.close()
    assert IGNORED_KEY not in outputs[0]
    assert outputs[1][IGNORED_KEY] == {"names": ["customer_id", "churned"], "count": 2}


def test_serve_strict_columns_flag_reaches_the_server(lgb_store: Path, serve: Any) -> None:
    server: Server = serve("churn", "--store", lgb_store, "--strict-columns", "--no-request-log")
    client = server.connect()
    status, answer = client.post_json("/invocations", {"dataframe_records": with_extra(ROWS)})
    client.close()
    assert status == 400 and "customer_id" in answer["message"], answer
