"""Local-run overhead work keeps every result: block-wise hashing gives the digests of
whole-table hashing, git lineage from one `git status` says what rev-parse said, and a
local session leaves the garbage collector as it found it.
(Proposed as tests/test_local_speed.py by local-speed; the row_hashes test needs
/tmp/coord/requests/local-speed-training_rows.patch.)"""

from __future__ import annotations

import gc
import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework import lineage, training_rows
from framework.execution.local import LocalExecutor


def _frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "n": rng.integers(0, 5, rows),
            "s": pd.Series(rng.choice(["a", "b", None], rows), dtype="str"),
            "o": pd.Series(
                np.array([1, 1.0, True, "t", None], dtype=object)[rng.integers(0, 5, rows)]
            ),
            "c": pd.Categorical(rng.choice(["p", "q"], rows)),
        }
    )


def _whole_frame_hash(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("rows", [0, 1, 6, 7, 8, 50])
@pytest.mark.parametrize("columns", [["x", "n", "s", "c"], ["x", "o"]])
def test_frame_hash_by_blocks_is_the_whole_table_hash(monkeypatch, rows, columns):
    """Object columns (whose equal values 1, 1.0, True share the first one's hash) are
    hashed whole, as before; the others a block at a time."""
    monkeypatch.setattr(lineage, "ROWS_AT_ONCE", 7)
    frame = _frame(rows)[columns]
    assert lineage.frame_hash(frame) == _whole_frame_hash(frame)


@pytest.mark.parametrize("rows", [0, 1, 7, 50])
def test_row_hashes_by_blocks_are_the_whole_column_hashes(monkeypatch, rows):
    frame = _frame(rows)
    whole = training_rows.row_hashes(frame, list(frame.columns))
    monkeypatch.setattr(training_rows, "ROWS_AT_ONCE", 7)
    assert np.array_equal(training_rows.row_hashes(frame, list(frame.columns)), whole)
    assert len(np.unique(whole)) > 1 or rows < 2


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_git_lineage_names_head_and_local_changes(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    assert lineage.git_commit(repo) is None  # no commit yet
    (repo / "spec.yaml").write_text("name: x\n")
    _git(repo, "add", "spec.yaml")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "one")
    head = _git(repo, "rev-parse", "HEAD")
    assert lineage.git_commit(repo) == {"commit": head, "dirty": False}
    (repo / "notes.txt").write_text("untracked files do not count\n")
    assert lineage.git_commit(repo) == {"commit": head, "dirty": False}
    (repo / "spec.yaml").write_text("name: y\n")
    assert lineage.git_commit(repo) == {"commit": head, "dirty": True}
    assert lineage.git_commit(tmp_path) is None  # not a repository


def test_local_session_freezes_only_for_the_run():
    assert gc.get_freeze_count() == 0
    with LocalExecutor().session(print):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_local_session_keeps_a_freeze_made_before_it():
    """A process that froze objects itself (a server before forking) keeps them frozen:
    the session neither freezes more nor unfreezes them (frozen objects that are freed
    leave the count, so it is compared with what was frozen, not exactly)."""
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with LocalExecutor().session(print):
            made_during = [[] for _ in range(1000)]  # would be frozen by a second freeze
            assert gc.get_freeze_count() <= frozen
        assert 0 < gc.get_freeze_count() <= frozen
        del made_during
    finally:
        gc.unfreeze()
