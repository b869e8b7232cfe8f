"""The gate: does the candidate meet its thresholds, and is it no worse than the champion?

Every metric gets a verdict row, threshold or not, so the run's table always
shows the values. ``max_drop`` compares with the champion, in the metric's own
direction; with no champion it is skipped, and the row says so.
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def judge(
    metrics: dict[str, float],
    directions: dict[str, bool],
    thresholds: tuple[Threshold, ...],
    champion: dict[str, float] | None,
) -> list[MetricVerdict]:
    """A verdict for every metric computed, judged by the spec's thresholds."""
    rules = {t.metric: t for t in thresholds}
    verdicts = []
    for name in sorted(metrics):
        value = metrics[name]
        higher = directions.get(name, True)
        rule = rules.get(name)
        champion_value = (champion or {}).get(name)
        if rule is None:
            verdicts.append(MetricVerdict(name, value, higher, champion=champion_value))
            continue
        failures, notes, parts = [], [], []
        if rule.min is not None:
            parts.append(f">= {_fmt(rule.min)}")
            if not value >= rule.min:
                failures.append(f"{_fmt(rule.min - value)} below min {_fmt(rule.min)}")
        if rule.max is not None:
            parts.append(f"<= {_fmt(rule.max)}")
            if not value <= rule.max:
                failures.append(f"{_fmt(value - rule.max)} above max {_fmt(rule.max)}")
        if rule.max_drop is not None:
            parts.append(f"drop <= {_fmt(rule.max_drop)}")
            if champion is None:
                notes.append("max_drop skipped: no champion yet")
            elif champion_value is None:
                notes.append(f"max_drop skipped: the champion has no {name}")
            else:
                worse_by = (champion_value - value) if higher else (value - champion_value)
                if worse_by > rule.max_drop:
                    failures.append(
                        f"{_fmt(worse_by)} worse than champion {_fmt(champion_value)}"
                        f" (max_drop {_fmt(rule.max_drop)})"
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
            )
        )
    return verdicts


def gate_passed(verdicts: list[MetricVerdict]) -> bool:
    return all(v.passed is not False for v in verdicts)
