"""A Dask worker killed (SIGKILL) while LightGBM trains on it: the run either survives
through Dask's own recovery or ends with a clear error (exit 2); never a traceback,
never a half-registered version, never a new champion.

The cluster here is the test's own (2 workers, each under a nanny), not the shared
fixture: killing one of the shared workers would disturb the other tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dask.conftest import small_cluster
from tests.helpers import store_rows

ROWS = 60_000
FEATURES = 12


@pytest.fixture
def own_cluster() -> Iterator[Any]:
    with small_cluster() as cluster:
        yield cluster


def _write_data(directory: Path) -> None:
    """A synthetic table large enough that training lasts a few seconds."""
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=ROWS, n_features=FEATURES, n_informative=6, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)])
    frame["label"] = y
    directory.mkdir()
    for number in range(4):
        frame.iloc[number::4].to_parquet(directory / f"part-{number}.parquet", index=False)


def _spec(project: Path, address: str) -> Path:
    spec = project / "spec.yaml"
    spec.write_text(
        textwrap.dedent(f"""
            name: killed
            task: binary
            seed: 1
            execution: {{type: dask, params: {{address: '{address}', timeout: 20}}}}
            data:
              source: {{type: parquet, params: {{path: parts}}}}
              target: label
            model:
              type: lightgbm
              params: {{n_estimators: 400, num_leaves: 63, learning_rate: 0.02}}
            gate:
              roc_auc: {{min: 0.5}}
            """).lstrip()
    )
    return spec


def _training_worker(client: Any, deadline: float) -> str | None:
    """The address of a worker running LightGBM's training task, once one is."""
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if any(str(key).startswith("_train_part") for key in keys):
                return worker
        time.sleep(0.05)
    return None


def test_a_worker_killed_during_training_never_leaves_a_half_registered_version(
    tmp_path: Path, own_cluster: Any
) -> None:
    from distributed import Client

    _write_data(tmp_path / "parts")
    spec = _spec(tmp_path, own_cluster.scheduler_address)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    run = subprocess.Popen(
        [sys.executable, "-m", "framework.cli.main", "run", str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        with Client(own_cluster.scheduler_address, timeout=20) as watcher:
            worker = _training_worker(watcher, time.monotonic() + 240)
            assert worker is not None, "training never started: " + run.communicate()[1]
            pid = watcher.run(os.getpid, workers=[worker])[worker]
            os.kill(pid, signal.SIGKILL)
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    store = tmp_path / ".specops"
    assert "Traceback" not in err, err
    if run.returncode == 0:  # survived: the version is whole and usable
        assert store_rows(store, "SELECT version, status FROM model_versions") == [
            (1, "registered")
        ]
    else:
        assert run.returncode == 2, out + err
        assert "worker" in err and "lost" in err, err
        assert "nothing registered" in err, err
        assert store_rows(store, "SELECT COUNT(*) FROM model_versions") == [(0,)]
        assert store_rows(store, "SELECT COUNT(*) FROM aliases") == [(0,)]
        statuses = store_rows(store, "SELECT status FROM runs")
        assert statuses == [("error",)]


def _pinned_fit(client: Any, worker: str, seconds: float) -> Any:
    """A stand-in for lightgbm.dask's fit: a training task pinned to one worker, waited for."""
    import uuid

    def train(wait: float) -> str:
        time.sleep(wait)
        return "trained"

    def fit() -> None:
        future = client.submit(
            train,
            seconds,
            key=f"_train_part-{uuid.uuid4().hex}",
            workers=[worker],
            allow_other_workers=False,
            pure=False,
        )
        assert future.result() == "trained"

    return fit


def test_watchdog_ends_a_fit_whose_training_worker_dies_and_spares_one_losing_an_idle_worker(
    own_cluster: Any,
) -> None:
    from distributed import Client

    from plugins.dask_execution.executor import WorkerLost, _watched

    with Client(own_cluster.scheduler_address, timeout=20) as client:
        trainer, idle = sorted(client.scheduler_info()["workers"])
        # an idle worker retired mid-fit (an adaptive cluster scaling down): the fit goes on
        retire = threading.Timer(1.0, lambda: client.retire_workers([idle], close_workers=True))
        retire.start()
        started = time.monotonic()
        _watched(client, _pinned_fit(client, trainer, 4.0), grace=0.1)
        assert time.monotonic() - started >= 4.0
        retire.join()
        assert list(client.scheduler_info()["workers"]) == [trainer]

        # the worker running the training task killed: the fit ends at once, not after grace
        pid = client.run(os.getpid, workers=[trainer])[trainer]
        threading.Timer(1.5, os.kill, (pid, signal.SIGKILL)).start()
        started = time.monotonic()
        with pytest.raises(WorkerLost) as caught:
            _watched(client, _pinned_fit(client, trainer, 120.0), grace=300)
        assert time.monotonic() - started < 60
        assert trainer in str(caught.value) and "nothing registered" in str(caught.value)


def test_a_task_that_keeps_killing_workers_is_exit_2_not_a_traceback() -> None:
    """Dask retries a task whose worker died; when it has killed ``allowed-failures``
    workers Dask gives up (KilledWorker), and the executor says so as bad input."""
    import dask
    from distributed import Client, LocalCluster

    from framework import UserError
    from plugins.dask_execution.cluster import ClusterSettings
    from plugins.dask_execution.executor import _cluster_errors

    class Step:
        settings = ClusterSettings(address="tcp://127.0.0.1:1")

        @_cluster_errors
        def run(self, client: Any) -> Any:
            return client.submit(os._exit, 1, pure=False).result()

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 1}),
        LocalCluster(
            n_workers=1, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
        Client(cluster) as client,
    ):
        with pytest.raises(UserError) as caught:
            Step().run(client)
        # the nanny is still restarting the killed worker: closing the cluster in the
        # middle of that made distributed fail its own shutdown now and then
        client.wait_for_workers(1, timeout=60)
    message = str(caught.value)
    assert "Dask workers died running task _exit" in message
    assert "nothing registered" in message and "memory_limit" in message
