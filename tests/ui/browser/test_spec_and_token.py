"""Two things a browser does that a plain HTTP client does not: send a form with a file
or pasted text, and keep a token in a cookie.

The spec page plans a spec pasted or uploaded (a POST with its CSRF token, allowed on a
read-only UI: nothing is written). A UI started with ``--token`` refuses a browser
without it, takes it once from ``?token=`` into a cookie, and then works by plain links.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.ui.browser.conftest import Tab, UiServer, tab_on
from tests.ui.fixture_store import REAL_MODEL, UiStore

TOKEN = "browser-suite-token-7f3a"


@pytest.fixture(scope="module")
def ui(small_template: UiStore, served: Callable[..., UiServer]) -> UiServer:
    """Read-only, on the shared small store (nothing here writes to it)."""
    return served(small_template)


@pytest.fixture(scope="module")
def ui_token(small_template: UiStore, served: Callable[..., UiServer]) -> UiServer:
    return served(small_template, "--token", TOKEN)


@pytest.fixture
def token_tab(browser: Any, ui_token: UiServer) -> Iterator[Tab]:
    with tab_on(browser, ui_token.url) as opened:
        opened.expected_statuses = {401}  # the refused first visit is the point
        yield opened


def _uploadable(store: UiStore) -> str:
    """The fixture's spec with its data file's absolute path: an uploaded spec has no
    directory of its own on this machine, so its relative paths would not resolve."""
    data = store.root / "data" / "subscriptions_jan_jun.csv"
    return store.spec.read_text().replace("path: data/subscriptions_jan_jun.csv", f"path: {data}")


def _planned_steps(tab: Tab) -> list[str]:
    graph = tab.page.locator("svg.graph").first
    assert int(graph.get_attribute("data-nodes")) == graph.locator("g.node").count()
    return [g.text_content() or "" for g in graph.locator("g.node").all()]


def test_a_pasted_spec_is_planned(tab: Tab, small_template: UiStore) -> None:
    tab.open("/spec")
    text = _uploadable(small_template).replace("n_estimators: 20", "n_estimators: 7")
    tab.page.locator('textarea[name="text"]').fill(text)
    form = tab.page.locator("form", has=tab.page.locator("textarea"))
    tab.submit(form.locator('button[type="submit"], input[type="submit"]').first)
    steps = _planned_steps(tab)
    assert any("lightgbm" in s for s in steps) and any("stratified" in s for s in steps)
    assert "n_estimators=7" in tab.page.locator("main").inner_text()


def test_an_uploaded_spec_is_planned_and_a_broken_one_says_where(
    tab: Tab, small_template: UiStore, tmp_path: Any
) -> None:
    good = tmp_path / "upload.yaml"
    good.write_text(_uploadable(small_template).replace("num_leaves: 15", "num_leaves: 9"))
    tab.open("/spec")
    form = tab.page.locator('form[enctype="multipart/form-data"]')
    form.locator('input[type="file"]').set_input_files(str(good))
    tab.submit(form.locator('button[type="submit"], input[type="submit"]').first)
    assert any("lightgbm" in s for s in _planned_steps(tab))
    assert "num_leaves=9" in tab.page.locator("main").inner_text()

    broken = tmp_path / "broken.yaml"
    broken.write_text(good.read_text().replace("type: lightgbm", "type: lightgbn"))
    tab.expected_statuses = {400}  # the answer to a spec with problems
    tab.open("/spec")
    form = tab.page.locator('form[enctype="multipart/form-data"]')
    form.locator('input[type="file"]').set_input_files(str(broken))
    tab.submit(form.locator('button[type="submit"], input[type="submit"]').first)
    said = tab.page.locator("main").inner_text()
    assert "lightgbn" in said and "lightgbm" in said  # the problem, and "did you mean"
    assert tab.page.locator("svg.graph").count() == 0


def test_a_token_ui_refuses_a_browser_without_it_and_keeps_it_in_a_cookie(
    token_tab: Tab,
) -> None:
    page = token_tab.page
    refused = page.goto(token_tab.base + "/models")
    assert refused is not None and refused.status == 401
    assert TOKEN not in page.content()

    page.goto(token_tab.base + f"/models/{REAL_MODEL}?token={TOKEN}")
    assert page.url == token_tab.base + f"/models/{REAL_MODEL}"  # the token left the address
    cookies = {c["name"]: c for c in page.context.cookies()}
    (cookie,) = [c for c in cookies.values() if c["value"] == TOKEN]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    page.locator(f'a[href="/models/{REAL_MODEL}/versions/2"]').first.click()
    page.wait_for_url(f"**/models/{REAL_MODEL}/versions/2")
    assert f"{REAL_MODEL}/2" in page.locator("h1").inner_text()
    assert page.request.get(token_tab.base + "/runs").status == 200  # the cookie goes along
    outsider = page.context.browser.new_context()
    try:
        assert outsider.request.get(token_tab.base + "/models").status == 401
    finally:
        outsider.close()
