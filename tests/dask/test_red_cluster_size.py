"""A spec cannot start more LocalCluster workers than the machine holds (RED finding F8).

`n_workers: 1024` was accepted: 1024 worker processes of 60 MB idle each (200-300 MB
once they ran tasks) on a 23 GB machine, from a 20-byte line. Checked at validate,
before anything starts; `SPECOPS_DASK_MAX_WORKERS` raises the bound.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SPEC = """\
name: size
task: binary
execution:
  type: dask
  params: {n_workers: 1024, threads_per_worker: 1}
data:
  source: {type: parquet, params: {path: parts}}
  target: target
model:
  type: lightgbm
"""


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import pandas as pd

    monkeypatch.delenv("SPECOPS_DASK_MAX_WORKERS", raising=False)
    (tmp_path / "parts").mkdir()
    frame = pd.DataFrame({"x": [float(i) for i in range(40)], "target": ["a", "b"] * 20})
    frame.to_parquet(tmp_path / "parts" / "part-0.parquet")
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


def test_too_many_local_workers_are_refused_at_the_line(cli, spec: Path) -> None:
    for command in ("validate", "run"):
        result = cli(command, spec)
        said = result.out + result.err
        assert result.code == 2, said
        assert "spec.yaml:5:" in said and "execution.params.n_workers" in said
        assert "n_workers 1024 starts more worker processes than this machine allows" in said
    assert not (spec.parent / ".specops").exists()
    cores = max(os.cpu_count() or 1, 4)
    assert cli("validate", spec, "--set", f"execution.params.n_workers={cores}").code == 0


def test_the_bound_is_the_operators_to_raise(
    cli, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECOPS_DASK_MAX_WORKERS", "2000")
    assert cli("validate", spec).code == 0
    monkeypatch.setenv("SPECOPS_DASK_MAX_WORKERS", "many")
    result = cli("validate", spec)
    assert result.code == 2
    assert "SPECOPS_DASK_MAX_WORKERS must be a whole number" in result.out + result.err
