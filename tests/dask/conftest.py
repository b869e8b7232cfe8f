"""A real ``distributed.LocalCluster`` shared by the Dask tests: 2 worker processes,
1 thread each, started once per test session (a few seconds) and closed at the end.

Every test here is marked ``dask``; CI runs them (``pytest -m dask`` selects them alone).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/dask/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.dask)


def small_cluster(memory_limit: str = "1GiB") -> Any:
    """A new LocalCluster of 2 worker processes x 1 thread on loopback (a context
    manager): for a test that kills its workers or needs a cluster of its own."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit=memory_limit,
        host="127.0.0.1",
    )


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """A LocalCluster made apart from specops, as a team's scheduler would be."""
    with small_cluster(memory_limit="2GiB") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def dask_address(dask_cluster: Any) -> str:
    """The scheduler address (``tcp://127.0.0.1:PORT``) a spec's ``address:`` points at."""
    return dask_cluster.scheduler_address


@pytest.fixture
def dask_client(dask_cluster: Any) -> Iterator[Any]:
    """A client of the shared cluster, closed after the test (the cluster stays up)."""
    from distributed import Client

    with Client(dask_cluster) as client:
        yield client
