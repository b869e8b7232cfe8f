"""A detached server's Python does not import modules from the directory it is started in.

``python -m`` puts the working directory first on ``sys.path``: an ``orjson.py`` (or
``argparse.py``) left there would run inside the server. ``serve --detach`` starts its
child without it (``PYTHONSAFEPATH``; on Python 3.10, ``-c`` dropping ``sys.path[0]``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from framework.serving.daemon import RUN_WITHOUT_CWD, SAFE_PATH, python_module, serve_argv
from framework.serving.settings import ServeSettings

EVIL = 'open({marker!r}, "w").write("ran")\nraise SystemExit(3)\n'


def _run_with_planted_module(
    tmp_path: Path, argv: list[str], env: dict[str, str] | None = None
) -> tuple[int, bool]:
    """Run ``argv + ['--help']`` in a directory holding an ``argparse.py`` that marks a
    file and exits 3; returns the exit code and whether the planted module ran."""
    marker = tmp_path / "ran"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "argparse.py").write_text(EVIL.format(marker=str(marker)), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    done = subprocess.run(
        [*argv, "--help"], cwd=cwd, capture_output=True, timeout=60, env=environment | (env or {})
    )
    return done.returncode, marker.exists()


def test_plain_dash_m_does_run_a_module_planted_in_the_working_directory(
    tmp_path: Path,
) -> None:
    """What the fix is about (so the tests below can fail)."""
    code, ran = _run_with_planted_module(tmp_path, [sys.executable, "-m", "framework.cli.main"])
    assert ran and code == 3


def test_the_detached_servers_command_line_ignores_the_working_directory(
    tmp_path: Path,
) -> None:
    argv = serve_argv(ServeSettings(ref="m", store=str(tmp_path / ".specops")))
    assert argv[: len(python_module("framework.cli.main"))] == python_module("framework.cli.main")
    code, ran = _run_with_planted_module(tmp_path, python_module("framework.cli.main"), SAFE_PATH)
    assert not ran and code == 0


def test_the_python_3_10_form_ignores_the_working_directory_too(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", RUN_WITHOUT_CWD, "framework.cli.main"]
    code, ran = _run_with_planted_module(tmp_path, argv)
    assert not ran and code == 0


def test_a_detached_server_started_beside_a_planted_orjson_serves_without_running_it(
    cli: Any, lgb_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """red-team's reproduction: ``serve --detach`` from a directory holding ``orjson.py``."""
    import json

    from framework.serving import daemon

    marker = tmp_path / "ran"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "orjson.py").write_text(EVIL.format(marker=str(marker)), encoding="utf-8")
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("PYTHONSAFEPATH", raising=False)
    started = cli("serve", "churn", "--store", lgb_store, "--port", "0", "--detach", "--json")
    try:
        assert started.code == 0, started.err
        record = json.loads(started.out)
        assert record["status"] == "started"
        assert not marker.exists()
    finally:
        for running in daemon.records(lgb_store):
            daemon.stop(running, lgb_store)
