"""The browser suite's fixtures: one headless Chromium per session, one `specops ui` per module.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright through its
path: no browser is downloaded at install time. Without it the suite is skipped on a
laptop and fails under CI (``CI=true``), where a skipped browser suite would pass
unnoticed. Every page a test opens records console errors and uncaught page errors;
a test fails if any appear (a CSP violation shows up there too).

Screenshots of the main pages are written only when ``SPECOPS_UI_SCREENSHOTS`` names
a directory (``SPECOPS_UI_SCREENSHOTS=docs/ui``), so CI never dirties the tree.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tests.ui.fixture_store import REPO, UiStore, build_ui_store

CHROMIUM = Path(os.environ.get("SPECOPS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "the browser tests need Debian's chromium at {path} and Playwright (python): "
    "`apt-get install -y chromium` and `pip install -e '.[test]'` (no `playwright install`: "
    "the system browser is used)"
)
SCREENSHOTS_ENV = "SPECOPS_UI_SCREENSHOTS"
VIEWPORT = {"width": 1280, "height": 860}


def _missing_browser() -> str | None:
    """Why the suite cannot drive a browser here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return INSTALL_HINT.format(path=CHROMIUM) + " (playwright is not installed)"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return INSTALL_HINT.format(path=CHROMIUM) + f" ({CHROMIUM} is missing)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium for the whole session (``launch`` gives it a fresh, empty
    profile directory of its own, removed when it closes)."""
    why = _missing_browser()
    if why is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {why}", pytrace=False)
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Tab:
    """A browser page with the console errors and page errors it has seen."""

    page: Any
    base: str
    errors: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)
    """HTTP statuses a test provokes on purpose: Chromium's console line for those
    ("Failed to load resource: ... status of 401") is not counted as an error."""

    def open(self, path: str, *, status: int = 200) -> Any:
        """Load ``path`` of the UI; the response must have ``status``."""
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None, f"no response for {path}"
        assert response.status == status, f"{path}: HTTP {response.status}, wanted {status}"
        return response

    def submit(self, button: Any) -> None:
        """Click a form's button and wait for the page it leads to (waiting for a URL or
        a load state would race: the form's own page already matches)."""
        with self.page.expect_navigation(wait_until="load"):
            button.click()

    def shot(self, name: str, *, height: int = 1000, part: str | None = None) -> None:
        """Write ``name.png`` into $SPECOPS_UI_SCREENSHOTS, when that is set: the page's
        top ``height`` pixels (less if it is shorter), or the element ``part`` selects."""
        where = os.environ.get(SCREENSHOTS_ENV)
        if not where:
            return
        directory = Path(where) if Path(where).is_absolute() else REPO / where
        directory.mkdir(parents=True, exist_ok=True)
        if part is not None:
            self.page.locator(part).first.screenshot(path=str(directory / f"{name}.png"))
            return
        tall = self.page.evaluate("document.documentElement.scrollHeight")
        clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": min(tall, height)}
        self.page.screenshot(path=str(directory / f"{name}.png"), full_page=True, clip=clip)


@contextmanager
def tab_on(browser: Any, base: str) -> Iterator[Tab]:
    """A new page (own context: no cookies shared) on the UI at ``base``; fails the
    test on any console error or uncaught exception its pages raised, and on any
    request they make to another origin (the UI works offline)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(10_000)
    opened = Tab(page, base)

    def console(message: Any) -> None:
        failed = re.search(r"Failed to load resource: .* status of (\d+)", message.text)
        if failed and int(failed.group(1)) in opened.expected_statuses:
            return
        if message.type in ("error", "assert"):
            source = (message.location or {}).get("url") or page.url
            opened.errors.append(f"console {message.type} on {page.url}: {message.text} ({source})")

    def request(sent: Any) -> None:
        # offline by design: no CDN, font or script from anywhere but the UI itself
        if not sent.url.startswith((base + "/", "data:", "about:")):
            opened.errors.append(f"request to another origin from {page.url}: {sent.url}")

    page.on("console", console)
    page.on("request", request)
    page.on("pageerror", lambda error: opened.errors.append(f"page error: {error} ({page.url})"))
    try:
        yield opened
    finally:
        context.close()
    assert not opened.errors, "the pages logged errors:\n" + "\n".join(opened.errors)


@pytest.fixture
def tab(browser: Any, ui: UiServer) -> Iterator[Tab]:
    """A page on this module's UI server (each module defines ``ui``)."""
    with tab_on(browser, ui.url) as opened:
        yield opened


# ---------------------------------------------------------------------------
# stores and servers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> UiStore:
    """5,000 runs and 500 versions (tests/ui/fixture_store.py), built once a session."""
    return build_ui_store(tmp_path_factory.mktemp("ui-big"))


@pytest.fixture(scope="session")
def small_template(tmp_path_factory: pytest.TempPathFactory) -> UiStore:
    """The same kinds of records, few of them, built once: modules that change a store
    each get a copy (:func:`small_store`)."""
    return build_ui_store(
        tmp_path_factory.mktemp("ui-small") / "store", runs=60, versions=16, monitors_per_model=6
    )


def small_store(template: UiStore, directory: Path) -> UiStore:
    """A copy of the small store (its spec and data too) in ``directory``, for one module."""
    shutil.copytree(template.root, directory)
    return replace(template, root=directory, store=directory / ".specops",
                   spec=directory / "spec.yaml")  # fmt: skip


@dataclass
class UiServer:
    """A `specops ui` process: its base URL and the store it serves."""

    url: str
    store: UiStore
    process: subprocess.Popen[str]
    output: list[str]
    """What it printed (and logged), read as it goes."""
    drain: threading.Thread


ADDRESS = re.compile(r"specops ui: (http://127\.0\.0\.1:\d+)/")
STARTUP_SECONDS = 60


def start_ui(store: UiStore, *flags: str) -> UiServer:
    """Start ``specops ui --port 0 --store STORE FLAGS`` as a user would, and wait for
    the address it prints once bound."""
    process = subprocess.Popen(
        [sys.executable, "-m", "framework.cli.main", "ui", "--port", "0",
         "--store", str(store.store), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=store.root,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    output: list[str] = []
    watchdog = threading.Timer(STARTUP_SECONDS, process.kill)  # a hung start ends the wait
    watchdog.start()
    try:
        for line in process.stdout:
            output.append(line)
            found = ADDRESS.search(line)
            if found:
                # keep reading what it logs, so a full pipe never blocks the server
                drain = threading.Thread(target=output.extend, args=(process.stdout,), daemon=True)
                drain.start()
                return UiServer(found.group(1), store, process, output, drain)
    finally:
        watchdog.cancel()
    process.wait(timeout=10)
    raise AssertionError(
        f"specops ui exited {process.returncode} (killed after {STARTUP_SECONDS} s if it "
        f"said nothing):\n{''.join(output)}"
    )


def stop_ui(server: UiServer) -> None:
    """SIGTERM (what Ctrl-C's graceful path does) and wait; it must exit 0."""
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise
    server.drain.join(timeout=5)
    assert code == 0, f"specops ui exited {code}:\n{''.join(server.output)}"


@pytest.fixture(scope="module")
def served() -> Iterator[Callable[..., UiServer]]:
    """Start UI servers for this module (``served(store, *flags)``); all stopped at its end."""
    started: list[UiServer] = []

    def start(store: UiStore, *flags: str) -> UiServer:
        server = start_ui(store, *flags)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_ui(server)
