"""The prediction log's writer commits without an fsync per flush (``synchronous=NORMAL``
in WAL mode) on its own connection only; what it writes is there for every reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from framework.prediction_log import LogEntry, append_batch, read_window
from framework.serving.request_log import RequestLogWriter
from framework.store import Store

FULL, NORMAL = 2, 1


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
        assert str(store.db.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
        other = Store.open_existing(root)
        assert synchronous(other) == FULL  # runs, versions, aliases: unchanged
        other.close()
        rows = 3
        entry = LogEntry("m", 1, 1.0, rows, {"x": [1.0, 2.0, np.nan]},
                         {"prediction": ["a"] * rows})  # fmt: skip
        assert append_batch(store, [entry]) == rows
    finally:
        store.close()
    logged = read_window(root, "m")  # a new connection, as monitor opens it
    assert len(logged) == rows and logged["prediction"].tolist() == ["a"] * rows
