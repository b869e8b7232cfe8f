"""red-team-2: a Parquet file whose text decodes to far more than the file (a dictionary bomb).

The cells limit counts values, not their length: one long string in a dictionary page,
referenced by every row, is a file of kilobytes that pandas turns into gigabytes of
strings. ``specops monitor --data`` died asking for memory (1.4 GB and growing under a
4 GB address-space limit; without one the OOM killer), ``specops run`` on a parquet
source alike. The text's decoded length is now summed from the dictionary and its
indices before pandas reads the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import CliResult
from tests.test_data_limits import frame, write_spec

Cli = Callable[..., CliResult]


def dictionary_bomb(path: Path, rows: int = 500_000, length: int = 10_000) -> Path:
    """``rows`` rows whose text column repeats one ``length``-character value:
    about 5 GB of text once decoded, a few KB on disk."""
    text = pa.DictionaryArray.from_arrays(
        pa.array([0] * rows, pa.int32()), pa.array(["x" * length])
    )
    table = pa.table(
        {"a": pa.array([1.0] * rows), "b": text, "target": pa.array([0, 1] * (rows // 2))}
    )
    # no stored Arrow schema: the column reads back as plain strings, one per row
    pq.write_table(table, path, compression="zstd", store_schema=False)
    return path


def test_monitor_refuses_a_dictionary_bomb_before_reading_it(
    cli: Cli, limits_champion: Path, tmp_path: Path
) -> None:
    bomb = dictionary_bomb(tmp_path / "batch.parquet")
    assert bomb.stat().st_size < 100_000

    result = cli("monitor", limits_champion / "spec.yaml", "--data", bomb)

    assert result.code == 2, result.err
    assert "bytes of text once decoded" in result.err and "SPECOPS_MAX_TEXT_BYTES" in result.err
    assert "Traceback" not in result.err


def test_a_parquet_source_refuses_a_dictionary_bomb_at_run(cli: Cli, tmp_path: Path) -> None:
    dictionary_bomb(tmp_path / "data.parquet")
    spec = write_spec(tmp_path, "parquet", "{path: data.parquet}")

    result = cli("run", spec)

    assert result.code == 2, result.err
    assert "data.parquet holds more than" in result.err


def test_the_text_limit_counts_each_row_and_is_overridable(
    cli: Cli, limits_champion: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = tmp_path / "batch.parquet"
    frame().to_parquet(batch)  # 40 rows of one-letter text: 40 bytes

    monkeypatch.setenv("SPECOPS_MAX_TEXT_BYTES", "39")
    refused = cli("monitor", limits_champion / "spec.yaml", "--data", batch)
    monkeypatch.setenv("SPECOPS_MAX_TEXT_BYTES", "40")
    allowed = cli("monitor", limits_champion / "spec.yaml", "--data", batch)

    assert refused.code == 2 and "more than 39 bytes of text" in refused.err
    assert allowed.code in (0, 1), allowed.err


def test_the_text_check_reads_the_footer_with_the_sources_own_column_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source that raised max_columns past the default reads a wide file: the text
    check must read its footer with that limit too, not call it 'not Parquet'."""
    from framework import DataError, check_parquet_text

    wide = tmp_path / "wide.parquet"
    pq.write_table(pa.table({f"c{i}": ["x", "y"] for i in range(60)}), wide)
    monkeypatch.setenv("SPECOPS_MAX_COLUMNS", "10")  # the default, lowered: a 36-entry footer

    check_parquet_text([wide], max_columns=100)  # the source's own limit: read, 120 bytes
    with pytest.raises(DataError, match="cannot read Parquet file"):
        check_parquet_text([wide])
