"""The shared LocalCluster the Dask tests use is real: two worker processes that compute."""

from __future__ import annotations

from typing import Any


def test_cluster_has_two_single_thread_workers_that_compute(dask_client: Any) -> None:
    import dask.dataframe as dd
    import pandas as pd

    workers = dask_client.scheduler_info()["workers"]
    assert len(workers) == 2
    assert all(w["nthreads"] == 1 for w in workers.values())
    frame = pd.DataFrame({"x": range(1000)})
    assert dd.from_pandas(frame, npartitions=4).x.sum().compute() == sum(range(1000))
