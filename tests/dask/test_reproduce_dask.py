"""`specops reproduce` of a Dask-trained version rebuilds the same model, byte for byte.

Through the CLI, on the shared 2-worker cluster reached through ``address:``: a real
Parquet dataset, a run that keeps its data snapshot partition by partition, and a
rerun from that snapshot (the source files are gone by then). Distributed LightGBM
used to depend on where the scheduler put the partitions and on the order LightGBM
ranked its machines, and its model text named the cluster's hosts and ports.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.dask import test_run as dask_run
from tests.helpers import stored_package


def test_reproduce_of_a_dask_run_matches_byte_for_byte(
    cli, tmp_path: Path, dask_address: str
) -> None:
    dask_run.write_parts(tmp_path / "parts")
    spec = dask_run.write(tmp_path, f"{{type: dask, params: {{address: '{dask_address}'}}}}")
    report = dask_run.report_of(cli("run", spec, "--json"))
    assert report["model"]["status"] == "registered"
    package = tmp_path / ".specops"
    (tmp_path / "parts").rename(tmp_path / "gone")  # the rerun reads the snapshot

    result = cli("reproduce", report["run_id"], "--store", package, "--json")
    reproduced = json.loads(result.out)
    differing = [c for c in reproduced["comparisons"] if c["match"] is False]
    assert result.code == 0, differing or result.err
    assert reproduced["matched"] is True
    files = {c["item"]: c for c in reproduced["comparisons"] if c["kind"] == "file"}
    assert files["model/model.txt"]["match"] is True
    metrics = {c["item"]: c for c in reproduced["comparisons"] if c["kind"] == "metric"}
    assert metrics["roc_auc"]["reproduced"] == metrics["roc_auc"]["original"]

    # and the stored model names none of the cluster's hosts or ports
    stored = stored_package(package, "bc")
    text = stored.model._booster.model_to_string()  # the stored text, as loaded
    assert "127.0.0.1" not in text and "[machines: ]" in text
