"""Promote and rollback from the browser: refused unless `specops ui --allow-writes`.

Two servers on one small store: a read-only one (the default) that shows no forms and
answers a forged POST with 403, the store unchanged; and one started with
``--allow-writes`` whose buttons move the alias, recorded in the alias history as the
CLI records it (and shown there on the next page).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.browser.conftest import Tab, UiServer, small_store, tab_on
from tests.ui.fixture_store import REAL_MODEL, UiStore


@pytest.fixture(scope="module")
def writable(small_template: UiStore, tmp_path_factory: pytest.TempPathFactory) -> UiStore:
    return small_store(small_template, tmp_path_factory.mktemp("ui-writes") / "store")


@pytest.fixture(scope="module")
def ui(writable: UiStore, served: Callable[..., UiServer]) -> UiServer:
    """The default server: read-only."""
    return served(writable)


@pytest.fixture(scope="module")
def ui_writes(writable: UiStore, served: Callable[..., UiServer]) -> UiServer:
    return served(writable, "--allow-writes")


@pytest.fixture
def writes_tab(browser: Any, ui_writes: UiServer) -> Iterator[Tab]:
    with tab_on(browser, ui_writes.url) as opened:
        yield opened


def _champion_and_history(store_dir: Path) -> tuple[int | None, list[Any]]:
    from framework.store import Store

    store = Store(store_dir, write=False)
    try:
        return store.alias(REAL_MODEL), store.alias_history(REAL_MODEL, "champion")
    finally:
        store.close()


def test_a_read_only_ui_shows_no_forms_and_refuses_a_post(tab: Tab, writable: UiStore) -> None:
    before = _champion_and_history(writable.store)
    tab.open(f"/models/{REAL_MODEL}/versions/1")
    assert tab.page.locator('form[action$="/promote"]').count() == 0
    assert "read-only" in tab.page.locator("main").inner_text()
    tab.open(f"/models/{REAL_MODEL}")
    assert tab.page.locator('form[action$="/rollback"]').count() == 0

    for action, form in (
        (f"/models/{REAL_MODEL}/versions/1/promote", {"alias": "champion", "reason": "x"}),
        (f"/models/{REAL_MODEL}/rollback", {"alias": "champion"}),
    ):
        answer = tab.page.request.post(tab.base + action, form=form, max_redirects=0)
        assert answer.status == 403, (action, answer.status)
        assert "this UI is read-only" in answer.text()
    assert _champion_and_history(writable.store) == before


def test_promote_and_rollback_with_allow_writes_are_recorded_and_shown(
    writes_tab: Tab, writable: UiStore
) -> None:
    page = writes_tab.page
    champion, history = _champion_and_history(writable.store)
    assert champion == 2

    writes_tab.open(f"/models/{REAL_MODEL}/versions/1")
    form = page.locator('form[action$="/promote"]')
    form.locator('input[name="reason"]').fill("back to the first model")
    writes_tab.submit(form.locator('button[type="submit"]'))
    assert re.search(rf"/models/{REAL_MODEL}/versions/1\b", page.url)
    aliases = page.locator("#aliases").inner_text()
    assert "manual promote: back to the first model" in aliases
    assert "(ui)" in aliases

    champion, moves = _champion_and_history(writable.store)
    assert champion == 1 and len(moves) == len(history) + 1
    last = moves[-1]
    assert (last.from_version, last.to_version) == (2, 1)
    assert last.actor.endswith("(ui)") and last.reason == "manual promote: back to the first model"

    writes_tab.open(f"/models/{REAL_MODEL}")
    writes_tab.submit(page.locator('form[action$="/rollback"] button[type="submit"]').first)
    champion, moves = _champion_and_history(writable.store)
    assert champion == 2 and moves[-1].is_rollback and moves[-1].to_version == 2
    writes_tab.open(f"/models/{REAL_MODEL}/versions/2")
    assert "rollback" in page.locator("#aliases").inner_text()


def test_a_forged_post_is_refused_even_with_allow_writes(
    writes_tab: Tab, writable: UiStore
) -> None:
    before = _champion_and_history(writable.store)
    writes_tab.open(f"/models/{REAL_MODEL}/versions/1")  # a real form exists on this page
    answer = writes_tab.page.request.post(
        writes_tab.base + f"/models/{REAL_MODEL}/versions/1/promote",
        form={"alias": "champion", "reason": "forged", "csrf": "not-the-token"},
        max_redirects=0,
    )
    assert answer.status == 403
    assert _champion_and_history(writable.store) == before


def test_a_form_posted_from_another_site_is_refused_even_with_a_valid_token(
    browser: Any, writes_tab: Tab, writable: UiStore
) -> None:
    """CSRF as a browser does it: a page of another site (here http://localhost:PORT,
    the UI being http://127.0.0.1:PORT) whose form posts to the UI's promote URL. Even
    given a valid form token (it cannot read one; this one leaked), the browser says
    where the post came from and the UI refuses it."""
    import http.server
    import threading

    writes_tab.open(f"/models/{REAL_MODEL}/versions/1")
    token = writes_tab.page.locator('form[action$="/promote"] input[name="csrf"]').first
    leaked = token.get_attribute("value")
    action = f"{writes_tab.base}/models/{REAL_MODEL}/versions/1/promote"
    evil = (
        f'<html><body><form method="post" action="{action}">'
        f'<input name="csrf" value="{leaked}"><input name="alias" value="champion">'
        '<input name="reason" value="forged"><button id="go">win a prize</button>'
        "</form></body></html>"
    ).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(evil)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    before = _champion_and_history(writable.store)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://localhost:{server.server_address[1]}/")
        with page.expect_navigation(wait_until="load") as navigation:
            page.click("#go")
        answer = navigation.value
        assert answer is not None and answer.status == 403
        assert "another site" in page.locator("main").inner_text()
    finally:
        context.close()
        server.shutdown()
        server.server_close()
    assert _champion_and_history(writable.store) == before
