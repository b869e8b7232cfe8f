"""Batches the local monitor reads and the Dask one refused with exit 3 (RED F10): a
0-row file among the batch's files, and a ``category`` column whose categories differ
between files. The Dask verdicts must be the local ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from framework.monitoring.batch_rows import read_local
from plugins.dask_execution.monitoring import read_batch
from tests.conftest import SPECS
from tests.dask.test_monitor import (
    NO_RETRAIN,
    assert_same,
    comparable,
    judged,
    split_into_files,
)


@pytest.fixture(scope="module")
def subs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The monitoring example, trained once locally (champion subscriptions/1)."""
    from framework.cli.main import main

    target = tmp_path_factory.mktemp("fix2-monitor")
    (target / "data").mkdir()
    shutil.copy(SPECS / "data/subscriptions_jan_jun.csv", target / "data")
    text = (SPECS / "subscriptions_monitor.yaml").read_text()
    for old, new in NO_RETRAIN.items():
        text = text.replace(old, new)
    (target / "spec.yaml").write_text(text)
    assert main(["run", str(target / "spec.yaml"), "--json"]) == 0
    return target


def july(rows: int = 600) -> pd.DataFrame:
    return pd.read_csv(SPECS / "data/subscriptions_jul_sep.csv").iloc[:rows]


def test_a_file_with_no_rows_among_the_batch_is_judged_as_locally(dask_client, subs: Path) -> None:
    frame = july()
    path = split_into_files(frame, subs / "with-empty", ".parquet", parts=2)
    frame.iloc[:0].to_parquet(path / "part-5.parquet", index=False)
    local = judged(subs, read_local(path))
    dask = judged(subs, read_batch(dask_client, path))
    assert local.rows == 600
    assert_same(comparable(dask), comparable(local))


def test_only_empty_files_are_judged_as_locally(dask_client, subs: Path) -> None:
    folder = subs / "all-empty"
    folder.mkdir()
    july().iloc[:0].to_parquet(folder / "part-0.parquet", index=False)
    july().iloc[:0].to_parquet(folder / "part-1.parquet", index=False)
    try:
        local = comparable(judged(subs, read_local(folder), labels=None))
    except Exception as exc:  # the local path refuses it: Dask must refuse it alike
        with pytest.raises(type(exc)) as caught:
            judged(subs, read_batch(dask_client, folder), labels=None)
        assert str(caught.value) == str(exc)
        return
    assert_same(comparable(judged(subs, read_batch(dask_client, folder), labels=None)), local)


def test_categories_that_differ_between_files_are_judged_as_locally(
    dask_client, subs: Path
) -> None:
    folder = subs / "categories"
    folder.mkdir()
    frame = july()
    for number, rows in enumerate((frame.iloc[:300], frame.iloc[300:])):
        rows = rows.copy()
        rows["plan"] = rows["plan"].astype("category")
        rows["region"] = rows["region"].astype("category")
        if number == 1:
            rows["plan"] = rows["plan"].cat.add_categories(["legacy"])
        rows.to_parquet(folder / f"part-{number}.parquet", index=False)
    local = judged(subs, read_local(folder))
    dask = judged(subs, read_batch(dask_client, folder))
    assert local.rows == 600
    assert_same(comparable(dask), comparable(local))


def test_specops_monitor_exits_as_locally_on_both_batches(cli, dask_address, subs: Path) -> None:
    frame = july()
    empty = split_into_files(frame, subs / "cli-empty", ".parquet", parts=2)
    frame.iloc[:0].to_parquet(empty / "part-9.parquet", index=False)
    cats = subs / "cli-cats"
    cats.mkdir()
    for number, rows in enumerate((frame.iloc[:200], frame.iloc[200:])):
        rows = rows.copy()
        rows["channel"] = rows["channel"].astype("category")
        if number:
            rows["channel"] = rows["channel"].cat.add_categories(["fax"])
        rows.to_parquet(cats / f"part-{number}.parquet", index=False)
    for path in (empty, cats):
        args = ("monitor", subs / "spec.yaml", "--data", path, "--json")
        local = cli(*args)
        dask = cli(*args, "--execution", "dask", "--address", dask_address)
        assert dask.code == local.code, dask.err
        assert local.code in (0, 1), local.err
        mine, theirs = json.loads(dask.out), json.loads(local.out)
        for report in (mine, theirs):
            for key in ("monitor_id", "started_at", "seconds", "data_hash"):
                report.pop(key)
        assert_same(mine, theirs)


@pytest.mark.parametrize("case", ["empty file", "categories"])
def test_retraining_on_the_cluster_reads_such_a_batch_again(
    cli, dask_address, subs: Path, tmp_path: Path, case: str
) -> None:
    own = tmp_path / "subs"
    shutil.copytree(subs, own)  # this test's retraining must not move the others' champion
    frame = pd.read_csv(SPECS / "data/subscriptions_jul_sep.csv")
    folder = own / "batch"
    folder.mkdir()
    for number, rows in enumerate((frame.iloc[:1000], frame.iloc[1000:])):
        rows = rows.copy()
        if case == "categories":
            rows["plan"] = rows["plan"].astype("category")
            if number:
                rows["plan"] = rows["plan"].cat.add_categories(["legacy"])
        rows.to_parquet(folder / f"part-{number}.parquet", index=False)
    if case == "empty file":
        frame.iloc[:0].to_parquet(folder / "part-5.parquet", index=False)
    args = ("monitor", own / "spec.yaml", "--data", folder, "--retrain", "--json")
    result = cli(*args, "--execution", "dask", "--address", dask_address)
    assert result.code in (0, 1), result.err
    retrain = json.loads(result.out)["retrain"]
    assert retrain["status"] in ("passed", "rejected") and retrain["run_id"], retrain
    assert retrain["rows"] == 2400
