"""One model version: how it was judged, what it takes, how it serves, where it came from.

The page reads the version's row and its run's row, lists the package's files
(each blob re-hashed within a budget, see :func:`framework.ui.queries.package_files`)
and reads ``model.json`` for the runtime verdicts; it never loads the model. A
missing or corrupt blob is shown as damaged: a notice and the file's state, never
an error page.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from framework.store import browsing
from framework.store.store import CHAMPION
from framework.ui import html as h
from framework.ui import svg
from framework.ui.queries import FileState, package_files, read_model_json

if TYPE_CHECKING:
    from framework.ui.app import Request

MAX_CATEGORIES = 20
"""Categories listed per column; the rest are counted."""
MAX_PARAM_CHARS = 300
LINEAGE_MONITOR_RUNS = 10


def version_page(request: Request) -> h.Response:
    store = request.store
    name, text = request.params["name"], request.params["version"]
    version = store.version(name, int(text)) if text.isdigit() and len(text) < 10 else None
    if version is None:
        return h.error_page(
            404, "No such version", f"model {name} has no version {text}", store=request.store_label
        )
    run = store.run(version.run_id)
    aliases = store.aliases(name)
    pointing = sorted(a for a, v in aliases.items() if v == version.version)
    files = package_files(store, version.files)
    model_json = read_model_json(store, version.files, files)
    damaged = [f for f in files if f.damaged]

    parts: list[Any] = []
    if damaged:
        parts.append(
            h.notice(
                h.Html(
                    f"<strong>damaged</strong>: {len(damaged)} of {len(files)} files of this "
                    "version's package are missing, do not match their hash or are not "
                    "files of a package ("
                    f"{h.esc(', '.join(f'{f.path}: {f.state}' for f in damaged[:5]))}). It "
                    "cannot be served or promoted; run <code>specops store verify</code>."
                ),
                "bad",
            )
        )
    parts.append(_summary(request, version, run, pointing, model_json))
    parts.append(h.section("Metrics and the gate", _metrics(version, run), id="metrics"))
    parts.append(h.section("Lineage", _lineage(store, version, run, pointing), id="lineage"))
    parts.append(h.section("Params", _params(store.params(version.run_id)), id="params"))
    parts.append(h.section("Signature", _signature(version.signature), id="signature"))
    parts.append(
        h.section("Runtime", _runtimes(request, version, model_json, damaged), id="runtime")
    )
    parts.append(h.section("Aliases", _aliases(request, version, pointing), id="aliases"))
    parts.append(h.section("Package files", _files(files), id="files"))
    return h.page(
        f"{name}/{version.version}",
        h.join(parts),
        nav="models",
        store=request.store_label,
        crumbs=[(h.models_url(), "models"), (h.model_url(name), name)],
    )


# the parts -------------------------------------------------------------------------


def _summary(
    request: Request, version: Any, run: Any, pointing: list[str], model_json: Any
) -> h.Html:
    task = model_json.get("task") if isinstance(model_json, dict) else None
    items = [
        ("status", h.status(version.status)),
        ("aliases", h.join(pointing, ", ") if pointing else h.esc("none")),
        ("created", h.when(version.created_at)),
        ("model type", version.model_type),
        ("task", task),
        ("run", h.run_link(version.run_id)),
        ("run status", h.status(run.status) if run else h.esc("run not found")),
    ]
    if run is not None and run.trigger:
        items.append(("triggered by", h.link(h.monitor_run_url(run.trigger), run.trigger)))
    from framework.ui import writes

    items.append(
        ("promote", writes.promote_form(request, version.name, version.version, version.status))
    )
    return h.facts([(k, v) for k, v in items if v not in (None, "")])


def _metrics(version: Any, run: Any) -> h.Html:
    """Each metric: this version's value, the champion's at the time, the gate's rule
    and verdict (the run's recorded verdicts), else just the values."""
    outputs = run.outputs if run is not None else {}
    verdicts = outputs.get("verdicts") if isinstance(outputs, dict) else None
    comparison = outputs.get("comparison") if isinstance(outputs, dict) else None
    champion_ref = comparison.get("version") if isinstance(comparison, dict) else None
    note = ""
    if isinstance(comparison, dict) and comparison.get("note"):
        note = comparison["note"]
    elif isinstance(outputs, dict) and outputs.get("champion_note"):
        note = outputs["champion_note"]
    if not isinstance(verdicts, list) or not verdicts:
        rows = [[m, v] for m, v in sorted(version.metrics.items())]
        return h.table(["metric", "value"], rows, empty="no metrics recorded")
    rows, classes = [], []
    for verdict in verdicts:
        if not isinstance(verdict, dict):
            continue
        passed = verdict.get("passed")
        mark = (
            h.tag("span", "passed", class_="pass")
            if passed is True
            else h.tag("span", "failed", class_="fail")
            if passed is False
            else h.esc("")
        )
        champion = verdict.get("champion") if champion_ref else None
        rows.append(
            [
                verdict.get("metric"),
                verdict.get("value"),
                champion if isinstance(champion, (int, float)) else h.esc(""),
                _delta(verdict.get("value"), champion if champion_ref else None),
                verdict.get("rule") or "",
                mark,
                verdict.get("detail") or "",
            ]
        )
        classes.append("changed" if passed is False else "")
    header = f"champion at the time ({champion_ref})" if champion_ref else "champion at the time"
    table = h.table(
        ["metric", "this version", header, "difference", "gate rule", "verdict", "detail"],
        rows,
        row_classes=classes,
        classes="metrics",
    )
    return table + (h.tag("p", note, class_="muted") if note else "")


def _delta(value: Any, champion: Any) -> Any:
    if isinstance(value, (int, float)) and isinstance(champion, (int, float)):
        return h.Html(f'<span class="muted">{h.number(value - champion)}</span>')
    return h.esc("")


def _params(params: dict[str, Any]) -> h.Html:
    rows = []
    for key, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > MAX_PARAM_CHARS:
            text = text[: MAX_PARAM_CHARS - 1] + "…"
        rows.append([key, h.tag("code", text)])
    return h.table(["param", "value"], rows, empty="no params recorded")


def _signature(signature: Any) -> h.Html:
    columns = signature.get("columns") if isinstance(signature, dict) else None
    if not isinstance(columns, list):
        return h.tag("p", "no signature recorded", class_="empty")
    rows = []
    for column in columns:
        if not isinstance(column, dict):
            continue
        categories = column.get("categories")
        shown = ""
        if isinstance(categories, list):
            listed = ", ".join(str(c) for c in categories[:MAX_CATEGORIES])
            more = len(categories) - MAX_CATEGORIES
            shown = listed + (f" (+{more} more)" if more > 0 else "")
        rows.append([column.get("name"), column.get("role"), column.get("dtype"), shown])
    extra = {k: v for k, v in signature.items() if k != "columns" and not isinstance(v, dict)}
    described = h.facts(sorted(extra.items())) if extra else h.esc("")
    return described + h.table(["column", "role", "dtype", "categories"], rows)


def _runtimes(request: Request, version: Any, model_json: Any, damaged: list[FileState]) -> h.Html:
    """The runtime verdicts model.json records, and which runtime serves single rows
    and scores batches here: runtime-core's own report (what ``models show`` says,
    runtimes that build where they load judged as this machine has them)."""
    from framework.errors import StoreError
    from framework.package_check import check_runtimes
    from framework.runtimes.report import runtime_report

    if not isinstance(model_json, dict):
        why = "model.json is damaged" if damaged else "model.json could not be read"
        return h.tag("p", f"unknown: {why}", class_="fail")
    try:
        check_runtimes(model_json, "this version")
    except StoreError as exc:
        return h.tag("p", f"unknown: {exc}", class_="fail")
    installed = request.app.installed_runtimes()
    metadata, built_here = _as_built_here(request, version, model_json, installed)
    report = runtime_report(metadata, installed, built_here)
    verdicts = report["verdicts"]
    said = h.Html(
        f"serves single rows with <strong>{h.esc(report['serves'])}</strong>, scores "
        f"batches with <strong>{h.esc(report['scores'])}</strong> "
        f"(serve.runtime: {h.esc(report['requested'])})"
    )
    later = sorted(set(report["once_built"].values()))
    if later:
        said = said + h.Html(
            f"; {h.esc(', '.join(later))} once built on this machine "
            "(<code>specops runtimes prepare</code>)"
        )
    if not verdicts:
        return h.tag("p", said) + h.tag(
            "p", "no compiled runtime was recorded for this version", class_="muted"
        )
    rows, classes = [], []
    for name, verdict in sorted(verdicts.items()):
        if not isinstance(verdict, dict):
            continue
        rows.append(
            [
                name,
                h.tag("span", "verified", class_="pass")
                if verdict.get("verified")
                else h.tag("span", "not verified", class_="fail"),
                _shown(verdict.get("single_row_us"), "{:,.1f}"),
                _shown(verdict.get("rows_per_second"), "{:,.0f}"),
                _shown(verdict.get("max_proba_error", verdict.get("max_value_error")), "{:.2g}"),
                _shown(verdict.get("compile_seconds"), "{:.2f}"),
                report["reasons"].get(name) or verdict.get("why") or "",
            ]
        )
        classes.append("changed" if name == report["serves"] else "")
    return h.tag("p", said) + h.table(
        ["runtime", "verification", "µs per row", "rows/s", "max error", "compile s", "note"],
        rows,
        row_classes=classes,
    )


def _shown(value: Any, form: str) -> h.Html:
    """A measurement in its own format, right-aligned ('' when not measured)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return h.esc("")
    return h.tag("span", form.format(value), class_="meas")


def _aliases(request: Request, version: Any, pointing: list[str]) -> h.Html:
    moves = browsing.alias_moves(request.store, version.name, version=version.version)
    rows = [
        [
            h.when(move.at),
            move.alias,
            h.version_link(version.name, move.from_version, f"v{move.from_version}")
            if move.from_version is not None
            else h.esc("—"),
            h.version_link(version.name, move.to_version, f"v{move.to_version}"),
            move.actor,
            move.reason,
        ]
        for move in moves
    ]
    head = h.tag(
        "p",
        h.Html("points here now: ") + (h.join(pointing, ", ") if pointing else h.esc("no alias")),
    )
    return head + h.table(
        ["at", "alias", "from", "to", "by", "reason"],
        rows,
        empty="no alias ever pointed to or from this version",
    )


def _files(files: list[FileState]) -> h.Html:
    rows, classes = [], []
    for file in files:
        rows.append(
            [
                h.tag("code", file.path),
                h.short_hash(file.sha256, 16),
                file.size if file.size is not None else h.esc(""),
                h.status("damaged" if file.damaged else file.state)
                if file.damaged
                else h.tag("span", "hash ok" if file.state == "ok" else file.state),
                file.detail,
            ]
        )
        classes.append("changed" if file.damaged else "")
    return h.table(["file", "sha256", "bytes", "state", "detail"], rows, row_classes=classes)


# lineage -----------------------------------------------------------------------------


def _lineage(store: Any, version: Any, run: Any, pointing: list[str]) -> h.Html:
    """data snapshot -> run -> version -> aliases and deployments; the monitor run that
    triggered this run; monitor runs of this version -> their retraining runs -> the
    versions those produced."""
    nodes: list[svg.Node] = []
    edges: list[tuple[str, str]] = []
    this = f"version:{version.name}/{version.version}"
    run_node = f"run:{version.run_id}"
    lineage = version.lineage if isinstance(version.lineage, dict) else {}
    data_hash = (run.data_hash if run is not None else None) or lineage.get("data_hash")
    if data_hash:
        dataset = store.dataset(data_hash)
        rows = f"{dataset['rows']} rows" if dataset else "data"
        kept = " · snapshot kept" if lineage.get("data_snapshot") else ""
        nodes.append(
            svg.Node(f"data:{data_hash}", f"data {data_hash[:10]}", "data", f"{rows}{kept}")
        )
        edges.append((f"data:{data_hash}", run_node))
    nodes.append(
        svg.Node(
            run_node,
            f"run {version.run_id}",
            "run",
            run.status if run else "run not found",
            href=h.run_url(version.run_id),
            bad=run is None or run.status not in ("passed",),
        )
    )
    nodes.append(
        svg.Node(
            this,
            f"{version.name}/{version.version}",
            "version",
            version.status,
            href=h.version_url(version.name, version.version),
            bad=version.status != "registered",
        )
    )
    edges.append((run_node, this))
    if run is not None and run.trigger:
        monitor = store.monitor_run(run.trigger)
        node = f"monitor:{run.trigger}"
        nodes.append(
            svg.Node(
                node,
                f"monitor {run.trigger}",
                "monitor",
                monitor["decision"] if monitor else "not found",
                href=h.monitor_run_url(run.trigger),
            )
        )
        edges.append((node, run_node))
        if monitor and monitor.get("version") is not None:
            judged = f"version:{version.name}/{monitor['version']}"
            nodes.append(
                svg.Node(
                    judged,
                    f"{version.name}/{monitor['version']}",
                    "version",
                    "monitored",
                    href=h.version_url(version.name, monitor["version"]),
                )
            )
            edges.append((judged, node))
    for alias in pointing:
        nodes.append(
            svg.Node(
                f"alias:{alias}", f"@{alias}", "alias", "serves" if alias == CHAMPION else "alias"
            )
        )
        edges.append((this, f"alias:{alias}"))
    deploys = run.outputs.get("deploy") if run is not None else None
    if isinstance(deploys, list):
        for index, deploy in enumerate(deploys[:10]):
            if not isinstance(deploy, dict):
                continue
            node = f"deploy:{index}"
            nodes.append(
                svg.Node(
                    node,
                    f"deploy {deploy.get('type', '?')}",
                    "deployment",
                    str(deploy.get("location") or deploy.get("summary") or ""),
                )
            )
            edges.append((this, node))
    monitors = browsing.monitor_runs_of_version(
        store, version.name, version.version, limit=LINEAGE_MONITOR_RUNS
    )
    retrains = [m["retrain_run_id"] for m in monitors if m.get("retrain_run_id")]
    produced = browsing.versions_of_runs(store, retrains)
    for monitor in monitors:
        node = f"monitor:{monitor['id']}"
        nodes.append(
            svg.Node(
                node,
                f"monitor {monitor['id']}",
                "monitor",
                f"{monitor['decision']} {monitor['started_at'][:10]}",
                href=h.monitor_run_url(monitor["id"]),
                bad=monitor["decision"] not in ("no_drift",),
            )
        )
        edges.append((this, node))
        retrain = monitor.get("retrain_run_id")
        if not retrain:
            continue
        nodes.append(
            svg.Node(
                f"run:{retrain}",
                f"run {retrain}",
                "run",
                f"retraining: {monitor.get('retrain_status') or '?'}",
                href=h.run_url(retrain),
            )
        )
        edges.append((node, f"run:{retrain}"))
        for name, number, status in produced.get(retrain, []):
            target = f"version:{name}/{number}"
            nodes.append(
                svg.Node(
                    target,
                    f"{name}/{number}",
                    "version",
                    status,
                    href=h.version_url(name, number),
                    bad=status != "registered",
                )
            )
            edges.append((f"run:{retrain}", target))
    title = f"lineage of {version.name}/{version.version}"
    return svg.graph(nodes, edges, title=title)


ROUTES = [("GET", "/models/{name}/versions/{version}", version_page)]


def _as_built_here(
    request: Request, version: Any, model_json: dict[str, Any], installed: list[str] | None
) -> tuple[dict[str, Any], list[str]]:
    """The verdicts with runtimes that build where they load judged as built here or
    not (:func:`framework.runtimes.report.as_built_here`); as recorded when the
    plugins cannot be listed."""
    from framework.errors import UserError
    from framework.runtimes.lookup import build
    from framework.runtimes.report import as_built_here

    try:
        from framework.plugins import get_plugins

        plugins = get_plugins()
        built = [n for n in installed or () if hasattr(build(n, plugins), "ready")]
    except UserError:
        return model_json, []
    if not built:
        return model_json, []
    return as_built_here(request.store, version, model_json, plugins, built)
