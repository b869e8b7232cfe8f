"""The prediction log's writer commits without an fsync per flush (``synchronous=NORMAL``
in WAL mode) and rotates without zeroing the pages it frees (``secure_delete=FAST``), on
its own connection only; what it writes is there for every reader."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from framework.prediction_log import LogEntry, LogLimits, append_batch, log_summary, read_window
from framework.serving.request_log import RequestLogWriter
from framework.store import Store

FULL, NORMAL = 2, 1
FAST = 2


def secure_delete(store: Store) -> int:
    return int(store.db.execute("PRAGMA secure_delete").fetchone()[0])


def synchronous(store: Store) -> int:
    return int(store.db.execute("PRAGMA synchronous").fetchone()[0])


def test_the_log_writer_alone_commits_without_fsync_and_readers_see_its_rows(
    tmp_path: Path,
) -> None:
    root = tmp_path / ".specops"
    Store(root).close()
    writer = RequestLogWriter(root)
    store = writer._open()
    assert store is not None
    try:
        assert synchronous(store) == NORMAL
        assert secure_delete(store) == FAST
        assert str(store.db.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
        other = Store.open_existing(root)
        assert synchronous(other) == FULL  # runs, versions, aliases: unchanged
        built_in = sqlite3.connect(":memory:").execute("PRAGMA secure_delete").fetchone()[0]
        assert secure_delete(other) == built_in  # SQLite's own default (on, as Debian builds it)
        other.close()
        rows = 3
        entry = LogEntry("m", 1, 1.0, rows, {"x": [1.0, 2.0, np.nan]},
                         {"prediction": ["a"] * rows})  # fmt: skip
        assert append_batch(store, [entry]) == rows
    finally:
        store.close()
    logged = read_window(root, "m")  # a new connection, as monitor opens it
    assert len(logged) == rows and logged["prediction"].tolist() == ["a"] * rows


def test_the_writer_rotates_at_its_bound_and_reads_back_the_newest_requests(
    tmp_path: Path,
) -> None:
    """Whole segments dropped, oldest first, through the writer's own connection; the
    pages they freed are reused by the next requests, and every kept row reads back."""
    root = tmp_path / ".specops"
    Store(root).close()
    limits = LogLimits(max_rows=400, segments=4)  # segments of 100 rows
    writer = RequestLogWriter(root, limits)
    store = writer._open()
    assert store is not None
    rows = 50
    try:
        for at in range(40):  # 2,000 rows through a log that keeps 400
            column = np.arange(rows, dtype=np.float64) + 1000 * at
            entry = LogEntry("m", 1, float(at), rows, {"x": column, "c": [f"c{at}"] * rows},
                             {"prediction": [at] * rows})  # fmt: skip
            assert append_batch(store, [entry], limits) == rows
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        for at in range(40, 60):  # the file stops growing: freed pages are reused
            column = np.arange(rows, dtype=np.float64) + 1000 * at
            entry = LogEntry("m", 1, float(at), rows, {"x": column, "c": [f"c{at}"] * rows},
                             {"prediction": [at] * rows})  # fmt: skip
            append_batch(store, [entry], limits)
        assert store.db.execute("PRAGMA page_count").fetchone()[0] <= pages + 2
    finally:
        store.close()
    summary = log_summary(root, "m")
    assert summary["segments"] == 4 and 400 <= summary["rows"] <= 450
    logged = read_window(root, "m")
    kept = sorted({int(t) for t in logged["prediction"]})
    assert kept == list(range(60 - len(kept), 60))  # the newest requests, none missing
    for at in kept:
        mine = logged[logged["prediction"] == at]
        assert mine["x"].tolist() == (np.arange(rows) + 1000.0 * at).tolist()
        assert mine["c"].tolist() == [f"c{at}"] * rows
