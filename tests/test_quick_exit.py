"""The CLI's quick exit: the process ends without the interpreter's teardown, but
nothing a user or a plugin relies on at exit is lost (framework/cli/quick_exit.py)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    merged = {**os.environ, **env}
    if "SPECOPS_FULL_EXIT" not in env:
        merged.pop("SPECOPS_FULL_EXIT", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=merged,
        timeout=60,
    )


LEAVES_FILES_OPEN = """
    import atexit, gzip, io, sys
    sys.path.insert(0, {repo!r})
    from framework.cli.quick_exit import leave

    text = open("text.txt", "w")              # buffered, never closed
    text.write("last line\\n" * 10)     # less than a buffer: only close() writes it
    packed = gzip.open("packed.gz", "wt")     # its trailer is written by close()
    packed.write("zipped\\n" * 1000)
    atexit.register(lambda: open("atexit.txt", "w").write("ran"))
    print("x" * 100_000)                      # stdout is a pipe: block-buffered
    wrapper = io.TextIOWrapper(sys.stdout.buffer)  # over stdout: flushed, never closed
    wrapper.write("wrapped")
    print("after")
    leave(3)
    print("never")
"""


def test_files_left_open_are_complete_and_atexit_handlers_run(tmp_path: Path) -> None:
    done = run_python(LEAVES_FILES_OPEN.format(repo=str(REPO)), tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "x" * 100_000 + "\nafter\nwrapped"  # whole, nothing after leave()
    assert (tmp_path / "text.txt").read_text() == "last line\n" * 10
    assert gzip.decompress((tmp_path / "packed.gz").read_bytes()) == b"zipped\n" * 1000
    assert (tmp_path / "atexit.txt").read_text() == "ran"


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    code = """
        import sys, threading, time
        sys.path.insert(0, {repo!r})
        from framework.cli.quick_exit import leave

        def write_later():
            time.sleep(0.3)
            with open("thread.txt", "w") as out:
                out.write("done")

        threading.Thread(target=write_later).start()
        leave(0)
    """
    done = run_python(code.format(repo=str(REPO)), tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "thread.txt").read_text() == "done"


SKIPS_TEARDOWN = """
    import sys
    sys.path.insert(0, {repo!r})
    from framework.cli.quick_exit import leave

    class Noisy:
        def __del__(self):
            sys.stderr.write("torn down")

    kept = Noisy()  # freed only by the interpreter's teardown
    leave(0)
"""


@pytest.mark.parametrize(("full", "torn_down"), [("", False), ("1", True)])
def test_the_teardown_is_skipped_unless_asked_for(
    tmp_path: Path, full: str, torn_down: bool
) -> None:
    done = run_python(SKIPS_TEARDOWN.format(repo=str(REPO)), tmp_path, SPECOPS_FULL_EXIT=full)
    assert done.returncode == 0
    assert ("torn down" in done.stderr) is torn_down


@pytest.mark.parametrize("full", ["", "1"])
def test_specops_ends_with_its_exit_code_and_whole_output(tmp_path: Path, full: str) -> None:
    """Through the real entry point (``python -m framework.cli.main``), quick or not."""
    env = {**os.environ, "SPECOPS_FULL_EXIT": full}
    done = subprocess.run(
        [sys.executable, "-m", "framework.cli.main", "validate", "missing.yaml", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert report[0]["valid"] is False
