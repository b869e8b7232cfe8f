"""The built-in metrics against values worked out by hand on tiny arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from framework import Metric
from plugins import metrics
from tests.helpers import heavy_imports

BINARY_TRUE = np.array([0, 1, 1, 0, 1])
BINARY_PRED = np.array([0, 1, 0, 0, 1])
BINARY_SCORE = np.array([0.1, 0.9, 0.3, 0.35, 0.8])  # one positive (0.3) ranked below a negative

MULTI_TRUE = np.array([0, 1, 2, 2])
MULTI_PRED = np.array([0, 2, 2, 2])
MULTI_SCORE = np.array([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.2, 0.2, 0.6]])

REG_TRUE = np.array([3.0, 0.5, 2.0, 7.0])
REG_PRED = np.array([2.5, 0.0, 2.0, 8.0])


def registered() -> dict[str, tuple[Any, Any]]:
    found: dict[str, tuple[Any, Any]] = {}

    def register(
        type_name: str, factory: Any, params_schema: Any = None, *, summary: str = ""
    ) -> None:
        assert summary and type_name not in found
        found[type_name] = (factory, params_schema)

    metrics.specops_register_metrics(register)
    return found


def compute(name: str, y_true: Any, y_pred: Any, y_score: Any = None) -> float:
    return registered()[name][0]().compute(y_true, y_pred, y_score)


def pairwise_auc(is_positive: np.ndarray, score: np.ndarray) -> float:
    """Share of (positive, negative) pairs ranked correctly: ROC AUC by definition."""
    higher = score[is_positive][:, None] > score[~is_positive][None, :]
    return float(higher.mean())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("accuracy", 4 / 5),
        ("balanced_accuracy", (1.0 + 2 / 3) / 2),
        ("precision", 2 / 2),
        ("recall", 2 / 3),
        ("f1", 2 * 1.0 * (2 / 3) / (1.0 + 2 / 3)),
        ("roc_auc", 5 / 6),
        ("average_precision", (1 / 1 + 2 / 2 + 3 / 4) / 3),
        ("log_loss", -np.mean(np.log([0.9, 0.9, 0.3, 0.65, 0.8]))),
    ],
)
def test_binary_metric_matches_hand_computed_value(name: str, expected: float) -> None:
    assert compute(name, BINARY_TRUE, BINARY_PRED, BINARY_SCORE) == pytest.approx(expected)


def test_binary_scores_may_also_arrive_as_two_columns() -> None:
    two_columns = np.column_stack([1 - BINARY_SCORE, BINARY_SCORE])

    for name in ("roc_auc", "log_loss", "average_precision"):
        assert compute(name, BINARY_TRUE, BINARY_PRED, two_columns) == pytest.approx(
            compute(name, BINARY_TRUE, BINARY_PRED, BINARY_SCORE)
        )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("accuracy", 3 / 4),
        ("balanced_accuracy", (1 + 0 + 1) / 3),
        ("recall", (1 + 0 + 1) / 3),
        ("precision", (1 + 0 + 2 / 3) / 3),  # class 1 never predicted: counts as 0
        ("f1", (1 + 0 + 0.8) / 3),
        ("log_loss", -np.mean(np.log([0.8, 0.3, 0.7, 0.6]))),
        (
            "roc_auc",
            np.mean([pairwise_auc(np.equal(MULTI_TRUE, k), MULTI_SCORE[:, k]) for k in range(3)]),
        ),
    ],
)
def test_multiclass_metric_is_the_macro_mean(name: str, expected: float) -> None:
    assert compute(name, MULTI_TRUE, MULTI_PRED, MULTI_SCORE) == pytest.approx(expected)


def test_multiclass_average_precision_is_the_mean_over_one_vs_rest() -> None:
    per_class = [
        compute(
            "average_precision", np.equal(MULTI_TRUE, k).astype(int), MULTI_PRED, MULTI_SCORE[:, k]
        )
        for k in range(3)
    ]

    assert compute("average_precision", MULTI_TRUE, MULTI_PRED, MULTI_SCORE) == pytest.approx(
        np.mean(per_class)
    )


def test_log_loss_counts_classes_absent_from_the_test_split() -> None:
    y_true = np.array([0, 0, 2])
    scores = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])

    value = compute("log_loss", y_true, scores.argmax(axis=1), scores)

    assert value == pytest.approx(-np.mean(np.log([0.7, 0.6, 0.8])))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mae", (0.5 + 0.5 + 0 + 1) / 4),
        ("rmse", math.sqrt((0.25 + 0.25 + 0 + 1) / 4)),
        ("r2", 1 - 1.5 / np.sum((REG_TRUE - REG_TRUE.mean()) ** 2)),
        ("mape", (0.5 / 3 + 0.5 / 0.5 + 0 + 1 / 7) / 4),
    ],
)
def test_regression_metric_matches_hand_computed_value(name: str, expected: float) -> None:
    assert compute(name, REG_TRUE, REG_PRED) == pytest.approx(expected)


def test_probability_metric_without_scores_says_what_it_needs() -> None:
    with pytest.raises(ValueError, match="'roc_auc' needs predicted probabilities"):
        compute("roc_auc", BINARY_TRUE, BINARY_PRED, None)


DIRECTION_AND_BOUNDS = {
    "accuracy": (True, (0.0, 1.0)),
    "balanced_accuracy": (True, (0.0, 1.0)),
    "f1": (True, (0.0, 1.0)),
    "precision": (True, (0.0, 1.0)),
    "recall": (True, (0.0, 1.0)),
    "roc_auc": (True, (0.0, 1.0)),
    "average_precision": (True, (0.0, 1.0)),
    "log_loss": (False, (0.0, None)),
    "rmse": (False, (0.0, None)),
    "mae": (False, (0.0, None)),
    "mape": (False, (0.0, None)),
    "r2": (True, (None, 1.0)),
}


def test_registers_every_metric_without_params() -> None:
    found = registered()

    assert set(found) == set(DIRECTION_AND_BOUNDS)
    assert all(schema is None for _, schema in found.values())
    assert all(isinstance(factory(), Metric) for factory, _ in found.values())


@pytest.mark.parametrize("name", sorted(DIRECTION_AND_BOUNDS))
def test_direction_and_bounds(name: str) -> None:
    metric = registered()[name][0]

    assert (metric.higher_is_better, metric.bounds) == DIRECTION_AND_BOUNDS[name]
    assert metric.tasks in (frozenset({"binary", "multiclass"}), frozenset({"regression"}))


def perfect_and_poor(task: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(y_true, y_pred, y_score) for a perfect model and a poor one, per task."""
    if task == "regression":
        return (REG_TRUE, REG_TRUE, None), (REG_TRUE, REG_TRUE[::-1] * 3, None)
    perfect_score = np.where(BINARY_TRUE == 1, 1.0, 0.0)
    poor_score = 1 - BINARY_SCORE
    return (
        (BINARY_TRUE, BINARY_TRUE, perfect_score),
        (BINARY_TRUE, 1 - BINARY_PRED, poor_score),
    )


@pytest.mark.parametrize("name", sorted(DIRECTION_AND_BOUNDS))
def test_perfect_predictions_reach_the_best_bound_and_beat_poor_ones(name: str) -> None:
    metric = registered()[name][0]
    task = "regression" if "regression" in metric.tasks else "binary"
    perfect_case, poor_case = perfect_and_poor(task)
    low, high = metric.bounds

    perfect, poor = metric().compute(*perfect_case), metric().compute(*poor_case)

    assert perfect == pytest.approx(high if metric.higher_is_better else low, abs=1e-9)
    assert (perfect > poor) if metric.higher_is_better else (perfect < poor)
    assert (low is None or poor >= low) and (high is None or poor <= high)


def test_importing_the_plugin_leaves_heavy_libraries_unimported() -> None:
    heavy = ("pandas", "numpy", "sklearn", "lightgbm")

    assert heavy_imports(["plugins.metrics"], heavy) == []
