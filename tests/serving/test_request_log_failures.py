"""A flush the store refuses is dropped, counted, and said in one line without a traceback,
whether the failure is SQLite's or already a store error (a shared store's lost
connection comes as a StoreError from its backend)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from framework.errors import StoreError
from framework.serving.batch import Batch
from framework.serving.request_log import RequestLogWriter
from framework.store import Store
from tests.serving.test_same_predictions import load


class LostConnection:
    """A store whose database went away mid-flight, as a PostgreSQL backend reports it:
    its transaction raises the backend's StoreError (no server to stop here; the
    PostgreSQL case itself runs in tests/team/)."""

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        raise StoreError("lost the connection to the store's database server (server closed)")
        yield


def test_a_store_error_in_a_flush_is_one_line_and_counts_the_dropped_rows(
    lgb_store: Path, sample_rows: pd.DataFrame, tmp_path: Path, caplog: Any
) -> None:
    served = load(lgb_store, "churn")
    rows = sample_rows.head(3)
    batch = Batch({name: rows[name].tolist() for name in served.input_names}, len(rows))
    predictions = served.predict(batch)
    root = tmp_path / ".specops"
    Store(root).close()
    writer = RequestLogWriter(root)
    writer.record(served, batch, predictions, 100)
    with caplog.at_level(logging.ERROR, logger="specops.serve"):
        assert writer.flush(LostConnection()) == 0  # type: ignore[arg-type]
    assert writer.dropped_rows == 3
    said = [record for record in caplog.records if record.name == "specops.serve"]
    assert len(said) == 1 and said[0].exc_info is None  # one line, no traceback
    assert "lost the connection" in said[0].getMessage()
    assert "could not write 1 request(s); dropped" in said[0].getMessage()


@pytest.mark.parametrize("queued", [0, 1])
def test_the_writer_writes_again_after_a_failed_flush(
    lgb_store: Path, sample_rows: pd.DataFrame, tmp_path: Path, queued: int
) -> None:
    """The next flush to a store that works writes what was queued since."""
    from framework.prediction_log import read_window

    served = load(lgb_store, "churn")
    rows = sample_rows.head(2)
    batch = Batch({name: rows[name].tolist() for name in served.input_names}, len(rows))
    predictions = served.predict(batch)
    root = tmp_path / ".specops"
    Store(root).close()
    writer = RequestLogWriter(root)
    for _ in range(queued):
        writer.record(served, batch, predictions, 100)
    writer.flush(LostConnection())  # type: ignore[arg-type]
    writer.record(served, batch, predictions, 100)
    store = writer._open()
    assert store is not None
    try:
        assert writer.flush(store) == 2
    finally:
        store.close()
    assert len(read_window(root, "churn")) == 2
    assert writer.dropped_rows == 2 * queued
