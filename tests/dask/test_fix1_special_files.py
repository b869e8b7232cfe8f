"""A FIFO among a Parquet directory's files is refused by name on both executors (F11).

``framework.data_limits.parquet_files`` kept regular files only, so a FIFO named
``part-9.parquet`` in a batch or dataset directory was left out silently (its rows gone,
exit 0); docs/security.md says only regular files are read and anything else is refused
naming it. Here through ``specops monitor --data`` on the shared cluster and locally.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd


def _frame(rows: int = 60) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [i * 7 % 100 for i in range(rows)],
            "b": ["x" if i % 3 else "y" for i in range(rows)],
            "target": [int(i * 7 % 100 > 50) for i in range(rows)],
        }
    )


def test_monitor_refuses_a_fifo_in_the_batch_on_dask_and_locally(
    cli: Any, dask_address: str, tmp_path: Path
) -> None:
    _frame().to_csv(tmp_path / "train.csv", index=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent("""
            name: fifo
            task: binary
            data:
              source: {type: csv, params: {path: train.csv}}
              target: target
            model: {type: lightgbm, params: {n_estimators: 5, num_leaves: 3, min_child_samples: 2}}
            """).lstrip()
    )
    assert cli("run", spec).code == 0
    batch = tmp_path / "batch"
    batch.mkdir()
    _frame().to_parquet(batch / "part-0.parquet", index=False)
    os.mkfifo(batch / "part-9.parquet")
    message = f"data file {batch / 'part-9.parquet'} is a FIFO (named pipe), not a regular file"

    dask = ("--execution", "dask", "--address", dask_address)
    on_dask = cli("monitor", spec, "--data", batch, *dask)
    local = cli("monitor", spec, "--data", batch)

    for result in (on_dask, local):
        assert result.code == 2, result.err
        assert message in result.err
        assert "Traceback" not in result.err
