"""red-team-2: `specops reproduce` of a run whose stored record was edited in the store.

A run's spec and lineage are rows anyone with write access to the store can change.
A spec that is not a mapping, one without a data section, or a lineage that is a
list made the rerun fail inside with a TypeError/AttributeError (exit 3). Now the
record is named as damaged (exit 2) before anything is rerun.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

Cli = Callable[..., CliResult]


@pytest.mark.parametrize(
    ("column", "edit", "message"),
    [
        ("spec_json", lambda spec: [1, 2], "its stored spec is list, not a mapping"),
        ("spec_json", lambda spec: {**spec, "data": 5}, "its stored spec has no data section"),
        ("lineage_json", lambda lineage: [lineage], "its lineage is list, not a mapping"),
    ],
)
def test_a_damaged_run_record_is_named_not_a_crash(
    cli: Cli, limits_champion: Path, tmp_path: Path, column: str, edit, message: str
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    for name in ("store.db", "store.db-wal"):
        if (limits_champion / ".specops" / name).exists():
            (store / name).write_bytes((limits_champion / ".specops" / name).read_bytes())
    (store / "artifacts").symlink_to(limits_champion / ".specops" / "artifacts")
    with sqlite3.connect(store / "store.db") as db:
        run_id, stored = db.execute(f"SELECT id, {column} FROM runs").fetchone()
        db.execute(f"UPDATE runs SET {column} = ?", (json.dumps(edit(json.loads(stored))),))

    result = cli("reproduce", run_id, "--store", store)

    assert result.code == 2, result.err
    assert run_id in result.err and "damaged" in result.err
    # the store names a record that is not an object itself (column and kind); one that
    # is, but not a spec a rerun can use, is named by reproduce
    assert message in result.err or "a JSON list, not an object" in result.err
    assert "Traceback" not in result.err
