"""Shared fixtures: real specs in temporary directories, the real CLI in process or not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import breast_cancer_spec

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"


@pytest.fixture(autouse=True, scope="session")
def runtime_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Compiled runtimes built by the tests (and by the processes they start) go to a
    cache of the test session's own, never the user's ``~/.cache/specops``; a test that
    needs a cache to itself sets ``SPECOPS_RUNTIME_CACHE`` again."""
    root = tmp_path_factory.mktemp("runtime-cache")
    saved = os.environ.get("SPECOPS_RUNTIME_CACHE")
    os.environ["SPECOPS_RUNTIME_CACHE"] = str(root)
    yield root
    if saved is None:
        os.environ.pop("SPECOPS_RUNTIME_CACHE", None)
    else:
        os.environ["SPECOPS_RUNTIME_CACHE"] = saved


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``specops ARGS`` in this process (fast) and capture what it prints."""
    from framework.cli.main import main

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli_process() -> Callable[..., CliResult]:
    """Run ``specops ARGS`` as a separate process, as a user would."""

    def run(
        *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> CliResult:
        command = [sys.executable, "-m", "framework.cli.main", *map(str, args)]
        merged = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=cwd, env=merged, timeout=300
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[[str], Path]:
    """Write a spec (dedented YAML) into a fresh directory; returns its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


@pytest.fixture
def churn_dir(tmp_path: Path) -> Path:
    """A copy of the churn example with its data, so runs never touch the repo."""
    target = tmp_path / "churn"
    shutil.copytree(SPECS / "data", target / "data")
    shutil.copy(SPECS / "churn_csv.yaml", target / "spec.yaml")
    return target


@pytest.fixture
def bc_spec(write_spec: Callable[[str], Path]) -> Path:
    """A small, fast binary spec on bundled data."""
    return write_spec(breast_cancer_spec(n_estimators=30))


@pytest.fixture(scope="module")
def limits_champion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a champion ``limits`` trained on ``test_data_limits.frame()``: what
    the hostile-data tests predict and monitor with (one training per test module)."""
    from framework.cli.main import main
    from tests.test_data_limits import frame, write_spec

    directory = tmp_path_factory.mktemp("limits")
    frame().to_csv(directory / "train.csv", index=False)
    spec = write_spec(directory, "csv", "{path: train.csv}")
    assert main(["run", str(spec), "--json"]) == 0
    return directory
