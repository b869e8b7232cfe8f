"""The compiled trees' build child: bounded in time with everything it started, and its
compilers' failures never mistaken for the generator's refusal."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from plugins.runtimes import treelite_cache


def test_a_build_past_its_time_is_killed_with_the_compilers_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(treelite_cache, "BUILD_SECONDS", 1)
    pid_file = tmp_path / "compiler.pid"
    child = (  # the child starts a long "compiler" and waits for it, as main() does
        "import subprocess, sys, pathlib; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"pathlib.Path({str(pid_file)!r}).write_text(str(p.pid)); p.wait()"
    )
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="took longer than 1 s"):
        treelite_cache._run_child([sys.executable, "-c", child], dict(os.environ), tmp_path)
    assert time.monotonic() - started < 30
    compiler = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(compiler):
        time.sleep(0.05)
    assert not _alive(compiler), "the compiler the build child started outlived the build"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie is gone
    except OSError:
        return False


def test_a_compilers_exit_code_is_the_childs_failure_never_the_generators_refusal() -> None:
    """A compiler exiting with the code the child uses for "the generator refused these
    trees" is a failed build (an error to see), not a runtime quietly unavailable."""
    assert treelite_cache._failed(0) == 0
    for code in (1, 2, treelite_cache.UNSUPPORTED_EXIT, 255):
        assert treelite_cache._failed(code) == 1
