"""The Dask ingest data plane against the local one: same verdicts, same words, same facts.

Every table here is a few thousand rows split into several partitions of the shared
LocalCluster, so row numbers in messages must be counted across partitions.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import DataError
from framework.execution.local import as_table, feature_frame, target_values
from framework.signature import infer_signature
from plugins.dask_execution import ingest as dask_ingest

dd = pytest.importorskip("dask.dataframe")

ROWS = 3_000


def _frame(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "fee": rng.normal(50, 10, rows).round(2),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "active": rng.choice([True, False], rows),
            "joined": pd.date_range("2020-01-01", periods=rows, freq="h"),
            "churn": rng.choice(["no", "yes"], rows),
        }
    )


def _spec(target: str = "churn", task: str = "binary", **kw: Any) -> SimpleNamespace:
    return SimpleNamespace(
        target=target,
        task=task,
        features=kw.get("features"),
        exclude=kw.get("exclude", []),
        source=SimpleNamespace(type="test"),
    )


def _local(frame: pd.DataFrame, spec: SimpleNamespace) -> dict[str, Any]:
    table = as_table(frame.copy(), "test")
    y, labels = target_values(table, spec)
    features, excluded = feature_frame(table, spec)
    signature, x = infer_signature(features, dict(spec.features or {}))
    return {"y": y, "labels": labels, "excluded": excluded, "signature": signature, "x": x}


def _distributed(frame: pd.DataFrame, spec: SimpleNamespace, partitions: int = 4) -> Any:
    ddf = dd.from_pandas(frame, npartitions=partitions)
    return dask_ingest.ingest(
        ddf,
        source_type="test",
        target=spec.target,
        task=spec.task,
        features=spec.features,
        exclude=spec.exclude,
    )


def _local_error(frame: pd.DataFrame, spec: SimpleNamespace) -> DataError:
    with pytest.raises(DataError) as caught:
        _local(frame, spec)
    return caught.value


def _dask_error(frame: pd.DataFrame, spec: SimpleNamespace, partitions: int = 4) -> DataError:
    with pytest.raises(DataError) as caught:
        _distributed(frame, spec, partitions)
    return caught.value


def _same_error(frame: pd.DataFrame, spec: SimpleNamespace, partitions: int = 4) -> str:
    local, distributed = _local_error(frame, spec), _dask_error(frame, spec, partitions)
    assert distributed.message == local.message
    assert distributed.hint == local.hint
    return distributed.message


# ---------------------------------------------------------------------------
# the facts of a good table
# ---------------------------------------------------------------------------


def test_labels_codes_features_and_signature_match_the_local_path(dask_client: Any) -> None:
    frame = _frame()
    spec = _spec()
    local = _local(frame, spec)
    got = _distributed(frame, spec)
    assert got.partitions == 4
    assert got.rows == ROWS
    assert got.columns == frame.shape[1]
    assert got.labels == local["labels"] == ["no", "yes"]
    assert got.excluded == local["excluded"] == ["joined"]
    assert got.features == ["age", "fee", "plan", "active"]
    np.testing.assert_array_equal(got.y.compute().to_numpy(), local["y"])
    assert [(c.name, c.role, c.dtype) for c in got.signature.columns] == [
        (c.name, c.role, c.dtype) for c in local["signature"].columns
    ]
    # categories are the split's to fill, from the training rows
    assert [c.categories for c in got.signature.columns if c.role == "categorical"] == [None]
    x = got.x.compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(
        x.astype({"plan": "str"}), local["x"].astype({"plan": "str"}), check_dtype=True
    )


def test_declared_roles_convert_values_like_the_local_path(dask_client: Any) -> None:
    frame = _frame()
    frame["score"] = frame["age"].astype(str)  # numbers written as text
    frame["member"] = np.where(frame["active"], "yes", "no")
    spec = _spec(
        features={"age": "categorical", "score": "numeric", "member": "boolean", "fee": "infer"}
    )
    local = _local(frame, spec)
    got = _distributed(frame, spec)
    assert [(c.name, c.role, c.dtype) for c in got.signature.columns] == [
        (c.name, c.role, c.dtype) for c in local["signature"].columns
    ]
    x = got.x.compute().reset_index(drop=True)
    for name in ("score", "member", "fee"):
        pd.testing.assert_series_equal(x[name], local["x"][name])


def test_multiclass_labels_are_sorted_whatever_the_partition_order(dask_client: Any) -> None:
    frame = _frame()
    frame["tier"] = np.random.default_rng(1).choice([3, 1, 2, 10], ROWS)
    spec = _spec(target="tier", task="multiclass")
    local = _local(frame, spec)
    got = _distributed(frame.iloc[::-1].reset_index(drop=True), spec, partitions=5)
    assert got.labels == local["labels"] == [1, 2, 3, 10]
    np.testing.assert_array_equal(got.y.compute().to_numpy(), local["y"][::-1])


def test_regression_target_is_float(dask_client: Any) -> None:
    frame = _frame()
    got = _distributed(frame, _spec(target="fee", task="regression"))
    assert got.labels is None
    assert str(got.y.dtype) == "float64"
    np.testing.assert_allclose(got.y.compute().to_numpy(), frame["fee"].to_numpy())


# ---------------------------------------------------------------------------
# the data hash
# ---------------------------------------------------------------------------


def test_data_hash_ignores_order_and_partitioning_but_not_content(dask_client: Any) -> None:
    frame = _frame()
    base = dask_ingest.data_hash(dd.from_pandas(frame, npartitions=3))
    shuffled = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    assert dask_ingest.data_hash(dd.from_pandas(shuffled, npartitions=7)) == base
    changed = frame.copy()
    changed.loc[1234, "fee"] += 0.01
    assert dask_ingest.data_hash(dd.from_pandas(changed, npartitions=3)) != base
    swapped = frame.copy()  # the same values under other column names
    swapped.columns = [*frame.columns[:-2], "churn", "joined"]
    assert dask_ingest.data_hash(dd.from_pandas(swapped, npartitions=3)) != base
    retyped = frame.astype({"age": "float64"})
    assert dask_ingest.data_hash(dd.from_pandas(retyped, npartitions=3)) != base
    duplicated = pd.concat([frame, frame.iloc[:1]], ignore_index=True)
    assert dask_ingest.data_hash(dd.from_pandas(duplicated, npartitions=3)) != base


def test_ingest_hash_and_row_count_agree_with_the_standalone_functions(dask_client: Any) -> None:
    frame = _frame()
    got = _distributed(frame, _spec())
    ddf = dd.from_pandas(frame, npartitions=2)
    assert got.data_hash == dask_ingest.data_hash(ddf)
    assert dask_ingest.row_count(ddf) == ROWS


# ---------------------------------------------------------------------------
# refusals: the local path's words
# ---------------------------------------------------------------------------


def test_missing_target_values_name_rows_across_partitions(dask_client: Any) -> None:
    frame = _frame()
    frame.loc[[5, 1500, 2100, 2101, 2200, 2999], "churn"] = None
    message = _same_error(frame, _spec())
    assert message == "target 'churn' has 6 missing value(s) (rows 5, 1500, 2100, 2101, 2200)"


def test_single_class_and_binary_with_three_classes(dask_client: Any) -> None:
    frame = _frame()
    frame["churn"] = "no"
    assert "has a single class ('no')" in _same_error(frame, _spec())
    frame["churn"] = np.random.default_rng(0).choice(["a", "b", "c"], ROWS)
    assert _same_error(frame, _spec()) == "target 'churn' has 3 classes but the task is binary"


def test_too_many_classes(dask_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECOPS_MAX_CLASSES", "5")
    frame = _frame()
    frame["code"] = np.arange(ROWS) % 40
    message = _same_error(frame, _spec(target="code", task="multiclass"))
    assert message == "target 'code' has 40 classes, more than the limit of 5"


def test_target_and_feature_columns_that_are_not_there(dask_client: Any) -> None:
    frame = _frame()
    assert "did you mean 'churn'" in _same_error(frame, _spec(target="chrun"))
    assert _same_error(frame, _spec(features={"agee": "infer"})).startswith(
        "feature column 'agee' is not in the data"
    )
    assert _same_error(frame, _spec(exclude=["feee"])).startswith(
        "excluded column 'feee' is not in the data"
    )


def test_bad_values_of_declared_roles_are_counted_over_the_whole_table(dask_client: Any) -> None:
    frame = _frame()
    frame["score"] = frame["age"].astype(str)
    frame.loc[[10, 1700, 2800], "score"] = ["n/a", "?", "x"]
    message = _same_error(frame, _spec(features={"score": "numeric", "fee": "infer"}))
    assert message == (
        "column 'score' is declared numeric but has 3 non-numeric value(s): "
        "'n/a', '?', 'x' (rows 10, 1700, 2800)"
    )
    frame["member"] = np.where(frame["active"], "yes", "no")
    frame.loc[2999, "member"] = "maybe"
    message = _same_error(frame, _spec(features={"member": "boolean"}))
    assert message.endswith("has 1 other value(s): 'maybe' (rows 2999)")


def test_regression_target_with_text(dask_client: Any) -> None:
    frame = _frame()
    frame["price"] = frame["fee"].astype(str)
    frame.loc[2500, "price"] = "free"
    message = _same_error(frame, _spec(target="price", task="regression"))
    assert message.endswith("1 non-numeric value(s): 'free' (rows 2500)")


def test_mostly_numeric_text_is_refused(dask_client: Any) -> None:
    frame = _frame()
    frame["score"] = frame["age"].astype(str)
    frame.loc[3, "score"] = "unknown"
    assert "looks numeric" in _same_error(frame, _spec())


def test_unusable_and_empty_tables(dask_client: Any, tmp_path: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def written(**columns: Any) -> pd.DataFrame:
        frame = _frame(400)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for name, values in columns.items():
            table = table.append_column(name, values)
        folder = tmp_path / name
        folder.mkdir()
        for part in range(4):  # a dataset of four files: four partitions
            pq.write_table(table.slice(part * 100, 100), folder / f"part-{part}.parquet")
        return folder

    blobs = written(blob=pa.array([b"\x00\x01"] * 400))
    local = _local_error(pd.read_parquet(blobs), _spec())
    got = _dask_error_of(dd.read_parquet(blobs), _spec())
    assert (
        got.message
        == local.message
        == ("source 'test' returned column 'blob' of binary values (blobs)")
    )
    nested = written(nested=pa.array([{"a": i} for i in range(400)]))
    local = _local_error(pd.read_parquet(nested), _spec())
    got = _dask_error_of(dd.read_parquet(nested), _spec())
    assert got.message == local.message
    assert "column 'nested' of nested values (dict)" in got.message
    empty = _frame(0)
    assert _same_error(empty, _spec(), partitions=1) == (
        "source 'test' returned no rows: the dataset is empty"
    )


def _dask_error_of(ddf: Any, spec: SimpleNamespace) -> DataError:
    with pytest.raises(DataError) as caught:
        dask_ingest.ingest(ddf, source_type="test", target=spec.target, task=spec.task)
    return caught.value


def test_something_else_than_a_dask_frame_is_refused() -> None:
    with pytest.raises(DataError, match="not a dask DataFrame"):
        dask_ingest.as_table(pd.DataFrame({"a": [1]}), "test")


def test_a_source_returning_no_dask_frame_is_its_plugins_bug() -> None:
    from framework.errors import PluginFault
    from framework.plugins import get_plugins

    with pytest.raises(PluginFault) as caught:
        dask_ingest.ingest(
            pd.DataFrame({"a": [1]}),
            source_type="csv",
            target="a",
            task="binary",
            plugins=get_plugins(),
        )
    assert "load_distributed returned DataFrame, not a dask DataFrame" in str(caught.value)
    assert "source 'csv'" in str(caught.value)
