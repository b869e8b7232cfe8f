"""Limits on user data files, checked before a reader builds anything in memory.

A data file is untrusted input whose cost must follow its size. Two shapes break
that rule: a wide CSV header (pandas' C parser turns a 16 MB line of 10^6 names
into millions of Python objects and dies with ``std::bad_alloc``, exit 134) and a
Parquet file whose footer or row groups declare far more than the file holds (a
400 KB file of 50 million RLE-encoded zeros is 1.9 GB once read whole). So the
CSV header is read first, as a bounded number of bytes, and Parquet metadata is
parsed with a cap on its list sizes; both are refused with a message naming the
file, the count found and how to raise the limit.

Every limit has a default and an environment variable; a source may also pass its
own (the ``max_columns`` / ``max_cells`` params of the csv and parquet sources).
Values too big for a 64-bit integer are refused by column and row, because every
later step (profiling, hashing, the model) needs a fixed-width number.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import DataError, UserError
from framework.file_kind import require_regular

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Limit:
    """One documented limit: its default and the environment variable that overrides it."""

    name: str
    default: int
    env: str
    unit: str

    def value(self, override: int | None = None) -> int:
        """The source's own value, else the environment's, else the default."""
        if override is not None:
            return override
        raw = os.environ.get(self.env)
        if raw is None or not raw.strip():
            return self.default
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise UserError(
                f"{self.env} must be a positive whole number of {self.unit}, got {raw!r}"
            )
        return value

    def hint(self, param: str | None = None) -> str:
        where = f"set {param}: in the source params, or " if param else "set "
        return f"{where}{self.env} (default {self.default:,}) if the file is meant to be this big"


MAX_COLUMNS = Limit("columns", 10_000, "SPECOPS_MAX_COLUMNS", "columns")
MAX_HEADER_BYTES = Limit("header bytes", 4 << 20, "SPECOPS_MAX_HEADER_BYTES", "bytes")
MAX_CELLS = Limit("cells", 250_000_000, "SPECOPS_MAX_CELLS", "cells (rows x columns)")
MAX_CLASSES = Limit("classes", 1_000, "SPECOPS_MAX_CLASSES", "classes")
MAX_QUERY_BYTES = Limit("bytes", 4 << 30, "SPECOPS_MAX_QUERY_BYTES", "bytes")
MAX_TEXT_BYTES = Limit("text bytes", 4 << 30, "SPECOPS_MAX_TEXT_BYTES", "bytes")

INT64_MIN = -(2**63)
UINT64_MAX = 2**64 - 1
NOT_PARQUET = "is it a Parquet file (or a directory holding only Parquet files)?"


# ---------------------------------------------------------------------------
# CSV: the header, read as bounded bytes
# ---------------------------------------------------------------------------


def check_csv_header(
    path: Path | bytes,
    *,
    sep: str = ",",
    encoding: str = "utf-8",
    max_columns: int | None = None,
    param: str | None = None,
    where: str | None = None,
) -> int | None:
    """Refuse a CSV whose header names too many columns or is too long; returns the count.

    ``path`` may also be the CSV's bytes (an HTTP request body), named in messages
    by ``where`` (e.g. "the request body").

    The header is counted, not split: separators are counted in blocks of bytes,
    so a 15 MB header of 10^6 names is refused in well under a second and ~40 MB
    (pandas takes 31 s and 1.2 GB to read it, and the run died later at 6.7 GB).
    Returns None when the count cannot be known this way (a regex separator).
    """
    if not isinstance(path, (bytes, bytearray, memoryview)):
        require_regular(path)  # a FIFO would block the open, /dev/zero never ends a line
    limit = MAX_COLUMNS.value(max_columns)
    byte_limit = MAX_HEADER_BYTES.value()
    shown = where or str(path)
    try:
        header = _header_text(path, shown, sep, encoding, limit, byte_limit, param)
    except DataError:
        raise
    except Exception:  # a corrupt gzip, a bad codec: the reader that follows says which
        return None
    if header is None or len(sep) != 1:
        return None
    text, end = header
    line = text if end is None else text[:end]
    count = line.count(sep) + 1 if line else 0
    if count > limit and '"' in line:
        # Quoted names may hold the separator: count exactly (still bounded by byte_limit).
        count = len(next(csv.reader(io.StringIO(text), delimiter=sep), []))
    if count > limit:
        raise _too_many(shown, count, limit, param)
    return count


def _header_text(
    path: Path | bytes,
    shown: str,
    sep: str,
    encoding: str,
    limit: int,
    byte_limit: int,
    param: str | None,
) -> tuple[str, int | None] | None:
    """The first ``byte_limit`` bytes as text, and where the header line ends in it
    (None when the file cannot be opened); a DataError when the header line goes on
    past them."""
    with _content(path) as handle:
        if handle is None:
            return None
        head = handle.read(byte_limit + 1)
        text = head[:byte_limit].decode(encoding, errors="replace")
        end = _line_end(text)
        if end is None and len(head) > byte_limit:
            count = _count_long_line(head, handle, sep, encoding) if len(sep) == 1 else None
            if count is not None and count > limit:
                raise _too_many(shown, count, limit, param)
            raise DataError(
                f"the header line of {shown} is longer than {byte_limit:,} bytes",
                hint=MAX_HEADER_BYTES.hint(),
            )
    return text, end


def _too_many(shown: str, count: int, limit: int, param: str | None) -> DataError:
    return DataError(
        f"{shown} has {count:,} columns, more than the limit of {limit:,}",
        hint=MAX_COLUMNS.hint(param),
    )


def _count_long_line(head: bytes, handle: Any, sep: str, encoding: str) -> int:
    """Separators in a header line longer than the byte limit, plus one: read on in
    1 MiB blocks to the line's end, holding one block at a time."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    count = 1
    block = head
    while block:
        text = decoder.decode(block)
        end = _line_end(text)
        count += text[: len(text) if end is None else end].count(sep)
        if end is not None:
            break
        block = handle.read(1 << 20)
    return count


def _line_end(text: str) -> int | None:
    ends = [i for i in (text.find("\n"), text.find("\r")) if i >= 0]
    return min(ends) if ends else None


@contextlib.contextmanager
def _content(path: Path | bytes) -> Iterator[Any]:
    """The file's content as a binary stream (decompressed by suffix), or None when it
    cannot be opened: the reader that follows reports that better."""
    if isinstance(path, (bytes, bytearray, memoryview)):
        yield io.BytesIO(path)
        return
    try:
        handle = _open_content(path)
    except Exception:  # bad gzip, zip, missing codec: the reader says which
        yield None
        return
    with handle:
        yield handle


def _open_content(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        import gzip

        return gzip.open(path, "rb")
    if suffix == ".bz2":
        import bz2

        return bz2.open(path, "rb")
    if suffix == ".xz":
        import lzma

        return lzma.open(path, "rb")
    if suffix == ".zip":
        import zipfile

        archive = zipfile.ZipFile(path)
        names = archive.namelist()
        if not names:
            raise ValueError("empty zip archive")
        return archive.open(names[0])
    if suffix == ".zst":
        import zstandard  # type: ignore[import-not-found]  # optional, as for pandas

        return zstandard.open(path, "rb")
    return path.open("rb")


# ---------------------------------------------------------------------------
# Parquet: the footer, parsed with capped list sizes
# ---------------------------------------------------------------------------


def parquet_metadata(
    file: Path, *, max_columns: int | None = None, param: str | None = None
) -> Any:
    """The file's metadata (``pyarrow.parquet.FileMetaData``), refused when too wide.

    The footer is parsed with thrift's container limit set from the column limit, so
    a footer listing 10^6 columns fails fast instead of building 10^6 Python-visible
    column descriptions (read_metadata on 200,000 columns takes 0.6 GB).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    require_regular(file)  # pyarrow's open of a FIFO waits for a writer
    limit = MAX_COLUMNS.value(max_columns)
    # A flat schema lists each column once, plus the root; nested types add a node per
    # level: twice the limit leaves room for those and still refuses the bomb.
    cap = 2 * limit + 16
    try:
        parquet = pq.ParquetFile(file, thrift_container_size_limit=cap)
    except OSError as exc:
        if "Exceeded size limit" in str(exc):
            raise DataError(
                f"the Parquet metadata of {file} lists more than {cap:,} columns or "
                f"row groups; the column limit is {limit:,}",
                hint=MAX_COLUMNS.hint(param),
            ) from exc
        raise DataError(f"cannot read Parquet file {file}: {exc}", hint=NOT_PARQUET) from exc
    except (ValueError, pa.ArrowException) as exc:
        raise DataError(f"cannot read Parquet file {file}: {exc}", hint=NOT_PARQUET) from exc
    try:
        metadata = parquet.metadata
    finally:
        parquet.close()
    if metadata.num_columns > limit:
        raise DataError(
            f"{file} has {metadata.num_columns:,} columns, more than the limit of {limit:,}",
            hint=MAX_COLUMNS.hint(param),
        )
    return metadata


def check_parquet_whole(
    files: Sequence[Path],
    *,
    max_columns: int | None = None,
    max_cells: int | None = None,
    where: Path | None = None,
    read_columns: int | None = None,
    params: bool = False,
) -> None:
    """Refuse Parquet data that is too wide, or too big to read whole into memory.

    For readers that load every row at once (sources, ``specops monitor``): the
    rows and columns the footers declare are multiplied before any page is read,
    since a small file may decode to gigabytes. Streaming readers (``predict``)
    need only :func:`parquet_metadata`: their memory follows the batch, not the file.
    ``read_columns`` is how many columns the reader selects, when not all;
    ``params`` says the limits can be set in the source's params (hints say so).
    """
    cells_limit = MAX_CELLS.value(max_cells)
    cells = 0
    for file in files:
        param = "max_columns" if params else None
        metadata = parquet_metadata(file, max_columns=max_columns, param=param)
        cells += metadata.num_rows * (read_columns or max(metadata.num_columns, 1))
    if cells > cells_limit:
        shown = where or (files[0] if len(files) == 1 else files[0].parent)
        raise DataError(
            f"{shown} declares {cells:,} values (rows x columns), more than the limit of "
            f"{cells_limit:,} for reading a table whole into memory",
            hint=MAX_CELLS.hint("max_cells" if params else None),
        )


TEXT_BATCH_ROWS = 65_536
"""Rows per batch while counting a Parquet file's text: dictionary pages stay encoded,
so a batch costs its indices, whatever the values' length."""


def check_parquet_text(
    files: Sequence[Path],
    *,
    columns: Sequence[str] | None = None,
    where: Path | None = None,
    max_columns: int | None = None,
) -> None:
    """Refuse Parquet data whose text (string and binary columns) decodes to more than
    ``$SPECOPS_MAX_TEXT_BYTES`` (default 4 GiB), for readers that load it whole.

    The cells limit counts values, not their length: one 200 KB string in a dictionary
    page, referenced by a million rows, is an 11 KB file that decodes to 200 GB (the
    reader died asking for memory, or the machine's OOM killer ended it). The lengths
    are summed from the dictionary and its indices, batch by batch, before pandas
    builds a single string; only string and binary columns are read for it.
    ``max_columns``: the source's own column limit, as given to the footer check.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    limit = MAX_TEXT_BYTES.value()
    total = 0
    cap = 2 * MAX_COLUMNS.value(max_columns) + 16  # the footer as check_parquet_files read it
    for file in files:
        try:
            footer = pq.ParquetFile(file, thrift_container_size_limit=cap)
            try:
                schema = footer.schema_arrow
            finally:
                footer.close()
            names = [
                field.name
                for field in schema
                if _is_text(field.type) and (columns is None or field.name in columns)
            ]
            if not names:
                continue
            parquet = pq.ParquetFile(file, read_dictionary=names, thrift_container_size_limit=cap)
            try:
                for batch in parquet.iter_batches(
                    batch_size=TEXT_BATCH_ROWS, columns=names, use_threads=False
                ):
                    total += sum(_text_bytes(column) for column in batch.columns)
                    if total > limit:
                        shown = where or file
                        raise DataError(
                            f"{shown} holds more than {limit:,} bytes of text once decoded "
                            f"(string and binary columns: {', '.join(names[:5])}); a small "
                            "file may repeat one long value millions of times",
                            hint=MAX_TEXT_BYTES.hint(),
                        )
            finally:
                parquet.close()
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"cannot read Parquet file {file}: {exc}", hint=NOT_PARQUET) from exc


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or getattr(pa.types, "is_string_view", lambda _: False)(kind)
        or getattr(pa.types, "is_binary_view", lambda _: False)(kind)
    )


def _text_bytes(column: Any) -> int:
    """Bytes ``column`` decodes to: for a dictionary, each index's value length."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        lengths = pc.binary_length(column.dictionary)
        column = pc.take(lengths, column.indices)
    else:
        column = pc.binary_length(column)
    return int(pc.sum(column).as_py() or 0)


def check_parquet_files(
    files: Sequence[Path],
    *,
    max_columns: int | None = None,
    max_cells: int | None = None,
    read_columns: int | None = None,
    params: bool = False,
) -> list[Any]:
    """Refuse Parquet data that is too wide, or a FILE too big to read whole into memory;
    returns each file's metadata (``pyarrow.parquet.FileMetaData``, in ``files`` order).

    For readers that hold one file at a time, never the table (Dask's ``read_parquet``:
    each worker reads its partitions one by one). The limit is per file, not per row
    group: Dask splits a file by row groups only when their declared uncompressed size
    is large, and a bomb (50 million RLE zeros in 400 KB) declares little, so one worker
    reads such a file whole. ``read_columns`` and ``params`` as :func:`check_parquet_whole`.
    """
    cells_limit = MAX_CELLS.value(max_cells)
    param = "max_columns" if params else None
    metadata = []
    for file in files:
        footer = parquet_metadata(file, max_columns=max_columns, param=param)
        cells = footer.num_rows * (read_columns or max(footer.num_columns, 1))
        if cells > cells_limit:
            raise DataError(
                f"Parquet file {file} declares {cells:,} values (rows x columns), more than "
                f"the limit of {cells_limit:,} for one file: a file is read whole into one "
                "process's memory (on Dask, by one worker)",
                hint=MAX_CELLS.hint("max_cells" if params else None)
                + "; or write the data as more, smaller files",
            )
        metadata.append(footer)
    return metadata


def parquet_files(path: Path) -> list[Path]:
    """The file itself, or a directory's data files as pyarrow reads them (hidden and
    ``_`` files skipped), in name order.

    A FIFO, device or socket inside the directory is refused by name (a DataError),
    never skipped: left out silently, its rows would vanish from the data unnoticed
    (and opened, a FIFO waits for a writer). A symlink is judged by its target; a
    symlinked directory is not descended into (``rglob`` does not follow it).
    """
    if not path.is_dir():
        return [path]
    files = []
    for entry in sorted(path.rglob("*")):
        if any(part.startswith((".", "_")) for part in entry.relative_to(path).parts):
            continue
        if entry.is_dir():
            continue
        require_regular(entry, "data file")
        if entry.is_file():
            files.append(entry)
    return files


# ---------------------------------------------------------------------------
# query results: rows fetched in blocks, counted as they come
# ---------------------------------------------------------------------------


def rows_as_frame(
    result: Any,
    names: Sequence[str],
    where: str,
    *,
    max_cells: int | None = None,
    block_rows: int = 1_000,
) -> pd.DataFrame:
    """A query's rows as a table, refused once they pass the cells limit or
    ``$SPECOPS_MAX_QUERY_BYTES`` of text and blobs (default 4 GiB).

    A 100-byte query can return without end (a recursive CTE with no stop, a cross
    join of a table with itself): ``pandas.read_sql_query`` fetches everything
    first and would fill memory. ``result`` is anything with ``fetchmany`` (a DB-API
    cursor, a SQLAlchemy result); the table is built as pandas builds it.
    """
    import pandas as pd

    limit = MAX_CELLS.value(max_cells)
    byte_limit = MAX_QUERY_BYTES.value()
    width = max(len(names), 1)
    rows: list[Any] = []
    text_bytes = 0
    while True:
        block = result.fetchmany(block_rows)
        if not block:
            break
        rows.extend(block)
        if len(rows) * width > limit:
            raise DataError(
                f"{where} returned more than {limit:,} values (rows x columns) and was "
                "stopped: too many to read into memory",
                hint=MAX_CELLS.hint("max_cells") + "; or narrow the query (WHERE, LIMIT)",
            )
        # Text and blobs: a few rows of zeroblob(10^9) are small in cells, huge in bytes.
        text_bytes += sum(len(v) for row in block for v in row if type(v) in (str, bytes))
        if text_bytes > byte_limit:
            raise DataError(
                f"{where} returned more than {byte_limit:,} bytes of text and blobs and "
                "was stopped: too much to read into memory",
                hint=f"narrow the query, or set {MAX_QUERY_BYTES.env} "
                f"(default {MAX_QUERY_BYTES.default:,}) to allow more",
            )
    return pd.DataFrame.from_records(rows, columns=list(names), coerce_float=True)


# ---------------------------------------------------------------------------
# values: whole numbers beyond 64 bits
# ---------------------------------------------------------------------------


def refuse_huge_integers(
    frame: pd.DataFrame, where: str, *, line_offset: int | None = None
) -> None:
    """Refuse a whole number no 64-bit type holds, naming the column and row.

    pandas keeps such a value as a Python int in an object column; profiling,
    hashing and models then fail far from the file (an OverflowError, exit 3).
    Only object columns are looked at, so typed columns cost nothing.
    ``line_offset`` turns a row label into a file line (2 for a CSV with a header).
    """
    from pandas.api.types import infer_dtype

    for position, name in enumerate(frame.columns):
        series = frame.iloc[:, position]  # by position: two columns may share a name
        if series.dtype != object:
            continue
        if "integer" not in infer_dtype(series, skipna=True):
            continue
        for label, value in series.items():
            if isinstance(value, int) and not INT64_MIN <= value <= UINT64_MAX:
                line = f" (line {label + line_offset})" if line_offset is not None else ""
                raise DataError(
                    f"{where}: column '{name}' row {label}{line} holds a whole number of "
                    f"{len(str(abs(value)))} digits, too large for a 64-bit number",
                    column=str(name),
                    hint=f"numbers must fit in 64 bits ({INT64_MIN} to {UINT64_MAX}); if "
                    "the column is an identifier, store it as text (e.g. with a letter prefix)",
                )


UNUSABLE_HINT = (
    "convert it to text or a number in the source (in SQL: CAST(... AS TEXT)), "
    "or leave it out of the file or query"
)


def unusable_column(frame: pd.DataFrame) -> tuple[str, str] | None:
    """(name, what it holds) of the first column no step can take, or None.

    Binary values (SQL BLOB, Parquet binary) and nested ones (Parquet struct, list
    or map columns: dicts, lists and arrays in pandas) fail far from the file in
    profiling, hashing or the model (an unhashable dict, exit 3). Looked at by
    position, so two columns sharing a name cost nothing more.
    """
    from pandas.api.types import infer_dtype

    for position, name in enumerate(frame.columns):
        column = frame.iloc[:, position]
        if column.dtype != object:
            continue
        kind = infer_dtype(column, skipna=True)
        if kind == "bytes":
            return str(name), "binary values (blobs)"
        if kind == "mixed":
            first = column.dropna().iloc[:1].tolist()
            if first and not isinstance(first[0], (str, int, float, bool)):
                return str(name), f"nested values ({type(first[0]).__name__})"
    return None


def decimals_as_floats(frame: pd.DataFrame) -> pd.DataFrame:
    """Decimal columns (Parquet ``decimal128``, SQL ``NUMERIC``) as float64.

    pandas keeps them as ``Decimal`` objects in an object column, which profiling
    and the stored signature cannot take (training failed with "Circular reference
    detected", exit 3); a float is what every later step expects of a number.
    """
    from pandas.api.types import infer_dtype

    decimal = [
        position
        for position in range(frame.shape[1])
        if frame.iloc[:, position].dtype == object
        and infer_dtype(frame.iloc[:, position], skipna=True) == "decimal"
    ]
    if not decimal:
        return frame
    frame = frame.copy()
    for position in decimal:  # by position: two columns may share a name
        values = frame.iloc[:, position].map(float, na_action="ignore").astype("float64")
        frame.isetitem(position, values)
    return frame
