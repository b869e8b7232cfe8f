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


WIDE = 120
"""Narrower consoles get each column's detail below the table, not in a column."""

IDENTIFIERS = frozenset(
    {"column", "test", "check", "metric", "run", "when", "version", "statistic", "verdict"}
)
"""Columns whose values people read whole or copy: never broken across lines."""


def _table(title: str, *columns: str) -> Table:
    """Identifiers stay on one line; free text wraps at words (folding only long words)."""
    table = Table(title=escape(title), title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=column in IDENTIFIERS, overflow="fold")
    return table


def footnotes(texts: list[str]) -> tuple[list[str], list[str]]:
    """Each text as a marker (``[1]``) and the distinct texts as numbered notes.

    Why a test was chosen is a sentence, and most columns share one: in a table
    column it made each row many lines tall in a narrow terminal.
    """
    numbers: dict[str, int] = {}
    markers = []
    for text in texts:
        if not text:
            markers.append("")
            continue
        markers.append(f"[{numbers.setdefault(text, len(numbers) + 1)}]")
    notes = [f"[{n}] {text}" for text, n in numbers.items()]
    return markers, notes


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.2e}"
    return f"{value:.4f}"


def threshold_text(drift_if: str, threshold: float | str | None) -> str:
    """``>= 0.2``; a stored threshold that came from the environment is its placeholder."""
    if threshold is None:
        return "-"
    return f"{drift_if} {threshold}" if isinstance(threshold, str) else f"{drift_if} {threshold:g}"


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
    wide = console.width >= WIDE
    headers = ["column", "test", "statistic", "drift if", "verdict"] + (["detail"] if wide else [])
    table = _table("drift per column", *headers)
    markers, notes = footnotes([c.reason or "" for c in result.columns])
    details: list[tuple[str, str]] = []
    for c, marker in zip(result.columns, markers, strict=True):
        name = escape(c.column) + (" [dim](prediction)[/]" if c.source == "prediction" else "")
        measure = "p = " if c.measure == "p_value" else ""
        statistic = f"{measure}{number(c.statistic)}" if c.statistic is not None else "-"
        detail = "; ".join(filter(None, [c.detail or c.note, _nulls(c.summary)]))
        row = [
            name,
            escape(c.test or "-") + (f" [dim]{escape(marker)}[/]" if marker else ""),
            statistic,
            threshold_text(c.drift_if, c.threshold),
            STATUS.get(c.status, escape(c.status)),
        ]
        if wide:
            row.append(escape(detail))
        elif detail:
            details.append((c.column, detail))
        table.add_row(*row)
    console.print(table)
    for column, detail in details:
        console.print(f"[bold]{escape(column)}[/]: {escape(detail)}")
    if notes:
        console.print("[dim]why each test:[/]")
        for note in notes:
            console.print(f"[dim]{escape(note)}[/]")
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
        title = f"retraining run {outcome.run_id}: gate, challenger vs champion"
        console.print(_metric_table(title, "challenger", "champion", outcome.gate))
        if outcome.champion_note:  # RetrainOutcome always has one ("" when none)
            console.print(f"[dim]gate: {escape(outcome.champion_note)}[/]")
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
