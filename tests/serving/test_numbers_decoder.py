"""The quick ``numbers()`` decoder answers exactly as the type-checking one.

``numbers()`` lets NumPy infer a request column's dtype (one C pass) and only falls back
to checking each value's type when that dtype is not plainly float64/int64/bool. A
column it decodes must be the same float64 numbers, and a column the exact check
refuses (so the pandas path gives its 400 message) must still be refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from framework.serving.raw_columns import booleans, exact_numbers, numbers

NAN = float("nan")
INF = float("inf")

CASES: list[tuple[str, list[Any]]] = [
    ("floats", [1.5, -2.25, 0.0, 3.0]),
    ("ints", [1, 2, -3, 0]),
    ("int and float", [1, 2.5, -3]),
    ("bool and float", [True, 1.5, False]),
    ("bool and int", [True, 2, False]),
    ("bools", [True, False, True]),
    ("None among floats", [None, 1.0, 2.0]),
    ("only None", [None]),
    ("None among ints and bools", [1, None, True]),
    ("empty", []),
    ("text '2' among floats", [1.5, "2"]),
    ("text", ["a", "b"]),
    ("nested list", [1.5, [1]]),
    ("one-element lists", [[1.0], [2.0]]),
    ("int at 2**63", [2**63, 1.5]),
    ("int just below 2**63", [2**63 - 1, 1]),
    ("int 2**62 + 1 with a float", [2**62 + 1, 0.5]),
    ("int 2**53 + 1", [2**53 + 1, 2]),
    ("int at 2**64", [2**64]),
    ("int at -2**63", [-(2**63), 1.0]),
    ("int at -2**63 alone", [-(2**63)]),
    ("int over 2**63 with a negative", [-1, 2**63]),
    ("int 2**1100", [2**1100, 1.0]),
    ("float 1e20", [1e20, 1.0]),
    ("float 1e20 with an int", [1e20, 1]),
    ("NaN", [NAN, 1.0]),
    ("all NaN", [NAN, NAN]),
    ("inf", [INF, 1.0, -INF]),
    ("inf with an int", [INF, 1]),
    ("dict", [1.0, {"a": 1}]),
    ("only dicts", [{"a": 1}, {"b": 2}]),
    ("float32 scalars", [np.float32(1.1), np.float32(2.0)]),
]


def _same(got: Any, expected: Any) -> None:
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got.dtype == expected.dtype == np.float64
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)  # NaN where NaN, bit-equal numbers


@pytest.mark.parametrize(("name", "values"), CASES, ids=[name for name, _ in CASES])
def test_numbers_answers_as_the_exact_type_check(name: str, values: list[Any]) -> None:
    _same(numbers(values), exact_numbers(values))
    _same(numbers(tuple(values)), exact_numbers(list(values)))  # a CSV column's tuple
    if values and not any(isinstance(v, (list, dict)) for v in values):
        as_objects = np.array(values + [None], dtype=object)  # an object array: tolist()
        _same(numbers(as_objects), exact_numbers(values + [None]))
    _same_booleans(values)


def _same_booleans(values: list[Any]) -> None:
    """booleans() decodes through numbers() for anything not plainly True/False/None."""
    exact = exact_numbers(values)
    got = booleans(values)
    if exact is None or not np.isin(exact[~np.isnan(exact)], (0.0, 1.0)).all():
        if not set(map(type, values)) <= {bool, type(None)}:
            assert got is None
        return
    np.testing.assert_array_equal(got, exact)


def test_what_it_decodes_and_what_it_leaves_to_pandas() -> None:
    """What users see: plain numbers decode; text, big ints and nested values are left to
    the pandas path (None) so its 400 message names the column."""
    np.testing.assert_array_equal(numbers([1, 2.5, True, None]), [1.0, 2.5, 1.0, NAN])
    np.testing.assert_array_equal(numbers([1e20, INF]), [1e20, INF])
    for refused in ([1.5, "2"], [2**63], [1.0, [2.0]], [[1.0], [2.0]], [{"a": 1}], [2**1100]):
        assert numbers(refused) is None, refused


def test_long_columns_agree() -> None:
    """A 10k-row column of mixed floats, ints and missing values, as JSON gives them."""
    rng = np.random.default_rng(0)
    floats = rng.normal(0, 1e6, 10_000).tolist()
    ints = rng.integers(-(2**62), 2**62, 10_000).tolist()
    mixed = [f if i % 3 else n for i, (f, n) in enumerate(zip(floats, ints, strict=True))]
    for values in (floats, ints, mixed, [*mixed[:-1], None], [*ints[:-1], 2**63]):
        _same(numbers(values), exact_numbers(values))
