"""`split: {type: time}` on Dask, end to end through the CLI on the shared cluster: the
same train and test rows as the local time split, a time rule in the lineage (column and
cutoff) that the gate reads when the version is the champion, and `reproduce`."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import training_rows

PARTS = 4


def write_timed_parts(directory: Path) -> pd.DataFrame:
    """The breast cancer table (569 rows) with a ``day`` column (several rows a day, in
    no particular order), as a Parquet dataset of 4 files; the table, as written."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(11)
    frame.insert(
        0,
        "day",
        pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 150, len(frame)), unit="D"),
    )
    directory.mkdir(parents=True)
    size = -(-len(frame) // PARTS)
    for number in range(PARTS):
        frame.iloc[number * size : (number + 1) * size].to_parquet(
            directory / f"part-{number}.parquet", index=False
        )
    return frame


def spec_text(execution: str, test_size: float) -> str:
    return textwrap.dedent(f"""
        name: bc
        task: binary
        seed: 3
        execution: {execution}
        data:
          source: {{type: parquet, params: {{path: parts}}}}
          target: target
          split: {{type: time, params: {{column: day, test_size: {test_size}}}}}
        model:
          type: lightgbm
          params: {{n_estimators: 30, num_leaves: 7, min_child_samples: 10}}
        gate:
          roc_auc: {{min: 0.9, max_drop: 0.5}}
        """).lstrip()


@pytest.fixture
def table(tmp_path: Path) -> pd.DataFrame:
    return write_timed_parts(tmp_path / "parts")


def _run(cli: Any, project: Path, execution: str, test_size: float) -> dict:
    spec = project / "spec.yaml"
    spec.write_text(spec_text(execution, test_size))
    result = cli("run", spec, "--json")
    assert result.code in (0, 1), result.err + result.out  # the gate may say no
    return json.loads(result.out)


def _split_counts(report: dict) -> tuple[int, int]:
    detail = next(s for s in report["steps"] if s["name"] == "split")["detail"]
    found = re.match(r"([\d,]+) train / ([\d,]+) test", detail)
    assert found, detail
    return int(found[1].replace(",", "")), int(found[2].replace(",", ""))


def _gate_rows(report: dict) -> tuple[int, int]:
    """(rows both scored on, test rows left out as the champion's training rows)."""
    gate = next(s for s in report["steps"] if s["name"] == "gate")
    found = re.search(
        r"champion bc/1 and candidate scored on ([\d,]+) rows neither trained on "
        r"\(([\d,]+) test rows were in the champion's training data\)",
        gate["detail"],
    )
    assert found, gate["detail"]
    return int(found[1].replace(",", "")), int(found[2].replace(",", ""))


def test_the_time_split_on_dask_trains_and_is_gated_on_the_local_rows(
    cli: Any, tmp_path: Path, table: pd.DataFrame, dask_address: str
) -> None:
    on_dask = f"{{type: dask, params: {{address: '{dask_address}'}}}}"
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    for project in (local, cluster):
        project.mkdir()
        (project / "parts").symlink_to(tmp_path / "parts")

    local_first = _run(cli, local, "{type: local}", 0.25)
    dask_first = _run(cli, cluster, on_dask, 0.25)
    assert local_first["status"] == dask_first["status"] == "passed"

    # the same rows: counts, and the local version's training fingerprints are exactly
    # the rows earlier than the cutoff the Dask version recorded
    assert _split_counts(dask_first) == _split_counts(local_first)
    entry = dask_first["lineage"]["training_rows"]
    assert entry["scheme"] == "time-split/1" and entry["column"] == "day"
    first_test_day = table["day"].sort_values().iloc[-int(np.ceil(0.25 * len(table)))]
    assert pd.Timestamp(entry["cutoff"]) == first_test_day
    assert entry["rows"] == _split_counts(local_first)[0]
    hashed = [c for c in table.columns if c not in ("day", "target")] + ["target"]
    hashes = training_rows.row_hashes(table, hashed)
    from framework.store import Store

    store = Store(local / ".specops")
    try:
        local_trained = training_rows.members(store, local_first["lineage"]["training_rows"], table)
    finally:
        store.close()
    rule = training_rows.TimeRows.from_entry(entry, "bc/1")
    assert np.array_equal(np.sort(np.unique(hashes[rule.in_frame(table)])), local_trained)

    # a challenger testing on more of the latest rows: the gate leaves out the ones the
    # champion trained on and compares both on the champion's own test rows, locally and
    # on the cluster alike
    local_second = _run(cli, local, "{type: local}", 0.4)
    dask_second = _run(cli, cluster, on_dask, 0.4)
    champion_test = _split_counts(local_first)[1]
    challenger_test = _split_counts(local_second)[1]
    assert _split_counts(dask_second) == _split_counts(local_second)
    expected = (champion_test, challenger_test - champion_test)
    assert _gate_rows(local_second) == expected
    assert _gate_rows(dask_second) == expected

    # the other way round: a local candidate against the champion now, the Dask one
    # just promoted (bc/2, trained on rows before its earlier cutoff): none of the
    # candidate's test rows are among them
    local_third = _run(cli, cluster, "{type: local}", 0.25)
    gate = next(s for s in local_third["steps"] if s["name"] == "gate")["detail"]
    assert (
        f"champion bc/2 and candidate scored on all {champion_test:,} test rows; "
        "neither trained on any of them"
    ) in gate

    # and the Dask version reproduces from its snapshot, on the cluster
    (tmp_path / "parts").rename(tmp_path / "gone")
    result = cli("reproduce", dask_first["run_id"], "--store", cluster / ".specops", "--json")
    reproduced = json.loads(result.out)
    differing = [c for c in reproduced["comparisons"] if c["match"] is False]
    assert result.code == 0 and reproduced["matched"] is True, differing or result.err


def _repeats(report: dict) -> str:
    return next(s for s in report["steps"] if s["name"] == "gate")["detail"]


def test_rows_repeated_across_the_cutoff_are_left_out_of_the_gate_as_locally(
    cli: Any, tmp_path: Path, dask_address: str
) -> None:
    """The time column is not hashed, so the same features and target on a late day
    and an early one fall on both sides of a time split: the gate must not score the
    candidate on rows it trained on, on Dask as locally."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(5)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 150, len(frame)), "D")
    frame.insert(0, "day", days)
    # rows the candidate (test 25 %) trains on and the champion (test 40 %) did not,
    # again on the last day: in the candidate's test split, repeats of its training rows
    ordered = frame.sort_values("day")
    again = ordered.iloc[int(0.68 * len(frame)) : int(0.78 * len(frame))]
    again = again.assign(day=frame["day"].max())
    table = pd.concat([frame, again], ignore_index=True).sample(frac=1.0, random_state=1)
    (tmp_path / "parts").mkdir()
    size = -(-len(table) // PARTS)
    for number in range(PARTS):
        table.iloc[number * size : (number + 1) * size].to_parquet(
            tmp_path / "parts" / f"part-{number}.parquet", index=False
        )
    on_dask = f"{{type: dask, params: {{address: '{dask_address}'}}}}"
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    details = {}
    for project, execution in ((local, "{type: local}"), (cluster, on_dask)):
        project.mkdir()
        (project / "parts").symlink_to(tmp_path / "parts")
        assert _run(cli, project, execution, 0.4)["status"] == "passed"
        details[execution] = _repeats(_run(cli, project, execution, 0.25))
    local_detail, dask_detail = details.values()
    assert f"{len(again)} repeat rows the candidate trained on" in local_detail
    assert dask_detail == local_detail
