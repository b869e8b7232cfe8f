"""`specops run` on Dask end to end through the CLI: a real Parquet dataset, a real
cluster (one specops starts, and the shared one reached through ``address:``), real
LightGBM training, a real store; the registered version predicts and serves like a
local one, and the same spec picks the same rows locally and on the cluster."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import LIFECYCLE_STEPS, champion, store_rows

PARTS = 4
QUALITY_TOLERANCE = 0.03
"""How far the Dask-trained model's ROC AUC may sit from the local one's on the same
rows (distributed LightGBM builds its histograms per worker, so trees differ a little)."""


def write_parts(directory: Path, parts: int = PARTS) -> Path:
    """scikit-learn's breast cancer table (569 rows) as a Parquet dataset of ``parts``
    files, one partition each."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    directory.mkdir(parents=True)
    size = -(-len(frame) // parts)
    for number in range(parts):
        chunk = frame.iloc[number * size : (number + 1) * size]
        chunk.to_parquet(directory / f"part-{number}.parquet", index=False)
    return directory


def spec_text(execution: str) -> str:
    return textwrap.dedent(f"""
        name: bc
        task: binary
        seed: 3
        execution: {execution}
        data:
          source: {{type: parquet, params: {{path: parts}}}}
          target: target
          split: {{type: stratified, params: {{test_size: 0.25}}}}
        model:
          type: lightgbm
          params: {{n_estimators: 40, num_leaves: 7, min_child_samples: 10}}
        gate:
          roc_auc: {{min: 0.9, max_drop: 0.05}}
        """).lstrip()


LOCAL_CLUSTER = (
    "{type: dask, params: {n_workers: 2, threads_per_worker: 1, memory_limit: 1GiB, "
    "dashboard_address: '127.0.0.1:0'}}"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder holding the Parquet dataset ``parts/``; specs are written beside it."""
    write_parts(tmp_path / "parts")
    return tmp_path


def write(project: Path, execution: str, name: str = "spec.yaml") -> Path:
    path = project / name
    path.write_text(spec_text(execution))
    return path


def report_of(result) -> dict:
    assert result.code == 0, result.err + result.out
    return json.loads(result.out)


def step(report: dict, name: str) -> dict:
    return next(s for s in report["steps"] if s["name"] == name)


def test_run_on_a_local_cluster_specops_starts_registers_a_servable_version(
    cli, project: Path
) -> None:
    spec = write(project, LOCAL_CLUSTER)
    started = time.perf_counter()
    result = cli("run", spec, "--json")
    seconds = time.perf_counter() - started
    report = report_of(result)
    assert report["status"] == "passed"
    assert [s["name"] for s in report["steps"]] == LIFECYCLE_STEPS
    # the cluster it started was announced, with its dashboard, on the console
    assert "Dask LocalCluster: 2 worker(s) x 1 thread(s)" in result.err
    assert "dashboard http://127.0.0.1:" in result.err
    assert report["data"]["rows"] == 569
    assert step(report, "split")["detail"].startswith("426 train / 143 test")
    roc = next(m for m in report["metrics"] if m["metric"] == "roc_auc")
    assert roc["passed"] is True and roc["value"] > 0.95
    assert report["model"] == {"name": "bc", "version": 1, "status": "registered"}
    assert champion(project / ".specops") == 1
    print(f"dask run (LocalCluster started by specops) took {seconds:.1f} s")

    # the version is a plain package: `specops predict` scores it locally
    batch = project / "batch.csv"
    import pandas as pd

    rows = pd.read_parquet(project / "parts").drop(columns=["target"]).head(50)
    rows.to_csv(batch, index=False)
    scored = cli(
        "predict",
        "bc",
        "--input",
        batch,
        "--output",
        project / "out.csv",
        "--store",
        project / ".specops",
    )
    assert scored.code == 0, scored.err
    out = pd.read_csv(project / "out.csv")
    assert len(out) == 50 and list(out.columns) == ["prediction", "proba_0", "proba_1"]

    # and the serving model loads it from the registry and predicts what predict wrote
    import numpy as np

    from framework.plugins import load_plugins
    from framework.serving.batch import Batch
    from framework.serving.model_holder import load_from_store

    served = load_from_store(project / ".specops", "bc", load_plugins()).current
    batch_rows = Batch({name: rows[name].tolist() for name in rows.columns}, len(rows))
    served_proba = served.predict(batch_rows).proba
    assert served_proba.shape == (50, 2)
    written = out[["proba_0", "proba_1"]].to_numpy(dtype=float)
    assert np.allclose(written, served_proba, rtol=1e-9, atol=1e-12)


def test_run_on_an_existing_cluster_through_address_leaves_it_running(
    cli, project: Path, dask_address: str, dask_cluster
) -> None:
    spec = write(project, f"{{type: dask, params: {{address: '{dask_address}'}}}}")
    result = cli("run", spec, "--json")
    report = report_of(result)
    assert report["status"] == "passed"
    assert "LocalCluster" not in result.err  # nothing started
    assert report["model"]["version"] == 1
    assert len(dask_cluster.scheduler_info["workers"]) == 2  # the team's cluster is still up


def test_same_spec_picks_the_same_rows_locally_and_on_dask_within_tolerance(
    cli, project: Path, dask_address: str
) -> None:
    spec = write(project, "{type: local}")
    local = report_of(cli("run", spec, "--json"))
    started = time.perf_counter()
    # --set switches a local spec to the cluster, no other edit
    on_dask = report_of(
        cli(
            "run",
            spec,
            "--json",
            "--set",
            "execution.type=dask",
            "--set",
            f"execution.params.address={dask_address}",
        )
    )
    assert time.perf_counter() - started > 0
    assert step(local, "split")["detail"] == step(on_dask, "split")["detail"]
    assert step(on_dask, "split")["detail"].startswith("426 train / 143 test")
    local_rows = local["lineage"]["training_rows"]
    dask_rows = on_dask["lineage"]["training_rows"]
    assert local_rows["rows"] == dask_rows["rows"] == 426
    assert _trained_on(project, local_rows) == _trained_on(project, dask_rows)
    roc = {
        name: next(m["value"] for m in r["metrics"] if m["metric"] == "roc_auc")
        for name, r in (("local", local), ("dask", on_dask))
    }
    assert abs(roc["local"] - roc["dask"]) <= QUALITY_TOLERANCE, roc
    # the candidate on Dask went through the gate against the champion trained locally
    gate = step(on_dask, "gate")
    assert "champion bc/1" in gate["detail"]
    comparison = on_dask["comparison"]
    # rescored on the cluster on the same 143 test rows, none of which either trained on:
    # the champion's scores there are exactly its own (local) evaluation's
    assert comparison["basis"] == "rescored" and comparison["version"] == "bc/1"
    assert comparison["rows"] == comparison["test_rows"] == 143
    assert comparison["in_champion_training"] == 0
    champion_roc = next(m["champion"] for m in on_dask["metrics"] if m["metric"] == "roc_auc")
    assert champion_roc == pytest.approx(roc["local"], abs=1e-12)
    assert on_dask["status"] == "passed" and on_dask["model"]["version"] == 2


def _trained_on(project: Path, entry: dict) -> frozenset[int]:
    """The fingerprints of the rows a version trained on, whatever its record's scheme."""
    from framework import training_rows
    from framework.store import Store

    store = Store(project / ".specops")
    try:
        return frozenset(training_rows.members(store, entry, _table(project)))
    finally:
        store.close()


def _table(project: Path):
    import pandas as pd

    return pd.read_parquet(project / "parts")


def test_plan_shows_the_executor_and_the_partitions(cli, project: Path) -> None:
    spec = write(project, LOCAL_CLUSTER)
    result = cli("plan", spec)
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "dask" in text
    assert "a LocalCluster on this machine: 2 worker process(es) x 1 thread(s)" in text
    assert f"yields {PARTS} partition(s)" in text
    assert "held in the workers' memory" in text
    assert not (project / ".specops").exists()  # plan runs nothing


def test_a_profile_moves_a_local_spec_to_an_existing_cluster(
    cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # another machine's scheduler named in a spec file: the operator allows it (RED F1)
    monkeypatch.setenv("SPECOPS_DASK_ADDRESSES", "tcp://sched:8786")
    spec = write(project, "{type: local}")
    spec.write_text(
        spec.read_text()
        + "profiles:\n  cluster:\n    execution: {type: dask, params: {address: 'tcp://sched:8786'}}\n"
    )
    local = cli("plan", spec, "--json")
    assert local.code == 0, local.err
    assert json.loads(local.out)["execution"]["type"] == "local"
    remote = cli("plan", spec, "--profile", "cluster", "--json")
    assert remote.code == 0, remote.err
    execution = json.loads(remote.out)["execution"]
    assert execution["type"] == "dask"
    assert "runs on the Dask scheduler at tcp://sched:8786" in execution["describe"]
    assert f"source 'parquet' yields {PARTS} partition(s)" in execution["describe"]


def test_validate_refuses_a_model_with_no_distributed_training_at_its_line(
    cli, project: Path
) -> None:
    spec = write(project, "{type: dask}")
    text = spec.read_text().replace("type: lightgbm", "type: random_forest")
    text = text.replace("{n_estimators: 40, num_leaves: 7, min_child_samples: 10}", "{}")
    spec.write_text(text)
    line = text.splitlines().index("  type: random_forest") + 1
    result = cli("validate", spec)
    assert result.code == 2
    assert f"spec.yaml:{line}:" in result.err
    assert "random_forest" in result.err and "does not train on a Dask cluster" in result.err
    assert "lightgbm" in result.err.split("does not train")[1]
    assert "execution: local" in result.err
    # the same spec is fine locally
    assert cli("validate", spec, "--set", "execution.type=local").code == 0


def test_reproduce_a_dask_trained_version(cli, project: Path, dask_address: str) -> None:
    spec = write(project, f"{{type: dask, params: {{address: '{dask_address}'}}}}")
    report = report_of(cli("run", spec, "--json"))
    assert report["lineage"]["data_snapshot"]  # kept partition by partition
    (project / "parts").rename(project / "gone")  # the rerun reads the snapshot, not the files
    result = cli("reproduce", report["run_id"], "--store", project / ".specops", "--json")
    # rerun on the same cluster: the same rows on the same workers, the same model
    assert result.code == 0, result.out
    reproduced = json.loads(result.out)
    assert reproduced["run_id"] == report["run_id"]
    assert reproduced["data_hash"] == report["lineage"]["data_hash"]
    assert reproduced["matched"] is True
    metrics = {c["item"]: c for c in reproduced["comparisons"] if c["kind"] == "metric"}
    assert metrics["roc_auc"]["reproduced"] == metrics["roc_auc"]["original"]
    files = {c["item"]: c for c in reproduced["comparisons"] if c["kind"] == "file"}
    assert files["model/model.txt"]["match"] is True
    assert store_rows(project / ".specops", "SELECT COUNT(*) FROM model_versions") == [(1,)]


def test_unreachable_scheduler_is_exit_2_naming_it_and_nothing_registered(
    cli, project: Path
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = write(
        project, f"{{type: dask, params: {{address: 'tcp://127.0.0.1:{port}', timeout: 2}}}}"
    )
    result = cli("run", spec)
    assert result.code == 2
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 2 s" in result.err
    assert "Traceback" not in result.err
    assert store_rows(project / ".specops", "SELECT COUNT(*) FROM model_versions") == [(0,)]


def test_bad_data_on_dask_is_exit_2_with_the_local_message(
    cli, project: Path, dask_address: str
) -> None:
    spec = write(project, f"{{type: dask, params: {{address: '{dask_address}'}}}}")
    spec.write_text(spec.read_text().replace("target: target", "target: diagnosis"))
    on_dask = cli("run", spec)
    local = cli("run", spec, "--set", "execution={type: local}")
    assert on_dask.code == local.code == 2
    assert "target column 'diagnosis' is not in the data" in on_dask.err
    assert on_dask.err.splitlines()[-1] == local.err.splitlines()[-1]
    assert store_rows(project / ".specops", "SELECT COUNT(*) FROM model_versions") == [(0,)]
