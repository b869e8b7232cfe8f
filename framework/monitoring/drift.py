"""Per-column drift verdicts and the batch's overall verdict.

Which test judges a column: ``monitor.drift.columns.NAME`` if given, else the
spec's test for the column's role, else an automatic choice, and the verdict
says which and why:

* numeric with more than 5 distinct values in training: KS while the smaller
  sample has at most ``small_sample`` rows (1,000), normalised Wasserstein above;
* categorical, or numeric with at most 5 values: chi-square up to
  ``small_sample`` rows, Jensen-Shannon above.

Small samples get a test with a p-value, because a distance measured on a few
hundred rows is mostly noise; large samples get a distance with a threshold,
because at a million rows every p-value test flags differences nobody cares
about. (Evidently makes the same choice, on the reference's size alone.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from framework import contracts
from framework.errors import Problem, SpecError, UserError
from framework.monitoring.batch import (
    ColumnProblem,
    PreparedColumn,
    describe,
    examples,
    label,
    prepare_column,
)
from framework.monitoring.profile import ColumnProfile, Profile
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework.plugins import Plugins
    from framework.spec.model import ComponentSpec, DriftSpec

FEW_VALUES = 5
PLOT_BINS = 40
PLOT_CATEGORIES = 12


@dataclass
class ColumnVerdict:
    """One watched column: the test that judged it, why that one, and what it found."""

    column: str
    role: str
    source: str  # feature | prediction
    status: str  # ok | drift | no data | not computed
    test: str = ""
    reason: str = ""
    statistic: float | None = None
    threshold: float | None = None
    drift_if: str = ">="
    measure: str = ""
    detail: str = ""
    note: str = ""  # why it was not computed
    summary: dict[str, Any] = field(default_factory=dict)
    plot: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted(self) -> bool | None:
        return {"drift": True, "ok": False}.get(self.status)

    def to_dict(self, plot: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["drifted"] = self.drifted
        if not plot:
            data.pop("plot")
        return data


def auto_test(reference: ColumnProfile, rows: int, small_sample: int) -> tuple[str, str]:
    """The built-in choice for a column, and the reason in words."""
    smaller = min(reference.count, rows)
    few = reference.role == "numeric" and (reference.distinct or 0) <= FEW_VALUES
    kind = (
        f"numeric, {reference.distinct} distinct values"
        if few
        else ("numeric" if reference.role == "numeric" else "categorical")
    )
    if smaller <= small_sample:
        size = f"{smaller:,} rows (<= {small_sample:,})"
        test = "ks" if reference.role == "numeric" and not few else "chi_square"
        return test, f"auto: {kind}, {size}: a p-value test, distances are noise at this size"
    size = f"{smaller:,} rows (> {small_sample:,})"
    if reference.role == "numeric" and not few:
        return "wasserstein", f"auto: {kind}, {size}: a distance, p-values flag tiny shifts"
    return (
        "jensen_shannon",
        f"auto: {kind}, {size}: a distance of shares, p-values flag tiny shifts",
    )


def chosen_test(
    name: str, reference: ColumnProfile, rows: int, config: DriftSpec
) -> tuple[ComponentSpec | None, str, str]:
    """(component spec or None for a built-in default, type name, reason)."""
    override = config.columns.get(name)
    if override is not None:
        return override, override.type, f"set for this column ({override.path})"
    by_role = config.numeric if reference.role == "numeric" else config.categorical
    if by_role is not None:
        return by_role, by_role.type, f"set for {reference.role} columns ({by_role.path})"
    type_name, reason = auto_test(reference, rows, config.small_sample)
    return None, type_name, reason


def judge_column(
    name: str,
    reference: ColumnProfile,
    frame: pd.DataFrame,
    config: DriftSpec,
    plugins: Plugins,
) -> tuple[ColumnVerdict, PreparedColumn | None]:
    """Prepare one column, choose its test and run it; never raises for the data's sake."""
    return judge_prepared(
        name, reference, lambda: prepare_column(frame, name, reference), len(frame), config, plugins
    )


def judge_prepared(
    name: str,
    reference: ColumnProfile,
    prepare: Callable[[], PreparedColumn],
    rows: int,
    config: DriftSpec,
    plugins: Plugins,
) -> tuple[ColumnVerdict, PreparedColumn | None]:
    """:func:`judge_column` for a column prepared by ``prepare`` (which raises
    ColumnProblem when it cannot be), from a batch of ``rows`` rows wherever they are."""
    verdict = ColumnVerdict(name, reference.role, reference.source, "not computed")
    try:
        prepared = prepare()
    except ColumnProblem as problem:
        verdict.note = str(problem)
        verdict.summary = describe(reference, None)
        return verdict, None
    verdict.summary = describe(reference, prepared)
    if rows == 0:
        verdict.note = "the batch has no rows"
        return verdict, prepared
    if prepared.count == 0:
        verdict.status = "no data"
        verdict.note = (
            f"all {prepared.nulls:,} values are missing "
            f"(training: {reference.null_share:.1%} missing)"
        )
        return verdict, prepared
    if reference.count == 0:
        verdict.note = "the training data had no values in this column: nothing to compare with"
        return verdict, prepared
    component, type_name, reason = chosen_test(name, reference, prepared.count, config)
    verdict.test, verdict.reason = type_name, reason
    params = component.kwargs() if component is not None else {}
    test = plugins.build("drift_test", type_name, params)
    roles = getattr(test, "roles", None)
    if roles is not None and reference.role not in roles:
        where = component.path if component is not None else "monitor.drift"
        raise UserError(
            f"drift test '{type_name}' ({where}) does not apply to {reference.role} column "
            f"'{name}'; it applies to: {', '.join(sorted(roles))}"
        )
    result = contracts.drift_result(
        plugins, type_name, name, test.statistic(reference, prepared.values)
    )
    verdict.status = "drift" if result.drifted else "ok"
    verdict.statistic = float(result.statistic)
    verdict.threshold = float(result.threshold)
    verdict.drift_if, verdict.measure = result.drift_if, result.measure
    verdict.detail = result.detail
    if prepared.unseen:
        verdict.detail += (
            f"; {len(prepared.unseen)} categor{'y' if len(prepared.unseen) == 1 else 'ies'} "
            f"never seen in training: {examples(prepared.unseen)}"
        )
    verdict.plot = plot_data(reference, prepared)
    return verdict, prepared


def watched_columns(profile: Profile, wanted: tuple[str, ...] | None) -> list[str]:
    """The columns to judge: the spec's list, or every profiled column."""
    if wanted is None:
        return list(profile.columns)
    unknown = [c for c in wanted if c not in profile.columns]
    if unknown:
        known = list(profile.columns)
        raise SpecError(
            [
                Problem(
                    f"monitor.columns names '{c}', which the champion was not trained on"
                    f"{did_you_mean(c, known)}",
                    path="monitor.columns",
                    hint=f"watchable columns: {', '.join(known)}",
                )
                for c in unknown
            ]
        )
    return list(wanted)


# ---------------------------------------------------------------------------
# plot data: reference and current on the same bins
# ---------------------------------------------------------------------------


def plot_data(reference: ColumnProfile, prepared: PreparedColumn) -> dict[str, Any]:
    """Shares per bin (numeric) or category (categorical) for both sides."""
    if reference.role == "numeric":
        return _numeric_plot(reference, prepared.values.to_numpy())
    return _categorical_plot(reference, prepared.values)


def _numeric_plot(reference: ColumnProfile, values: np.ndarray) -> dict[str, Any]:
    import numpy as np

    def robust(q: float) -> float:
        return float(values[round((len(values) - 1) * q)])

    low = min(float(reference.quantile(np.array([0.005]))[0]), robust(0.005))
    high = max(float(reference.quantile(np.array([0.995]))[0]), robust(0.995))
    grid = np.asarray(reference.grid)
    integer = bool(np.all(grid == np.round(grid)) and np.all(values == np.round(values)))
    if integer:
        # whole numbers: one bar per value (or per few), never a bin straddling two
        width = max(1.0, float(np.ceil((high - low + 1) / PLOT_BINS)))
        edges = np.arange(np.floor(low) - 0.5, np.ceil(high) + 0.5 + width, width)
    else:
        if not high > low:
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, PLOT_BINS + 1)
    ref_cdf = reference.cdf(edges)
    ref = np.diff(ref_cdf)
    positions = np.searchsorted(values, edges, side="right")
    cur = np.diff(positions) / len(values)
    return {
        "kind": "numeric",
        "integer": integer,
        "edges": edges.tolist(),
        "reference": ref.tolist(),
        "current": cur.tolist(),
        "outside": {
            "reference": float(ref_cdf[0] + 1 - ref_cdf[-1]),
            "current": float((positions[0] + len(values) - positions[-1]) / len(values)),
        },
    }


def _categorical_plot(reference: ColumnProfile, values: pd.Series) -> dict[str, Any]:
    counts = values.value_counts()
    cur = {str(k): int(v) for k, v in counts.items() if v > 0}
    ref_total = max(reference.count, 1)
    cur_total = max(sum(cur.values()), 1)
    names = set(reference.categories) | set(cur)
    ranked = sorted(
        names,
        key=lambda c: -max(reference.categories.get(c, 0) / ref_total, cur.get(c, 0) / cur_total),
    )
    shown = ranked[:PLOT_CATEGORIES]
    rest_ref = 1 - sum(reference.categories.get(c, 0) for c in shown) / ref_total
    rest_cur = 1 - sum(cur.get(c, 0) for c in shown) / cur_total
    labels = list(shown)
    ref_shares = [reference.categories.get(c, 0) / ref_total for c in shown]
    cur_shares = [cur.get(c, 0) / cur_total for c in shown]
    if rest_ref > 1e-9 or rest_cur > 1e-9:
        labels.append(f"{len(ranked) - len(shown)} more" if len(ranked) > len(shown) else "other")
        ref_shares.append(max(rest_ref, 0.0))
        cur_shares.append(max(rest_cur, 0.0))
    unseen = [label(c) for c in labels if c in cur and c not in reference.categories]
    return {
        "kind": "categorical",
        "labels": [label(c) for c in labels],
        "reference": ref_shares,
        "current": cur_shares,
        "unseen": unseen,
    }


# ---------------------------------------------------------------------------
# the batch
# ---------------------------------------------------------------------------


@dataclass
class DatasetDrift:
    """The batch's verdict: how many watched columns drifted, against the share allowed."""

    drifted: int
    judged: int
    share: float  # the spec's threshold

    @property
    def observed(self) -> float:
        return self.drifted / self.judged if self.judged else 0.0

    @property
    def detected(self) -> bool:
        return self.judged > 0 and self.observed >= self.share

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted_columns": self.drifted,
            "judged_columns": self.judged,
            "share": round(self.observed, 6),
            "threshold": self.share,
            "detected": self.detected,
        }


def dataset_drift(verdicts: list[ColumnVerdict], share: float) -> DatasetDrift:
    judged = [v for v in verdicts if v.status in ("ok", "drift")]
    return DatasetDrift(sum(1 for v in judged if v.status == "drift"), len(judged), share)
