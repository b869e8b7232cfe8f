"""The monitoring pages over HTTP from the real UI server: drift charts with one point
per monitor run and the threshold drawn, a monitor run's verdicts, and its stored
report served under its own CSP, or a notice (never a 500) when its blob is damaged."""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.pages_stores import (
    MonitorStore,
    assert_safe_page,
    build_monitor_store,
    count,
    fetch,
)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> MonitorStore:
    return build_monitor_store(tmp_path_factory.mktemp("monitoring"))


@pytest.fixture(scope="module")
def base(made: MonitorStore) -> Iterator[str]:
    from framework.ui.server import running

    with running(store=str(made.store), root=made.root) as url:
        yield url


def test_the_monitoring_page_lists_monitored_models(made: MonitorStore, base: str) -> None:
    answer = fetch(f"{base}/monitoring")
    assert answer.status == 200
    assert_safe_page(answer)
    assert '<a href="/monitoring/subscriptions">subscriptions</a>' in answer.text
    assert f'<td class="num">{len(made.monitor_ids)}</td>' in answer.text


def test_one_chart_per_column_with_a_point_per_monitor_run_and_the_threshold(
    made: MonitorStore, base: str, cli
) -> None:
    history = json.loads(cli("monitor", "history", made.model, "--store", made.store, "--json").out)
    answer = fetch(f"{base}/monitoring/{made.model}")
    assert answer.status == 200
    assert_safe_page(answer)
    charts = re.findall(r'<svg [^>]*class="chart".*?</svg>', answer.text, re.S)
    assert len(charts) == len(history["columns"]) == made.columns
    runs = len(made.monitor_ids)
    for chart, column in zip(charts, history["columns"], strict=True):
        assert f"{column['column']} (" in chart
        assert f'data-points="{runs}"' in chart
        assert count(r'<circle class="point', chart) == runs
        assert count(r'class="threshold"', chart) == 1
        assert html.escape(f"drift if {column['drift_if']} {column['threshold']:.4f}") in chart
        # each point links to its monitor run, drifted ones drawn as bad
        for monitor_id in made.monitor_ids:
            assert f'href="/monitoring/runs/{monitor_id}"' in chart
        drifted = sum(1 for status in column["statuses"] if status == "drift")
        assert count(r'<circle class="point bad"', chart) == drifted
    # the table of monitor runs: every one, linked, with its decision
    for monitor_id in made.monitor_ids:
        assert f"<code>{monitor_id}</code></a>" in answer.text
    assert '<span class="badge bad">drift</span>' in answer.text
    assert '<span class="badge good">no_drift</span>' in answer.text


def test_runs_limits_the_charts_to_the_last_monitor_runs(made: MonitorStore, base: str) -> None:
    answer = fetch(f"{base}/monitoring/{made.model}?runs=2")
    assert answer.status == 200
    assert count(r'data-points="2"', answer.text) == made.columns
    assert made.monitor_ids[0] not in answer.text  # the oldest is left out
    assert "show more runs" in answer.text
    junk = fetch(f"{base}/monitoring/{made.model}?runs=lots")
    assert junk.status == 200 and count(r'data-points="3"', junk.text) == made.columns


def test_a_monitor_run_page_shows_its_columns_and_links_its_report(
    made: MonitorStore, base: str
) -> None:
    from framework.store import Store

    monitor_id = made.monitor_ids[1]  # the July batch: drift
    store = Store.open_existing(made.store, write=False)
    try:
        columns = store.monitor_columns([monitor_id])[monitor_id]
    finally:
        store.close()
    answer = fetch(f"{base}/monitoring/runs/{monitor_id}")
    assert answer.status == 200
    assert_safe_page(answer)
    for column in columns:
        assert f"<tr><td>{column['column_name']}</td>" in answer.text
    drifted = sum(1 for c in columns if c["status"] == "drift")
    assert (
        drifted and count(r'<td><span class="badge bad">drift</span></td>', answer.text) == drifted
    )
    assert f'href="/monitoring/runs/{monitor_id}/report">open the report</a>' in answer.text


def test_the_report_is_the_stored_html_under_a_sandbox_csp(made: MonitorStore, base: str) -> None:
    monitor_id = made.monitor_ids[1]
    written = (made.root / "report1.html").read_bytes()  # what `monitor --report` wrote
    answer = fetch(f"{base}/monitoring/runs/{monitor_id}/report")
    assert answer.status == 200
    assert answer.body == written
    policy = answer.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy and "script" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-disposition"].startswith("inline;")
    download = fetch(f"{base}/monitoring/runs/{monitor_id}/report?download=1")
    assert download.headers["content-disposition"] == (
        f'attachment; filename="report-{monitor_id}.html"'
    )


def test_a_damaged_or_missing_report_is_a_notice_never_a_500(
    made: MonitorStore, tmp_path: Path
) -> None:
    from framework.store import Store
    from framework.ui.server import running

    copy = tmp_path / "copy"
    shutil.copytree(made.root, copy)
    store = Store.open_existing(copy / ".specops", write=False)
    try:
        damaged, missing = made.monitor_ids[0], made.monitor_ids[1]
        blobs = {m: store.monitor_run(m)["html_blob"] for m in (damaged, missing)}
        paths = {m: store.artifacts.path_of(blobs[m]) for m in blobs}
    finally:
        store.close()
    paths[damaged].chmod(0o644)
    paths[damaged].write_bytes(b"<html>not what the monitor wrote</html>")
    paths[missing].unlink()
    with running(store=str(copy / ".specops"), root=copy) as url:
        report = fetch(f"{url}/monitoring/runs/{damaged}/report")
        assert report.status == 200
        assert_safe_page(report)  # the UI's own notice page, not the blob
        assert "Report damaged" in report.text and "not what the monitor wrote" not in report.text
        gone = fetch(f"{url}/monitoring/runs/{missing}/report")
        assert gone.status == 200 and "damaged" in gone.text and "missing" in gone.text
        page = fetch(f"{url}/monitoring/runs/{missing}")
        assert page.status == 200
        assert "report: damaged: the report&#x27;s blob is missing" in page.text
        assert "open the report" not in page.text
        # the charts do not need the blobs
        assert fetch(f"{url}/monitoring/{made.model}").status == 200


def test_unknown_models_and_monitor_runs_are_404_pages_escaped(base: str) -> None:
    model = fetch(f"{base}/monitoring/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert model.status == 404
    assert_safe_page(model)
    assert "<img" not in model.text
    assert "no monitor runs recorded for &#x27;&lt;img src=x onerror=alert(1)&gt;&#x27;" in (
        model.text
    )
    run = fetch(f"{base}/monitoring/runs/mon-nope")
    assert run.status == 404 and "no monitor run mon-nope in this store" in run.text
    report = fetch(f"{base}/monitoring/runs/mon-nope/report")
    assert report.status == 404 and "no monitor run mon-nope" in report.text
