"""The UI's building blocks: escaping, URLs, the charts and graphs pages draw."""

from __future__ import annotations

import math
import re

from framework.ui import html as h
from framework.ui import svg


def test_esc_escapes_text_once_and_passes_markup() -> None:
    assert h.esc('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    assert h.esc(h.esc("<b>")) == "&lt;b&gt;"  # escaped markup is not escaped twice
    assert h.esc(None) == ""
    assert h.Html("<b>") + "<i>" == "<b>&lt;i&gt;"  # text added to markup is text
    assert h.tag("td", "<x>", class_='a"b', hidden=True, title=None) == (
        '<td class="a&quot;b" hidden>&lt;x&gt;</td>'
    )


def test_urls_quote_each_segment_and_drop_empty_arguments() -> None:
    assert h.model_url("a/b c") == "/models/a%2Fb%20c"
    assert h.version_url("m", 3) == "/models/m/versions/3"
    assert h.runs_url(model="m", status=None, page=2) == "/runs?model=m&page=2"
    assert h.compare_url(["r1", "r&2"]) == "/compare?run=r1&run=r%262"
    assert h.redirect("//evil.example/x").headers == [("location", "/")]


def test_numbers_read_as_numbers() -> None:
    assert h.number(0.912345) == "0.9123"
    assert h.number(2_851_000.0) == "2.851e+06"
    assert h.number(1.5e-12) == "1.5e-12"  # not 0.0000
    assert h.number(math.nan) == "NaN" and h.number(None) == ""


def test_line_chart_draws_one_circle_per_value_and_the_threshold() -> None:
    points = [svg.Point(f"v{i}", v) for i, v in enumerate([0.9, None, math.nan, 0.95, 0.97])]
    points.append(svg.Point("v9", 0.5, href="/models/m/versions/9", bad=True, note="<rejected>"))
    chart = svg.line_chart(points, title="auc <of> m", threshold=0.92)
    assert 'data-points="4"' in chart and chart.count("<circle") == 4
    assert chart.count('class="point bad"') == 1 and '<a href="/models/m/versions/9">' in chart
    assert 'class="threshold"' in chart and "&lt;rejected&gt;" in chart
    assert "auc &lt;of&gt; m" in chart and "<of>" not in chart
    empty = svg.line_chart([svg.Point("a", None)], title="none")
    assert 'data-points="0"' in empty and "no values to draw" in empty


def test_line_chart_is_bounded() -> None:
    chart = svg.line_chart([svg.Point(str(i), float(i)) for i in range(2000)], title="many")
    assert f'data-points="{svg.MAX_POINTS}"' in chart
    assert f"{1999}: 1999" in chart  # the newest are the ones kept


def test_graph_lays_out_in_layers_and_survives_cycles_and_unknown_ends() -> None:
    nodes = [
        svg.Node("d", "data", "data"),
        svg.Node("r", "run <1>", "run", href="/runs/1"),
        svg.Node("v", "m/1", "version", bad=True),
        svg.Node("a", "@champion", "alias"),
    ]
    edges = [("d", "r"), ("r", "v"), ("v", "a"), ("a", "r"), ("v", "nowhere"), ("d", "r")]
    graph = svg.graph(nodes, edges, title="lineage")
    assert 'data-nodes="4" data-edges="4"' in graph
    assert graph.count('class="edge"') == 4 and "run &lt;1&gt;" in graph
    xs = {
        label: float(x)
        for x, label in re.findall(r'<rect x="([\d.]+)".*?<text[^>]*>([^<]+)</text>', graph)
    }
    assert xs["data"] < xs["run &lt;1&gt;"] < xs["m/1"] < xs["@champion"]
