"""red-team-2: `specops predict` of a Parquet file whose text column holds bytes that are not UTF-8.

A Parquet binary column in a categorical feature reached pandas' ``astype("string")``,
which raised UnicodeDecodeError: exit 3, "a bug in specops". It is bad input: exit 2
naming the column, as ingest and ``monitor --data`` already refuse binary columns.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import CliResult

Cli = Callable[..., CliResult]


def test_predict_names_a_column_of_bytes_that_are_not_text(
    cli: Cli, limits_champion: Path, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": pa.array([b"\x00\xff", b"x"])}), batch)

    result = cli(
        "predict",
        "limits@champion",
        "--input",
        batch,
        "--output",
        tmp_path / "out.csv",
        "--store",
        limits_champion / ".specops",
    )

    assert result.code == 2, result.err
    assert "column 'b' holds binary values" in result.err
    assert not (tmp_path / "out.csv").exists()


def test_bytes_that_are_text_are_scored_as_text(
    cli: Cli, limits_champion: Path, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": pa.array([b"x", b"y"])}), batch)

    result = cli(
        "predict",
        "limits@champion",
        "--input",
        batch,
        "--output",
        tmp_path / "out.csv",
        "--store",
        limits_champion / ".specops",
    )

    assert result.code == 0, result.err
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 3
