"""Data snapshots and `specops reproduce`: the same spec on the same data gives the same model."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import store_execute, store_rows


def last_run_id(directory: Path) -> str:
    """The newest run in the store of the spec in ``directory``."""
    query = "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1"
    return store_rows(directory / ".specops", query)[0][0]


def test_lightgbm_run_reproduces_byte_for_byte(cli, bc_spec: Path) -> None:
    assert cli("run", bc_spec).code == 0
    store = bc_spec.parent / ".specops"
    before = store_rows(store, "SELECT * FROM aliases")
    run_id = last_run_id(bc_spec.parent)
    result = cli("reproduce", run_id[:15], "--store", store, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["matched"] is True and report["run_id"] == run_id
    files = {c["item"]: c for c in report["comparisons"] if c["kind"] == "file"}
    assert files["model/model.txt"]["match"] is True
    assert files["model.json"]["match"] is None and "names the run" in files["model.json"]["note"]
    metrics = [c for c in report["comparisons"] if c["kind"] == "metric"]
    assert {c["item"] for c in metrics} >= {"roc_auc", "accuracy"}
    assert all(c["original"] == c["reproduced"] for c in metrics)
    # the plugins and packages installed now are the run's: each compared, none changed
    plugins = {c["item"]: c for c in report["comparisons"] if c["kind"] == "plugin"}
    assert plugins["model lightgbm"]["match"] is True
    assert plugins["model lightgbm"]["original"].startswith("specops ")
    assert "data.source" not in plugins and "source sklearn_dataset" not in plugins  # not rerun
    assert report["changed_since_run"] == []
    # reproducing touches nothing in the registry
    assert store_rows(store, "SELECT * FROM aliases") == before
    assert store_rows(store, "SELECT COUNT(*) FROM model_versions") == [(1,)]


def test_sklearn_pipeline_reproduces_from_the_snapshot_after_the_file_is_gone(
    cli, churn_dir: Path
) -> None:
    spec = churn_dir / "spec.yaml"
    assert cli("run", spec, "--set", "model.type=random_forest").code == 0
    (churn_dir / "data" / "churn.csv").unlink()
    result = cli("reproduce", last_run_id(churn_dir), "--store", churn_dir / ".specops", "--json")
    assert result.code == 0, result.err
    files = {c["item"]: c["match"] for c in json.loads(result.out)["comparisons"]}
    assert files["transform.skops"] is True and files["model/model.skops"] is True


def test_snapshots_are_stored_once_however_many_runs_use_them(cli, bc_spec: Path) -> None:
    for _ in range(3):
        assert cli("run", bc_spec).code == 0
    store = bc_spec.parent / ".specops"
    datasets = store_rows(store, "SELECT hash, blob FROM datasets")
    assert len(datasets) == 1 and datasets[0][1]
    hashes = {r[0] for r in store_rows(store, "SELECT data_hash FROM runs")}
    assert hashes == {datasets[0][0]}


def test_a_training_run_can_use_a_recorded_dataset_version(cli, bc_spec: Path, write_spec) -> None:
    assert cli("run", bc_spec).code == 0
    data_hash = store_rows(bc_spec.parent / ".specops", "SELECT hash FROM datasets")[0][0]
    text = bc_spec.read_text().replace(
        "{type: sklearn_dataset, params: {name: breast_cancer}}",
        f"{{type: snapshot, params: {{data: {data_hash[:10]}}}}}",
    )
    bc_spec.write_text(text)
    result = cli("run", bc_spec, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["data"]["data_hash"] == data_hash


def test_a_changed_result_is_reported_and_exits_1(cli, bc_spec: Path) -> None:
    assert cli("run", bc_spec).code == 0
    run_id = last_run_id(bc_spec.parent)
    store_execute(
        bc_spec.parent / ".specops",
        f"UPDATE metrics SET value = 0.5 WHERE run_id = '{run_id}' AND name = 'roc_auc'",
    )
    result = cli("reproduce", run_id, "--store", bc_spec.parent / ".specops")
    assert result.code == 1
    assert "DIFFERENT" in result.out and "did not reproduce" in result.out


def test_without_a_snapshot_reproduce_says_why(cli, bc_spec: Path) -> None:
    assert cli("run", bc_spec, "--set", "store.snapshot_data=false").code == 0
    result = cli("reproduce", last_run_id(bc_spec.parent), "--store", bc_spec.parent / ".specops")
    assert result.code == 2
    assert "kept no data snapshot (store.snapshot_data was false)" in result.err


def test_unknown_run_lists_recent_ones(cli, bc_spec: Path) -> None:
    assert cli("run", bc_spec).code == 0
    result = cli("reproduce", "19990101", "--store", bc_spec.parent / ".specops")
    assert result.code == 2
    assert "no run '19990101'" in result.err and last_run_id(bc_spec.parent) in result.err


def test_a_run_that_made_no_model_or_an_ambiguous_prefix_is_exit_2(cli, bc_spec: Path) -> None:
    store = bc_spec.parent / ".specops"
    failing = ("--set", "checks=[{type: row_count, params: {min: 100000}}]")
    assert cli("run", bc_spec, *failing).code == 1  # stopped by its data check: no model
    result = cli("reproduce", last_run_id(bc_spec.parent), "--store", store)
    assert result.code == 2
    assert "ended 'failed_checks' without a model version: nothing to reproduce" in result.err
    assert cli("run", bc_spec, *failing).code == 1
    ambiguous = cli("reproduce", last_run_id(bc_spec.parent)[:4], "--store", store)
    assert ambiguous.code == 2 and "is ambiguous: 2 runs match" in ambiguous.err


def test_reproduce_needs_and_checks_the_runs_environment(cli, bc_spec: Path, monkeypatch) -> None:
    text = bc_spec.read_text().replace(
        "model:", "checks:\n  - {type: row_count, params: {min: '${env:MIN_ROWS}'}}\nmodel:"
    )
    bc_spec.write_text(text)
    monkeypatch.setenv("MIN_ROWS", "100")
    assert cli("run", bc_spec).code == 0
    run_id, store = last_run_id(bc_spec.parent), bc_spec.parent / ".specops"

    monkeypatch.delenv("MIN_ROWS")
    missing = cli("reproduce", run_id, "--store", store)
    assert missing.code == 2 and "environment variables that are not set: MIN_ROWS" in missing.err

    monkeypatch.setenv("MIN_ROWS", "200")
    changed = json.loads(cli("reproduce", run_id, "--store", store, "--json").out)
    config = next(c for c in changed["comparisons"] if c["kind"] == "config")
    assert changed["matched"] is False and config["match"] is False

    monkeypatch.setenv("MIN_ROWS", "100")
    assert cli("reproduce", run_id, "--store", store).code == 0


def test_reproduce_errors_name_the_run_not_a_temporary_file(cli, bc_spec: Path) -> None:
    """A stored spec this specops can no longer use is pointed at by run id."""
    assert cli("run", bc_spec).code == 0
    run_id, store = last_run_id(bc_spec.parent), bc_spec.parent / ".specops"
    spec = json.loads(store_rows(store, f"SELECT spec_json FROM runs WHERE id = '{run_id}'")[0][0])
    spec["model"]["params"]["n_estimatorz"] = 5  # as if a plugin had since dropped a param
    tampered = json.dumps(spec).replace("'", "''")
    store_execute(store, f"UPDATE runs SET spec_json = '{tampered}' WHERE id = '{run_id}'")

    result = cli("reproduce", run_id, "--store", store)

    assert result.code == 2
    assert "specops-reproduce-" not in result.err
    assert f"run {run_id}" in result.err and "n_estimatorz" in result.err
    assert "Traceback" not in result.err


def test_a_run_from_before_the_content_split_reruns_its_shuffle() -> None:
    from framework.reproduce import with_rows_method_of

    old = {
        "task": "binary",
        "data": {"split": {"type": "stratified", "params": {"test_size": 0.3}}},
    }
    rerun = with_rows_method_of(old, {"spec_hash": "x"})  # no rows_method: an older specops
    assert rerun["data"]["split"]["params"] == {"test_size": 0.3, "method": "shuffle"}
    assert "method" not in old["data"]["split"]["params"]  # the stored spec is left alone
    # the default split of a spec without one is the one made explicit
    bare = with_rows_method_of({"task": "regression", "data": {}}, {})
    assert bare["data"]["split"] == {"type": "random", "params": {"method": "shuffle"}}
    # a run that recorded its method, a time split or an explicit method: unchanged
    assert with_rows_method_of(old, {"rows_method": "content/1"}) is old
    timed = {"task": "binary", "data": {"split": {"type": "time", "params": {"column": "t"}}}}
    assert with_rows_method_of(timed, {}) is timed
    chosen = {
        "task": "binary",
        "data": {"split": {"type": "random", "params": {"method": "content"}}},
    }
    assert with_rows_method_of(chosen, {}) is chosen


def test_a_new_run_records_its_rows_method(cli, bc_spec: Path) -> None:
    assert cli("run", bc_spec).code == 0
    run_id = last_run_id(bc_spec.parent)
    [(lineage,)] = store_rows(
        bc_spec.parent / ".specops", f"SELECT lineage_json FROM runs WHERE id = '{run_id}'"
    )
    assert json.loads(lineage)["rows_method"] == "content/1"


def test_reproduce_set_may_only_say_where_the_rerun_executes(cli, bc_spec: Path) -> None:
    """`reproduce --set model.params...` would be a new run, not a reproduction: refused;
    `--set execution.type=local` reruns (the recorded spec is already local: it matches)."""
    assert cli("run", bc_spec).code == 0
    store = bc_spec.parent / ".specops"
    run_id = last_run_id(bc_spec.parent)

    refused = cli("reproduce", run_id, "--store", store, "--set", "model.params.n_estimators=5")
    assert refused.code == 2
    assert "only where the rerun executes may change" in refused.err
    assert "Traceback" not in refused.err

    rerun = cli("reproduce", run_id, "--store", store, "--set", "execution.type=local", "--json")
    assert rerun.code == 0, rerun.out + rerun.err
    assert json.loads(rerun.out)["matched"] is True
