"""The ``evaluate`` step on a Dask cluster: predictions on the workers, exact metrics.

Public functions (inputs are plain: dask collections, components, a Client)::

    evaluate(client, model, pipeline, x_test: dd.DataFrame, y_test: dd.Series, task: str,
             classes: int, metrics: dict[str, metric component],
             broken: Callable[[str], Exception] | None = None) -> TestPredictions
    head(predictions: TestPredictions, rows: int = 100) -> (y_true, codes, proba | None)
    first_rows(frame: dd.DataFrame, rows: int = 100) -> pd.DataFrame

Each test partition is transformed by the fitted scikit-learn pipeline and
predicted by the fitted model where it lies (both are shipped to every worker
once), and the model's outputs are checked there with the same contracts as the
local path (:mod:`framework.contracts`: probabilities' shape, range and sums;
regression values finite). A broken promise comes back as its message and is
raised on the client through ``broken(what)`` (the executor passes
``contract_broken(plugins, "model", type, what, step="evaluate")``).

Metrics are exact, not sketched: the partitions' ``(y_true, code, probabilities)``
are gathered on ONE worker, where the metric components compute on whole arrays as
they do locally. The client never holds the test split, only the metric values.
The predictions stay on the cluster (:class:`TestPredictions`, one pandas frame per
test partition, aligned with ``x_test``'s partitions) for the gate, the profile and
the reload check.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from distributed import Client, Future

TRUE, CODE = "y_true", "code"
"""Columns of a prediction frame: the test target (code or value) and the prediction
(class code, or the predicted value for regression); ``proba_0 .. proba_{k-1}`` follow
for classifiers."""


def proba_columns(classes: int) -> list[str]:
    """The names of the class-probability columns a prediction partition carries."""
    return [f"proba_{i}" for i in range(classes)]


@dataclass
class TestPredictions:
    """The candidate's predictions on its test split, kept on the workers."""

    parts: list[Future]
    """One pandas frame per test partition (columns :data:`TRUE`, :data:`CODE`, then
    the probabilities), in ``x_test``'s partition order."""
    rows: list[int]
    """Rows per partition (some may be 0: the split leaves empty partitions)."""
    task: str
    classes: int
    """Probability columns: the model's classes (0 for regression)."""
    values: dict[str, Any] = field(default_factory=dict)
    """Each metric's value as its component returned it (check with
    ``scope.checked_metrics``)."""

    @property
    def total(self) -> int:
        return sum(self.rows)


_NO_PLUGINS: Any = SimpleNamespace(registry=SimpleNamespace(find=lambda kind, type_name: None))
"""Stands in for the plugin host on a worker: contract checks there only need the
message; the client names the plugin (``broken``)."""


def contract_problem(values: np.ndarray, task: str, classes: int) -> str:
    """What is wrong with a model's outputs for one partition, by the local path's own
    checks (:func:`framework.contracts.probabilities` / ``regression_values``); ''."""
    from framework.execution import PluginFault, check_probabilities, check_regression_values

    try:
        if task == "regression":
            check_regression_values(_NO_PLUGINS, "model", values, len(values))
        else:
            check_probabilities(_NO_PLUGINS, "model", values, len(values), classes)
    except PluginFault as fault:
        return fault.error
    return ""


def predict_partition(
    features: pd.DataFrame, target: pd.Series, shipped: tuple[Any, Any], task: str, classes: int
) -> tuple[pd.DataFrame, str]:
    """One test partition's prediction frame and its contract problem ('' if none)."""
    import numpy as np
    import pandas as pd

    model, pipeline = shipped
    if len(features) == 0:  # no probability columns: concatenated, it adds none
        return pd.DataFrame({TRUE: np.zeros(0), CODE: np.zeros(0)}), ""
    x = pipeline.transform(features) if pipeline is not None else features
    y_true = target.to_numpy()
    if task == "regression":
        values = np.asarray(model.predict(x))
        problem = contract_problem(values, task, classes)
        if problem:
            return pd.DataFrame(columns=[TRUE, CODE]), problem
        return pd.DataFrame({TRUE: y_true, CODE: values.astype("float64")}), ""
    proba = np.asarray(model.predict_proba(x))
    problem = contract_problem(proba, task, classes)
    if problem:
        return pd.DataFrame(columns=[TRUE, CODE]), problem
    # as many columns as the model gives (fewer than the labels when the top classes
    # were absent from training): the metrics see what they see locally
    frame = pd.DataFrame(proba, columns=proba_columns(proba.shape[1]))
    frame.insert(0, CODE, proba.argmax(axis=1))
    frame.insert(0, TRUE, y_true)
    return frame, ""


def arrays(parts: list[pd.DataFrame], task: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """``(y_true, y_pred, y_score)`` as the metrics take them, from prediction frames."""
    import pandas as pd

    frame = pd.concat(parts, ignore_index=True)
    if task == "regression":
        return frame[TRUE].to_numpy(dtype="float64"), frame[CODE].to_numpy(dtype="float64"), None
    proba = frame[[c for c in frame.columns if c.startswith("proba_")]].to_numpy(dtype="float64")
    y_true = frame[TRUE].to_numpy().astype("int64")
    codes = frame[CODE].to_numpy().astype("int64")
    return y_true, codes, proba[:, 1] if task == "binary" else proba


def compute_metrics(metrics: dict[str, Any], task: str, *parts: pd.DataFrame) -> dict[str, Any]:
    """Run on ONE worker: every metric on the whole test split's exact arrays."""
    y_true, y_pred, y_score = arrays(list(parts), task)
    return {name: metric.compute(y_true, y_pred, y_score) for name, metric in metrics.items()}


def _metrics_unless_broken(
    metrics: dict[str, Any], task: str, *outputs: tuple[pd.DataFrame, str]
) -> dict[str, Any] | None:
    """:func:`compute_metrics` of the partitions' predictions; None when a partition's
    outputs broke the model's contract (the client raises that, not a metric's error)."""
    if any(problem for _, problem in outputs):
        return None
    return compute_metrics(metrics, task, *[frame for frame, _ in outputs])


def evaluate(
    client: Client,
    model: Any,
    pipeline: Any,
    x_test: Any,
    y_test: Any,
    task: str,
    classes: int,
    metrics: dict[str, Any],
    broken: Callable[[str], Exception] | None = None,
) -> TestPredictions:
    """Predict every test partition on the workers, check the outputs, and compute
    ``metrics`` (name -> metric component) exactly on one worker.

    ``x_test`` holds the raw test features (as the pipeline takes them), ``y_test``
    the targets (class codes or values), partitioned alike; ``classes`` is the number
    of labels (0 for regression). A contract problem raises ``broken(what)`` (a
    ``ValueError`` without it)."""
    from dask import delayed

    if x_test.npartitions != y_test.npartitions:
        raise ValueError(
            f"x_test has {x_test.npartitions} partitions and y_test {y_test.npartitions}"
        )
    # hash=False: a key of its own, so the same objects scattered by a later call are
    # not released under it when this call's futures go (a "lost dependencies" race)
    [shipped] = client.scatter([(model, pipeline)], broadcast=True, hash=False)
    outputs = client.compute(
        [
            delayed(predict_partition)(x, y, shipped, task, classes)
            for x, y in zip(x_test.to_delayed(), y_test.to_delayed(), strict=True)
        ]
    )
    parts = [client.submit(operator.itemgetter(0), out) for out in outputs]
    # the metrics start at once, beside the checks: one round trip for the checks and
    # shapes, then the metrics' result (None when an output broke its contract)
    values = client.submit(_metrics_unless_broken, metrics, task, *outputs)
    checked = client.gather([client.submit(_checked_shape, out) for out in outputs])
    problem = next((p for p, _ in checked if p), "")
    if problem:
        values.release()
        raise (broken or ValueError)(problem)
    rows, widths = zip(*[shape for _, shape in checked], strict=True)
    width = max(widths) - 2  # the probability columns (none for regression)
    predictions = TestPredictions(parts, list(rows), task, width)
    predictions.values = values.result()
    return predictions


def head(predictions: TestPredictions, rows: int = 100) -> tuple[Any, Any, Any]:
    """The first ``rows`` test predictions (from the first non-empty partitions), as
    ``(y_true, codes or values, probabilities or None)``: what the reload check compares."""
    import pandas as pd

    taken, frames = 0, []
    for part, count in zip(predictions.parts, predictions.rows, strict=True):
        if taken >= rows:
            break
        if count:  # only the rows wanted leave the worker
            frames.append(part.client.submit(_top, part, rows - taken).result())
            taken += len(frames[-1])
    frame = pd.concat(frames, ignore_index=True)
    proba = None
    if predictions.task != "regression":
        proba = frame[proba_columns(predictions.classes)].to_numpy(dtype="float64")
    return frame[TRUE].to_numpy(), frame[CODE].to_numpy(), proba


def _checked_shape(output: tuple[pd.DataFrame, str]) -> tuple[str, tuple[int, int]]:
    """A partition's contract problem ('' if none) and its prediction frame's shape."""
    frame, problem = output
    return problem, frame.shape


def _top(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    return frame.iloc[:rows]


def first_rows(frame: Any, rows: int = 100) -> pd.DataFrame:
    """The first ``rows`` rows of a dask frame, from its first non-empty partitions
    (``head`` looks at one partition only, and a split leaves empty ones)."""
    import pandas as pd

    taken: list[pd.DataFrame] = []
    count = 0
    for index in range(frame.npartitions):
        if count >= rows:
            break
        part = frame.partitions[index].head(rows - count, npartitions=1, compute=True)
        if len(part):
            taken.append(part)
            count += len(part)
    return pd.concat(taken) if taken else frame._meta
