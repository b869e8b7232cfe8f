"""The gate: does the candidate meet its thresholds, and is it no worse than the champion?

Every metric gets a verdict row, threshold or not, so the run's table always
shows the values. ``max_drop`` compares with the champion, in the metric's own
direction, on rows neither model trained on; with no champion it is skipped, and
the row says so. A failure prints the value, then the rule, then the margin:
``accuracy 0.686 < min 0.9 (short by 0.214)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from framework.spec.model import Threshold


@dataclass(frozen=True)
class MetricVerdict:
    """One metric: its value, the rule it was held to, and whether it passed."""

    metric: str
    value: float
    higher_is_better: bool
    rule: str = ""
    champion: float | None = None
    passed: bool | None = None  # None: no threshold to judge by
    detail: str = ""
    compared: float | None = None  # the candidate on the champion's rows, when not ``value``

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _apart(value: float, limit: float) -> tuple[str, str]:
    """Both numbers with enough digits to tell them apart: never ``0.9 < min 0.9``."""
    for digits in range(4, 17):
        shown = f"{value:.{digits}g}", f"{limit:.{digits}g}"
        if shown[0] != shown[1]:
            return shown
    return _fmt(value), _fmt(limit)


def judge(
    metrics: dict[str, float],
    directions: dict[str, bool],
    thresholds: tuple[Threshold, ...],
    champion: dict[str, float] | None,
    *,
    compared: dict[str, float] | None = None,
    reference: str = "champion {}",
) -> list[MetricVerdict]:
    """A verdict for every metric computed, judged by the spec's thresholds.

    ``min`` and ``max`` judge ``metrics``, the candidate's scores on its whole test
    split. ``max_drop`` compares ``champion`` with ``compared``, the candidate's
    scores on the rows the champion was scored on, when those are not the whole
    split (see :mod:`framework.champion`). ``reference`` names the value compared
    with in messages: ``"champion {}"`` in the gate, ``"{} at training"`` in monitor.
    """
    rules = {t.metric: t for t in thresholds}
    verdicts = []
    for name in sorted(metrics):
        value = metrics[name]
        higher = directions.get(name, True)
        rule = rules.get(name)
        champion_value = (champion or {}).get(name)
        on_rows = (compared or {}).get(name)  # None: compared on the whole test split
        mine = value if on_rows is None else on_rows
        if rule is None:
            verdicts.append(
                MetricVerdict(name, value, higher, champion=champion_value, compared=on_rows)
            )
            continue
        failures, notes, parts = [], [], []
        if rule.min is not None:
            parts.append(f">= {_fmt(rule.min)}")
            if not value >= rule.min:
                failures.append(below_min(name, value, rule.min))
        if rule.max is not None:
            parts.append(f"<= {_fmt(rule.max)}")
            if not value <= rule.max:
                failures.append(above_max(name, value, rule.max))
        if rule.max_drop is not None:
            parts.append(f"drop <= {_fmt(rule.max_drop)}")
            if champion is None:
                notes.append("max_drop skipped: no champion yet")
            elif champion_value is None:
                notes.append(f"max_drop skipped: the champion has no {name}")
            else:
                worse_by = (champion_value - mine) if higher else (mine - champion_value)
                if worse_by > rule.max_drop:
                    failures.append(
                        dropped(
                            name,
                            mine,
                            champion_value,
                            rule.max_drop,
                            higher=higher,
                            same_rows=on_rows is not None,
                            reference=reference,
                        )
                    )
        verdicts.append(
            MetricVerdict(
                name,
                value,
                higher,
                rule=", ".join(parts),
                champion=champion_value,
                passed=not failures,
                detail="; ".join(failures + notes),
                compared=on_rows,
            )
        )
    return verdicts


def below_min(name: str, value: float, low: float) -> str:
    """``accuracy 0.686 < min 0.9 (short by 0.214)``: the value first, then the rule."""
    shown, rule = _apart(value, low)
    return f"{name} {shown} < min {rule} (short by {_fmt(low - value)})"


def above_max(name: str, value: float, high: float) -> str:
    """``log_loss 0.52 > max 0.4 (over by 0.12)``."""
    shown, rule = _apart(value, high)
    return f"{name} {shown} > max {rule} (over by {_fmt(value - high)})"


def dropped(
    name: str,
    value: float,
    champion: float,
    max_drop: float,
    *,
    higher: bool,
    same_rows: bool = False,
    reference: str = "champion {}",
) -> str:
    """``roc_auc 0.81 vs champion 0.84: dropped 0.03 > max_drop 0.02`` (``rose`` for a
    lower-is-better metric); ``on the same rows`` when the value is not the whole split's."""
    worse_by = (champion - value) if higher else (value - champion)
    shown, theirs = _apart(value, champion)
    by, limit = _apart(worse_by, max_drop)
    where = " on the same rows" if same_rows else ""
    moved = "dropped" if higher else "rose"
    return f"{name} {shown}{where} vs {reference.format(theirs)}: {moved} {by} > max_drop {limit}"


def gate_passed(verdicts: list[MetricVerdict]) -> bool:
    return all(v.passed is not False for v in verdicts)
