"""The contract of a drift test: no drift on the data it was profiled from, drift on
data that moved, and a verdict that agrees with its own statistic and threshold.

A drift test that finds drift between a column and itself would retrain models for
nothing on every batch; one whose ``drifted`` disagrees with ``statistic`` and
``drift_if`` makes the monitor's report contradict itself.
"""

from __future__ import annotations

import math
from typing import Any

from framework.components import DriftResult


def check_drift_test(test: Any, *, rows: int = 2000, detects_shift: bool = True) -> list[Any]:
    """Assert, for each role in ``test.roles``, that ``test.statistic`` on a batch equal
    to the reference data says no drift, that its verdict agrees with ``statistic``,
    ``threshold`` and ``drift_if``, and (with ``detects_shift``) that a batch whose
    values moved (numeric: mean up 2 sd; categorical: a new dominant category) is drift.
    The reference is profiled and the batch prepared exactly as ``specops monitor``
    does. Returns the results on identical data."""
    import numpy as np
    import pandas as pd

    from framework.monitoring.batch import prepare_column
    from framework.monitoring.profile import column_profile

    name = type(test).__name__
    roles = set(getattr(test, "roles", ()) or ())
    if not roles or not roles <= {"numeric", "categorical"}:
        raise AssertionError(
            f"{name}: roles must be a non-empty subset of numeric, categorical; found {roles}"
        )
    rng = np.random.default_rng(0)
    results = []
    for role in sorted(roles):
        if role == "numeric":
            reference = pd.Series(rng.normal(size=rows), name="x")
            moved = reference + 2 * float(reference.std())
            how = "mean +2 sd"
        else:
            how = "a new dominant category"
            reference = pd.Series(rng.choice(["a", "b", "c"], size=rows, p=[0.5, 0.3, 0.2]))
            moved = pd.Series(np.where(rng.random(rows) < 0.8, "a", "c"))
            moved[: rows // 2] = "d"
        profile = column_profile("x", reference, role, "feature")

        def verdict(batch: Any, profile: Any = profile, role: str = role) -> DriftResult:
            prepared = prepare_column(pd.DataFrame({"x": batch}), "x", profile)
            return _consistent(name, role, test.statistic(profile, prepared.values))

        same = verdict(reference)
        if same.drifted:
            raise AssertionError(
                f"{name} ({role}): identical data drifted (statistic {same.statistic!r}, "
                f"threshold {same.threshold!r}, drift if {same.drift_if}); a batch equal to "
                "the reference must not"
            )
        shifted = verdict(moved)
        if detects_shift and not shifted.drifted:
            raise AssertionError(
                f"{name} ({role}): a batch that moved far ({how}) "
                f"is not drift (statistic {shifted.statistic!r}, threshold "
                f"{shifted.threshold!r}); pass detects_shift=False if the test measures "
                "something else"
            )
        results.append(same)
    return results


def _consistent(name: str, role: str, result: Any) -> DriftResult:
    if not isinstance(result, DriftResult):
        raise AssertionError(f"{name} ({role}): statistic returned {result!r}, not a DriftResult")
    for field in ("statistic", "threshold"):
        value = getattr(result, field)
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise AssertionError(f"{name} ({role}): {field} must be a finite number, not {value!r}")
    if result.drift_if not in (">=", "<"):
        raise AssertionError(
            f"{name} ({role}): drift_if must be '>=' (a distance) or '<' (a p-value), "
            f"not {result.drift_if!r}"
        )
    expected = (
        result.statistic >= result.threshold
        if result.drift_if == ">="
        else result.statistic < result.threshold
    )
    if bool(result.drifted) != expected:
        raise AssertionError(
            f"{name} ({role}): drifted={result.drifted} but statistic {result.statistic!r} "
            f"{result.drift_if} threshold {result.threshold!r} is {expected}; the verdict "
            "must follow from them"
        )
    return result
