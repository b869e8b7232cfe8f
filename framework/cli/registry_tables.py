"""Rich tables for the registry commands, rendered from the same dicts ``--json`` prints.

Every value that came from the store is escaped: a detail such as ``[a, b]`` must
print as written, not be read as rich markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

Report = dict[str, Any]

STATUS_STYLE = {
    "registered": "green",
    "passed": "green",
    "rejected": "red",
    "failed": "red",
    "failed_checks": "red",
    "error": "red",
    "running": "yellow",
    "skipped": "dim",
}
VERDICT = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[dim]-[/]"}


def _console() -> Console:
    return Console(highlight=False)


IDENTIFIERS = frozenset(
    {"model", "version", "metric", "key", "file", "column", "role", "what", "alias", "step"}
)
"""Columns of names people read whole or copy: a narrow terminal never breaks them."""


def _table(title: str, *columns: str, keep: tuple[str, ...] = ()) -> Table:
    """A table that folds long values rather than cutting them off with an ellipsis;
    identifiers and the columns in ``keep`` (run ids, which people copy) stay on one line."""
    table = Table(title=escape(title), title_justify="left", title_style="bold")
    for column in columns:
        whole = column in keep or column in IDENTIFIERS
        table.add_column(column, no_wrap=whole, overflow="fold")
    return table


def _text(value: Any) -> str:
    """A cell: ``-`` for nothing, numbers compact, everything else escaped."""
    if value is None or value == "":
        return "[dim]-[/]"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return escape("[" + ", ".join(map(str, value)) + "]")
    return escape(str(value))


def _metric(value: float | None) -> str:
    return "[dim]-[/]" if value is None else f"{value:.4f}"


def _status(status: str | None) -> str:
    if not status:
        return "[dim]-[/]"
    style = STATUS_STYLE.get(status)
    return f"[{style}]{escape(status)}[/]" if style else escape(status)


def _when(iso: str | None, seconds: bool = True) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM[:SS]`` (UTC, as stored)."""
    return iso[: 19 if seconds else 16].replace("T", " ") if iso else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "[dim]-[/]"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s"


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "[dim]-[/]"


def _bytes(size: int | None) -> str:
    if size is None:
        return "[red]missing[/]"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def _models_cell(models: list[Report]) -> str:
    return ", ".join(f"{escape(m['ref'])} {_status(m['status'])}" for m in models) or "[dim]-[/]"


# models -------------------------------------------------------------------------


def print_models(report: Report) -> None:
    console = _console()
    if not report["models"]:
        console.print(
            f"no models yet in {escape(report['store'])}; `specops run SPEC` registers one"
        )
        return
    table = _table(
        f"models in {report['store']}",
        "model",
        "version",
        "status",
        "created",
        "aliases",
        "key metrics",
    )
    for model in report["models"]:
        for index, version in enumerate(model["versions"]):
            metrics = version["metrics"]
            key = ", ".join(f"{escape(m)} {metrics[m]:.4f}" for m in version["key_metrics"])
            aliases = ", ".join(f"@{a}" for a in version["aliases"])
            table.add_row(
                escape(model["name"]) if index == 0 else "",
                str(version["version"]),
                _status(version["status"]),
                _when(version["created_at"], seconds=False),
                f"[bold]{escape(aliases)}[/]" if aliases else "",
                key,
            )
    console.print(table)


def print_model(report: Report) -> None:
    console = _console()
    aliases = ", ".join(f"@{a}" for a in report["aliases"]) or "none"
    console.print(
        f"[bold]{escape(report['ref'])}[/] {_status(report['status'])}: "
        f"{escape(report['model_type'])}, created {_when(report['created_at'])}, "
        f"run {escape(report['run_id'])} ({_status(report['run_status'])}); "
        f"aliases here: {escape(aliases)}"
    )
    metrics = _table("metrics (test split)", "metric", "value")
    for name, value in sorted(report["metrics"].items()):
        metrics.add_row(escape(name), _metric(value))
    console.print(metrics)
    _print_params(console, report["params"])
    _print_signature(console, report["signature"])
    _print_lineage(console, report["lineage"])
    files = _table("files", "file", "sha256", "size")
    for file in report["files"]:
        files.add_row(escape(file["path"]), file["sha256"], _bytes(file["size"]))
    console.print(files)
    _print_runtimes(console, report.get("runtimes"))
    _print_alias_history(console, report["name"], report["alias_history"])


def _print_runtimes(console: Console, runtimes: dict[str, Any] | None) -> None:
    """Each runtime's verdict (verified, the error measured, single-row µs, rows/s, or why
    not) and which one serves by default."""
    if not runtimes:
        return
    if "error" in runtimes:
        console.print(f"[yellow]runtimes: cannot read them[/]: {escape(runtimes['error'])}")
        return
    verdicts = runtimes["verdicts"]
    requested = runtimes["requested"]
    if not verdicts:
        why = (
            f"serve.runtime: {escape(requested)}"
            if runtimes.get("recorded", True)
            else "registered before runtimes existed"
        )
        console.print(f"runtimes: none compiled ({why}); serves and scores natively")
        return
    table = _table(
        f"runtimes (serve.runtime: {requested})",
        "runtime",
        "verified",
        "max error",
        "single row",
        "rows/s",
        "compile",
        "note",
    )
    for name, verdict in verdicts.items():
        error = verdict.get("max_proba_error", verdict.get("max_value_error"))
        single = verdict.get("single_row_us")
        per_second = verdict.get("rows_per_second")
        seconds = verdict.get("compile_seconds")
        notes = []
        if name == runtimes["serves"]:
            notes.append("serves")
        if name == runtimes["scores"]:
            notes.append("scores batches")
        why = verdict.get("why") or runtimes["reasons"].get(name, "")
        if verdict.get("note"):
            notes.append(verdict["note"])
        if name == "native" and not notes:
            why = "the reference the others are verified against"
        table.add_row(
            escape(name),
            "[green]yes[/]" if verdict.get("verified") else "[red]no[/]",
            "-" if error is None else f"{error:.2g}",
            "-" if single is None else f"{single:,.1f} µs",
            "-" if per_second is None else f"{per_second:,.0f}",
            "-" if seconds is None else f"{seconds:.2f} s",
            escape("; ".join(notes + ([why] if why else []))),
        )
    console.print(table)
    console.print(
        f"serves with [bold]{escape(runtimes['serves'])}[/], scores batches with "
        f"[bold]{escape(runtimes['scores'])}[/] (--runtime chooses another)"
    )
    later = runtimes.get("once_built") or {}
    if later:
        what = ", ".join(f"{purpose} with {name}" for purpose, name in sorted(later.items()))
        console.print(
            f"once built on the machine (specops runtimes prepare): {escape(what)}",
            soft_wrap=True,
        )


def _print_params(console: Console, params: dict[str, Any]) -> None:
    table = _table("params", "key", "value")
    for key, value in params.items():
        table.add_row(escape(key), _text(value))
    console.print(table)


def _print_signature(console: Console, signature: dict[str, Any]) -> None:
    table = _table("signature (input columns)", "column", "role", "dtype", "categories")
    for column in signature.get("columns", []):
        table.add_row(
            escape(str(column.get("name"))),
            _text(column.get("role")),
            _text(column.get("dtype")),
            _text(column.get("categories")),
        )
    console.print(table)


def _print_lineage(console: Console, lineage: dict[str, Any]) -> None:
    table = _table("lineage", "what", "value")
    git = lineage.get("git")
    commit = (
        f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}"
        if isinstance(git, dict)
        else None
    )
    packages = lineage.get("packages") or {}
    rows = {
        "run": lineage.get("run_id"),
        "spec hash": lineage.get("spec_hash"),
        "data hash": lineage.get("data_hash"),
        "data snapshot": lineage.get("data_snapshot"),
        "git": commit or "not in a git repository",
        "packages": ", ".join(f"{k} {v}" for k, v in packages.items()),
    }
    for key, value in rows.items():
        table.add_row(key, _text(value))
    console.print(table)
    from framework.cli.registry_commands import recorded_plugins  # loaded: it loads us

    _print_plugins(console, recorded_plugins(lineage))


def _print_plugins(console: Console, plugins: list[Report] | None) -> None:
    """Which plugin, from which distribution at which version, ran each component."""
    if plugins is None:
        console.print("[dim]plugins: not recorded (made before specops recorded them)[/]")
        return
    table = _table("plugins", "component", "plugin", "distribution", "version")
    for row in plugins:
        table.add_row(
            escape(row["component"]),
            _text(row.get("plugin")),
            _text(row.get("dist")),
            _text(row.get("version")),
        )
    console.print(table)


def _print_alias_history(console: Console, name: str, history: list[Report]) -> None:
    if not history:
        console.print(f"no alias of {escape(name)} has been set yet")
        return
    table = _table(f"alias history of {name}", "when", "alias", "from", "to", "by", "reason")
    for move in history:
        table.add_row(
            _when(move["at"]),
            f"@{escape(move['alias'])}",
            _text(move["from_version"]),
            str(move["to_version"]),
            _text(move["actor"]),
            _text(move["reason"]),
        )
    console.print(table)


def print_move(report: Report) -> None:
    console = _console()
    target = f"{escape(report['name'])}@{escape(report['alias'])}"
    if not report["moved"]:
        console.print(f"nothing moved: {target} {escape(report['why'])}")
        return
    old = report["from_version"]
    console.print(
        f"{target}: {old if old is not None else 'none'} -> [bold]{report['to_version']}[/] "
        f"({escape(report['reason'])}; by {escape(report['actor'])})"
    )
    if "undid" not in report:
        return
    undid = report["undid"]
    if undid:
        console.print(
            f"undid the move {undid['from_version']} -> {undid['to_version']} "
            f"({escape(undid['reason'])}, by {escape(undid['actor'])} at {_when(undid['at'])})"
        )
    following = report["next_rollback_to"]
    if following is None:
        console.print("a further rollback has nothing to return to")
    else:
        console.print(f"a further rollback would return it to version {following}")


# runs ---------------------------------------------------------------------------


def print_runs(report: Report) -> None:
    console = _console()
    if not report["runs"]:
        console.print(f"no runs in {escape(report['store'])}")
        return
    table = _table(
        f"runs in {report['store']} (newest first)",
        "run",
        "spec",
        "status",
        "started",
        "took",
        "data",
        "model",
        keep=("run",),
    )
    for run in report["runs"]:
        table.add_row(
            escape(run["run_id"]),
            escape(run["spec"]),
            _status(run["status"]),
            _when(run["started_at"], seconds=False),
            _duration(run["seconds"]),
            _short(run["data_hash"]),
            _models_cell(run["models"]),
        )
    console.print(table)


def print_run_record(report: Report) -> None:
    console = _console()
    profile = f", profile {escape(report['profile'])}" if report["profile"] else ""
    trigger = f", triggered by {escape(report['trigger'])}" if report["trigger"] else ""
    console.print(
        f"[bold]run {escape(report['run_id'])}[/] {_status(report['status'])}: "
        f"{escape(report['spec'])} ({escape(report['spec_path'])}{profile}{trigger})"
    )
    console.print(
        f"started {_when(report['started_at'])}, took {_duration(report['seconds'])}; "
        f"spec hash {_short(report['spec_hash'])}"
    )
    data = report["data"]
    shape = f" ({data['rows']:,} rows x {len(data['columns'])} columns)" if "rows" in data else ""
    console.print(f"data version {_text(data['hash'])}{shape}")
    console.print(f"model version produced: {_models_cell(report['models'])}")
    if report["error"]:
        console.print(f"[red]error[/]: {escape(str(report['error']))}")
    steps = _table("steps", "#", "step", "component", "plugin", "status", "time", "detail")
    for step in report["steps"]:
        steps.add_row(
            str(step["position"]),
            escape(step["name"]),
            _text(step["component"]),
            _text(step["plugin"]),
            _status(step["status"]),
            _duration(step["seconds"]),
            _text(step["detail"]),
        )
    console.print(steps)
    _print_chain(console, report.get("chain"))
    _print_verdicts(console, report)
    _print_params(console, report["params"])
    _print_plugins(console, report.get("plugins"))


def _print_chain(console: Console, chain: Report | None) -> None:
    """Monitor run -> drift report -> retraining run -> gate verdict, when there is one."""
    if not chain:
        return
    monitor, report, retrain = chain["monitor"], chain["report"], chain["retrain"]
    drifted = ", ".join(report["drifted_columns"]) or "none"
    lines = [
        f"monitor run {escape(monitor['id'])}: {escape(str(monitor['decision']))} "
        f"on {escape(str(monitor['data']))} ({monitor['rows']} rows; drifted: {escape(drifted)})",
    ]
    if report.get("path"):
        lines.append(f"drift report: {escape(str(report['path']))}")
    if retrain:
        lines.append(f"retraining run {escape(retrain['id'])}: {escape(str(retrain['status']))}")
    promoted = chain.get("promoted_version")
    lines.append(
        f"gate: promoted version {promoted}" if promoted else "gate: challenger not promoted"
    )
    console.print("[bold]drift chain[/]\n  " + "\n  ".join(lines), soft_wrap=True)


def _print_verdicts(console: Console, report: Report) -> None:
    """The gate's verdicts when the run got that far, else the bare metrics."""
    verdicts = report["verdicts"]
    if not verdicts:
        if report["metrics"]:
            table = _table("metrics (test split)", "metric", "value")
            for name, value in report["metrics"].items():
                table.add_row(escape(name), _metric(value))
            console.print(table)
        return
    table = _table(
        "metrics and gate", "metric", "value", "threshold", "champion", "verdict", "detail"
    )
    for v in verdicts:
        table.add_row(
            escape(v["metric"]),
            _metric(v["value"]),
            _text(v.get("rule")),
            _metric(v.get("champion")),
            VERDICT.get(v.get("passed"), "?"),
            _text(v.get("detail")),
        )
    console.print(table)
    if report.get("champion_note"):
        console.print(f"[dim]{escape(report['champion_note'])}[/]")
    for step, said in (report.get("warnings") or {}).items():
        for line in said:
            console.print(f"[yellow]warning[/] in {escape(step)}: {escape(line)}")
    failures: dict[tuple[str, ...], int] = {}
    for failed in report.get("observer_errors") or []:
        key = tuple(str(failed.get(k, "")) for k in ("plugin", "version", "hook", "error"))
        failures[key] = failures.get(key, 0) + 1
    for (plugin, version, hook, error), times in failures.items():
        version = f" {version}" if version not in ("", "-") else ""
        console.print(
            f"[yellow]tracker failed[/]: '{escape(plugin)}'{escape(version)} in "
            f"{escape(hook)}{f' ({times} times)' if times > 1 else ''}: {escape(error)}"
        )


def print_diff(report: Report) -> None:
    console = _console()
    table = _table(
        f"run {report['run_a']} (A) vs {report['run_b']} (B)",
        "",
        "section",
        "key",
        "A",
        "B",
        "B - A",
    )
    for row in report["rows"]:
        a, b = row["a"], row["b"]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
        delta = f"{b - a:+.4g}" if numeric and row["changed"] else ""
        mark = "[bold yellow]*[/]" if row["changed"] else ""
        style = "bold" if row["changed"] else "dim"
        table.add_row(
            mark,
            row["section"],
            f"[{style}]{escape(row['key'])}[/]",
            _text(a),
            _text(b),
            delta,
        )
    console.print(table)
    count = report["changed"]
    console.print(f"{count} row{'s' if count != 1 else ''} differ (marked *)")


# store --------------------------------------------------------------------------


def print_verify(report: Report) -> None:
    """One problem per line, its path on the next: paths stay whole, to copy or grep."""
    console = _console()
    checked = report["checked"]
    counts = (
        f"database {checked.get('database', 'checked')}, "
        f"{checked['blobs']} blobs hashed, {checked['versions']} versions, "
        f"{checked['aliases']} alias{'es' if checked['aliases'] != 1 else ''}"
        + (f", schema version {checked['schema_version']}" if checked.get("schema_version") else "")
    )
    if report["ok"]:
        console.print(f"[green]ok[/]: store {escape(report['store'])} is consistent ({counts})")
        return
    console.print(f"[bold]problems in {escape(report['store'])}[/]")
    for problem in report["problems"]:
        console.print(
            f"[red]x[/] {escape(problem['where'])}: {escape(problem['what'])} "
            f"[dim]({escape(problem['kind'])})[/]",
            soft_wrap=True,
        )
        if problem["path"]:
            console.print(f"    {escape(problem['path'])}", soft_wrap=True)
    count = len(report["problems"])
    console.print(f"[red]{count} problem{'s' if count != 1 else ''} found[/] ({counts})")


def print_gc(report: Report) -> None:
    """Kind, size and age, then the whole path: one entry per line."""
    console = _console()
    garbage = report["garbage"]
    if garbage:
        console.print(f"[bold]not referenced by anything in {escape(report['store'])}[/]")
        for item in garbage:
            kind = {"temp": "temp file", "lock": "dead lock file"}.get(
                item["kind"], "unreferenced blob"
            )
            console.print(
                f"{kind:<17} {_bytes(item['size']):>9} {_age(item['age_seconds']):>4}  "
                f"{escape(item['path'])}",
                soft_wrap=True,
            )
        total = (
            f"{len(garbage)} entr{'ies' if len(garbage) != 1 else 'y'}, {_bytes(report['bytes'])}"
        )
        if report["apply"]:
            console.print(f"deleted {len(report['deleted'])} of {total}")
        else:
            console.print(f"{total}; dry run: nothing deleted (--apply deletes them)")
    else:
        console.print(f"nothing to collect in {escape(report['store'])}")
    live = report.get("kept_live") or []
    if live:
        console.print(
            f"{len(live)} entr{'ies' if len(live) != 1 else 'y'} kept whatever their age: "
            "made since a live specops process opened the store, which may own them"
        )
    young = report["kept_young"]
    if young:
        console.print(
            f"{len(young)} entr{'ies' if len(young) != 1 else 'y'} younger than "
            f"--min-age {report['min_age']:g}s kept: a running `specops run` may own them"
        )
