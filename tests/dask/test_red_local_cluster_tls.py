"""The LocalCluster specops starts refuses other local processes (RED finding F2).

Bound to 127.0.0.1 it kept other hosts out, but any process of any user on the machine
could connect to its plain-tcp scheduler and run code in the workers with the rights of
the user running specops. With Dask's temporary TLS credentials (held in this process
only) a client without them is refused, whichever scheme it tries.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from framework import UserError
from plugins.dask_execution.cluster import ClusterSettings, open_cluster

INTRUDER = """
import os, sys
from distributed import Client
address = sys.argv[1]
try:
    client = Client(address, timeout=5)
    print("RAN", client.run(os.getpid))
except Exception as exc:
    print("REFUSED", type(exc).__name__)
"""


def _intrude(address: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", INTRUDER, address], capture_output=True, text=True, timeout=60
    )
    return done.stdout


def test_another_local_process_cannot_use_the_local_cluster() -> None:
    said: list[str] = []
    settings = ClusterSettings(n_workers=1, threads_per_worker=1, dashboard_address=None)
    with open_cluster(settings, said.append) as client:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert client.submit(sum, [1, 2]).result() == 3  # specops' own client still works
        as_tls = _intrude(address)
        as_tcp = _intrude(address.replace("tls://", "tcp://"))
    assert "RAN" not in as_tls and "REFUSED" in as_tls
    assert "RAN" not in as_tcp and "REFUSED" in as_tcp
    assert address in said[0]


def test_a_tls_scheduler_without_tls_config_is_bad_input_not_a_crash() -> None:
    """RED finding F9: it was exit 3, "a bug in plugin dask_execution" (TypeError)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    address = f"tls://127.0.0.1:{server.getsockname()[1]}"
    try:
        settings = ClusterSettings(address=address, timeout=2)
        with pytest.raises(UserError) as caught, open_cluster(settings, print):
            pass
    finally:
        server.close()
    assert f"the Dask scheduler at {address} speaks TLS" in str(caught.value)
    assert "DASK_DISTRIBUTED__COMM__TLS__CA_FILE" in str(caught.value)


def test_workers_keep_their_files_in_a_private_folder_removed_afterwards() -> None:
    """RED finding F12: not the machine-wide /tmp/dask-scratch-space."""
    import os
    from pathlib import Path

    settings = ClusterSettings(n_workers=1, threads_per_worker=1, dashboard_address=None)
    with open_cluster(settings, print) as client:
        where = next(iter(client.run(lambda dask_worker: dask_worker.local_directory).values()))
        scratch = next(p for p in Path(where).parents if p.name.startswith("specops-dask-"))
        assert scratch.is_dir() and not str(scratch).startswith("/tmp/dask-scratch-space")
        assert oct(os.stat(scratch).st_mode & 0o777) == oct(0o700)
    assert not scratch.exists()


def test_a_cluster_that_cannot_start_leaves_no_scratch_folder(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp puts it
    bad = ClusterSettings(n_workers=1, threads_per_worker=1, memory_limit="lots of it")
    with pytest.raises(UserError), open_cluster(bad, print):
        pass
    assert list(tmp_path.iterdir()) == []
