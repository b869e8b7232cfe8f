"""Hostile or careless paths and files given to every reader and writer of user data.

A FIFO or a device named as a spec, a data file, an input or a report must be
refused at once (exit 2, naming the path), never waited on; a report path must
never replace a file that is not a report; odd column names must not crash a model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SPECS

SPEC = """
name: churn
task: binary
seed: 7
data:
  source: {type: csv, params: {path: data.csv}}
  target: churned
  exclude: [customer_id]
model: {type: lightgbm, params: {n_estimators: 5, num_leaves: 7}}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a champion, churn/1, trained on the churn example's data."""
    from framework.cli.main import main

    project = tmp_path_factory.mktemp("project")
    (project / "data.csv").write_bytes((SPECS / "data/churn.csv").read_bytes())
    (project / "spec.yaml").write_text(SPEC)
    assert main(["run", str(project / "spec.yaml"), "--json"]) == 0
    os.mkfifo(project / "fifo.csv")
    os.mkfifo(project / "fifo.parquet")
    os.mkfifo(project / "fifo.yaml")
    os.mkfifo(project / "fifo.html")
    return project


def specops(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it; a command that waits on a FIFO fails the test, not hangs."""
    command = [sys.executable, "-m", "framework.cli.main", *args]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    try:
        return subprocess.run(
            command, cwd=project, capture_output=True, text=True, timeout=60, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"specops {' '.join(args)} waited for over 60 s")


PATH = "data.source.params.path"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["validate", "fifo.yaml"], "fifo.yaml is a FIFO (named pipe), not a regular file"),
        (["validate", "spec.yaml", "--set", f"{PATH}=fifo.csv"], "fifo.csv is a FIFO"),
        (["run", "spec.yaml", "--set", f"{PATH}=/dev/zero"], "/dev/zero is a character device"),
        (
            [
                "run",
                "spec.yaml",
                "--set",
                "data.source.type=parquet",
                "--set",
                f"{PATH}=fifo.parquet",
            ],
            "fifo.parquet is a FIFO",
        ),
        (["predict", "churn", "-i", "fifo.csv", "-o", "out.csv"], "fifo.csv is a FIFO"),
        (["predict", "churn", "-i", "fifo.parquet", "-o", "out.csv"], "fifo.parquet is a FIFO"),
        (["monitor", "spec.yaml", "--data", "fifo.csv"], "new data fifo.csv is a FIFO"),
        (
            ["monitor", "spec.yaml", "--data", "data.csv", "--report", "fifo.html"],
            "cannot write the report to fifo.html: fifo.html is a FIFO",
        ),
    ],
    ids=[
        "spec",
        "csv",
        "dev-zero",
        "parquet",
        "predict-csv",
        "predict-parquet",
        "monitor",
        "report",
    ],
)
def test_a_fifo_or_device_is_refused_at_once_not_waited_on(
    trained: Path, args: list[str], named: str
) -> None:
    done = specops(trained, *args)
    assert done.returncode == 2, done.stderr
    assert named in done.stderr and "Traceback" not in done.stderr
    assert not (trained / "out.csv").exists()


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ("spec.yaml", "a report is an HTML file, its name must end in .html"),
        ("data.csv", "a report is an HTML file, its name must end in .html"),
        ("notes.html", "the file exists and is not an HTML page"),
        ("link.html", "the file exists and is not an HTML page"),
    ],
)
def test_a_report_never_replaces_a_file_that_is_not_a_report(
    trained: Path, cli, report: str, message: str
) -> None:
    (trained / "notes.html").write_text("my notes, not a report\n")
    (trained / "link.html").unlink(missing_ok=True)
    (trained / "link.html").symlink_to("spec.yaml")
    before = {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()}
    result = cli(
        "monitor",
        trained / "spec.yaml",
        "--data",
        trained / "data.csv",
        "--report",
        trained / report,
    )
    assert result.code == 2
    assert f"cannot write the report to {trained / report}: {message}" in result.err
    assert {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()} == before


def test_a_report_replaces_an_earlier_report_and_a_link_is_replaced_not_followed(
    trained: Path, cli
) -> None:
    report = trained / "reports" / "drift.html"
    args = ("monitor", trained / "spec.yaml", "--data", trained / "data.csv", "--report", report)
    assert cli(*args).code == 0
    first = report.read_text()
    assert first.lstrip().lower().startswith("<!doctype html")
    target = trained / "reports" / "kept.html"
    target.write_text(first)
    report.unlink()
    report.symlink_to(target.name)
    assert cli(*args).code == 0
    assert not report.is_symlink() and target.read_text() == first
    assert not [p for p in report.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_lightgbm_trains_and_scores_columns_whose_names_lightgbm_refuses(
    tmp_path: Path, cli
) -> None:
    """An empty CSV header is pandas' ``Unnamed: 3``; LightGBM refuses ``:``, ``,``,
    brackets and quotes in feature names (it was exit 3, 'a bug in that plugin')."""
    frame = pd.read_csv(SPECS / "data/churn.csv").head(400)
    frame = frame.rename(columns={"support_calls": "", "tenure_months": 'tenure [months], "t"'})
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "spec.yaml").write_text(SPEC)
    run = cli("run", tmp_path / "spec.yaml")
    assert run.code == 0, run.err
    predicted = cli(
        "predict",
        "churn",
        "-i",
        tmp_path / "data.csv",
        "-o",
        tmp_path / "p.csv",
        "--store",
        tmp_path / ".specops",
    )
    assert predicted.code == 0, predicted.err
    assert len(pd.read_csv(tmp_path / "p.csv")) == 400


@pytest.fixture(scope="module")
def sql_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spec over a SQLite copy of the churn data (table ``customers``)."""
    import sqlite3

    project = tmp_path_factory.mktemp("sql")
    with sqlite3.connect(project / "db.sqlite") as db:
        pd.read_csv(SPECS / "data/churn.csv").head(300).to_sql("customers", db, index=False)
    (project / "spec.yaml").write_text(SPEC)
    os.mkfifo(project / "fifo.db")
    return project


def sql_run(cli, project: Path, query: str, path: str = "db.sqlite"):
    import json

    params = json.dumps({"path": path, "query": query})
    source = ("--set", "data.source.type=sql", "--set", f"data.source.params={params}")
    return cli("run", project / "spec.yaml", *source)


ENDLESS = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "


@pytest.mark.parametrize(
    ("query", "env", "message"),
    [
        (
            ENDLESS + "SELECT count(*) AS n FROM r",
            {"SPECOPS_SQL_TIMEOUT": "1"},
            "ran longer than 1 seconds and was stopped",
        ),
        (
            ENDLESS + "SELECT * FROM customers, r",  # r is built whole first: no row comes
            {"SPECOPS_SQL_TIMEOUT": "1"},
            "ran longer than 1 seconds and was stopped",
        ),
        (
            "SELECT * FROM customers a, customers b, customers c",
            {"SPECOPS_MAX_CELLS": "100000"},
            "returned more than 100,000 values (rows x columns) and was stopped",
        ),
        (
            "SELECT zeroblob(1000000000) AS x, * FROM customers",
            {},
            "string or blob too big (a value or row over 1,048,576 bytes)",
        ),
        (
            "SELECT printf('%.*c', 500000, 'x') AS x, * FROM customers",
            {"SPECOPS_MAX_QUERY_BYTES": "10000000"},
            "returned more than 10,000,000 bytes of text and blobs and was stopped",
        ),
    ],
    ids=["endless-cte", "endless-rows", "cross-join", "huge-blob", "many-bytes"],
)
def test_a_sql_query_without_end_is_stopped_with_the_limit_named(
    sql_project: Path, cli, monkeypatch: pytest.MonkeyPatch, query: str, env: dict, message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = sql_run(cli, sql_project, query)
    assert result.code == 2 and message in result.err, result.err
    assert "Traceback" not in result.err


def test_a_sql_time_limit_that_is_not_a_number_is_refused_by_name(
    sql_project: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECOPS_SQL_TIMEOUT", "soon")
    result = sql_run(cli, sql_project, "SELECT * FROM customers")
    assert result.code == 2, result.err
    assert "SPECOPS_SQL_TIMEOUT must be a whole number of seconds >= 1, got 'soon'" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    ("query", "path", "message"),
    [
        (
            "SELECT customer_id, churned, customer_id FROM customers",
            "db.sqlite",
            "returned more than one column named 'customer_id'",
        ),
        ('SELECT *, tenure_months AS "" FROM customers', "db.sqlite", "a column with no name"),
        ("SELECT zeroblob(8) AS x, * FROM customers", "db.sqlite", "column 'x' of binary"),
        ("SELECT * FROM customers", "fifo.db", "fifo.db is a FIFO (named pipe)"),
    ],
    ids=["duplicate-names", "empty-name", "blob-column", "fifo"],
)
def test_a_sql_result_no_step_can_take_is_refused_by_name(
    sql_project: Path, cli, query: str, path: str, message: str
) -> None:
    result = sql_run(cli, sql_project, query, path)
    assert result.code == 2 and message in result.err, result.err


@pytest.mark.parametrize("command", ["run", "monitor"])
def test_a_parquet_column_of_nested_values_is_refused_by_name(
    trained: Path, cli, command: str
) -> None:
    """A struct column reads as dicts: profiling failed with 'unhashable dict' (exit 3)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.read_csv(trained / "data.csv")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.append_column("nested", pa.array([{"a": [1, 2]}] * len(frame)))
    pq.write_table(table, trained / "nested.parquet")
    if command == "run":
        parquet = ("--set", "data.source.type=parquet", "--set", f"{PATH}=nested.parquet")
        result = cli("run", trained / "spec.yaml", *parquet)
        message = "source 'parquet' returned column 'nested' of nested values (dict)"
    else:
        result = cli("monitor", trained / "spec.yaml", "--data", trained / "nested.parquet")
        message = "column 'nested' holds nested values (dict)"
    assert result.code == 2 and message in result.err, result.err


def test_a_target_with_more_classes_than_the_limit_is_refused_before_training(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Class scores are rows x classes: 10^5 distinct labels in a small CSV asked for
    tens of GB; 3,000 took 22 s with 2 trees."""
    frame = pd.read_csv(SPECS / "data/churn.csv").head(300)
    frame["churned"] = [f"c{i % 60}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("task: binary", "task: multiclass"))
    monkeypatch.setenv("SPECOPS_MAX_CLASSES", "50")
    result = cli("run", tmp_path / "spec.yaml")
    assert result.code == 2
    assert "target 'churned' has 60 classes, more than the limit of 50" in result.err
    assert "SPECOPS_MAX_CLASSES" in result.err


def test_a_csv_header_naming_one_column_twice_is_refused_not_renamed(tmp_path: Path, cli) -> None:
    """pandas renamed the second 'tenure_months' to 'tenure_months.1' and the run
    trained on a column the file never named."""
    lines = (SPECS / "data/churn.csv").read_text().splitlines()[:301]
    rows = [lines[0] + ",tenure_months"] + [line + ",1" for line in lines[1:]]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "spec.yaml").write_text(SPEC)
    result = cli("run", tmp_path / "spec.yaml")
    assert result.code == 2
    assert "names column 'tenure_months' twice (columns 2 and 10 of the header)" in result.err
