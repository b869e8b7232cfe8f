"""`specops validate`: every problem listed, each with file:line:column, key, expected, found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SPECS

EXAMPLES = sorted(SPECS.glob("*.yaml"))


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_every_example_spec_is_valid(cli, spec: Path) -> None:
    result = cli("validate", spec)
    assert result.code == 0, result.err
    assert f"ok: {spec}" in result.out


def test_examples_point_editors_at_the_schema() -> None:
    for spec in EXAMPLES:
        first = spec.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/spec.schema.json", spec


def test_malformed_yaml_names_line_and_column(cli, write_spec) -> None:
    path = write_spec("name: x\ntask: binary\ndata: {source: [1, 2\nmodel: {}\n")
    result = cli("validate", path)
    assert result.code == 2
    assert f"{path}:4:" in result.err
    assert "malformed YAML" in result.err
    assert "Traceback" not in result.err


def test_unknown_key_is_reported_at_the_key_with_a_suggestion(cli, write_spec) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
        model:
          type: lightgbm
          parms: {n_estimators: 10}
        """
    )
    result = cli("validate", path)
    assert result.code == 2
    assert f"{path}:8:3: error: unknown key 'parms' in model; did you mean 'params'?" in result.err


def test_every_problem_is_listed_not_only_the_first(cli, write_spec) -> None:
    path = write_spec(
        """
        name: x
        task: binray
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
        model:
          type: lightgbn
          params: {n_estimators: many}
        gate:
          roc_auc: {min: 0.9, max: 0.8}
          rmse: {max: 3}
        """
    )
    result = cli("validate", path)
    assert result.code == 2
    err = result.err
    assert f"{path}:2:7: error: task: 'binray' is not one of: binary, multiclass, regression" in err
    assert "did you mean 'binary'" in err.lower()
    assert f"{path}:7:9: error: unknown model type 'lightgbn'; did you mean 'lightgbm'?" in err
    assert "available: " in err and "random_forest" in err
    assert "contradictory thresholds for roc_auc: min 0.9 is above max 0.8" in err
    # rmse against an unknown task would only restate that the task is unknown
    assert "binray task" not in err
    assert "3 problems found" in err


def test_wrong_type_says_expected_and_found(cli, write_spec) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
        model:
          type: lightgbm
          params:
            n_estimators: lots
            learning_rate: -1
        """
    )
    result = cli("validate", path)
    assert result.code == 2
    assert f"{path}:9:19: error: model.params.n_estimators: expected integer" in result.err
    assert "found: a string 'lots'" in result.err or "found a string 'lots'" in result.err
    assert f"{path}:10:20: error: model.params.learning_rate: must be" in result.err


def test_params_the_component_rejects(cli, write_spec) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: csv, params: {path: data.csv, delimiter: ";"}}
          target: y
        model: {type: lightgbm}
        """
    )
    (path.parent / "data.csv").write_text("a,y\n1,0\n")
    result = cli("validate", path)
    assert result.code == 2
    assert "unknown key 'delimiter' in data.source.params" in result.err
    assert f"{path}:4:48" in result.err


def test_missing_data_file_is_found_before_running(cli, write_spec) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: csv, params: {path: nowhere.csv}}
          target: y
        model: {type: lightgbm}
        """
    )
    result = cli("validate", path)
    assert result.code == 2
    assert "nowhere.csv" in result.err
    assert "key: data.source.params.path" in result.err or "data.source.params.path" in result.err
    assert f"{path}:4:" in result.err


def test_metric_that_does_not_fit_the_task(cli, write_spec) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
        model: {type: lightgbm}
        gate:
          rmse: {max: 3}
          roc_auc: {min: 1.5}
        """
    )
    result = cli("validate", path)
    assert result.code == 2
    assert f"{path}:8:3: error: metric 'rmse' does not fit a binary task" in result.err
    assert "roc_auc min 1.5 can never be met: roc_auc is at most 1" in result.err


def test_model_that_cannot_learn_the_task(cli, write_spec) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
        model: {type: linear_regression}
        """
    )
    result = cli("validate", path)
    assert result.code == 2
    assert "model 'linear_regression' cannot learn a binary task" in result.err
    assert "models for binary:" in result.err


def test_duplicate_keys_are_refused(cli, write_spec) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        task: regression
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
        model: {type: lightgbm}
        """
    )
    result = cli("validate", path)
    assert result.code == 2
    assert f"{path}:3:1: error: duplicate key 'task' (first written at line 2)" in result.err


def test_missing_required_section(cli, write_spec) -> None:
    path = write_spec("name: x\ntask: binary\nmodel: {type: lightgbm}\n")
    result = cli("validate", path)
    assert result.code == 2
    assert "missing required key 'data' in the spec" in result.err


def test_target_also_excluded_is_a_contradiction(cli, write_spec) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
          exclude: [target]
        model: {type: lightgbm}
        """
    )
    result = cli("validate", path)
    assert result.code == 2
    assert "the target 'target' is also in exclude" in result.err


def test_several_specs_at_once_and_json(cli, write_spec) -> None:
    bad = write_spec("name: x\n", name="bad.yaml")
    good = SPECS / "breast_cancer.yaml"
    result = cli("validate", good, bad, "--json")
    assert result.code == 2
    import json

    report = json.loads(result.out)
    assert [r["valid"] for r in report] == [True, False]
    problem = report[1]["problems"][0]
    assert problem["file"] == str(bad) and problem["line"] == 1 and problem["path"] == "task"


def test_env_interpolation_and_missing_variable(cli, write_spec, monkeypatch) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: csv, params: {path: "${env:CHURN_DIR}/churn.csv"}}
          target: churned
        model: {type: lightgbm}
        """
    )
    monkeypatch.delenv("CHURN_DIR", raising=False)
    result = cli("validate", path)
    assert result.code == 2
    assert f"{path}:4:38: error: environment variable CHURN_DIR is not set" in result.err
    monkeypatch.setenv("CHURN_DIR", str(SPECS / "data"))
    assert cli("validate", path).code == 0


def test_set_override_is_validated_like_the_file(cli) -> None:
    spec = SPECS / "breast_cancer.yaml"
    result = cli("validate", spec, "--set", "model.params.n_estimators=abc")
    assert result.code == 2
    assert "--set model.params.n_estimators=abc: error: model.params.n_estimators" in result.err
    assert cli("validate", spec, "--set", "model.params.n_estimators=500").code == 0


def test_unknown_profile_suggests(cli) -> None:
    result = cli("validate", SPECS / "churn_csv.yaml", "--profile", "parket")
    assert result.code == 2
    assert "unknown profile 'parket'; did you mean 'parquet'?" in result.err


def test_env_values_are_text_unless_the_schema_wants_a_number(cli, write_spec, monkeypatch) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
        checks:
          - {type: row_count, params: {min: "${env:MIN_ROWS}"}}
          - {type: required_columns, params: {columns: ["${env:COLUMN}"]}}
        model: {type: lightgbm, params: {n_estimators: "${env:TREES}"}}
        """
    )
    monkeypatch.setenv("MIN_ROWS", "500")
    monkeypatch.setenv("COLUMN", "2024")  # a column named by digits stays text
    monkeypatch.setenv("TREES", "12")
    assert cli("validate", path).code == 0
    plan = json.loads(cli("plan", path, "--json").out)
    assert plan["steps"][0]["params"]["name"] == "breast_cancer"
    monkeypatch.setenv("TREES", "many")
    result = cli("validate", path)
    assert result.code == 2
    # the value came from ${env:TREES}: the message names the variable, never the value
    assert "n_estimators: expected integer, found a string '${env:TREES}'" in result.err


def test_a_missing_or_empty_spec_file_is_exit_2(cli, write_spec, tmp_path: Path) -> None:
    missing = cli("validate", tmp_path / "nowhere.yaml")
    assert missing.code == 2
    assert f"error: spec file not found: {tmp_path / 'nowhere.yaml'}" in missing.err
    empty = write_spec("")
    result = cli("validate", empty)
    assert result.code == 2
    assert f"{empty}:1:1: error: a spec must be a mapping of keys" in result.err
    assert "found: an empty file" in result.err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("nokey", "--set nokey: error: --set needs KEY.PATH=VALUE"),
        ("name.first=x", "--set name.first=x: error: name is a value, not a section"),
        ("deploy.5.type=registry", "error: index 5 is past the end of deploy"),
        ("deploy.type=registry", "error: deploy.type is not an item of the list deploy"),
    ],
)
def test_a_set_override_that_cannot_apply_is_exit_2(cli, override: str, message: str) -> None:
    result = cli("validate", SPECS / "breast_cancer.yaml", "--set", override)
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err


def test_a_set_key_may_be_written_as_messages_print_it(cli) -> None:
    """Problems print list items as ``checks[0].params``; --set took only ``checks.0``
    and said "unknown key 'checks[0]' in the spec" when a user pasted the printed path."""
    spec = SPECS / "churn_csv.yaml"
    bad = cli("validate", spec, "--set", "checks[0].params.columns=7")
    assert bad.code == 2 and "checks[0].params.columns" in bad.err
    assert "unknown key 'checks[0]'" not in bad.err
    plan = json.loads(cli("plan", spec, "--set", "checks[4].params.max=0.1", "--json").out)
    by_path = {step.get("path"): step for step in plan["steps"]}
    assert by_path["checks[4]"]["params"]["max"] == 0.1


def test_features_that_contradict_the_target_or_exclude(cli, write_spec) -> None:
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
          features: [target, "mean radius", "mean area"]
          exclude: ["mean area"]
        profiles:
          small: [1, 2]
        model: {type: lightgbm}
        """
    )
    result = cli("validate", path)
    assert result.code == 2
    assert f"{path}:6:3: error: the target 'target' is also listed as a feature" in result.err
    assert f"{path}:7:3: error: columns both in features and in exclude: mean area" in result.err
    profiled = cli("validate", path, "--profile", "small")
    assert profiled.code == 2
    assert f"{path}:9:10: error: a profile must be a mapping of sections" in profiled.err
