"""Built-in metrics for ``gate:``, each a thin, vectorised call into ``sklearn.metrics``.

A metric is declared as data (:class:`MetricDefinition`: which scikit-learn
function, for which tasks, which direction and bounds, which options for binary
and multiclass) and :class:`SklearnMetric` computes any of them. Binary metrics
score class 1 as the positive class; multiclass ones take the unweighted (macro)
mean over classes, so a rare class counts as much as a common one.

A metric sees no task, only arrays: a 2-D ``y_score`` means multiclass, and
without scores more than two labels do. Probability metrics (``roc_auc``,
``log_loss``, ``average_precision``) read ``y_score``; the others ``y_pred``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from framework import hookimpl

if TYPE_CHECKING:
    import numpy as np

    from framework import Register

CLASSIFICATION = frozenset({"binary", "multiclass"})
REGRESSION = frozenset({"regression"})
UNIT = (0.0, 1.0)
NON_NEGATIVE = (0.0, None)

CLASSES = "<every class 0..k-1>"
"""An option value replaced by the list of class codes, so a class absent from
the test split still counts (log loss and multiclass ROC AUC need all of them)."""


@dataclass(frozen=True)
class MetricDefinition:
    """What a metric is: a ``sklearn.metrics`` function and how to call it."""

    name: str
    summary: str
    function: str
    tasks: frozenset[str]
    bounds: tuple[float | None, float | None] = UNIT
    higher_is_better: bool = True
    reads_scores: bool = False
    binary: Mapping[str, Any] = field(default_factory=dict)
    multiclass: Mapping[str, Any] = field(default_factory=dict)


class SklearnMetric:
    """Computes the metric its :class:`MetricDefinition` describes."""

    definition: ClassVar[MetricDefinition]
    tasks: ClassVar[frozenset[str]]
    higher_is_better: ClassVar[bool]
    bounds: ClassVar[tuple[float | None, float | None]]

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray, y_score: Any) -> float:
        import numpy as np
        import sklearn.metrics

        definition = self.definition
        function = getattr(sklearn.metrics, definition.function)
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        scores = positive_scores(y_score)
        if definition.tasks == REGRESSION:
            return float(function(y_true, y_pred))
        if definition.reads_scores and scores is None:
            raise ValueError(f"metric '{definition.name}' needs predicted probabilities")
        multiclass = is_multiclass(y_true, y_pred, scores)
        class_count = scores.shape[1] if multiclass and scores is not None else 2
        options = definition.multiclass if multiclass else definition.binary
        options = {
            key: list(range(class_count)) if value == CLASSES else value
            for key, value in options.items()
        }
        compared = scores if definition.reads_scores else y_pred
        return float(function(y_true, compared, **options))


def positive_scores(y_score: Any) -> np.ndarray | None:
    """Scores as an array; a binary ``(n, 2)`` matrix becomes the class-1 column."""
    import numpy as np

    if y_score is None:
        return None
    scores = np.asarray(y_score, dtype=float)
    return scores[:, 1] if scores.ndim == 2 and scores.shape[1] == 2 else scores


def is_multiclass(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None) -> bool:
    if scores is not None:
        return scores.ndim == 2
    return int(max(y_true.max(), y_pred.max())) > 1


def _macro(**extra: Any) -> dict[str, Any]:
    return {"average": "macro", **extra}


def _label_metric(name: str, summary: str, function: str) -> MetricDefinition:
    """A metric of predicted labels that scores 0, not an error, when nothing is predicted
    positive (binary) or a class never is (multiclass, averaged over classes)."""
    return MetricDefinition(
        name,
        summary,
        function,
        CLASSIFICATION,
        binary={"zero_division": 0.0},
        multiclass=_macro(zero_division=0.0),
    )


def _error_metric(name: str, summary: str, function: str) -> MetricDefinition:
    """A regression error: never negative, and lower is better."""
    return MetricDefinition(
        name, summary, function, REGRESSION, bounds=NON_NEGATIVE, higher_is_better=False
    )


DEFINITIONS: tuple[MetricDefinition, ...] = (
    MetricDefinition("accuracy", "Share of correct predictions", "accuracy_score", CLASSIFICATION),
    MetricDefinition(
        "balanced_accuracy",
        "Mean recall over classes, robust to class imbalance",
        "balanced_accuracy_score",
        CLASSIFICATION,
    ),
    _label_metric("f1", "Harmonic mean of precision and recall (multiclass: macro)", "f1_score"),
    _label_metric(
        "precision",
        "Share of predicted positives that are positive (multiclass: macro)",
        "precision_score",
    ),
    _label_metric("recall", "Share of positives found (multiclass: macro)", "recall_score"),
    MetricDefinition(
        "roc_auc",
        "Area under the ROC curve (multiclass: one-vs-rest, macro)",
        "roc_auc_score",
        CLASSIFICATION,
        reads_scores=True,
        multiclass=_macro(multi_class="ovr", labels=CLASSES),
    ),
    MetricDefinition(
        "log_loss",
        "Cross-entropy of the predicted probabilities",
        "log_loss",
        CLASSIFICATION,
        bounds=NON_NEGATIVE,
        higher_is_better=False,
        reads_scores=True,
        binary={"labels": CLASSES},
        multiclass={"labels": CLASSES},
    ),
    MetricDefinition(
        "average_precision",
        "Area under the precision-recall curve (multiclass: one-vs-rest, macro)",
        "average_precision_score",
        CLASSIFICATION,
        reads_scores=True,
        multiclass=_macro(),
    ),
    _error_metric("rmse", "Root mean squared error", "root_mean_squared_error"),
    _error_metric("mae", "Mean absolute error", "mean_absolute_error"),
    MetricDefinition(
        "r2",
        "Coefficient of determination (1 is perfect, 0 predicts the mean)",
        "r2_score",
        REGRESSION,
        bounds=(None, 1.0),
    ),
    _error_metric(
        "mape",
        "Mean absolute percentage error, as a fraction (0.1 is 10%)",
        "mean_absolute_percentage_error",
    ),
)


def metric_class(definition: MetricDefinition) -> type[SklearnMetric]:
    """A class per metric, so ``tasks``, direction and bounds are readable before use."""
    class_name = "".join(part.title() for part in definition.name.split("_")) + "Metric"
    return type(
        class_name,
        (SklearnMetric,),
        {
            "__module__": __name__,
            "__doc__": definition.summary + ".",
            "definition": definition,
            "tasks": definition.tasks,
            "higher_is_better": definition.higher_is_better,
            "bounds": definition.bounds,
        },
    )


METRICS: dict[str, type[SklearnMetric]] = {
    definition.name: metric_class(definition) for definition in DEFINITIONS
}


@hookimpl
def specops_register_metrics(register: Register) -> None:
    """Register the built-in metrics; they take no params."""
    for name, metric in METRICS.items():
        register(name, metric, None, summary=metric.definition.summary)
