"""Training rows stay where they are: each group of partitions is held by the worker
that already holds its rows (rank ``j`` is still group ``j``), so placing them for a
reproducible fit moves nothing when the partitions already sit apart. Real 2-worker
LocalCluster (the shared fixture), real data."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.datasets import load_breast_cancer

from plugins.dask_execution.training import groups, place, sorted_workers

PARTS = 4


def _held(client: Any, frame: pd.DataFrame, owners: list[int]) -> Any:
    """``frame`` as ``PARTS`` partitions, partition ``i`` held on worker ``owners[i]``."""
    import dask.dataframe as dd

    workers = sorted_workers(client)
    parts = dd.from_pandas(frame, npartitions=PARTS).to_delayed()
    futures = [
        client.compute(part, workers=[workers[owner]], allow_other_workers=False)
        for part, owner in zip(parts, owners, strict=True)
    ]
    return dd.from_delayed(futures, meta=frame.iloc[:0], verify_meta=False)


def test_each_group_is_held_by_the_worker_that_has_its_rows(dask_client: Any) -> None:
    frame = load_breast_cancer(as_frame=True).data
    workers = sorted_workers(dask_client)
    assert groups(PARTS, len(workers)) == [[0, 2], [1, 3]]
    # group 0 (partitions 0 and 2) sits on the second worker by address, group 1 on the
    # first: placing by address alone would have swapped every row
    held = _held(dask_client, frame, [1, 0, 1, 0])
    placed = place(dask_client, [held])
    assert placed.workers == [workers[1], workers[0]]
    (futures,) = placed.futures
    where = dask_client.who_has(futures)
    assert [list(where[future.key]) for future in futures] == [[workers[1]], [workers[0]]]
    # each group is its partitions in index order, whatever worker holds it
    chunks = [part.compute() for part in held.to_delayed()]
    for future, indices in zip(futures, groups(PARTS, len(workers)), strict=True):
        expected = pd.concat([chunks[i] for i in indices])
        pd.testing.assert_frame_equal(future.result(), expected)


def test_a_group_split_across_workers_goes_where_most_of_it_is(dask_client: Any) -> None:
    frame = load_breast_cancer(as_frame=True).data
    workers = sorted_workers(dask_client)
    # both groups mostly on the first worker: one of them must move, the first keeps it
    placed = place(dask_client, [_held(dask_client, frame, [0, 0, 0, 1])])
    assert placed.workers == [workers[0], workers[1]]
    assert sorted(placed.workers) == workers
