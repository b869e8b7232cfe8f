"""Data files that would cost far more than their size, or crash a later step, through the CLI.

Each is refused with exit 2 and a message naming the file (and column, row or count)
before it is read whole: by ``specops validate``/``run`` (sources), ``specops predict
--input`` and ``specops monitor --data``. SQL sources only ever read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import CliResult

Cli = Callable[..., CliResult]

SPEC = """
name: limits
task: binary
seed: 1
data:
  source: {{type: {kind}, params: {params}}}
  target: target
model: {{type: lightgbm, params: {{n_estimators: 5, num_leaves: 3, min_child_samples: 2}}}}
"""

HUGE = "1" + "2" * 399
"""A 400-digit whole number: no 64-bit type holds it, so pandas keeps a Python int."""


def frame(rows: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [i * 7 % 100 for i in range(rows)],
            "b": ["x" if i % 3 else "y" for i in range(rows)],
            "target": [int(i * 7 % 100 > 50) for i in range(rows)],
        }
    )


def write_spec(directory: Path, kind: str, params: str) -> Path:
    path = directory / "spec.yaml"
    path.write_text(SPEC.format(kind=kind, params=params).lstrip())
    return path


def with_huge_number(path: Path, row: int = 4) -> Path:
    """The CSV of ``frame()`` with a 400-digit value in column a, row ``row``."""
    lines = frame().to_csv(index=False).splitlines()
    cells = lines[row + 1].split(",")
    lines[row + 1] = ",".join([HUGE, *cells[1:]])
    path.write_text("\n".join(lines) + "\n")
    return path


def wide_csv(path: Path, columns: int) -> Path:
    path.write_text(",".join(f"c{i}" for i in range(columns)) + "\n" + ",".join(["1"] * columns))
    return path


def wide_parquet(path: Path, columns: int, rows: int = 2) -> Path:
    table = pa.table({f"c{i}": list(range(rows)) for i in range(columns)})
    pq.write_table(table, path)
    return path


# ---------------------------------------------------------------------------
# whole numbers beyond 64 bits (were exit 3: OverflowError)
# ---------------------------------------------------------------------------


def test_run_refuses_a_400_digit_number_by_column_and_line(cli: Cli, tmp_path: Path) -> None:
    with_huge_number(tmp_path / "data.csv")
    spec = write_spec(tmp_path, "csv", "{path: data.csv}")

    result = cli("run", spec)

    assert result.code == 2, result.err
    assert "column 'a' row 4 (line 6) holds a whole number of 400 digits" in result.err
    assert "data.csv" in result.err and "Traceback" not in result.err


def test_predict_refuses_a_400_digit_number(
    cli: Cli, limits_champion: Path, tmp_path: Path
) -> None:
    source = with_huge_number(tmp_path / "score.csv", row=7)
    output = tmp_path / "out.csv"

    result = cli(
        "predict", "limits", "-i", source, "-o", output, "--store", limits_champion / ".specops"
    )

    assert result.code == 2, result.err
    assert "column 'a' row 7 (line 9) holds a whole number of 400 digits" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["score.csv"]


def test_monitor_refuses_a_400_digit_number(
    cli: Cli, limits_champion: Path, tmp_path: Path
) -> None:
    batch = with_huge_number(tmp_path / "batch.csv")

    for extra in ([], ["--labels", "target"]):
        result = cli("monitor", limits_champion / "spec.yaml", "--data", batch, *extra)
        assert result.code == 2, result.err
        assert "column 'a' row 4 (line 6) holds a whole number of 400 digits" in result.err


# ---------------------------------------------------------------------------
# columns: the header is counted before anything is read
# ---------------------------------------------------------------------------


def test_a_csv_with_too_many_columns_is_refused_at_validate(cli: Cli, tmp_path: Path) -> None:
    wide_csv(tmp_path / "wide.csv", 10_001)
    spec = write_spec(tmp_path, "csv", "{path: wide.csv}")

    for command in ("validate", "run"):
        result = cli(command, spec)
        assert result.code == 2, result.err
        assert "wide.csv has 10,001 columns, more than the limit of 10,000" in result.err
        assert "max_columns" in result.err and "SPECOPS_MAX_COLUMNS" in result.err


def test_the_column_limit_is_overridable(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame().to_csv(tmp_path / "data.csv", index=False)
    spec = write_spec(tmp_path, "csv", "{path: data.csv}")
    assert cli("validate", spec).code == 0

    monkeypatch.setenv("SPECOPS_MAX_COLUMNS", "2")
    result = cli("validate", spec)
    assert result.code == 2 and "data.csv has 3 columns, more than the limit of 2" in result.err

    monkeypatch.setenv("SPECOPS_MAX_COLUMNS", "many")
    result = cli("validate", spec)
    assert result.code == 2
    assert "SPECOPS_MAX_COLUMNS must be a positive whole number of columns, got 'many'" in (
        result.err
    )

    monkeypatch.setenv("SPECOPS_MAX_COLUMNS", "2")
    raised = write_spec(tmp_path, "csv", "{path: data.csv, max_columns: 3}")
    assert cli("validate", raised).code == 0  # the source's own limit wins


def test_a_header_too_long_is_refused_without_reading_on(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECOPS_MAX_HEADER_BYTES", "1000")
    (tmp_path / "data.csv").write_text("x" * 5000 + ",target\n1,0\n")
    spec = write_spec(tmp_path, "csv", "{path: data.csv}")

    result = cli("validate", spec)

    assert result.code == 2
    assert "the header line of" in result.err and "is longer than 1,000 bytes" in result.err


def test_a_million_column_header_is_refused_fast(tmp_path: Path) -> None:
    """The issue's file: 15 MB, 10^6 columns (pandas: 31 s, 1.2 GB; the run died at 6.7 GB)."""
    import time
    import tracemalloc

    from framework import DataError, check_csv_header

    path = tmp_path / "wide.csv"
    with path.open("w") as out:
        out.write(",".join(f"col_{i:08d}" for i in range(1_000_000)) + "\n")
        out.write(",".join(["1"] * 1_000_000) + "\n")
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(DataError, match="has 1,000,000 columns, more than the limit of 10,000"):
        check_csv_header(path)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert seconds < 2.0 and peak < 64 << 20, (seconds, peak)


def test_predict_and_monitor_refuse_a_wide_csv(
    cli: Cli, limits_champion: Path, tmp_path: Path
) -> None:
    wide = wide_csv(tmp_path / "wide.csv", 10_001)
    message = "wide.csv has 10,001 columns, more than the limit of 10,000"

    predicted = cli(
        "predict",
        "limits",
        "-i",
        wide,
        "-o",
        tmp_path / "o.csv",
        "--store",
        limits_champion / ".specops",
    )
    monitored = cli("monitor", limits_champion / "spec.yaml", "--data", wide)

    assert predicted.code == 2 and message in predicted.err
    assert monitored.code == 2 and message in monitored.err
    assert not (tmp_path / "o.csv").exists()


def test_a_wide_parquet_is_refused_from_its_footer(
    cli: Cli, limits_champion: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECOPS_MAX_COLUMNS", "4")
    wide_parquet(tmp_path / "five.parquet", 5)
    wide_parquet(tmp_path / "forty.parquet", 40)  # past the footer's list cap (2 x 4 + 16)
    spec = write_spec(tmp_path, "parquet", "{path: five.parquet}")

    result = cli("validate", spec)
    assert result.code == 2 and "five.parquet has 5 columns, more than the limit of 4" in result.err

    messages = {
        "five.parquet": "five.parquet has 5 columns, more than the limit of 4",
        "forty.parquet": "forty.parquet lists more than 24 columns or row groups; "
        "the column limit is 4",
    }
    store = limits_champion / ".specops"
    for name, message in messages.items():
        path = tmp_path / name
        predicted = cli("predict", "limits", "-i", path, "-o", tmp_path / "o.csv", "--store", store)
        monitored = cli("monitor", limits_champion / "spec.yaml", "--data", path)
        for result in (predicted, monitored):
            assert result.code == 2, result.err
            assert message in result.err and "SPECOPS_MAX_COLUMNS" in result.err
    assert not (tmp_path / "o.csv").exists()


def test_a_parquet_declaring_more_values_than_allowed_is_not_read(cli: Cli, tmp_path: Path) -> None:
    """A small file may decode to gigabytes (50M zeros: 400 KB on disk, 1.9 GB read)."""
    frame(rows=1000).to_parquet(tmp_path / "data.parquet")
    spec = write_spec(tmp_path, "parquet", "{path: data.parquet, max_cells: 2000}")

    result = cli("run", spec)

    assert result.code == 2
    assert "declares 3,000 values (rows x columns), more than the limit of 2,000" in result.err
    narrow = write_spec(
        tmp_path, "parquet", "{path: data.parquet, columns: [a, target], max_cells: 2000}"
    )
    assert cli("validate", narrow).code == 0  # only the columns read count


# ---------------------------------------------------------------------------
# empty results
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_file_with_a_header_and_no_rows(cli: Cli, tmp_path: Path, kind: str) -> None:
    empty = frame().head(0)
    path = tmp_path / f"data.{kind}"
    empty.to_csv(path, index=False) if kind == "csv" else empty.to_parquet(path)
    spec = write_spec(tmp_path, kind, f"{{path: data.{kind}}}")

    result = cli("run", spec)

    assert result.code == 2 and f"data.{kind} has no rows" in result.err


# ---------------------------------------------------------------------------
# SQL: only reads
# ---------------------------------------------------------------------------


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    with sqlite3.connect(tmp_path / "shop.db") as connection:
        frame().to_sql("customers", connection, index=False)
    return tmp_path / "shop.db"


def customers(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM customers").fetchone()[0]


@pytest.mark.parametrize("where", ["path: shop.db", "url: 'sqlite:///shop.db'"])
@pytest.mark.parametrize(
    "query",
    [
        "DROP TABLE customers",
        "VACUUM INTO 'copy.db'",
        "ATTACH 'other.db' AS other",
        "SELECT 1; DROP TABLE customers",
        "WITH x AS (DELETE FROM customers RETURNING *) SELECT * FROM x",
    ],
)
def test_a_query_that_could_write_is_refused_at_validate_naming_the_line(
    cli: Cli, shop: Path, where: str, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(shop.parent)
    spec = shop.parent / "spec.yaml"
    spec.write_text(
        "name: limits\ntask: binary\ndata:\n  source:\n    type: sql\n    params:\n"
        f'      {where}\n      query: "{query}"\n  target: target\nmodel: {{type: lightgbm}}\n'
    )

    for command in ("validate", "run"):
        result = cli(command, spec)
        assert result.code == 2, result.err
        assert "spec.yaml:8:" in result.err and "only reads" in result.err

    assert customers(shop) == 40
    assert sorted(p.name for p in shop.parent.iterdir()) == ["shop.db", "spec.yaml"]


def test_a_query_with_no_rows_is_exit_2(cli: Cli, shop: Path) -> None:
    query = "SELECT * FROM customers WHERE a > 1000"
    spec = write_spec(shop.parent, "sql", f'{{path: shop.db, query: "{query}"}}')

    result = cli("run", spec)

    assert result.code == 2 and "has no rows" in result.err


# ---------------------------------------------------------------------------
# decimals (Parquet decimal128, SQL NUMERIC): numbers, not objects
# ---------------------------------------------------------------------------


def test_a_parquet_decimal_column_trains_as_a_number(cli: Cli, tmp_path: Path) -> None:
    """Was exit 3 ("Circular reference detected" while storing the signature)."""
    from decimal import Decimal

    data = frame(rows=80)
    table = pa.table(
        {
            "a": pa.array([Decimal(v) / 4 for v in data["a"]], type=pa.decimal128(10, 2)),
            "b": data["b"],
            "target": data["target"],
        }
    )
    pq.write_table(table, tmp_path / "data.parquet")
    spec = write_spec(tmp_path, "parquet", "{path: data.parquet}")

    assert cli("run", spec).code == 0
    shown = cli("models", "show", "limits/1", "--json", "--store", tmp_path / ".specops")

    [column] = [c for c in json.loads(shown.out)["signature"]["columns"] if c["name"] == "a"]
    assert (column["role"], column["dtype"]) == ("numeric", "float64")


# ---------------------------------------------------------------------------
# the header check itself: compressed files, bytes, quoted names
# ---------------------------------------------------------------------------


def test_the_header_check_reads_compressed_files_bytes_and_quotes(tmp_path: Path) -> None:
    import gzip

    from framework import DataError, check_csv_header

    header = ",".join(f"c{i}" for i in range(10_001)) + "\n1\n"
    packed = tmp_path / "wide.csv.gz"
    packed.write_bytes(gzip.compress(header.encode()))
    with pytest.raises(DataError, match=r"wide\.csv\.gz has 10,001 columns"):
        check_csv_header(packed)

    with pytest.raises(DataError, match=r"^the request body has 10,001 columns"):
        check_csv_header(header.encode(), where="the request body")

    quoted = '"a,b",' + ",".join(f'"{i},{i}"' for i in range(9_999)) + "\n"
    assert check_csv_header(quoted.encode()) == 10_000  # separators inside quotes not counted
    assert check_csv_header(b"a;b;c\n1;2;3\n", sep=";") == 3
    assert check_csv_header(tmp_path / "missing.csv") is None  # the reader reports it


# ---------------------------------------------------------------------------
# special files inside a Parquet directory (were skipped silently)
# ---------------------------------------------------------------------------


def test_a_fifo_inside_a_parquet_directory_is_refused_by_name(
    cli: Cli, limits_champion: Path, tmp_path: Path
) -> None:
    """docs/security.md: only regular files are read; a FIFO among a dataset's files
    was left out of the data unnoticed (its rows gone), by validate, run and monitor."""
    import os

    from framework import DataError, parquet_files

    data = tmp_path / "data"
    data.mkdir()
    frame().to_parquet(data / "part-0.parquet", index=False)
    frame().to_parquet(data / "part-1.parquet", index=False)
    os.mkfifo(data / "part-9.parquet")
    message = f"data file {data / 'part-9.parquet'} is a FIFO (named pipe), not a regular file"

    with pytest.raises(DataError, match="FIFO"):
        parquet_files(data)
    spec = write_spec(tmp_path, "parquet", "{path: data}")
    for command in ("validate", "run"):
        result = cli(command, spec)
        assert result.code == 2, result.err
        assert message in result.err
    monitored = cli("monitor", limits_champion / "spec.yaml", "--data", data)
    assert monitored.code == 2, monitored.err
    assert message in monitored.err
    # hidden and _ entries stay skipped, whatever they are
    (data / "part-9.parquet").unlink()
    os.mkfifo(data / "_tmp-pipe")
    assert parquet_files(data) == [data / "part-0.parquet", data / "part-1.parquet"]
