"""A worker killed while ``predict --execution dask`` writes its parts: Dask runs the
lost pieces again on the other worker, the output is whole and equal to local
scoring, and no partial file of the dead worker is left in it.

This test kills a worker, so it starts its own LocalCluster (the shared one stays
whole for the other tests).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from plugins.dask_execution.scoring import score_partitioned
from tests.dask.conftest import small_cluster
from tests.dask.test_predict import package, partitioned, trained  # noqa: F401 (fixtures)
from tests.test_predict import predict


@pytest.fixture
def own_cluster():
    from distributed import Client

    with small_cluster() as cluster, Client(cluster) as client:
        yield client


def test_a_worker_killed_mid_run_leaves_a_whole_output(
    cli,
    own_cluster,
    trained: Path,  # noqa: F811
    package,  # noqa: F811
) -> None:
    client = own_cluster
    folder = partitioned(trained, ".csv", parts=12, rows=2400)
    local = trained / "death-local.parquet"
    assert predict(cli, trained, "score", "-i", folder / "*.csv", "-o", local).code == 0
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_one_worker(rows: int, total: int | None) -> None:
        if not killed:  # after the first part: the others are queued or being written
            victim = next(iter(pids.values()))
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    output = trained / "death-out"
    done = score_partitioned(
        client, package, folder / "*.csv", output, chunk_rows=20, progress=kill_one_worker
    )
    assert killed and done.rows == 2400
    names = sorted(p.name for p in output.iterdir())
    assert names == [".specops-deploy.json"] + [f"part-{n:05d}.parquet" for n in range(12)]
    pd.testing.assert_frame_equal(pd.read_parquet(output), pd.read_parquet(local))
    assert not [p for p in trained.iterdir() if p.name.startswith(".death-out")]


def test_a_worker_killed_after_its_parts_arrived_leaves_a_whole_output(
    cli,
    own_cluster,
    trained: Path,  # noqa: F811
    package,  # noqa: F811
) -> None:
    """The race CI found: Dask computes a finished part again when the worker holding
    its result dies, even after the result arrived. Killed as the last part arrives,
    that rewrite would land in the published output unless the run waits for it."""
    client = own_cluster
    folder = partitioned(trained, ".csv", parts=6, rows=1200)
    local = trained / "late-local.parquet"
    assert predict(cli, trained, "score", "-i", folder / "*.csv", "-o", local).code == 0
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_a_holder_at_the_end(rows: int, total: int | None) -> None:
        if rows == 1200 and not killed:  # the last part arrived
            holders = [a for where in client.who_has().values() for a in where if a in pids]
            victim = pids[max(set(holders), key=holders.count)]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    output = trained / "late-out"
    done = score_partitioned(
        client, package, folder / "*.csv", output, progress=kill_a_holder_at_the_end
    )
    assert killed and done.rows == 1200
    time.sleep(2)  # time for a rewrite that outlived the run to show itself
    names = sorted(p.name for p in output.iterdir())
    assert names == [".specops-deploy.json"] + [f"part-{n:05d}.parquet" for n in range(6)]
    pd.testing.assert_frame_equal(pd.read_parquet(output), pd.read_parquet(local))
    assert not [p for p in trained.iterdir() if p.name.startswith(".late-out")]
