"""Files that disagree with each other on Dask: exit 2 naming the file, never "a bug in plugin".

Dask takes a table's columns and dtypes from its first file (or first rows) and reads every
other file as it is. A Parquet file lacking a column failed on a worker ("not in index", exit
3); text where the first file has numbers reached LightGBM (exit 3, blaming it); a CSV file
renaming a column failed at the split; a SQL value that does not fit its column's type failed
in Dask's cast. Each is now a DataError naming the file (or the column), before training.
Real files, the shared LocalCluster.
"""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import DataError, StepContext
from plugins.dask_execution import ingest as dask_ingest
from plugins.sources import CsvSource, ParquetSource, SqlSource

ROWS = 300


@pytest.fixture
def ctx(tmp_path: Path) -> StepContext:
    return StepContext(spec_name="t", task="binary", target="churn", base_dir=tmp_path)


def _frame(start: int = 0, rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    return pd.DataFrame(
        {
            "id": np.arange(start, start + rows),
            "calls": rng.integers(0, 9, rows),
            "fee": rng.normal(50, 9, rows).round(2),
            "plan": rng.choice(["basic", "pro"], rows),
            "churn": rng.choice([0, 1], rows),
        }
    )


def _parts(directory: Path, frames: list[pd.DataFrame]) -> Path:
    directory.mkdir()
    for number, frame in enumerate(frames):
        frame.to_parquet(directory / f"part-{number}.parquet", index=False)
    return directory


def _ingest(ddf: Any, source_type: str) -> Any:
    return dask_ingest.ingest(ddf, source_type=source_type, target="churn", task="binary")


def test_a_parquet_file_lacking_a_column_is_named(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    _parts(
        tmp_path / "data",
        [_frame(0), _frame(ROWS), _frame(2 * ROWS).drop(columns=["calls"])],
    )
    with pytest.raises(DataError) as raised:
        ParquetSource(path="data").load_distributed(ctx)
    message = raised.value.message
    assert f"{tmp_path / 'data' / 'part-2.parquet'} lacks column(s) 'calls'" in message
    assert "part-0.parquet" in message  # the file it differs from
    # a file with a column more than the first is refused too
    _parts(tmp_path / "more", [_frame(0), _frame(ROWS).assign(extra=1.0)])
    with pytest.raises(DataError, match=r"part-1.parquet has column\(s\) 'extra'"):
        ParquetSource(path="more").load_distributed(ctx)
    # reading only the shared columns is fine
    ddf = ParquetSource(path="more", columns=["id", "fee", "churn"]).load_distributed(ctx)
    assert len(ddf.compute()) == 2 * ROWS


def test_a_parquet_column_holding_text_in_one_file_is_named(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    drifted = _frame(ROWS)
    drifted["calls"] = drifted["calls"].astype(str) + "x"
    _parts(tmp_path / "data", [_frame(0), drifted])
    with pytest.raises(DataError) as raised:
        ParquetSource(path="data/*.parquet").load_distributed(ctx)
    assert raised.value.message.startswith(
        f"Parquet file {tmp_path / 'data' / 'part-1.parquet'} stores column 'calls' as "
    )
    assert "(text) where the first file" in raised.value.message
    assert "(number)" in raised.value.message


def test_number_widths_and_a_null_column_agree_and_read_as_one_dtype(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    """int in one file, float in another, all-null in a third: numbers all, as pyarrow
    combines them; read as float64 in every partition (the model takes them)."""
    as_float = _frame(ROWS).astype({"calls": "float64"})
    empty = _frame(2 * ROWS)
    empty["calls"] = None  # Parquet type null
    _parts(tmp_path / "data", [_frame(0), as_float, empty])
    ddf = ParquetSource(path="data").load_distributed(ctx)
    assert str(ddf.dtypes["calls"]) == "float64"
    parts = [ddf.get_partition(n).compute() for n in range(ddf.npartitions)]
    assert {str(p["calls"].dtype) for p in parts} == {"float64"}
    ingested = _ingest(ddf, "parquet")
    assert ingested.rows == 3 * ROWS


def test_a_csv_file_renaming_a_column_is_named(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    (tmp_path / "csv").mkdir()
    _frame(0).to_csv(tmp_path / "csv" / "p0.csv", index=False)
    _frame(ROWS).rename(columns={"calls": "support"}).to_csv(
        tmp_path / "csv" / "p1.csv", index=False
    )
    with pytest.raises(DataError) as raised:
        CsvSource(path="csv/*.csv").load_distributed(ctx)
    message = raised.value.message
    assert (
        f"{tmp_path / 'csv' / 'p1.csv'} has other columns than the first file "
        f"{tmp_path / 'csv' / 'p0.csv'} (lacks 'calls'; has 'support')"
    ) in message


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("sqlalchemy") is None, reason="needs SQLAlchemy"
)
def test_a_sql_value_that_does_not_fit_its_column_type_names_the_column(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    frame = _frame(0, 1000)
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, calls INTEGER, fee REAL, plan TEXT, "
            "churn INTEGER)"
        )
        db.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", frame.values.tolist())
        db.execute("UPDATE t SET calls = 'many' WHERE id = 990")  # SQLite keeps the text
    source = SqlSource(path="db.sqlite", table="t", index_col="id", npartitions=4)
    ddf = source.load_distributed(ctx)
    with pytest.raises(DataError) as raised:
        _ingest(ddf, "sql")
    message = raised.value.message
    assert message.startswith("source 'sql': column 'calls' holds a value that does not fit")
    assert "'many'" in message


def test_a_partition_unlike_the_metadata_is_refused_on_the_worker(dask_client: Any) -> None:
    """The backstop for any source: a partition whose columns or kinds of value differ
    from the table's metadata is named by its number, as a DataError."""
    import dask
    import dask.dataframe as dd

    first = _frame(0)
    renamed = _frame(ROWS).rename(columns={"calls": "support"})
    ddf = dd.from_delayed(
        [dask.delayed(lambda f: f)(first), dask.delayed(lambda f: f)(renamed)],
        meta=first.iloc[:0],
        verify_meta=False,
    )
    with pytest.raises(DataError, match=r"source 'custom': partition 1 lacks column\(s\) 'calls'"):
        _ingest(ddf, "custom")
    texty = _frame(ROWS).astype({"fee": str})
    ddf = dd.from_delayed(
        [dask.delayed(lambda f: f)(first), dask.delayed(lambda f: f)(texty)],
        meta=first.iloc[:0],
        verify_meta=False,
    )
    with pytest.raises(DataError, match=r"partition 1 holds column 'fee' as .* \(text\) where"):
        _ingest(ddf, "custom")


def test_run_on_a_parquet_dataset_with_a_missing_column_is_exit_2_naming_the_file(
    cli: Any, dask_address: str, tmp_path: Path
) -> None:
    _parts(tmp_path / "data", [_frame(0), _frame(ROWS).drop(columns=["fee"])])
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(f"""
            name: disagree
            task: binary
            execution: {{type: dask, params: {{address: '{dask_address}'}}}}
            data:
              source: {{type: parquet, params: {{path: data}}}}
              target: churn
              exclude: [id]
            model: {{type: lightgbm, params: {{n_estimators: 5}}}}
            """).lstrip()
    )
    result = cli("run", spec)
    assert result.code == 2, result.err
    assert "part-1.parquet lacks column(s) 'fee'" in result.err
    assert "bug" not in result.err and "Traceback" not in result.err
    assert not (tmp_path / ".specops" / "artifacts").exists() or not any(
        (tmp_path / ".specops" / "artifacts").rglob("model*")
    )


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("sqlalchemy") is None, reason="needs SQLAlchemy"
)
def test_a_sql_null_late_in_an_integer_column_says_how_to_read_it(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    frame = _frame(0, 1000)
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, calls INTEGER, fee REAL, plan TEXT, "
            "churn INTEGER)"
        )
        db.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", frame.values.tolist())
        db.execute("UPDATE t SET calls = NULL WHERE id = 990")
    source = SqlSource(path="db.sqlite", table="t", index_col="id", npartitions=4)
    with pytest.raises(DataError) as raised:
        _ingest(source.load_distributed(ctx), "sql")
    assert "column 'calls' holds a value that does not fit" in raised.value.message
    assert "CASTs it to REAL" in (raised.value.hint or "")


def test_the_backstop_takes_a_boolean_column_with_nulls_in_one_file(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    """pyarrow reads a boolean column holding nulls as object: still booleans, not a
    file that disagrees (the metadata's bool comes from the first file)."""
    first = _frame(0).assign(promo=True)
    second = _frame(ROWS).assign(promo=pd.Series([None] + [False] * (ROWS - 1), dtype=object))
    _parts(tmp_path / "data", [first, second])
    ddf = ParquetSource(path="data").load_distributed(ctx)
    assert str(ddf.dtypes["promo"]) == "bool"
    ingested = _ingest(ddf, "parquet")
    assert ingested.rows == 2 * ROWS
    promo = ingested.x["promo"].get_partition(1).compute()
    assert str(promo.dtype) == "float64" and promo.isna().sum() == 1  # the model takes it


def test_a_pandas_index_stored_in_one_file_only_is_not_a_disagreement(
    dask_client: Any, ctx: StepContext, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    _frame(0).to_parquet(tmp_path / "data" / "part-0.parquet")  # RangeIndex: metadata only
    second = _frame(ROWS)
    second[second["calls"] >= 0].set_axis(range(5, 5 + ROWS * 2, 2)).to_parquet(
        tmp_path / "data" / "part-1.parquet"
    )  # __index_level_0__ stored as a column
    ddf = ParquetSource(path="data", columns=["id", "fee", "churn"]).load_distributed(ctx)
    assert sorted(ddf.compute()["id"].tolist()) == list(range(2 * ROWS))
