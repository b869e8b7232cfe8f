"""The cluster a Dask run uses: an existing scheduler is reached and left running; a
LocalCluster specops starts is announced and closed; an unreachable one is bad input."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from framework import UserError
from plugins.dask_execution.cluster import ClusterSettings, open_cluster, shown_address

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_scheduler_is_bad_input_naming_the_address() -> None:
    port = _free_port()  # nothing listens there
    said: list[str] = []
    started = time.perf_counter()
    with (
        pytest.raises(UserError) as caught,
        open_cluster(ClusterSettings(address=f"tcp://127.0.0.1:{port}", timeout=2), said.append),
    ):
        pytest.fail("connected to nothing")
    assert time.perf_counter() - started < 30
    message = str(caught.value)
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 2 s" in message
    assert "hint:" in message and said == []


def test_address_with_a_password_is_refused_without_showing_it() -> None:
    with (
        pytest.raises(UserError) as caught,
        open_cluster(ClusterSettings(address="tcp://ops:hunter2secret@127.0.0.1:1"), print),
    ):
        pytest.fail("connected to nothing")
    message = str(caught.value)
    assert "is not a Dask scheduler address" in message and "tcp://HOST:PORT" in message
    assert "hunter2secret" not in message and "ops:***@127.0.0.1" in message


def test_existing_cluster_is_used_and_left_running(dask_address: str, dask_cluster) -> None:
    said: list[str] = []
    with open_cluster(ClusterSettings(address=dask_address, timeout=10), said.append) as client:
        assert client.submit(sum, [1, 2, 3]).result() == 6
        assert len(client.scheduler_info()["workers"]) == 2
    assert said == []  # nothing started, nothing to announce
    assert client.status == "closed"
    # the team's cluster is still there for everyone else
    assert len(dask_cluster.scheduler_info["workers"]) == 2
    from distributed import Client

    with Client(dask_address, timeout=10) as again:
        assert again.submit(len, "abc").result() == 3


def test_local_cluster_is_announced_bound_to_loopback_and_closed() -> None:
    said: list[str] = []
    settings = ClusterSettings(
        n_workers=1, threads_per_worker=1, memory_limit="1GiB", dashboard_address=None
    )
    with open_cluster(settings, said.append) as client:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")  # TLS: no other local process gets in
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 1
        assert all(w.startswith("tls://127.0.0.1:") for w in workers)
        assert next(iter(workers.values()))["memory_limit"] == 2**30
        # worker processes import specops' plugins like the client
        assert client.submit(_plugin_module_name).result() == "plugins.dask_execution.cluster"
    assert len(said) == 1 and "1 worker(s) x 1 thread(s)" in said[0] and address in said[0]
    assert "dashboard" not in said[0]  # dashboard_address: null turns it off
    import socket

    host, port = address.removeprefix("tls://").rsplit(":", 1)
    with pytest.raises(OSError):  # the cluster specops started is gone: nothing listens
        socket.create_connection((host, int(port)), timeout=1).close()


def test_local_cluster_prints_its_dashboard_address() -> None:
    said: list[str] = []
    settings = ClusterSettings(n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0")
    with open_cluster(settings, said.append):
        pass
    assert "dashboard http://127.0.0.1:" in said[0]


def test_where_names_the_cluster_for_plan() -> None:
    local = ClusterSettings(n_workers=3, threads_per_worker=2, memory_limit="4GiB")
    assert local.where() == (
        "a LocalCluster on this machine: 3 worker process(es) x 2 thread(s), "
        "memory limit 4GiB per worker"
    )
    remote = ClusterSettings(address="tcp://u:pw@sched:8786")
    assert remote.where() == "the Dask scheduler at tcp://u:***@sched:8786"
    assert shown_address("tcp://sched:8786") == "tcp://sched:8786"


def _plugin_module_name() -> str:
    import plugins.dask_execution.cluster as module

    return module.__name__


def test_a_run_on_a_local_cluster_prints_no_routine_dask_warnings(
    cli_process: Any, tmp_path: Path
) -> None:
    """The shuffle a check or a split makes was announced as WARNING lines among the steps
    ("Shuffle ... initialized by task"): routine work, not something to act on."""
    example = tmp_path / "example"
    shutil.copytree(REPO / "specs", example, ignore=shutil.ignore_patterns(".specops"))
    result = cli_process("run", example / "churn_dask.yaml")
    assert result.code == 0, result.err[-2000:]
    assert "distributed.shuffle" not in result.err
    assert "WARNING" not in result.err
