"""The runs table's running / interrupted filters and counts on a store where hundreds
of runs were killed (still marked running, their lock files left behind) and one run
is live: a real child process that began it and holds its lock. Over HTTP from the real
UI server; what the store says of each run (``Store.runs``) is the reference."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.ui.pages_stores import fetch

BEGIN_AND_HANG = """
import sys, time
from pathlib import Path
from framework.plugins import get_plugins
from framework.spec import load_spec
from framework.store import Store
from framework.store.store import new_run_id
spec = load_spec(sys.argv[2], get_plugins())
store = Store(Path(sys.argv[1]))
run_id = new_run_id()
store.begin_run(run_id, spec, {}, {})
print(run_id, flush=True)
time.sleep(600)
"""
STALE = 300


@pytest.fixture(scope="module")
def stale(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """400 runs, about 300 of them killed with their lock files left behind."""
    from tests.ui.fixture_store import build_ui_store

    directory = tmp_path_factory.mktemp("ui-stale") / "store"
    return build_ui_store(directory, runs=400, versions=20, monitors_per_model=1, stale_runs=STALE)


@pytest.fixture
def live(stale: Any) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A run begun by a child process that holds its lock until killed."""
    child = subprocess.Popen(
        [sys.executable, "-c", BEGIN_AND_HANG, str(stale.store), str(stale.spec)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        assert run_id, child.stderr.read() if child.stderr else ""
        yield run_id, child
    finally:
        child.kill()
        child.communicate()


def _store_says(store: Path) -> dict[str, str]:
    from framework.store import Store

    opened = Store(store, write=False)
    try:
        return {run.id: run.status for run in opened.runs()}
    finally:
        opened.close()


def _listed(base: str, status: str) -> tuple[list[str], int]:
    """Every run the filtered table lists, page after page, and the count it shows."""
    ids: list[str] = []
    total = None
    for page in range(1, 100):
        text = fetch(f"{base}/runs?status={status}&per_page=200&page={page}").text
        shown = int(
            re.search(r"page \d+ of (\d+) \(([\d,]+) runs\)", text).group(2).replace(",", "")
        )
        assert total in (None, shown)
        total = shown
        found = re.findall(r'<input type="checkbox" name="run" value="([^"]+)"', text)
        if not found:
            break
        ids += found
    assert total is not None
    return ids, total


def test_running_and_interrupted_filters_and_counts_among_hundreds_of_killed_runs(
    stale: Any, live: tuple[str, subprocess.Popen[str]]
) -> None:
    from framework.ui.server import running

    run_id, child = live
    with running(str(stale.store)) as base:
        says = _store_says(stale.store)
        killed = sorted(k for k, v in says.items() if v == "interrupted")
        assert says[run_id] == "running" and len(killed) > STALE * 2 // 3

        ids, total = _listed(base, "running")
        assert ids == [run_id] and total == 1
        ids, total = _listed(base, "interrupted")
        assert sorted(ids) == killed and total == len(killed)
        newest = fetch(f"{base}/runs").text  # the live run is the newest: first, running
        first_row = newest.split(f'value="{run_id}"', 1)[1].split("</tr>", 1)[0]
        assert ">running</span>" in first_row
        by_status = fetch(f"{base}/runs?sort=status&order=asc&per_page=200").text
        badges = re.findall(r'<span class="badge [a-z]+">([a-z_]+)</span>', by_status)
        assert "interrupted" in badges and badges == sorted(badges)  # as shown, not as stored

        child.kill()  # its lock goes with it: the same run is interrupted on reload
        child.wait(10)
        ids, total = _listed(base, "running")
        assert ids == [] and total == 0
        ids, total = _listed(base, "interrupted")
        assert sorted(ids) == sorted([*killed, run_id]) and total == len(killed) + 1
        assert _store_says(stale.store)[run_id] == "interrupted"
