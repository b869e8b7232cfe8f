"""The request log's quick paths store exactly what its general path stores.

A one-row request of plain JSON values is encoded without NumPy
(``one_row_inputs``) and requests are appended one ``executemany`` a segment
(``append_encoded``); both must write the very bytes and rows that the general path
(``all_inputs`` + ``pack``) and ``prediction_log.append_batch`` write, so the log
reads back the same whichever way a request was stored.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framework.packed_columns import pack, unpack
from framework.prediction_log import (
    LogEntry,
    LogLimits,
    append_batch,
    append_encoded,
    log_summary,
    read_window,
)
from framework.serving.batch import Batch, IgnoredColumns
from framework.serving.protocols import mlflow
from framework.serving.request_log_append import encode, encode_request
from framework.serving.request_log_entries import all_inputs, entry, one_row_inputs, plain_row
from framework.store import Store

ROW = {
    "age": 41.0,
    "income": 52_000.5,
    "score": -0.3047170798,
    "visits": 3.0,
    "tenure": 12.5,
    "ratio": 0.25,
    "plan": "pro",
    "region": "north",
    "active": 1.0,
}
"""Floats, as a JSON client of a pandas frame sends them: the quickest path (``plain_row``)."""

# (column, value sent, whether the quick path reads it); the rest of the row as ROW
VALUES: list[tuple[str, Any, bool]] = [
    ("age", 41, True),
    ("age", None, True),
    ("age", float("nan"), True),  # a NaN token, read by the stdlib parser
    ("age", float("inf"), True),  # stored as missing, as the general path stores it
    ("age", -float("inf"), True),
    ("age", True, True),  # a boolean in a number column is 1
    ("age", 2**53 + 1, True),
    ("age", 2**64, True),  # past int64 but not float64: a float, as float64 reads it
    ("age", 2**1100, False),  # past float64: the general path keeps the digits
    ("age", "12", False),  # a number sent as text: the general path reads it as 12
    ("age", "twelve", False),
    ("age", [1], False),
    ("active", False, True),
    ("active", 1, True),
    ("active", 2, True),  # stored as 2.0 (the server refuses it; the log keeps what was sent)
    ("active", "true", False),
    ("active", "yes", False),
    ("plan", "enterprise", True),  # an unseen category, kept as sent
    ("plan", None, True),
    ("plan", 7, True),  # a category of another type, kept as sent
    ("plan", "\ud800", True),  # a lone surrogate: made storable
    ("region", 2**70, True),  # an integer orjson cannot write: made storable
]


@pytest.fixture(scope="module")
def served(lgb_store: Path) -> Any:
    from framework.plugins import get_plugins
    from framework.serving.model_holder import load_from_store

    return load_from_store(lgb_store, "churn", get_plugins()).current


def one_row(served: Any, column: str, value: Any) -> tuple[Batch, Any]:
    """A one-row ``dataframe_split`` request as the server parses it, and its answer."""
    row = {**ROW, column: value}
    document = {"dataframe_split": {"columns": list(row), "data": [list(row.values())]}}
    batch = mlflow.parse_json(document, served, IgnoredColumns())
    predictions = served.predict_pandas(Batch({name: [ROW[name]] for name in ROW}, 1))
    return batch, predictions


@pytest.mark.parametrize(
    ("column", "value", "plain"),
    [
        ("age", 41.0, True),
        ("age", None, True),
        ("age", float("nan"), True),
        ("plan", "enterprise", True),
        ("plan", None, True),
        ("age", 41, False),  # an integer: converted to a float by one_row_inputs
        ("active", True, False),
        ("age", "12", False),
    ],
)
def test_which_rows_are_written_straight_from_the_request(
    served: Any, column: str, value: Any, plain: bool
) -> None:
    batch, predictions = one_row(served, column, value)
    assert (plain_row(served, batch) is not None) == plain
    assert encode_request(served, batch, predictions, 1.0) == general(served, batch, predictions)


def test_a_row_sent_in_another_column_order_is_stored_in_the_signature_order(
    served: Any,
) -> None:
    names = list(reversed(ROW))
    document = {"dataframe_split": {"columns": names, "data": [[ROW[n] for n in names]]}}
    batch = mlflow.parse_json(document, served, IgnoredColumns())
    _, predictions = one_row(served, "age", 41)
    found = encode_request(served, batch, predictions, 1.0)
    assert found == general(served, batch, predictions)
    assert list(unpack(found.inputs)) == list(ROW)  # the signature's order


def test_one_row_requests_with_the_target_or_ignored_columns_are_stored_as_before(
    served: Any,
) -> None:
    row = {**ROW, "target": "yes", "customer_id": 12}
    document = {"dataframe_records": [row]}
    ignored = IgnoredColumns()
    batch = mlflow.parse_json(document, served, ignored)
    batch.ignored = ignored
    batch.label = ["yes"]
    _, predictions = one_row(served, "age", 41)
    found = encode_request(served, batch, predictions, 1.0)
    assert found == general(served, batch, predictions)
    assert unpack(found.outputs)["ignored_columns"]["count"] == 2
    assert unpack(found.inputs)["target"] == ["yes"]


def general(served: Any, batch: Batch, predictions: Any) -> Any:
    """The blobs the general path writes for a request."""
    return encode(entry(served, batch, predictions, 1.0, all_inputs(served, batch)))


@pytest.mark.parametrize(("column", "value", "quick"), VALUES)
def test_a_one_row_request_is_stored_as_the_general_path_stores_it(
    served: Any, column: str, value: Any, quick: bool
) -> None:
    batch, predictions = one_row(served, column, value)
    assert (one_row_inputs(served, batch) is not None) == quick
    found = encode_request(served, batch, predictions, 1.0)
    expected = general(served, batch, predictions)
    assert found == expected
    stored = unpack(found.inputs)[column]
    if quick and column != "plan" and column != "region":
        number = float(value) if value is not None else math.nan
        shown = None if math.isinf(number) or math.isnan(number) else number
        assert stored == [shown]


def test_big_requests_and_answers_are_stored_as_before(served: Any) -> None:
    rows = 300
    rng = np.random.default_rng(5)
    document = {
        "dataframe_split": {
            "columns": list(ROW),
            "data": [
                [*rng.normal(size=6).tolist(), "pro", "west", bool(i % 2)] for i in range(rows)
            ],
        }
    }
    batch = mlflow.parse_json(document, served, IgnoredColumns())
    predictions = served.predict(batch)
    found = encode_request(served, batch, predictions, 1.0)
    assert found == general(served, batch, predictions)
    outputs = unpack(found.outputs)
    assert outputs["prediction"] == predictions.values.tolist()
    assert isinstance(unpack(found.inputs)["age"], np.ndarray)  # raw float64, not digits


LABELS = ["no", "yes"]


def entries(count: int) -> list[LogEntry]:
    """Requests of 1 to 40 rows, some in another model, as the server would log them."""
    found = []
    for i in range(count):
        rows = 1 + (i * 7) % 40
        found.append(
            LogEntry(
                "m" if i % 5 else "other",
                1 + i // 20,
                1000.0 + i,
                rows,
                {"x": np.arange(rows, dtype=np.float64) + i, "c": ["a"] * rows},
                {
                    "prediction": ["yes"] * rows,
                    "labels": ["no", "yes"],
                    "proba": np.ones((rows, 2)),
                },
            )
        )
    return found


def table(store: Store, name: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in store.db.execute(f"SELECT * FROM {name} ORDER BY id")]


def test_appending_in_one_statement_a_segment_writes_the_rows_append_batch_writes(
    tmp_path: Path,
) -> None:
    limits = LogLimits(max_rows=300, max_bytes=10**9, segments=4)
    ours, reference = Store(tmp_path / "ours"), Store(tmp_path / "reference")
    try:
        batch = entries(60)
        for start in range(0, 60, 15):  # four flushes: segments carry over between them
            chunk = batch[start : start + 15]
            written = append_encoded(ours, [encode(e) for e in chunk], limits)
            assert written == append_batch(reference, chunk, limits)
        for name in ("prediction_log", "prediction_log_segments"):
            assert table(ours, name) == table(reference, name)
        summary = log_summary(ours, "m")
        assert summary["segments"] > 1 and summary["rows"] <= 300 + 75  # rotated
        frame = read_window(ours, "m")
        assert len(frame) == summary["rows"]
        assert frame.equals(read_window(reference, "m"))
    finally:
        ours.close()
        reference.close()


def test_a_request_json_cannot_hold_is_stored_as_text_without_its_neighbours_changing(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s")
    try:
        odd = LogEntry("m", 1, 1.0, 1, {"c": [2**70]}, {"prediction": ["\ud800"]})
        plain = LogEntry("m", 1, 2.0, 1, {"c": [2**62]}, {"prediction": ["yes"]})
        append_encoded(store, [encode(odd), encode(plain)], LogLimits())
        frame = read_window(store, "m")
        assert frame["c"].tolist() == [str(2**70), 2**62]
        assert frame["prediction"].tolist() == ["?", "yes"]
        assert (
            pack({"c": [2**62]})
            == store.db.execute("SELECT inputs FROM prediction_log WHERE at = 2.0").fetchone()[0]
        )
    finally:
        store.close()


def test_a_big_request_is_queued_without_its_python_numbers_and_logged_the_same(
    served: Any, tmp_path: Path
) -> None:
    from framework.serving.request_log import RequestLogWriter

    rows = 300
    rng = np.random.default_rng(7)
    data = [[*rng.normal(size=6).tolist(), "pro", "west", True] for _ in range(rows)]
    document = {"dataframe_split": {"columns": list(ROW), "data": data}}
    batch = mlflow.parse_json(document, served, IgnoredColumns())
    predictions = served.predict(batch)
    assert set(batch.arrays) == {n for n in ROW if n not in ("plan", "region")}
    expected = general(served, batch, predictions)

    store = Store(tmp_path / ".specops")
    try:
        writer = RequestLogWriter(store.root)
        writer.record(served, batch, predictions, 10_000)
        queued = writer._pending[0][1]
        assert set(queued.columns) == {"plan", "region"}  # the numbers only as arrays
        assert len(batch.columns) == len(ROW)  # the request's own batch is left whole
        assert writer.flush(store) == rows
        inputs, outputs = store.db.execute("SELECT inputs, outputs FROM prediction_log").fetchone()
        assert (bytes(inputs), bytes(outputs)) == (expected.inputs, expected.outputs)
        logged = read_window(store, served.name)
        assert logged["age"].tolist() == [row[0] for row in data]
    finally:
        store.close()


def test_a_flush_that_fails_counts_every_queued_row_as_dropped(served: Any, tmp_path: Path) -> None:
    from framework.serving.request_log import RequestLogWriter

    store = Store(tmp_path / ".specops")
    writer = RequestLogWriter(store.root)
    for column, value in (("age", 41.0), ("age", "12")):
        batch, predictions = one_row(served, column, value)
        writer.record(served, batch, predictions, 100)
    rows = [[float(i), 1.0, 2.0, 3.0, 4.0, 0.5, "pro", "west", True] for i in range(300)]
    batch = mlflow.parse_json(
        {"dataframe_split": {"columns": list(ROW), "data": rows}}, served, IgnoredColumns()
    )
    writer.record(served, batch, served.predict(batch), 10_000)
    store.close()  # the flush's transaction fails
    assert writer.flush(store) == 0
    assert writer.dropped_rows == 302 and not writer._pending
    reopened = Store(tmp_path / ".specops")
    try:
        assert writer.flush(reopened) == 0  # nothing left queued
        assert log_summary(reopened, served.name)["rows"] == 0
    finally:
        reopened.close()


def test_each_served_version_has_its_own_plan_and_a_dropped_one_is_forgotten(
    lgb_store: Path, served: Any
) -> None:
    import gc

    from framework.plugins import get_plugins
    from framework.serving.model_holder import load_from_store
    from framework.serving.request_log_entries import _plans, plan

    other = load_from_store(lgb_store, "churn", get_plugins()).current  # as after a swap
    mine = plan(served)
    theirs = plan(other)
    assert theirs is not mine and plan(served) is mine and plan(other) is theirs
    assert theirs.names == tuple(ROW)
    planned = len(_plans)
    del other, theirs
    gc.collect()
    assert len(_plans) == planned - 1 and plan(served) is mine
