"""Raw columns from tables (what ``predict`` and verification hand a runtime), and the
verification rows taken from a pandas or a partitioned (Dask) test split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from framework.errors import DataError
from framework.runtimes.columns import columns_as_sent, raw_columns
from framework.runtimes.verify import PROBE_BASE_ROWS, build_rows, verification_rows
from framework.signature import ColumnSignature, Signature, conform

SIGNATURE = Signature(
    (
        ColumnSignature("age", "numeric", "float64"),
        ColumnSignature("plan", "categorical", "object", ["basic", "pro"]),
        ColumnSignature("size", "categorical", "int64", [1, 2, 3]),
        ColumnSignature("active", "boolean", "bool"),
    )
)
FRAME = pd.DataFrame(
    {
        "age": [31, None, 47, 52],
        "plan": ["pro", "team", None, "basic"],
        "size": [1, 9, None, 3],
        "active": ["yes", None, "no", True],
        "ignored": ["x", "y", "z", "w"],
    }
)


def test_raw_columns_of_a_conformed_table() -> None:
    conformed, extra = conform(FRAME, SIGNATURE)
    columns = raw_columns(conformed, SIGNATURE)
    assert extra == ["ignored"] and list(columns) == ["age", "plan", "size", "active"]
    assert columns["age"].dtype == np.float64
    np.testing.assert_array_equal(columns["age"], [31.0, np.nan, 47.0, 52.0])
    # unseen ("team", 9) is missing after conform, as natively
    assert columns["plan"].tolist() == ["pro", None, None, "basic"]
    assert columns["size"].tolist() == [1, None, None, 3]
    assert type(columns["size"][0]) is int  # the training category, not a NumPy scalar
    np.testing.assert_array_equal(columns["active"], [1.0, np.nan, 0.0, 1.0])


def test_columns_as_sent_keep_unseen_values_and_refuse_what_conform_refuses() -> None:
    columns = columns_as_sent(FRAME, SIGNATURE)
    assert columns["plan"].tolist() == ["pro", "team", None, "basic"]
    assert columns["size"].tolist() == [1.0, 9.0, None, 3.0]
    np.testing.assert_array_equal(columns["active"], [1.0, np.nan, 0.0, 1.0])
    with pytest.raises(DataError, match="column 'age' must be numeric"):
        columns_as_sent(FRAME.assign(age=["old", 1, 2, 3]), SIGNATURE)


def test_probe_rows_cover_each_column_missing_and_each_category_unseen() -> None:
    rows = build_rows(FRAME, SIGNATURE)
    # 4 columns missing, plan unseen (text), size unseen (text and number), all missing
    probes = 4 + 1 + 2 + 1
    assert rows.tested == 4 and rows.count == 4 + probes * min(4, PROBE_BASE_ROWS)
    described = set(rows.probes)
    assert "column 'plan' = '__specops_unseen__', unseen" in described
    assert "column 'size' = 4, unseen" in described
    assert "every column missing" in described
    at = rows.tested + rows.probes.index("column 'age' missing")
    assert np.isnan(rows.columns["age"][at]) and rows.columns["plan"][at] == "pro"
    assert all(len(values) == rows.count for values in rows.columns.values())


def test_verification_rows_from_pandas_and_from_a_partitioned_frame() -> None:
    import dask.dataframe as dd

    frame = pd.DataFrame({"x": np.arange(50.0)}, index=np.arange(100, 150))
    head = verification_rows(frame, limit=20)
    assert head is not None and head["x"].tolist() == list(np.arange(20.0))
    assert list(head.index) == list(range(20))
    # a split leaves empty partitions: rows come from the first non-empty ones
    partitioned = dd.from_pandas(frame, npartitions=5)
    partitioned = partitioned[partitioned["x"] >= 15]
    rows = verification_rows(partitioned, limit=12)
    assert rows is not None and rows["x"].tolist() == list(np.arange(15.0, 27.0))
    assert verification_rows(frame.iloc[:0]) is None
    assert verification_rows(object()) is None


@pytest.mark.parametrize(
    "categories",
    [["basic", "pro", "1", "True", "2.5"], [1, 2, 3], [1.5, 2.5], [True, False], []],
)
def test_category_coder_codes_as_the_native_path_does(categories: list) -> None:
    from framework import category_coder
    from framework.signature import as_training_categories

    values = [
        "basic", "pro", "team", "", None, np.nan, pd.NA, 1, 1.0, "1", True, "True", 2.5,
        "2.5", 3, np.int64(2), np.float64(1.5), "  pro",
    ]  # fmt: skip
    coder = category_coder(categories)
    native = as_training_categories(pd.Series(values, dtype=object), categories).codes
    for rows in (values, values * 20):  # the lookup path and the vectorised one
        array = np.empty(len(rows), dtype=object)
        array[:] = rows
        expected = np.tile(native, len(rows) // len(values))
        np.testing.assert_array_equal(coder(array), expected)
    for value in values:  # one row at a time, as a server codes a request
        one = np.empty(1, dtype=object)
        one[0] = value
        want = as_training_categories(pd.Series([value], dtype=object), categories).codes
        assert coder(one).tolist() == list(want), (value, categories)


def test_probe_rows_stay_bounded_for_a_wide_table() -> None:
    from framework.runtimes.verify import MAX_PROBE_ROWS

    names = [f"c{i}" for i in range(3000)]
    signature = Signature(tuple(ColumnSignature(n, "numeric", "float64") for n in names))
    frame = pd.DataFrame(np.ones((5, len(names))), columns=names)
    rows = build_rows(frame, signature)
    assert rows.count - rows.tested <= MAX_PROBE_ROWS
    assert rows.probes[-1] == "every column missing"
    # every column is still missing in some probe row
    probes = {name: values[rows.tested :] for name, values in rows.columns.items()}
    assert all(np.isnan(values[:-1]).any() for values in probes.values())
    assert "column 'c0' missing; column 'c1' missing" in rows.probes[0]
