"""Bad batches for `specops monitor`: a clear message, what could not be computed and why,
never a traceback, and the champion and its stored profile untouched."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SPECS

SPEC = """
name: subs
task: binary
seed: 3
data:
  source: {type: csv, params: {path: train.csv}}
  target: churned
  exclude: [customer_id, month]
model: {type: lightgbm, params: {n_estimators: 15}}
monitor:
  on_drift: retrain
"""


@pytest.fixture
def trained(tmp_path: Path, cli) -> Path:
    shutil.copy(SPECS / "data/subscriptions_jan_jun.csv", tmp_path / "train.csv")
    (tmp_path / "spec.yaml").write_text(SPEC)
    assert cli("run", tmp_path / "spec.yaml").code == 0
    return tmp_path


def batch(directory: Path, change) -> Path:
    frame = pd.read_csv(SPECS / "data/subscriptions_jul_sep.csv").head(300)
    frame = change(frame)
    path = directory / "batch.csv"
    frame.to_csv(path, index=False)
    return path


def protected(directory: Path) -> tuple:
    """What a failed monitor run must never change: versions, aliases, their blobs."""
    with sqlite3.connect(directory / ".specops/store.db") as db:
        rows = tuple(
            tuple(db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall())
            for t in ("model_versions", "aliases", "alias_history")
        )
        files = json.loads(db.execute("SELECT files_json FROM model_versions").fetchone()[0])
    blob = directory / ".specops/artifacts" / files["profile.json"][:2] / files["profile.json"][2:]
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == files["profile.json"]
    return rows


def with_type(frame: pd.DataFrame) -> pd.DataFrame:
    frame["monthly_fee"] = frame["monthly_fee"].astype(str)
    frame.loc[frame.index[3], "monthly_fee"] = "twelve"
    return frame


CASES = [
    (
        lambda f: f.drop(columns=["monthly_fee", "plan"]),
        2,
        ["column 'plan': missing from the new data", "column 'monthly_fee': missing"],
    ),
    (with_type, 2, ["was numeric in training; here it holds text", "'twelve' (row 3)"]),
    (lambda f: f.head(0), 2, ["the batch has no rows"]),
    (
        lambda f: f.assign(watch_hours=float("nan")),
        1,
        ["all 300 values are missing (training: 2.", "column(s) with no values: watch_hours"],
    ),
    (
        lambda f: f.assign(plan=7),
        2,
        ["column 'plan': was categorical in training (e.g. 'basic'", "here it holds numbers"],
    ),
]


@pytest.mark.parametrize(("change", "code", "messages"), CASES, ids=lambda c: str(c)[:12])
def test_bad_batch_says_what_it_could_not_compute(cli, trained: Path, change, code, messages):
    before = protected(trained)
    path = batch(trained, change)
    result = cli("monitor", trained / "spec.yaml", "--data", path, "--json")
    assert result.code == code, result.out + result.err
    assert "Traceback" not in result.out + result.err
    text = result.out
    for message in messages:
        assert message in text, (message, text[:3000])
    report = json.loads(text)
    assert report["retrain"] is None  # never retrained on bad or broken data
    assert protected(trained) == before
    human = cli("monitor", trained / "spec.yaml", "--data", path)
    assert human.code == code and "Traceback" not in human.out + human.err
    assert ("could not compute" in human.out) == (code == 2)


def test_unseen_category_is_named_and_counted_as_drift_evidence(cli, trained: Path) -> None:
    path = batch(trained, lambda f: f.assign(region=["moon"] * 40 + list(f.region[40:])))
    result = cli("monitor", trained / "spec.yaml", "--data", path, "--json")
    region = next(c for c in json.loads(result.out)["columns"] if c["column"] == "region")
    assert "never seen in training: 'moon' (40 rows)" in region["detail"]
    assert region["status"] == "drift"


def test_labels_unknown_to_the_model_are_bad_input(cli, trained: Path) -> None:
    before = protected(trained)
    path = batch(trained, lambda f: f.assign(churned=["maybe"] * 3 + list(f.churned[3:])))
    result = cli("monitor", trained / "spec.yaml", "--data", path, "--labels", "churned", "--json")
    assert result.code == 2
    report = json.loads(result.out)
    problem = "label column 'churned' has values the model never saw in training: 'maybe' (3 rows)"
    assert problem in report["performance"]["problem"]
    assert "it knows: no, yes" in report["performance"]["problem"]
    assert all(c["status"] in ("ok", "drift") for c in report["columns"])  # drift still judged
    assert protected(trained) == before
    wrong = cli("monitor", trained / "spec.yaml", "--data", path, "--labels", "churn", "--json")
    assert "label column 'churn' is not in the new data; did you mean 'churned'?" in wrong.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "nowhere.csv"], "new data file not found"),
        (["--data", "spec.yaml"], "expected a .csv or .parquet file"),
        ([], "no new data: pass --data FILE"),
        (["--data", "x.csv", "--from-log"], "either --data FILE or --from-log"),
        (
            ["--data", "x.csv", "--since", "2024-07-01"],
            "select a window of the log: add --from-log",
        ),
        (["x.csv"], "unexpected argument"),
        (["--data", "x.csv", "--store", "elsewhere"], "no specops store at elsewhere"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(cli, trained: Path, args, message) -> None:
    paths = [str(trained / a) if a.endswith((".csv", ".yaml")) else a for a in args]
    result = cli("monitor", trained / "spec.yaml", *paths)
    assert result.code == 2 and message in result.err and "Traceback" not in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history", "subs", "--limit", "0"], "argument --limit: expected a whole number >= 1"),
        (["spec.yaml", "--from-log", "--until", "yesterday"], "argument --until: expected an ISO"),
        (["spec.yaml", "--from-log", "--since", "7/1/2024"], "argument --since: expected an ISO"),
        (["spec.yaml", "--from-log", "--since", "1 hour"], "a duration back from now such as 1h"),
    ],
)
def test_malformed_options_are_refused_before_anything_runs(cli, capsys, args, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("monitor", *args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_history_without_a_name_says_what_it_needs(cli) -> None:
    result = cli("monitor", "history")
    assert result.code == 2
    assert "monitor history needs the model's name: `specops monitor history NAME`" in result.err


def runs_recorded(directory: Path) -> int:
    with sqlite3.connect(directory / ".specops/store.db") as db:
        return db.execute("SELECT COUNT(*) FROM monitor_runs").fetchone()[0]


@pytest.mark.parametrize(
    ("report", "message"),
    [("spec.yaml/drift.html", "spec.yaml is a file, not a directory"), (".", "it is a directory")],
)
def test_an_unwritable_report_path_stops_before_judging_or_retraining(
    cli, trained: Path, report: str, message: str
) -> None:
    before = protected(trained)
    late = SPECS / "data/subscriptions_jul_sep.csv"  # drift, and on_drift: retrain
    result = cli("monitor", trained / "spec.yaml", "--data", late, "--report", trained / report)
    assert result.code == 2 and f"cannot write the report to {trained / report}" in result.err
    assert message in result.err
    assert protected(trained) == before and runs_recorded(trained) == 0


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "monitor.columns=[plann]",
            "monitor.columns names 'plann', which the champion was not trained on; "
            "did you mean 'plan'?",
        ),
        (
            "monitor.drift.columns.plan.type=ks",
            "drift test 'ks' (monitor.drift.columns.plan) does not apply to categorical column "
            "'plan'; it applies to: numeric",
        ),
    ],
)
def test_a_monitor_section_the_champion_cannot_meet_is_bad_input(
    cli, trained: Path, setting: str, message: str
) -> None:
    before = protected(trained)
    path = batch(trained, lambda f: f)
    result = cli("monitor", trained / "spec.yaml", "--data", path, "--set", setting)
    assert result.code == 2 and message in result.err and "Traceback" not in result.err
    assert protected(trained) == before and runs_recorded(trained) == 0


def test_a_version_trained_before_monitoring_has_no_profile_to_compare_with(
    cli, trained: Path
) -> None:
    with sqlite3.connect(trained / ".specops/store.db") as db:  # as an older store has it
        db.execute(
            "UPDATE model_versions SET files_json = json_remove(files_json, '$.\"profile.json\"')"
        )
    result = cli("monitor", trained / "spec.yaml", "--data", batch(trained, lambda f: f))
    assert result.code == 2
    assert "subs/1 has no reference profile (profile.json)" in result.err
    assert "run `specops run SPEC` to train a version that has one" in result.err


def test_no_store_or_no_champion_is_a_clear_error(cli, tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    shutil.copy(SPECS / "data/subscriptions_jan_jun.csv", tmp_path / "train.csv")
    shutil.copy(SPECS / "data/subscriptions_jul_sep.csv", tmp_path / "new.csv")
    args = ("monitor", tmp_path / "spec.yaml", "--data", tmp_path / "new.csv")
    result = cli(*args)
    assert result.code == 2 and "no specops store" in result.err
    from framework.store import Store

    Store(tmp_path / ".specops").close()
    result = cli(*args)
    assert result.code == 2 and "no model named 'subs'" in result.err


def test_retraining_without_labels_says_so_and_keeps_the_champion(cli, trained: Path) -> None:
    before = protected(trained)
    late = pd.read_csv(SPECS / "data/subscriptions_jul_sep.csv").drop(columns=["churned"])
    late.to_csv(trained / "late.csv", index=False)
    result = cli("monitor", trained / "spec.yaml", "--data", trained / "late.csv", "--json")
    report = json.loads(result.out)
    assert result.code == 2 and report["decision"] == "drift"
    assert report["retrain"]["status"] == "error" and report["retrain"]["run_id"] is None
    assert "retraining needs labels" in report["retrain"]["note"]
    assert "retraining failed" in report["decision_text"]
    assert protected(trained) == before


def test_a_damaged_prediction_log_entry_is_named_and_nothing_changes(cli, trained: Path) -> None:
    from framework.prediction_log import LogEntry, append_batch

    frame = pd.read_csv(SPECS / "data/subscriptions_jul_sep.csv").head(100)
    inputs = {c: frame[c].where(frame[c].notna(), None).tolist() for c in frame.columns}
    entry = LogEntry("subs", 1, 1_700_000_000.0, len(frame), inputs, {"prediction": [0] * 100})
    append_batch(trained / ".specops", [entry])
    with sqlite3.connect(trained / ".specops/store.db") as db:
        db.execute("UPDATE prediction_log SET inputs = ?", (b"SPC1\x05\x00\x00\x00[1,2]",))
    before = protected(trained)
    result = cli("monitor", trained / "spec.yaml", "--from-log", "--since", "2023-01-01")
    assert result.code == 2 and "Traceback" not in result.out + result.err
    assert "prediction log entry 1 of 'subs' is damaged" in result.err
    assert "--since/--until" in result.err
    assert protected(trained) == before
