"""Monitoring a partitioned batch on the shared LocalCluster: the same verdicts,
statistics and messages as the local path on the same rows.

The champion is trained with the local path (``specops run`` on the subscriptions
example), so these tests depend on nothing but monitoring.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework.monitoring.batch_rows import read_local
from framework.monitoring.monitor import MonitorResult, judge_batch
from plugins.dask_execution.monitoring import read_batch
from tests.conftest import SPECS

NO_RETRAIN = {
    "n_estimators: 120": "n_estimators: 40",
    "on_drift: retrain": "on_drift: report",
}


@pytest.fixture(scope="module")
def subs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The monitoring example, trained once locally (champion subscriptions/1)."""
    from framework.cli.main import main

    target = tmp_path_factory.mktemp("dask-monitor")
    (target / "data").mkdir()
    for name in ("subscriptions_jan_jun.csv", "subscriptions_jul_sep.csv"):
        shutil.copy(SPECS / "data" / name, target / "data" / name)
    text = (SPECS / "subscriptions_monitor.yaml").read_text()
    for old, new in NO_RETRAIN.items():
        assert old in text
        text = text.replace(old, new)
    (target / "spec.yaml").write_text(text)
    assert main(["run", str(target / "spec.yaml"), "--json"]) == 0
    return target


def split_into_files(frame: pd.DataFrame, folder: Path, suffix: str, parts: int = 3) -> Path:
    """``frame`` as ``parts`` files in ``folder``; returns the glob (CSV) or folder (Parquet)."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        chunk = frame.iloc[rows]
        path = folder / f"part-{number}{suffix}"
        if suffix == ".csv":
            chunk.to_csv(path, index=False)
        else:
            chunk.to_parquet(path, index=False)
    return folder / "*.csv" if suffix == ".csv" else folder


def judged(directory: Path, batch: Any, labels: str | None = "churned") -> MonitorResult:
    from framework.plugins import get_plugins
    from framework.spec import load_spec
    from framework.store import Store

    plugins = get_plugins()
    spec = load_spec(directory / "spec.yaml", plugins)
    store = Store.open_existing(spec.store_path)
    try:
        return judge_batch(spec, plugins, store, batch, labels)
    finally:
        store.close()


def comparable(result: MonitorResult) -> dict[str, Any]:
    """What a user sees of a verdict: everything but ids, times, paths and the hash."""
    report = result.to_dict()
    for key in ("monitor_id", "started_at", "seconds", "data", "data_hash", "spec"):
        report.pop(key)
    return report


def assert_same(dask: dict[str, Any], local: dict[str, Any]) -> None:
    """Equal, numbers to 1e-9 (sums over partitions may differ in the last bits)."""
    if isinstance(local, dict):
        assert isinstance(dask, dict) and dask.keys() == local.keys(), (dask, local)
        for key in local:
            assert_same(dask[key], local[key])
    elif isinstance(local, list):
        assert isinstance(dask, list) and len(dask) == len(local), (dask, local)
        for a, b in zip(dask, local, strict=True):
            assert_same(a, b)
    elif isinstance(local, float) and not isinstance(local, bool):
        assert dask == pytest.approx(local, rel=1e-9, abs=1e-12)
    else:
        assert dask == local


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_drifted_batch_gets_the_local_verdicts(dask_client, subs: Path, suffix: str) -> None:
    frame = pd.read_csv(subs / "data/subscriptions_jul_sep.csv")
    path = split_into_files(frame, subs / f"jul_sep{suffix[1:]}", suffix)
    local = judged(subs, read_local(path))
    dask = judged(subs, read_batch(dask_client, path))
    assert local.drift.detected and local.rows == 1200
    assert_same(comparable(dask), comparable(local))
    whole = judged(subs, read_local(subs / "data/subscriptions_jul_sep.csv"))
    assert_same(comparable(dask), comparable(whole))  # partitioning changes nothing
    assert local.performance is not None and local.performance.verdicts


def test_a_batch_like_the_training_data_is_no_drift_on_both(dask_client, subs: Path) -> None:
    frame = pd.read_csv(subs / "data/subscriptions_jan_jun.csv").iloc[::2]
    path = split_into_files(frame, subs / "jan_jun_half", ".parquet", parts=4)
    local = judged(subs, read_local(path), labels=None)
    dask = judged(subs, read_batch(dask_client, path), labels=None)
    assert local.decision == "no_drift"
    assert_same(comparable(dask), comparable(local))


def test_text_in_a_number_column_and_new_categories_are_named_alike(
    dask_client, subs: Path
) -> None:
    frame = pd.read_csv(subs / "data/subscriptions_jul_sep.csv")
    frame["tenure_months"] = frame["tenure_months"].astype(object)
    frame.loc[[850, 1100], "tenure_months"] = ["n/a?", "soon"]
    frame.loc[[3, 900, 901], "plan"] = ["ultra", "ultra", "mega"]
    path = split_into_files(frame, subs / "broken", ".csv", parts=4)
    local = judged(subs, read_local(path))
    dask = judged(subs, read_batch(dask_client, path))
    assert local.decision == "error"
    tenure = "column 'tenure_months': was numeric in training; here it holds text: 2 value(s)"
    assert any(p.startswith(tenure) for p in local.problems), local.problems
    assert "'n/a?' (row 850), 'soon' (row 1100)" in " ".join(local.problems)
    plan = next(c for c in local.columns if c.column == "plan")
    assert "never seen in training: 'ultra' (2 rows), 'mega' (1 row)" in plan.detail
    assert_same(comparable(dask), comparable(local))


def test_an_empty_and_a_missing_column_are_judged_alike(dask_client, subs: Path) -> None:
    frame = pd.read_csv(subs / "data/subscriptions_jul_sep.csv").drop(columns="region")
    frame["watch_hours"] = np.nan
    path = split_into_files(frame, subs / "gaps", ".parquet", parts=2)
    local = judged(subs, read_local(path), labels=None)
    dask = judged(subs, read_batch(dask_client, path), labels=None)
    region = next(c for c in local.columns if c.column == "region")
    assert region.note.startswith("missing from the new data")
    hours = next(c for c in local.columns if c.column == "watch_hours")
    assert hours.status == "no data"
    assert_same(comparable(dask), comparable(local))


def test_specops_monitor_on_a_cluster_reports_what_local_reports(
    cli, dask_address, subs: Path
) -> None:
    import json

    frame = pd.read_csv(subs / "data/subscriptions_jul_sep.csv")
    path = split_into_files(frame, subs / "cli_batch", ".parquet", parts=3)
    spec = subs / "spec.yaml"
    args = ("monitor", spec, "--data", path, "--labels", "churned", "--json")
    local = cli(*args)
    dask = cli(*args, "--execution", "dask", "--address", dask_address)
    assert dask.code == local.code == 1, dask.err  # drift and degraded
    mine, theirs = json.loads(dask.out), json.loads(local.out)
    for report in (mine, theirs):
        for key in ("monitor_id", "started_at", "seconds", "data_hash"):
            report.pop(key)
    assert_same(mine, theirs)
    dask_spec = ("--set", "execution.type=dask")  # a spec that says dask takes --address alone
    shown = cli("monitor", spec, "--data", path, *dask_spec, "--address", dask_address)
    assert shown.code == 0 and "tenure_months" in shown.out and "reported only" in shown.out


def test_drift_retrains_on_the_cluster_from_the_batch_files(
    cli, dask_address, subs: Path, tmp_path: Path
) -> None:
    import json

    from framework.monitoring.retrain import frame_window
    from framework.plugins import get_plugins
    from framework.spec import load_spec

    own = tmp_path / "subs"
    shutil.copytree(subs, own)  # this test's retraining must not move the others' champion
    frame = pd.read_csv(own / "data/subscriptions_jul_sep.csv")
    path = split_into_files(frame, own / "retrain_batch", ".parquet", parts=2)
    spec = own / "spec.yaml"
    args = ("monitor", spec, "--data", path, "--retrain", "--json")
    result = cli(*args, "--execution", "dask", "--address", dask_address)
    assert result.code in (0, 1), result.err
    retrain = json.loads(result.out)["retrain"]
    assert retrain["status"] in ("passed", "rejected") and retrain["run_id"], retrain
    local = frame_window(load_spec(spec, get_plugins()), get_plugins(), frame)
    assert retrain["note"] == local.description
    assert retrain["rows"] == local.rows == 2400
    shown = cli("runs", "show", retrain["run_id"], "--store", own / ".specops", "--json")
    assert shown.code == 0, shown.err
    assert found(json.loads(shown.out), "execution.type") == "dask"  # trained on the cluster


def found(report: Any, key: str) -> Any:
    """The value of ``key`` anywhere in a JSON report (None when absent)."""
    if isinstance(report, dict):
        if key in report:
            return report[key]
        report = list(report.values())
    if isinstance(report, list):
        for item in report:
            value = found(item, key)
            if value is not None:
                return value
    return None


def test_a_window_the_cluster_cannot_read_is_a_retraining_error(
    cli, dask_address, subs: Path
) -> None:
    frame = pd.read_csv(subs / "data/subscriptions_jul_sep.csv").drop(columns="churned")
    path = split_into_files(frame, subs / "unlabelled", ".parquet", parts=2)
    result = cli(
        "monitor", subs / "spec.yaml", "--data", path, "--retrain",
        "--execution", "dask", "--address", dask_address,
    )  # fmt: skip
    assert result.code == 2, result.err
    assert "retraining needs labels" in result.out


def test_failed_data_checks_are_the_local_ones(dask_client, subs: Path) -> None:
    frame = pd.read_csv(subs / "data/subscriptions_jul_sep.csv")
    frame.loc[1000, "customer_id"] = frame.loc[10, "customer_id"]  # across partitions
    frame.loc[frame.index[::9], "support_tickets"] = np.nan  # 11% missing > 5%
    path = split_into_files(frame, subs / "failing", ".parquet", parts=3)
    local = judged(subs, read_local(path), labels=None)
    dask = judged(subs, read_batch(dask_client, path), labels=None)
    assert local.decision == "failed_checks"
    failed = {(c.check, c.column) for c in local.failed_checks}
    assert failed == {("unique", "customer_id"), ("max_null_fraction", "support_tickets")}
    assert_same(comparable(dask), comparable(local))


def test_an_unreadable_file_of_the_batch_is_named(cli, dask_address, subs: Path) -> None:
    frame = pd.read_csv(subs / "data/subscriptions_jul_sep.csv")
    path = split_into_files(frame, subs / "damaged", ".parquet", parts=3)
    (path / "part-1.parquet").write_bytes(b"PAR1 this is not a Parquet file")
    args = ("monitor", subs / "spec.yaml", "--data", path)
    for extra in ((), ("--execution", "dask", "--address", dask_address)):
        result = cli(*args, *extra)
        assert result.code == 2 and "Traceback" not in result.err, result.err
        assert str(path / "part-1.parquet") in result.err


def test_an_address_without_a_cluster_executor_is_exit_2(cli, subs: Path) -> None:
    result = cli("monitor", subs / "spec.yaml", "--data", subs / "data", "--address", "tcp://x:1")
    assert result.code == 2 and "add --execution dask" in result.err
