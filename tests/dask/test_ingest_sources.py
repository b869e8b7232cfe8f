"""The built-in sources read lazily on Dask: the same table as their local ``load``.

Real files (a partitioned Parquet dataset, CSV globs, a SQLite table) read by the
shared LocalCluster; the local ``load`` of the same source is the reference.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import DataError, StepContext
from plugins.dask_execution import ingest as dask_ingest
from plugins.sources import CsvSource, ParquetSource, SqlSource

ROWS = 2_000
HAS_SQLALCHEMY = importlib.util.find_spec("sqlalchemy") is not None


@pytest.fixture
def ctx(tmp_path: Path) -> StepContext:
    return StepContext(spec_name="t", task="binary", target="churn", base_dir=tmp_path)


def _frame(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "age": rng.integers(18, 90, rows),
            "fee": rng.normal(1500, 300, rows).round(2),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "region": rng.choice(["north", "south"], rows),
            "churn": rng.choice([0, 1], rows),
        }
    )


def _same_table(local: pd.DataFrame, distributed: Any) -> None:
    """Same columns in the same order, same values (rows compared in id order)."""
    got = distributed.compute()
    assert list(got.columns) == list(local.columns)
    left = local.sort_values("id").reset_index(drop=True)
    right = got.sort_values("id").reset_index(drop=True)
    for name in local.columns:
        if isinstance(left[name].dtype, pd.CategoricalDtype) or left[name].dtype == "str":
            assert left[name].astype(str).tolist() == right[name].astype(str).tolist(), name
        else:
            assert str(right[name].dtype) == str(left[name].dtype), name
            np.testing.assert_array_equal(right[name].to_numpy(), left[name].to_numpy())


def test_parquet_hive_dataset_directory(dask_client: Any, ctx: StepContext, tmp_path: Path) -> None:
    _frame().to_parquet(tmp_path / "sales", partition_cols=["region"], index=False)
    source = ParquetSource(path="sales")
    local = source.load(ctx)
    ddf = source.load_distributed(ctx)
    assert "region" in ddf.columns  # the hive key is a column, as pyarrow reads it
    _same_table(local, ddf)
    assert source.partitions(ctx) == ddf.npartitions >= 2


def test_parquet_glob_and_chosen_columns(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    frame = _frame()
    (tmp_path / "parts").mkdir()
    for number, start in enumerate(range(0, ROWS, 500)):
        frame.iloc[start : start + 500].to_parquet(tmp_path / "parts" / f"p{number}.parquet")
    (tmp_path / "parts" / "_SUCCESS").write_text("")  # skipped, as pyarrow skips it
    source = ParquetSource(path="parts/p*.parquet", columns=["id", "fee", "churn"])
    assert source.validate(ctx) == []
    local = source.load(ctx)
    assert len(local) == ROWS and list(local.columns) == ["id", "fee", "churn"]
    ddf = source.load_distributed(ctx)
    assert ddf.npartitions == 4 == source.partitions(ctx)
    _same_table(local, ddf)


def test_parquet_misspelt_column_and_empty_glob(ctx: StepContext, tmp_path: Path) -> None:
    _frame().to_parquet(tmp_path / "one.parquet")
    with pytest.raises(DataError, match="did you mean 'churn'"):
        ParquetSource(path="one.parquet", columns=["chrun"]).load_distributed(ctx)
    [finding] = ParquetSource(path="nothing/*.parquet").validate(ctx)
    assert finding.key == "path" and "no data files match" in finding.message
    with pytest.raises(DataError, match="no data files match"):
        ParquetSource(path="nothing/*.parquet").load_distributed(ctx)


def test_csv_glob_with_decimal_commas_in_blocks(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    frame = _frame()
    for number, start in enumerate(range(0, ROWS, 1000)):
        frame.iloc[start : start + 1000].to_csv(
            tmp_path / f"part-{number}.csv", sep=";", decimal=",", index=False
        )
    source = CsvSource(path="part-*.csv", sep=";", decimal=",", blocksize=8_000)
    local = source.load(ctx)
    assert local["fee"].dtype == "float64" and len(local) == ROWS
    ddf = source.load_distributed(ctx)
    assert ddf.npartitions == source.partitions(ctx) > 2  # blocks, not just files
    _same_table(local, ddf)


def test_csv_column_whose_type_changes_later_names_the_fix(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    frame = _frame()
    frame["fee"] = frame["fee"].round().astype("Int64")
    frame.loc[ROWS - 5, "fee"] = pd.NA  # missing only near the end: a float column
    frame.to_csv(tmp_path / "data.csv", index=False)
    source = CsvSource(path="data.csv", blocksize=4_000)
    with pytest.raises(DataError) as caught:
        dask_ingest.ingest(
            source.load_distributed(ctx), source_type="csv", target="churn", task="binary"
        )
    assert "'fee'" in caught.value.message
    assert "dtypes: {fee: float64}" in (caught.value.hint or "")
    fixed = CsvSource(path="data.csv", blocksize=4_000, dtypes={"fee": "float64"})
    _same_table(fixed.load(ctx), fixed.load_distributed(ctx))


def test_csv_glob_files_with_other_headers_are_refused(ctx: StepContext, tmp_path: Path) -> None:
    frame = _frame(10)
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.rename(columns={"fee": "price"}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match=r"b\.csv has columns .*price"):
        CsvSource(path="*.csv").load(ctx)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        _frame().to_sql("customers", connection, index=False)
    return path


@pytest.mark.skipif(not HAS_SQLALCHEMY, reason="dask reads SQL through SQLAlchemy")
def test_sql_table_partitioned_on_an_index_column(
    dask_client: Any, ctx: StepContext, database: Path
) -> None:
    source = SqlSource(path="shop.db", table="customers", index_col="id", npartitions=4)
    local = source.load(ctx)
    ddf = source.load_distributed(ctx)
    assert ddf.npartitions == 4 == source.partitions(ctx)
    _same_table(local, ddf)


@pytest.mark.skipif(not HAS_SQLALCHEMY, reason="dask reads SQL through SQLAlchemy")
def test_sql_refuses_what_dask_cannot_partition(ctx: StepContext, database: Path) -> None:
    query = SqlSource(path="shop.db", query="SELECT * FROM customers")
    with pytest.raises(DataError, match="query cannot be used with execution: dask"):
        query.load_distributed(ctx)
    with pytest.raises(DataError, match="needs index_col"):
        SqlSource(path="shop.db", table="customers").load_distributed(ctx)
    with pytest.raises(DataError, match="did you mean 'id'"):
        SqlSource(path="shop.db", table="customers", index_col="idd").load_distributed(ctx)


def test_ingest_of_a_parquet_dataset_end_to_end(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    _frame().to_parquet(tmp_path / "sales", partition_cols=["region"], index=False)
    got = dask_ingest.ingest(
        ParquetSource(path="sales").load_distributed(ctx),
        source_type="parquet",
        target="churn",
        task="binary",
        exclude=["id"],
    )
    assert got.rows == ROWS and got.labels == [0, 1]
    assert [c.name for c in got.signature.columns] == ["age", "fee", "plan", "region"]
    assert [c.role for c in got.signature.columns] == [
        "numeric",
        "numeric",
        "categorical",
        "categorical",
    ]


def test_a_whole_number_beyond_64_bits_is_refused_by_row(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    rows = ["a,churn", *(f"{i},{i % 2}" for i in range(1000))]
    rows[901] = "123456789012345678901234567890,1"  # row 900 of the table
    (tmp_path / "huge.csv").write_text("\n".join(rows) + "\n")
    source = CsvSource(path="huge.csv", blocksize=1024, dtypes={"a": "str"})
    text = source.load_distributed(ctx)
    assert text.npartitions > 2
    meta = text._meta.assign(a=pd.Series([], dtype=object))
    with pytest.raises(DataError) as caught:
        dask_ingest.ingest(
            text.map_partitions(_ints, meta=meta),
            source_type="csv",
            target="churn",
            task="binary",
        )
    assert caught.value.message == (
        "source 'csv': column 'a' row 900 holds a whole number of 30 digits, "
        "too large for a 64-bit number"
    )


def _ints(part: pd.DataFrame) -> pd.DataFrame:
    """Text to Python ints, as pandas reads a column of whole numbers too big for int64."""
    return part.assign(a=part["a"].map(int).astype(object))


def test_csv_files_read_whole_when_blocks_cannot_be_cut(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    frame = _frame(300)
    frame["plan"] = frame["plan"] + "\nline two"  # a quoted field holding a line break
    frame.iloc[:150].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[150:].to_csv(tmp_path / "b.csv", index=False)
    whole = CsvSource(path="*.csv", blocksize=None)
    assert whole.partitions(ctx) == 2 == whole.load_distributed(ctx).npartitions
    _same_table(whole.load(ctx), whole.load_distributed(ctx))

    frame.iloc[:150].to_csv(tmp_path / "wide.tsv", index=False, encoding="utf-16")
    wide = CsvSource(path="wide.tsv", encoding="utf-16", blocksize=1024)
    assert wide.partitions(ctx) == 1 == wide.load_distributed(ctx).npartitions
    _same_table(wide.load(ctx), wide.load_distributed(ctx))
