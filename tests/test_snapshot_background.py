"""The local data snapshot is written on a thread while the split runs: it holds the
data as ingest read it, a run that ends early still records it, and a table Arrow
cannot hold is a note, not a failure (framework/store/store.py: start_snapshot)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyarrow import feather

from framework.store import Store


def _frame(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"x": rng.normal(size=rows), "plan": rng.choice(["a", "b"], rows)})


def test_the_snapshot_holds_the_values_it_was_started_with(tmp_path: Path) -> None:
    frame = _frame(200_000)  # big enough that the blob is still being written below
    expected = frame.copy()
    store = Store(tmp_path / "store")
    try:
        store.record_dataset("no-run", "d" * 64, len(frame), list(frame.columns))
        finish = store.start_snapshot("d" * 64, frame)
        frame.loc[0, "x"] = 1e9  # written into while (or before) the blob is written
        frame["x"] *= 2
        blob = finish()
        kept = feather.read_feather(store.artifacts.verified(blob, "snapshot"))
        assert store.snapshot_blob("d" * 64) == blob
    finally:
        store.close()
    pd.testing.assert_frame_equal(kept, expected)


def test_same_bytes_as_the_synchronous_snapshot_and_reused(tmp_path: Path) -> None:
    frame = _frame()
    store = Store(tmp_path / "store")
    try:
        store.record_dataset("no-run", "e" * 64, len(frame), list(frame.columns))
        store.record_dataset("no-run", "f" * 64, len(frame), list(frame.columns))
        background = store.start_snapshot("e" * 64, frame)()
        inline = store.keep_snapshot("f" * 64, frame)
        assert background == inline  # content-addressed: the very same blob
        frame.to_feather(tmp_path / "pandas.feather", compression="lz4")  # how it was written
        assert background == hashlib.sha256((tmp_path / "pandas.feather").read_bytes()).hexdigest()
        assert store.start_snapshot("e" * 64, frame.iloc[:0])() == background  # reused
    finally:
        store.close()


def test_a_table_arrow_cannot_hold_is_refused_when_started(tmp_path: Path) -> None:
    mixed = pd.DataFrame({"v": pd.Series([1, "one", 2.5], dtype=object)})
    store = Store(tmp_path / "store")
    try:
        store.record_dataset("no-run", "c" * 64, 3, ["v"])
        with pytest.raises((ValueError, TypeError)):
            store.start_snapshot("c" * 64, mixed)
        assert store.snapshot_blob("c" * 64) is None
    finally:
        store.close()


def test_a_run_ended_by_its_checks_still_records_its_snapshot(cli, bc_spec: Path) -> None:
    failing = ("--set", "checks=[{type: row_count, params: {min: 100000}}]")
    result = cli("run", bc_spec, *failing, "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["status"] == "failed_checks"
    blob = report["lineage"]["data_snapshot"]
    store = Store(bc_spec.parent / ".specops")
    try:
        assert store.snapshot_blob(report["lineage"]["data_hash"]) == blob
        assert store.artifacts.verified(blob, "snapshot").is_file()
    finally:
        store.close()


def test_a_table_arrow_cannot_hold_runs_with_a_note_on_the_split(cli, write_spec) -> None:
    """SQLite keeps each value's own type: a column of numbers and words reaches pandas
    as Python ints and strings mixed, which Arrow refuses to store as one column."""
    spec = write_spec(
        """
        name: mixed
        task: binary
        data:
          source: {type: sql, params: {path: mixed.db, table: rows}}
          target: label
          exclude: [code]  # in the table (and its snapshot), not a feature
        model: {type: logistic_regression}
        """
    )
    rng = np.random.default_rng(1)
    with sqlite3.connect(spec.parent / "mixed.db") as db:
        db.execute("CREATE TABLE rows (x REAL, code, label INTEGER)")
        db.executemany(
            "INSERT INTO rows VALUES (?, ?, ?)",
            [
                (float(x), int(i) if i % 2 else f"c{i % 5}", int(x > 0))
                for i, x in enumerate(rng.normal(size=200))
            ],
        )
    result = cli("run", spec, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    split = next(s for s in report["steps"] if s["name"] == "split")
    assert "data snapshot not kept" in split["detail"]
    assert report["lineage"]["data_snapshot"] is None


def test_a_run_failing_in_its_split_reports_that_and_still_records_its_snapshot(
    cli, bc_spec: Path
) -> None:
    """The split's own error is the one reported (exit 2); the snapshot written meanwhile
    is recorded all the same, and named in the run's record."""
    tiny_train = "data.split={type: random, params: {test_size: 0.998}}"
    result = cli("run", bc_spec, "--set", tiny_train)
    assert result.code == 2
    assert "the training split has a single class" in result.err
    store = Store(bc_spec.parent / ".specops")
    try:
        (run,) = store.runs()
        assert run.status == "error"
        assert [s.status for s in store.steps(run.id) if s.name == "split"] == ["error"]
        blob = run.outputs["lineage"]["data_snapshot"]
        assert blob and store.snapshot_blob(run.data_hash) == blob
    finally:
        store.close()
