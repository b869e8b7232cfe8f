"""`specops predict --execution dask` killed (SIGKILL) while its parts are written leaves
its staging directory beside the output; the next predict to that output removes it,
and writes the output whole."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from framework.partial_output import STAGING_OWNER
from tests.test_predict import SPEC, make_rows


def _train(directory: Path) -> None:
    from framework.cli.main import main

    (directory / "spec.yaml").write_text(SPEC.lstrip())
    make_rows(400).to_csv(directory / "train.csv", index=False)
    assert main(["run", str(directory / "spec.yaml"), "--json"]) == 0


def _batch(directory: Path, files: int = 8, rows: int = 20_000) -> Path:
    folder = directory / "batch"
    folder.mkdir()
    frame = make_rows(rows, seed=5).drop(columns="churned")
    for number, positions in enumerate(np.array_split(np.arange(rows), files)):
        frame.iloc[positions].to_parquet(folder / f"b-{number}.parquet", index=False)
    return folder


def _wait_idle(client: Any, seconds: float = 60) -> None:
    """Until the killed client's tasks have left the workers (they run on after it)."""
    deadline = time.monotonic() + seconds
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_a_killed_dask_predict_leaves_a_staging_directory_the_next_one_removes(
    cli: Any, tmp_path: Path, dask_address: str, dask_client: Any
) -> None:
    _train(tmp_path)
    batch = _batch(tmp_path)
    output = tmp_path / "scored"
    command = [
        sys.executable,
        "-m",
        "framework.cli.main",
        "predict",
        "score",
        "-i",
        str(batch),
        "-o",
        str(output),
        "--execution",
        "dask",
        "--address",
        dask_address,
        "--store",
        str(tmp_path / ".specops"),
    ]
    process = subprocess.Popen(
        command,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not [p for p in tmp_path.glob(".scored-new-specops-*") if p.is_dir()]:
            assert process.poll() is None, "predict ended before it staged its output"
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    [lock] = tmp_path.glob(".scored-new-specops-*.lock")
    staging = lock.with_name(lock.name.removesuffix(".lock"))
    assert lock.read_text().startswith(STAGING_OWNER) and staging.is_dir()
    assert not output.exists()
    _wait_idle(dask_client)

    result = cli(
        "predict",
        "score",
        "-i",
        batch,
        "-o",
        output,
        "--execution",
        "dask",
        "--address",
        dask_address,
        "--store",
        tmp_path / ".specops",
    )
    assert result.code == 0, result.err
    assert len(pd.read_parquet(output)) == 20_000
    assert not staging.exists() and not lock.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".scored")] == []
