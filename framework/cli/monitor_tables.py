"""Rich tables for ``specops monitor``: every column's statistic, threshold and verdict
(shown when nothing drifts too), the checks, performance, retraining and the decision."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

STATUS = {
    "ok": "[green]ok[/]",
    "drift": "[red bold]DRIFT[/]",
    "no data": "[red]no data[/]",
    "not computed": "[yellow]not computed[/]",
}
DECISION = {
    "no_drift": "[green]no drift[/]",
    "drift": "[red bold]drift[/]",
    "failed_checks": "[red]data problems[/]",
    "degraded": "[red]degraded[/]",
    "error": "[red]bad input[/]",
}
PASS = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[dim]-[/]"}


def _table(title: str, *columns: str) -> Table:
    table = Table(title=escape(title), title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.2e}"
    return f"{value:.4f}"


def threshold_text(drift_if: str, threshold: float | None) -> str:
    return "-" if threshold is None else f"{drift_if} {threshold:g}"


def _nulls(summary: dict[str, Any]) -> str:
    ref = summary.get("reference", {}).get("null_share")
    cur = summary.get("current", {}).get("null_share")
    if ref is None or cur is None or (ref == 0 and cur == 0):
        return ""
    return f"missing {ref:.1%} -> {cur:.1%}"


def print_monitor(result: Any) -> None:
    console = Console(highlight=False)
    console.print(
        f"[bold]specops monitor[/] {escape(result.model)}/{result.version} (champion) vs "
        f"{escape(result.data)}: {result.rows:,} rows, monitor run {result.monitor_id}"
    )
    table = _table(
        "drift per column", "column", "test", "why", "statistic", "drift if", "verdict", "detail"
    )
    table.columns[0].no_wrap = True
    for c in result.columns:
        name = c.column + (" [dim](prediction)[/]" if c.source == "prediction" else "")
        measure = "p = " if c.measure == "p_value" else ""
        statistic = f"{measure}{number(c.statistic)}" if c.statistic is not None else "-"
        detail = "; ".join(filter(None, [c.detail or c.note, _nulls(c.summary)]))
        table.add_row(
            name,
            escape(c.test or "-"),
            escape(c.reason or "-"),
            statistic,
            threshold_text(c.drift_if, c.threshold),
            STATUS.get(c.status, escape(c.status)),
            escape(detail),
        )
    console.print(table)
    if result.checks:
        checks = _table("data checks on the batch", "check", "column", "verdict", "detail")
        for outcome in result.checks:
            checks.add_row(
                escape(outcome.check),
                escape(outcome.column or ""),
                PASS[outcome.passed],
                escape(outcome.detail),
            )
        console.print(checks)
    performance = result.performance
    if performance is not None:
        if performance.verdicts:
            title = (
                f"performance on {performance.rows:,} labelled rows ({performance.label_column})"
            )
            verdicts = [v.to_dict() for v in performance.verdicts]
            console.print(_metric_table(title, "value", "at training", verdicts))
        for line in filter(None, [performance.note, performance.problem]):
            console.print(f"[yellow]performance:[/] {escape(line)}")
    for problem in result.problems:
        console.print(f"[red]could not compute:[/] {escape(problem)}")
    if result.retrain is not None:
        _print_retrain(console, result.retrain)
    console.print(
        f"{DECISION.get(result.decision, result.decision)}: {escape(result.decision_text)}"
    )
    if result.report_path:
        console.print(f"report: {escape(result.report_path)}")


def _metric_table(title: str, value: str, compared: str, verdicts: list[dict[str, Any]]) -> Table:
    """Metric verdicts (``MetricVerdict.to_dict()``): the value, the rule and the comparison."""
    table = _table(title, "metric", value, "threshold", compared, "verdict", "detail")
    for v in verdicts:
        table.add_row(
            v["metric"],
            number(v["value"]),
            escape(v["rule"] or "-"),
            number(v["champion"]),
            PASS[v["passed"]],
            escape(v["detail"]),
        )
    return table


def _print_retrain(console: Console, outcome: Any) -> None:
    if outcome.gate:
        title = (
            f"retraining run {outcome.run_id}: gate, challenger vs champion on the new test split"
        )
        console.print(_metric_table(title, "challenger", "champion", outcome.gate))
    promoted = (
        f"promoted version {outcome.promoted_version} to champion"
        if outcome.promoted_version is not None
        else "nothing promoted"
    )
    console.print(
        f"retrain ({escape(outcome.window)}): {escape(outcome.status)}, {promoted}; "
        f"{escape(outcome.note)}"
    )


def print_history(report: dict[str, Any]) -> None:
    console = Console(highlight=False)
    runs = report["runs"]
    table = _table(
        f"monitor history of {report['model']}: last {len(runs)} run(s)",
        "when",
        "run",
        "version",
        "rows",
        "drifted",
        "decision",
        "retrain",
    )
    for run in runs:
        share = run["drift_share"]
        retrain = run["retrain_status"] or ""
        if run["promoted_version"] is not None:
            retrain += f" -> v{run['promoted_version']}"
        table.add_row(
            run["started_at"][:19].replace("T", " "),
            run["id"],
            str(run["version"]),
            f"{run['rows']:,}" if run["rows"] is not None else "-",
            "-" if share is None else f"{share:.0%}",
            DECISION.get(run["decision"], escape(run["decision"])),
            escape(retrain or "-"),
        )
    console.print(table)
    trend = _table(
        "statistic per column, oldest to newest",
        "column",
        "test",
        "trend",
        "last",
        "drift if",
        "drifted runs",
    )
    for column in report["columns"]:
        trend.add_row(
            escape(column["column"]),
            escape(", ".join(column["tests"]) or "-"),
            column["trend"],
            number(column["last"]),
            threshold_text(column["drift_if"] or ">=", column["threshold"]),
            f"{column['drifted_runs']} of {len(runs)}",
        )
    console.print(trend)
