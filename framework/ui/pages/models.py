"""The Models pages: every model with its aliases, and one model's versions and chart.

Both read listings only (``framework.store.browsing``): counts, aliases and the
metrics column of one page of versions; no package is loaded or hashed here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.store import browsing
from framework.store.store import CHAMPION
from framework.ui import html as h
from framework.ui import svg
from framework.ui.queries import PAGE_SIZE, key_metrics, paginate

if TYPE_CHECKING:
    from framework.ui.app import Request

CHART_VERSIONS = 500
"""The model page's chart draws at most the newest this many versions."""


def models_page(request: Request) -> h.Response:
    store = request.store
    number = request.int_arg("page", 1)
    found = browsing.model_overviews(store, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)
    page = paginate(found, number)
    rows = []
    for model in page.rows:
        champion = model.aliases.get(CHAMPION)
        metric_name, metric_value = _champion_metric(store, model.name, champion, model.latest)
        others = [
            h.version_link(model.name, v, f"{alias} → {v}")
            for alias, v in model.aliases.items()
            if alias != CHAMPION
        ]
        rows.append(
            [
                h.model_link(model.name),
                h.version_link(model.name, champion, f"v{champion}") if champion else h.esc("—"),
                h.join(others, ", ") if others else h.esc(""),
                h.Html(
                    f'{model.versions} <span class="muted">({model.registered} registered)</span>'
                ),
                h.version_link(model.name, model.latest, f"v{model.latest}"),
                h.when(model.latest_at),
                h.Html(f"{h.esc(metric_name)} {h.number(metric_value)}") if metric_name else "",
            ]
        )
    body = h.table(
        ["model", "champion", "other aliases", "versions", "latest", "latest at", "key metric"],
        rows,
        classes="models",
        empty="no models yet: `specops run SPEC` registers the first version",
    )
    body += h.pager(h.models_url(), {}, page.number, page.has_next)
    return h.page("Models", body, nav="models", store=request.store_label)


def _champion_metric(
    store: Any, name: str, champion: int | None, latest: int
) -> tuple[str | None, float | None]:
    """The key metric of the champion (else of the latest version) and its value."""
    shown = champion if champion is not None else latest
    rows = browsing.version_rows(store, name, versions=[shown], limit=1)
    if not rows:
        return None, None
    gate = browsing.run_specs(store, [rows[0].run_id]).get(rows[0].run_id, {}).get("gate")
    names = key_metrics(gate, rows[0].metrics)
    if not names:
        return None, None
    return names[0], rows[0].metrics.get(names[0])


def model_page(request: Request) -> h.Response:
    store = request.store
    name = request.params["name"]
    overview = _overview(store, name)
    if overview is None:
        return h.error_page(
            404, "No such model", f"no model named {name} in this store", store=request.store_label
        )
    number = request.int_arg("page", 1)
    found = browsing.version_rows(store, name, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)
    page = paginate(found, number)
    newest = browsing.version_rows(store, name, limit=CHART_VERSIONS)
    gate = browsing.run_specs(store, [newest[0].run_id]).get(newest[0].run_id, {}).get("gate")
    every_metric = sorted({m for v in newest for m in v.metrics})
    keys = key_metrics(gate, newest[0].metrics) or every_metric[:1]
    chosen = request.arg("metric")
    metric = chosen if chosen in every_metric else (keys[0] if keys else None)

    parts = [_alias_facts(request, name, overview)]
    if metric is not None:
        parts.append(_chart(name, metric, newest, gate))
        choices = [
            h.esc(m) if m == metric else h.link(h.url(h.model_url(name), metric=m), m)
            for m in every_metric
        ]
        parts.append(h.tag("p", h.Html("chart of: ") + h.join(choices, " · "), class_="muted"))
    aliases_by_version: dict[int, list[str]] = {}
    for alias, version in overview.aliases.items():
        aliases_by_version.setdefault(version, []).append(alias)
    rows, classes = [], []
    for row in page.rows:
        rows.append(
            [
                h.version_link(name, row.version, f"v{row.version}"),
                h.status(row.status),
                h.join(sorted(aliases_by_version.get(row.version, [])), ", "),
                h.when(row.created_at),
                row.model_type,
                h.run_link(row.run_id),
                *[row.metrics.get(k) for k in keys],
            ]
        )
        classes.append("rejected" if row.status != "registered" else "")
    parts.append(
        h.section(
            "Versions",
            h.table(
                ["version", "status", "aliases", "created", "model", "run", *keys],
                rows,
                classes="versions",
                row_classes=classes,
            )
            + h.pager(h.model_url(name), {"metric": chosen}, page.number, page.has_next),
            id="versions",
        )
    )
    loops = _loops(store, name)
    if loops:
        parts.append(h.section("Drift → retrain → gate → promote", loops, id="loop"))
    parts.append(h.section("Recent alias moves", _moves(store, name), id="moves"))
    parts.append(
        h.tag(
            "p",
            h.join(
                [
                    h.link(h.runs_url(model=name), f"runs of {name}"),
                    h.link(h.monitoring_url(name), f"monitoring of {name}"),
                ],
                " · ",
            ),
        )
    )
    return h.page(
        f"Model {name}",
        h.join(parts),
        nav="models",
        store=request.store_label,
        crumbs=[(h.models_url(), "models")],
    )


def _overview(store: Any, name: str) -> browsing.ModelOverview | None:
    """The one model's counts and aliases (the listing's query, narrowed)."""
    found = browsing.model_overviews(store, name=name, limit=1)
    return found[0] if found else None


def _alias_facts(request: Request, name: str, overview: browsing.ModelOverview) -> h.Html:
    from framework.ui import writes

    items = []
    for alias, version in overview.aliases.items():
        items.append(
            (
                alias,
                h.version_link(name, version, f"v{version}")
                + " "
                + writes.rollback_form(request, name, alias),
            )
        )
    items.append(("versions", overview.versions))
    items.append(("latest", h.version_link(name, overview.latest, f"v{overview.latest}")))
    return h.Html(f'<div id="aliases">{h.facts(items)}</div>')


RECENT_MOVES = 20
LOOPS = 8
"""Retrainings drawn in the model's loop graph (the newest)."""


def _loops(store: Any, name: str) -> h.Html:
    """The whole loop in one picture: the version a monitor run judged -> the monitor
    run (its decision) -> the retraining it started -> the version that made (red when
    the gate rejected it) -> @champion when it was promoted."""
    loops = browsing.retraining_loops(store, name, limit=LOOPS)
    if not loops:
        return h.Html("")
    produced = browsing.versions_of_runs(store, [loop["retrain_run_id"] for loop in loops])
    nodes: list[svg.Node] = []
    edges: list[tuple[str, str]] = []
    for loop in reversed(loops):
        monitor, retrain = f"monitor:{loop['id']}", f"run:{loop['retrain_run_id']}"
        share = loop.get("drift_share")
        detail = f"{loop['decision']}" + (f" {share:.0%} drifted" if share is not None else "")
        nodes.append(
            svg.Node(
                monitor,
                f"monitor {loop['started_at'][:10]}",
                "monitor",
                detail,
                href=h.monitor_run_url(loop["id"]),
                bad=True,
            )
        )
        if loop.get("version") is not None:
            judged = f"version:{loop['version']}"
            nodes.append(
                svg.Node(
                    judged,
                    f"{name}/{loop['version']}",
                    "version",
                    "judged",
                    href=h.version_url(name, loop["version"]),
                )
            )
            edges.append((judged, monitor))
        nodes.append(
            svg.Node(
                retrain,
                f"run {loop['retrain_run_id']}",
                "run",
                f"retraining: {loop.get('retrain_status') or '?'}",
                href=h.run_url(loop["retrain_run_id"]),
                bad=loop.get("retrain_status") != "passed",
            )
        )
        edges.append((monitor, retrain))
        for model, number, status in produced.get(loop["retrain_run_id"], []):
            if model != name:
                continue
            made = f"version:{number}"
            nodes.append(
                svg.Node(
                    made,
                    f"{name}/{number}",
                    "version",
                    status,
                    href=h.version_url(name, number),
                    bad=status != "registered",
                )
            )
            edges.append((retrain, made))
            if loop.get("promoted_version") == number:
                promoted = f"promoted:{number}"
                nodes.append(svg.Node(promoted, "@champion", "alias", f"promoted v{number}"))
                edges.append((made, promoted))
    return svg.graph(nodes, edges, title=f"the latest retrainings of {name}")


def _moves(store: Any, name: str) -> h.Html:
    """The model's latest alias moves (promotions by gates and by hand, rollbacks)."""
    rows = [
        [
            h.when(move.at),
            move.alias,
            h.version_link(name, move.from_version, f"v{move.from_version}")
            if move.from_version is not None
            else h.esc("—"),
            h.version_link(name, move.to_version, f"v{move.to_version}"),
            move.actor,
            move.reason,
        ]
        for move in browsing.alias_moves(store, name, limit=RECENT_MOVES)
    ]
    return h.table(["at", "alias", "from", "to", "by", "reason"], rows, empty="no alias moved yet")


def _chart(name: str, metric: str, newest: list[browsing.VersionRow], gate: Any) -> h.Html:
    """The metric across versions, oldest left; rejected versions in red; the gate's
    ``min`` (or ``max``) for this metric drawn as the threshold."""
    points = [
        svg.Point(
            f"v{row.version}",
            row.metrics.get(metric),
            href=h.version_url(name, row.version),
            note=row.status,
            bad=row.status != "registered",
        )
        for row in reversed(newest)
    ]
    rule = gate.get(metric) if isinstance(gate, dict) else None
    threshold, label = None, "threshold"
    if isinstance(rule, dict):
        for key in ("min", "max"):
            if isinstance(rule.get(key), (int, float)):
                threshold, label = float(rule[key]), f"gate {key}"
                break
    return svg.line_chart(
        points,
        title=f"{metric} across versions of {name}",
        y_label=metric,
        threshold=threshold,
        threshold_label=label,
        width=760,
    )


ROUTES = [
    ("GET", "/models", models_page),
    ("GET", "/models/{name}", model_page),
]
