"""Every page of `specops ui` in headless Chromium, on the 5,000-run / 500-version store.

What a user sees: pages load without a console error (a CSP violation is one), links
lead from the models list down to a run, charts draw a point per version or monitor
run, the compare view marks what changed, the runs table filters, sorts and pages.
With SPECOPS_UI_SCREENSHOTS=docs/ui the main pages are photographed for docs/ui.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.ui.browser.conftest import VIEWPORT, Tab, UiServer, tab_on
from tests.ui.fixture_store import REAL_MODEL, UiStore

HIGHLIGHT = "rgb(255, 244, 214)"
"""The background of a changed row or cell (``tr.changed td``)."""


@pytest.fixture(scope="module")
def ui(big_store: UiStore, served: Callable[..., UiServer]) -> UiServer:
    return served(big_store)


@pytest.fixture(scope="module")
def store(big_store: UiStore) -> Iterator[Any]:
    """The fixture's store, read here to know what the pages should show."""
    from framework.store import Store

    opened = Store(big_store.store, write=False)
    yield opened
    opened.close()


def test_every_page_loads_without_console_errors(tab: Tab, big_store: UiStore, store: Any) -> None:
    busiest = big_store.busiest_model
    newest = store.version_numbers(busiest)[-1]
    runs = [v.run_id for v in store.versions(busiest)[-3:]]
    pages = {
        "models": "/models",
        "model": f"/models/{busiest}",
        "version": f"/models/{REAL_MODEL}/versions/2",
        "version-bulk": f"/models/{busiest}/versions/{newest}",
        "runs": "/runs",
        "runs-filtered": f"/runs?model={busiest}&status=rejected&sort=metric:roc_auc",
        "run": f"/runs/{big_store.retrain_run}",
        "run-error": f"/runs/{big_store.error_run}",
        "run-failed-checks": f"/runs/{big_store.failed_run}",
        "compare": "/compare?" + "&".join(f"run={r}" for r in runs),
        "monitoring-all": "/monitoring",
        "monitoring": f"/monitoring/{busiest}",
        "monitor-run": f"/monitoring/runs/{big_store.monitor_run}",
        "monitor-report": f"/monitoring/runs/{big_store.monitor_run}/report",
        "model-page-2": f"/models/{busiest}?page=2",
        "model-other-metric": f"/models/{busiest}?metric=log_loss",
        "runs-deep-page": "/runs?page=60&sort=duration&order=asc",
        "spec": "/spec?path=spec.yaml",
    }
    too_wide = {}
    for name, path in pages.items():
        tab.open(path)
        heading = tab.page.locator("h1").first.inner_text()
        assert heading.strip(), f"{name}: no heading"
        assert "Internal error" not in heading
        width = tab.page.evaluate("document.documentElement.scrollWidth")
        if width > VIEWPORT["width"]:
            too_wide[name] = width
    # readable on a laptop: nothing scrolls sideways at 1280 px
    assert not too_wide, f"pages wider than {VIEWPORT['width']} px: {too_wide}"
    # the pages docs/ui.md shows, and how much of each (pixels from the top)
    screenshots = {
        "models": ("/models", 420),
        "model": (f"/models/{busiest}", 1000),
        "version": (f"/models/{REAL_MODEL}/versions/2", 1080),
        "runs": ("/runs?trigger=monitor", 900),
        "compare": ("/compare?changed=1&" + "&".join(f"run={r}" for r in runs), 760),
        "run": (f"/runs/{big_store.retrain_run}", 1000),
        "monitoring": (f"/monitoring/{busiest}", 1000),
        "spec": ("/spec?path=spec.yaml", 760),
    }
    for name, (path, height) in screenshots.items():
        tab.open(path)
        tab.shot(name, height=height)
    tab.open(f"/models/{busiest}")
    tab.shot("loop", part="#loop")


def test_links_lead_from_models_to_a_version_and_its_run(tab: Tab, big_store: UiStore) -> None:
    busiest = big_store.busiest_model
    tab.open("/models")
    tab.page.locator(f'a[href="/models/{busiest}"]').first.click()
    tab.page.wait_for_url(f"**/models/{busiest}")
    assert busiest in tab.page.locator("h1").inner_text()

    version_link = tab.page.locator(f'table.versions a[href^="/models/{busiest}/versions/"]').first
    href = version_link.get_attribute("href")
    version_link.click()
    tab.page.wait_for_url(f"**{href}")
    number = href.rsplit("/", 1)[1]
    assert f"{busiest}/{number}" in tab.page.locator("h1").inner_text()

    run_link = tab.page.locator('main a[href^="/runs/"]').first
    run_href = run_link.get_attribute("href")
    run_link.click()
    tab.page.wait_for_url(f"**{run_href}")
    run_id = run_href.rsplit("/", 1)[1]
    assert run_id in tab.page.locator("h1").inner_text()
    # and back up: the run names the version it made
    tab.page.locator(f'main a[href="/models/{busiest}/versions/{number}"]').first.click()
    tab.page.wait_for_url(f"**/models/{busiest}/versions/{number}")


def _points(svg: Any) -> tuple[int, int]:
    """The number of points a chart says it drew, and the number of circles it has."""
    return int(svg.get_attribute("data-points")), svg.locator("circle.point").count()


def test_model_chart_has_a_point_per_version_and_the_gate_threshold(
    tab: Tab, big_store: UiStore, store: Any
) -> None:
    busiest = big_store.busiest_model
    versions = store.versions(busiest)
    tab.open(f"/models/{busiest}")
    chart = tab.page.locator("svg.chart").first
    assert chart.is_visible()
    said, drawn = _points(chart)
    assert said == drawn == len(versions) >= 100
    rejected = sum(1 for v in versions if v.status == "rejected")
    assert chart.locator("circle.point.bad").count() == rejected > 0
    assert chart.locator("line.threshold").count() == 1  # the gate's roc_auc min
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100


def test_monitoring_draws_each_columns_drift_with_its_threshold(
    tab: Tab, big_store: UiStore, store: Any
) -> None:
    busiest = big_store.busiest_model
    monitors = store.monitor_runs(busiest)
    columns = store.monitor_columns([m["id"] for m in monitors])
    names = [c["column_name"] for c in columns[monitors[-1]["id"]]]
    for shown in (30, 60):
        tab.open(f"/monitoring/{busiest}?runs={shown}")
        charts = tab.page.locator("svg.chart")
        assert charts.count() == len(names) == 8
        expected = min(shown, len(monitors))
        recent = monitors[-expected:]
        for index, name in enumerate(names):
            chart = charts.nth(index)
            assert name in chart.get_attribute("aria-label")
            assert _points(chart) == (expected, expected)
            assert chart.locator("line.threshold").count() == 1
            drifted = sum(
                1
                for m in recent
                for c in columns[m["id"]]
                if c["column_name"] == name and c["status"] == "drift"
            )
            assert f"drifted in {drifted} of {expected}" in chart.get_attribute("aria-label")


def test_compare_highlights_what_changed(tab: Tab, big_store: UiStore, store: Any) -> None:
    runs = [v.run_id for v in store.versions(big_store.busiest_model)[-4:]]
    params = [store.params(r) for r in runs]
    changed = {k for k in params[0] if len({json.dumps(p.get(k)) for p in params}) > 1}
    assert changed and "model.type" not in changed
    tab.open("/compare?" + "&".join(f"run={r}" for r in runs))
    marked = set()
    for row in tab.page.locator("tr.changed").all():
        cells = row.locator("td").all_inner_texts()
        if cells and cells[0] == "params":
            marked.add(cells[1])
    assert marked == changed
    same = tab.page.locator("tr", has=tab.page.locator("code", has_text=re.compile("^model.type$")))
    assert same.count() == 1 and "changed" not in (same.get_attribute("class") or "")
    # the highlight is what a user sees: the changed rows' cells are painted
    cell = tab.page.locator("tr.changed td").first
    assert cell.evaluate("td => getComputedStyle(td).backgroundColor") == HIGHLIGHT
    plain = same.locator("td").first
    assert plain.evaluate("td => getComputedStyle(td).backgroundColor") != HIGHLIGHT
    # "only what changed" leaves out the rows that did not
    tab.page.get_by_role("link", name=re.compile("only what changed")).click()
    tab.page.wait_for_url(re.compile(r"changed=1"))
    assert tab.page.locator("code", has_text=re.compile("^model.type$")).count() == 0


def test_runs_table_filters_sorts_and_pages(tab: Tab, big_store: UiStore, store: Any) -> None:
    busiest = big_store.busiest_model
    tab.open(f"/runs?model={busiest}&status=rejected&sort=metric:roc_auc&order=desc")
    rows = tab.page.locator("table tbody tr")
    assert rows.count() > 10
    ids = [row.locator('a[href^="/runs/"]').first.inner_text() for row in rows.all()]
    records = [store.run(i) or store.run(next(iter(store.run_ids(i)), "")) for i in ids]
    assert all(r is not None and r.status == "rejected" and r.spec_name == busiest for r in records)
    scores = [store.metrics(r.id)["roc_auc"] for r in records]
    assert scores == sorted(scores, reverse=True)

    tab.open("/runs")
    first_page = tab.page.locator("table tbody tr").first.inner_text()
    tab.page.locator("nav.pager a", has_text=re.compile("next|older")).first.click()
    tab.page.wait_for_url(re.compile(r"page=2"))
    assert tab.page.locator("table tbody tr").first.inner_text() != first_page


def test_run_page_shows_the_steps_on_a_timeline_and_the_error(
    tab: Tab, big_store: UiStore, store: Any
) -> None:
    tab.open(f"/runs/{big_store.retrain_run}")
    timeline = tab.page.locator("svg.timeline")
    steps = store.steps(big_store.retrain_run)
    assert int(timeline.get_attribute("data-steps")) == len(steps) == 9
    assert timeline.locator("g.step").count() == len(steps)
    # the run was triggered by a monitor run: the chain links to it
    tab.page.locator(f'a[href="/monitoring/runs/{big_store.monitor_run}"]').first.click()
    tab.page.wait_for_url(f"**/monitoring/runs/{big_store.monitor_run}")

    tab.open(f"/runs/{big_store.error_run}")
    error = store.run(big_store.error_run).outputs["error"]
    assert error[:60] in tab.page.locator("main").inner_text()


def test_spec_page_draws_the_plan_as_a_graph(tab: Tab, big_store: UiStore, cli) -> None:
    planned = cli("plan", big_store.spec, "--json")
    assert planned.code == 0, planned.err
    tab.open("/spec?path=spec.yaml")
    graph = tab.page.locator("svg.graph").first
    assert graph.is_visible()
    nodes = int(graph.get_attribute("data-nodes"))
    assert nodes == graph.locator("g.node").count() >= 5
    text = graph.text_content() or ""
    for step in ("lightgbm", "stratified", "csv"):
        assert step in text


def test_version_page_draws_the_lineage_from_data_to_deployment(
    tab: Tab, big_store: UiStore
) -> None:
    tab.open(f"/models/{REAL_MODEL}/versions/2")
    graph = tab.page.locator("#lineage svg.graph")
    kinds = [(g.get_attribute("class") or "").split()[-1] for g in graph.locator("g.node").all()]
    assert int(graph.get_attribute("data-nodes")) == len(kinds)
    # data snapshot -> run -> version -> alias/deployment, and the monitor run that retrained
    assert {"data", "run", "version", "alias", "monitor"} <= set(kinds)
    graph.locator("a", has=tab.page.locator("g.node.monitor")).first.click()
    tab.page.wait_for_url(f"**/monitoring/runs/{big_store.monitor_run}")


def test_what_is_not_there_is_a_page_that_says_so(tab: Tab, big_store: UiStore) -> None:
    tab.expected_statuses = {404}
    for path, says in (
        ("/models/no-such-model", "no-such-model"),
        (f"/models/{REAL_MODEL}/versions/99", "99"),
        ("/runs/20990101-000000-abcdef", "20990101-000000-abcdef"),
        ("/monitoring/runs/mon-nope", "mon-nope"),
        ("/nowhere", "/nowhere"),
    ):
        tab.open(path, status=404)
        assert says in tab.page.locator("main").inner_text()
        tab.page.locator("header nav a", has_text="Models").click()  # the way back is there
        tab.page.wait_for_url("**/models")
    tab.open(f"/models/{REAL_MODEL}/versions/3")  # a rejected version is a page, not an error
    assert "rejected" in tab.page.locator("main").inner_text()


def test_model_page_draws_the_loop_drift_retrain_gate_promote(
    tab: Tab, big_store: UiStore, store: Any
) -> None:
    busiest = big_store.busiest_model
    retrained = [m for m in store.monitor_runs(busiest) if m["retrain_run_id"]]
    shown = retrained[-8:]  # the newest retrainings
    tab.open(f"/models/{busiest}")
    graph = tab.page.locator("#loop svg.graph")
    assert graph.locator("g.node.monitor").count() == len(shown) > 0
    assert graph.locator("g.node.run").count() == len(shown)
    promoted = sum(1 for m in shown if m["promoted_version"])
    assert graph.locator("g.node.alias").count() == promoted
    # a retraining the gate rejected is outlined red, a promoted one is not
    rejected = [m for m in shown if m["retrain_status"] != "passed"]
    red = graph.locator('g.node.run rect[stroke="#b3261e"]')
    assert red.count() == len(rejected)
    text = graph.text_content() or ""
    for monitor in shown:
        assert f"run {monitor['retrain_run_id']}" in text


def test_runs_picked_in_the_table_are_compared_on_a_page_that_can_be_bookmarked(
    tab: Tab, big_store: UiStore, browser: Any
) -> None:
    busiest = big_store.busiest_model
    tab.open(f"/runs?model={busiest}&status=passed")
    boxes = tab.page.locator('table input[type="checkbox"][name="run"]')
    picked = [boxes.nth(i).get_attribute("value") for i in (0, 2, 4)]
    for i in (0, 2, 4):
        boxes.nth(i).check()
    tab.page.get_by_role("button", name="Compare selected runs").click()
    tab.page.wait_for_url("**/compare?**")
    assert "Compare 3 runs" in tab.page.locator("h1").inner_text()
    header = tab.page.locator("table thead, table tr").first.inner_text()
    assert all(run_id in header for run_id in picked)
    # the address is the page: opened elsewhere (a bookmark, a link in a chat) it shows the same
    address, shown = tab.page.url, tab.page.locator("main").inner_text()
    with tab_on(browser, tab.base) as other:
        other.page.goto(address)
        assert other.page.locator("main").inner_text() == shown
