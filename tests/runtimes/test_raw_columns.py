"""Request columns -> raw columns: the one-row reader and the column decoders agree, and
both decline (None: the pandas path answers) exactly what pandas alone reads."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from framework.serving.batch import Batch
from framework.serving.raw_columns import RequestColumns
from framework.signature import ColumnSignature, Signature

SIGNATURE = Signature(
    (
        ColumnSignature("n", "numeric", "float64"),
        ColumnSignature("b", "boolean", "float64"),
        ColumnSignature("t", "categorical", "category", ["red", "blue"]),
        ColumnSignature("k", "categorical", "category", [1, 2, 3]),
    )
)
PLAIN = {"n": 1.5, "b": True, "t": "red", "k": 2}

VALUES: dict[str, list[Any]] = {
    "n": [
        None,
        0,
        7,
        -3.25,
        float("nan"),
        True,
        False,
        2**62,
        2**63,
        -(2**64),
        10**400,
        "1",
        "x",
        [1],
        {"a": 1},
        float("inf"),
    ],
    "b": [None, True, False, 0, 1, 0.0, 1.0, float("nan"), 2, 0.5, "true", "yes", [True]],
    "t": [None, "red", "green", "", 1, 1.0, True, float("nan"), ["red"]],
    "k": [None, 1, 2.0, 4, "1", True, float("nan"), [1], 1.5],
}


def same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype == object or b.dtype == object:
        return a.dtype == b.dtype and all(
            (x is None and y is None) or (x == y and type(x) is type(y))
            for x, y in zip(a, b, strict=True)
        )
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize(
    ("column", "value"), [(c, v) for c, values in VALUES.items() for v in values], ids=repr
)
def test_the_one_row_reader_agrees_with_the_column_decoders(column: str, value: Any) -> None:
    decoder = RequestColumns(SIGNATURE)
    columns = {name: [PLAIN[name]] for name in PLAIN} | {column: [value]}
    one = decoder.one_row(columns)
    many = decoder.columns(columns)
    if many is None:
        assert one is None, f"{value!r} in {column}: the column decoders leave it to pandas"
        return
    if one is None:  # stricter is allowed only at int64's edge
        assert isinstance(value, int) and abs(value) >= 2**62, value
        return
    assert set(one) == set(many)
    for name in one:
        assert same(one[name], many[name]), (name, one[name], many[name])


def test_what_the_decoders_make_of_a_request() -> None:
    decoder = RequestColumns(SIGNATURE)
    batch = Batch(
        {
            "n": [1, None, 2.5, True],
            "b": [True, None, False, True],
            "t": ["red", None, "green", "blue"],
            "k": [1, None, 7, 2.0],
        },
        4,
    )
    raw = decoder.decode(batch)
    assert raw is not None
    assert raw["n"].dtype == np.float64 and np.array_equal(
        raw["n"], [1.0, math.nan, 2.5, 1.0], equal_nan=True
    )
    assert np.array_equal(raw["b"], [1.0, math.nan, 0.0, 1.0], equal_nan=True)
    assert raw["t"].dtype == object and raw["t"].tolist() == ["red", None, "green", "blue"]
    assert raw["k"].tolist() == [1, None, 7, 2.0]  # unseen kept as sent
    assert set(batch.arrays) == {"n", "b"}  # the request log's numeric columns
    binary = Batch(
        {
            "n": np.array([1, 2], dtype=np.int64),
            "b": np.array([True, False]),
            "t": ["blue", "red"],
            "k": np.array([1.0, np.nan]),
        },
        2,
    )
    raw = decoder.decode(binary)
    assert raw is not None and raw["n"].dtype == np.float64 and raw["b"].tolist() == [1.0, 0.0]
    assert raw["k"].tolist() == [1.0, None]
    assert decoder.decode(Batch({**binary.columns, "n": ["1", "2"]}, 2)) is None
