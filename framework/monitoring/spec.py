"""The ``monitor:`` section: its components, its checks beyond the schema, its typed form.

``framework.spec.validate`` calls these three functions, so the monitor section is
validated in the same passes as the rest of the spec (components against their
plugins' schemas, meaning against the task) and reported with file:line:column.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from framework.columns import PREDICTION
from framework.spec.model import (
    ComponentSpec,
    DriftSpec,
    MonitorSpec,
    RetrainSpec,
    Threshold,
)

if TYPE_CHECKING:
    from framework.errors import Problem

KeyPath = tuple[Any, ...]


def _section(data: dict[str, Any]) -> dict[str, Any]:
    section = data.get("monitor")
    return section if isinstance(section, dict) else {}


def _drift(data: dict[str, Any]) -> dict[str, Any]:
    drift = _section(data).get("drift")
    return drift if isinstance(drift, dict) else {}


def monitor_components(data: dict[str, Any]) -> Iterator[tuple[str, KeyPath, Any]]:
    """(kind, path, node) of every component the monitor section names."""
    checks = _section(data).get("checks")
    if isinstance(checks, list):
        for index, node in enumerate(checks):
            yield "check", ("monitor", "checks", index), node
    drift = _drift(data)
    for role in ("numeric", "categorical"):
        node = drift.get(role)
        if isinstance(node, dict):
            yield "drift_test", ("monitor", "drift", role), node
    columns = drift.get("columns")
    if isinstance(columns, dict):
        for name, node in columns.items():
            yield "drift_test", ("monitor", "drift", "columns", name), node


def monitor_problems(checker: Any) -> list[Problem]:
    """Meaning the schema cannot see: metrics for the task, tests for the role, windows."""
    section = _section(checker.data)
    if not section:
        return []
    problems: list[Problem] = []
    problems += _performance(checker, section.get("performance"))
    drift = _drift(checker.data)
    for role in ("numeric", "categorical"):
        node = drift.get(role)
        if isinstance(node, dict) and isinstance(node.get("type"), str):
            problems += _role_fits(checker, node["type"], role, ("monitor", "drift", role))
    retrain = section.get("retrain")
    if isinstance(retrain, dict) and retrain.get("data") == "recent" and "rows" not in retrain:
        problems.append(
            checker.problem(
                "retrain.data 'recent' needs rows: how many of the latest rows to learn from",
                ("monitor", "retrain"),
                at_key=True,
                hint="for example retrain: {data: recent, rows: 5000}",
            )
        )
    problems += _known_columns(checker, section)
    return problems


def _performance(checker: Any, performance: Any) -> list[Problem]:
    if not isinstance(performance, dict):
        return []
    problems = []
    registry = checker.registry
    for name, rule in performance.items():
        path: KeyPath = ("monitor", "performance", name)
        if registry.find("metric", name) is None:
            problems.append(
                checker.problem(
                    registry.unknown_type_message("metric", name),
                    path,
                    at_key=True,
                    expected="one of: " + ", ".join(registry.types("metric")),
                )
            )
            continue
        metric = checker.plugins.build("metric", name)
        if checker.task and checker.task not in metric.tasks:
            problems.append(
                checker.problem(
                    f"metric '{name}' does not fit a {checker.task} task", path, at_key=True
                )
            )
        if isinstance(rule, dict):
            problems += checker.threshold(name, metric, rule, path)
    return problems


def _role_fits(checker: Any, type_name: str, role: str, path: KeyPath) -> list[Problem]:
    entry = checker.registry.find("drift_test", type_name)
    if entry is None:
        return []  # the component pass reported it
    roles = getattr(entry.factory, "roles", None)
    if roles is not None and role not in roles:
        fitting = [
            name
            for name in checker.registry.types("drift_test")
            if role in getattr(checker.registry.get("drift_test", name).factory, "roles", ())
        ]
        return [
            checker.problem(
                f"drift test '{type_name}' does not apply to {role} columns "
                f"(it applies to: {', '.join(sorted(roles))})",
                path + ("type",),
                hint=f"tests for {role} columns: {', '.join(fitting)}",
            )
        ]
    return []


def _known_columns(checker: Any, section: dict[str, Any]) -> list[Problem]:
    """Watched columns must be features (when the spec lists them) or the prediction."""
    data_section = checker.data.get("data")
    features = data_section.get("features") if isinstance(data_section, dict) else None
    if not isinstance(features, dict | list):
        return []  # features are inferred from the data: checked when monitoring
    known = {*map(str, features), PREDICTION}
    problems = []
    columns = section.get("columns")
    named: list[tuple[str, KeyPath, bool]] = []
    if isinstance(columns, list):
        named += [(c, ("monitor", "columns", i), False) for i, c in enumerate(columns)]
    overrides = _drift(checker.data).get("columns")
    if isinstance(overrides, dict):
        named += [(c, ("monitor", "drift", "columns", c), True) for c in overrides]
    for name, path, at_key in named:
        if isinstance(name, str) and name not in known:
            from framework.suggest import did_you_mean

            problems.append(
                checker.problem(
                    f"monitored column '{name}' is not a feature{did_you_mean(name, known)}",
                    path,
                    at_key=at_key,
                    hint=f"features: {', '.join(map(str, features))}; or '{PREDICTION}'",
                )
            )
    return problems


# ---------------------------------------------------------------------------
# the typed form
# ---------------------------------------------------------------------------


def build_monitor(section: Any) -> MonitorSpec:
    """The validated ``monitor:`` section as a :class:`MonitorSpec` (defaults when absent)."""
    if not isinstance(section, dict):
        return MonitorSpec()
    drift = section.get("drift") or {}
    methods = {
        role: ComponentSpec.from_node("drift_test", drift[role], f"monitor.drift.{role}")
        if isinstance(drift.get(role), dict)
        else None
        for role in ("numeric", "categorical")
    }
    overrides = {
        name: ComponentSpec.from_node("drift_test", node, f"monitor.drift.columns.{name}")
        for name, node in (drift.get("columns") or {}).items()
    }
    retrain = section.get("retrain") or {}
    columns = section.get("columns")
    return MonitorSpec(
        columns=tuple(columns) if columns else None,
        drift=DriftSpec(
            numeric=methods["numeric"],
            categorical=methods["categorical"],
            columns=MappingProxyType(overrides),
            share=float(drift.get("share", 0.5)),
            small_sample=int(drift.get("small_sample", 1000)),
        ),
        checks=tuple(
            ComponentSpec.from_node("check", node, f"monitor.checks[{i}]")
            for i, node in enumerate(section.get("checks") or [])
        ),
        performance=tuple(
            Threshold(metric=name, **rule)
            for name, rule in (section.get("performance") or {}).items()
        ),
        on_drift=section.get("on_drift", "fail"),
        retrain=RetrainSpec(
            data=retrain.get("data", "reference_plus_new"), rows=retrain.get("rows")
        ),
    )
