"""The local store backends keep the promises of framework.store.backends that the
shared ones keep too: liveness dies with its process, the schema is brought up to date
once (and again after someone changes a table), blobs are listed, checked and deleted
by name. Real files, real processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from framework.store import Store
from framework.store.artifacts import ArtifactStore
from framework.store.backends import ArtifactBackend, MetadataBackend
from framework.store.sqlite_backend import SQLiteMetadata
from framework.store.store import _schema_statements

HOLD = """
import sys, time
from pathlib import Path
from framework.store.sqlite_backend import SQLiteMetadata
db = SQLiteMetadata(Path(sys.argv[1]))
token = db.hold("run-x").token
print(token, flush=True)
time.sleep(600)
"""


def test_a_liveness_lock_is_held_while_its_process_lives_and_free_once_killed(
    tmp_path: Path,
) -> None:
    Store(tmp_path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        token = holder.stdout.readline().strip()
        db = SQLiteMetadata(tmp_path)
        assert token == "live/run-x.lock" and db.is_held(token) is True
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        assert db.is_held(token) is False
        mine = db.hold("run-y")
        assert db.is_held(mine.token) is True
        mine.release()
        assert db.is_held(mine.token) is False and not (tmp_path / mine.token).exists()
        db.close()
    finally:
        holder.kill()
        holder.wait(10)


def test_the_schema_is_applied_once_and_again_after_a_table_changed(tmp_path: Path) -> None:
    statements = _schema_statements()
    db = SQLiteMetadata(tmp_path)
    db.ensure_schema(statements)
    assert db.missing_columns(statements) == []
    mark = db.execute("PRAGMA user_version").fetchone()[0]
    db.ensure_schema(statements)  # nothing to do: the mark matches
    assert db.execute("PRAGMA user_version").fetchone()[0] == mark
    db.close()

    with sqlite3.connect(tmp_path / "store.db") as raw:  # as a store made before run locks
        raw.execute("ALTER TABLE runs DROP COLUMN lock")
    raw.close()
    db = SQLiteMetadata(tmp_path)
    assert db.missing_columns(statements) == [("runs", "lock")]
    db.ensure_schema(statements)
    assert db.missing_columns(statements) == []
    db.close()


def test_blobs_are_listed_checked_and_deleted_by_name(tmp_path: Path) -> None:
    blobs = ArtifactStore(tmp_path / "artifacts")
    source = tmp_path / "model.txt"
    source.write_text("weights")
    digest = blobs.put_file(source)
    other = blobs.put_written(lambda path: path.write_bytes(b"other"))
    assert blobs.exists(digest) and blobs.problem(digest, full=True) is None
    listed = {info.digest: info for info in blobs.blobs()}
    assert set(listed) == {digest, other} and listed[digest].size == len("weights")
    assert abs(listed[digest].modified - time.time()) < 60

    blobs.path_of(digest).write_text("tampered")
    assert blobs.problem(digest, full=False) is None  # present: not read
    assert (blobs.problem(digest, full=True) or "").startswith("blob is corrupt")
    assert blobs.delete(digest) is True and blobs.delete(digest) is False
    assert blobs.problem(digest, full=False) == "blob is missing"
    assert [info.digest for info in blobs.blobs()] == [other]


def test_the_local_backends_have_every_method_of_the_protocols(tmp_path: Path) -> None:
    db = SQLiteMetadata(tmp_path)
    try:
        for protocol, backend in (
            (MetadataBackend, db),
            (ArtifactBackend, ArtifactStore(tmp_path / "artifacts")),
        ):
            names = [n for n in dir(protocol) if not n.startswith("_")]
            names += list(getattr(protocol, "__annotations__", {}))
            assert [n for n in names if not hasattr(backend, n)] == []
    finally:
        db.close()
