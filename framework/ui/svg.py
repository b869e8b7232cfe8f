"""Charts and graphs drawn as inline SVG: no script, no library, works offline.

Two drawings serve every page: :func:`line_chart` (a metric across versions, a
column's drift statistic across monitor runs, with the threshold drawn) and
:func:`graph` (lineage, a spec's plan: boxes in layers joined by arrows). Each
point of a chart is one ``<circle class="point">`` with a ``<title>`` tooltip, and
the ``<svg>`` says how many in ``data-points``, so a test (or a person) can count
what was drawn. Every label goes through :func:`framework.ui.html.esc`.

Sizes are bounded: a chart draws at most ``MAX_POINTS`` points (the newest), a
graph at most ``MAX_NODES`` nodes, so a page's cost does not grow with the store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from framework.ui.html import Html, esc, number

MAX_POINTS = 500
MAX_NODES = 200

COLORS = {
    "line": "#2456a6",
    "point": "#2456a6",
    "bad": "#b3261e",
    "threshold": "#b3261e",
    "grid": "#e3e7ee",
    "text": "#5d6778",
}


@dataclass(frozen=True)
class Point:
    """One value of a series: its label on the x axis, the value (None: not drawn),
    an optional link (the version, the monitor run) and a note for the tooltip."""

    label: str
    value: float | None
    href: str | None = None
    note: str = ""
    bad: bool = False
    """Drawn in red (drifted, rejected, failed the gate)."""


def line_chart(
    points: Sequence[Point],
    *,
    title: str,
    y_label: str = "",
    threshold: float | None = None,
    threshold_label: str = "threshold",
    width: int = 640,
    height: int = 220,
) -> Html:
    """A line through ``points`` left to right, each a circle; a dashed red line at
    ``threshold`` when given. Points without a value are skipped (not counted)."""
    shown = [p for p in points if _finite(p.value)][-MAX_POINTS:]
    left, right, top, bottom = 56, 16, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'data-points="{len(shown)}" aria-label="{esc(title)}">'
        f"<title>{esc(title)}</title>"
        f'<text x="{left}" y="18" font-size="13" font-weight="600" fill="#1d2330">'
        f"{esc(title)}</text>"
    )
    if not shown:
        return Html(
            head + f'<text x="{left}" y="{top + plot_h / 2}" font-size="12" '
            f'fill="{COLORS["text"]}">no values to draw</text></svg>'
        )
    values = [float(p.value) for p in shown]  # type: ignore[arg-type]
    if threshold is not None and _finite(threshold):
        values.append(float(threshold))
    low, high = min(values), max(values)
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    else:
        pad = (high - low) * 0.08
        low, high = low - pad, high + pad

    def x_of(index: int) -> float:
        if len(shown) == 1:
            return left + plot_w / 2
        return left + plot_w * index / (len(shown) - 1)

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    parts = [head]
    for tick in _ticks(low, high):
        y = y_of(tick)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{COLORS["grid"]}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="{COLORS["text"]}">{number(tick, 3)}</text>'
        )
    if y_label:
        parts.append(
            f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="11" fill="{COLORS["text"]}" '
            f'transform="rotate(-90 12 {top + plot_h / 2:.1f})" text-anchor="middle">'
            f"{esc(y_label)}</text>"
        )
    if threshold is not None and _finite(threshold):
        y = y_of(float(threshold))
        shown_label = f"{threshold_label} {number(threshold)}"
        legend = width - right - 5.6 * len(shown_label) - 6  # where the legend's text starts
        parts.append(
            f'<line class="threshold" x1="{left}" x2="{width - right}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="{COLORS["threshold"]}" stroke-dasharray="6 4" '
            f'stroke-width="1.5"><title>{esc(threshold_label)}: {number(threshold)}</title>'
            f"</line>"
            # the legend sits in the top margin, right-aligned: never over the points
            f'<line x1="{legend - 22:.0f}" x2="{legend:.0f}" y1="14" y2="14" '
            f'stroke="{COLORS["threshold"]}" stroke-dasharray="6 4" stroke-width="1.5"/>'
            f'<text x="{width - right}" y="18" font-size="11" text-anchor="end" '
            f'fill="{COLORS["threshold"]}">{esc(shown_label)}</text>'
        )
    coords = [(x_of(i), y_of(float(p.value))) for i, p in enumerate(shown)]  # type: ignore[arg-type]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(
            f'<polyline class="series" fill="none" stroke="{COLORS["line"]}" '
            f'stroke-width="2" points="{path}"/>'
        )
    labelled = _labelled([x for x, _ in coords])
    for index, (point, (x, y)) in enumerate(zip(shown, coords, strict=True)):
        tip = f"{point.label}: {number(point.value)}" + (f" — {point.note}" if point.note else "")
        color = COLORS["bad"] if point.bad else COLORS["point"]
        circle = (
            f'<circle class="point{" bad" if point.bad else ""}" cx="{x:.1f}" cy="{y:.1f}" '
            f'r="4" fill="{color}"><title>{esc(tip)}</title></circle>'
        )
        if point.href:
            circle = f'<a href="{esc(point.href)}">{circle}</a>'
        parts.append(circle)
        if index in labelled:
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" font-size="11" '
                f'text-anchor="middle" fill="{COLORS["text"]}">{esc(_clip(point.label, 14))}'
                f"</text>"
            )
    parts.append("</svg>")
    return Html("".join(parts))


# graphs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A box of a graph: ``id`` (unique), its label, a second line, a ``kind`` that
    picks its colour (data, run, version, alias, deployment, monitor, step, ...),
    and an optional link."""

    id: str
    label: str
    kind: str = "step"
    detail: str = ""
    href: str | None = None
    bad: bool = False


KIND_COLORS = {
    "data": "#e7f0e0",
    "run": "#e1eafc",
    "version": "#fdf1d8",
    "alias": "#f0e4fa",
    "deployment": "#e6f5f5",
    "monitor": "#fbe3e1",
    "step": "#eef1f6",
}

NODE_W, NODE_H, GAP_X, GAP_Y = 176, 46, 56, 18


def graph(nodes: Sequence[Node], edges: Sequence[tuple[str, str]], *, title: str) -> Html:
    """Boxes in columns by depth (longest path from a source), arrows between them.

    Edges naming an unknown node are dropped; a cycle is broken where it closes.
    The ``<svg>`` carries ``data-nodes`` and ``data-edges`` (what was drawn).
    """
    nodes = list({n.id: n for n in nodes}.values())[:MAX_NODES]
    known = {n.id for n in nodes}
    kept = [(a, b) for a, b in dict.fromkeys(edges) if a in known and b in known and a != b]
    depth = _layers(nodes, kept)
    columns: dict[int, list[Node]] = {}
    for node in nodes:
        columns.setdefault(depth[node.id], []).append(node)
    rows = max((len(c) for c in columns.values()), default=0)
    width = max(1, len(columns)) * (NODE_W + GAP_X) - GAP_X + 32
    height = max(1, rows) * (NODE_H + GAP_Y) - GAP_Y + 56
    where: dict[str, tuple[float, float]] = {}
    for layer, members in columns.items():
        offset = (rows - len(members)) * (NODE_H + GAP_Y) / 2
        for row, node in enumerate(members):
            where[node.id] = (16 + layer * (NODE_W + GAP_X), 40 + offset + row * (NODE_H + GAP_Y))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'data-nodes="{len(nodes)}" data-edges="{len(kept)}" aria-label="{esc(title)}">'
        f"<title>{esc(title)}</title>"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#5d6778"/></marker></defs>'
        f'<text x="16" y="22" font-size="13" font-weight="600" fill="#1d2330">{esc(title)}</text>'
    ]
    for a, b in kept:
        (ax, ay), (bx, by) = where[a], where[b]
        x1, y1 = ax + NODE_W, ay + NODE_H / 2
        x2, y2 = bx, by + NODE_H / 2
        if bx <= ax:  # an edge back to an earlier column: leave from the bottom
            x1, y1, x2, y2 = ax + NODE_W / 2, ay + NODE_H, bx + NODE_W / 2, by + NODE_H
        mid = (x1 + x2) / 2
        parts.append(
            f'<path class="edge" d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} '
            f'{x2:.0f},{y2:.0f}" fill="none" stroke="#5d6778" stroke-width="1.3" '
            'marker-end="url(#arrow)"/>'
        )
    for node in nodes:
        x, y = where[node.id]
        fill = KIND_COLORS.get(node.kind, KIND_COLORS["step"])
        stroke = COLORS["bad"] if node.bad else "#9aa6bb"
        tip = f"{node.kind}: {node.label}" + (f" — {node.detail}" if node.detail else "")
        box = (
            f'<g class="node {esc(node.kind)}"><title>{esc(tip)}</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{2 if node.bad else 1}"/>'
            f'<text x="{x + 8:.0f}" y="{y + 19:.0f}" font-size="12" font-weight="600" '
            f'fill="#1d2330">{esc(_clip(node.label, 24))}</text>'
            f'<text x="{x + 8:.0f}" y="{y + 36:.0f}" font-size="11" fill="#5d6778">'
            f"{esc(_clip(node.detail or node.kind, 28))}</text></g>"
        )
        if node.href:
            box = f'<a href="{esc(node.href)}">{box}</a>'
        parts.append(box)
    parts.append("</svg>")
    return Html("".join(parts))


def _layers(nodes: Sequence[Node], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each node's column: the longest path reaching it (Kahn's order). On a cycle the
    first node still waiting (in the given order) is taken as if ready: the edge that
    closes the cycle then points back to an earlier column."""
    incoming = {n.id: 0 for n in nodes}
    after: dict[str, list[str]] = {n.id: [] for n in nodes}
    for a, b in edges:
        incoming[b] += 1
        after[a].append(b)
    depth = {n.id: 0 for n in nodes}
    done: set[str] = set()
    ready = [n.id for n in nodes if incoming[n.id] == 0]
    while len(done) < len(nodes):
        if not ready:
            ready = [next(n.id for n in nodes if n.id not in done)]
        current = ready.pop(0)
        if current in done:
            continue
        done.add(current)
        for nxt in after[current]:
            if nxt in done:
                continue
            depth[nxt] = max(depth[nxt], depth[current] + 1)
            incoming[nxt] -= 1
            if incoming[nxt] == 0:
                ready.append(nxt)
    # a source (data, a judged version) sits just left of the first node it feeds, not
    # in column 0, so its arrow does not run through the columns between
    sources = [n.id for n in nodes if not any(b == n.id for _, b in edges)]
    for source in sources:
        later = [depth[b] for b in after[source] if depth[b] > 0]
        if later:
            depth[source] = max(depth[source], min(later) - 1)
    return depth


LABEL_GAP = 44
"""Pixels between two x labels: closer ones are left out (the newest is always shown)."""


def _labelled(xs: list[float]) -> set[int]:
    """Which points get an x label: from the newest backwards, each at least
    ``LABEL_GAP`` pixels left of the previous one drawn."""
    chosen: set[int] = set()
    last = math.inf
    for index in range(len(xs) - 1, -1, -1):
        if last - xs[index] >= LABEL_GAP:
            chosen.add(index)
            last = xs[index]
    return chosen


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About ``count`` round values between ``low`` and ``high`` for grid lines."""
    span = high - low
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    start = math.ceil(low / step) * step
    ticks = []
    value = start
    while value <= high + 1e-12 and len(ticks) < 12:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
