"""From a spec file to a validated :class:`Spec`, collecting every problem on the way.

Passes, each adding to one list so the user sees all problems at once:

1. read: the bounds of :mod:`framework.spec.limits` (size, nesting, aliases; a
   crossed bound stops here), YAML syntax, duplicate keys, keys that are not text;
2. compose: profiles in order, ``--set`` overrides, ``${env:...}``; then NaN,
   infinity and integers beyond 64 bits, wherever they came from;
3. envelope: the core JSON Schema;
4. components: each type registered, its params against its own schema, then
   the component's own static findings (a data file that does not exist);
5. meaning: metrics that fit the task, thresholds that can be met, target and
   feature lists that agree;
6. execution: on a spec valid otherwise, the executor (``execution:``, default
   ``local``) names the components it cannot run (a scikit-learn model on ``dask``),
   each at that component's line.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from framework import contracts
from framework.components import StepContext
from framework.errors import PluginFault, Problem, SpecError, UserError
from framework.plugins import Plugins
from framework.redact import hashable
from framework.registry import UnknownComponent
from framework.spec.compose import (
    apply_overrides,
    apply_profiles,
    interpolate_env,
    overridden_paths,
)
from framework.spec.explain import schema_problems, shown
from framework.spec.limits import numbers
from framework.spec.model import (
    LOCAL_EXECUTION,
    ComponentSpec,
    Spec,
    Threshold,
    frozen,
    spec_hash,
)
from framework.spec.schema import core_schema
from framework.spec.source import KeyPath, Positions, dotted, read_spec_text
from framework.store.location import default_store_dir
from framework.trackers import tracking_specs

CLASSIFICATION = ("binary", "multiclass")
DEFAULT_EXECUTION = LOCAL_EXECUTION.type


def load_spec(
    path: str | Path,
    plugins: Plugins,
    *,
    profile: str | Sequence[str] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Spec:
    """Read, compose and validate a spec; raise :class:`SpecError` listing every problem.

    ``profile`` is one profile name or several, merged in order (a later one wins).
    """
    path = Path(path)
    profiles = (profile,) if isinstance(profile, str) else tuple(profile or ())
    text = read_spec_text(path)
    if not isinstance(text.data, dict):
        raise SpecError(text.problems)
    problems = list(text.problems)
    positions = text.positions

    data, found = apply_profiles(text.data, positions, profiles)
    problems += found
    problems += apply_overrides(data, positions, list(overrides))
    bad_numbers = _number_problems(data, positions)
    problems += bad_numbers
    document = copy.deepcopy(data)  # keeps ${env:...} placeholders: safe to show and store
    data, from_env, found = interpolate_env(data, positions, env)
    problems += found
    unset = {p.path for p in found}  # their placeholders are not worth a second message

    problems += schema_problems(data, core_schema(), positions, from_env=from_env)
    checker = _Checker(data, positions, plugins, path, from_env)
    problems += checker.components()
    problems += checker.gate()
    problems += checker.deploy_overlaps()
    problems += checker.columns()
    problems += checker.monitor()
    problems += checker.store()
    problems += checker.schedule()
    problems += checker.serve()
    unset_problems = set(map(id, found))  # by identity: `in` a long list is quadratic
    problems = [p for p in problems if p.path not in unset or id(p) in unset_problems]
    # A NaN or a 30-digit integer also breaks the schema's bounds: one message is enough.
    numbered = {p.path for p in bad_numbers}
    kept = set(map(id, bad_numbers))  # by identity: `in` a list of 50,000 took minutes
    problems = [p for p in problems if p.path not in numbered or id(p) in kept]

    if problems:
        raise SpecError(_unique_sorted(problems))
    spec = replace(_build(data, document, path, profiles), overridden=overridden_paths(overrides))
    problems = checker.execution(spec)
    if problems:
        raise SpecError(_unique_sorted(problems))
    return spec


def _number_problems(data: dict[str, Any], positions: Positions) -> list[Problem]:
    """NaN, infinity and integers beyond 64 bits, wherever they are: no schema
    comparison catches NaN (every comparison with it is false)."""
    return [
        Problem(
            f"{dotted(path)}: {reason}",
            path=dotted(path),
            location=positions.of_value(path),
        )
        for path, reason in numbers(data)
    ]


def _unique_sorted(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for problem in problems:
        key = (problem.path, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)

    def order(p: Problem) -> tuple[int, int, int]:
        loc = p.location
        return (0, loc.line, loc.column) if loc and loc.line else (1, 0, 0)

    return sorted(unique, key=order)


def default_split(task: str) -> dict[str, Any]:
    return {"type": "stratified" if task in CLASSIFICATION else "random"}


def component_paths(data: dict[str, Any]) -> Iterator[tuple[str, KeyPath, Any]]:
    """(kind, path, node) for every component section present in the spec."""
    section = data.get("data")
    if isinstance(section, dict):
        yield "source", ("data", "source"), section.get("source")
        if "split" in section:
            yield "split", ("data", "split"), section.get("split")
    for kind, key in (("check", "checks"), ("transform", "preprocess")):
        items = data.get(key)
        if isinstance(items, list):
            for index, node in enumerate(items):
                yield kind, (key, index), node
    if "model" in data:
        yield "model", ("model",), data.get("model")
    if "execution" in data:
        yield "execution", ("execution",), data.get("execution")
    deploy = data.get("deploy")
    if isinstance(deploy, list):
        for index, node in enumerate(deploy):
            yield "deploy", ("deploy", index), node
    elif deploy is not None:
        yield "deploy", ("deploy",), deploy
    from framework.monitoring.spec import monitor_components
    from framework.trackers import tracking_components

    yield from monitor_components(data)
    yield from tracking_components(data)


class _Checker:
    """The checks beyond the core schema, which need the installed plugins."""

    def __init__(
        self,
        data: dict[str, Any],
        positions: Positions,
        plugins: Plugins,
        path: Path,
        from_env: set[str] | None = None,
    ):
        self.data = data
        self.positions = positions
        self.from_env = from_env or set()
        self.plugins = plugins
        self.registry = plugins.registry
        self.executor: Any = None  # the spec's executor, once built without problems
        task = data.get("task")
        # An unknown task is reported once, by the schema; what would follow from it
        # (no model, no metric fits it) adds nothing, so the checks here skip the task.
        self.task = task if task in core_schema()["properties"]["task"]["enum"] else ""
        data_section = data.get("data") if isinstance(data.get("data"), dict) else {}
        target = data_section.get("target")
        seed = data.get("seed")
        self.ctx = StepContext(
            spec_name=str(data.get("name", "")),
            task=self.task,
            target=target if isinstance(target, str) else "",
            base_dir=path.resolve().parent,
            seed=seed if isinstance(seed, int) else 0,
            # deploy targets refuse a path that would replace the store
            store_root=_store_root(data, path),
            execution=_execution_type(data),
        )

    def problem(self, message: str, path: KeyPath, *, at_key: bool = False, **kw: Any) -> Problem:
        where = self.positions.of_key(path) if at_key else self.positions.of_value(path)
        return Problem(message, path=dotted(path), location=where, **kw)

    # components ------------------------------------------------------------

    def components(self) -> list[Problem]:
        problems: list[Problem] = []
        for kind, path, node in component_paths(self.data):
            if not isinstance(node, dict) or not isinstance(node.get("type"), str):
                continue  # the envelope schema has reported it
            problems += self.component(kind, path, node)
        return problems

    def component(self, kind: str, path: KeyPath, node: dict[str, Any]) -> list[Problem]:
        type_name = node["type"]
        entry = self.registry.find(kind, type_name)
        try:
            if entry is None and self._claimed(kind, type_name, node.get("params")):
                return []
        except UserError as exc:  # a resolver hook raised: PluginError names its plugin
            return [self.problem(str(exc), path + ("type",))]
        if entry is None:
            return [
                self.problem(
                    self.registry.unknown_type_message(kind, type_name),
                    path + ("type",),
                    expected="one of: " + ", ".join(self.registry.types(kind)),
                    found=shown(type_name),
                )
            ]
        params = node.get("params", {})
        if not isinstance(params, dict):
            return []  # reported by the envelope schema
        found = schema_problems(
            params, dict(entry.params_schema), self.positions, path + ("params",), self.from_env
        )
        if found:
            return found
        try:
            component = self.plugins.build(kind, type_name, params)
        except PluginFault:
            raise  # the component it built breaks its protocol: a bug, not the params
        except Exception as exc:  # a plugin's constructor rejecting its params
            return [self.problem(f"{kind} '{type_name}' rejects its params: {exc}", path)]
        if kind == "execution":  # its validate(spec, plugins) judges the whole spec
            self.executor = component
            return []
        problems = [
            self.problem(
                f.message,
                path + ("params", f.key) if f.key else path,
                hint=f.hint,
            )
            for f in contracts.findings(self.plugins, kind, type_name, component, self.ctx)
        ]
        tasks = getattr(component, "tasks", None)
        if kind == "model" and tasks is not None and self.task and self.task not in tasks:
            fitting = [
                name
                for name in self.registry.types("model")
                if self.task in getattr(self.registry.get("model", name).factory, "tasks", ())
            ]
            problems.append(
                self.problem(
                    f"model '{type_name}' cannot learn a {self.task} task "
                    f"(it learns: {', '.join(sorted(tasks))})",
                    path + ("type",),
                    hint=f"models for {self.task}: {', '.join(fitting)}",
                )
            )
        return problems

    def execution(self, spec: Spec) -> list[Problem]:
        """The components the spec's executor cannot run (a model with no distributed
        training on ``dask``, say), each at the line of the component it names. Asked
        of a spec valid otherwise: the executor judges the components as they will run."""
        from framework.execution import executor_for

        executor = self.executor or executor_for(spec, self.plugins)
        problems = []
        for where, finding in _executor_findings(self.plugins, spec, executor):
            path = _key_path(where)
            if finding.key:
                path += ("params", *_key_path(finding.key))
            problems.append(self.problem(finding.message, path, hint=finding.hint))
        return problems

    def _claimed(self, kind: str, type_name: str, params: Any) -> bool:
        """Whether a plugin's resolver hook claims a type nobody registered (a resolver
        that raises is a PluginError naming it, not an unknown type)."""
        try:
            self.plugins.build(kind, type_name, params if isinstance(params, dict) else {})
        except UnknownComponent:
            return False
        return True

    def deploy_overlaps(self) -> list[Problem]:
        """Two deploy targets whose paths are the same or nested: the second would replace
        what the first just wrote (found here, before training, not after register)."""
        written: list[tuple[KeyPath, Path]] = []
        # indexes into written, so each target costs its depth, not the count before it
        # (comparing every pair took 37 s for 2,000 targets)
        at: dict[Path, list[int]] = {}  # a path written -> its targets
        inside: dict[Path, list[int]] = {}  # a folder -> the targets written inside it
        problems: list[Problem] = []
        for kind, path, node in component_paths(self.data):
            params = node.get("params") if isinstance(node, dict) else None
            if kind != "deploy" or not isinstance(params, dict):
                continue
            for key in ("path", "output"):
                if not isinstance(params.get(key), str) or not params[key]:
                    continue
                here = self.ctx.path(params[key]).resolve()
                overlapping = set(at.get(here, ())) | set(inside.get(here, ()))
                overlapping.update(i for parent in here.parents for i in at.get(parent, ()))
                for earlier_key, earlier in (written[i] for i in sorted(overlapping)):
                    problems.append(
                        self.problem(
                            f"deploy path {here} overlaps {dotted(earlier_key)} ({earlier}): "
                            "one target would replace what the other wrote",
                            path + ("params", key),
                            hint="give each deploy target its own folder",
                        )
                    )
                at.setdefault(here, []).append(len(written))
                for parent in here.parents:
                    inside.setdefault(parent, []).append(len(written))
                written.append((path + ("params", key), here))
        return problems

    # gate ------------------------------------------------------------------

    def gate(self) -> list[Problem]:
        gate = self.data.get("gate")
        if not isinstance(gate, dict):
            return []
        problems: list[Problem] = []
        names = self.registry.types("metric")
        for metric_name, rule in gate.items():
            path: KeyPath = ("gate", metric_name)
            entry = self.registry.find("metric", metric_name)
            if entry is None:
                problems.append(
                    self.problem(
                        self.registry.unknown_type_message("metric", metric_name),
                        path,
                        at_key=True,
                        expected="one of: " + ", ".join(names),
                    )
                )
                continue
            metric = self.plugins.build("metric", metric_name)
            if self.task and self.task not in metric.tasks:
                fitting = [n for n in names if self.task in self.plugins.build("metric", n).tasks]
                problems.append(
                    self.problem(
                        f"metric '{metric_name}' does not fit a {self.task} task",
                        path,
                        at_key=True,
                        hint=f"metrics for {self.task}: {', '.join(fitting)}",
                    )
                )
            if isinstance(rule, dict):
                problems += self.threshold(metric_name, metric, rule, path)
        return problems

    def threshold(
        self, name: str, metric: Any, rule: dict[str, Any], path: KeyPath
    ) -> list[Problem]:
        low, high = rule.get("min"), rule.get("max")
        numeric = (int, float)
        low = low if isinstance(low, numeric) and not isinstance(low, bool) else None
        high = high if isinstance(high, numeric) and not isinstance(high, bool) else None
        contracts.metric_declares(self.plugins, name, metric)
        bound_low, bound_high = metric.bounds
        problems = []
        if low is not None and high is not None and low > high:
            problems.append(
                self.problem(
                    f"contradictory thresholds for {name}: min {low} is above max {high}",
                    path,
                    at_key=True,
                )
            )
        if low is not None and bound_high is not None and low > bound_high:
            problems.append(
                self.problem(
                    f"{name} min {low} can never be met: {name} is at most {bound_high}",
                    path + ("min",),
                )
            )
        if high is not None and bound_low is not None and high < bound_low:
            problems.append(
                self.problem(
                    f"{name} max {high} can never be met: {name} is at least {bound_low}",
                    path + ("max",),
                )
            )
        return problems

    def schedule(self) -> list[Problem]:
        """``monitor.schedule`` is a cron expression a Kubernetes CronJob accepts, checked
        whatever the deploy targets (see :mod:`framework.monitoring.schedule`)."""
        section = self.data.get("monitor")
        value = section.get("schedule") if isinstance(section, dict) else None
        if not isinstance(value, str):
            return []  # absent, or not text: the schema says so
        from framework.monitoring.schedule import cron_problem

        if "monitor.schedule" in self.from_env:
            # the run stores its spec with ${env:...} kept as placeholders, and the
            # container target writes the CronJob from that: validate passed and the
            # deploy failed after the version was registered
            return [
                self.problem(
                    "monitor.schedule cannot come from ${env:...}: it is written into a "
                    "Kubernetes CronJob from the spec as the run stores it, where the "
                    "placeholder stays a placeholder; write the schedule itself",
                    ("monitor", "schedule"),
                )
            ]
        found = cron_problem(value)
        return [] if found is None else [self.problem(found, ("monitor", "schedule"))]

    def store(self) -> list[Problem]:
        """``store.url`` and ``store.artifacts`` name backends that are installed: their
        URL schemes are metadata_store / artifact_store types (nothing is connected)."""
        from framework.store.addressing import backend_problem

        section = self.data.get("store")
        if not isinstance(section, dict):
            return []
        problems = []
        for key, kind in (("url", "metadata_store"), ("artifacts", "artifact_store")):
            value = section.get(key)
            if isinstance(value, str):
                found = backend_problem(self.registry, kind, value)
                if found is not None:
                    problems.append(self.problem(found, ("store", key)))
        return problems

    def serve(self) -> list[Problem]:
        """``serve.runtime`` names a runtime some installed plugin registers (``auto`` and
        ``native`` always do), with a did-you-mean at the line that misspells it."""
        from framework.runtimes.lookup import ENVIRONMENT, choices, default_runtime, unknown_message

        section = self.data.get("serve")
        value = section.get("runtime") if isinstance(section, dict) else None
        if value is None and not (isinstance(section, dict) and "runtime" in section):
            fallback = default_runtime()  # the spec is silent: $SPECOPS_RUNTIME decides
            found = unknown_message(fallback, self.registry)
            if found is None:
                return []
            return [self.problem(f"{ENVIRONMENT}={fallback}: {found}", ("name",))]
        if not isinstance(value, str):
            return []  # not text: the schema says so
        found = unknown_message(value, self.registry)
        if found is None:
            return []
        return [
            self.problem(
                found,
                ("serve", "runtime"),
                expected="one of: " + ", ".join(choices(self.registry)),
                found=shown(value),
            )
        ]

    def monitor(self) -> list[Problem]:
        """The ``monitor:`` section's meaning (see :mod:`framework.monitoring.spec`)."""
        from framework.monitoring.spec import monitor_problems

        return monitor_problems(self)

    # columns ---------------------------------------------------------------

    def columns(self) -> list[Problem]:
        section = self.data.get("data")
        if not isinstance(section, dict):
            return []
        target = section.get("target")
        exclude = section.get("exclude") if isinstance(section.get("exclude"), list) else []
        features = section.get("features")
        names = list(features) if isinstance(features, dict | list) else []
        problems = []
        if target in exclude:
            problems.append(
                self.problem(
                    f"the target '{target}' is also in exclude", ("data", "exclude"), at_key=True
                )
            )
        if target in names:
            problems.append(
                self.problem(
                    f"the target '{target}' is also listed as a feature",
                    ("data", "features"),
                    at_key=True,
                    hint="a model must not see the column it predicts",
                )
            )
        both = sorted(set(names) & {e for e in exclude if isinstance(e, str)})
        if both:
            problems.append(
                self.problem(
                    f"columns both in features and in exclude: {', '.join(both)}",
                    ("data", "exclude"),
                    at_key=True,
                )
            )
        return problems


def _executor_findings(plugins: Plugins, spec: Spec, executor: Any) -> list[tuple[str, Any]]:
    """``executor.validate(spec, plugins)``, held to its contract: a list of
    ``(component path, Finding)`` pairs, else a bug of the executor's plugin."""
    from framework.components import Finding

    found = executor.validate(spec, plugins)
    if not isinstance(found, list) or not all(
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], Finding)
        for item in found
    ):
        raise contracts.broken(
            plugins,
            "execution",
            spec.execution.type,
            "validate must return a list of (component path, framework.Finding) pairs, "
            f"not {type(found).__name__}",
        )
    return found


def _key_path(dotted_path: str) -> KeyPath:
    """``preprocess[1]`` -> ``("preprocess", 1)``, ``data.source`` -> ``("data", "source")``."""
    path: list[str | int] = []
    for part in dotted_path.replace("]", "").replace("[", ".").split("."):
        if part:
            path.append(int(part) if part.isdigit() else part)
    return tuple(path)


def _component(kind: str, node: dict[str, Any], path: KeyPath) -> ComponentSpec:
    return ComponentSpec.from_node(kind, node, dotted(path))


def training_config(data: dict[str, Any]) -> dict[str, Any]:
    """What decides the model given the data: the effective spec without where the
    data comes from, where the model goes and where the store is. Two runs with the
    same config hash on the same data must make the same model."""
    skipped = ("deploy", "store", "profiles", "monitor", "execution", "tracking", "serve")
    config = {k: v for k, v in data.items() if k not in skipped}
    config["data"] = {k: v for k, v in data["data"].items() if k != "source"}
    execution = data.get("execution") or {}
    if execution.get("type", DEFAULT_EXECUTION) != DEFAULT_EXECUTION:
        # where it runs may change the model (LightGBM's distributed training), the
        # cluster's address or size must not: only the type counts
        config["execution"] = {"type": execution["type"]}
    return config


def _store_root(data: dict[str, Any], path: Path) -> Path:
    """The store's folder: ``store.path`` (relative to the spec's folder), else the default."""
    store = data.get("store")
    raw = store.get("path") if isinstance(store, dict) else None
    if not isinstance(raw, str):
        return default_store_dir(path)
    return path.resolve().parent / Path(raw).expanduser()


def _build(
    data: dict[str, Any], document: dict[str, Any], path: Path, profiles: tuple[str, ...]
) -> Spec:
    section = data["data"]
    task = data["task"]
    split = section.get("split") or default_split(task)
    deploy = data.get("deploy", {"type": "registry"})  # an explicit [] deploys nothing
    deploy_nodes = deploy if isinstance(deploy, list) else [deploy]
    features = section.get("features")
    if isinstance(features, list):
        features = {name: "infer" for name in features}
    store = data.get("store") or {}
    gate = data.get("gate") or {}
    return Spec(
        name=data["name"],
        task=task,
        seed=int(data.get("seed", 0)),
        source=_component("source", section["source"], ("data", "source")),
        target=section["target"],
        features=frozen(features) if features else None,
        exclude=tuple(section.get("exclude") or ()),
        split=_component("split", split, ("data", "split")),
        checks=tuple(
            _component("check", node, ("checks", i))
            for i, node in enumerate(data.get("checks") or [])
        ),
        preprocess=tuple(
            _component("transform", node, ("preprocess", i))
            for i, node in enumerate(data.get("preprocess") or [])
        ),
        model=_component("model", data["model"], ("model",)),
        gate=tuple(Threshold(metric=name, **rule) for name, rule in gate.items()),
        deploy=tuple(
            _component("deploy", node, ("deploy", i) if isinstance(deploy, list) else ("deploy",))
            for i, node in enumerate(deploy_nodes)
        ),
        store_path=_store_root(data, path),
        snapshot_data=bool(store.get("snapshot_data", True)),
        path=path.resolve(),
        profile=", ".join(profiles) or None,
        profiles=profiles,
        document=frozen(document),
        # hashes are stored: computed without credentials, they cannot confirm a guess
        spec_hash=spec_hash(hashable(data)),
        config_hash=spec_hash(hashable(training_config(data))),
        monitor=_monitor(data.get("monitor")),
        execution=_component("execution", data["execution"], ("execution",))
        if "execution" in data
        else LOCAL_EXECUTION,
        tracking=tracking_specs(data),
        serve_runtime=_serve_runtime(data),
    )


def _serve_runtime(data: dict[str, Any]) -> str:
    from framework.runtimes.lookup import default_runtime

    section = data.get("serve")
    value = section.get("runtime") if isinstance(section, dict) else None
    return value if isinstance(value, str) else default_runtime()


def _monitor(section: Any) -> Any:
    from framework.monitoring.spec import build_monitor

    built = build_monitor(section)
    schedule = section.get("schedule") if isinstance(section, dict) else None
    if built is None or not isinstance(schedule, str):
        return built
    return replace(built, schedule=schedule.strip())


def _execution_type(data: dict[str, Any]) -> str:
    """``execution.type`` as written (``local`` when absent or malformed: the schema
    reports a malformed one)."""
    section = data.get("execution")
    kind = section.get("type") if isinstance(section, dict) else None
    return kind if isinstance(kind, str) and kind else "local"
