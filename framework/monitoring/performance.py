"""The champion's performance on a labelled batch, held to ``monitor.performance``.

Labels usually arrive late and partly: rows without a label are left out (and
the note says how many). A label the model never saw in training cannot be
scored and is bad input, named with its rows' count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework.gate import MetricVerdict, judge
from framework.monitoring.batch import examples
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework.package import Predictions
    from framework.plugins import Plugins
    from framework.spec.model import Threshold
    from framework.training_rows import TrainingRows


@dataclass
class Performance:
    """Metric verdicts on the labelled rows, or why there are none."""

    label_column: str
    rows: int = 0
    verdicts: list[MetricVerdict] = field(default_factory=list)
    note: str = ""
    problem: str = ""  # bad input: the labels cannot be scored

    @property
    def failed(self) -> bool:
        return any(v.passed is False for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label_column": self.label_column,
            "rows": self.rows,
            "metrics": [v.to_dict() for v in self.verdicts],
            "note": self.note,
            "problem": self.problem,
            "failed": self.failed,
        }


@dataclass
class Labelled:
    """The batch's rows that have a label and that the champion did not train on, with
    its predictions for them: everything performance is computed from. Built from a
    frame by :func:`labelled_rows`, or per partition and put together on Dask."""

    label_column: str
    rows: int
    """Rows in the batch."""
    labelled: int
    """Rows with a label."""
    seen: int
    """Labelled rows the champion trained on (left out)."""
    target: pd.Series
    """The kept rows' labels, as the batch holds them."""
    codes: np.ndarray
    """The champion's predicted codes (or values) for the kept rows."""
    score: np.ndarray | None
    """What metrics take as ``y_score`` for the kept rows, or None."""


def score(
    frame: pd.DataFrame,
    column: str,
    predictions: Predictions,
    task: str,
    thresholds: tuple[Threshold, ...],
    recorded: dict[str, float],
    metric_names: list[str],
    plugins: Plugins,
    trained_on: TrainingRows | None = None,
) -> Performance:
    """Every metric of the task on the labelled rows, judged by the thresholds.

    Rows the champion trained on (``trained_on``, its fingerprints) are left out: its
    score on them says nothing about how it does on new data.
    """
    if column not in frame.columns:
        return missing_labels(column, [str(c) for c in frame.columns])
    part = labelled_rows(frame, column, predictions, task, trained_on)
    return judge_labelled(
        part, task, predictions.labels, thresholds, recorded, metric_names, plugins
    )


def missing_labels(column: str, names: list[str]) -> Performance:
    result = Performance(column)
    result.problem = f"label column '{column}' is not in the new data{did_you_mean(column, names)}"
    return result


def labelled_rows(
    frame: pd.DataFrame,
    column: str,
    predictions: Predictions,
    task: str,
    trained_on: TrainingRows | None = None,
) -> Labelled:
    """The rows of ``frame`` (which holds ``column``) to score the champion on."""
    target = frame[column]
    labelled = target.notna().to_numpy()
    seen = _in_training(frame, column, trained_on) & labelled
    keep = labelled & ~seen
    y_score = predictions.score(task)
    return Labelled(
        column,
        len(frame),
        int(labelled.sum()),
        int(seen.sum()),
        target[keep],
        predictions.codes[keep],
        None if y_score is None else y_score[keep],
    )


def judge_labelled(
    part: Labelled,
    task: str,
    labels: list[Any] | None,
    thresholds: tuple[Threshold, ...],
    recorded: dict[str, float],
    metric_names: list[str],
    plugins: Plugins,
) -> Performance:
    """The metrics on the kept rows, judged by the thresholds (``max_drop`` against the
    champion's metrics ``recorded`` at its registration)."""
    import numpy as np

    result = Performance(part.label_column)
    if part.seen:
        result.note = (
            f"{part.seen:,} of the {part.labelled:,} labelled rows were in the "
            "champion's training data: left out"
        )
    result.rows = part.labelled - part.seen
    if result.rows == 0:
        result.note = result.note or f"label column '{part.label_column}' has no values yet"
        result.note += ": performance not computed"
        return result
    if result.rows < part.rows:
        scored = f"scored on the {result.rows:,} of {part.rows:,} rows that have a label"
        result.note = "; ".join(filter(None, [scored, result.note]))
    y_true = _codes(part.target, task, labels, result)
    if y_true is None:
        return result
    codes, y_score = part.codes, part.score
    metrics, directions, skipped = {}, {}, []
    for name in metric_names:
        metric = plugins.build("metric", name)
        try:
            value = float(metric.compute(y_true, codes, y_score))
        except ValueError as exc:  # e.g. ROC AUC with a single class among the labels
            skipped.append(f"{name} ({exc})")
            continue
        if np.isfinite(value):
            metrics[name], directions[name] = value, bool(metric.higher_is_better)
    result.verdicts = judge(
        metrics, directions, thresholds, recorded or None, reference="{} at training"
    )
    if skipped:
        result.note = "; ".join(filter(None, [result.note, "not computed: " + ", ".join(skipped)]))
    return result


def _in_training(frame: pd.DataFrame, column: str, trained_on: TrainingRows | None) -> Any:
    """Which rows the champion trained on, the label column standing in for its target
    (the last of the hashed columns); all False when that cannot be told."""
    import numpy as np

    from framework.training_rows import TimeRows, row_hashes

    nothing = np.zeros(len(frame), dtype=bool)
    if isinstance(trained_on, TimeRows):  # a time split: the cutoff tells, not fingerprints
        return trained_on.in_frame(frame) if trained_on.column in frame.columns else nothing
    if trained_on is None or not trained_on.columns:
        return nothing
    *features, target = trained_on.columns
    if any(name not in frame.columns for name in features):
        return nothing
    view = frame[features].assign(**{target: frame[column]})
    return trained_on.contains(row_hashes(view, list(trained_on.columns)))


def _codes(
    target: pd.Series, task: str, labels: list[Any] | None, result: Performance
) -> Any | None:
    import numpy as np
    import pandas as pd

    if task == "regression":
        values = pd.to_numeric(target, errors="coerce")
        bad = values.isna()
        if bad.any():
            counts = {str(k): int(v) for k, v in target[bad].astype(str).value_counts().items()}
            result.problem = (
                f"label column '{result.label_column}' must be numeric; "
                f"not numbers: {examples(counts)}"
            )
            return None
        return values.to_numpy(dtype="float64")
    known = {str(label): code for code, label in enumerate(labels or [])}
    text = target.astype(str)
    unknown = ~text.isin(list(known))
    if unknown.any():
        counts = {str(k): int(v) for k, v in text[unknown].value_counts().items()}
        result.problem = (
            f"label column '{result.label_column}' has values the model never saw in training: "
            f"{examples(counts)}; it knows: {', '.join(known)}"
        )
        return None
    return text.map(known).to_numpy(dtype="int64") if len(text) else np.zeros(0, dtype="int64")
