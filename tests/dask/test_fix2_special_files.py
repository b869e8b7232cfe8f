"""A FIFO among ``specops predict``'s input files is refused by name (exit 2) on both
executors, never silently left out with its rows (RED F11); nothing is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.dask.test_fix2_predict_output import partitioned, trained  # noqa: F401
from tests.test_predict import predict


@pytest.mark.parametrize("executor", ["local", "dask"])
@pytest.mark.parametrize("as_glob", [False, True])
def test_a_fifo_in_the_input_is_refused_by_name(
    cli,
    dask_address,
    trained: Path,  # noqa: F811
    tmp_path: Path,
    executor: str,
    as_glob: bool,
) -> None:
    folder = partitioned(tmp_path)
    fifo = folder / "part-9.parquet"
    os.mkfifo(fifo)
    source = folder / "*.parquet" if as_glob else folder
    output = tmp_path / ("out.parquet" if executor == "local" else "out")
    extra = () if executor == "local" else ("--execution", "dask", "--address", dask_address)
    result = predict(cli, trained, "score", "-i", source, "-o", output, *extra)
    assert result.code == 2, result.err
    assert str(fifo) in result.err and "Traceback" not in result.err
    assert not output.exists()
