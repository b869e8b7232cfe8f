"""`specops monitor` end to end: real data, a real champion, the real CLI and store."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SPECS


def _generator():
    spec = importlib.util.spec_from_file_location("make_subs", SPECS / "data/make_subscriptions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def subs(tmp_path: Path, cli) -> Path:
    """The monitoring example in a temporary directory, trained once (champion v1)."""
    target = tmp_path / "subs"
    (target / "data").mkdir(parents=True)
    for name in ("subscriptions_jan_jun.csv", "subscriptions_jul_sep.csv"):
        shutil.copy(SPECS / "data" / name, target / "data" / name)
    text = (SPECS / "subscriptions_monitor.yaml").read_text()
    (target / "spec.yaml").write_text(text.replace("n_estimators: 120", "n_estimators: 40"))
    result = cli("run", target / "spec.yaml", "--json")
    assert result.code == 0, result.err
    return target


def same_period_batch(directory: Path, rows_per_month: int = 200) -> Path:
    """Fresh customers from January-June: the same distribution as the training data."""
    make = _generator()
    rng = np.random.default_rng(99)
    make.PER_MONTH = rows_per_month
    frame = pd.concat([make.month(m, rng, 900_000 + m * 1000) for m in (4, 5, 6)])
    path = directory / "same.csv"
    frame.to_csv(path, index=False)
    return path


def store_state(directory: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(directory / ".specops" / "store.db") as db:
        return {
            t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("model_versions", "aliases", "alias_history")
        }


def test_drift_retrains_gates_and_promotes_with_the_chain_recorded(cli, subs: Path) -> None:
    result = cli(
        "monitor",
        subs / "spec.yaml",
        "--data",
        subs / "data/subscriptions_jul_sep.csv",
        "--labels",
        "churned",
        "--json",
    )
    report = json.loads(result.out)
    assert result.code == 0, report  # drift found, challenger promoted
    columns = {c["column"]: c for c in report["columns"]}
    assert set(columns) == {
        "plan",
        "channel",
        "region",
        "monthly_fee",
        "tenure_months",
        "watch_hours",
        "support_tickets",
        "prediction",
    }
    assert columns["monthly_fee"]["status"] == "drift"
    assert columns["monthly_fee"]["test"] == "wasserstein"
    assert "1,200 rows (> 1,000)" in columns["monthly_fee"]["reason"]
    assert columns["region"]["status"] == "ok" and columns["region"]["statistic"] < 0.1
    assert columns["prediction"]["test"] == "psi"  # named in monitor.drift.columns
    assert "'app' (" in columns["channel"]["detail"]  # a category never seen in training
    assert report["dataset_drift"]["detected"] is True
    assert report["performance"]["failed"] is True
    retrain = report["retrain"]
    assert retrain["status"] == "passed" and retrain["promoted_version"] == 2
    roc = next(v for v in retrain["gate"] if v["metric"] == "roc_auc")
    assert roc["passed"] and roc["value"] > roc["champion"]

    with sqlite3.connect(subs / ".specops/store.db") as db:
        trigger = db.execute(
            "SELECT trigger FROM runs WHERE id = ?", (retrain["run_id"],)
        ).fetchone()[0]
        champion = db.execute("SELECT version FROM aliases WHERE alias='champion'").fetchone()[0]
        retrained_at, monitor_ended_at = db.execute(
            "SELECT r.ended_at, m.ended_at FROM runs r JOIN monitor_runs m ON m.id = r.trigger"
            " WHERE r.id = ?",
            (retrain["run_id"],),
        ).fetchone()
    assert trigger == report["monitor_id"] and champion == 2
    # the monitor run ends after the retraining it ran
    assert datetime.fromisoformat(monitor_ended_at) >= datetime.fromisoformat(retrained_at)

    from framework.store import Store

    store = Store(subs / ".specops")
    try:
        for end in (report["monitor_id"], retrain["run_id"]):
            chain = store.monitor_chain(end)
            assert chain["monitor"]["id"] == report["monitor_id"]
            assert chain["retrain"]["id"] == retrain["run_id"]
            assert chain["promoted_version"] == 2 and chain["gate"]
            assert "monthly_fee" in chain["report"]["drifted_columns"]
            stored = store.artifacts.verified(chain["report"]["json_blob"], "report")
            assert json.loads(stored.read_text())["monitor_id"] == report["monitor_id"]
        assert store.monitor_chain("no-such-run") is None
    finally:
        store.close()

    shown = cli("runs", "show", retrain["run_id"], "--store", subs / ".specops")
    assert shown.code == 0
    assert f"monitor run {report['monitor_id']}" in shown.out
    assert f"retraining run {retrain['run_id']}: passed" in shown.out
    assert "gate: promoted version 2" in shown.out


def test_no_drift_exits_0_and_still_shows_every_statistic(
    cli, subs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    batch = same_period_batch(subs)
    result = cli("monitor", subs / "spec.yaml", "--data", batch)
    assert result.code == 0, result.out + result.err
    for column in ("plan", "monthly_fee", "watch_hours", "prediction"):
        assert column in result.out
    assert result.out.count(" ok ") >= 6 and "DRIFT" not in result.out
    assert "no drift" in result.out
    # the choice and its reason are shown, and the numbers are there without drift
    assert "chi_square" in result.out and "ks" in result.out and "p = " in result.out
    assert "a p-value test" in result.out


def test_on_drift_fail_exits_1_and_report_exits_0(cli, subs: Path) -> None:
    late = subs / "data/subscriptions_jul_sep.csv"
    spec = subs / "spec.yaml"
    before = store_state(subs)
    failed = cli("monitor", spec, "--data", late, "--set", "monitor.on_drift=fail", "--json")
    assert failed.code == 1 and json.loads(failed.out)["decision"] == "drift"
    reported = cli("monitor", spec, "--data", late, "--set", "monitor.on_drift=report", "--json")
    assert reported.code == 0
    assert "reported only" in json.loads(reported.out)["decision_text"]
    assert store_state(subs) == before  # no retraining, the champion stays


def test_html_report_is_self_contained_with_one_plot_per_column(cli, subs: Path) -> None:
    report = subs / "out" / "drift.html"
    result = cli(
        "monitor",
        subs / "spec.yaml",
        "--data",
        subs / "data/subscriptions_jul_sep.csv",
        "--set",
        "monitor.on_drift=fail",
        "--report",
        report,
    )
    assert result.code == 1
    html = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert html.count('<svg class="plot"') == 8 == html.count('class="card column"')
    assert "Drift detected" in html and "monthly_fee" in html and "(new)" in html


def test_history_shows_each_statistic_over_time(cli, subs: Path) -> None:
    spec = subs / "spec.yaml"
    same = same_period_batch(subs)
    late = subs / "data/subscriptions_jul_sep.csv"
    assert cli("monitor", spec, "--data", same).code == 0
    assert cli("monitor", spec, "--data", late, "--set", "monitor.on_drift=fail").code == 1
    store = subs / ".specops"
    result = cli("monitor", "history", "subscriptions", "--store", store, "--json")
    assert result.code == 0, result.err
    history = json.loads(result.out)
    assert [r["decision"] for r in history["runs"]] == ["no_drift", "drift"]
    fee = next(c for c in history["columns"] if c["column"] == "monthly_fee")
    assert len(fee["values"]) == 2 and fee["values"][1] > fee["values"][0]
    assert fee["drifted_runs"] == 1
    table = cli("monitor", "history", "subscriptions", "--store", store)
    assert table.code == 0 and "monthly_fee" in table.out and "▁█" in table.out
    missing = cli("monitor", "history", "subscriptons", "--store", store)
    assert missing.code == 2 and "did you mean 'subscriptions'" in missing.err


def test_from_log_reads_the_serving_prediction_log(cli, subs: Path) -> None:
    from framework.prediction_log import LogEntry, append_batch

    frame = pd.read_csv(same_period_batch(subs)).drop(columns=["churned", "customer_id", "month"])
    inputs = {c: frame[c].where(frame[c].notna(), None).tolist() for c in frame.columns}
    outputs = {"prediction": ["no"] * len(frame)}
    entry = LogEntry("subscriptions", 1, 1_700_000_000.0, len(frame), inputs, outputs)
    append_batch(subs / ".specops", [entry])
    spec = subs / "spec.yaml"
    no_checks = ("--set", "monitor.checks=[]")  # served requests carry no customer_id
    result = cli("monitor", spec, "--from-log", "--since", "2023-01-01", *no_checks, "--json")
    report = json.loads(result.out)
    assert result.code == 0, report
    assert report["rows"] == len(frame) and report["data"].startswith("prediction log")
    # with the spec's checks, the log's missing customer_id is a failed check: exit 1
    checked = json.loads(cli("monitor", spec, "--from-log", "--json").out)
    assert checked["decision"] == "failed_checks" and checked["exit_code"] == 1
    empty = cli("monitor", spec, "--from-log", "--since", "2030-01-01", "--json")
    assert empty.code == 2 and "the batch has no rows" in json.loads(empty.out)["problems"][0]


def test_a_warn_only_batch_check_is_reported_and_stops_nothing(cli, subs: Path) -> None:
    batch = same_period_batch(subs)
    warn = "monitor.checks=[{type: row_count, params: {min: 100000}, severity: warn}]"
    report = json.loads(
        cli("monitor", subs / "spec.yaml", "--data", batch, "--set", warn, "--json").out
    )
    failed = [c for c in report["checks"] if not c["passed"]]
    assert failed and failed[0]["detail"].startswith("(warning only)")
    assert report["decision"] != "failed_checks"
    error = warn.replace(", severity: warn", "")
    strict = cli("monitor", subs / "spec.yaml", "--data", batch, "--set", error, "--json")
    assert strict.code == 1 and json.loads(strict.out)["decision"] == "failed_checks"


def test_a_narrow_terminal_keeps_names_whole_and_rows_short(
    cli, subs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a pipe at 80 columns: no name broken mid-word, reasons as footnotes below."""
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("monitor", subs / "spec.yaml", "--data", subs / "data/subscriptions_jul_sep.csv")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    for name in ("support_tickets", "tenure_months", "monthly_fee", "watch_hours"):
        assert any(name in line for line in lines), name  # on one line, whole
    assert "why each test:" in result.out and "[1] " in result.out
    rows = [line for line in lines if line.startswith("│")]
    table = rows[: next(i for i, line in enumerate(rows) if "prediction" in line) + 1]
    assert len(table) <= 3 * 9  # 9 columns' rows, none grown many lines tall by a sentence


def test_a_partitioned_batch_is_judged_like_the_whole_file(cli, subs: Path) -> None:
    late = subs / "data/subscriptions_jul_sep.csv"
    frame = pd.read_csv(late)
    (subs / "parts").mkdir()
    for number, rows in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[rows].to_csv(subs / "parts" / f"{number}.csv", index=False)
        frame.iloc[rows].to_parquet(subs / "parts" / f"{number}.parquet", index=False)
    spec = subs / "spec.yaml"
    args = ("--set", "monitor.on_drift=report", "--labels", "churned", "--json")
    whole = json.loads(cli("monitor", spec, "--data", late, *args).out)
    for batch in (subs / "parts" / "*.csv", subs / "parts" / "*.parquet"):
        result = cli("monitor", spec, "--data", batch, *args)
        assert result.code == 1, result.err  # drift, reported; performance degraded
        report = json.loads(result.out)
        assert report["data"] == str(batch) and report["rows"] == 1200
        for key in ("monitor_id", "started_at", "seconds", "data", "data_hash"):
            report.pop(key), whole.pop(key, None)
        assert report == whole
    mixed = cli("monitor", spec, "--data", subs / "parts" / "*", "--json")
    assert mixed.code == 2 and "match only .csv or only .parquet files" in mixed.err
    nothing = cli("monitor", spec, "--data", subs / "parts" / "*.tsv")
    assert nothing.code == 2 and "no file matches" in nothing.err


def test_from_log_since_champion_judges_only_what_the_champion_answered(cli, subs: Path) -> None:
    """A scheduled monitor (the container target's CronJob) reads `--since champion`: the
    log from the current champion's promotion on, so traffic a retraining already saw is
    not judged (and retrained on) again; `--since 1h` counts back from now."""
    import time

    from framework.prediction_log import LogEntry, append_batch

    frame = pd.read_csv(same_period_batch(subs)).drop(columns=["churned", "customer_id", "month"])
    inputs = {c: frame[c].where(frame[c].notna(), None).tolist() for c in frame.columns}
    outputs = {"prediction": ["no"] * len(frame)}
    old = LogEntry("subscriptions", 1, 1_700_000_000.0, len(frame), inputs, outputs)
    recent = LogEntry("subscriptions", 1, time.time() + 5, len(frame), inputs, outputs)
    append_batch(subs / ".specops", [old, recent])
    spec = subs / "spec.yaml"
    no_checks = ("--set", "monitor.checks=[]")

    def rows(since: str) -> int:
        result = cli("monitor", spec, "--from-log", "--since", since, *no_checks, "--json")
        assert result.code == 0, result.err
        return json.loads(result.out)["rows"]

    assert rows("2023-01-01") == 2 * len(frame)
    assert rows("champion") == len(frame)  # promoted by the run, after the old entry
    assert rows("1h") == len(frame)
    assert rows("100000d") == 2 * len(frame)
