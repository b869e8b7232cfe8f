"""A store too old to read without upgrading, opened where it cannot be written.

Tests run as root here, so a read-only store cannot be made with chmod: the check
is called on a real SQLite store (its backend) whose database lacks the newer tables.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from framework.errors import StoreError
from framework.store.sqlite_backend import SQLiteMetadata
from framework.store.store import _refuse_old_schema, _schema_statements


def _store_with(tmp_path: Path, *statements: str) -> SQLiteMetadata:
    """A store directory whose store.db was made by ``statements`` alone, opened."""
    with sqlite3.connect(tmp_path / "store.db") as db:
        for statement in statements:
            db.execute(statement)
    db.close()
    return SQLiteMetadata(tmp_path, write=False)


def test_a_read_only_store_lacking_tables_is_refused_with_what_it_lacks(tmp_path: Path) -> None:
    runs = next(s for s in _schema_statements() if "CREATE TABLE IF NOT EXISTS runs" in s)
    db = _store_with(tmp_path, runs)  # only the runs table: every other table is missing

    with pytest.raises(StoreError) as raised:
        _refuse_old_schema(db, str(tmp_path))
    db.close()

    message = str(raised.value)
    assert f"the store at {tmp_path} was made by an older specops and is read-only" in message
    assert "cannot be upgraded (it lacks " in message and ", ...)" in message
    assert "open it once with write access" in message


def test_a_read_only_store_lacking_only_the_run_lock_column_opens(tmp_path: Path) -> None:
    # as a store made before run locks (and before store_settings)
    schema = [s for s in _schema_statements() if "store_settings" not in s]
    db = _store_with(tmp_path, *schema, "ALTER TABLE runs DROP COLUMN lock")

    lacking = _refuse_old_schema(db, str(tmp_path))  # done without: no error
    db.close()
    assert ("runs", "lock") in lacking and ("store_settings", "key") in lacking
