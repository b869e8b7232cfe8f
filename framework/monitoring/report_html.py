"""The monitor's HTML report: one self-contained file, readable offline.

A summary and the decision first, then a table of every column, then one section
per column with its plot (inline SVG from :mod:`framework.monitoring.svg`), the
test, why it was chosen and the numbers; then checks, performance, retraining.
No scripts, no stylesheets or fonts from elsewhere: the file is all there is.
"""

from __future__ import annotations

from html import escape
from typing import Any

from framework.monitoring import svg

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #111827; margin: 0; background: #f3f4f6; }
main { max-width: 1040px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; }
h3 { font-size: 15px; margin: 0; } .muted { color: #6b7280; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 16px;
  margin: 12px 0; }
.decision { border-left: 6px solid #16a34a; } .decision.bad { border-left-color: #dc2626; }
.decision.warn { border-left-color: #d97706; } .decision p { margin: 4px 0 0; }
.facts { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin-top: 12px; }
.facts div { background: #f9fafb; border-radius: 6px; padding: 8px; }
.facts b { display: block; font-size: 18px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e5e7eb;
  vertical-align: top; }
th { background: #f9fafb; font-weight: 600; white-space: nowrap; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; }
.ok { background: #dcfce7; color: #166534; } .drift { background: #fee2e2; color: #991b1b; }
.nodata, .notcomputed { background: #fef3c7; color: #92400e; }
.column-head { display: flex; justify-content: space-between; align-items: baseline; gap: 12px; }
.column-grid { display: grid; grid-template-columns: 640px 1fr; gap: 16px; margin-top: 8px; }
.plot { width: 100%; height: auto; }
.stats td, .stats th { padding: 3px 6px; }
.note { color: #92400e; }
@media (max-width: 900px) { .column-grid { grid-template-columns: 1fr; }
  .facts { grid-template-columns: repeat(2, 1fr); } }
"""

DECISIONS = {
    "no_drift": ("No drift", ""),
    "drift": ("Drift detected", "bad"),
    "failed_checks": ("Data problems", "bad"),
    "degraded": ("Performance below threshold", "bad"),
    "error": ("Bad input: verdict incomplete", "warn"),
}
BADGES = {"ok": "ok", "drift": "drift", "no data": "nodata", "not computed": "notcomputed"}


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-4:
            return f"{value:.2e}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _badge(status: str, text: str | None = None) -> str:
    return f'<span class="badge {BADGES.get(status, "")}">{escape(text or status)}</span>'


def _statistic(column: Any) -> str:
    if column.statistic is None:
        return "–"
    prefix = "p = " if column.measure == "p_value" else ""
    return prefix + _number(column.statistic)


def _threshold(column: Any) -> str:
    return "–" if column.threshold is None else f"{escape(column.drift_if)} {column.threshold:g}"


def _anchor(index: int) -> str:
    return f"column-{index}"


def render(result: Any) -> str:
    """The whole report as one HTML document."""
    from framework import __version__

    title = f"Drift report: {result.model}/{result.version} vs {result.data}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f'<div class="muted">monitor run {escape(result.monitor_id)} · {escape(result.started_at)}'
        f" · specops {escape(__version__)}</div>",
        _decision(result),
        _overview(result),
        "<h2>Columns</h2>",
        *(_column(i, c) for i, c in enumerate(result.columns)),
        _checks(result),
        _performance(result),
        _retrain(result),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _decision(result: Any) -> str:
    label, tone = DECISIONS.get(result.decision, (result.decision, "warn"))
    if result.retrain is not None:
        promoted = result.retrain.promoted_version is not None
        label += ": retrained, new champion" if promoted else ": retrained, champion kept"
        tone = "warn" if promoted else "bad"
    drift = result.drift
    facts = [
        ("rows in the batch", _number(result.rows)),
        ("columns drifted", f"{drift.drifted} of {drift.judged}"),
        ("dataset drift at", f"{drift.share:.0%} of columns"),
        ("on drift", escape(result.policy)),
    ]
    problems = "".join(
        f'<p class="note">Could not compute: {escape(p)}</p>' for p in result.problems
    )
    return (
        f'<section class="card decision {tone}"><h2 style="margin:0">{escape(label)}</h2>'
        f"<p>{escape(result.decision_text)}</p>{problems}"
        '<div class="facts">' + "".join(f"<div>{k}<b>{v}</b></div>" for k, v in facts) + "</div>"
        f'<p class="muted">Champion {escape(result.model)}/{result.version}; data '
        f"{escape(result.data)} (sha256 {escape(result.data_hash[:16])}…); exit code "
        f"{result.exit_code}.</p></section>"
    )


def _overview(result: Any) -> str:
    rows = "".join(
        f'<tr><td><a href="#{_anchor(i)}">{escape(c.column)}</a></td>'
        f"<td>{escape(c.role)}</td><td>{escape(c.test or '–')}</td>"
        f'<td class="num">{_statistic(c)}</td><td class="num">{_threshold(c)}</td>'
        f"<td>{_badge(c.status)}</td><td>{escape(c.reason or c.note)}</td></tr>"
        for i, c in enumerate(result.columns)
    )
    return (
        '<section class="card"><h2 style="margin-top:0">Every column</h2><table>'
        "<tr><th>column</th><th>role</th><th>test</th><th>statistic</th><th>drift if</th>"
        f"<th>verdict</th><th>why this test</th></tr>{rows}</table></section>"
    )


def _stats(column: Any) -> str:
    ref = column.summary.get("reference", {})
    cur = column.summary.get("current", {})
    keys = [k for k in ("count", "nulls", "null_share", "mean", "median") if k in ref or k in cur]
    names = {"null_share": "missing share", "nulls": "missing"}
    rows = "".join(
        f"<tr><th>{names.get(k, k)}</th><td class='num'>"
        + (f"{ref[k]:.1%}" if k == "null_share" and k in ref else _number(ref.get(k)))
        + "</td><td class='num'>"
        + (f"{cur[k]:.1%}" if k == "null_share" and k in cur else _number(cur.get(k)))
        + "</td></tr>"
        for k in keys
    )
    return (
        f'<table class="stats"><tr><th></th><th>reference</th><th>current</th></tr>{rows}</table>'
    )


def _column(index: int, column: Any) -> str:
    drifted = column.status == "drift"
    what = f"{column.column}: reference vs current"
    if column.plot.get("kind") == "numeric":
        chart = svg.histogram(column.plot, drifted, what)
    elif column.plot.get("kind") == "categorical":
        chart = svg.bars(column.plot, drifted, what)
    else:
        chart = (
            f'<svg class="plot" viewBox="0 0 640 60" role="img" aria-label="{escape(what)}">'
            f'<title>{escape(what)}</title><text x="12" y="34" font-size="13" fill="#92400e" '
            f'font-family="system-ui, sans-serif">no plot: {escape(column.note or "no data")}'
            "</text></svg>"
        )
    source = " (the model's prediction)" if column.source == "prediction" else ""
    test = (
        f"<p><b>{escape(column.test)}</b>: {_statistic(column)} (drift if {_threshold(column)})"
        f"<br><span class='muted'>{escape(column.reason)}</span></p>"
        if column.test
        else ""
    )
    detail = f"<p>{escape(column.detail)}</p>" if column.detail else ""
    note = f'<p class="note">{escape(column.note)}</p>' if column.note else ""
    return (
        f'<section class="card column" id="{_anchor(index)}">'
        f'<div class="column-head"><h3>{escape(column.column)}'
        f'<span class="muted"> {escape(column.role)}{source}</span></h3>{_badge(column.status)}'
        f'</div><div class="column-grid"><div>{chart}</div><div>{test}{detail}{note}'
        f"{_stats(column)}</div></div></section>"
    )


def _checks(result: Any) -> str:
    if not result.checks:
        return ""
    rows = "".join(
        f"<tr><td>{escape(c.check)}</td><td>{escape(c.column or '')}</td>"
        f"<td>{_badge('ok') if c.passed else _badge('drift', 'failed')}</td>"
        f"<td>{escape(c.detail)}</td></tr>"
        for c in result.checks
    )
    return (
        '<h2>Data checks</h2><section class="card"><table><tr><th>check</th><th>column</th>'
        f"<th>verdict</th><th>detail</th></tr>{rows}</table></section>"
    )


def _verdict_cells(
    metric: str, value: Any, rule: str | None, champion: Any, passed: bool | None
) -> str:
    """A metric verdict's cells, alike in the performance table and the retrain gate's."""
    return (
        f"<td>{escape(metric)}</td><td class='num'>{_number(value)}</td>"
        f"<td>{escape(rule or '–')}</td><td class='num'>{_number(champion)}</td>"
        f"<td>{escape({True: 'pass', False: 'FAIL', None: '–'}[passed])}</td>"
    )


def _performance(result: Any) -> str:
    performance = result.performance
    if performance is None:
        return ""
    rows = "".join(
        f"<tr>{_verdict_cells(v.metric, v.value, v.rule, v.champion, v.passed)}"
        f"<td>{escape(v.detail)}</td></tr>"
        for v in performance.verdicts
    )
    notes = "".join(
        f'<p class="note">{escape(n)}</p>' for n in (performance.note, performance.problem) if n
    )
    table = (
        "<table><tr><th>metric</th><th>value</th><th>threshold</th><th>at training</th>"
        f"<th>verdict</th><th>detail</th></tr>{rows}</table>"
        if rows
        else ""
    )
    return (
        f"<h2>Performance on {performance.rows:,} labelled rows "
        f"({escape(performance.label_column)})</h2><section class='card'>{notes}{table}</section>"
    )


def _retrain(result: Any) -> str:
    outcome = result.retrain
    if outcome is None:
        return ""
    rows = "".join(
        f"<tr>{_verdict_cells(v['metric'], v['value'], v['rule'], v['champion'], v['passed'])}</tr>"
        for v in outcome.gate
    )
    promoted = (
        f"version {outcome.promoted_version} promoted to champion"
        if outcome.promoted_version is not None
        else "nothing promoted: the champion stays"
    )
    return (
        f"<h2>Retraining</h2><section class='card'><p>Run {escape(outcome.run_id or '–')} on "
        f"{escape(outcome.window)} ({outcome.rows:,} rows): <b>{escape(outcome.status)}</b>, "
        f"{promoted}.</p><p class='muted'>{escape(outcome.note)}</p>"
        + (
            "<table><tr><th>metric</th><th>challenger</th><th>threshold</th>"
            f"<th>champion</th><th>verdict</th></tr>{rows}</table>"
            f"<p class='muted'>{escape(getattr(outcome, 'champion_note', ''))}</p>"
            if rows
            else ""
        )
        + "</section>"
    )
