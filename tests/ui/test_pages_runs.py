"""The runs table, compare and one run's page, over HTTP from the real UI server on a
store made by real runs (tests/ui/pages_stores.py), hostile values included."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from tests.ui.pages_stores import (
    HOSTILE,
    PASSWORD,
    SECRET_NAME,
    SECRET_VALUE,
    RunsStore,
    assert_safe_page,
    build_runs_store,
    count,
    fetch,
)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> RunsStore:
    return build_runs_store(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def base(made: RunsStore) -> Iterator[str]:
    from framework.ui.server import running

    with running(store=str(made.store), root=made.root) as url:
        yield url


def _row_ids(text: str) -> list[str]:
    """The run ids of the table's rows, in order (each row has one compare checkbox)."""
    return re.findall(r'<input type="checkbox" name="run" value="([^"]+)"', text)


def _metric(made: RunsStore, name: str) -> dict[str, tuple[float | None, str]]:
    """Each run's value of the metric and its start time (ties are ordered by it)."""
    from framework.store import Store

    store = Store.open_existing(made.store, write=False)
    try:
        return {
            run_id: (store.metrics(run_id).get(name), store.run(run_id).started_at)
            for run_id in store.run_ids()
        }
    finally:
        store.close()


def test_the_table_lists_every_run_newest_first_with_status_and_version(
    made: RunsStore, base: str
) -> None:
    answer = fetch(f"{base}/runs")
    assert answer.status == 200
    assert_safe_page(answer)
    ids = [made.error, made.failed_checks, made.third, made.rejected, made.first]
    assert _row_ids(answer.text) == ids
    assert "page 1 of 1 (5 runs)" in answer.text
    assert 'href="/models/bc/versions/2">bc/2</a>' in answer.text
    assert '<span class="badge bad">rejected</span>' in answer.text
    assert '<span class="badge bad">failed_checks</span>' in answer.text
    # every row links to its run, and the form sends the ticked ones to /compare
    assert answer.text.count(f'href="/runs/{made.first}"') == 1
    assert '<form method="get" action="/compare">' in answer.text
    # metric columns: the ones the gate judges (bc's: roc_auc); the sort offers all
    headers = re.findall(r"<th><a [^>]*>([^<]*)</a></th>", answer.text)
    assert headers == ["model", "status", "started ↓", "duration", "roc_auc"]
    assert '<option value="metric:log_loss">log_loss</option>' in answer.text


def test_filters_by_model_status_and_trigger(made: RunsStore, base: str) -> None:
    assert _row_ids(fetch(f"{base}/runs?model=broken").text) == [made.error]
    assert _row_ids(fetch(f"{base}/runs?model=bc&status=passed").text) == [made.third, made.first]
    assert _row_ids(fetch(f"{base}/runs?status=rejected").text) == [made.rejected]
    assert _row_ids(fetch(f"{base}/runs?trigger=manual").text) == _row_ids(
        fetch(f"{base}/runs").text
    )
    none = fetch(f"{base}/runs?trigger=monitor")
    assert _row_ids(none.text) == [] and "no runs match these filters" in none.text
    # a hand-edited link with junk shows the default view, never an error
    junk = fetch(f"{base}/runs?status=%3Cb%3E&sort=%3Cscript%3E&page=abc&per_page=many")
    assert junk.status == 200 and len(_row_ids(junk.text)) == 5
    assert "<b>" not in junk.text and "<script" not in junk.text.lower()


def test_sorts_by_any_metric_both_ways_runs_without_it_last(made: RunsStore, base: str) -> None:
    values = _metric(made, "log_loss")
    # equal values (bc/1 and bc/2 are the same model) are ordered by start time
    measured = sorted((v, started, k) for k, (v, started) in values.items() if v is not None)
    unmeasured = {k for k, (v, _) in values.items() if v is None}
    assert len(measured) == 3 and len(unmeasured) == 2  # checks failed / error: no metrics
    up = _row_ids(fetch(f"{base}/runs?sort=metric:log_loss&order=asc").text)
    down = _row_ids(fetch(f"{base}/runs?sort=metric:log_loss&order=desc").text)
    assert up[:3] == [k for *_, k in measured] and set(up[3:]) == unmeasured
    assert down[:3] == [k for *_, k in reversed(measured)] and set(down[3:]) == unmeasured
    page = fetch(f"{base}/runs?sort=metric:log_loss").text
    # the header of the sorted column links to the other direction
    assert 'href="/runs?sort=metric%3Alog_loss&amp;order=asc">log_loss ↓</a>' in page


def test_pages_through_the_runs(made: RunsStore, base: str) -> None:
    first = fetch(f"{base}/runs?per_page=2")
    second = fetch(f"{base}/runs?per_page=2&page=2")
    last = fetch(f"{base}/runs?per_page=2&page=3")
    assert _row_ids(first.text) == [made.error, made.failed_checks]
    assert _row_ids(second.text) == [made.third, made.rejected]
    assert _row_ids(last.text) == [made.first]
    assert "page 2 of 3 (5 runs)" in second.text
    assert 'href="/runs?page=3&amp;per_page=2" rel="next">next →</a>' in second.text
    assert 'href="/runs?per_page=2" rel="prev">← previous</a>' in second.text
    beyond = fetch(f"{base}/runs?per_page=2&page=99")
    assert beyond.status == 200 and _row_ids(beyond.text) == []


def test_what_a_query_string_may_ask_is_bounded(made: RunsStore, base: str) -> None:
    """A hand-made link cannot make a page cost more than its bounds: rows per page up
    to 200, runs compared up to 20, page numbers clamped."""
    huge = fetch(f"{base}/runs?per_page=1000000&page=1000000000000")
    assert huge.status == 200 and _row_ids(huge.text) == []
    assert "per_page=200" in huge.text and "per_page=1000000" not in huge.text
    assert "page=1000000000000" not in huge.text  # clamped to the last allowed page
    asked = [made.first, made.third] + [f"missing{i:03d}" for i in range(60)]
    many = fetch(f"{base}/compare?" + "&".join(f"run={r}" for r in asked))
    assert many.status == 200
    assert "missing017 in this store" in many.text  # the 20th id asked
    assert "missing018" not in many.text  # the 21st: never looked up


def test_compare_shows_what_runs_diff_says_with_changes_highlighted(
    made: RunsStore, base: str, cli
) -> None:
    ids = [made.first, made.rejected, made.third]
    answer = fetch(f"{base}/compare?run={ids[0]}&run={ids[1]}&run={ids[2]}")
    assert answer.status == 200
    assert_safe_page(answer)
    row = r'<tr( class="changed")?><td>([^<]*)</td><td><code class="nowrap">([^<]*)</code>'
    rows = re.findall(row, answer.text)
    changed = {(section, key) for mark, section, key in rows if mark}
    same = {(section, key) for mark, section, key in rows if not mark}
    # the three runs differ in the gate's minimum (run 2) and n_estimators (run 3)
    assert ("spec", "gate.roc_auc.min") in changed
    assert ("params", "model.params.n_estimators") in changed
    assert ("metrics", "roc_auc") in changed
    assert ("run", "spec name") in same and ("params", "model.type") in same
    # the spec's hostile description is a row too: text, with its password masked
    assert ("spec", "description") in same
    assert HOSTILE not in answer.text and html.escape(HOSTILE) in answer.text
    assert PASSWORD not in answer.text and SECRET_VALUE not in answer.text
    # the cell that moved is marked, not the ones equal to the first run's
    n_estimators = re.search(
        r'<code class="nowrap">model.params.n_estimators</code></td>(.*?)</tr>', answer.text
    ).group(1)
    assert re.findall(r"<td( class=\"changed\")?><span>(\d+)</span>", n_estimators) == [
        ("", "10"),
        ("", "10"),
        (' class="changed"', "12"),
    ]
    # the same rows `specops runs diff --changed` reports for the first two runs
    diff = cli("runs", "diff", ids[0], ids[1], "--changed", "--json", "--store", made.store)
    import json

    pairs = {(row["section"], row["key"]) for row in json.loads(diff.out)["rows"]}
    two = fetch(f"{base}/compare?run={ids[0]}&run={ids[1]}&changed=1").text
    changed_row = r'<tr class="changed"><td>([^<]*)</td><td><code class="nowrap">([^<]*)</code>'
    shown = set(re.findall(changed_row, two))
    assert shown == pairs
    assert 'class="changed"><td>run</td><td><code class="nowrap">status</code>' in two
    assert "spec name" not in two  # only what changed


def test_compare_shows_the_plugin_versions_of_each_run_side_by_side(
    made: RunsStore, base: str, cli
) -> None:
    import json

    ids = [made.first, made.failed_checks]
    page = fetch(f"{base}/compare?run={ids[0]}&run={ids[1]}").text
    rows = re.findall(
        r'<tr[^>]*><td>plugins</td><td><code class="nowrap">([^<]*)</code></td>(.*?)</tr>', page
    )
    shown = {key: re.findall(r"<span>([^<]*)</span>", cells) for key, cells in rows}
    diff = cli("runs", "diff", ids[0], ids[1], "--json", "--store", made.store)
    said = {
        row["key"]: [row["a"] or "", row["b"] or ""]
        for row in json.loads(diff.out)["rows"]
        if row["section"] == "plugins"
    }
    assert "model lightgbm" in said and len(said) >= 5
    # every plugin version `runs diff` reports, one cell per run, side by side
    assert shown == said
    assert all(a for a, _ in said.values())


def test_compare_needs_two_runs_and_names_the_missing_ones(made: RunsStore, base: str) -> None:
    one = fetch(f"{base}/compare?run={made.first}")
    assert one.status == 200 and "pick two runs or more" in one.text
    missing = fetch(f"{base}/compare?run={made.first}&run=nope%3Cb%3E&run={made.third}")
    assert missing.status == 200 and "no run nope&lt;b&gt; in this store" in missing.text
    assert count(r"<th><a href=\"/runs/", missing.text) == 2
    nothing = fetch(f"{base}/compare?run=a&run=b")
    assert nothing.status == 404 and "fewer than two of these runs exist" in nothing.text


def test_a_run_page_shows_steps_checks_gate_and_the_spec_without_secrets(
    made: RunsStore, base: str
) -> None:
    from framework.store import Store

    store = Store.open_existing(made.store, write=False)
    try:
        steps = store.steps(made.rejected)
    finally:
        store.close()
    answer = fetch(f"{base}/runs/{made.rejected}")
    assert answer.status == 200
    assert_safe_page(answer)
    text = answer.text
    # the time line: one bar per recorded step, each with its status
    assert f'data-steps="{len(steps)}"' in text
    assert count(r"<rect ", text) == len(steps)
    assert '<g class="step failed">' in text  # the gate said no
    # the check and the gate verdicts
    assert "row_count" in text and '<span class="pass">pass</span>' in text
    assert "roc_auc" in text and "&gt;= 0.9999" in text and '<span class="fail">FAIL</span>' in text
    # the effective spec: the env placeholder, never the value; no literal password
    assert "${env:" + SECRET_NAME + "}" in text
    assert SECRET_VALUE not in text and PASSWORD not in text
    assert "postgresql://me:***@db/x" in text
    # hostile markup from the spec is text, not markup
    assert HOSTILE not in text and html.escape(HOSTILE) in text
    # one link compares it with the model's run before it; a model's first run has none
    assert f'href="/compare?run={made.first}&amp;run={made.rejected}"' in text
    assert "/compare?" not in fetch(f"{base}/runs/{made.first}").text


def test_a_failed_run_shows_its_error_escaped(made: RunsStore, base: str) -> None:
    answer = fetch(f"{base}/runs/{made.error}")
    assert answer.status == 200
    assert_safe_page(answer)
    assert "the run failed: " in answer.text
    assert "has a single class" in answer.text
    assert HOSTILE not in answer.text and html.escape(HOSTILE) in answer.text
    assert '<span class="badge bad">error</span>' in answer.text
    checks = fetch(f"{base}/runs/{made.failed_checks}").text
    assert '<span class="fail">FAIL</span>' in checks and "row_count" in checks


def test_an_unknown_run_is_a_404_page_and_a_prefix_finds_the_run(
    made: RunsStore, base: str
) -> None:
    missing = fetch(f"{base}/runs/no-such-run%3Cscript%3E")
    assert missing.status == 404
    assert "no run no-such-run&lt;script&gt; in this store" in missing.text
    assert "<script" not in missing.text.lower()
    others = [made.rejected, made.third, made.failed_checks, made.error]
    unique = (made.first[:n] for n in range(8, 40))
    prefix = next(p for p in unique if not any(o.startswith(p) for o in others))
    found = fetch(f"{base}/runs/{prefix}")
    assert found.status == 200 and f"<h1>Run {made.first}</h1>" in found.text


def test_a_run_finished_while_the_ui_runs_shows_on_reload(made: RunsStore, base: str) -> None:
    before = _row_ids(fetch(f"{base}/runs?model=broken").text)
    from framework.cli.main import main

    main(["run", str(made.root / "broken.yaml"), "--json"])
    after = _row_ids(fetch(f"{base}/runs?model=broken").text)
    assert len(after) == len(before) + 1 and after[1:] == before
