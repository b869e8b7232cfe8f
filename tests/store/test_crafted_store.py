"""A store whose rows someone else wrote: what the store layer itself refuses.

Whoever can write a store's database (a team store's PostgreSQL, a store handed over
for ``store copy``, a hand-edited ``store.db``) chooses its rows. Red-team round, the
store's own part (tests/test_red_team_store_paths.py has the package loaders'):

- a version whose file list names a path outside its package (``../../x``) or a blob
  that is not a sha256 is a damaged store for every command that builds the version,
  ``models export --format mlflow`` and ``Store.materialize`` included: exit 2 naming
  NAME/VERSION, nothing written; ``store verify`` lists it (exit 1); ``store copy``
  refuses to carry it into another store;
- ``store copy`` takes only the columns this specops's schema has: a crafted column
  name (SQL spliced into DST's statements) is refused by name, DST unchanged;
- ``store gc --apply`` never deletes through a blob folder that is a symbolic link.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from framework.errors import StoreError
from framework.store import ModelVersion, Store
from tests.conftest import CliResult
from tests.helpers import (
    breast_cancer_spec,
    crafted_version,
    escape_to,
    store_execute,
    store_rows,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run: bc/1, the champion."""
    from framework.cli.main import main

    directory = tmp_path_factory.mktemp("crafted")
    spec = directory / "spec.yaml"
    spec.write_text(breast_cancer_spec(n_estimators=5).lstrip())
    assert main(["run", str(spec), "--json"]) == 0
    return directory / ".specops"


def test_a_version_naming_a_path_outside_its_package_is_a_damaged_store_everywhere(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    target = tmp_path / "planted.txt"
    store = crafted_version(built, tmp_path / "crafted" / ".specops", escape_to(target))

    for args in (
        ("models", "show", "bc/1"),
        ("models", "list"),
        ("models", "promote", "bc/1"),
        ("models", "export", "bc/1", "--format", "mlflow", tmp_path / "exported"),
    ):
        done = cli(*args, "--store", store)
        assert done.code == 2, (args, done.out, done.err)
        assert "bc/1's file" in done.err and "damaged or crafted" in done.err, done.err
        assert "Traceback" not in done.err
    assert not target.exists() and not (tmp_path / "exported").exists()

    verified = cli("store", "verify", "--store", store, "--json")
    assert verified.code == 1, verified.out + verified.err
    problems = json.loads(verified.out)["problems"]
    [damaged] = [p for p in problems if p["kind"] == "damaged_version"]
    assert damaged["where"] == "bc/1" and "outside its package" in damaged["what"]
    assert not target.exists()

    gc = cli("store", "gc", "--store", store, "--json")  # still lists, deletes nothing
    assert gc.code == 0, gc.err


def test_materialize_refuses_a_file_list_out_of_its_folder_whoever_built_it(
    built: Path, tmp_path: Path
) -> None:
    store = Store.open_existing(built)
    try:
        version = store.version("bc", 1)
        assert version is not None
        digest = version.files["signature.json"]
        target = tmp_path / "planted.json"
        files = {**version.files, escape_to(target): digest}
        crafted_version = ModelVersion(**{**version.__dict__, "files": files})
        with pytest.raises(StoreError, match="damaged or crafted"):
            store.materialize(crafted_version, tmp_path / "package")
    finally:
        store.close()
    assert not target.exists() and not (tmp_path / "package").exists()


def test_a_digest_that_is_not_a_sha256_is_reported_by_verify_never_looked_up(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    store = crafted_version(
        built, tmp_path / "crafted" / ".specops", "extra.json", digest="//etc/passwd"
    )
    shown = cli("models", "show", "bc/1", "--store", store)
    assert shown.code == 2 and "which is not a sha256" in shown.err, shown.err
    verified = cli("store", "verify", "--full", "--store", store, "--json")
    assert verified.code == 1, verified.out
    [bad] = [p for p in json.loads(verified.out)["problems"] if p["kind"] == "bad_reference"]
    assert "'//etc/passwd', which is not a sha256" in bad["what"]
    assert bad["path"] == ""  # not turned into a path


def test_store_copy_refuses_a_crafted_version_and_writes_nothing(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    store = crafted_version(
        built, tmp_path / "crafted" / ".specops", escape_to(tmp_path / "planted.txt")
    )
    destination = tmp_path / "dst" / ".specops"
    done = cli("store", "copy", store, destination)
    assert done.code == 2, done.out + done.err
    assert "SRC's version bc/1 cannot be copied" in done.err and "nothing copied" in done.err
    assert not list((destination / "artifacts").rglob("*/*"))
    assert store_rows(destination, "SELECT COUNT(*) FROM model_versions") == [(0,)]


INJECTED = (
    "parts_json) SELECT ?,?,?,?,?, (SELECT 'INJECTED:'||count(*)||':'||group_concat(name)"
    " FROM sqlite_master) WHERE ? IS NOT NULL OR ? IS NULL --"
)
"""red-team's column name: once spliced into DST's INSERT, it fills a row from DST's tables."""


def test_store_copy_refuses_a_column_the_schema_does_not_have_and_dst_is_unchanged(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    destination = tmp_path / "dst" / ".specops"
    assert cli("store", "copy", built, destination).code == 0  # DST: a store with rows
    before = _dump(destination)

    source = tmp_path / "src" / ".specops"
    shutil.copytree(built, source, ignore=shutil.ignore_patterns("live"))
    with sqlite3.connect(source / "store.db") as db:
        db.executescript(
            "CREATE TABLE d2 AS SELECT hash, rows, columns, first_seen, blob, "
            f'parts_json AS "{INJECTED.replace(chr(34), chr(34) * 2)}" FROM datasets;'
            "DROP TABLE datasets; ALTER TABLE d2 RENAME TO datasets;"
            "UPDATE datasets SET hash = 'f' || substr(hash, 2);"  # a row DST lacks
        )
    db.close()

    done = cli("store", "copy", source, destination)
    assert done.code == 2, done.out + done.err
    assert "SRC's table datasets has a column \"parts_json) SELECT" in done.err, done.err
    assert "nothing copied" in done.err and "Traceback" not in done.err
    assert _dump(destination) == before
    assert "INJECTED" not in _dump(destination)


def _dump(store: Path) -> str:
    with sqlite3.connect(store / "store.db") as db:
        text = "\n".join(db.iterdump())
    db.close()
    return text


def test_gc_never_deletes_through_a_blob_folder_that_is_a_link(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult], caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "store" / ".specops"
    shutil.copytree(built, store, ignore=shutil.ignore_patterns("live"))
    victim = tmp_path / "elsewhere"
    victim.mkdir()
    precious = victim / ("f" * 62)
    precious.write_text("important, and not specops'\n")
    free = next(f"{i:02x}" for i in range(256) if not (store / "artifacts" / f"{i:02x}").exists())
    folder = store / "artifacts" / free  # a fan-out folder no blob of this store uses
    os.symlink(victim, folder)

    done = cli("store", "gc", "--apply", "--min-age", "0", "--store", store, "--json")
    assert done.code == 0, done.err
    assert precious.read_text() == "important, and not specops'\n"
    assert str(folder) not in done.out
    assert f"blob folder {folder} is a symbolic link" in caplog.text  # stderr, for a user
    assert cli("store", "verify", "--store", store).code == 0  # the store's own blobs stay


def test_a_snapshot_row_naming_a_path_is_refused_never_read(built: Path, tmp_path: Path) -> None:
    from framework.snapshots import read_snapshot

    store = tmp_path / "store" / ".specops"
    shutil.copytree(built, store, ignore=shutil.ignore_patterns("live"))
    store_execute(store, "UPDATE datasets SET blob = '../../../../../../../../etc/passwd'")
    (data_hash,) = store_rows(store, "SELECT hash FROM datasets")[0]
    with pytest.raises(StoreError, match="is not a blob name"):
        read_snapshot(store, data_hash)


DEEP = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"


@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        ("spec_json", "not json", "spec_json: not JSON"),
        ("spec_json", DEEP, "spec_json: nested deeper than any record specops writes"),
        ("lineage_json", "[1]", "lineage_json: a JSON list, not an object"),
        ("outputs_json", "7", "outputs_json: a JSON int, not an object"),
    ],
)
def test_a_run_whose_record_was_edited_is_listed_as_damaged_and_named_by_the_rest(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult], column: str, value: str, said: str
) -> None:
    """red-team-2 R6: one edited run row made runs list/show/diff exit 3 for the store."""
    store = tmp_path / "store" / ".specops"
    shutil.copytree(built, store, ignore=shutil.ignore_patterns("live"))
    (run_id,) = store_rows(store, "SELECT id FROM runs")[0]
    with sqlite3.connect(store / "store.db") as db:
        db.execute(f"UPDATE runs SET {column} = ?", (value,))
    db.close()

    listed = cli("runs", "list", "--store", store, "--json")
    assert listed.code == 0, listed.err
    assert [(r["run_id"], r["status"]) for r in json.loads(listed.out)["runs"]] == [
        (run_id, "damaged")
    ]
    for args in (("runs", "show", run_id), ("runs", "diff", run_id, run_id)):
        done = cli(*args, "--store", store)
        assert done.code == 2, (args, done.out, done.err)
        assert f"run {run_id}'s record is damaged ({said}" in done.err, done.err
        assert "Traceback" not in done.err
    verified = cli("store", "verify", "--store", store, "--json")
    assert verified.code == 1, verified.out
    [damaged] = [p for p in json.loads(verified.out)["problems"] if p["kind"] == "damaged_run"]
    assert damaged["where"] == f"run {run_id}" and said in damaged["what"]
    copied = cli("store", "copy", store, tmp_path / "dst" / ".specops")
    assert copied.code == 2 and "nothing copied" in copied.err, copied.err


@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        ("summary_json", "not json", "summary_json: not JSON"),
        ("summary_json", DEEP, "summary_json: nested deeper than any record specops writes"),
        ("summary_json", "[1]", "summary_json: a JSON list, not an object"),
        ("gate_json", '{"x": 1}', "gate_json: a JSON dict, not a list or null"),
    ],
)
def test_a_monitor_run_whose_record_was_edited_is_named_not_a_crash(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult], column: str, value: str, said: str
) -> None:
    """red-team-2 R9: an edited monitor_runs row made `monitor history` exit 3."""
    store = tmp_path / "store" / ".specops"
    shutil.copytree(built, store, ignore=shutil.ignore_patterns("live"))
    opened = Store.open_existing(store)
    try:
        row = {
            "id": "mon-20261205-000000-aaaaaa",
            "model": "bc",
            "version": 1,
            "spec_path": "spec.yaml",
            "started_at": "2026-12-05T00:00:00+00:00",
            "ended_at": "2026-12-05T00:00:01+00:00",
            "data": "batch.csv",
            "rows": 10,
            "decision": "no_drift",
            "exit_code": 0,
            "policy": "report",
            "summary_json": "{}",
        }
        opened.record_monitor_run(row, [])
        assert opened.monitor_runs("bc")[0]["summary"] == {}  # as written, it reads
    finally:
        opened.close()
    with sqlite3.connect(store / "store.db") as db:
        db.execute(f"UPDATE monitor_runs SET {column} = ?", (value,))
    db.close()

    done = cli("monitor", "history", "bc", "--store", store)
    assert done.code == 2, done.out + done.err
    assert f"monitor run mon-20261205-000000-aaaaaa's record is damaged ({said}" in done.err
    assert "Traceback" not in done.err


@pytest.mark.parametrize("column", ["files_json", "lineage_json", "signature_json"])
def test_a_version_whose_record_is_nested_past_any_limit_is_named_not_a_crash(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult], column: str
) -> None:
    """A version row's JSON nested 100,000 deep: exit 2 naming the version where it is
    read, and no crash of the commands that list the store (a RecursionError was exit 3)."""
    store = tmp_path / "store" / ".specops"
    shutil.copytree(built, store, ignore=shutil.ignore_patterns("live"))
    store_execute(store, f"UPDATE model_versions SET {column} = '{DEEP}'")

    shown = cli("models", "show", "bc/1", "--store", store)
    assert shown.code == 2 and "bc/1" in shown.err and "Traceback" not in shown.err, shown.err
    for args in (("store", "verify"), ("models", "list"), ("store", "gc")):
        done = cli(*args, "--store", store)
        assert done.code != 3 and "Traceback" not in done.err, (args, done.err)
