"""`specops plan` and `specops schema`: what will run, and the contract editors read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

from framework.spec.source import read_spec_text
from tests.conftest import SPECS


def test_plan_names_each_step_plugin_version_and_effective_params(cli) -> None:
    result = cli(
        "plan",
        SPECS / "churn_csv.yaml",
        "--json",
        "--profile",
        "parquet",
        "--set",
        "model.params.n_estimators=500",
    )
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    steps = [(s["step"], s["type"]) for s in plan["steps"]]
    assert steps[0] == ("ingest", "parquet")  # the profile swapped the source
    assert ("split", "stratified") in steps and ("deploy", "registry") in steps
    train = next(s for s in plan["steps"] if s["step"] == "train")
    assert train["plugin"] == "lightgbm" and train["version"] == "0.1.0"
    assert train["params"]["n_estimators"] == 500  # the override
    assert train["path"] == "model"
    assert "roc_auc" in plan["metrics"] and plan["profile"] == "parquet"


def test_plan_shows_env_placeholders_not_their_values(cli, write_spec, monkeypatch) -> None:
    monkeypatch.setenv("CHURN_SECRET_DIR", str(SPECS / "data"))
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: csv, params: {path: "${env:CHURN_SECRET_DIR}/churn.csv"}}
          target: churned
        model: {type: lightgbm}
        """
    )
    result = cli("plan", path, "--json")
    assert result.code == 0, result.err
    ingest = json.loads(result.out)["steps"][0]
    assert ingest["params"]["path"] == "${env:CHURN_SECRET_DIR}/churn.csv"
    assert str(SPECS / "data") not in result.out


def test_plan_and_validate_import_no_heavy_library() -> None:
    probe = (
        "import sys\n"
        "from framework.cli.main import main\n"
        f"assert main(['validate', {str(SPECS / 'breast_cancer.yaml')!r}]) == 0\n"
        f"assert main(['plan', '--no-data', {str(SPECS / 'churn_csv.yaml')!r}]) == 0\n"
        "heavy = sorted(m for m in ('pandas', 'sklearn', 'lightgbm', 'pyarrow', 'numpy', 'skops')"
        " if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "HEAVY []" in done.stdout


def test_composed_schema_is_valid_and_accepts_every_example(cli) -> None:
    result = cli("schema")
    assert result.code == 0
    schema = json.loads(result.out)
    Draft202012Validator.check_schema(schema)
    assert "lightgbm" in schema["$defs"]["model"]["properties"]["type"]["enum"]
    validator = Draft202012Validator(schema)
    for spec in SPECS.glob("*.yaml"):
        document = read_spec_text(spec).data
        assert not list(validator.iter_errors(document)), spec


def test_composed_schema_checks_plugin_params_as_an_editor_would(cli) -> None:
    schema = json.loads(cli("schema").out)
    validator = Draft202012Validator(schema)
    document = read_spec_text(SPECS / "breast_cancer.yaml").data
    document["model"]["params"]["learning_rate"] = "fast"
    errors = [e.json_path for e in validator.iter_errors(document)]
    assert "$.model.params.learning_rate" in errors
    document["model"]["type"] = "lightgbn"
    assert any(e.validator == "enum" for e in validator.iter_errors(document))


def test_core_schema_is_the_published_file(cli) -> None:
    published = json.loads(
        (Path(__file__).parent.parent / "schemas" / "spec.schema.json").read_text()
    )
    assert json.loads(cli("schema", "--core").out) == published
    assert published["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_plan_without_deploy_targets_still_shows_evaluate_gate_and_register(
    cli, write_spec, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    path = write_spec(
        """
        name: x
        task: binary
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
        model: {type: lightgbm}
        deploy: []
        """
    )
    result = cli("plan", path, "--no-data")
    assert result.code == 0, result.err
    steps = [line.split("│")[1].strip() for line in result.out.splitlines() if "│" in line]
    named = [step for step in steps if step]
    assert named == ["ingest", "split", "train", "evaluate", "gate", "register"]


def test_plan_shows_each_columns_role_and_use_before_anything_trains(cli, churn_dir) -> None:
    result = cli("plan", churn_dir / "spec.yaml", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)["data"]
    columns = {c["name"]: c for c in data["columns"]}
    assert data["rows"] > 0
    assert columns["customer_id"]["use"] == "excluded"
    assert columns["churned"]["use"] == "target"
    assert columns["contract"]["role"] == "categorical" and columns["contract"]["use"] == "feature"
    assert columns["tenure_months"]["role"] == "numeric"

    table = cli("plan", churn_dir / "spec.yaml").out
    assert "columns of the source" in table and "contract" in table


def test_plan_names_data_that_does_not_fit_and_still_shows_the_steps(cli, churn_dir) -> None:
    spec = churn_dir / "spec.yaml"
    spec.write_text(spec.read_text().replace("target: churned", "target: churn"))

    result = cli("plan", spec)

    assert result.code == 2
    assert "target column 'churn' is not in the data; did you mean 'churned'?" in result.err
    assert "ingest" in result.out  # the plan itself is still shown
    assert cli("plan", spec, "--no-data").code == 0


def test_plan_of_a_spec_that_is_not_there_is_exit_2(cli, tmp_path) -> None:
    result = cli("plan", tmp_path / "nowhere.yaml")
    assert result.code == 2 and "spec file not found" in result.err
    report = json.loads(cli("plan", tmp_path / "nowhere.yaml", "--json").out)
    assert report["status"] == "error" and report["exit_code"] == 2
    assert report["problems"][0]["message"].startswith("spec file not found")
