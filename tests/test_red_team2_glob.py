"""red-team-2: a data path's glob is expanded with a bound on the walk.

``path: "/**/*.csv"`` in a spec made ``specops validate`` walk the whole file
system (over 90 s, unbounded on a big machine). The walk now stops past
SPECOPS_MAX_GLOB_ENTRIES directory entries or SPECOPS_MAX_GLOB_FILES matches, exit 2
naming the pattern, and ``**`` never descends through a symbolic link.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from framework import DataError
from framework.bounded_glob import bounded_glob
from tests.conftest import CliResult
from tests.test_data_limits import frame, write_spec

Cli = Callable[..., CliResult]


NAMES = ("x.csv", "a/y.csv", "a/b/z.csv", "a/b/c/w.csv", ".h/q.csv", "a/.k.csv", "_u/u.csv")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in NAMES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a\n1\n")
    return tmp_path


@pytest.mark.parametrize(
    "pattern",
    [
        "*.csv",
        "**/*.csv",
        "a/*/*.csv",
        "[ax]*",
        "*/y.csv",
        "a/.k.csv",
        ".*/*.csv",
        "**/b/**/*.csv",
        "**/**/*.csv",
    ],
)
def test_the_same_matches_as_glob(tree: Path, pattern: str) -> None:
    full = str(tree / pattern)

    assert bounded_glob(full) == sorted(set(glob.glob(full, recursive=True)))


def test_double_star_never_descends_through_a_link(tree: Path) -> None:
    (tree / "a" / "loop").symlink_to(tree)  # glob.glob walks it again and again

    found = bounded_glob(str(tree / "**" / "*.csv"))

    assert not any(os.sep + "loop" + os.sep in path for path in found)
    assert len(found) == 5  # x, y, z, w and _u/u: hidden names left out, as glob does


def test_a_walk_past_the_entries_limit_is_refused(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECOPS_MAX_GLOB_ENTRIES", "5")

    with pytest.raises(DataError, match="looks at more than 5 directory entries"):
        bounded_glob(str(tree / "**" / "*.csv"))


def test_a_run_of_double_stars_walks_the_tree_once(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``**/**/**`` matches what ``**`` does, for the cost of one walk (each ``**``
    walked again below the other: a walk per match, found again and again)."""
    monkeypatch.setenv("SPECOPS_MAX_GLOB_ENTRIES", "40")
    once = bounded_glob(str(tree / "**" / "*.csv"))

    assert bounded_glob(str(tree / "**" / "**" / "**" / "*.csv")) == once


def test_more_matches_than_the_files_limit_are_refused(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECOPS_MAX_GLOB_FILES", "2")

    with pytest.raises(DataError, match="matches more than 2 files"):
        bounded_glob(str(tree / "**" / "*.csv"))


def test_validate_of_a_spec_whose_glob_walks_too_far_is_exit_2(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for part in range(3):
        frame().to_csv(tmp_path / f"part{part}.csv", index=False)
    spec = write_spec(tmp_path, "csv", '{path: "**/*.csv"}')

    assert cli("validate", spec).code == 0
    monkeypatch.setenv("SPECOPS_MAX_GLOB_ENTRIES", "2")
    result = cli("validate", spec)

    assert result.code == 2
    assert "looks at more than 2 directory entries" in result.err
