"""The Dask example spec (specs/churn_dask.yaml) runs as its header says, on its own data,
and that data is what its generator writes."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

from tests.conftest import SPECS


def test_churn_dask_example_runs_on_a_cluster_and_locally_with_the_same_rows(
    cli, tmp_path: Path, dask_address: str
) -> None:
    shutil.copytree(SPECS / "data" / "churn_parts", tmp_path / "data" / "churn_parts")
    spec = tmp_path / "churn_dask.yaml"
    shutil.copy(SPECS / "churn_dask.yaml", spec)
    on_dask = cli("run", spec, "--json", "--set", f"execution.params.address={dask_address}")
    assert on_dask.code == 0, on_dask.err + on_dask.out
    report = json.loads(on_dask.out)
    assert report["status"] == "passed"
    assert report["data"]["rows"] == 1200
    checks = report["checks"]
    assert len(checks) >= 6 and all(c["passed"] for c in checks)
    transform = next(s for s in report["steps"] if s["name"] == "transform")
    assert "impute" in transform["component"] and "one_hot" in transform["component"]
    # the same spec, one key switched: pandas in this process, the same rows
    local = cli("run", spec, "--json", "--set", "execution={type: local}")
    assert local.code == 0, local.err + local.out
    local_report = json.loads(local.out)
    split = [next(s for s in r["steps"] if s["name"] == "split") for r in (report, local_report)]
    assert split[0]["detail"] == split[1]["detail"]
    assert local_report["checks"] == checks  # same verdicts and messages


def test_churn_parts_are_what_the_generator_writes(tmp_path: Path) -> None:
    script = runpy.run_path(str(SPECS / "data" / "make_churn_parts.py"), run_name="not_main")
    script["write"](tmp_path / "parts")
    written = sorted(p.name for p in (tmp_path / "parts").iterdir())
    shipped = sorted(p.name for p in (SPECS / "data" / "churn_parts").iterdir())
    assert written == shipped == [f"part-{n}.parquet" for n in range(4)]
    import pandas as pd

    for name in written:  # the same rows and types (bytes also name pyarrow's version)
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "parts" / name),
            pd.read_parquet(SPECS / "data" / "churn_parts" / name),
        )
