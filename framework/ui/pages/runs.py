"""The runs table: every run, filtered by model, status and trigger, sorted by any
column or metric, a page at a time; tick two or more and compare them.

The rows come from :mod:`framework.ui.pages._runs_data` (one SQL page, never the
whole store). The table is inside a plain GET form to ``/compare``: the checkboxes
are the selection, no script needed.
"""

from __future__ import annotations

from typing import Any

from framework.ui import html as h
from framework.ui.html import Html
from framework.ui.pages._runs_data import STATUSES, TRIGGERS, RunRow, RunsPage, RunsQuery, runs_page

MAX_METRIC_COLUMNS = 4
"""Metric columns shown (the sort offers every metric); the one sorted by comes first."""


def runs(request: Any) -> h.Response:
    query = RunsQuery.from_params({k: v[0] for k, v in request.query.items() if v})
    data = runs_page(request.store, query)
    body = h.join([_filters(data), _table(data), _pages(data)])
    return h.page("Runs", body, nav="runs", store=request.store_label)


def _filters(data: RunsPage) -> Html:
    """The filter and sort form (GET: the result is a link to share)."""
    query = data.query
    sorts = [("started", "start time"), ("duration", "duration"), ("status", "status"),
             ("spec", "model")] + [(f"metric:{m}", m) for m in data.metric_names]  # fmt: skip
    fields = [
        _select(
            "model", "model", [("", "every model")] + [(m, m) for m in data.models], query.model
        ),
        _select(
            "status", "status", [("", "any status")] + [(s, s) for s in STATUSES], query.status
        ),
        _select(
            "trigger",
            "trigger",
            [("", "any trigger"), (TRIGGERS[0], "by hand"), (TRIGGERS[1], "a monitor run")],
            query.trigger,
        ),
        _select("sort", "sort by", sorts, query.sort),
        _select(
            "order",
            "order",
            [("desc", "highest / newest first"), ("asc", "lowest / oldest first")],
            "desc" if query.descending else "asc",
        ),
        Html('<button type="submit">Show</button>'),
    ]
    if query.per_page != RunsQuery().per_page:
        fields.append(Html(f'<input type="hidden" name="per_page" value="{query.per_page}">'))
    return Html(f'<form method="get" action="/runs" class="filters">{h.join(fields, " ")}</form>')


def _select(name: str, label: str, options: list[tuple[str, str]], chosen: str) -> Html:
    items = "".join(
        f'<option value="{h.esc(value)}"{" selected" if value == chosen else ""}>'
        f"{h.esc(text)}</option>"
        for value, text in options
    )
    return Html(f'<label>{h.esc(label)} <select name="{h.esc(name)}">{items}</select></label>')


def _metric_columns(data: RunsPage) -> list[str]:
    """The metric sorted by, then the key metrics of the page's runs (their gates')."""
    sorted_by = data.query.sort[len("metric:") :] if data.query.sort.startswith("metric:") else ""
    shown = [sorted_by] if sorted_by else []
    shown += [m for m in data.key_metrics if m != sorted_by]
    return shown[:MAX_METRIC_COLUMNS]


def _header(data: RunsPage, label: str, sort: str) -> Html:
    """A column header that sorts by it (again: the other way round)."""
    query = data.query
    descending = not query.descending if query.sort == sort else True
    arrow = (" ↓" if query.descending else " ↑") if query.sort == sort else ""
    href = h.runs_url(**query.params(sort=sort, order="desc" if descending else "asc", page=1))
    return h.link(href, label + arrow)


def _table(data: RunsPage) -> Html:
    metrics = _metric_columns(data)
    headers: list[Any] = [
        Html('<span class="muted">compare</span>'),
        "run",
        _header(data, "model", "spec"),
        _header(data, "status", "status"),
        _header(data, "started", "started"),
        _header(data, "duration", "duration"),
        "trigger",
        "version",
        *[_header(data, m, f"metric:{m}") for m in metrics],
    ]
    rows = [_row(run, metrics) for run in data.rows]
    table = h.table(headers, rows, classes="runs", empty="no runs match these filters")
    button = Html('<p><button type="submit">Compare selected runs</button></p>')
    return Html(f'<form method="get" action="/compare">{table}{button if data.rows else ""}</form>')


def _row(run: RunRow, metrics: list[str]) -> list[Any]:
    checkbox = Html(
        f'<input type="checkbox" name="run" value="{h.esc(run.id)}" '
        f'aria-label="compare {h.esc(run.id)}">'
    )
    return [
        checkbox,
        h.run_link(run.id),
        h.link(h.runs_url(model=run.spec), run.spec),
        h.status(run.status),
        h.when(run.started_at),
        _duration(run.seconds),
        _trigger(run.trigger),
        h.join([h.version_link(m["name"], m["version"]) for m in run.models], ", "),
        *[_metric(run.metrics.get(m)) for m in metrics],
    ]


def _metric(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _duration(seconds: float | None) -> Html:
    if seconds is None:
        return h.esc("")
    if seconds < 10:
        text = f"{seconds:.2f} s"
    else:
        text = f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    return Html(f'<span class="num">{h.esc(text)}</span>')


def _trigger(trigger: str | None) -> Html:
    if not trigger:
        return Html('<span class="muted">by hand</span>')
    if trigger.startswith("mon-"):
        return h.link(h.monitor_run_url(trigger), h.tag("code", trigger))
    return h.tag("code", trigger)


def _pages(data: RunsPage) -> Html:
    query = data.query
    parts = []
    if query.page > 1:
        href = h.runs_url(**query.params(page=query.page - 1))
        parts.append(h.link(href, "← previous", rel="prev"))
    shown = min(query.page, data.pages)
    parts.append(
        h.tag("span", f"page {shown} of {data.pages} ({data.total:,} runs)", class_="page")
    )
    if query.page < data.pages:
        parts.append(h.link(h.runs_url(**query.params(page=query.page + 1)), "next →", rel="next"))
    return h.tag("nav", h.join(parts, " "), class_="pager")


ROUTES = [("GET", "/runs", runs)]
