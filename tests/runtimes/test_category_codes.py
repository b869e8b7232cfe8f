"""Long category columns are coded through ``pd.factorize``: the same codes as the dict.

The numpy transform codes a categorical column by a dict lookup per value; from
``FACTORIZE_ROWS`` values on it asks the dict once per distinct value instead. Every code
(NaN for missing and unseen) must be the same as the per-value lookup's, and the same as
the native coding (framework's ``category_coder``), whatever the values' types.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from framework import category_coder
from plugins.runtimes.numpy_transform import FACTORIZE_ROWS, _fast_lookup, category_codes

NAN = float("nan")
TEXT = ["basic", "plus", "pro", "team"]
NUMBERS = [1, 2, 3.5, 2**60 + 1, -7]
SMALL = [1, 2, -7, 5, 2**53 - 1]

CASES: list[tuple[str, list[Any], list[Any]]] = [
    ("text, None and unseen", TEXT, ["pro", None, "plus", "never-seen", "basic", "team", ""]),
    ("text, all missing", TEXT, [None]),
    ("text, all unseen", TEXT, ["x", "y", "PRO"]),
    ("numbers: ints, floats, 1.0 for 1", NUMBERS, [1, 1.0, 2, 3.5, -7, -7.0, None, NAN]),
    ("numbers: near 2**60 and unseen", NUMBERS, [2**60 + 1, 2.0**60, 2**60, 4, 0.0, -0.0]),
    ("big ints against categories below 2**53", SMALL, [2**53 + 1, 2**53, 2**63, -(2**60), 5]),
    ("text categories sent as numbers", TEXT, ["pro", 1, 2.5, None]),  # the native coder
    ("number categories sent as text", NUMBERS, [1, "1", "3.5", None]),  # the native coder
    ("booleans among numbers", NUMBERS, [1, True, False, 2]),  # the native coder
]


def _long(values: list[Any], rows: int) -> list[Any]:
    return [values[i % len(values)] for i in range(rows)]


@pytest.mark.parametrize(("name", "categories", "values"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("as_array", [False, True], ids=["list", "object-array"])
def test_long_columns_code_as_the_per_value_lookup(
    name: str, categories: list[Any], values: list[Any], as_array: bool
) -> None:
    lookup = _fast_lookup(categories)
    coder = category_coder(categories)
    rows = FACTORIZE_ROWS * 3 + 7
    long = _long(values, rows)
    sent: Any = np.array(long, dtype=object) if as_array else long

    got = category_codes(sent, lookup, coder)

    # the per-value path: the same values in pieces below FACTORIZE_ROWS
    step = FACTORIZE_ROWS - 1
    pieces = [
        category_codes(sent[start : start + step], lookup, coder) for start in range(0, rows, step)
    ]
    assert got.dtype == np.float64 and got.shape == (rows,)
    np.testing.assert_array_equal(got, np.concatenate(pieces))
    # and the native coding (framework's category_coder: -1 is missing or unseen)
    native = coder(np.array(long, dtype=object)).astype("float64")
    native[native < 0] = NAN
    np.testing.assert_array_equal(got, native)


def test_what_users_get_for_a_long_text_column() -> None:
    lookup = _fast_lookup(TEXT)
    values = ["team", None, "unseen", "basic"] * FACTORIZE_ROWS
    got = category_codes(values, lookup, category_coder(TEXT))
    np.testing.assert_array_equal(got[:4], [3.0, NAN, NAN, 0.0])
    assert np.isnan(got).sum() == 2 * FACTORIZE_ROWS
