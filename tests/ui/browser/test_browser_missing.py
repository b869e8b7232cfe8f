"""Without Chromium the browser suite skips on a laptop and fails under CI, saying how
to install it: a CI that lost its browser must not pass by skipping every UI test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ui.fixture_store import REPO

ONE_BROWSER_TEST = "tests/ui/browser/test_spec_and_token.py::test_a_pasted_spec_is_planned"


@pytest.mark.parametrize(("ci", "code", "outcome"), [("", 0, "1 skipped"), ("true", 1, "1 error")])
def test_a_missing_chromium_skips_or_fails_under_ci(
    tmp_path: Path, ci: str, code: int, outcome: str
) -> None:
    env = {**os.environ, "SPECOPS_CHROMIUM": str(tmp_path / "no-chromium"), "CI": ci}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsE", "-p", "no:cacheprovider", ONE_BROWSER_TEST],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == code, said[-3000:]
    assert outcome in said
    assert "apt-get install -y chromium" in said and "no-chromium is missing" in said
