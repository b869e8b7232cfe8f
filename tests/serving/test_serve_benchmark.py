"""The serving benchmark still runs end to end (tiny sizes, no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_serve_latency_smoke(tmp_path: Path) -> None:
    argv = [
        "--rows", "2000", "--requests", "30", "--warmup", "5",
        "--big-requests", "1", "--big-rows", "500", "--rounds", "1",
        "--data-dir", str(tmp_path / "data"), "--work-dir", str(tmp_path / "work"),
        "--json", "--output", str(tmp_path / "report.md"),
    ]  # fmt: skip
    script = REPO / "benchmarks" / "serve_latency.py"
    done = subprocess.run(
        [sys.executable, str(script), *argv],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    variants = {row["variant"]: row for row in report["summary"]["rows"]}
    assert set(variants) == {
        "specops serve",
        "specops serve, Open Inference binary tensors",
        "specops serve --no-fast-path",
    }
    assert variants["specops serve"]["rps"] > 0 and variants["specops serve"]["rows_per_s"] > 0
    # LightGBM's own predict time is reported, and each server's time beyond it
    assert report["model_alone_ms"] > 0 and report["summary"]["budget_ms"] > 0
    assert variants["specops serve"]["big_ms"] > 0
    assert "MLflow peer skipped" in " ".join(report["notes"])
    written = (tmp_path / "report.md").read_text()
    assert "| specops serve |" in written and "LightGBM alone" in written
