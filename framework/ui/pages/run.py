"""One run: its steps on a time line, the data checks and the gate's verdicts, the
drift chain that triggered it, the error if it failed, and the effective spec.

The facts are ``specops runs show``'s (see :mod:`framework.ui.pages._run_data`);
this module only lays them out. The time line is an inline SVG (the page's CSP
allows no ``style=`` attribute, so bars cannot be sized by CSS).
"""

from __future__ import annotations

from typing import Any

from framework.ui import html as h
from framework.ui.html import Html
from framework.ui.pages._run_data import RunView, TimedStep, run_view

BAR_COLORS = {
    "passed": "#1f7a3a",
    "failed": "#b3261e",
    "error": "#b3261e",
    "skipped": "#9aa6bb",
    "running": "#2456a6",
}
VERDICT = {True: ("pass", "pass"), False: ("FAIL", "fail"), None: ("-", "muted")}


def run_page(request: Any) -> h.Response:
    run_id = request.params["run_id"]
    view = run_view(request.store, run_id)
    crumbs = [(h.runs_url(), "Runs")]
    if view is None:
        return h.page(
            "Run not found",
            h.notice(f"no run {run_id} in this store", "bad"),
            nav="runs",
            status_code=404,
            store=request.store_label,
            crumbs=crumbs,
        )
    report = view.report
    compare = (
        h.tag(
            "p",
            h.link(h.compare_url([view.previous, report["run_id"]]),
                   "compare with the run of this model before it"),
        )
        if view.previous
        else ""
    )  # fmt: skip
    parts = [
        _overview(report),
        compare,
        _error(view),
        h.section("Steps", h.join([timeline(view.steps, view.total_seconds), _steps(view)])),
        _chain(report.get("chain")),
        h.section("Data checks", _checks(view.checks)),
        h.section("Metrics and gate", _verdicts(report)),
        h.section("Params", _params(report.get("params") or {})),
        h.section("Plugins", _plugins(report.get("plugins"))),
        h.section("Effective spec", _spec(view)),
    ]
    return h.page(
        f"Run {report['run_id']}",
        h.join(parts),
        nav="runs",
        store=request.store_label,
        crumbs=[*crumbs, (h.runs_url(model=report["spec"]), report["spec"])],
    )


def _overview(report: dict[str, Any]) -> Html:
    data = report.get("data") or {}
    shape = ""
    if "rows" in data:
        shape = f" ({data['rows']:,} rows × {len(data.get('columns') or [])} columns)"
    trigger = report.get("trigger")
    models = report.get("models") or []
    pairs = [
        ("status", h.status(report["status"])),
        ("model", h.link(h.runs_url(model=report["spec"]), report["spec"])),
        ("spec file", h.tag("code", report["spec_path"])),
        ("profile", report.get("profile") or "-"),
        ("started", h.when(report["started_at"])),
        ("ended", h.when(report.get("ended_at")) if report.get("ended_at") else "-"),
        ("took", _seconds(report.get("seconds"))),
        (
            "triggered by",
            h.link(h.monitor_run_url(trigger), h.tag("code", trigger)) if trigger else "by hand",
        ),
        ("data version", h.join([h.short_hash(data.get("hash")), shape])),
        ("spec hash", h.short_hash(report.get("spec_hash"))),
        (
            "model version",
            h.join(
                [
                    h.join([h.version_link(m["name"], m["version"]), " ", h.status(m["status"])])
                    for m in models
                ],
                ", ",
            )
            if models
            else "none",
        ),
    ]
    return h.facts(pairs)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s" if value < 120 else f"{value / 60:.1f} min"


def _error(view: RunView) -> Html:
    error = view.report.get("error")
    if not error:
        return Html("")
    lines = [h.tag("strong", "the run failed: "), h.tag("code", error)]
    fault = view.plugin_error
    if fault:
        said = ", ".join(
            f"{key} {fault[key]}"
            for key in ("plugin", "version", "component", "step")
            if fault.get(key)
        )
        if said:
            lines += [Html("<br>"), h.tag("span", f"raised by {said}", class_="muted")]
    return h.notice(h.join(lines), "bad")


def timeline(steps: list[TimedStep], total: float, width: int = 760) -> Html:
    """Each step a bar from where the previous ended, as long as it took; a step
    too short to see still gets a sliver, and its time is written beside it."""
    label_w, row_h, top = 120, 22, 8
    plot_w = width - label_w - 110
    height = top * 2 + row_h * max(1, len(steps))
    scale = plot_w / total if total > 0 else 0.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'data-steps="{len(steps)}" aria-label="steps on a time line">'
        "<title>steps on a time line</title>"
    ]
    for index, step in enumerate(steps):
        y = top + index * row_h
        x = label_w + step.start * scale
        length = max(2.0, (step.seconds or 0.0) * scale)
        color = BAR_COLORS.get(step.status, "#5d6778")
        took = _seconds(step.seconds) if step.seconds is not None else "-"
        tip = f"{step.name}: {step.status}, {took}" + (f" — {step.detail}" if step.detail else "")
        parts.append(
            f'<g class="step {h.esc(step.status)}"><title>{h.esc(tip)}</title>'
            f'<text x="{label_w - 8}" y="{y + 15}" font-size="12" text-anchor="end" '
            f'fill="#1d2330">{h.esc(step.name)}</text>'
            f'<rect x="{x:.1f}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}" rx="2" '
            f'fill="{color}"/>'
            f'<text x="{x + length + 6:.1f}" y="{y + 15}" font-size="11" fill="#5d6778">'
            f"{h.esc(took)} · {h.esc(step.status)}</text></g>"
        )
    parts.append("</svg>")
    return Html("".join(parts))


def _steps(view: RunView) -> Html:
    rows = [
        [
            step.position,
            step.name,
            step.component,
            step.plugin,
            h.status(step.status),
            _seconds(step.seconds),
            step.detail,
        ]
        for step in view.steps
    ]
    headers = ["#", "step", "component", "plugin", "status", "time", "detail"]
    return h.table(headers, rows, empty="no step was recorded")


def _chain(chain: dict[str, Any] | None) -> Html:
    """Monitor run -> drift report -> this retraining -> the gate's decision."""
    if not chain:
        return Html("")
    monitor, report, retrain = chain["monitor"], chain["report"], chain.get("retrain")
    drifted = ", ".join(report.get("drifted_columns") or []) or "none"
    promoted = chain.get("promoted_version")
    pairs = [
        (
            "monitor run",
            h.join(
                [
                    h.link(h.monitor_run_url(monitor["id"]), h.tag("code", monitor["id"])),
                    " ",
                    h.status(monitor.get("decision")),
                ]
            ),
        ),
        ("batch", f"{monitor.get('data')} ({monitor.get('rows')} rows)"),
        ("drifted columns", drifted),
        ("retraining run", h.run_link(retrain["id"]) if retrain else "none"),
        (
            "gate",
            h.version_link(monitor["model"], promoted, f"promoted version {promoted}")
            if promoted
            else "challenger not promoted",
        ),
    ]
    return h.section("Drift chain", h.facts(pairs))


def _checks(checks: list[dict[str, Any]]) -> Html:
    rows = []
    for check in checks:
        word, css = VERDICT.get(check.get("passed"), VERDICT[None])
        rows.append(
            [
                check.get("check", ""),
                check.get("column") or "",
                h.tag("span", word, class_=css),
                _text(check.get("observed")),
                _text(check.get("expected")),
                check.get("detail", ""),
            ]
        )
    headers = ["check", "column", "verdict", "observed", "expected", "detail"]
    return h.table(headers, rows, empty="no data checks ran")


def _verdicts(report: dict[str, Any]) -> Html:
    verdicts = report.get("verdicts") or []
    if not verdicts:
        metrics = report.get("metrics") or {}
        return h.table(
            ["metric", "value"], sorted(metrics.items()), empty="the run recorded no metrics"
        )
    rows = []
    for v in verdicts:
        word, css = VERDICT.get(v.get("passed"), VERDICT[None])
        rows.append(
            [
                v["metric"],
                v.get("value"),
                v.get("rule") or "-",
                v.get("champion") if v.get("champion") is not None else "-",
                h.tag("span", word, class_=css),
                v.get("detail") or "",
            ]
        )
    table = h.table(["metric", "value", "threshold", "champion", "verdict", "detail"], rows)
    note = report.get("champion_note")
    extra = [h.tag("p", note, class_="muted")] if note else []
    for step, said in (report.get("warnings") or {}).items():
        extra += [h.notice(f"warning in {step}: {line}", "warn") for line in said]
    return h.join([table, *extra])


def _params(params: dict[str, Any]) -> Html:
    rows = [[h.tag("code", key), _text(value)] for key, value in sorted(params.items())]
    return h.table(["param", "value"], rows, empty="no params recorded")


def _plugins(plugins: list[dict[str, Any]] | None) -> Html:
    if plugins is None:
        return h.tag("p", "not recorded (a run made by an older specops)", class_="muted")
    rows = [
        [p.get("component", ""), p.get("plugin", ""), p.get("dist", ""), p.get("version", "")]
        for p in plugins
    ]
    return h.table(["component", "plugin", "distribution", "version"], rows)


def _spec(view: RunView) -> Html:
    note = h.tag(
        "p",
        "as stored with the run: values from the environment appear as their ${env:...} "
        "placeholders and passwords in URLs as ***",
        class_="muted",
    )
    return h.join([note, h.tag("pre", h.tag("code", view.spec_text))])


def _text(value: Any) -> str:
    """A value for a table cell: text as is, anything else as JSON-ish text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, default=str)


ROUTES = [("GET", "/runs/{run_id}", run_page)]
