"""The UI over a store that changes under it: a new run, a damaged blob.

The server keeps running while the CLI records a new run in the same store: the next
reload shows it. A package blob overwritten with other bytes shows as damaged on the
version page (a notice and the file's badge), and every other page still answers.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ui.browser.conftest import Tab, UiServer, small_store
from tests.ui.fixture_store import REAL_MODEL, UiStore


@pytest.fixture(scope="module")
def live(small_template: UiStore, tmp_path_factory: pytest.TempPathFactory) -> UiStore:
    return small_store(small_template, tmp_path_factory.mktemp("ui-live") / "store")


@pytest.fixture(scope="module")
def ui(live: UiStore, served: Callable[..., UiServer]) -> UiServer:
    return served(live)


def _run(spec: Path, *args: str) -> dict:
    from framework.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", str(spec), "--json", *args])
    assert code == 0, out.getvalue()[-2000:]
    return json.loads(out.getvalue())


def test_a_run_that_finishes_while_the_ui_runs_shows_on_reload(tab: Tab, live: UiStore) -> None:
    tab.open("/runs")
    first_row = tab.page.locator("table tbody tr").first
    before = first_row.inner_text()
    tab.open(f"/models/{REAL_MODEL}")
    versions_before = tab.page.locator("svg.chart").first.get_attribute("data-points")

    finished = _run(live.spec, "--set", "model.params.n_estimators=12", "--store", str(live.store))
    new_id, version = finished["run_id"], finished["model"]["version"]

    tab.page.reload()
    chart = tab.page.locator("svg.chart").first
    assert int(chart.get_attribute("data-points")) == int(versions_before) + 1
    assert tab.page.locator(f'a[href="/models/{REAL_MODEL}/versions/{version}"]').count() >= 1

    tab.open("/runs")
    first_row = tab.page.locator("table tbody tr").first
    assert first_row.inner_text() != before
    assert new_id in first_row.inner_text()
    first_row.locator(f'a[href="/runs/{new_id}"]').first.click()
    tab.page.wait_for_url(f"**/runs/{new_id}")
    assert "passed" in tab.page.locator("main").inner_text()


@pytest.fixture
def damaged_blob(live: UiStore) -> Iterator[tuple[str, Path]]:
    """subscriptions/2's model file overwritten with other bytes (put back afterwards)."""
    from framework.store import Store

    store = Store(live.store, write=False)
    try:
        files = store.version(REAL_MODEL, 2).files
        digest = files["model/model.txt"]
        path = store.artifacts.path_of(digest)
    finally:
        store.close()
    original = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(original[: len(original) // 2] + b"\n# tampered\n")
    try:
        yield "model/model.txt", path
    finally:
        path.write_bytes(original)


def test_a_damaged_package_file_shows_as_damaged_not_as_an_error(
    tab: Tab, live: UiStore, damaged_blob: tuple[str, Path]
) -> None:
    name, _ = damaged_blob
    tab.open(f"/models/{REAL_MODEL}/versions/2")  # 200: the page answers
    alert = tab.page.locator('.notice.bad[role="alert"]')
    assert alert.count() == 1
    assert alert.inner_text().startswith("damaged: 1 of")
    row = tab.page.locator("#files tr", has_text=name)
    assert "damaged" in row.inner_text()
    assert "damaged" not in tab.page.locator("#files tr", has_text="signature.json").inner_text()
    # the rest of the UI still answers
    for path in ("/models", f"/models/{REAL_MODEL}", f"/runs/{live.retrain_run}", "/runs"):
        tab.open(path)


def test_a_damaged_drift_report_shows_as_damaged(tab: Tab, live: UiStore) -> None:
    from framework.store import Store

    store = Store(live.store, write=False)
    try:
        blob = store.monitor_run(live.monitor_run)["html_blob"]
        path = store.artifacts.path_of(blob)
    finally:
        store.close()
    tab.open(f"/monitoring/runs/{live.monitor_run}")
    tab.page.get_by_role("link", name="open the report").click()
    tab.page.wait_for_url(f"**/monitoring/runs/{live.monitor_run}/report")
    assert tab.page.title().startswith("Drift report: subscriptions/1")  # the real report

    original = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(original.replace(b"</body>", b"<p>tampered</p></body>"))
    try:
        tab.open(f"/monitoring/runs/{live.monitor_run}/report")
        assert tab.page.locator(".notice.bad").inner_text().startswith("damaged:")
        assert "tampered" not in tab.page.content()
    finally:
        path.write_bytes(original)
