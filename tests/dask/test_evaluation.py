"""Evaluation on the cluster: the metrics are exactly the local path's on the same
model and rows, the model's outputs are checked as locally, and predictions stay on
the workers for the gate, the profile and the reload check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.preprocessing import StandardScaler

from framework import StepContext
from framework.plugins import load_plugins
from plugins.dask_execution.evaluation import evaluate, first_rows, head
from plugins.models.lightgbm_model import LightGBMModel

CASES = {
    "binary": load_breast_cancer,
    "multiclass": load_wine,
    "regression": load_diabetes,
}


def _metrics(task: str) -> dict[str, Any]:
    """Every built-in metric for the task, as the executor builds them."""
    plugins = load_plugins()
    built = {name: plugins.build("metric", name) for name in plugins.registry.types("metric")}
    return {name: metric for name, metric in built.items() if task in metric.tasks}


def _fitted(task: str) -> tuple[Any, Any, pd.DataFrame, np.ndarray]:
    data = CASES[task](as_frame=True)
    frame = data.data.reset_index(drop=True)
    target = data.target.to_numpy()
    test = np.random.default_rng(4).random(len(frame)) < 0.35
    pipeline = ColumnTransformer(
        [("scale", StandardScaler(), list(frame.columns))], verbose_feature_names_out=False
    ).set_output(transform="pandas")
    x_train = pipeline.fit_transform(frame[~test])
    model = LightGBMModel(n_estimators=25, min_child_samples=5)
    model.fit(x_train, target[~test], StepContext("e", task, "t", Path("."), seed=1))
    return model, pipeline, frame[test], target[test]


@pytest.mark.parametrize("task", sorted(CASES))
def test_metrics_are_exactly_the_local_ones(dask_client: Any, task: str) -> None:
    import dask.dataframe as dd

    model, pipeline, x_test, y_test = _fitted(task)
    metrics = _metrics(task)
    assert metrics
    classes = 0 if task == "regression" else int(y_test.max()) + 1
    result = evaluate(
        dask_client,
        model,
        pipeline,
        dd.from_pandas(x_test, npartitions=3),
        dd.from_pandas(pd.Series(y_test, index=x_test.index), npartitions=3),
        task,
        classes,
        metrics,
    )

    x = pipeline.transform(x_test)
    if task == "regression":
        y_pred, y_score = model.predict(x), None
    else:
        proba = model.predict_proba(x)
        y_pred = proba.argmax(axis=1)
        y_score = proba[:, 1] if task == "binary" else proba
    expected = {name: m.compute(y_test, y_pred, y_score) for name, m in metrics.items()}
    assert result.values == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert result.total == len(x_test)
    assert len(result.parts) == 3

    y_head, codes, proba_head = head(result, 100)
    np.testing.assert_array_equal(y_head, y_test[:100])
    np.testing.assert_allclose(codes, np.asarray(y_pred)[:100])
    if task != "regression":
        np.testing.assert_allclose(proba_head, model.predict_proba(x)[:100])


class _Broken:
    """A model whose probabilities do not sum to 1: a plugin bug."""

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return np.full((len(x), 2), 0.7)


def test_a_model_breaking_its_contract_is_named_on_the_client(dask_client: Any) -> None:
    import dask.dataframe as dd

    frame = pd.DataFrame({"a": np.arange(40.0)})
    target = pd.Series(np.arange(40) % 2)
    with pytest.raises(RuntimeError, match="predict_proba must return probabilities"):
        evaluate(
            dask_client,
            _Broken(),
            None,
            dd.from_pandas(frame, npartitions=2),
            dd.from_pandas(target, npartitions=2),
            "binary",
            2,
            _metrics("binary"),
            broken=RuntimeError,
        )


def test_empty_partitions_and_first_rows_come_from_the_first_non_empty_ones(
    dask_client: Any,
) -> None:
    import dask.dataframe as dd

    model, pipeline, x_test, y_test = _fitted("binary")
    x = dd.from_pandas(x_test.reset_index(drop=True), npartitions=4)
    y = dd.from_pandas(pd.Series(y_test), npartitions=4)
    late = len(x_test) // 2  # the first partitions end up empty, as after a split

    def drop_early(part: Any) -> Any:
        return part[part.index >= late]

    x, y = x.map_partitions(drop_early), y.map_partitions(drop_early)
    result = evaluate(dask_client, model, pipeline, x, y, "binary", 2, _metrics("binary"))
    assert result.rows[0] == 0
    assert result.total == len(x_test) - late
    rows = first_rows(x, 30)
    assert list(rows.index) == list(range(late, late + 30))
    y_head, _, proba = head(result, 30)
    np.testing.assert_array_equal(y_head, y_test[late : late + 30])
    np.testing.assert_allclose(
        proba, model.predict_proba(pipeline.transform(x_test.iloc[late : late + 30]))
    )


def test_a_class_absent_from_training_gives_the_metrics_what_they_get_locally(
    dask_client: Any,
) -> None:
    """The model scores the classes it saw (2 columns) while the data has 3 labels: the
    metrics get those columns, as locally, not a padded third."""
    import dask.dataframe as dd

    data = load_wine(as_frame=True)
    frame, target = data.data.reset_index(drop=True), data.target.to_numpy()
    seen = target < 2
    model = LightGBMModel(n_estimators=10, min_child_samples=5)
    model.fit(frame[seen], target[seen], StepContext("e", "multiclass", "t", Path(".")))
    metrics = _metrics("multiclass")
    proba = model.predict_proba(frame)
    assert proba.shape[1] == 2

    def run(chosen: dict[str, Any]) -> Any:
        return evaluate(
            dask_client,
            model,
            None,
            dd.from_pandas(frame, npartitions=3),
            dd.from_pandas(pd.Series(target), npartitions=3),
            "multiclass",
            3,
            chosen,
        )

    expected, refused = {}, {}
    for name, metric in metrics.items():
        try:
            expected[name] = metric.compute(target, proba.argmax(axis=1), proba)
        except ValueError as exc:  # this metric refuses such scores locally
            refused[name] = str(exc)
    assert expected and refused  # both cases are exercised
    result = run({name: metrics[name] for name in expected})
    assert result.classes == 2
    assert result.values == pytest.approx(expected, rel=1e-12)
    name, message = next(iter(refused.items()))
    with pytest.raises(ValueError, match=re.escape(message)):  # and on the worker too
        run({name: metrics[name]})
