"""A log entry's ``rows`` is checked against what its blobs hold before anything is sized
by it: a 30-byte entry declaring 400,000,000 rows (red-team-2 R4) is a damaged entry,
named, at once; entries a server wrote read back as ever."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framework.errors import StoreError
from framework.prediction_log import LogEntry, append_batch, read_window
from framework.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = Store(tmp_path / ".specops")
    yield opened
    opened.close()


def crafted(store: Any, rows: Any, inputs: bytes = b'{"a":[1]}', outputs: bytes = b"{}") -> None:
    store.db.execute(
        "INSERT INTO prediction_log (segment, model, version, at, rows, inputs, outputs)"
        " VALUES (1, 'm', 1, ?, ?, ?, ?)",
        (time.time() - 10, rows, inputs, outputs),
    )


@pytest.mark.parametrize("rows", [400_000_000, 2, "many", -5, 1.5])
def test_an_entry_declaring_rows_its_blobs_do_not_hold_is_named_at_once(
    store: Any, rows: Any
) -> None:
    append_batch(store, [LogEntry("m", 1, time.time() - 20, 1, {"a": [0.5]}, {"prediction": [1]})])
    crafted(store, rows)
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"prediction log entry 2 of 'm' is damaged: it declares"):
        read_window(store, "m")
    assert time.monotonic() - started < 1.0
    assert len(read_window(store, "m", until=time.time() - 15)) == 1  # the way around it


def test_entries_as_servers_write_them_read_back(store: Any) -> None:
    rows = 300
    entries = [
        LogEntry("m", 1, 1.0, rows, {"a": np.arange(rows, dtype=np.float64), "c": ["x"] * rows},
                 {"prediction": [0] * rows, "labels": [0, 1], "proba": np.full((rows, 2), 0.5)}),
        LogEntry("m", 1, 2.0, 1, {}, {"prediction": ["only"]}),  # a row with no input column
        LogEntry("m", 1, 3.0, 2, {"a": [1.0, 2.0]}, {"prediction": [1, 0]}),
    ]  # fmt: skip
    append_batch(store, entries)
    frame = read_window(store, "m")
    assert len(frame) == rows + 3
    assert frame["a"].tolist()[-2:] == [1.0, 2.0] and np.isnan(frame["a"][rows])
