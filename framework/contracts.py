"""What a component returns is checked where the engine receives it, and a broken
promise is a bug of the plugin that made it, named (exit 3).

Without these checks a component that returned the wrong thing failed later, inside
specops or another plugin: "internal error (a bug in specops or a plugin)", or a
built-in metric blamed for a model's NaN probabilities; worse, a splitter whose test
rows were also training rows passed the gate on inflated metrics. Each check is
O(rows) at most, run once per step.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from framework.errors import PluginFault

if TYPE_CHECKING:
    import numpy as np

    from framework.plugins import Plugins


def broken(plugins: Plugins, kind: str, type_name: str, what: str, step: str = "") -> PluginFault:
    """A fault naming the plugin that provides ``kind type_name``: it broke its contract."""
    entry = plugins.registry.find(kind, type_name)
    plugin, version = (entry.plugin.label, entry.plugin.version) if entry else ("resolver hook", "")
    return PluginFault(plugin, version, what, component=f"{kind} '{type_name}'", step=step)


def split_positions(
    plugins: Plugins, type_name: str, returned: Any, rows: int, to_positions: Any
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions from what a splitter returned: a pair, each side
    integer positions within the table, no row on both sides."""
    import numpy as np

    def fault(what: str) -> PluginFault:
        return broken(plugins, "split", type_name, what, step="split")

    if not isinstance(returned, tuple | list) or len(returned) != 2:
        raise fault(f"split returned {type(returned).__name__}, not a (train, test) pair")
    train, test = (to_positions(part) for part in returned)
    for side, positions in (("train", train), ("test", test)):
        if positions.ndim != 1:
            raise fault(f"the {side} positions have shape {positions.shape}, not one dimension")
        if len(positions) and (positions.min() < 0 or positions.max() >= rows):
            raise fault(
                f"the {side} positions run from {positions.min()} to {positions.max()}; "
                f"the table has rows 0 to {rows - 1}"
            )
    # a mask, not np.intersect1d: that sorts both sides (60 ms at 200,000 rows)
    on_train = np.zeros(rows, dtype=bool)
    on_train[train] = True
    shared = np.unique(test[on_train[test]])
    if len(shared):
        raise fault(
            f"{len(shared)} row(s) are in both train and test (first at position "
            f"{shared[0]}): the model would be scored on rows it trained on"
        )
    return train, test


def check_outcomes(plugins: Plugins, type_name: str, returned: Any) -> list[Any]:
    """A check's outcomes: a list of CheckOutcome, each with a boolean verdict."""
    import numpy as np

    from framework.components import CheckOutcome

    def fault(what: str) -> PluginFault:
        return broken(plugins, "check", type_name, what, step="check")

    if not isinstance(returned, list | tuple):
        raise fault(f"run returned {type(returned).__name__}, not a list of CheckOutcome")
    for outcome in returned:
        if not isinstance(outcome, CheckOutcome):
            raise fault(f"run returned a {type(outcome).__name__} among its outcomes")
        if not isinstance(outcome.passed, bool | np.bool_):
            raise fault(
                f"an outcome's passed is {type(outcome.passed).__name__} "
                f"{outcome.passed!r}, not True or False"
            )
    return list(returned)


def transform_built(
    plugins: Plugins, type_name: str, returned: Any, columns: Any
) -> tuple[Any, list[str]]:
    """A transform's (unfitted transformer, columns of the table)."""

    def fault(what: str) -> PluginFault:
        return broken(plugins, "transform", type_name, what, step="transform")

    if not isinstance(returned, tuple | list) or len(returned) != 2:
        raise fault(f"build returned {type(returned).__name__}, not (transformer, columns)")
    transformer, chosen = returned
    if not (hasattr(transformer, "fit") and hasattr(transformer, "transform")):
        raise fault(f"build returned a {type(transformer).__name__}, which has no fit/transform")
    if isinstance(chosen, str) or not isinstance(chosen, list | tuple):
        raise fault(f"build returned columns as {type(chosen).__name__}, not a list of names")
    missing = [str(name) for name in chosen if name not in columns]
    if missing:
        raise fault(
            f"build chose columns that are not in the table at this point: "
            f"{', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
        )
    return transformer, list(chosen)


def regression_values(plugins: Plugins, type_name: str, values: Any, rows: int) -> None:
    """A regression model's test-split predictions: one finite number per row."""
    import numpy as np

    values = np.asarray(values)
    what = ""
    if values.shape[:1] != (rows,) or values.ndim != 1:
        what = f"predict returned shape {values.shape} for {rows} rows"
    elif values.dtype.kind not in "iufb" or not np.isfinite(values.astype(float)).all():
        what = "predict returned values that are not finite numbers"
    if what:
        raise broken(plugins, "model", type_name, what, step="evaluate")


def probabilities(
    plugins: Plugins, type_name: str, proba: Any, rows: int, classes: int
) -> np.ndarray:
    """A classifier's test-split ``predict_proba``: shape (rows, up to ``classes``),
    finite, each row summing to 1. Checked before any metric reads it, so a metric
    is never blamed for a model's output."""
    import numpy as np

    proba = np.asarray(proba)
    what = ""
    if proba.ndim != 2 or proba.shape[0] != rows or not 2 <= proba.shape[1] <= max(classes, 2):
        what = (
            f"predict_proba returned shape {proba.shape} for {rows} rows of {classes} "
            f"classes; expected ({rows}, {classes})"
        )
    elif proba.dtype.kind not in "iuf" or not np.isfinite(proba).all():
        what = "predict_proba returned values that are not finite numbers"
    else:
        sums = proba.sum(axis=1)
        if (proba < -1e-6).any() or (proba > 1 + 1e-6).any() or not np.allclose(sums, 1, atol=1e-4):
            worst = int(np.argmax(np.abs(sums - 1)))
            what = (
                f"predict_proba must return probabilities, each row summing to 1 (row "
                f"{worst} sums to {sums[worst]:g})"
            )
    if what:
        raise broken(plugins, "model", type_name, what, step="evaluate")
    return proba


def metric_value(plugins: Plugins, name: str, metric: Any, value: Any) -> float:
    """A metric's value: a real number within the metric's declared ``bounds``."""

    def fault(what: str) -> PluginFault:
        return broken(plugins, "metric", name, what, step="evaluate")

    try:
        number = float(value)
    except (TypeError, ValueError):
        raise fault(f"compute returned {type(value).__name__} {value!r}, not a number") from None
    low, high = getattr(metric, "bounds", (None, None))
    if not math.isnan(number) and (
        (low is not None and number < low - 1e-9) or (high is not None and number > high + 1e-9)
    ):
        raise fault(f"compute returned {number:g}, outside its declared bounds ({low}, {high})")
    return number


def deploy_outcome(plugins: Plugins, type_name: str, returned: Any) -> Any:
    """A deploy target's DeployOutcome."""
    from framework.components import DeployOutcome

    if not isinstance(returned, DeployOutcome):
        raise broken(
            plugins,
            "deploy",
            type_name,
            f"deploy returned {type(returned).__name__}, not a DeployOutcome",
            step="deploy",
        )
    return returned


def drift_result(plugins: Plugins, type_name: str, column: str, result: Any) -> Any:
    """A drift test's DriftResult: numbers, ``drift_if`` one of ``>=`` and ``<``, and a
    verdict that follows from them (a report must not say "ok" beside a statistic
    past its threshold)."""
    from framework.components import DriftResult

    what = ""
    if not isinstance(result, DriftResult):
        what = f"statistic returned {type(result).__name__}, not a DriftResult"
    elif not all(
        isinstance(value, numbers.Real) and not isinstance(value, bool)
        for value in (result.statistic, result.threshold)
    ):
        what = f"statistic {result.statistic!r} and threshold {result.threshold!r} must be numbers"
    elif result.drift_if not in (">=", "<"):
        what = f"drift_if is {result.drift_if!r}; it must be '>=' (a distance) or '<' (a p-value)"
    elif math.isfinite(result.statistic) and math.isfinite(result.threshold):
        expected = (
            result.statistic >= result.threshold
            if result.drift_if == ">="
            else result.statistic < result.threshold
        )
        if bool(result.drifted) != expected:
            what = (
                f"drifted={result.drifted!r}, but statistic {result.statistic:g} "
                f"{result.drift_if} threshold {result.threshold:g} is {expected}"
            )
    if what:
        raise broken(plugins, "drift_test", type_name, f"column '{column}': {what}")
    return result


def findings(plugins: Plugins, kind: str, type_name: str, component: Any, ctx: Any) -> list[Any]:
    """A component's ``validate(ctx)`` findings: a list of ``Finding`` (or nothing)."""
    from framework.components import Finding, check_findings

    returned = check_findings(component, ctx)
    what = ""
    if returned is None or isinstance(returned, str | bytes | dict):
        what = f"validate returned {type(returned).__name__}, not a list of Finding"
    else:
        returned = list(returned)
        strays = [f for f in returned if not isinstance(f, Finding)]
        if strays:
            what = f"validate returned a {type(strays[0]).__name__} among its findings"
    if what:
        raise broken(plugins, kind, type_name, what)
    return returned


def built(plugins: Plugins, kind: str, type_name: str, component: Any) -> Any:
    """A component just built: the attributes the engine reads without calling
    anything have the types it relies on (``tasks = "binary"`` matched by substring).
    A missing member is named when it is first used (see ``plugin_host.fault``), so
    partial test doubles still work."""
    from framework.components import TASKS

    def of(name: str) -> Any:
        return getattr(component, name, None)

    what = ""
    if kind == "model" and of("tasks") is not None:
        tasks = of("tasks")
        if (
            isinstance(tasks, str)
            or not isinstance(tasks, Iterable)
            or not set(tasks) <= set(TASKS)
        ):
            what = f"tasks is {tasks!r}; it must be a set of {', '.join(TASKS)}"
    if not what and kind == "drift_test" and of("roles") is not None:
        roles = of("roles")
        if (
            isinstance(roles, str)
            or not isinstance(roles, Iterable)
            or not set(roles) <= {"numeric", "categorical"}
        ):
            what = f"roles is {roles!r}; it must be a set of numeric, categorical"
    if what:
        raise broken(plugins, kind, type_name, what)
    return component


def metric_declares(plugins: Plugins, name: str, metric: Any) -> None:
    """A metric a gate names: ``higher_is_better`` a bool and ``bounds`` two numbers
    or None (a ``higher_is_better`` of ``"no"`` read as True: the gate backwards).
    Checked for gated metrics only, so a broken metric no spec gates on stops nothing."""
    direction = getattr(metric, "higher_is_better", None)
    what = ""
    if not isinstance(direction, bool):
        what = f"higher_is_better is {direction!r}, not True or False"
    elif not _bounds(getattr(metric, "bounds", None)):
        what = (
            f"bounds is {getattr(metric, 'bounds', None)!r}, not (lowest, highest) numbers or None"
        )
    if what:
        raise broken(plugins, "metric", name, what)


def _bounds(bounds: Any) -> bool:
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        return False
    ends = [b for b in bounds if b is not None]
    if not all(isinstance(b, numbers.Real) and not isinstance(b, bool) for b in ends):
        return False
    return len(ends) < 2 or ends[0] <= ends[1]
