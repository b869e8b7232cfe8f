"""Compare runs: params, metrics, plugin versions (everything ``runs diff`` shows)
side by side, one column per run, the rows that differ highlighted.

``/compare?run=A&run=B&run=C`` (the runs table's checkboxes send exactly that);
``&changed=1`` keeps only the rows that differ. A cell that differs from the first
run's value is marked ``changed`` too, so the eye finds which run moved.
"""

from __future__ import annotations

import json
import re
from typing import Any

from framework.redact import hide_credentials
from framework.ui import html as h
from framework.ui.html import Html
from framework.ui.pages._compare_data import MAX_RUNS, Comparison, chosen_ids, compare

DIGEST = re.compile(r"^[0-9a-f]{64}$")
MAX_CELL = 300
"""Characters of a value shown in a cell (a long list param); the whole is the tooltip."""


def compare_page(request: Any) -> h.Response:
    ids = chosen_ids(request.args("run"))
    only_changed = request.arg("changed") in ("1", "true", "yes", "on")
    crumbs = [(h.runs_url(), "Runs")]
    if len(ids) < 2:
        body = h.notice(
            h.join(
                [
                    "pick two runs or more: tick them in ",
                    h.link(h.runs_url(), "the runs table"),
                    f" and press 'Compare selected runs' (at most {MAX_RUNS}).",
                ]
            ),
            "info",
        )
        return h.page("Compare runs", body, nav="runs", store=request.store_label, crumbs=crumbs)
    data = compare(request.store, ids)
    parts = []
    if data.missing:
        parts.append(h.notice(f"no run {', '.join(data.missing)} in this store", "warn"))
    if len(data.run_ids) < 2:
        parts.append(h.notice("fewer than two of these runs exist: nothing to compare", "bad"))
        status = 404 if not data.run_ids else 200
        return h.page(
            "Compare runs",
            h.join(parts),
            nav="runs",
            status_code=status,
            store=request.store_label,
            crumbs=crumbs,
        )
    parts += [_summary(data, only_changed), _table(data, only_changed)]
    return h.page(
        f"Compare {len(data.run_ids)} runs",
        h.join(parts),
        nav="runs",
        store=request.store_label,
        crumbs=crumbs,
    )


def _summary(data: Comparison, only_changed: bool) -> Html:
    toggle = (
        h.link(h.compare_url(data.run_ids), "show every row")
        if only_changed
        else h.link(h.url("/compare", run=data.run_ids, changed=1), "show only what changed")
    )
    said = f"{data.changed} of {len(data.rows)} rows differ (highlighted). "
    return h.tag("p", h.join([said, toggle]))


def _table(data: Comparison, only_changed: bool) -> Html:
    """One row per fact; a changed row is ``tr.changed``, and within it each cell that
    differs from the first run's ``td.changed`` (the table helper marks rows only)."""
    head = "".join(
        f"<th>{h.esc(title)}</th>"
        for title in ["section", "key", *[h.run_link(run_id) for run_id in data.run_ids]]
    )
    body = []
    for row in data.rows:
        if only_changed and not row.changed:
            continue
        key = h.tag("code", row.key, class_="nowrap")
        cells = [f"<td>{h.esc(row.section)}</td><td>{key}</td>"]
        for value, differs in zip(row.values, row.differs, strict=True):
            css = ' class="changed"' if differs and row.changed else ""
            cells.append(f"<td{css}>{_cell(value)}</td>")
        css = ' class="changed"' if row.changed else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    if not body:
        return h.tag("p", "no rows differ", class_="empty")
    return Html(
        f'<table class="compare"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _cell(value: Any) -> Html:
    """One value as text (JSON for lists and dicts), cut to a readable length (the
    whole value is the tooltip)."""
    if isinstance(value, float):  # a metric: 4 decimals to read, every digit on hover
        return h.tag("span", h.number(value), title=repr(value))
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, default=str)
    text = hide_credentials(text)
    if DIGEST.match(text):  # spec and data hashes: the start tells them apart
        return h.short_hash(text)
    shown = text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"
    return h.tag("span", shown, title=text if shown != text else None)


ROUTES = [("GET", "/compare", compare_page)]
