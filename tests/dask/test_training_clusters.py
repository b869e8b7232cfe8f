"""Two clusters, one model: LightGBM trained on two separately started LocalClusters
writes the same model.txt, byte for byte.

Each LocalCluster gets random ports, so its workers' addresses (and their sort order,
and the ports LightGBM's network listens on) differ from one start to the next. Which
worker's rows decide which feature's histogram bins follows the worker's rank in
LightGBM's network; the rank must follow the placement of the rows (group ``j`` trains
as rank ``j``), never the addresses. This test must start its own clusters (the shared
fixture is one cluster); they are small (2 workers x 1 thread) and closed at once.
Real data (scikit-learn's breast cancer table), real training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.datasets import load_breast_cancer

from framework import StepContext
from plugins.dask_execution.training import RankedClient, place, sorted_workers
from plugins.models.lightgbm_model import LightGBMModel
from tests.dask.conftest import small_cluster

PARAMS = {"n_estimators": 30, "num_leaves": 15, "min_child_samples": 10}
PARTS = 4


def _table() -> tuple[pd.DataFrame, pd.Series]:
    data = load_breast_cancer(as_frame=True)
    return data.data, pd.Series(data.target.to_numpy(), index=data.data.index, name="target")


def _fit_and_save(client: Any, directory: Path) -> bytes:
    import dask.dataframe as dd

    X, y = _table()
    model = LightGBMModel(**PARAMS)
    context = StepContext("clusters", "binary", "target", Path("."), seed=5)
    model.fit_distributed(
        dd.from_pandas(X, npartitions=PARTS), dd.from_pandas(y, npartitions=PARTS), context, client
    )
    assert model.fit_info == {"workers": 2}
    model.save(directory)
    return (directory / "model.txt").read_bytes()


def _on_a_new_cluster(directory: Path) -> tuple[bytes, list[str]]:
    from distributed import Client

    with small_cluster() as cluster, Client(cluster) as client:
        return _fit_and_save(client, directory), sorted_workers(client)


def test_two_local_clusters_started_apart_write_the_same_model(
    dask_client: Any, tmp_path: Path
) -> None:
    first, first_workers = _on_a_new_cluster(tmp_path / "first")
    second, second_workers = _on_a_new_cluster(tmp_path / "second")
    assert first_workers != second_workers  # random ports: other addresses each start
    assert first == second
    # and the shared cluster (a third set of addresses) agrees with both
    assert _fit_and_save(dask_client, tmp_path / "shared") == first


def test_ranks_follow_the_placement_wherever_lightgbm_s_parts_sit(dask_client: Any) -> None:
    """lightgbm.dask numbers its machines by where ``who_has`` says each of its parts
    sits. Its parts are new tasks the scheduler may run, or copy, on another worker
    than the group they wrap; the placement-aware view names group ``j``'s worker for
    part ``j``, so rank ``j`` trains group ``j`` however the scheduler moved them."""
    import dask.dataframe as dd
    from distributed import wait

    X, _ = _table()
    placed = place(dask_client, [dd.from_pandas(X, npartitions=PARTS)])
    (futures,) = placed.futures
    # LightGBM's part tasks, both run (and held) on one worker: the real who_has
    # would give LightGBM a single machine
    one = placed.workers[-1]
    parts = [
        dask_client.submit(dict, data=future, workers=[one], allow_other_workers=False, pure=False)
        for future in futures
    ]
    wait(parts)
    real = dask_client.who_has(parts)
    assert all(list(real[part.key]) == [one] for part in parts)
    ranked = RankedClient(dask_client, placed.workers)
    assert ranked.who_has(parts) == {
        part.key: [worker] for part, worker in zip(parts, placed.workers, strict=True)
    }
    # futures that are not one per group are listed where they are, in the order asked
    assert list(ranked.who_has(parts[:1])) == [parts[0].key]
