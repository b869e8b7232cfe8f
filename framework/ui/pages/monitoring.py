"""Monitoring: per model, each column's drift statistic across its monitor runs as a
chart with the threshold drawn (``specops monitor history`` as pictures), each
monitor run's verdicts, and the HTML report it stored.

One chart point per monitor run that measured the column (a run where the column
had no statistic draws none: ``svg.line_chart`` skips it), each linking to that
monitor run. The stored report is our own generated HTML, but it is still served
as untrusted: its own Content-Security-Policy (``sandbox``, no script, nothing
fetched), a name to save it under, and a notice instead when its blob is missing,
damaged or too large.
"""

from __future__ import annotations

from typing import Any

from framework.ui import html as h
from framework.ui import svg
from framework.ui.html import Html
from framework.ui.pages._monitoring_data import (
    HISTORY_RUNS,
    MAX_HISTORY_RUNS,
    model_history,
    monitor_run_view,
    monitored_models,
    report_html,
)

REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The stored report's own policy: its inline <style> and SVG render; no script runs
(``sandbox`` without ``allow-scripts``), nothing is fetched, no form is sent."""


def _page(request: Any, title: str, body: Any, *, status: int = 200, crumbs=()) -> h.Response:
    trail = [(h.monitoring_url(), "Monitoring"), *crumbs]
    return h.page(
        title, body, nav="monitoring", status_code=status, store=request.store_label, crumbs=trail
    )


# /monitoring ---------------------------------------------------------------------


def models_page(request: Any) -> h.Response:
    models = monitored_models(request.store)
    rows = [
        [h.link(h.monitoring_url(m.name), m.name), m.runs, h.when(m.last_at),
         h.status(m.last_decision)]
        for m in models
    ]  # fmt: skip
    body = h.table(
        ["model", "monitor runs", "last run", "last decision"],
        rows,
        empty=Html(
            "no monitor runs yet: <code>specops monitor SPEC --data FILE --report FILE</code> "
            "records one"
        ),
    )
    return h.page("Monitoring", body, nav="monitoring", store=request.store_label)


# /monitoring/{model} -------------------------------------------------------------


def model_page(request: Any) -> h.Response:
    model = request.params["model"]
    count = request.int_arg("runs", HISTORY_RUNS, 1, MAX_HISTORY_RUNS)
    report = model_history(request.store, model, count)
    if report is None:
        return _page(
            request,
            f"Monitoring of {model}",
            h.notice(f"no monitor runs recorded for '{model}'", "bad"),
            status=404,
        )
    runs = report["runs"]
    more = (
        h.link(h.url(h.monitoring_url(model), runs=min(count * 2, MAX_HISTORY_RUNS)),
               "show more runs")
        if len(runs) == count and count < MAX_HISTORY_RUNS
        else ""
    )  # fmt: skip
    intro = h.tag(
        "p",
        h.join([f"the last {len(runs)} monitor run(s), oldest to newest. ", more]),
        class_="muted",
    )
    charts = [_column_chart(column, runs) for column in report["columns"]]
    body = h.join(
        [
            intro,
            h.section("Drift per column", h.join(charts) if charts else "no column was judged"),
            h.section("Monitor runs", _runs_table(model, runs)),
        ]
    )
    return _page(request, f"Monitoring of {model}", body, crumbs=[(h.model_url(model), model)])


def _column_chart(column: dict[str, Any], runs: list[dict[str, Any]]) -> Html:
    days = {(run["started_at"] or "")[:10] for run in runs}
    points = []
    for run, value, status in zip(runs, column["values"], column["statuses"], strict=True):
        points.append(
            svg.Point(
                label=_short_time(run["started_at"], one_day=len(days) == 1),
                value=value,
                href=h.monitor_run_url(run["id"]),
                note=f"{run['id']}: {status or 'not judged'}",
                bad=status == "drift",
            )
        )
    tests = ", ".join(column["tests"]) or "no test"
    drift_if = column.get("drift_if") or ">="
    threshold = column.get("threshold")
    numeric = isinstance(threshold, int | float) and not isinstance(threshold, bool)
    return svg.line_chart(
        points,
        title=f"{column['column']} ({tests}): drifted in {column['drifted_runs']} of {len(runs)}",
        y_label="statistic",
        threshold=float(threshold) if numeric else None,
        threshold_label=f"drift if {drift_if}",
    )


def _short_time(iso: str | None, *, one_day: bool) -> str:
    """``12-05`` (``03:26`` when every run was on one day): the x axis has room for
    little; a point's tooltip names its monitor run."""
    return (iso or "")[11:16] if one_day else (iso or "")[5:10]


def _runs_table(model: str, runs: list[dict[str, Any]]) -> Html:
    rows = []
    for run in reversed(runs):  # newest first, as a list of events reads
        share = run.get("drift_share")
        retrain: Any = run.get("retrain_status") or "-"
        if run.get("retrain_run_id"):
            retrain = h.join([h.run_link(run["retrain_run_id"]), " ", retrain])
        promoted = run.get("promoted_version")
        rows.append(
            [
                h.when(run["started_at"]),
                h.link(h.monitor_run_url(run["id"]), h.tag("code", run["id"])),
                h.version_link(model, run["version"]) if run.get("version") is not None else "-",
                run.get("rows") if run.get("rows") is not None else "-",
                "-" if share is None else f"{share:.0%}",
                h.status(run["decision"]),
                retrain,
                h.version_link(model, promoted) if promoted is not None else "-",
            ]
        )
    headers = ["when", "monitor run", "champion", "rows", "drifted", "decision", "retrain",
               "promoted"]  # fmt: skip
    return h.table(headers, rows)


# /monitoring/runs/{monitor_id} ---------------------------------------------------


def monitor_run_page(request: Any) -> h.Response:
    monitor_id = request.params["monitor_id"]
    view = monitor_run_view(request.store, monitor_id)
    if view is None:
        return _page(
            request,
            "Monitor run not found",
            h.notice(f"no monitor run {monitor_id} in this store", "bad"),
            status=404,
        )
    run = view.run
    summary = run.get("summary") or {}
    model = run["model"]
    report_link: Any
    if view.report_problem is None:
        report_link = h.link(h.url(f"{h.monitor_run_url(monitor_id)}/report"), "open the report")
    else:
        kind = "bad" if view.report_problem.startswith("damaged") else "info"
        report_link = h.notice(f"report: {view.report_problem}", kind)
    share = run.get("drift_share")
    champion = h.version_link(model, run["version"]) if run.get("version") else "-"
    decision = h.join([h.status(run["decision"]), " ", summary.get("decision_text", "")])
    facts = h.facts(
        [
            ("model", h.link(h.monitoring_url(model), model)),
            ("champion judged", champion),
            ("decision", decision),
            ("batch", run.get("data")),
            ("rows", run.get("rows") if run.get("rows") is not None else "-"),
            ("drifted share", "-" if share is None else f"{share:.0%}"),
            ("policy", run.get("policy")),
            ("started", h.when(run.get("started_at"))),
            ("retraining run", h.run_link(run.get("retrain_run_id")) or "none"),
            ("promoted", h.version_link(model, run["promoted_version"])
             if run.get("promoted_version") is not None else "-"),
        ]
    )  # fmt: skip
    problems = [h.notice(f"could not compute: {p}", "warn") for p in summary.get("problems") or []]
    parts = [
        facts,
        report_link,
        *problems,
        h.section("Drift per column", _columns_table(view.columns)),
    ]
    gate = run.get("gate")
    if gate:
        parts.append(h.section("Retraining gate: challenger vs champion", _gate_table(gate)))
    return _page(
        request,
        f"Monitor run {monitor_id}",
        h.join(parts),
        crumbs=[(h.monitoring_url(model), model)],
    )


def _columns_table(columns: list[dict[str, Any]]) -> Html:
    rows = []
    for c in columns:
        threshold = c.get("threshold")
        rows.append(
            [
                c["column_name"],
                c.get("role") or "",
                c.get("source") or "",
                c.get("test") or "-",
                c.get("statistic") if c.get("statistic") is not None else "-",
                f"{c.get('drift_if') or ''} {threshold}" if threshold is not None else "-",
                h.status(c.get("status")),
                c.get("null_share") if c.get("null_share") is not None else "-",
            ]
        )
    headers = ["column", "role", "source", "test", "statistic", "drift if", "verdict",
               "missing share"]  # fmt: skip
    return h.table(headers, rows, empty="no column was judged")


def _gate_table(gate: list[dict[str, Any]]) -> Html:
    words = {True: ("pass", "pass"), False: ("FAIL", "fail"), None: ("-", "muted")}
    rows = []
    for v in gate:
        if not isinstance(v, dict):
            continue
        word, css = words.get(v.get("passed"), words[None])
        rows.append(
            [
                v.get("metric", ""),
                v.get("value"),
                v.get("rule") or "-",
                v.get("champion") if v.get("champion") is not None else "-",
                h.tag("span", word, class_=css),
                v.get("detail") or "",
            ]
        )
    return h.table(["metric", "challenger", "threshold", "champion", "verdict", "detail"], rows)


# /monitoring/runs/{monitor_id}/report --------------------------------------------


def report_page(request: Any) -> h.Response:
    monitor_id = request.params["monitor_id"]
    data, problem = report_html(request.store, monitor_id)
    if data is None:
        missing = problem is not None and problem.startswith("no monitor run")
        kind = "bad" if problem and problem.startswith("damaged") else "info"
        return _page(
            request,
            "Report damaged" if kind == "bad" else "No report",
            h.notice(problem, kind),
            status=404 if missing else 200,
            crumbs=[(h.monitor_run_url(monitor_id), monitor_id)],
        )
    name = f"report-{''.join(c for c in monitor_id if c.isalnum() or c in '-_')[:80]}.html"
    how = "attachment" if request.arg("download") else "inline"
    disposition = ("content-disposition", f'{how}; filename="{name}"')
    return h.Response(200, data, headers=[disposition], csp=REPORT_CSP)


ROUTES = [
    ("GET", "/monitoring", models_page),
    ("GET", "/monitoring/runs/{monitor_id}", monitor_run_page),
    ("GET", "/monitoring/runs/{monitor_id}/report", report_page),
    ("GET", "/monitoring/{model}", model_page),
]
