"""The reference profile computed on the cluster equals the local one on the same rows
(exactly, but for the floating-point order of mean and std), except the ECDF grid of
columns with more than 65,536 distinct values, whose points are Dask's approximate
quantiles: there the counts at the points are exact and the points within 0.002 in
rank of the local ones. The reload check compares a reloaded package's predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import StepContext
from framework.monitoring.profile import PROFILE_FILE, Profile, build_profile
from framework.package import ModelPackage, Predictions, write_package
from framework.plugins import load_plugins
from framework.signature import infer_signature
from plugins.dask_execution.evaluation import evaluate, first_rows
from plugins.dask_execution.profile import (
    EXACT_DISTINCT,
    build_profile_distributed,
    check_reload,
    profile_columns,
    write_profile_distributed,
)
from plugins.models.lightgbm_model import LightGBMModel

RANK_TOLERANCE = 0.002


def _frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 7, rows).astype(float)
    level[rng.random(rows) < 0.05] = np.nan
    spread = np.round(rng.normal(50, 10, rows), 1)  # ~700 distinct: exact from counts
    spread[:3] = [np.inf, -np.inf, np.nan]  # non-finite count as missing
    city = rng.choice(["Paris", "Lyon", "Nice", "Brest"], rows, p=[0.5, 0.3, 0.15, 0.05])
    city = pd.Series(city, dtype=object)
    city[rng.random(rows) < 0.1] = None
    return pd.DataFrame(
        {
            "level": level,
            "spread": spread,
            "flag": rng.random(rows) < 0.3,
            "city": city,
            "tier": pd.Categorical(rng.choice(["a", "b", "c"], rows), categories=["c", "b", "a"]),
        }
    )


ROLES = {
    "level": "numeric",
    "spread": "numeric",
    "flag": "numeric",
    "city": "categorical",
    "tier": "categorical",
}


def _same_exactly(local: dict[str, Any], mine: dict[str, Any]) -> None:
    for key in ("mean", "std"):
        if local.get(key) is not None:
            assert mine[key] == pytest.approx(local[key], rel=1e-9, abs=1e-12), key
    strip = {k: v for k, v in local.items() if k not in ("mean", "std")}
    assert {k: v for k, v in mine.items() if k not in ("mean", "std")} == strip


@pytest.mark.parametrize("partitions", [1, 4])
def test_columns_with_few_distinct_values_and_categories_are_exactly_the_local_profile(
    dask_client: Any, partitions: int
) -> None:
    import dask.dataframe as dd

    frame = _frame(5000)
    local = build_profile(
        frame, ROLES, Predictions(np.zeros(1, dtype=int), None, None), "regression", None
    )
    mine = profile_columns(dd.from_pandas(frame, npartitions=partitions), ROLES, "feature")
    assert list(mine) == list(ROLES)
    for name in ROLES:
        _same_exactly(local.columns[name].to_dict(), mine[name].to_dict())
    assert mine["level"].atoms and mine["city"].categories["Paris"] > 0


def test_a_continuous_column_has_exact_counts_at_grid_points_within_0_002_in_rank(
    dask_client: Any,
) -> None:
    import dask.dataframe as dd

    rows = EXACT_DISTINCT + 14_464  # 80,000: more distinct values than counted exactly
    rng = np.random.default_rng(3)
    values = rng.lognormal(size=rows)
    values[:50] = np.nan
    frame = pd.DataFrame({"x": values})
    local = build_profile(
        frame, {"x": "numeric"}, Predictions(np.zeros(1, dtype=int), None, None), "regression", None
    ).columns["x"]
    mine = profile_columns(dd.from_pandas(frame, npartitions=5), {"x": "numeric"}, "feature")["x"]

    assert (mine.count, mine.nulls, mine.min, mine.max) == (
        local.count,
        local.nulls,
        local.min,
        local.max,
    )
    assert mine.mean == pytest.approx(local.mean, rel=1e-9)
    assert mine.std == pytest.approx(local.std, rel=1e-9)
    assert mine.distinct > 20 and abs(mine.distinct - local.distinct) < 0.05 * local.distinct
    assert mine.atoms == {} and local.atoms == {}
    ordered = np.sort(values[np.isfinite(values)])
    n = len(ordered)
    grid = np.asarray(mine.grid)
    # the ECDF is exact at every grid point
    assert mine.le == np.searchsorted(ordered, grid, side="right").tolist()
    assert mine.lt == np.searchsorted(ordered, grid, side="left").tolist()
    # one point per level, as locally; each within 0.002 in rank of the local point
    # (measured: 0.0008 on normal, lognormal and exponential columns, 5 or 20 partitions)
    assert len(grid) == len(local.grid)
    ranks = np.searchsorted(ordered, grid) / n
    local_ranks = np.searchsorted(ordered, np.asarray(local.grid)) / n
    assert np.abs(ranks - local_ranks).max() <= RANK_TOLERANCE
    for level, value in mine.quantiles.items():
        assert abs(np.searchsorted(ordered, value) / n - float(level)) <= RANK_TOLERANCE
    assert sum(mine.bins["counts"]) == n
    edge_ranks = np.searchsorted(ordered, mine.bins["edges"][1:-1]) / n
    assert np.abs(edge_ranks - np.linspace(0.1, 0.9, 9)).max() <= RANK_TOLERANCE
    # what monitoring computes from it: KS of new data within 0.002 of the local reference's
    batch = np.sort(rng.lognormal(mean=0.05, size=5000))
    assert abs(mine.ks_distance(batch) - local.ks_distance(batch)) <= RANK_TOLERANCE


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_written_profile_has_todays_format_and_the_local_values(
    dask_client: Any, tmp_path: Path, task: str
) -> None:
    import dask.dataframe as dd

    frame = _frame(3000, seed=1)
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 3 if task == "multiclass" else 2, len(frame))
    target = codes.astype(float) + rng.normal(size=len(frame)) if task == "regression" else codes
    signature, features = infer_signature(frame, {})
    train, test = features.iloc[:2000], features.iloc[2000:]
    model = LightGBMModel(n_estimators=10)
    model.fit(train, target[:2000], StepContext("p", task, "t", Path(".")))
    labels = None if task == "regression" else ["no", "yes", "maybe"][: int(codes.max()) + 1]
    plugins = load_plugins()
    metrics = {
        name: m
        for name in plugins.registry.types("metric")
        if task in (m := plugins.build("metric", name)).tasks
    }
    x_test = dd.from_pandas(test, npartitions=3)
    predictions = evaluate(
        dask_client,
        model,
        None,
        x_test,
        dd.from_pandas(pd.Series(target[2000:], index=test.index), npartitions=3),
        task,
        len(labels or ()),
        metrics,
    )
    write_profile_distributed(
        tmp_path, dd.from_pandas(train, npartitions=4), signature, predictions, labels
    )
    written = json.loads((tmp_path / PROFILE_FILE).read_text())

    if task == "regression":
        local_predictions = Predictions(model.predict(test), None, None)
    else:
        proba = model.predict_proba(test)
        local_predictions = Predictions(proba.argmax(axis=1), None, proba)
    local_dir = tmp_path / "local"
    local_dir.mkdir()
    from framework.monitoring.profile import write_profile

    write_profile(local_dir, train, signature, local_predictions, task, labels)
    expected = json.loads((local_dir / PROFILE_FILE).read_text())
    assert {k: v for k, v in written.items() if k != "columns"} == {
        k: v for k, v in expected.items() if k != "columns"
    }
    assert [c["name"] for c in written["columns"]] == [c["name"] for c in expected["columns"]]
    for mine, local in zip(written["columns"], expected["columns"], strict=True):
        _same_exactly(local, mine)
    Profile.from_json((tmp_path / PROFILE_FILE).read_text())  # monitor reads it back


def test_reload_check_passes_for_a_faithful_package_and_names_a_lossy_one(
    dask_client: Any, tmp_path: Path
) -> None:
    import dask.dataframe as dd

    frame = _frame(1200, seed=4)
    signature, features = infer_signature(frame, {})
    target = (frame["spread"].fillna(0) > 50).to_numpy().astype(int)
    model = LightGBMModel(n_estimators=15)
    model.fit(features.iloc[:900], target[:900], StepContext("r", "binary", "t", Path(".")))
    package_dir = write_package(
        tmp_path / "package",
        model=model,
        transform=None,
        signature=signature,
        metadata={"name": "r", "task": "binary", "model_type": "lightgbm", "labels": [0, 1]},
    )
    x_test = dd.from_pandas(features.iloc[900:], npartitions=3)
    y_test = dd.from_pandas(pd.Series(target[900:], index=features.index[900:]), npartitions=3)
    plugins = load_plugins()
    predictions = evaluate(dask_client, model, None, x_test, y_test, "binary", 2, {})
    package = ModelPackage(package_dir, plugins)
    assert check_reload(package, first_rows(x_test, 100), predictions) is None

    other = LightGBMModel(n_estimators=2)  # a package that lost what predict uses
    other.fit(features.iloc[:900], 1 - target[:900], StepContext("r", "binary", "t", Path(".")))
    write_package(
        tmp_path / "lossy",
        model=other,
        transform=None,
        signature=signature,
        metadata={"name": "r", "task": "binary", "model_type": "lightgbm", "labels": [0, 1]},
    )
    lossy = ModelPackage(tmp_path / "lossy", plugins)
    problem = check_reload(lossy, first_rows(x_test, 100), predictions)
    assert problem and "predictions differ after save and load" in problem


def _late_rows(part: pd.DataFrame) -> pd.DataFrame:
    return part[part.index >= 2500]


def test_empty_partitions_after_a_split_change_nothing(dask_client: Any) -> None:
    import dask.dataframe as dd

    frame = _frame(3000, seed=6)
    _, features = infer_signature(frame, {})
    target = (frame["spread"].fillna(0) > 50).to_numpy().astype(int)
    model = LightGBMModel(n_estimators=10)
    model.fit(features.iloc[:2000], target[:2000], StepContext("p", "binary", "t", Path(".")))
    x = dd.from_pandas(features, npartitions=4).map_partitions(_late_rows)  # 3 of 4 empty
    y = dd.from_pandas(pd.Series(target, index=features.index), npartitions=4)
    predictions = evaluate(
        dask_client, model, None, x, y.map_partitions(_late_rows), "binary", 2, {}
    )
    assert predictions.rows[:3] == [0, 0, 0]
    mine = build_profile_distributed(x, dict(ROLES), predictions, [0, 1])
    rest = features.iloc[2500:]
    proba = model.predict_proba(rest)
    local = build_profile(
        rest, ROLES, Predictions(proba.argmax(axis=1), None, proba), "binary", [0, 1]
    )
    assert (mine.rows, mine.prediction_rows) == (local.rows, local.prediction_rows) == (500, 500)
    for name in [*ROLES, "prediction"]:
        _same_exactly(local.columns[name].to_dict(), mine.columns[name].to_dict())
