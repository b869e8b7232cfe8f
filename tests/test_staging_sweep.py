"""A process killed while it fills a staging directory (a directory deploy, a container
export, ``predict --execution dask``) leaves it behind; the next write of the same
output removes it once its owner is dead, never a live writer's, never a directory
specops did not make. With real processes killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from framework.export import replace_directory
from framework.ownership import MARKER
from framework.partial_output import STAGING_OWNER, sweep_staging

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from framework.export import replace_directory

    target, ready = Path(sys.argv[1]), Path(sys.argv[2])

    def write(staging):
        (staging / "model.bin").write_bytes(b"half of a model")
        ready.with_suffix(".tmp").write_text(str(staging))
        ready.with_suffix(".tmp").rename(ready)  # whole when it appears
        time.sleep(120)  # killed here

    replace_directory(target, write, owner={"target": "directory"})
""")


def _writer(tmp_path: Path, target: Path) -> tuple[subprocess.Popen, Path]:
    """A process writing ``target`` that stops in the middle; its staging directory."""
    ready = tmp_path / f"ready-{os.urandom(3).hex()}"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), str(ready)],
        cwd=Path(__file__).resolve().parents[1],
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert process.poll() is None, "the writer ended before writing"
        assert time.monotonic() < deadline, "the writer never started writing"
        time.sleep(0.02)
    return process, Path(ready.read_text())


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_killed_writers_staging_directory_is_swept_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "export"
    process, staging = _writer(tmp_path, target)
    try:
        lock = staging.with_name(staging.name + ".lock")
        assert staging.is_dir() and lock.read_text().startswith(STAGING_OWNER)
        assert sweep_staging(target) == []  # its writer lives: never a live one's
        assert (staging / "model.bin").exists()
    finally:
        _kill(process)
    assert _hidden(tmp_path) == sorted([staging.name, lock.name])  # left behind

    # the user's own look-alikes: same name pattern, no specops lock beside them
    look_alike = tmp_path / ".export-new-specops-12345-abcdef"
    look_alike.mkdir()
    (look_alike / "keep.txt").write_text("mine")
    fake_lock = tmp_path / ".export-new-specops-54321-fedcba.lock"
    fake_lock.write_text("my notes, not a lock\n")
    (tmp_path / ".export-new-specops-54321-fedcba").mkdir()

    replace_directory(target, lambda d: (d / "model.bin").write_bytes(b"a whole model"))

    assert (target / "model.bin").read_bytes() == b"a whole model"
    assert (target / MARKER).is_file()
    assert not staging.exists() and not lock.exists()
    assert (look_alike / "keep.txt").read_text() == "mine"
    assert _hidden(tmp_path) == sorted(
        [look_alike.name, fake_lock.name, ".export-new-specops-54321-fedcba"]
    )


def test_only_the_dead_writers_directory_goes_among_live_ones(tmp_path: Path) -> None:
    """Two writers of the same output: one killed, one still writing. The sweep removes
    the dead one's directory only; the live one finishes and replaces the output."""
    target = tmp_path / "export"
    dead, dead_staging = _writer(tmp_path, target)
    _kill(dead)
    live, live_staging = _writer(tmp_path, target)  # its start swept the dead one already
    try:
        assert not dead_staging.exists()
        assert not dead_staging.with_name(dead_staging.name + ".lock").exists()
        assert sweep_staging(target) == [] and (live_staging / "model.bin").exists()
    finally:
        _kill(live)
    assert sweep_staging(target) == [live_staging]
    assert _hidden(tmp_path) == []


def test_a_link_named_like_a_staging_directory_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "export"
    process, staging = _writer(tmp_path, target)
    _kill(process)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.csv").write_text("a\n1\n")
    os.rename(staging, tmp_path / "moved")  # the staging name now a link to user data
    staging.symlink_to(precious, target_is_directory=True)
    sweep_staging(target)
    assert (precious / "data.csv").read_text() == "a\n1\n"


@pytest.mark.parametrize("name", ["export", "my export [v2]*", "out.lock"])
def test_names_with_glob_characters_are_matched_exactly(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    process, staging = _writer(tmp_path, target)
    _kill(process)
    other = tmp_path / "exportX"  # another output whose name starts the same
    replace_directory(other, lambda d: (d / "f").write_text("x"))
    assert staging.exists()  # not other's to sweep
    replace_directory(target, lambda d: (d / "f").write_text("x"))
    assert not staging.exists()


def test_a_deploy_path_too_long_for_its_staging_names_is_refused_at_validate(
    tmp_path: Path,
) -> None:
    from framework.components import StepContext
    from framework.ownership import NAME_MAX, deploy_path_findings
    from framework.partial_output import STAGING_ADDED

    ctx = StepContext("m", "binary", "y", tmp_path / "project", store_root=tmp_path / "store")
    longest = tmp_path / ("d" * (NAME_MAX - STAGING_ADDED))
    assert deploy_path_findings(longest, ctx) == []
    replace_directory(longest, lambda d: (d / "f").write_text("x"))  # its names fit
    assert (longest / "f").read_text() == "x"
    [finding] = deploy_path_findings(tmp_path / ("d" * (NAME_MAX - STAGING_ADDED + 1)), ctx)
    assert f"adds {STAGING_ADDED} characters to it" in finding.message


def test_a_taken_staging_name_is_refused_and_left_alone(tmp_path: Path, monkeypatch) -> None:
    """Were a staging name ever taken (the same pid and random suffix), specops fails
    to make its directory and removes nothing on the way out: not what was there."""
    from framework import partial_output

    target = tmp_path / "out"
    taken = tmp_path / f".out-new-{partial_output.MARK}-{os.getpid()}-abcdef"
    taken.mkdir()
    (taken / "theirs.txt").write_text("not specops'")
    monkeypatch.setattr(partial_output.os, "urandom", lambda n: bytes.fromhex("abcdef"))
    with pytest.raises(FileExistsError), partial_output.staging_directory(target):
        pass
    assert (taken / "theirs.txt").read_text() == "not specops'"
