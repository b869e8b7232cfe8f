"""`specops runs list|show|diff` through the CLI, on a store real runs made."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import LIFECYCLE_STEPS, build_store, store_execute, store_rows


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only here: bc/1 champion, bc/2 rejected, bc/3 champion (newest)."""
    return build_store(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def run_ids(store: Path) -> list[str]:
    """The three runs, oldest first."""
    return [r[0] for r in store_rows(store, "SELECT id FROM runs ORDER BY started_at, id")]


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_runs_list_newest_first_with_status_data_and_model(cli, store: Path, run_ids) -> None:
    result = cli("runs", "list", "--store", store, "--json")
    assert result.code == 0, result.err
    runs = json.loads(result.out)["runs"]
    assert [r["run_id"] for r in runs] == run_ids[::-1]
    assert [r["status"] for r in runs] == ["passed", "rejected", "passed"]
    assert [[m["ref"] for m in r["models"]] for r in runs] == [["bc/3"], ["bc/2"], ["bc/1"]]
    assert all(r["spec"] == "bc" and r["seconds"] > 0 for r in runs)
    assert len({r["data_hash"] for r in runs}) == 1  # same data every time

    table = cli("runs", "list", "--store", store)
    assert table.code == 0
    assert all(run_id in table.out for run_id in run_ids)
    assert runs[0]["data_hash"][:12] in table.out and runs[0]["data_hash"] not in table.out
    assert "bc/2 rejected" in table.out and "bc/3 registered" in table.out


def test_runs_list_filters_and_limits(cli, store: Path, run_ids) -> None:
    newest = json.loads(cli("runs", "list", "--limit", "1", "--store", store, "--json").out)
    assert [r["run_id"] for r in newest["runs"]] == [run_ids[-1]]
    other = json.loads(cli("runs", "list", "--spec", "other", "--store", store, "--json").out)
    assert other["runs"] == []
    assert "no runs in" in cli("runs", "list", "--spec", "other", "--store", store).out


def test_runs_show_by_unique_prefix(cli, store: Path, run_ids) -> None:
    rejected = run_ids[1]
    prefix = next(
        rejected[:n]
        for n in range(1, len(rejected))
        if sum(r.startswith(rejected[:n]) for r in run_ids) == 1
    )
    result = cli("runs", "show", prefix, "--store", store, "--json")
    assert result.code == 0, result.err
    shown = json.loads(result.out)
    assert shown["run_id"] == rejected and shown["status"] == "rejected"
    assert [s["name"] for s in shown["steps"]] == LIFECYCLE_STEPS
    gate = next(s for s in shown["steps"] if s["name"] == "gate")
    assert gate["status"] == "failed" and "< min 0.9999 (short by" in gate["detail"]
    roc = next(v for v in shown["verdicts"] if v["metric"] == "roc_auc")
    assert roc["passed"] is False and roc["rule"].startswith(">= 0.9999")
    assert shown["metrics"]["roc_auc"] == roc["value"]
    assert shown["data"]["rows"] == 569 and len(shown["data"]["hash"]) == 64
    assert shown["models"] == [{"name": "bc", "version": 2, "ref": "bc/2", "status": "rejected"}]
    assert shown["params"]["model.params.n_estimators"] == 10

    table = cli("runs", "show", prefix, "--store", store)
    assert table.code == 0
    for text in (
        "FAIL",
        "< min 0.9999",
        "569 rows",
        "model version produced: bc/2 rejected",
    ):
        assert text in table.out
    assert "deploy" in table.out and "the gate said no" in table.out


def test_unknown_or_ambiguous_run_ids_are_exit_2(cli, store: Path, run_ids) -> None:
    unknown = cli("runs", "show", "nope", "--store", store)
    assert unknown.code == 2
    assert "no run 'nope'" in unknown.err and run_ids[-1] in unknown.err
    shared = run_ids[0][:4]  # every id starts with the year
    ambiguous = cli("runs", "show", shared, "--store", store)
    assert ambiguous.code == 2 and "ambiguous: 3 runs match" in ambiguous.err
    assert cli("runs", "diff", run_ids[0], "nope", "--store", store).code == 2


def test_a_negative_limit_is_exit_2(cli, store: Path) -> None:
    result = cli("runs", "list", "--limit", "-1", "--store", store)
    assert result.code == 2 and "--limit must be 0 (all) or more, not -1" in result.err


def test_runs_diff_marks_what_changed(cli, store: Path, run_ids) -> None:
    first, _, third = run_ids
    result = cli("runs", "diff", first, third, "--store", store, "--json")
    assert result.code == 0, result.err
    diff = json.loads(result.out)
    by_key = {(r["section"], r["key"]): r for r in diff["rows"]}
    trees = by_key[("params", "model.params.n_estimators")]
    assert (trees["a"], trees["b"], trees["changed"]) == (10, 12, True)
    assert by_key[("spec", "spec hash")]["changed"] is True
    assert by_key[("data", "data hash")]["changed"] is False
    assert by_key[("packages", "lightgbm")]["changed"] is False
    assert by_key[("spec", "gate.roc_auc.min")]["a"] == 0.9
    assert ("metrics", "roc_auc") in by_key
    assert (
        by_key[("model", "version")]["a"] == "bc/1" and by_key[("model", "version")]["b"] == "bc/3"
    )
    assert ("spec", "model.params.n_estimators") not in by_key  # shown once, under params

    changed = json.loads(
        cli("runs", "diff", first, third, "--changed", "--store", store, "--json").out
    )
    assert changed["rows"] and all(r["changed"] for r in changed["rows"])
    assert changed["changed"] == len(changed["rows"])

    table = cli("runs", "diff", first, third, "--store", store)
    line = next(x for x in table.out.splitlines() if "model.params.n_estimators" in x)
    assert "*" in line and "10" in line and "12" in line and "+2" in line
    unchanged = next(x for x in table.out.splitlines() if "data hash" in x)
    assert "*" not in unchanged
    assert "rows differ (marked *)" in table.out


def test_runs_show_a_run_that_never_ended(cli, store: Path, tmp_path: Path, run_ids) -> None:
    """A killed run (its row still says running, with no end) shows as interrupted: its
    liveness lock is not held. Show and list still work."""
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    store_execute(copy, f"UPDATE runs SET status='running', ended_at=NULL WHERE id='{run_ids[0]}'")
    shown = json.loads(cli("runs", "show", run_ids[0], "--store", copy, "--json").out)
    assert shown["status"] == "interrupted" and shown["seconds"] is None
    assert cli("runs", "list", "--store", copy).code == 0


def test_runs_diff_changed_ignores_floating_point_noise(
    cli, store: Path, run_ids, tmp_path
) -> None:
    import sqlite3

    first, _, third = run_ids
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    with sqlite3.connect(copy / "store.db") as db:
        value = db.execute(
            "SELECT value FROM metrics WHERE run_id = ? AND name = 'roc_auc'", (first,)
        ).fetchone()[0]
        db.execute(
            "UPDATE metrics SET value = ? WHERE run_id = ? AND name = 'roc_auc'",
            (value - 1.11e-16, third),
        )
        db.execute(
            "UPDATE metrics SET value = ? WHERE run_id = ? AND name = 'accuracy'", (0.5, third)
        )

    diff = json.loads(cli("runs", "diff", first, third, "--changed", "--store", copy, "--json").out)
    keys = {(r["section"], r["key"]) for r in diff["rows"]}
    assert ("metrics", "roc_auc") not in keys  # 1.11e-16 apart: the same number
    assert ("metrics", "accuracy") in keys
