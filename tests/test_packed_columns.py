"""Packed columns: the prediction log's blob format, its round trip and its refusals."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from framework.errors import StoreError
from framework.packed_columns import MAGIC, RAW_MIN_VALUES, pack, unpack

N = RAW_MIN_VALUES


def test_number_arrays_round_trip_raw_and_everything_else_as_json() -> None:
    columns = {
        "f": np.tile([1.5, np.nan, -0.0, 2.0], N // 4),
        "i": np.arange(N, dtype=np.int64),
        "b": np.arange(N) % 3 == 0,
        "proba": np.tile([[0.25, 0.75], [0.5, 0.5]], (N // 2, 1)),
        "strided": np.arange(2.0 * N)[::2],
        "big_endian": np.arange(N, dtype=">f8"),
        "text": ["a", None, "c"] * (N // 3),
        "as_sent": [1, "2", None, 3.5],
        "objects": np.array(["x", None], dtype=object),
        "labels": ["no", "yes"],
    }
    blob = pack(columns)
    assert blob.startswith(MAGIC)
    back = unpack(blob)
    assert list(back) == list(columns)
    for name in ("f", "i", "b", "proba", "strided", "big_endian"):
        assert isinstance(back[name], np.ndarray)
        assert np.array_equal(back[name], columns[name], equal_nan=True)
    assert back["i"].dtype == np.int64 and back["b"].dtype == bool
    assert back["text"] == columns["text"] and back["as_sent"] == [1, "2", None, 3.5]
    assert back["objects"] == ["x", None] and back["labels"] == ["no", "yes"]


def test_small_requests_stay_one_plain_json_object() -> None:
    blob = pack({"x": np.array([0.5, np.nan]), "c": ["a", "b"]})
    assert json.loads(blob) == {"x": [0.5, None], "c": ["a", "b"]}
    assert unpack(blob) == {"x": [0.5, None], "c": ["a", "b"]}


def test_a_number_column_costs_its_raw_bytes_not_its_digits() -> None:
    numbers = np.random.default_rng(0).normal(size=10_000)
    packed = pack({"x": numbers})
    assert len(packed) < 8 * 10_000 + 100 < len(json.dumps(numbers.tolist()))


def test_blobs_from_before_the_format_are_read_as_json() -> None:
    assert unpack(b'{"x": [1, null], "c": ["a", "b"]}') == {"x": [1, None], "c": ["a", "b"]}


def _blob(header: object, body: bytes = b"") -> bytes:
    encoded = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(encoded)) + encoded + body


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (pack({"x": np.arange(float(N))})[:-3], "cut short"),
        (_blob([["x", "|O", [1], 8]], b"\0" * 8), "unknown encoding '|O'"),
        (_blob([["x", "<M8[ns]", [1], 8]], b"\0" * 8), "unknown encoding"),
        (_blob([["x", "<f8", [3], 8]], b"\0" * 8), "malformed"),
        (_blob([["x", "json", None, 3]], b"[1,"), "column 'x' is not valid JSON"),
        (_blob("not a list of columns"), "malformed"),
        (MAGIC + b"\xff\xff", "malformed"),
        (b"{not json", "blob is not valid JSON"),
        (b"[1, 2]", "blob is JSON but not an object of columns"),
        (b"[" * 100_000, "not valid JSON"),
        (_blob([["x", "<f8", [1], 8]], b"\0" * 9), "1 stray bytes"),
        (_blob([["x", "<f8", [-1], 8]], b"\0" * 8), "bad header entry"),
        (_blob([["x", "<f8", [10**30], 8]], b"\0" * 8), "bad header entry"),
        (_blob([["x", "<f8", [2**40, 2**40], 8]], b"\0" * 8), "not the \\[1099511627776"),
        (_blob([[1, "<f8", [1], 8]], b"\0" * 8), "bad header entry"),
        (_blob([["x", "<f8", None, 8]], b"\0" * 8), "malformed"),
        (_blob({"x": 1}), "header is not a list"),
    ],
)
def test_a_damaged_blob_is_a_store_error_that_says_what_is_wrong(blob: bytes, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        unpack(blob)


def test_column_names_must_be_text_whichever_way_the_blob_is_written() -> None:
    with pytest.raises(TypeError):
        pack({1: [0.5]})  # small: one JSON object
    with pytest.raises(TypeError, match="column names must be strings"):
        pack({1: np.zeros(N)})  # packed
