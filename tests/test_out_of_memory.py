"""Data too big for this process's memory ends with exit 2 and what to do (run it on
Dask workers), not exit 3 "internal error". A real MemoryError: a specops process with
its address space capped (``RLIMIT_AS``, as ``ulimit -v``) a little above what its
imports take, reading a small Parquet file that decodes to more than that."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from framework.errors import OutOfMemory, out_of_memory

ROWS = 20_000_000
"""Two int64 columns: 320 MB decoded, a few hundred KB of Parquet on disk."""
HEADROOM_MB = 200
"""What the capped process may allocate beyond its imports: less than the table."""

CAPPED = textwrap.dedent("""
    import resource, sys
    # what a run imports anyway, before the cap: the cap is then about the data alone
    import lightgbm, numpy, pandas, pyarrow.parquet, sklearn  # noqa: F401
    from framework.cli.main import main

    size = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:"))
    limit = size * 1024 + int(sys.argv[1]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.exit(main(sys.argv[2:]))
""")


def _big_table(path: Path) -> None:
    y = np.zeros(ROWS, dtype="int64")
    y[::2] = 1
    pq.write_table(pa.table({"x": np.zeros(ROWS), "y": y}), path, row_group_size=ROWS)


def test_a_table_too_big_for_memory_is_exit_2_naming_the_step_and_dask(tmp_path: Path) -> None:
    _big_table(tmp_path / "big.parquet")
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent("""
            name: big
            task: binary
            data:
              source: {type: parquet, params: {path: big.parquet}}
              target: y
            model: {type: lightgbm, params: {n_estimators: 5}}
            """).lstrip()
    )
    done = subprocess.run(
        [sys.executable, "-c", CAPPED, str(HEADROOM_MB), "run", "spec.yaml", "--json"],
        cwd=tmp_path,
        env={**os.environ, "MALLOC_ARENA_MAX": "2", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    said = done.stderr
    assert "the data did not fit in this process's memory in step ingest" in said
    assert "execution: {type: dask}" in said and "docs/scaling.md" in said
    assert "internal error" not in said and "Traceback" not in said
    report = json.loads(done.stdout)
    assert report["exit_code"] == 2 and "execution: {type: dask}" in report["hint"]
    assert report["error"].startswith("the data did not fit in this process's memory")
    # the run's record says the same: not "is it a Parquet file?" (pyarrow's
    # ArrowMemoryError is a MemoryError, and the source lets it through)
    from framework.store import Store

    store = Store(tmp_path / ".specops", write=False)
    try:
        [run] = store.runs()
        [ingest] = [step for step in store.steps(run.id) if step.name == "ingest"]
    finally:
        store.close()
    assert run.status == "error" and "Parquet file" not in (ingest.detail or ""), ingest


def test_the_advice_fits_the_command_and_where_it_ran() -> None:
    predicting = out_of_memory(MemoryError(), command="predict")
    assert isinstance(predicting, OutOfMemory) and predicting.exit_code == 2
    assert (
        predicting.message
        == "the data did not fit in this process's memory (specops predict): MemoryError"
    )
    assert "--execution dask" in str(predicting.hint)
    remote = out_of_memory(MemoryError("worker died"), step="train", on_cluster=True)
    assert remote.message == "a Dask worker ran out of memory in step train: worker died"
    assert "memory_limit" in str(remote.hint) and "execution: {type: dask}" not in str(remote.hint)
