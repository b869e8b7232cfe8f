"""Continuous training end to end, without Kubernetes: what the container target's
Deployment and CronJob do, as processes on one machine sharing one store.

A real PostgreSQL server holds the metadata and a real S3 API (moto) the artifacts.
Two `specops serve` processes follow ``loop@champion`` and log every request, its
labels included, to the shared store; the traffic drifts; `specops monitor SPEC
--from-log --retrain` in a third process (the CronJob's command) finds the drift in
what both servers answered, retrains on it, gates the challenger and promotes it;
both servers swap to the new champion by themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.serving.conftest import make_frame
from tests.team.postgres_server import PASSWORD, PostgresDatabase
from tests.team.s3_server import SECRET_KEY, S3Prefix
from tests.team.test_serve_shared_store import Server, start_server, wait_all

SPEC = """
name: loop
task: binary
seed: 3
data:
  source: {type: csv, params: {path: data.csv}}
  target: target
model:
  type: lightgbm
  params: {n_estimators: 20, num_leaves: 7}
gate:
  accuracy: {min: 0.5}
monitor:
  on_drift: retrain
  drift: {share: 0.3}
  schedule: "*/10 * * * *"
"""
ROWS_PER_SERVER = 400
BATCH = 50


def drifted(rows: int, seed: int) -> Any:
    """Traffic from a world that moved: older, higher-scoring customers who stay longer;
    the labels follow the same rule as in training, so they can be learnt from."""
    frame = make_frame(rows, seed)
    rng = np.random.default_rng(seed)
    frame["age"] = np.minimum(frame["age"] + 25, 95)
    frame["score"] = frame["score"] + 1.5
    frame["tenure"] = frame["tenure"] * 3
    frame["visits"] = frame["visits"] + 4
    frame["ratio"] = frame["ratio"] ** 0.3
    logit = 0.04 * (frame["age"] - 45) + 0.8 * frame["score"] - 0.02 * frame["tenure"] - 2.5
    frame["target"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return frame


def cronjob_spec(context: Path, directory: Path) -> Path:
    """The spec the container target put in the build context for the image's
    /opt/spec/spec.yaml, checked against its CronJob, with the pod's /tmp under
    ``directory``."""
    import yaml

    cronjob = yaml.safe_load((context / "k8s" / "cronjob.yaml").read_text())
    assert cronjob["spec"]["schedule"] == "*/10 * * * *"
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"][1:] == [
        "monitor",
        "/opt/spec/spec.yaml",
        "--from-log",
        "--since",
        "champion",
        "--retrain",
    ]
    spec = yaml.safe_load((context / "spec" / "spec.yaml").read_text())
    assert spec["data"]["source"]["type"] == "snapshot"  # data.csv is not in the image
    assert spec["store"]["path"] == "/tmp/.specops"
    spec["store"]["path"] = str(directory / "tmp" / ".specops")
    directory.mkdir(parents=True)
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def send(server: Server, frame: Any) -> None:
    """Rows with their labels, as records (the target column is logged, not scored)."""
    from tests.serving.conftest import Client

    client = Client(server.port)
    try:
        for start in range(0, len(frame), BATCH):
            part = frame.iloc[start : start + BATCH]
            status, _, body = client.request(
                "POST",
                "/invocations",
                json.dumps({"dataframe_records": json.loads(part.to_json(orient="records"))}),
            )
            assert status == 200, body
    finally:
        client.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """The replicas of one test, stopped afterwards."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_drift_in_both_servers_traffic_retrains_promotes_and_both_servers_swap(
    postgres_db: PostgresDatabase, s3_prefix: S3Prefix, tmp_path: Path, servers: list[Server]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    make_frame(800, 1).to_csv(project / "data.csv", index=False)
    (project / "spec.yaml").write_text(SPEC)
    env = {
        **s3_prefix.server.env,
        "SPECOPS_STORE": postgres_db.url,
        "SPECOPS_ARTIFACTS": s3_prefix.url,
    }

    def specops(*args: str, cwd: Path = project) -> subprocess.CompletedProcess[str]:
        cwd.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "framework.cli.main", *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**os.environ, **env},
            timeout=600,
        )
        for secret in (PASSWORD, SECRET_KEY):
            assert secret not in done.stdout + done.stderr
        return done

    # the container target on the shared store: version 1 becomes the champion, the
    # build context holds the Deployment, the CronJob and the spec the CronJob runs
    trained = specops("run", "spec.yaml", "--set", "deploy={type: container, params: {path: ctx}}")
    assert trained.returncode == 0, trained.stderr

    # two replicas, each with its own workdir, as two pods would be
    for name in ("pod-a", "pod-b"):
        (tmp_path / name).mkdir()
        servers.append(start_server(tmp_path / name, "loop", "--poll-ms", "200", env=env))
    wait_all(servers, lambda a: a["version"] == 1, "both replicas serving version 1")

    for number, server in enumerate(servers):
        send(server, drifted(ROWS_PER_SERVER, seed=10 + number))

    # the CronJob's command on the spec the container target puts in the image, in a
    # place without the project's files (its data source is the run's snapshot)
    cronjob = cronjob_spec(project / "ctx", tmp_path / "cronjob")
    began = time.monotonic()
    deadline = began + 60
    while True:  # the servers flush their logs every 0.5 s: wait for both, judging only
        counted = specops(
            "monitor",
            str(cronjob),
            "--from-log",
            "--since",
            "champion",
            "--set",
            "monitor.on_drift=report",
            "--json",
            cwd=cronjob.parent,
        )
        seen = json.loads(counted.stdout) if counted.stdout.startswith("{") else {}
        if seen.get("rows") == 2 * ROWS_PER_SERVER or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # then the CronJob's command, once, as the schedule would run it
    began = time.monotonic()
    monitored = specops(
        "monitor",
        str(cronjob),
        "--from-log",
        "--since",
        "champion",
        "--retrain",
        "--json",
        cwd=cronjob.parent,
    )
    result = json.loads(monitored.stdout) if monitored.stdout.startswith("{") else {}
    assert monitored.returncode == 0, monitored.stderr + monitored.stdout[:3000]
    assert result["rows"] == 2 * ROWS_PER_SERVER, result  # what both replicas answered
    assert result["decision"] == "drift" and result["dataset_drift"]["detected"] is True
    assert result["dataset_drift"]["drifted_columns"] >= 3, result["dataset_drift"]
    retrain = result["retrain"]
    assert retrain["status"] == "passed" and retrain["promoted_version"] == 2, retrain
    assert retrain["rows"] == 800 + 2 * ROWS_PER_SERVER  # the spec's source, then the log
    [accuracy] = [verdict for verdict in retrain["gate"] if verdict["metric"] == "accuracy"]
    assert accuracy["passed"] and accuracy["value"] > accuracy["champion"]  # on the new rows

    swapped = wait_all(servers, lambda a: a["version"] == 2, "both replicas swapping")
    print(
        f"\nmonitor + retrain took {time.monotonic() - began - swapped:.1f} s; both replicas "
        f"served version 2 {swapped:.2f} s after it returned"
    )
    for server in servers:
        assert server.predict(drifted(5, seed=99).drop(columns="target")) == "loop/2"

    listed = specops("models", "list", "--json", cwd=tmp_path / "laptop")
    assert listed.returncode == 0, listed.stderr
    assert "loop" in listed.stdout
    # the monitor runs of the CronJob's machine, seen from a laptop on the shared store
    history = specops("monitor", "history", "loop", "--json", cwd=tmp_path / "laptop")
    assert history.returncode == 0, history.stderr
    monitors = json.loads(history.stdout)["runs"]
    retrained = [m for m in monitors if m["retrain_run_id"] is not None]
    assert [(m["decision"], m["retrain_status"], m["promoted_version"]) for m in retrained] == [
        ("drift", "passed", 2)
    ]
    assert {m["version"] for m in monitors} == {1}  # every one judged the champion then
    for server in list(servers):
        log = server.stop()
        for secret in (PASSWORD, SECRET_KEY):
            assert secret not in log
