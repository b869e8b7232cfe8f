"""Built-in drift tests: KS, chi-square, PSI, Jensen-Shannon and normalised Wasserstein.

Each compares a column's reference profile (never the raw training data) with a
new batch's non-missing values, in a few vectorised NumPy passes: numeric values
arrive sorted, so KS and Wasserstein need no sort of their own. Definitions match
the usual ones (and Evidently's, so verdicts can be compared): Wasserstein is
divided by the reference's standard deviation, Jensen-Shannon is SciPy's distance
(natural log), chi-square is the test of homogeneity of the two samples' counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from framework import DriftResult, Register, hookimpl

if TYPE_CHECKING:
    import pandas as pd

NUMERIC = frozenset({"numeric"})
BOTH = frozenset({"numeric", "categorical"})


def _params(threshold: float, description: str, *, high: float | None = None):
    schema: dict[str, Any] = {
        "type": "number",
        "exclusiveMinimum": 0.0,
        "default": threshold,
        "description": description,
    }
    if high is not None:
        schema["maximum"] = high
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"threshold": schema},
    }


class _ThresholdTest:
    """A test judged against one ``threshold`` param (``default_threshold`` when not given);
    a distance: drift when it reaches the threshold."""

    default_threshold: ClassVar[float]

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = self.default_threshold if threshold is None else threshold

    def _distance(self, value: float, detail: str, measure: str = "distance") -> DriftResult:
        return DriftResult(value, self.threshold, value >= self.threshold, detail, measure=measure)


class _PValueTest(_ThresholdTest):
    """A test with a p-value: drift when it falls below the threshold (0.05 by default)."""

    default_threshold: ClassVar[float] = 0.05
    schema: ClassVar[dict[str, Any]] = _params(
        default_threshold, "Drift when the p-value is below this.", high=1
    )

    def _p_value(self, p_value: float, detail: str) -> DriftResult:
        return DriftResult(
            p_value,
            self.threshold,
            p_value < self.threshold,
            detail,
            drift_if="<",
            measure="p_value",
        )


class KolmogorovSmirnov(_PValueTest):
    """Two-sample Kolmogorov-Smirnov test; drift when the p-value is below the threshold."""

    name: ClassVar[str] = "ks"
    roles: ClassVar[frozenset[str]] = NUMERIC

    def statistic(self, reference: Any, current: pd.Series) -> DriftResult:
        from scipy import stats

        values = current.to_numpy(dtype="float64")
        distance = reference.ks_distance(values)
        n, m = reference.count, len(values)
        effective = max(1, round(n * m / (n + m)))
        p_value = float(stats.kstwo.sf(distance, effective))
        return self._p_value(p_value, f"D = {distance:.4f} ({m:,} vs {n:,} rows)")


class Wasserstein(_ThresholdTest):
    """First Wasserstein distance divided by the reference's standard deviation."""

    name: ClassVar[str] = "wasserstein"
    roles: ClassVar[frozenset[str]] = NUMERIC
    default_threshold: ClassVar[float] = 0.1
    schema: ClassVar[dict[str, Any]] = _params(
        default_threshold,
        "Drift when the distance, in reference standard deviations, is at least this.",
    )

    def statistic(self, reference: Any, current: pd.Series) -> DriftResult:
        values = current.to_numpy(dtype="float64")
        scale = max(float(reference.std or 0.0), 0.001)
        raw = reference.wasserstein(values)
        value = raw / scale
        return self._distance(value, f"W1 = {raw:.4g} = {value:.3f} reference std ({scale:.4g})")


def _proportions(counts: Any) -> Any:
    total = counts.sum()
    return counts / total if total else counts


class JensenShannon(_ThresholdTest):
    """Jensen-Shannon distance between the category (or decile) shares."""

    name: ClassVar[str] = "jensen_shannon"
    roles: ClassVar[frozenset[str]] = BOTH
    default_threshold: ClassVar[float] = 0.1
    schema: ClassVar[dict[str, Any]] = _params(
        default_threshold,
        "Drift when the distance (0 to 0.83, natural log) is at least this.",
        high=1,
    )

    def statistic(self, reference: Any, current: pd.Series) -> DriftResult:
        from scipy.spatial import distance

        labels, ref, cur = reference.cells(current)
        value = float(distance.jensenshannon(_proportions(ref), _proportions(cur)))
        return self._distance(value, f"over {len(labels)} cells{_largest_shift(labels, ref, cur)}")


class PopulationStability(_ThresholdTest):
    """Population stability index over the reference's deciles (or categories)."""

    name: ClassVar[str] = "psi"
    roles: ClassVar[frozenset[str]] = BOTH
    default_threshold: ClassVar[float] = 0.2
    schema: ClassVar[dict[str, Any]] = _params(
        default_threshold,
        "Drift when the PSI is at least this (< 0.1 stable, 0.1-0.25 moderate, > 0.25 major).",
    )
    FLOOR: ClassVar[float] = 1e-4  # an empty cell's share, so the log stays finite

    def statistic(self, reference: Any, current: pd.Series) -> DriftResult:
        import numpy as np

        labels, ref, cur = reference.cells(current)
        expected = np.maximum(_proportions(ref), self.FLOOR)
        actual = np.maximum(_proportions(cur), self.FLOOR)
        value = float(((actual - expected) * np.log(actual / expected)).sum())
        detail = f"over {len(labels)} cells{_largest_shift(labels, ref, cur)}"
        return self._distance(value, detail, measure="psi")


class ChiSquare(_PValueTest):
    """Chi-square test that both samples share one distribution over the cells."""

    name: ClassVar[str] = "chi_square"
    roles: ClassVar[frozenset[str]] = BOTH

    def statistic(self, reference: Any, current: pd.Series) -> DriftResult:
        import numpy as np
        from scipy import stats

        labels, ref, cur = reference.cells(current)
        keep = (ref + cur) > 0
        table = np.vstack([ref[keep], cur[keep]])
        if table.shape[1] < 2 or table[1].sum() == 0:
            return self._p_value(1.0, "one cell only: nothing to compare")
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
        chi2 = float(((table - expected) ** 2 / expected).sum())
        dof = table.shape[1] - 1
        p_value = float(stats.chi2.sf(chi2, dof))
        return self._p_value(
            p_value,
            f"chi2 = {chi2:.4g}, {dof} degrees of freedom{_largest_shift(labels, ref, cur)}",
        )


def _largest_shift(labels: list[str], ref: Any, cur: Any) -> str:
    """The cell whose share moved most: what a reader wants to know first."""
    import numpy as np

    if not len(labels) or not ref.sum() or not cur.sum():
        return ""
    change = cur / cur.sum() - ref / ref.sum()
    index = int(np.abs(change).argmax())
    before, after = ref[index] / ref.sum(), cur[index] / cur.sum()
    return f"; largest change: {labels[index]} {before:.1%} -> {after:.1%}"


DRIFT_TESTS: tuple[tuple[type, str], ...] = (
    (KolmogorovSmirnov, "Kolmogorov-Smirnov test on the reference ECDF (numeric)"),
    (Wasserstein, "Wasserstein distance in reference standard deviations (numeric)"),
    (JensenShannon, "Jensen-Shannon distance of category or decile shares"),
    (PopulationStability, "Population stability index over deciles or categories"),
    (ChiSquare, "Chi-square test of category or decile counts"),
)


@hookimpl
def specops_register_drift_tests(register: Register) -> None:
    for test, summary in DRIFT_TESTS:
        register(test.name, test, test.schema, summary=summary)
