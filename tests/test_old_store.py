"""A store made by an older specops (tests/fixtures/store_0ce3e2a) still opens, predicts
exactly what it predicted then, reproduces its runs and takes new versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SPECS

FIXTURE = Path(__file__).parent / "fixtures" / "store_0ce3e2a"


@pytest.fixture
def old_project(tmp_path: Path) -> Path:
    """A copy of the old store beside its spec and data: the fixture itself never changes."""
    project = tmp_path / "old"
    project.mkdir()
    shutil.copytree(FIXTURE / "store", project / ".specops")
    shutil.copy(FIXTURE / "spec.yaml", project / "spec.yaml")
    shutil.copytree(SPECS / "data", project / "data")
    return project


def test_an_old_store_lists_verifies_and_predicts_exactly_as_before(cli, old_project: Path) -> None:
    store = old_project / ".specops"
    listed = cli("models", "list", "--store", store, "--json")
    assert listed.code == 0, listed.err
    (model,) = json.loads(listed.out)["models"]
    assert sorted(v["version"] for v in model["versions"]) == [1, 2, 3]
    assert model["aliases"] == {"champion": 3}

    assert cli("store", "verify", "--store", store).code == 0

    for version in (1, 2, 3):  # lightgbm, random_forest (skops), logistic_regression (skops)
        output = old_project / f"now-{version}.csv"
        scored = cli(
            "predict",
            f"churn/{version}",
            "--input",
            old_project / "data" / "churn.csv",
            "--output",
            output,
            "--store",
            store,
        )
        assert scored.code == 0, scored.err
        then = pd.read_csv(FIXTURE / "predictions" / f"churn-{version}.csv")
        pd.testing.assert_frame_equal(pd.read_csv(output), then)


def test_an_old_run_reproduces_and_a_new_run_builds_on_the_old_champion(
    cli, old_project: Path
) -> None:
    store = old_project / ".specops"
    runs = json.loads(cli("runs", "list", "--store", store, "--json").out)["runs"]
    oldest = runs[-1]["run_id"]

    reproduced = cli("reproduce", oldest, "--store", store, "--json")
    assert reproduced.code == 0, reproduced.out + reproduced.err
    assert json.loads(reproduced.out)["matched"] is True

    result = cli("run", old_project / "spec.yaml", "--json")
    assert result.code in (0, 1), result.err  # gated against the old champion either way
    report = json.loads(result.out)
    gate = next(s for s in report["steps"] if s["name"] == "gate")
    assert "champion" in gate["detail"]
    versions = json.loads(cli("models", "list", "--store", store, "--json").out)["models"][0]
    assert 4 in [v["version"] for v in versions["versions"]]


def test_an_old_champion_serves_what_it_predicted_then(old_project: Path) -> None:
    from tests.serving.conftest import start_server

    rows = pd.read_csv(old_project / "data" / "churn.csv").head(5)
    rows = rows.drop(columns=["customer_id", "churned"])
    then = pd.read_csv(FIXTURE / "predictions" / "churn-3.csv").head(5)
    server = start_server("churn", "--store", old_project / ".specops", "--no-request-log")
    try:
        client = server.connect()
        payload = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
        status, answer = client.post_json("/invocations", payload)
        assert status == 200, answer
        assert answer["predictions"] == then["prediction"].tolist()
    finally:
        server.stop()


def test_a_new_store_has_16_kib_pages_and_an_old_one_keeps_its_own(
    cli, old_project: Path, tmp_path: Path
) -> None:
    """New stores use larger pages (the request log appends megabyte blobs); an old
    store is never rewritten to change them, even when it takes a new version."""
    import sqlite3

    from framework.store.opening import PAGE_SIZE

    def page_size(store: Path) -> int:
        with sqlite3.connect(store / "store.db") as db:
            return int(db.execute("PRAGMA page_size").fetchone()[0])

    old = old_project / ".specops"
    before = page_size(old)
    assert before != PAGE_SIZE
    assert cli("run", old_project / "spec.yaml").code in (0, 1)  # a run and a version
    assert page_size(old) == before

    project = tmp_path / "new"
    project.mkdir()
    (project / "spec.yaml").write_text((old_project / "spec.yaml").read_text())
    shutil.copytree(SPECS / "data", project / "data")
    assert cli("run", project / "spec.yaml").code == 0
    assert page_size(project / ".specops") == PAGE_SIZE == 16384
