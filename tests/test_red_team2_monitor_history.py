"""red-team-2: `specops monitor history` of monitor runs whose rows were edited in the store.

Rows of ``monitor_runs``/``monitor_columns`` are written by every monitor of a shared
store (a CronJob, a colleague). Text where the table formats a number (``rows``,
``drift_share``, ``version``, a column's ``statistic``) crashed the table with a
ValueError/TypeError (exit 3); a 100 KB ``decision`` printed 9.7 MB. Now the row is
named as damaged (exit 2) and long text is cut.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.test_data_limits import frame, write_spec

Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from framework.cli.main import main

    directory = tmp_path_factory.mktemp("monitored")
    frame().to_csv(directory / "train.csv", index=False)
    spec = write_spec(directory, "csv", "{path: train.csv}")
    assert main(["run", str(spec), "--json"]) == 0
    assert main(["monitor", str(spec), "--data", str(directory / "train.csv")]) in (0, 1)
    return directory / ".specops"


def edited(store: Path, tmp_path: Path, sql: str, *args: object) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    with sqlite3.connect(copy / "store.db") as db:
        db.execute(sql, args)
    return copy


@pytest.mark.parametrize(
    ("sql", "value", "named"),
    [
        ("UPDATE monitor_runs SET rows = ?", "many", "rows is 'many'"),
        ("UPDATE monitor_runs SET drift_share = ?", "x", "drift_share is 'x'"),
        ("UPDATE monitor_runs SET version = ?", "abc", "version is 'abc'"),
        ("UPDATE monitor_columns SET statistic = ?", "x", "statistic is 'x'"),
    ],
)
def test_a_damaged_monitor_row_is_named_not_a_crash(
    cli: Cli, monitored: Path, tmp_path: Path, sql: str, value: str, named: str
) -> None:
    store = edited(monitored, tmp_path, sql, value)

    for json in ((), ("--json",)):
        result = cli("monitor", "history", "limits", "--store", store, *json)

        assert result.code == 2, result.err
        assert "record is damaged" in result.err and named in result.err


def test_a_long_decision_is_cut(cli: Cli, monitored: Path, tmp_path: Path) -> None:
    store = edited(monitored, tmp_path, "UPDATE monitor_runs SET decision = ?", "x" * 100_000)

    result = cli("monitor", "history", "limits", "--store", store, "--json")

    assert result.code == 0, result.err
    assert "(100,000 characters)" in result.out and len(result.out) < 50_000


def test_a_long_run_id_is_cut_but_its_columns_are_still_found(
    cli: Cli, monitored: Path, tmp_path: Path
) -> None:
    """The id is cut for display only: the run's columns are looked up by the stored id."""
    long_id = "m" * 1_000
    store = edited(monitored, tmp_path, "UPDATE monitor_runs SET id = ?", long_id)
    with sqlite3.connect(store / "store.db") as db:
        db.execute("UPDATE monitor_columns SET monitor_id = ?", (long_id,))

    result = cli("monitor", "history", "limits", "--store", store, "--json")

    assert result.code == 0, result.err
    import json

    shown = json.loads(result.out)
    assert shown["columns"] and all(c["values"] != [None] for c in shown["columns"])
    assert "(1,000 characters)" in shown["runs"][0]["id"]
