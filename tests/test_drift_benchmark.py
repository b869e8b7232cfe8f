"""The drift benchmark keeps working (tiny sizes, no timing asserted, no peer)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_drift_speed_smoke_runs_every_side_and_finds_the_shifted_columns() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/drift_speed.py"), "--rows", "3000", "--runs", "1"]
        + ["--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "Evidently skipped" in report["note"]
    sides = report["results"][0]["sides"]
    assert set(sides) == {
        "specops, stored profile",
        "specops, profile + drift",
        "floor (ks_2samp + PSI)",
    }
    verdicts = sides["specops, stored profile"]["verdicts"]
    assert len(verdicts) == 23
    assert sorted(n for n, v in verdicts.items() if v["drifted"]) == [
        f"num_{i:02d}" for i in range(5)
    ]
    assert all(s["maxrss_mb"] > 0 and s["seconds"] > 0 for s in sides.values())
