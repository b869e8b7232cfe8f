"""Small inline SVG charts, written as text: no JavaScript, no fonts or files to fetch.

Two charts, each reference against current: overlaid histograms (shares per bin)
for numeric columns, paired horizontal bars for categorical ones. Everything a
chart prints is escaped; sizes are in SVG units and scale with the page.
"""

from __future__ import annotations

from html import escape
from typing import Any

REFERENCE = "#8a94a6"
CURRENT = "#2563eb"
DRIFTED = "#dc2626"
AXIS = "#4b5563"
GRID = "#e5e7eb"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _tick(value: float) -> str:
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.2e}"
    return f"{value:.4g}"


def _legend(x: float, y: float, color: str) -> str:
    return (
        f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{REFERENCE}" opacity="0.6"/>'
        f'<text x="{x + 14}" y="{y}" {FONT} fill="{AXIS}">reference (training)</text>'
        f'<rect x="{x + 140}" y="{y - 9}" width="10" height="10" fill="{color}" opacity="0.55"/>'
        f'<text x="{x + 154}" y="{y}" {FONT} fill="{AXIS}">current (new data)</text>'
    )


def histogram(plot: dict[str, Any], drifted: bool, title: str) -> str:
    """Reference and current shares per bin, overlaid, on one x axis."""
    width, height = 640, 230
    left, right, top, bottom = 52, 30, 26, 40
    edges = plot["edges"]
    ref, cur = plot["reference"], plot["current"]
    color = DRIFTED if drifted else CURRENT
    peak = max([*ref, *cur, 1e-12])
    inner_w, inner_h = width - left - right, height - top - bottom
    low, high = edges[0], edges[-1]
    span = (high - low) or 1.0

    def x(value: float) -> float:
        return left + (value - low) / span * inner_w

    def y(share: float) -> float:
        return top + inner_h - share / peak * inner_h

    parts = [
        f'<svg class="plot" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        share = peak * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(share):.1f}" y2="{y(share):.1f}" '
            f'stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y(share) + 4:.1f}" {FONT} fill="{AXIS}" '
            f'text-anchor="end">{share:.0%}</text>'
            if peak >= 0.04
            else f'<text x="{left - 6}" y="{y(share) + 4:.1f}" {FONT} fill="{AXIS}" '
            f'text-anchor="end">{share:.1%}</text>'
        )
    for series, fill, opacity in ((ref, REFERENCE, 0.6), (cur, color, 0.55)):
        for i, share in enumerate(series):
            if share <= 0:
                continue
            x0, x1 = x(edges[i]), x(edges[i + 1])
            parts.append(
                f'<rect x="{x0:.1f}" y="{y(share):.1f}" width="{max(x1 - x0 - 0.5, 0.5):.1f}" '
                f'height="{top + inner_h - y(share):.1f}" fill="{fill}" opacity="{opacity}"/>'
            )
    base = top + inner_h
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="{AXIS}"/>'
    )
    ticks = [low + span * i / 5 for i in range(6)]
    if plot.get("integer"):
        ticks = sorted({float(round(t)) for t in ticks if low <= round(t) <= high})
    for value in ticks:
        parts.append(
            f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="{base}" y2="{base + 4}" '
            f'stroke="{AXIS}"/><text x="{x(value):.1f}" y="{base + 16}" {FONT} fill="{AXIS}" '
            f'text-anchor="middle">{escape(_tick(value))}</text>'
        )
    outside = plot.get("outside", {})
    if outside.get("reference", 0) > 0.001 or outside.get("current", 0) > 0.001:
        parts.append(
            f'<text x="{width - right}" y="{top - 10}" {FONT} fill="{AXIS}" text-anchor="end">'
            f"outside the axis: reference {outside.get('reference', 0):.1%}, "
            f"current {outside.get('current', 0):.1%}</text>"
        )
    parts.append(_legend(left, height - 6, color))
    parts.append("</svg>")
    return "".join(parts)


def bars(plot: dict[str, Any], drifted: bool, title: str) -> str:
    """Reference and current share of each category, as paired horizontal bars."""
    labels = plot["labels"]
    ref, cur = plot["reference"], plot["current"]
    unseen = set(plot.get("unseen", []))
    color = DRIFTED if drifted else CURRENT
    row, left, right, top = 26, 150, 120, 10
    width = 640
    height = top + row * len(labels) + 34
    peak = max([*ref, *cur, 1e-12])
    inner_w = width - left - right
    parts = [
        f'<svg class="plot" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, label in enumerate(labels):
        y0 = top + i * row
        shown = label if len(label) <= 22 else label[:21] + "…"
        mark = " (new)" if label in unseen else ""
        parts.append(
            f'<text x="{left - 8}" y="{y0 + 15}" {FONT} fill="{AXIS}" text-anchor="end">'
            f"{escape(shown + mark)}</text>"
        )
        for offset, share, fill, opacity in (
            (2, ref[i], REFERENCE, 0.6),
            (12, cur[i], color, 0.55),
        ):
            length = share / peak * inner_w
            parts.append(
                f'<rect x="{left}" y="{y0 + offset}" width="{max(length, 0.5):.1f}" height="9" '
                f'fill="{fill}" opacity="{opacity}"/>'
            )
        parts.append(
            f'<text x="{left + max(ref[i], cur[i]) / peak * inner_w + 6:.1f}" y="{y0 + 15}" '
            f'{FONT} fill="{AXIS}">{ref[i]:.1%} → {cur[i]:.1%}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top - 2}" y2="{top + row * len(labels)}" '
        f'stroke="{AXIS}"/>'
    )
    parts.append(_legend(left, height - 8, color))
    parts.append("</svg>")
    return "".join(parts)
