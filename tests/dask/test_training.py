"""LightGBM trained on the cluster (``lightgbm.dask``) is as good as LightGBM trained
locally on the same rows, and is afterwards a plain local model.

Real data sets that ship with scikit-learn, the shared 2-worker LocalCluster, real
training on both sides; the tolerances are stated in each test (data-parallel LightGBM
finds its histogram bins from each worker's rows, so the trees differ slightly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, roc_auc_score

from framework import StepContext
from plugins.models.lightgbm_model import LightGBMModel
from plugins.models.sklearn_models import RandomForestModel, SklearnModel

PARAMS = {"n_estimators": 60, "num_leaves": 15, "learning_rate": 0.1}


def _context(task: str) -> StepContext:
    return StepContext("quality", task, "target", Path("."), seed=3)


def _halves(frame: pd.DataFrame, target: np.ndarray) -> tuple[Any, ...]:
    """A fixed 70/30 split (seeded), the same rows for both fits."""
    test = np.random.default_rng(11).random(len(frame)) < 0.3
    return frame[~test], target[~test], frame[test], target[test]


def _both(task: str, x_train: pd.DataFrame, y_train: np.ndarray, client: Any, **params: Any):
    import dask.dataframe as dd

    ctx = _context(task)
    local = LightGBMModel(**PARAMS, **params)
    local.fit(x_train, y_train, ctx)
    distributed = LightGBMModel(**PARAMS, **params)
    distributed.fit_distributed(
        dd.from_pandas(x_train, npartitions=4),
        dd.from_pandas(pd.Series(y_train, index=x_train.index, name="target"), npartitions=4),
        ctx,
        client,
    )
    return local, distributed


def test_binary_roc_auc_within_0_02_of_local_on_breast_cancer(dask_client: Any) -> None:
    data = load_breast_cancer(as_frame=True)
    x_train, y_train, x_test, y_test = _halves(data.data, data.target.to_numpy())
    local, distributed = _both("binary", x_train, y_train, dask_client)

    local_auc = roc_auc_score(y_test, local.predict_proba(x_test)[:, 1])
    dask_auc = roc_auc_score(y_test, distributed.predict_proba(x_test)[:, 1])
    assert local_auc > 0.95  # the comparison means something
    assert abs(dask_auc - local_auc) <= 0.02, (local_auc, dask_auc)
    assert distributed.predict_proba(x_test).shape == (len(x_test), 2)


def test_regression_rmse_within_5_percent_of_local_on_diabetes(dask_client: Any) -> None:
    data = load_diabetes(as_frame=True)
    x_train, y_train, x_test, y_test = _halves(data.data, data.target.to_numpy(dtype=float))
    local, distributed = _both("regression", x_train, y_train, dask_client)

    local_rmse = mean_squared_error(y_test, local.predict(x_test)) ** 0.5
    dask_rmse = mean_squared_error(y_test, distributed.predict(x_test)) ** 0.5
    baseline = float(np.std(y_test))  # predicting the mean
    assert local_rmse < 0.9 * baseline
    assert abs(dask_rmse - local_rmse) <= 0.05 * local_rmse, (local_rmse, dask_rmse)


def test_multiclass_accuracy_within_0_05_of_local_on_wine(dask_client: Any) -> None:
    data = load_wine(as_frame=True)
    x_train, y_train, x_test, y_test = _halves(data.data, data.target.to_numpy())
    local, distributed = _both("multiclass", x_train, y_train, dask_client, min_child_samples=5)

    proba = distributed.predict_proba(x_test)
    assert proba.shape == (len(x_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    local_accuracy = accuracy_score(y_test, local.predict(x_test))
    dask_accuracy = accuracy_score(y_test, distributed.predict(x_test))
    assert local_accuracy > 0.85
    assert abs(dask_accuracy - local_accuracy) <= 0.05, (local_accuracy, dask_accuracy)
    assert log_loss(y_test, proba, labels=[0, 1, 2]) < 0.5


def test_text_column_gets_one_category_code_per_value_on_every_partition(
    dask_client: Any, tmp_path: Path
) -> None:
    """A partition lacking a category must not shift the others' codes: the signal is
    entirely in a text column whose values are spread unevenly over the partitions."""
    import dask.dataframe as dd

    rng = np.random.default_rng(5)
    rows = 2000
    colour = np.where(np.arange(rows) < rows // 2, "red", rng.choice(["blue", "green"], rows))
    frame = pd.DataFrame({"colour": colour, "noise": rng.normal(size=rows)})
    target = (frame["colour"] == "green").astype("int64")
    model = LightGBMModel(n_estimators=20, min_child_samples=5)
    # the first two partitions hold only "red"; "blue" and "green" only the last two
    model.fit_distributed(
        dd.from_pandas(frame, npartitions=4, sort=False),
        dd.from_pandas(target, npartitions=4, sort=False),
        _context("binary"),
        dask_client,
    )
    model.save(tmp_path / "model")
    reloaded = LightGBMModel.load(tmp_path / "model")  # a plain local model from its files
    probe = pd.DataFrame({"colour": ["green", "blue", "red"], "noise": [0.0, 0.0, 0.0]})
    scores = reloaded.predict_proba(probe)[:, 1]
    assert scores[0] > 0.9 and scores[1] < 0.1 and scores[2] < 0.1, scores
    np.testing.assert_allclose(scores, model.predict_proba(probe)[:, 1])


def test_balanced_class_weight_uses_the_whole_split_counts(dask_client: Any) -> None:
    """``class_weight: balanced`` weighs the rare class up, as the local fit does."""
    import dask.dataframe as dd

    rng = np.random.default_rng(2)
    rows = 3000
    x = rng.normal(size=rows)
    target = ((x + rng.normal(scale=0.8, size=rows)) > 1.6).astype("int64")  # ~8 % positive
    frame = pd.DataFrame({"x": x})
    ctx = _context("binary")
    plain, balanced = (LightGBMModel(n_estimators=30, class_weight=cw) for cw in (None, "balanced"))
    for model in (plain, balanced):
        model.fit_distributed(
            dd.from_pandas(frame, npartitions=3),
            dd.from_pandas(pd.Series(target, name="target"), npartitions=3),
            ctx,
            dask_client,
        )
    local = LightGBMModel(n_estimators=30, class_weight="balanced")
    local.fit(frame, target, ctx)
    share = {
        name: float(model.predict(frame).mean())
        for name, model in (("plain", plain), ("balanced", balanced), ("local", local))
    }
    assert share["balanced"] > 2 * share["plain"], share
    assert abs(share["balanced"] - share["local"]) < 0.05, share


def test_empty_partitions_are_left_out_of_training(dask_client: Any) -> None:
    """A split leaves empty partitions; LightGBM's network must not get a rowless worker."""
    import dask.dataframe as dd

    data = load_breast_cancer(as_frame=True)
    frame = data.data.reset_index(drop=True)
    target = pd.Series(data.target.to_numpy(), name="target")
    x = dd.from_pandas(frame, npartitions=6)
    y = dd.from_pandas(target, npartitions=6)
    model = LightGBMModel(n_estimators=10)
    # only the first two partitions keep rows
    model.fit_distributed(
        x.map_partitions(_first_rows),
        y.map_partitions(_first_rows),
        _context("binary"),
        dask_client,
    )
    assert model.predict_proba(frame.iloc[:5]).shape == (5, 2)


def _first_rows(part: Any) -> Any:
    return part[part.index < 200]


def test_scikit_learn_models_cannot_train_distributed_and_say_what_to_use() -> None:
    assert not hasattr(RandomForestModel, "fit_distributed")
    assert not hasattr(SklearnModel, "fit_distributed")
    assert RandomForestModel.distributed_instead == "use type: lightgbm, or execution: local"
    assert hasattr(LightGBMModel, "fit_distributed")


@pytest.mark.parametrize("partitions", [1, 5])
def test_partition_count_does_not_change_what_is_learnt_much(
    dask_client: Any, partitions: int
) -> None:
    import dask.dataframe as dd

    data = load_breast_cancer(as_frame=True)
    x_train, y_train, x_test, y_test = _halves(data.data, data.target.to_numpy())
    model = LightGBMModel(**PARAMS)
    model.fit_distributed(
        dd.from_pandas(x_train, npartitions=partitions),
        dd.from_pandas(pd.Series(y_train, index=x_train.index), npartitions=partitions),
        _context("binary"),
        dask_client,
    )
    assert roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]) > 0.97
