"""Rich tables for people (plan, run summary, plugins) and the matching JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.engine import RunResult
    from framework.feature_preview import DataPreview
    from framework.plan import PlannedStep
    from framework.registry import ComponentRegistry
    from framework.spec.model import Spec


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _table(title: str, *columns: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        # fold, never "…": a cut type name, path or param cannot be copied into a spec
        table.add_column(column, overflow="fold")
    return table


def _value(value: Any) -> str:
    from rich.markup import escape

    if isinstance(value, list):
        return escape("[" + ", ".join(map(str, value)) + "]")
    return escape(str(value))


def _param_lines(params: dict[str, Any]) -> str:
    return "\n".join(f"{k}={_value(v)}" for k, v in params.items()) or "[dim]defaults[/]"


def print_plan(
    spec: Spec,
    steps: list[PlannedStep],
    metrics: list[str],
    data: DataPreview | None = None,
    runtime: dict[str, Any] | None = None,
) -> None:
    console = _console()
    profile = f", profile {spec.profile}" if spec.profile else ""
    console.print(f"[bold]{spec.name}[/] ({spec.task}{profile}); nothing runs")
    table = _table("plan", "step", "component", "plugin", "effective params")
    table.columns[1].no_wrap = True
    table.columns[2].no_wrap = True
    # evaluate, gate and register run after train and before deploy, deploy steps or not
    deploy_at = next((i for i, s in enumerate(steps) if s.step == "deploy"), len(steps))
    for step in steps[:deploy_at]:
        _add_step_row(table, step)
    _add_core_rows(table, spec, metrics, runtime)
    for step in steps[deploy_at:]:
        _add_step_row(table, step)
    console.print(table)
    if data is not None:
        from rich.markup import escape

        columns = _table(f"columns of the source ({data.rows:,} rows)", "column", "role", "use")
        columns.columns[0].no_wrap = True
        for column in data.columns:
            style = "" if column.use == "feature" else "dim"
            cells = [escape(column.name), column.role, column.use]
            columns.add_row(*(f"[{style}]{c}[/]" if style else c for c in cells))
        console.print(columns)


def _add_step_row(table: Any, step: PlannedStep) -> None:
    cell = _param_lines(step.params) + (f"\n[dim]{step.note}[/]" if step.note else "")
    table.add_row(step.step, step.type, f"{step.plugin} {step.version}", cell)


def _add_core_rows(
    table: Any, spec: Spec, metrics: list[str], runtime: dict[str, Any] | None = None
) -> None:
    rules = []
    for rule in spec.gate:
        parts = [
            f"{label} {value}"
            for label, value in (("min", rule.min), ("max", rule.max), ("max_drop", rule.max_drop))
            if value is not None
        ]
        rules.append(f"{rule.metric}: {', '.join(parts)}")
    table.add_row("evaluate", "metrics", "specops", ", ".join(metrics))
    table.add_row("gate", "thresholds", "specops", "\n".join(rules) or "[dim]no thresholds[/]")
    from rich.markup import escape

    from framework.redact import redact  # a cell may wrap: redact before rich splits it

    store = f"store={redact(str(spec.store_path))}"
    if runtime is not None:  # what register compiles and verifies, what serves
        store += f"\n[dim]runtime {escape(redact(runtime['serves']))}[/]"
    table.add_row("register", "registry", "specops", store)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


VERDICT = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[dim]-[/]"}


def _champion_cell(champion: float | None, compared: float | None) -> str:
    """The champion's value; with the candidate's on the same rows when the gate compared
    on fewer rows than the whole test split (``value`` is the whole split's)."""
    if compared is None or champion is None:
        return _number(champion)
    return f"{_number(champion)}\n[dim]vs {_number(compared)}[/]"


def print_run(spec: Spec, result: RunResult) -> None:
    console = _console()
    run = result.run
    steps = _table(f"run {run.run_id}", "step", "component", "plugin", "time", "status", "detail")
    from rich.markup import escape

    for step in run.steps:
        steps.add_row(
            step.name,
            step.component,
            step.plugin,
            f"{step.seconds:.2f}s",
            step.status,
            escape(step.detail),
        )
    console.print(steps)
    failed_checks = [c for c in result.checks if not c.passed]
    if failed_checks:
        checks = _table("failed data checks", "check", "column", "observed", "expected", "detail")
        for c in failed_checks:
            checks.add_row(
                c.check,
                c.column or "",
                escape(str(c.observed)),
                escape(str(c.expected)),
                escape(c.detail),
            )
        console.print(checks)
    if result.verdicts:
        metrics = _table(
            "metrics on the test split",
            "metric",
            "value",
            "threshold",
            "champion",
            "verdict",
            "detail",
        )
        for v in result.verdicts:
            metrics.add_row(
                v.metric,
                _number(v.value),
                v.rule or "-",
                _champion_cell(v.champion, v.compared),
                VERDICT[v.passed],
                escape(v.detail),
            )
        console.print(metrics)
        rows = (run.outputs.get("comparison") or {}).get("rows")
        if rows is not None and any(v.compared is not None for v in result.verdicts):
            console.print(
                f"[dim]champion: its score, then (vs) the candidate's, on the {rows:,} test rows"
                " neither trained on; value: the candidate's on the whole test split[/]"
            )
    model = run.outputs.get("model")
    deployed = any(step.name == "deploy" and step.status == "passed" for step in run.steps)
    outcome = {
        "passed": "[green]passed[/]: " + ("deployed" if deployed else "registered, not deployed"),
        "rejected": "[red]rejected[/] by the gate: nothing promoted",
        "failed_checks": "[red]stopped[/]: data checks failed, nothing trained",
    }.get(run.status, run.status)
    where = f" — {model['name']}/{model['version']} ({model['status']})" if model else ""
    console.print(f"{outcome}{where}")


def run_json(result: RunResult) -> dict[str, Any]:
    run = result.run
    return {
        "run_id": run.run_id,
        "spec": run.spec_path,
        "name": run.spec_name,
        "task": run.task,
        "status": run.status,
        "exit_code": result.exit_code,
        "steps": [
            {
                "name": s.name,
                "component": s.component,
                "plugin": s.plugin,
                "status": s.status,
                "seconds": round(s.seconds, 4),
                "detail": s.detail,
            }
            for s in run.steps
        ],
        "checks": [c.__dict__ for c in result.checks],
        "metrics": [v.to_dict() for v in result.verdicts],
        "comparison": run.outputs.get("comparison"),  # what the champion was scored on
        "model": run.outputs.get("model"),
        "deploy": run.outputs.get("deploy", []),
        "data": run.outputs.get("data"),
        "lineage": run.outputs.get("lineage"),
    }


def _hooks_line(hooks: list[str] | None) -> str:
    from rich.markup import escape

    if not hooks:
        return ""
    return "lifecycle hooks: " + escape(", ".join(h.removeprefix("specops_") for h in hooks))


def print_plugins(
    registry: ComponentRegistry, observes: dict[str, list[str]] | None = None
) -> None:
    """One row per component with its summary (a plugin with none, a tracker, shows the
    lifecycle hooks it implements); then plugins refused and types withheld."""
    from rich.markup import escape

    console = _console()
    table = _table("plugins", "plugin", "version", "kind", "type", "summary")
    for info, entries in registry.by_plugin():
        name = escape(info.name) + (
            " [dim](built-in)[/]" if info.builtin else f" [dim]({escape(info.dist)})[/]"
        )
        rows = sorted(entries, key=lambda e: (e.kind, e.type_name)) or [None]
        for index, entry in enumerate(rows):
            table.add_row(
                name if index == 0 else "",
                escape(info.version) if index == 0 else "",
                entry.kind if entry else "",
                escape(entry.type_name) if entry else "[dim](no components)[/]",
                escape(entry.summary) if entry else _hooks_line((observes or {}).get(info.name)),
            )
    console.print(table)
    for broken in registry.broken:
        console.print(
            f"[red]failed to load[/] {escape(broken.name)} ({escape(broken.dist)}): "
            f"{escape(broken.error)}"
        )
    for conflict in registry.conflicts():
        console.print(f"[red]conflict[/]: {escape(conflict)}")
