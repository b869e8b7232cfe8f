"""The 5,000-run fixture is a store specops itself reads as sound, not just many rows."""

from __future__ import annotations

import json
from collections import Counter

from tests.ui.fixture_store import REAL_MODEL, SYNTHETIC_MODELS, UiStore


def test_the_fixture_has_the_size_and_passes_store_verify(big_store: UiStore, cli) -> None:
    assert (big_store.runs, big_store.versions) == (5000, 500)
    verified = cli("store", "verify", "--store", big_store.store, "--json")
    assert verified.code == 0, verified.out + verified.err
    report = json.loads(verified.out)
    assert report["ok"] is True and report["checked"]["versions"] == 500


def test_its_records_read_back_through_the_store_api(big_store: UiStore) -> None:
    from framework.store import Store
    from framework.store.store import undo_stack

    store = Store(big_store.store, write=False)
    try:
        runs = store.runs()
        statuses = Counter(run.status for run in runs)
        # every outcome the runs table filters by; killed runs read as interrupted
        assert {"passed", "rejected", "failed_checks", "error", "interrupted"} <= set(statuses)
        assert statuses["running"] == 0
        assert runs[0].started_at > runs[-1].started_at  # spread over time, newest first
        assert set(store.model_names()) == {REAL_MODEL, *SYNTHETIC_MODELS}

        # the real loop: drift -> retraining run -> subscriptions/2, the champion
        chain = store.monitor_chain(big_store.retrain_run)
        assert chain is not None and chain["monitor"]["id"] == big_store.monitor_run
        assert chain["promoted_version"] == 2 and store.alias(REAL_MODEL) == 2
        assert store.versions_of_run(big_store.rejected_run)[0].status == "rejected"
        assert store.steps(big_store.failed_run)[1].status == "failed"

        # bulk records look like the engine's: steps in order, params, metrics, verdicts
        error = store.run(big_store.error_run)
        assert (
            error is not None and error.status == "error" and "DataError" in error.outputs["error"]
        )
        assert [s.name for s in store.steps(big_store.error_run)][-1] == "train"
        busiest = big_store.busiest_model
        versions = store.versions(busiest)
        assert len(versions) >= 100
        run = store.run(versions[-1].run_id)
        assert run is not None and run.spec["name"] == busiest
        assert [s.name for s in store.steps(run.id)] == [
            s.name for s in store.steps(big_store.first_run)
        ]
        assert store.params(run.id)["model.type"] == "lightgbm"
        assert store.metrics(run.id)["roc_auc"] == versions[-1].metrics["roc_auc"]

        # champions moved by the gate, by hand and by rollbacks, all undoable in order
        history = store.alias_history(busiest, "champion")
        assert any(move.is_rollback for move in history)
        assert history[-1].to_version == store.alias(busiest)
        assert undo_stack(history)

        # monitoring: a quarter of runs, drifted ones with the retraining they triggered
        monitors = store.monitor_runs(busiest)
        assert len(monitors) >= 50
        columns = store.monitor_columns([m["id"] for m in monitors])
        assert all(len(found) == 8 for found in columns.values())
        retrained = [m for m in monitors if m["retrain_run_id"]]
        assert retrained and all(m["decision"] == "drift" for m in retrained)
        triggered = store.run(retrained[0]["retrain_run_id"])
        assert triggered is not None and triggered.trigger == retrained[0]["id"]
    finally:
        store.close()
