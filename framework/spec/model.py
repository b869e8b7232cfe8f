"""The spec in effect, typed and immutable: what the engine and plan read."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any


def frozen(value: Any) -> Any:
    """A read-only view of nested mappings and lists."""
    if isinstance(value, dict):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(frozen(v) for v in value)
    return value


def thawed(value: Any) -> Any:
    """Plain dicts and lists again (for JSON and for component factories)."""
    if isinstance(value, MappingProxyType | dict):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thawed(v) for v in value]
    return value


@dataclass(frozen=True)
class ComponentSpec:
    """One ``{type, params}`` section: which component runs a step, with what params."""

    kind: str
    type: str
    params: Any  # a read-only mapping
    path: str  # where it sits in the spec, e.g. "checks[2]"
    severity: str = "error"

    def kwargs(self) -> dict[str, Any]:
        return thawed(self.params)

    @classmethod
    def from_node(cls, kind: str, node: dict[str, Any], path: str) -> ComponentSpec:
        """The typed form of a validated ``{type, params, severity}`` node at ``path``."""
        return cls(
            kind=kind,
            type=node["type"],
            params=frozen(node.get("params") or {}),
            path=path,
            severity=node.get("severity", "error"),
        )


@dataclass(frozen=True)
class Threshold:
    """A gate rule for one metric."""

    metric: str
    min: float | None = None
    max: float | None = None
    max_drop: float | None = None


LOCAL_EXECUTION = ComponentSpec("execution", "local", MappingProxyType({}), "execution")
"""A spec with no ``execution:`` key runs here, with pandas."""

ON_DRIFT: tuple[str, ...] = ("report", "fail", "retrain")
RETRAIN_DATA: tuple[str, ...] = ("reference_plus_new", "new_only", "recent")


@dataclass(frozen=True)
class DriftSpec:
    """Which drift test judges which column; ``None`` means choose automatically."""

    numeric: ComponentSpec | None = None
    categorical: ComponentSpec | None = None
    columns: Any = field(default_factory=lambda: MappingProxyType({}))  # name -> ComponentSpec
    share: float = 0.5  # dataset drift when at least this share of watched columns drift
    small_sample: int = 1000  # auto: p-value tests at or below this many rows


@dataclass(frozen=True)
class RetrainSpec:
    """The data window a drift-triggered retraining learns from."""

    data: str = "reference_plus_new"
    rows: int | None = None


@dataclass(frozen=True)
class MonitorSpec:
    """The ``monitor:`` section: what ``specops monitor`` watches and does on drift."""

    columns: tuple[str, ...] | None = None  # None: every feature plus the prediction
    drift: DriftSpec = field(default_factory=DriftSpec)
    checks: tuple[ComponentSpec, ...] = ()
    performance: tuple[Threshold, ...] = ()
    on_drift: str = "fail"
    retrain: RetrainSpec = field(default_factory=RetrainSpec)
    schedule: str | None = None
    """``monitor.schedule``: when a CronJob runs ``specops monitor --from-log --retrain``."""


@dataclass(frozen=True)
class Spec:
    """A validated spec, after profiles, ``--set`` overrides and ``${env:...}``."""

    name: str
    task: str
    seed: int
    source: ComponentSpec
    target: str
    features: Any  # None (infer) or a read-only mapping column -> role ("infer" allowed)
    exclude: tuple[str, ...]
    split: ComponentSpec
    checks: tuple[ComponentSpec, ...]
    preprocess: tuple[ComponentSpec, ...]
    model: ComponentSpec
    gate: tuple[Threshold, ...]
    deploy: tuple[ComponentSpec, ...]
    store_path: Path
    snapshot_data: bool
    path: Path
    profile: str | None  # the profiles applied, comma-separated, as runs record it
    document: Any = field(repr=False)  # the effective spec, env-filled values masked
    spec_hash: str = ""
    config_hash: str = ""  # the spec minus source, deploy, store: see training_config
    monitor: MonitorSpec = field(default_factory=MonitorSpec)
    profiles: tuple[str, ...] = ()  # in the order applied; a later one wins
    execution: ComponentSpec = field(default_factory=lambda: LOCAL_EXECUTION)
    """Where the data-heavy work runs (``execution:``, default ``local``); not one of
    :meth:`components`: it decides where the lifecycle runs, not a step of it."""
    overridden: frozenset[str] = frozenset()
    """Dotted key paths given on the command line with ``--set`` (see :meth:`was_set`)."""
    tracking: tuple[ComponentSpec, ...] = ()
    """The trackers the run reports to beside the store (``tracking:``); not steps."""
    serve_runtime: str = "auto"
    """``serve.runtime``: the prediction runtime registration compiles and verifies, and
    what serving and scoring use by default (``auto``, ``native`` or a runtime's name)."""

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def was_set(self, path: str) -> bool:
        """Whether ``path`` (``execution.params.address``) got its value from ``--set``,
        itself or a section holding it (``--set execution={...}``): the operator's
        choice, where a value in the spec file is its author's."""
        return any(path == key or path.startswith(key + ".") for key in self.overridden)

    def components(self) -> list[ComponentSpec]:
        """Every component in lifecycle order."""
        return [self.source, *self.checks, self.split, *self.preprocess, self.model, *self.deploy]


def spec_hash(document: dict[str, Any]) -> str:
    """A stable hash of the effective spec: same content, same hash, whatever the layout."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
