"""Built-in data sources: CSV, Parquet, SQL and scikit-learn's bundled datasets.

Every source turns its own failures (a missing file, a corrupt one, a bad query)
into a :class:`DataError` naming the file or table, so a user never reads a
pandas or pyarrow traceback. ``validate`` catches what is visible without
loading (a path that does not exist, a bad table name) for ``specops validate``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import (
    DataError,
    Finding,
    Register,
    StepContext,
    bounded_glob,
    check_csv_header,
    check_parquet_text,
    check_parquet_whole,
    decimals_as_floats,
    did_you_mean,
    hookimpl,
    parquet_files,
    read_snapshot,
    refuse_huge_integers,
    require_regular,
    rows_as_frame,
)
from plugins.sql_guard import (
    QUERY_SECONDS_ENV,
    VALUE_BYTES,
    begin_read_only,
    connect_sqlite_read_only,
    query_seconds,
    statement_problem,
)

if TYPE_CHECKING:
    import pandas as pd

SQL_EXTRA_HINT = "pip install 'specops[sql]'"
RELATIVE_PATHS = "relative paths are resolved against the directory of the spec file"


# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------


def _resolve(ctx: StepContext, value: str, suffix: str = "") -> Path:
    """The absolute path a spec's path names: messages show where specops looked.

    A path written without an extension (``data/churn``) gets the source's own
    (``.csv``, ``.parquet``) when only that exists, so swapping ``type: csv`` for
    ``type: parquet`` over the same data is a one-key edit.
    """
    path = ctx.path(value).absolute()
    if suffix and not path.suffix and not path.exists():
        with_suffix = path.with_name(path.name + suffix)
        if with_suffix.exists():
            return with_suffix
    return path


def _missing_file_finding(path: Path) -> Finding:
    return Finding(message=f"data file not found: {path}", key="path", hint=RELATIVE_PATHS)


def _require_file(path: Path) -> None:
    """Fail with the resolved path before a reader fails with something vaguer."""
    if not path.exists():
        raise DataError(f"data file not found: {path}", hint=RELATIVE_PATHS)


def _require_columns(wanted: Iterable[str], available: list[str], where: str) -> None:
    """Name each requested column the file lacks, with a suggestion."""
    for name in wanted:
        if name not in available:
            raise DataError(
                f"column '{name}' not found in {where}{did_you_mean(name, available)}",
                column=name,
                hint=f"available columns: {', '.join(available)}",
            )


def _require_rows(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """An empty table would only fail later, further from its cause."""
    if len(frame.columns) == 0:
        raise DataError(f"{where} has no columns", hint="check the file or the query")
    if len(frame) == 0:
        raise DataError(f"{where} has no rows", hint="check the file or the query")
    return frame


MAX_COLUMNS_PARAM: dict[str, Any] = {
    "type": "integer",
    "minimum": 1,
    "maximum": 1_000_000,
    "description": "Refuse a file with more columns than this before reading it "
    "(default: $SPECOPS_MAX_COLUMNS, else 10000).",
}


def _limit_finding(check: Any, *args: Any, **kwargs: Any) -> list[Finding]:
    """A limit check's refusal as a finding of ``specops validate``."""
    try:
        check(*args, **kwargs)
    except DataError as exc:
        return [Finding(exc.message, key="path", hint=exc.hint)]
    return []


GLOB_CHARACTERS = frozenset("*?[")


def _is_glob(value: str) -> bool:
    """Whether a spec's path is a pattern (``data/*.csv``, ``parts/**/*.parquet``)."""
    return any(character in GLOB_CHARACTERS for character in value)


def _glob_files(ctx: StepContext, value: str) -> tuple[Path, list[Path]]:
    """(the absolute pattern, what it matches that is not a directory, in name order).

    Hidden and ``_`` files are skipped as pyarrow skips them in a dataset. A FIFO or
    device that matches stays in the list, for the readers' own checks to refuse by
    name rather than vanish from the data unnoticed. ``**`` spans directories.
    """
    expanded = Path(value).expanduser()
    pattern = expanded if expanded.is_absolute() else ctx.base_dir / expanded
    matches = sorted(
        Path(match)
        for match in bounded_glob(str(pattern))  # /**/*.csv walked the whole file system
        if not Path(match).is_dir() and not Path(match).name.startswith((".", "_"))
    )
    return pattern, matches


def _no_match_finding(pattern: Path) -> Finding:
    return Finding(f"no data files match {pattern}", key="path", hint=RELATIVE_PATHS)


def _unsupported(source: str, param: str, why: str) -> DataError:
    """A param Dask cannot honour: say so rather than read the data another way."""
    return DataError(
        f"the {source} source's {param} cannot be used with execution: dask ({why})",
        hint="remove it from the source params, or run with execution: local",
    )


def _dask_dataframe() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # the executor's validate says so first; a direct call too
        raise DataError(
            "reading data with Dask needs the dask extra", hint="pip install 'specops[dask]'"
        ) from exc
    return dd


def _pandas_strings() -> Any:
    """Build a dask frame with the text dtype pandas itself reads (``str``, missing as
    NaN), not Dask's own (``string``, missing as NA): the same dtypes, values, checks'
    words and hashes as the local path. Decided when the frame is built."""
    import dask

    return dask.config.set({"dataframe.convert-string": False})


def _decimals_as_floats_lazy(ddf: Any) -> Any:
    """Decimal columns (Arrow ``decimal128``) as float64, as :func:`decimals_as_floats`
    does for a pandas frame: every later step expects a float of a number."""
    import pandas as pd

    decimal = [
        str(name)
        for name, dtype in ddf.dtypes.items()
        if isinstance(dtype, pd.ArrowDtype) and "decimal" in str(dtype.pyarrow_dtype)
    ]
    return ddf.astype(dict.fromkeys(decimal, "float64")) if decimal else ddf


# ---------------------------------------------------------------------------
# csv
# ---------------------------------------------------------------------------

CSV_DTYPES = ("int64", "float64", "Int64", "Float64", "str", "bool", "boolean", "category")

CSV_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "path": {
            "type": "string",
            "description": "A CSV file or a glob of them (data/*.csv), read as one table; "
            "relative paths are relative to the spec file.",
        },
        "sep": {"type": "string", "description": "Field separator.", "default": ","},
        "decimal": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1,
            "description": "Decimal mark of numbers: ',' for files written as 3,5.",
            "default": ".",
        },
        "thousands": {
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": 1,
            "description": "Thousands separator inside numbers ('.' for 1.234,5); none by default.",
            "default": None,
        },
        "encoding": {
            "type": "string",
            "description": "Text encoding of the file (utf-8, latin-1, ...).",
            "default": "utf-8",
        },
        "na_values": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Extra strings read as missing, besides pandas' defaults ('', NA, ...).",
            "default": [],
        },
        "parse_dates": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Columns to parse as datetimes.",
            "default": [],
        },
        "columns": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "Read only these columns, in this order (default: all).",
        },
        "dtypes": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"enum": list(CSV_DTYPES)},
            "description": "Column -> type to read it as, instead of guessing from its "
            "values (e.g. fee: float64 for whole numbers in some files, decimals in others).",
        },
        "blocksize": {
            "type": ["integer", "string", "null"],
            "minimum": 1024,
            # spaces before a unit inside its optional group: linear time (see dask MEMORY)
            "pattern": r"^\s*[0-9]+(\.[0-9]+)?(\s*([kKMGT]i?B|[kKMGT]|B))?\s*$",
            "description": "execution: dask only: bytes of CSV per partition (an integer, "
            "or text like '64MB'); null: one partition per file (needed when quoted "
            "fields hold line breaks). Compressed files are one partition each.",
            "default": "64MB",
        },
        "max_columns": MAX_COLUMNS_PARAM,
    },
    "required": ["path"],
}


class CsvSource:
    """Reads a CSV file, or every file a glob matches (in name order, as one table), with
    pandas; on Dask, lazily with ``dask.dataframe.read_csv`` in blocks."""

    def __init__(
        self,
        path: str,
        sep: str = ",",
        decimal: str = ".",
        thousands: str | None = None,
        encoding: str = "utf-8",
        na_values: list[str] | None = None,
        parse_dates: list[str] | None = None,
        columns: list[str] | None = None,
        dtypes: dict[str, str] | None = None,
        blocksize: int | str | None = "64MB",
        max_columns: int | None = None,
    ) -> None:
        self.path = path
        self.max_columns = max_columns
        self.sep = sep
        self.decimal = decimal
        self.thousands = thousands
        self.encoding = encoding
        self.na_values = list(na_values or [])
        self.parse_dates = list(parse_dates or [])
        self.columns = list(columns) if columns else None
        self.dtypes = dict(dtypes or {})
        self.blocksize = blocksize

    def describe(self) -> str:
        return f"csv {self.path}"

    def validate(self, ctx: StepContext) -> list[Finding]:
        if _is_glob(self.path):
            pattern, files = _glob_files(ctx, self.path)
            if not files:
                return [_no_match_finding(pattern)]
        else:
            path = _resolve(ctx, self.path, ".csv")
            if not path.exists():
                return [_missing_file_finding(path)]
            if path.is_dir():
                return [
                    Finding(
                        f"expected a CSV file but found a directory: {path}",
                        key="path",
                        hint="name its files with a glob, e.g. path: folder/*.csv",
                    )
                ]
            files = [path]
        if self.columns is not None:
            unread = [c for c in self.parse_dates if c not in self.columns]
            if unread:
                return [
                    Finding(
                        f"parse_dates names columns not listed in columns: {', '.join(unread)}",
                        key="parse_dates",
                        hint="add them to columns, or drop them from parse_dates",
                    )
                ]
        for file in files:
            findings = _limit_finding(self._check_header, file)
            if findings:
                return findings
        return []

    def _files(self, ctx: StepContext) -> tuple[str, list[Path]]:
        """(how messages name the data, its files in reading order)."""
        if _is_glob(self.path):
            pattern, files = _glob_files(ctx, self.path)
            if not files:
                raise DataError(_no_match_finding(pattern).message, hint=RELATIVE_PATHS)
            return f"CSV files {pattern}", files
        path = _resolve(ctx, self.path, ".csv")
        _require_file(path)
        return f"CSV file {path}", [path]

    def _check_header(self, path: Path) -> None:
        check_csv_header(
            path,
            sep=self.sep,
            encoding=self.encoding,
            max_columns=self.max_columns,
            param="max_columns",
        )

    def _options(self) -> dict[str, Any]:
        return {
            "sep": self.sep,
            "encoding": self.encoding,
            "decimal": self.decimal,
            "thousands": self.thousands,
        }

    def _columns_and_types(self) -> dict[str, Any]:
        """How both readers (pandas' and Dask's) pick and type the columns."""
        return {
            "na_values": self.na_values or None,
            "parse_dates": self.parse_dates or None,
            "usecols": self.columns,
            "dtype": self.dtypes or None,
        }

    def _decode_error(self, where: Any, exc: UnicodeDecodeError) -> DataError:
        return DataError(
            f"cannot decode {where} as {self.encoding}: {exc.reason}",
            hint="set encoding: (for example latin-1 or cp1252) in the source params",
        )

    def load(self, ctx: StepContext) -> pd.DataFrame:
        import pandas as pd

        where, files = self._files(ctx)
        frames = [self._read(path) for path in files]
        if len(frames) == 1:
            return _require_rows(frames[0], where)
        first = [str(c) for c in frames[0].columns]
        for path, frame in zip(files[1:], frames[1:], strict=True):
            names = [str(c) for c in frame.columns]
            if names != first:
                raise DataError(
                    f"{where}: {path} has columns {', '.join(names[:8])} but {files[0]} has "
                    f"{', '.join(first[:8])}",
                    hint="every file a glob matches must have the same header",
                )
        return _require_rows(pd.concat(frames, ignore_index=True), where)

    def _read(self, path: Path) -> pd.DataFrame:
        """One file, read and refused exactly as a single-file source reads it."""
        import pandas as pd

        self._check_header(path)
        options = self._options()
        try:
            frame = pd.read_csv(path, **self._columns_and_types(), **options)
        except UnicodeDecodeError as exc:
            raise self._decode_error(path, exc) from exc
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"CSV file is empty: {path}") from exc
        except pd.errors.ParserError as exc:
            raise DataError(
                f"cannot parse CSV file {path}: {exc}",
                hint=f"check the separator (sep is {self.sep!r}) and quoting",
            ) from exc
        except (OSError, ValueError, TypeError) as exc:
            self._require_named_columns(path, options)
            raise DataError(f"cannot read CSV file {path}: {exc}") from exc
        if any(_MANGLED.search(str(name)) for name in frame.columns):  # 'x.1': pandas'?
            self._refuse_repeated_names(path, options)
        if self.columns is not None:
            frame = frame[self.columns]  # usecols keeps file order; honour the spec's
        else:
            self._refuse_one_glued_column(frame, path)
        refuse_huge_integers(frame, f"CSV file {path}", line_offset=2)
        return frame

    def load_distributed(self, ctx: StepContext) -> Any:
        """The same table, lazy: ``dask.dataframe.read_csv`` over the same files, in
        blocks of ``blocksize`` bytes, with the same separator, decimal mark, thousands
        separator, encoding, missing markers, dates, columns and dtypes. Each file's
        header is checked here (bounded bytes); rows are read on the workers.

        Dask guesses a column's type from the first block; a later block that does not
        fit (decimals after whole numbers) stops the run naming the column, and
        ``dtypes:`` fixes it. Blocks are cut at line breaks: a quoted field holding one
        needs ``blocksize: null`` (a partition per file)."""
        dd = _dask_dataframe()
        where, files = self._files(ctx)
        for path in files:
            self._check_header(path)
        if any(path.suffix.lower() == ".zip" for path in files):
            raise _unsupported("csv", "path", "Dask cannot read zip archives; unzip the files")
        blocksize: Any = None if self._whole_files(files) else self.blocksize
        if blocksize is not None:
            self._require_few_blocks(where, files)
        options = self._options()
        self._require_same_headers(where, files, options)
        try:
            with _pandas_strings():
                ddf = dd.read_csv(
                    [str(path) for path in files],
                    blocksize=blocksize,
                    **self._columns_and_types(),
                    **options,
                )
        except UnicodeDecodeError as exc:
            raise self._decode_error(where, exc) from exc
        except (OSError, ValueError, TypeError) as exc:
            self._require_named_columns(files[0], options)
            raise DataError(f"cannot read {where}: {exc}") from exc
        if any(_MANGLED.search(str(name)) for name in ddf.columns):
            self._refuse_repeated_names(files[0], options)
        if self.columns is not None:
            ddf = ddf[self.columns]
        else:
            self._refuse_one_glued_column(ddf._meta, files[0])
        return ddf

    def _require_same_headers(self, where: str, files: list[Path], options: dict[str, Any]) -> None:
        """Every file's header names the first file's columns, as ``load`` requires: Dask
        takes the columns from the first file and reads each other file under its own
        header, so a renamed column reached the split as "not in index" (exit 3). Only
        the header lines are read here (each already checked for width)."""
        if len(files) < 2:
            return
        import pandas as pd

        first: list[str] | None = None
        for path in files:
            try:
                names = [str(c) for c in pd.read_csv(path, nrows=0, **options).columns]
            except (OSError, ValueError, UnicodeDecodeError):
                continue  # an unreadable header: the read that follows names the file
            if first is None:
                first, first_path = names, path
            elif names != first:
                lacks = [n for n in first if n not in names]
                more = [n for n in names if n not in first]
                what = "; ".join(
                    part
                    for part in (
                        f"lacks {', '.join(map(repr, lacks[:5]))}" if lacks else "",
                        f"has {', '.join(map(repr, more[:5]))}" if more else "",
                    )
                    if part
                )
                raise DataError(
                    f"{where}: {path} has other columns than the first file {first_path} "
                    f"({what or 'the same names in another order'})",
                    hint="every file a glob matches must have the same header",
                )

    def _require_few_blocks(self, where: str, files: list[Path]) -> None:
        """Each partition costs scheduling time on every pass and a task in the graph this
        process holds: ``blocksize: 1024`` cut a 268 KB file into 262 partitions and the
        run took 105 s instead of 6; on a 1 GB file it would be a million tasks."""
        import os

        from dask.utils import parse_bytes

        from framework import UserError

        size = parse_bytes(self.blocksize) if isinstance(self.blocksize, str) else self.blocksize
        count = sum(_blocks(path.stat().st_size, int(size)) for path in files)
        raw = os.environ.get(MAX_PARTITIONS_ENV, "").strip()
        try:
            limit = int(raw) if raw else MAX_PARTITIONS
        except ValueError:
            limit = 0
        if limit < 1:
            raise UserError(f"{MAX_PARTITIONS_ENV} must be a whole number >= 1, got {raw!r}")
        if count > limit:
            raise DataError(
                f"{where} would be cut into {count:,} partitions of blocksize {self.blocksize} "
                f"(more than {limit:,}: each costs scheduling time on every step)",
                hint=f"raise blocksize (default 64MB), or {MAX_PARTITIONS_ENV} if you mean it",
            )

    def _whole_files(self, files: list[Path]) -> bool:
        """Whether each file is read as one partition: asked for (``blocksize: null``), a
        compressed stream (it cannot be cut), or an encoding whose line break is not the
        byte ``\\n`` that Dask cuts blocks at (UTF-16, UTF-32)."""
        compressed = (".gz", ".bz2", ".xz", ".zst")
        wide = self.encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32", "utf16"))
        return (
            self.blocksize is None
            or wide
            or any(path.suffix.lower() in compressed for path in files)
        )

    def partitions(self, ctx: StepContext) -> int:
        """Blocks ``load_distributed`` cuts the files into, from their sizes alone."""
        from dask.utils import parse_bytes

        _, files = self._files(ctx)
        if self._whole_files(files):
            return len(files)
        size = parse_bytes(self.blocksize) if isinstance(self.blocksize, str) else self.blocksize
        return sum(_blocks(path.stat().st_size, int(size)) for path in files)

    def _refuse_repeated_names(self, path: Path, options: dict[str, Any]) -> None:
        """Two header cells with one name: pandas would silently rename the second
        (``tenure.1``), and the model would train on a column the file never named.
        The header is read again only when a name looks renamed so."""
        import pandas as pd

        header = pd.read_csv(path, header=None, nrows=1, dtype=str, **options)
        names = (
            ["" if pd.isna(name) else str(name) for name in header.iloc[0]] if len(header) else []
        )
        seen: dict[str, int] = {}
        for position, name in enumerate(names, start=1):
            if name and name in seen:
                raise DataError(
                    f"CSV file {path} names column '{name}' twice (columns {seen[name]} and "
                    f"{position} of the header)",
                    column=name,
                    hint="give every column its own name",
                )
            seen.setdefault(name, position)

    def _refuse_one_glued_column(self, frame: pd.DataFrame, path: Path) -> None:
        """One column whose name holds another separator: the file was written with it."""
        if frame.shape[1] != 1:
            return
        header = str(frame.columns[0])
        for sep in (";", "\t", "|", ","):
            if sep != self.sep and header.count(sep) >= 1:
                shown = "\\t" if sep == "\t" else sep
                raise DataError(
                    f"CSV file {path} was read as one column {header[:60]!r}: its header is "
                    f"separated by {shown!r}, not {self.sep!r}",
                    hint=f"set sep: '{shown}' in the source params"
                    + (" (and decimal: ',' if numbers are written 3,5)" if sep == ";" else ""),
                )

    def _require_named_columns(self, path: Path, options: dict[str, Any]) -> None:
        """After a failed read, name a misspelt ``columns``/``parse_dates`` entry (with a
        suggestion) instead of quoting pandas; the header is read only on this path."""
        wanted = [*(self.columns or []), *self.parse_dates]
        if not wanted:
            return
        import pandas as pd

        try:
            header = [str(c) for c in pd.read_csv(path, nrows=0, **options).columns]
        except (OSError, ValueError):
            return  # the header is unreadable too: the caller reports the read's error
        _require_columns(wanted, header, path.name)


MAX_PARTITIONS = 100_000
"""Most partitions a CSV source's ``blocksize`` may cut its files into on Dask (the SQL
source's ``npartitions`` has the same bound)."""
MAX_PARTITIONS_ENV = "SPECOPS_MAX_PARTITIONS"


def _blocks(size: int, blocksize: int) -> int:
    """How many blocks ``dask.bytes.read_bytes`` cuts a file of ``size`` bytes into: it
    spreads the spare bytes over ``size // blocksize`` blocks (an empty file: none)."""
    if size == 0:
        return 0
    step = size / (size // blocksize) if size % blocksize and size > blocksize else blocksize
    blocks, place = 1, 0.0
    while size - place > (step * 2) - 1:
        place += step
        blocks += 1
    return blocks


# ---------------------------------------------------------------------------
# parquet
# ---------------------------------------------------------------------------

PARQUET_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "path": {
            "type": "string",
            "description": "A Parquet file, a directory of Parquet files read as one table "
            "(hive partitions key=value/ become columns) or a glob (data/*.parquet).",
        },
        "columns": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "Read only these columns, in this order (default: all).",
        },
        "max_columns": MAX_COLUMNS_PARAM,
        "max_cells": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10**12,
            "description": "Refuse data whose metadata declares more values (rows x columns) "
            "than this, before reading it: the whole table with execution: local (read whole "
            "into memory), each file with execution: dask (a worker reads a file whole) "
            "(default: $SPECOPS_MAX_CELLS, else 250000000).",
        },
    },
    "required": ["path"],
}


class ParquetSource:
    """Reads a Parquet file, a directory of them (a dataset: hive partitions ``key=value/``
    become columns, as pyarrow reads them) or a glob of files, with pyarrow; on Dask,
    lazily with ``dask.dataframe.read_parquet``."""

    def __init__(
        self,
        path: str,
        columns: list[str] | None = None,
        max_columns: int | None = None,
        max_cells: int | None = None,
    ) -> None:
        self.path = path
        self.columns = list(columns) if columns else None
        self.max_columns = max_columns
        self.max_cells = max_cells

    def describe(self) -> str:
        return f"parquet {self.path}"

    def _where(self, ctx: StepContext) -> tuple[Path, list[Path], Any]:
        """(what messages name, the data files, what the reader opens: a file, a
        directory or the glob's file list); a DataError when there is nothing to read."""
        if _is_glob(self.path):
            pattern, files = _glob_files(ctx, self.path)
            if not files:
                raise DataError(_no_match_finding(pattern).message, hint=RELATIVE_PATHS)
            return pattern, files, [str(f) for f in files]
        path = _resolve(ctx, self.path, ".parquet")
        _require_file(path)
        files = parquet_files(path)
        if not files:
            raise DataError(f"directory {path} holds no Parquet files", hint=NOT_PARQUET_HINT)
        return path, files, path

    def validate(self, ctx: StepContext) -> list[Finding]:
        whole = _reads_whole(ctx)
        if _is_glob(self.path):
            pattern, files = _glob_files(ctx, self.path)
            if not files:
                return [_no_match_finding(pattern)]
            return _limit_finding(self._check_size, files, pattern, whole=whole)
        path = _resolve(ctx, self.path, ".parquet")
        if not path.exists():
            return [_missing_file_finding(path)]
        try:
            files = parquet_files(path)
        except DataError as exc:  # a FIFO or device inside the directory, named
            return [Finding(exc.message, key="path", hint=exc.hint)]
        if not files:
            return [Finding(f"directory {path} holds no Parquet files", key="path")]
        return _limit_finding(self._check_size, files, path, whole=whole)

    def _check_size(self, files: list[Path], where: Path, *, whole: bool = True) -> list[Any]:
        """Width and size from the footers, before a page is read: a small file may
        declare millions of columns, or rows that decode to gigabytes. ``whole``: the
        table is read whole into this process (``load``), so ``max_cells`` bounds the
        table; else (Dask: a worker reads a file at a time) it bounds each file.
        Returns the footers when checked per file (None otherwise)."""
        from framework.data_limits import check_parquet_files

        read_columns = len(self.columns) if self.columns else None
        if whole:
            check_parquet_whole(
                files,
                max_columns=self.max_columns,
                max_cells=self.max_cells,
                where=where,
                read_columns=read_columns,
                params=True,
            )
            return []
        return check_parquet_files(
            files,
            max_columns=self.max_columns,
            max_cells=self.max_cells,
            read_columns=read_columns,
            params=True,
        )

    def load(self, ctx: StepContext) -> pd.DataFrame:
        import pandas as pd
        import pyarrow

        where, files, target = self._where(ctx)
        self._check_size(files, where)
        check_parquet_text(files, columns=self.columns, where=where, max_columns=self.max_columns)
        try:
            frame = pd.read_parquet(target, engine="pyarrow", columns=self.columns)
        except MemoryError:  # pyarrow's ArrowMemoryError too: too big, not "not Parquet"
            raise
        except (OSError, ValueError, pyarrow.ArrowException) as exc:
            self._require_named_columns(target, where)
            raise DataError(
                f"cannot read Parquet data {where}: {exc}", hint=NOT_PARQUET_HINT
            ) from exc
        return _require_rows(decimals_as_floats(frame), f"Parquet data {where}")

    def load_distributed(self, ctx: StepContext) -> Any:
        """The same table, lazy: ``dask.dataframe.read_parquet`` over the same files
        (footers read here, row groups on the workers). Each file's footer is checked
        for width as ``load`` checks it, and ``max_cells`` bounds each FILE (a worker
        reads one whole), not the table (never read whole into one process). The
        footers' schemas must agree with the first file's (see
        :func:`_schema_disagreement`): a file lacking a column, or storing it as another
        kind of value, is refused here naming it, before any worker reads a page."""
        import pyarrow

        dd = _dask_dataframe()
        where, files, target = self._where(ctx)
        footers = self._check_size(files, where, whole=False)
        casts = _schema_disagreement(files, footers, self.columns)
        self._require_named_columns(target, where)
        try:
            with _pandas_strings():
                ddf = dd.read_parquet(
                    target if isinstance(target, list) else str(target), columns=self.columns
                )
        except MemoryError:
            raise
        except (OSError, ValueError, pyarrow.ArrowException) as exc:
            raise DataError(
                f"cannot read Parquet data {where}: {exc}", hint=NOT_PARQUET_HINT
            ) from exc
        ddf = _decimals_as_floats_lazy(ddf)
        casts = {name: dtype for name, dtype in casts.items() if name in ddf.columns}
        return ddf.astype(casts) if casts else ddf

    def partitions(self, ctx: StepContext) -> int:
        """How many partitions ``load_distributed`` yields (footers only, for ``plan``),
        after Dask's own optimisation (it fuses the files of a column-projected read)."""
        return int(self.load_distributed(ctx).optimize().npartitions)

    def _require_named_columns(self, target: Any, where: Path) -> None:
        """Name a misspelt ``columns`` entry (with a suggestion) instead of quoting pyarrow.

        The schema is looked up as ``read_parquet`` reads the data, hive partitioning
        included, so a partition column (``region=north/``) counts as present.
        """
        if self.columns is None:
            return
        import pyarrow
        import pyarrow.dataset

        try:
            schema = pyarrow.dataset.dataset(target, format="parquet", partitioning="hive").schema
        except (OSError, ValueError, pyarrow.ArrowException):
            return  # not readable as Parquet at all: the caller reports the read's error
        _require_columns(self.columns, schema.names, where.name)


def _reads_whole(ctx: StepContext) -> bool:
    """Whether the spec's executor reads the table whole into this process (``local``).

    ``ctx.execution`` says (``specops validate``, ``plan`` and ``run`` set it from the
    spec). A context without it (made by an older specops) is judged as for Dask (width
    and per-file size, which hold for both), and the local ``load`` still refuses a table
    too big to read whole before reading a page."""
    return getattr(ctx, "execution", None) == "local"


def _family(arrow_type: Any) -> str:
    """The kind of value a Parquet column holds, as the later steps judge it: int and
    float widths are all numbers, dictionary-encoded text is text, null is none."""
    import pyarrow.types as pat

    if pat.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    checks = (
        (pat.is_null, "null"),
        (pat.is_boolean, "boolean"),
        (lambda t: pat.is_integer(t) or pat.is_floating(t) or pat.is_decimal(t), "number"),
        (lambda t: pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t), "text"),
        (lambda t: pat.is_timestamp(t) or pat.is_date(t), "datetime"),
        (pat.is_duration, "duration"),
        (lambda t: pat.is_binary(t) or pat.is_large_binary(t), "binary"),
    )
    for check, family in checks:
        if check(arrow_type):
            return family
    return str(arrow_type)


_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
"""A pandas index pyarrow stored as a column: an index, not data (one file may have it)."""


def _schema_disagreement(
    files: list[Path], footers: list[Any], columns: list[str] | None
) -> dict[str, str]:
    """Refuse files whose columns differ from the first file's; returns the casts that
    make number columns agree (column -> dtype).

    Dask takes the table's columns and dtypes from the first file and reads every other
    file as it is: a file lacking a column failed on a worker ("not in index", exit 3),
    and text where the first file has numbers reached the model (LightGBM: "pandas
    dtypes must be int, float or bool", exit 3). A column all null in one file (Parquet
    type null) agrees with any; number columns of other widths or int in one file and
    float in another are read as float64 (int64 when all are whole), as pyarrow would
    combine them. Hive partition keys are not in the files and are not compared."""
    if len(footers) < 2:
        return {}
    schemas = [footer.schema.to_arrow_schema() for footer in footers]
    first = schemas[0]
    first_names = [name for name in first.names if not _PANDAS_INDEX.fullmatch(name)]
    wanted = [c for c in columns if c in first_names] if columns else first_names
    families: dict[str, set[str]] = {name: set() for name in wanted}
    floats: set[str] = set()
    widths: dict[str, set[str]] = {name: set() for name in wanted}
    hint = (
        "write every file with the same columns and types, or read only the columns "
        "all files share (columns: in the source params)"
    )
    for file, schema in zip(files, schemas, strict=True):
        names = [name for name in schema.names if not _PANDAS_INDEX.fullmatch(name)]
        missing = [name for name in wanted if name not in names]
        if missing:
            raise DataError(
                f"Parquet file {file} lacks column(s) {', '.join(map(repr, missing[:5]))} "
                f"that the first file {files[0]} has",
                column=missing[0],
                hint=hint,
            )
        extra = [name for name in names if name not in first_names] if not columns else []
        if extra:
            raise DataError(
                f"Parquet file {file} has column(s) {', '.join(map(repr, extra[:5]))} that "
                f"the first file {files[0]} lacks",
                column=extra[0],
                hint=hint,
            )
        for name in wanted:
            arrow_type = schema.field(name).type if names.count(name) == 1 else None
            first_type = first.field(name).type if first_names.count(name) == 1 else None
            if arrow_type is None or first_type is None:
                continue  # a repeated name: the table's own check refuses it
            family = _family(arrow_type)
            expected = _family(first_type)
            if "null" not in (family, expected) and family != expected:
                raise DataError(
                    f"Parquet file {file} stores column '{name}' as {arrow_type} ({family}) "
                    f"where the first file {files[0]} stores {first_type} ({expected})",
                    column=name,
                    hint=hint,
                )
            families[name].add(family)
            widths[name].add(str(arrow_type))
            if family == "null" or (
                family == "number" and not str(arrow_type).startswith(("int", "uint"))
            ):
                floats.add(name)
    casts = {}
    for name in wanted:
        if families[name] <= {"number", "null"} and len(widths[name]) > 1:
            casts[name] = "float64" if name in floats else "int64"
    return casts


NOT_PARQUET_HINT = "is it a Parquet file (or a directory holding only Parquet files)?"
NOT_PARQUET_HINT = "is it a Parquet file (or a directory holding only Parquet files)?"


# ---------------------------------------------------------------------------
# sql
# ---------------------------------------------------------------------------

SQL_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "path": {
            "type": "string",
            "description": "A SQLite database file, opened read-only (no extra needed).",
        },
        "url": {
            "type": "string",
            "description": "A SQLAlchemy database URL (needs pip install 'specops[sql]').",
        },
        "query": {
            "type": "string",
            "description": "One SELECT (or WITH ... SELECT) statement; anything that could "
            "write is refused.",
        },
        "table": {
            "type": "string",
            "description": "A table to read whole: 'name' or 'schema.name'.",
        },
        "max_cells": {
            "type": "integer",
            "minimum": 1,
            "description": "Stop a query once it has returned more values (rows x columns) "
            "than this (default: $SPECOPS_MAX_CELLS, else 250000000).",
        },
        "index_col": {
            "type": "string",
            "description": "execution: dask only: a numeric or datetime column of table "
            "(ideally indexed) whose range is cut into partitions, each read by a worker.",
        },
        "npartitions": {
            "type": "integer",
            "minimum": 1,
            "maximum": 100000,
            "description": "execution: dask only: how many partitions to cut index_col's "
            "range into (default: from the table's size, about 256 MiB each).",
        },
    },
    "required": [],
}

_MANGLED = re.compile(r"\.\d+$")
"""How pandas renames a repeated CSV header name ('x', 'x.1', 'x.2')."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]+):[^@]*@")


def _split_table_name(table: str) -> list[str] | None:
    """``schema.name`` as its parts, or None when it is not a plain identifier."""
    parts = table.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        return None
    return parts


def _hide_password(url: str) -> str:
    """Keep credentials out of ``specops plan`` and error messages."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", url)


class SqlSource:
    """Runs a query or reads a table from SQLite (stdlib) or any SQLAlchemy database."""

    def __init__(
        self,
        path: str | None = None,
        url: str | None = None,
        query: str | None = None,
        table: str | None = None,
        max_cells: int | None = None,
        index_col: str | None = None,
        npartitions: int | None = None,
    ) -> None:
        self.db_path = path
        self.url = url
        self.query = query
        self.table = table
        self.max_cells = max_cells
        self.index_col = index_col
        self.npartitions = npartitions

    def describe(self) -> str:
        where = f"sqlite {self.db_path}" if self.db_path else _hide_password(self.url or "?")
        what = f"table {self.table}" if self.table else "query"
        return f"sql {where}: {what}"

    def validate(self, ctx: StepContext) -> list[Finding]:
        findings: list[Finding] = []
        if (self.db_path is None) == (self.url is None):
            findings.append(
                Finding(
                    "sql source needs exactly one of path (a SQLite file) or url",
                    hint="path: data.db for SQLite, url: postgresql://... for anything else",
                )
            )
        elif self.db_path is not None and not _resolve(ctx, self.db_path).exists():
            findings.append(_missing_file_finding(_resolve(ctx, self.db_path)))
        elif self.db_path is not None:
            findings.extend(_limit_finding(require_regular, _resolve(ctx, self.db_path)))
        elif self.url is not None and importlib.util.find_spec("sqlalchemy") is None:
            findings.append(
                Finding(
                    "a sql url needs SQLAlchemy, which is not installed",
                    key="url",
                    hint=SQL_EXTRA_HINT,
                )
            )
        if (self.query is None) == (self.table is None):
            findings.append(
                Finding(
                    "sql source needs exactly one of query or table",
                    hint="table: reads the whole table; query: runs a SELECT",
                )
            )
        elif self.table is not None and _split_table_name(self.table) is None:
            findings.append(self._bad_table_finding())
        elif self.query is not None:
            problem = statement_problem(self.query)
            if problem is not None:
                findings.append(Finding(problem, key="query", hint=READ_ONLY_HINT))
        if self.index_col is not None and self.query is not None:
            findings.append(
                Finding(
                    "index_col partitions a table, not a query",
                    key="index_col",
                    hint="read a table: (or a view) with index_col, or drop index_col",
                )
            )
        if self.npartitions is not None and self.index_col is None:
            findings.append(
                Finding(
                    "npartitions needs index_col: the column whose range is cut",
                    key="npartitions",
                    hint="add index_col: a numeric or datetime column of the table",
                )
            )
        return findings

    def load(self, ctx: StepContext) -> pd.DataFrame:
        problems = self.validate(ctx)
        if problems:  # run without validate still gets a clear message
            raise DataError(problems[0].message, hint=problems[0].hint)
        if self.db_path is not None:
            path = _resolve(ctx, self.db_path)
            frame = self._load_sqlite(path)
            where = f"SQLite database {path}"
        else:
            frame = self._load_sqlalchemy(self.url or "")
            where = _hide_password(self.url or "")
        what = f"table {self.table} in {where}" if self.table else f"the query on {where}"
        if frame is None:  # a statement with no result set: only reachable past validate
            raise DataError(f"{what} returned no columns", hint="the query must be a SELECT")
        refuse_huge_integers(frame, what)
        return _require_rows(decimals_as_floats(frame), what)

    def load_distributed(self, ctx: StepContext) -> Any:
        """The table, lazy: ``dask.dataframe.read_sql_table`` cuts ``index_col``'s range
        into ``npartitions`` and each worker reads its slice (``WHERE index_col >= ... AND
        < ...``). Only ``table:`` can be cut so; a SQLite file is opened read-only (a
        ``mode=ro`` URI), a server database should be reached as a role that only reads.
        Columns come back in the table's order, ``index_col`` among them, as ``load``
        gives them."""
        problems = self.validate(ctx)
        if problems:
            raise DataError(problems[0].message, hint=problems[0].hint)
        if self.table is None:
            raise _unsupported(
                "sql", "query", "Dask partitions a table on an index column, not a query"
            )
        if self.index_col is None:
            raise DataError(
                "the sql source needs index_col to read a table with execution: dask",
                hint="index_col: a numeric or datetime column (ideally indexed) to cut "
                "the table into partitions; npartitions: how many",
            )
        dd = _dask_dataframe()
        try:
            import sqlalchemy
        except ImportError as exc:
            raise DataError(
                "reading SQL with Dask needs SQLAlchemy, which is not installed",
                hint=SQL_EXTRA_HINT,
            ) from exc
        url, shown = self._distributed_url(ctx)
        parts = _split_table_name(self.table) or []
        schema, name = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
        try:
            engine = sqlalchemy.create_engine(url)
            try:
                names = [c["name"] for c in sqlalchemy.inspect(engine).get_columns(name, schema)]
            finally:
                engine.dispose()
        except sqlalchemy.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DataError(f"SQL failed on {shown}: {reason}") from exc
        if not names:
            raise DataError(f"table {self.table} not found in {shown}")
        _require_columns([self.index_col], names, f"table {self.table}")
        try:
            with _pandas_strings():
                ddf = dd.read_sql_table(
                    name,
                    url,
                    index_col=self.index_col,
                    npartitions=self.npartitions,
                    schema=schema,
                )
        except (sqlalchemy.exc.SQLAlchemyError, ValueError, TypeError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DataError(
                f"cannot partition table {self.table} in {shown} on {self.index_col}: {reason}",
                hint="index_col must be a numeric or datetime column without missing values",
            ) from exc
        return _decimals_as_floats_lazy(ddf.reset_index()[names])

    def partitions(self, ctx: StepContext) -> int:
        """``npartitions`` when set, else what Dask cuts from the table's size (a count,
        the index's range and a 5-row sample)."""
        if self.npartitions is not None:
            return self.npartitions
        return int(self.load_distributed(ctx).npartitions)

    def _distributed_url(self, ctx: StepContext) -> tuple[str, str]:
        """(a URL every worker can open, how messages show it: no password)."""
        if self.db_path is not None:
            path = _resolve(ctx, self.db_path)
            return f"sqlite:///file:{path}?mode=ro&uri=true", f"SQLite database {path}"
        return self.url or "", _hide_password(self.url or "")

    def _bad_table_finding(self) -> Finding:
        return Finding(
            f"table {self.table!r} is not a plain table name",
            key="table",
            hint="use letters, digits and _ (optionally schema.table); use query: for SQL",
        )

    def _select_table(self, quote: Any) -> str:
        parts = _split_table_name(self.table or "") or []
        return "SELECT * FROM " + ".".join(quote(p) for p in parts)

    def _load_sqlite(self, path: Path) -> pd.DataFrame:
        """Run the statement on a connection that cannot write (``validate`` is the
        first guard; this one holds even for a statement that got past it)."""
        import sqlite3

        sql = self.query or self._select_table(lambda name: f'"{name}"')
        try:
            with closing(connect_sqlite_read_only(path)) as connection:
                try:
                    cursor = connection.execute(sql)
                    if cursor.description is None:  # a comment, a lone ';'
                        raise DataError(
                            f"the query on SQLite database {path} returned no columns",
                            hint=READ_ONLY_HINT,
                        )
                    names = [column[0] for column in cursor.description]
                    where = f"the query on SQLite database {path}"
                    return rows_as_frame(cursor, names, where, max_cells=self.max_cells)
                except sqlite3.Error as exc:
                    reason = str(exc)
                    if reason == "interrupted":
                        raise DataError(
                            f"the query on SQLite database {path} ran longer than "
                            f"{query_seconds():,} seconds and was stopped",
                            hint=f"narrow the query, or set {QUERY_SECONDS_ENV} to allow longer",
                        ) from exc
                    if reason == "string or blob too big":
                        reason += f" (a value or row over {VALUE_BYTES:,} bytes)"
                    hint = _sqlite_tables_hint(connection, reason)
                    raise DataError(
                        f"SQL failed on SQLite database {path}: {reason}", hint=hint
                    ) from exc
        except sqlite3.Error as exc:
            raise DataError(f"cannot open SQLite database {path}: {exc}") from exc

    def _load_sqlalchemy(self, url: str) -> pd.DataFrame | None:
        try:
            import sqlalchemy
        except ImportError as exc:
            raise DataError(
                "a sql url needs SQLAlchemy, which is not installed", hint=SQL_EXTRA_HINT
            ) from exc
        shown = _hide_password(url)
        try:
            engine = _read_only_engine(sqlalchemy, url)
        except Exception as exc:  # bad URL, missing DB driver: both are the user's to fix
            raise DataError(f"cannot use database url {shown}: {exc}") from exc
        try:
            sql = self.query or self._select_table(engine.dialect.identifier_preparer.quote)
            with engine.connect() as connection:
                # Our own transaction, read-only where the database has one, and always
                # rolled back: pandas commits a transaction it opens itself.
                transaction = begin_read_only(connection)
                try:
                    result = connection.execute(sqlalchemy.text(sql))
                    if not result.returns_rows:
                        return None
                    where = f"the query on {shown}"
                    names = list(result.keys())
                    return rows_as_frame(result, names, where, max_cells=self.max_cells)
                finally:
                    transaction.rollback()
        except sqlalchemy.exc.SQLAlchemyError as exc:
            # SQLAlchemy's error wraps the driver's: report the driver's.
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DataError(f"SQL failed on {shown}: {reason}") from exc
        finally:
            engine.dispose()


READ_ONLY_HINT = (
    "the sql source only reads: write one SELECT (or WITH ... SELECT) statement; "
    "for a server database, connect as a role that can only read"
)


def _read_only_engine(sqlalchemy: Any, url: str) -> Any:
    """An engine for ``url``; SQLite files are opened through the same read-only
    connection as ``path:`` (relative to the working directory, as SQLAlchemy does)."""
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return sqlalchemy.create_engine(url)
    database = Path(parsed.database)
    if not database.is_file():
        raise DataError(f"SQLite database not found: {database.absolute()}")
    return sqlalchemy.create_engine("sqlite://", creator=lambda: connect_sqlite_read_only(database))


def _sqlite_tables_hint(connection: Any, reason: str) -> str | None:
    """For "no such table", list the tables there are and suggest the closest."""
    if not reason.startswith("no such table"):
        return None
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
    except Exception:  # the file is not a database at all
        return None
    missing = reason.rsplit(":", 1)[-1].strip()
    return f"tables in this database: {', '.join(tables) or 'none'}" + did_you_mean(missing, tables)


# ---------------------------------------------------------------------------
# sklearn_dataset
# ---------------------------------------------------------------------------

# Datasets shipped inside scikit-learn (no download), with whether targets are classes.
SKLEARN_DATASETS: dict[str, tuple[str, bool]] = {
    "breast_cancer": ("load_breast_cancer", True),
    "diabetes": ("load_diabetes", False),
    "digits": ("load_digits", True),
    "iris": ("load_iris", True),
    "wine": ("load_wine", True),
}

SKLEARN_DATASET_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {
            "enum": sorted(SKLEARN_DATASETS),
            "description": "A dataset bundled with scikit-learn; the target column is 'target'.",
        },
        "target_names": {
            "type": "boolean",
            "default": False,
            "description": "Use class names (strings) as the target instead of integer codes.",
        },
    },
    "required": ["name"],
}


class SklearnDatasetSource:
    """One of scikit-learn's small bundled datasets: for examples, tests and demos."""

    def __init__(self, name: str, target_names: bool = False) -> None:
        self.name = name
        self.target_names = target_names

    def describe(self) -> str:
        return f"scikit-learn dataset {self.name}"

    def _unknown_name(self) -> Finding | None:
        if self.name in SKLEARN_DATASETS:
            return None
        return Finding(
            f"unknown scikit-learn dataset {self.name!r}"
            + did_you_mean(self.name, SKLEARN_DATASETS),
            key="name",
            hint=f"one of: {', '.join(sorted(SKLEARN_DATASETS))}",
        )

    def validate(self, ctx: StepContext) -> list[Finding]:
        unknown = self._unknown_name()
        if unknown is not None:
            return [unknown]
        findings: list[Finding] = []
        if self.target_names and not SKLEARN_DATASETS[self.name][1]:
            findings.append(
                Finding(
                    f"{self.name} is a regression dataset: it has no class names",
                    key="target_names",
                    hint="remove target_names",
                )
            )
        if ctx.target != "target":
            findings.append(
                Finding(
                    f"the {self.name} dataset calls its target 'target', "
                    f"but the spec's target is {ctx.target!r}",
                    hint="set target: target",
                )
            )
        return findings

    def load(self, ctx: StepContext) -> pd.DataFrame:
        unknown = self._unknown_name()
        if unknown is not None:
            raise DataError(unknown.message, hint=unknown.hint)
        import numpy as np
        import pandas as pd
        from sklearn import datasets

        loader_name, is_classification = SKLEARN_DATASETS[self.name]
        bunch = getattr(datasets, loader_name)(as_frame=True)
        frame = bunch.frame
        if self.target_names and is_classification:
            names = np.asarray([str(n) for n in bunch.target_names], dtype=object)
            frame["target"] = pd.Series(
                names[frame["target"].to_numpy()], index=frame.index, dtype="str"
            )
        return frame


# ---------------------------------------------------------------------------
# snapshot
# ---------------------------------------------------------------------------

SNAPSHOT_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "data": {
            "type": "string",
            "pattern": "^[0-9a-f]{6,64}$",
            "description": "The data hash of a recorded dataset version (a unique prefix will do).",
        },
        "store": {
            "type": "string",
            "description": "The store holding it; default: this spec's store.",
        },
    },
    "required": ["data"],
}


class SnapshotSource:
    """A dataset version recorded by an earlier run: train again on exactly that data."""

    def __init__(self, data: str, store: str | None = None) -> None:
        self.data = data
        self.store = store

    def describe(self) -> str:
        return f"snapshot {self.data[:12]}"

    def validate(self, ctx: StepContext) -> list[Finding]:
        from framework.store import store_present  # a shared store: no store.db here

        if self.store is not None and not store_present(ctx.path(self.store)):
            return [Finding(f"no specops store at {ctx.path(self.store)}", key="store")]
        return []

    def _root(self, ctx: StepContext) -> Path:
        root = ctx.path(self.store) if self.store else ctx.store_root
        if root is None:
            raise DataError("the snapshot source needs a store: set params.store")
        return root

    def load(self, ctx: StepContext) -> pd.DataFrame:
        return read_snapshot(self._root(ctx), self.data)

    def load_distributed(self, ctx: StepContext) -> Any:
        """The snapshot as a lazy dask frame, either layout (a local run's single blob,
        a Dask run's partitions); the workers read and hash-check the parts, so the
        store must be on a file system they share."""
        from plugins.dask_execution.snapshot import read_distributed

        return read_distributed(self._root(ctx), self.data)

    def partitions(self, ctx: StepContext) -> int:
        """Partitions of the snapshot, from its manifest alone."""
        from plugins.dask_execution.snapshot import partition_count

        return partition_count(self._root(ctx), self.data)


@hookimpl
def specops_register_sources(register: Register) -> None:
    register("csv", CsvSource, CSV_PARAMS, summary="Read a CSV file")
    register("parquet", ParquetSource, PARQUET_PARAMS, summary="Read Parquet file(s)")
    register("sql", SqlSource, SQL_PARAMS, summary="Read a SQL query or table")
    register(
        "sklearn_dataset",
        SklearnDatasetSource,
        SKLEARN_DATASET_PARAMS,
        summary="Load a dataset bundled with scikit-learn",
    )
    register(
        "snapshot",
        SnapshotSource,
        SNAPSHOT_PARAMS,
        summary="A dataset version recorded by an earlier run",
    )
