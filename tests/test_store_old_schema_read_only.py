"""A store too old to read without upgrading, opened where it cannot be written.

Tests run as root here, so a read-only store cannot be made with chmod: the check
is called on a real SQLite database that lacks the newer tables.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from framework.errors import StoreError
from framework.store.store import _refuse_old_schema, _schema_statements


def test_a_read_only_store_lacking_tables_is_refused_with_what_it_lacks(tmp_path: Path) -> None:
    db = sqlite3.connect(":memory:")
    runs = next(s for s in _schema_statements() if "CREATE TABLE IF NOT EXISTS runs" in s)
    db.execute(runs)  # only the runs table: every other table is missing

    with pytest.raises(StoreError) as raised:
        _refuse_old_schema(db, tmp_path)

    message = str(raised.value)
    assert f"the store at {tmp_path} was made by an older specops and is read-only" in message
    assert "cannot be upgraded (it lacks " in message and ", ...)" in message
    assert "open it once with write access" in message


def test_a_read_only_store_lacking_only_the_run_lock_column_opens(tmp_path: Path) -> None:
    db = sqlite3.connect(":memory:")
    for statement in _schema_statements():
        db.execute(statement)
    db.execute("ALTER TABLE runs DROP COLUMN lock")  # as a store made before run locks

    _refuse_old_schema(db, tmp_path)  # runs.lock is done without: no error
