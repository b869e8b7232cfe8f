"""`specops run` end to end through the CLI: real data, real training, a real store."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

from tests.conftest import SPECS
from tests.helpers import LIFECYCLE_STEPS, champion, store_rows


def test_first_run_registers_and_promotes_the_champion(cli, bc_spec: Path) -> None:
    result = cli("run", bc_spec, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["status"] == "passed"
    assert [s["name"] for s in report["steps"]] == LIFECYCLE_STEPS
    metrics = {m["metric"]: m for m in report["metrics"]}
    assert {"accuracy", "roc_auc", "log_loss", "f1", "average_precision"} <= set(metrics)
    assert metrics["roc_auc"]["passed"] is True and metrics["roc_auc"]["value"] > 0.9
    assert "max_drop skipped: no champion yet" in metrics["roc_auc"]["detail"]
    assert metrics["accuracy"]["passed"] is None  # reported without a threshold
    assert report["model"] == {"name": "bc", "version": 1, "status": "registered"}
    assert champion(bc_spec.parent / ".specops") == 1
    lineage = report["lineage"]
    assert len(lineage["spec_hash"]) == 64 and len(lineage["data_hash"]) == 64
    assert "lightgbm" in lineage["packages"] and "scikit-learn" in lineage["packages"]


def test_second_run_is_gated_against_the_champion(cli, bc_spec: Path) -> None:
    assert cli("run", bc_spec).code == 0
    result = cli("run", bc_spec, "--json")
    assert result.code == 0
    report = json.loads(result.out)
    roc = next(m for m in report["metrics"] if m["metric"] == "roc_auc")
    assert roc["champion"] is not None and roc["champion"] == roc["value"]  # same seed, same model
    gate = next(s for s in report["steps"] if s["name"] == "gate")
    # same data and split: its recorded metrics are its scores on these very rows
    assert (
        "champion bc/1 trained on the same rows (same data and split): both scored on all"
        in gate["detail"]
    )
    assert champion(bc_spec.parent / ".specops") == 2
    history = store_rows(
        bc_spec.parent / ".specops", "SELECT from_version, to_version, reason FROM alias_history"
    )
    assert history == [(None, 1, "gate passed"), (1, 2, "gate passed")]


def test_failed_gate_exits_1_records_rejection_and_keeps_the_champion(cli, bc_spec: Path) -> None:
    assert cli("run", bc_spec).code == 0
    result = cli("run", bc_spec, "--set", "gate.roc_auc.min=0.9999")
    assert result.code == 1
    assert "FAIL" in result.out and "< min 0.9999" in result.out
    assert "rejected by the gate: nothing promoted" in result.out
    assert champion(bc_spec.parent / ".specops") == 1
    statuses = store_rows(
        bc_spec.parent / ".specops", "SELECT version, status FROM model_versions ORDER BY version"
    )
    assert statuses == [(1, "registered"), (2, "rejected")]


def test_another_split_rescores_the_champion_on_its_test_rows(cli, bc_spec: Path) -> None:
    assert cli("run", bc_spec).code == 0
    report = json.loads(
        cli(
            "run",
            bc_spec,
            "--json",
            "--set",
            "seed=2",
            "--set",
            "data.split={type: stratified, params: {test_size: 0.4}}",
        ).out
    )
    gate = next(s for s in report["steps"] if s["name"] == "gate")
    assert "champion bc/1 and candidate scored on" in gate["detail"]
    assert "rows neither trained on" in gate["detail"]
    roc = next(m for m in report["metrics"] if m["metric"] == "roc_auc")
    query = "SELECT value FROM metrics WHERE name = 'roc_auc' ORDER BY rowid LIMIT 1"
    recorded = store_rows(bc_spec.parent / ".specops", query)[0][0]
    assert roc["champion"] != recorded  # scored on the new test rows, not copied


def test_max_drop_compares_with_the_champion(cli, bc_spec: Path) -> None:
    assert cli("run", bc_spec).code == 0
    weaker = cli(
        "run",
        bc_spec,
        "--json",
        "--set",
        "model.params.n_estimators=1",
        "--set",
        "model.params.num_leaves=2",
    )
    assert weaker.code == 1
    roc = next(m for m in json.loads(weaker.out)["metrics"] if m["metric"] == "roc_auc")
    assert roc["passed"] is False
    assert re.search(
        r"roc_auc 0\.\d+ vs champion 0\.\d+: dropped 0\.\d+ > max_drop 0\.01", roc["detail"]
    )
    assert champion(bc_spec.parent / ".specops") == 1


def test_failed_data_check_stops_before_training(cli, churn_dir: Path) -> None:
    spec = churn_dir / "spec.yaml"
    result = cli("run", spec, "--set", "checks.5.params.min=5000")
    assert result.code == 1
    assert "failed data checks" in result.out and "row_count" in result.out
    assert "data checks failed, nothing trained" in result.out
    assert store_rows(churn_dir / ".specops", "SELECT COUNT(*) FROM model_versions") == [(0,)]


def test_csv_and_parquet_sources_are_a_one_key_swap(cli, churn_dir: Path) -> None:
    spec = churn_dir / "spec.yaml"
    csv = json.loads(cli("run", spec, "--json").out)
    parquet = json.loads(cli("run", spec, "--json", "--set", "data.source.type=parquet").out)
    profile = json.loads(cli("run", spec, "--json", "--profile", "parquet").out)
    assert csv["status"] == parquet["status"] == profile["status"] == "passed"
    assert csv["data"]["data_hash"] == parquet["data"]["data_hash"]  # the very same table
    assert [m["value"] for m in profile["metrics"]] == [m["value"] for m in parquet["metrics"]]
    assert [m["value"] for m in csv["metrics"]] == [m["value"] for m in parquet["metrics"]]


def test_model_swap_needs_no_other_edit(cli, churn_dir: Path) -> None:
    spec = churn_dir / "spec.yaml"
    result = cli("run", spec, "--json", "--set", "model.type=random_forest")
    assert result.code == 0, result.err
    assert json.loads(result.out)["model"]["version"] == 1


def test_sklearn_model_gets_categoricals_encoded_automatically(cli, churn_dir: Path) -> None:
    spec = churn_dir / "spec.yaml"
    result = cli(
        "run",
        spec,
        "--json",
        "--set",
        "preprocess=[{type: scale}]",
        "--set",
        "model.type=logistic_regression",
        "--set",
        "model.params={}",
    )
    assert result.code == 0, result.err
    transform = next(s for s in json.loads(result.out)["steps"] if s["name"] == "transform")
    assert "auto_one_hot" in transform["detail"] and "auto_impute" in transform["detail"]


def test_regression_example_runs(cli, tmp_path: Path) -> None:
    spec = tmp_path / "diabetes.yaml"
    shutil.copy(SPECS / "diabetes_regression.yaml", spec)
    result = cli("run", spec, "--json")
    assert result.code == 0, result.err
    names = {m["metric"] for m in json.loads(result.out)["metrics"]}
    assert names == {"rmse", "mae", "r2", "mape"}


def test_directory_target_exports_a_self_contained_package(cli, churn_dir: Path) -> None:
    spec = churn_dir / "spec.yaml"
    result = cli("run", spec, "--set", "deploy={type: directory, params: {path: out/model}}")
    assert result.code == 0, result.err
    package = churn_dir / "out" / "model"
    names = sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file())
    assert "model.json" in names and "signature.json" in names and "transform.skops" in names
    assert "release.json" in names and any(n.startswith("model/") for n in names)
    assert not any(n.endswith((".pkl", ".pickle", ".joblib")) for n in names)
    signature = json.loads((package / "signature.json").read_text())
    contract = next(c for c in signature["columns"] if c["name"] == "contract")
    assert contract["role"] == "categorical"
    assert contract["categories"] == ["month-to-month", "one-year", "two-year"]
    meta = json.loads((package / "model.json").read_text())
    assert meta["labels"] == ["no", "yes"] and meta["task"] == "binary"
    assert champion(churn_dir / ".specops", "churn") is None  # directory export does not promote


def test_sql_source_reads_a_sqlite_file(cli, churn_dir: Path) -> None:
    import pandas as pd

    with sqlite3.connect(churn_dir / "data" / "churn.db") as db:
        pd.read_csv(churn_dir / "data" / "churn.csv").to_sql("customers", db, index=False)
    spec = churn_dir / "spec.yaml"
    result = cli(
        "run",
        spec,
        "--json",
        "--set",
        "data.source={type: sql, params: {path: data/churn.db, table: customers}}",
    )
    assert result.code == 0, result.err
    assert json.loads(result.out)["data"]["rows"] == 1200


def test_multiclass_with_probabilities(cli, write_spec) -> None:
    spec = write_spec(
        """
        name: iris
        task: multiclass
        data:
          source: {type: sklearn_dataset, params: {name: iris, target_names: true}}
          target: target
        model: {type: random_forest, params: {n_estimators: 20}}
        gate:
          accuracy: {min: 0.8}
          log_loss: {max: 1.0}
        """
    )
    result = cli("run", spec, "--json")
    assert result.code == 0, result.err
    names = {m["metric"] for m in json.loads(result.out)["metrics"]}
    assert {"accuracy", "roc_auc", "log_loss", "f1"} <= names
    model = json.loads(result.out)["model"]
    assert model == {"name": "iris", "version": 1, "status": "registered"}


def test_native_categorical_sklearn_model_reloads_as_champion(cli, churn_dir: Path) -> None:
    spec = churn_dir / "spec.yaml"
    swap = [
        "--set",
        "model={type: hist_gradient_boosting, params: {max_iter: 30}}",
        "--set",
        "preprocess=[]",
    ]
    assert cli("run", spec, *swap).code == 0
    # another split, so the champion is loaded and rescored; no thresholds to pass
    second = cli("run", spec, "--json", "--set", "seed=8", "--set", "gate={}", *swap)
    assert second.code == 0, second.err
    gate = next(s for s in json.loads(second.out)["steps"] if s["name"] == "gate")
    assert "champion churn/1 and candidate scored on" in gate["detail"]


def test_preprocessing_that_drops_every_feature_is_a_data_error_before_training(
    cli, write_spec
) -> None:
    spec = write_spec(
        """
        name: iris
        task: multiclass
        data:
          source: {type: sklearn_dataset, params: {name: iris}}
          target: target
        preprocess:
          - {type: scale}
          - type: drop
            params:
              columns: [sepal length (cm), sepal width (cm), petal length (cm), petal width (cm)]
        model: {type: lightgbm}
        """
    )
    result = cli("run", spec)
    assert result.code == 2 and "Traceback" not in result.err + result.out
    assert "preprocess step 1_drop leaves the model no columns" in result.err + result.out
    assert "a bug in that plugin" not in result.err + result.out
    assert store_rows(spec.parent / ".specops", "SELECT COUNT(*) FROM model_versions") == [(0,)]


def test_one_hot_on_a_column_mixing_numbers_and_text_is_exit_2_naming_it(cli, write_spec) -> None:
    """A SQLite column may hold 3 and 'a' at once: the run stops with a data error
    naming the column, not an internal error (exit 3), and registers nothing."""
    spec = write_spec(
        """
        name: mixed
        task: binary
        data:
          source: {type: sql, params: {path: rows.db, table: t}}
          target: y
        preprocess:
          - {type: one_hot}
        model: {type: lightgbm, params: {n_estimators: 5}}
        """
    )
    with sqlite3.connect(spec.parent / "rows.db") as db:
        db.execute("CREATE TABLE t (code, x REAL, y INTEGER)")
        db.executemany(
            "INSERT INTO t VALUES (?, ?, ?)",
            [(i % 5 if i % 2 else "abc"[i % 3], i / 10, i % 2) for i in range(120)],
        )
    result = cli("run", spec)
    said = result.out + result.err
    assert result.code == 2 and "Traceback" not in said
    assert "one_hot: column 'code' mixes numbers and text" in said
    assert store_rows(spec.parent / ".specops", "SELECT COUNT(*) FROM model_versions") == [(0,)]
