"""What a run will do, step by step, without running anything.

``specops plan`` prints this, and ``specops run`` uses the same plan, so the two
can never disagree about which plugin runs a step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from framework.param_defaults import schema_defaults
from framework.plugins import Plugins
from framework.redact import scrub, scrub_text
from framework.spec.model import ComponentSpec, Spec, thawed


@dataclass(frozen=True)
class PlannedStep:
    """One step and the component that will run it, with its effective params: the
    spec's, plus the schema's defaults for the params it leaves out (named in
    ``defaults``)."""

    step: str
    kind: str
    type: str
    plugin: str
    version: str
    params: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    note: str = ""
    dist: str = ""  # the distribution that provides the plugin ("specops" for a built-in)
    defaults: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _planned(
    step: str, plugins: Plugins, spec: Spec, component: ComponentSpec, note: str
) -> PlannedStep:
    entry = plugins.registry.find(component.kind, component.type)
    params = masked_params(spec, component)
    if entry is None:  # claimed by a plugin's specops_resolve_component
        plugin, version, dist, defaults = "resolver hook", "-", "", {}
    else:
        plugin = entry.plugin.name if entry.plugin.builtin else entry.plugin.dist
        version, dist = entry.plugin.version, entry.plugin.dist
        defaults = {
            k: v for k, v in schema_defaults(entry.params_schema).items() if k not in params
        }
    return PlannedStep(
        step=step,
        kind=component.kind,
        type=component.type,
        plugin=plugin,
        version=version,
        params={**params, **scrub(defaults)},
        path=component.path,
        note=scrub_text(note),  # "target: ..." may name a value from the environment
        dist=dist,
        defaults=tuple(defaults),
    )


def masked_params(spec: Spec, component: ComponentSpec) -> dict[str, Any]:
    """Params as written, with ``${env:...}`` placeholders instead of their values and
    passwords in URLs hidden: what plan prints and the store keeps. Params not found
    as written (a default filled in) are scrubbed the same way."""
    node: Any = spec.document  # read-only: walked as it is, only the params are thawed
    for part in component.path.replace("[", ".").replace("]", "").split("."):
        if isinstance(node, tuple | list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            node = None
            break
    written = node.get("params") if isinstance(node, Mapping) else None
    params = thawed(written) if isinstance(written, Mapping) else component.kwargs()
    return scrub(params)


def make_plan(spec: Spec, plugins: Plugins) -> list[PlannedStep]:
    """Every step of ``specops run`` for this spec, in order."""
    steps: list[PlannedStep] = []

    def add(step: str, component: ComponentSpec, note: str = "") -> None:
        steps.append(_planned(step, plugins, spec, component, note))

    add("ingest", spec.source, f"target: {spec.target}")
    for check in spec.checks:
        add("check", check, "warn only" if check.severity == "warn" else "")
    add("split", spec.split, f"seed {spec.seed}")
    for transform in spec.preprocess:
        add("transform", transform)
    model_entry = plugins.registry.find("model", spec.model.type)
    add("train", spec.model, _model_note(model_entry.factory) if model_entry else "")
    for deploy in spec.deploy:
        add("deploy", deploy)
    return steps


def _model_note(factory: Any) -> str:
    notes = []
    if not getattr(factory, "native_categorical", True):
        notes.append("categorical columns one-hot encoded unless preprocess encodes them")
    if not getattr(factory, "handles_missing", True):
        notes.append("missing numeric values imputed (median) unless preprocess imputes them")
    return "; ".join(notes)


def metrics_for(spec: Spec, plugins: Plugins) -> list[str]:
    """Every registered metric that fits the spec's task: all are reported."""
    return [
        name
        for name in plugins.registry.types("metric")
        if spec.task in plugins.build("metric", name).tasks
    ]


def components_taking_part(spec: Spec, plugins: Plugins) -> list[tuple[str, str]]:
    """Every (kind, type) a run of this spec may build: the spec's components in
    lifecycle order, then the one-hot and impute steps the engine adds when the model
    cannot take categories or missing values (listed whenever it might add them), and
    every metric reported. The run records each one's plugin and version."""
    found = [(c.kind, c.type) for c in spec.components()]
    model = plugins.registry.find("model", spec.model.type)
    factory = model.factory if model else None
    if not getattr(factory, "native_categorical", True):
        found.append(("transform", "one_hot"))
    if not getattr(factory, "handles_missing", True):
        found.append(("transform", "impute"))
    found += [("metric", name) for name in metrics_for(spec, plugins)]
    return list(dict.fromkeys(found))


def planned_execution(spec: Spec, plugins: Plugins) -> PlannedStep:
    """Where the run happens: the spec's executor (``execution:``, default ``local``),
    its plugin and its effective params, masked like every component's."""
    return _planned("execution", plugins, spec, spec.execution, "")


def execution_lines(spec: Spec, plugins: Plugins) -> list[str]:
    """The executor's own account of where the run would happen (a cluster's address,
    the partitions the source yields), for ``specops plan``; nothing connects."""
    from framework.components import StepContext
    from framework.execution import executor_for

    ctx = StepContext(
        spec_name=spec.name,
        task=spec.task,
        target=spec.target,
        base_dir=spec.base_dir,
        seed=spec.seed,
        execution=spec.execution.type,
    )
    lines = executor_for(spec, plugins).describe(spec, plugins, ctx)
    return [scrub_text(str(line)) for line in lines or []]


def planned_runtimes(spec: Spec, plugins: Plugins) -> dict[str, Any]:
    """What ``register`` will compile and verify for ``serve.runtime``, by which plugins,
    and what will serve (``plan`` prints it under register; nothing is compiled here)."""
    from framework.runtimes.lookup import AUTO, KIND, NATIVE, to_compile

    requested = spec.serve_runtime
    compiled = []
    for name in to_compile(requested, plugins):
        entry = plugins.registry.find(KIND, name)
        plugin = "" if entry is None else entry.plugin.name
        version = "" if entry is None else entry.plugin.version
        compiled.append({"runtime": name, "plugin": plugin, "version": version})
    names = ", ".join(item["runtime"] for item in compiled)
    if requested == NATIVE:
        serves = "native: nothing compiled"
    elif not compiled and requested == AUTO:
        serves = "native: no compiled runtime is installed (auto)"
    elif requested == AUTO:
        serves = (
            f"auto: {names} compiled and verified at register; the fastest verified one "
            "serves, else native"
        )
    else:
        serves = f"{requested}: compiled and verified at register; native if it is not verified"
    return {"requested": requested, "compile": compiled, "serves": serves}
