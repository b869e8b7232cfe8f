"""The input of a batch scoring: a CSV or Parquet file, a directory of Parquet files
or a glob of either, cut into :class:`Piece` s that are read on their own.

Readers fix the dtypes up front (CSV categories and ids as text, Parquet text
categories as dictionaries), so what a chunk holds never changes how it is read, and
every column the model needs is checked in every file before a row is read.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.data_limits import check_csv_header, parquet_metadata, refuse_huge_integers
from framework.errors import DataError, UserError
from framework.file_kind import require_regular
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from framework.package import ModelPackage

READ_BUFFER = 1 << 20
"""Parquet column chunks are read through a 1 MiB buffer, page by page: a lower peak
than reading each column chunk of a row group whole, at the same speed."""
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")

GLOB_CHARACTERS = "*?["
MAX_INPUT_FILES = 100_000
"""Files one input may match: each one's header or footer is read before scoring."""


def file_format(path: Path, role: str) -> str:
    """``csv`` or ``parquet`` from the name (a directory is Parquet), or a UserError."""
    if role == "input" and path.is_dir():
        return "parquet"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in PARQUET_SUFFIXES:
        return "parquet"
    if suffixes and suffixes[-1] in CSV_SUFFIXES:
        return "csv"
    compressed_csv = len(suffixes) >= 2 and suffixes[-2] in CSV_SUFFIXES
    if role == "input" and compressed_csv and suffixes[-1] in COMPRESSED:
        return "csv"
    known = ", ".join((*CSV_SUFFIXES, *PARQUET_SUFFIXES))
    extra = " (or a directory of Parquet files, or a glob; CSV may be compressed, .csv.gz)"
    raise UserError(
        f"cannot tell the format of {role} {path} from its name; use {known}"
        + (extra if role == "input" else "")
    )


def input_files(path: Path) -> tuple[str, list[Path]]:
    """The input's format and its files, in name order: the file itself, a directory's
    Parquet files, or the files a glob (``parts/*.parquet``, ``day=*/*.csv``) matches,
    all of one format."""
    if not path.exists() and any(c in str(path) for c in GLOB_CHARACTERS):
        from framework.bounded_glob import bounded_glob

        # never through a link for **, and bounded: '/**/*.csv' walked the whole file
        # system, and a link loop repeated the walk (and its files) at every level
        matched = [Path(p) for p in bounded_glob(str(path))]
        files = [p for p in matched if not p.is_dir()]
        for file in files:  # a FIFO or device is refused by name, never skipped
            require_regular(file, "input")
        if not files:
            raise UserError(f"input not found: no file matches {path}")
        if len(files) > MAX_INPUT_FILES:
            raise UserError(
                f"{path} matches {len(files):,} files, more than {MAX_INPUT_FILES:,}; "
                "merge them or score them in several runs"
            )
        kinds = {file_format(file, "input") for file in files}
        if len(kinds) > 1:
            raise UserError(f"{path} matches both CSV and Parquet files; match one format")
        return kinds.pop(), files
    if not path.exists():
        raise UserError(f"input not found: {path}")
    kind = file_format(path, "input")
    return kind, (_parquet_files(path) if kind == "parquet" else [path])


def open_input(path: Path, package: ModelPackage, id_column: str | None) -> InputFile:
    """The input, its columns checked against the model's signature before any row is read."""
    kind, files = input_files(path)
    source: InputFile = (
        CsvInput(path, package, files) if kind == "csv" else ParquetInput(path, package, files)
    )
    source.check(id_column)
    return source


@dataclass(frozen=True)
class Piece:
    """A part of the input that is read and scored on its own: a file, or some row groups
    of a Parquet file. Small and picklable: a Dask task carries one."""

    number: int
    file: Path
    row_groups: tuple[int, ...] | None = None
    """Parquet: the row groups to read (None: all of them)."""
    offset: int = 0
    """The index of its first row: Parquet rows are numbered through the whole input in
    file order, CSV rows from 0 in each file (its error hint names the line)."""
    rows: int | None = None


class InputFile:
    """A CSV or Parquet input (one file or several): its columns, row count when known,
    and its pieces."""

    path: Path
    columns: list[str]
    total_rows: int | None = None
    row_hint = "rows are numbered from 0 in file order"

    def __init__(self, path: Path, package: ModelPackage, files: list[Path]) -> None:
        self.path = path
        self.files = files
        self.package: ModelPackage | None = package
        self.id_column: str | None = None
        self.extra: list[str] = []

    @property
    def signature(self) -> Any:
        assert self.package is not None, "attach() the package first"
        return self.package.signature

    @property
    def id_type(self) -> Any:
        """The Arrow type of the id column in the output (None without one)."""
        return None

    def empty_frame(self) -> pd.DataFrame:
        """No rows, the file's columns (and their types, when the file has types)."""
        raise NotImplementedError

    def pieces(self, target_rows: int | None = None) -> list[Piece]:
        """The input cut into pieces of about ``target_rows`` rows where the format allows
        (Parquet row groups; a CSV file is one piece); None: one piece per file."""
        return [Piece(number, file) for number, file in enumerate(self.files)]

    def read(self, piece: Piece, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, pa.Array | None]]:
        """(features, ids) per chunk of ``piece``; rows indexed as :class:`Piece` says."""
        raise NotImplementedError

    def chunks(self, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, pa.Array | None]]:
        """(features, ids) per chunk of the whole input, piece after piece."""
        for piece in self.pieces():
            yield from self.read(piece, chunk_rows)

    def detached(self) -> InputFile:
        """A copy without the model package (and other bulky state), for a Dask task:
        the package travels once per worker, not once per piece; :meth:`attach` it."""
        light = copy.copy(self)
        light.package = None
        return light

    def attach(self, package: ModelPackage) -> InputFile:
        self.package = package
        return self

    def check(self, id_column: str | None) -> None:
        """Missing columns and the id column, named with the file; extra columns noted once."""
        from framework.signature import conform

        if id_column is not None and id_column not in self.columns:
            raise DataError(
                f"{self.path}: no id column '{id_column}'"
                f"{did_you_mean(id_column, self.columns)}; columns: {_listed(self.columns)}",
                column=id_column,
            )
        try:
            _, extra = conform(self.empty_frame(), self.signature)
        except DataError as exc:
            raise DataError(
                f"{self.path}: {exc.message}", column=exc.column, hint=exc.hint
            ) from exc
        self.id_column = id_column
        self.extra = [c for c in extra if c != id_column]

    @property
    def needed(self) -> list[str]:
        """The columns to read: the model's features and the id, nothing else."""
        names = self.signature.names
        if self.id_column is not None and self.id_column not in names:
            return [*names, self.id_column]
        return list(names)


class CsvInput(InputFile):
    """CSV files read in ``read_csv`` chunks with dtypes fixed up front."""

    row_hint = "rows are numbered from 0 after the header: row N is on line N + 2"

    def __init__(self, path: Path, package: ModelPackage, files: list[Path] | None = None) -> None:
        super().__init__(path, package, files or [path])
        self.columns = []
        for file in self.files:
            columns = self._header(file)
            if not self.columns:
                self.columns = columns
            missing = [c for c in self.signature.names if c not in columns]
            if missing and file != self.files[0]:
                raise DataError(
                    f"{file}: missing column(s) the model needs: {', '.join(missing)}",
                    column=missing[0],
                )

    @staticmethod
    def _header(file: Path) -> list[str]:
        import pandas as pd

        check_csv_header(file)  # bounded bytes first: a 10^6-name header is never split
        try:
            return [str(c) for c in pd.read_csv(file, nrows=0).columns]
        except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise DataError(f"cannot read CSV file {file}: {exc}") from exc

    def check(self, id_column: str | None) -> None:
        super().check(id_column)
        if id_column is None or len(self.files) == 1:
            return
        for file in self.files[1:]:
            if id_column not in self._header(file):
                raise DataError(f"{file}: no id column '{id_column}'", column=id_column)

    def empty_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({name: pd.Series([], dtype=object) for name in self.columns})

    def dtypes(self) -> dict[str, Any]:
        """Types that hold for every chunk, whatever its values happen to look like.

        Categories are read as text and matched to the training categories' type in
        ``conform``; not as ``category``, whose values pandas parses per chunk (a chunk
        holding only ``01`` and ``02`` would give categories 1 and 2). The id is passed
        through as text. Numeric columns are left to the parser: an all-empty chunk
        reads as missing floats, and a stray word reads as text that ``conform``
        refuses by name, value and row.
        """
        types: dict[str, Any] = {
            c.name: str for c in self.signature.columns if c.role == "categorical"
        }
        if self.id_column is not None and self.id_column not in self.signature.names:
            types[self.id_column] = str
        return types

    def read(self, piece: Piece, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, pa.Array | None]]:
        import pandas as pd
        import pyarrow as pa

        try:
            # low_memory=False: each chunk is parsed whole (chunk_rows bounds memory),
            # so a chunk gets one dtype per column and no mixed-types warning.
            reader = pd.read_csv(
                piece.file,
                usecols=self.needed,
                dtype=self.dtypes(),
                chunksize=chunk_rows,
                low_memory=False,
            )
            with reader:
                for frame in reader:
                    refuse_huge_integers(frame, str(piece.file), line_offset=2)
                    ids = None
                    if self.id_column is not None:
                        ids = pa.Array.from_pandas(frame[self.id_column]).cast(pa.string())
                    yield frame, ids
        except (UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise DataError(f"cannot parse CSV file {piece.file}: {exc}") from exc

    @property
    def id_type(self) -> Any:
        import pyarrow as pa

        return pa.string()


class ParquetInput(InputFile):
    """Parquet files (a file, a directory or a glob), read one row group at a time."""

    def __init__(self, path: Path, package: ModelPackage, files: list[Path] | None = None) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        super().__init__(path, package, files or _parquet_files(path))
        self.metadata: list[Any] = []
        schema = None
        for file in self.files:
            metadata = parquet_metadata(file)  # the footer, its column count bounded
            try:
                parquet = pq.ParquetFile(file, metadata=metadata)
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise DataError(f"cannot read Parquet file {file}: {exc}") from exc
            self.metadata.append(parquet.metadata)
            if schema is None:
                schema = parquet.schema_arrow
            self._require_columns(file, parquet.schema_arrow.names)
            parquet.close()
        assert schema is not None
        self.schema = schema
        self.columns = list(schema.names)
        self.total_rows = sum(m.num_rows for m in self.metadata)

    def _require_columns(self, file: Path, names: list[str]) -> None:
        """Every file of a directory must hold the model's columns, not only the first."""
        missing = [c for c in self.signature.names if c not in names]
        if missing and file != self.files[0]:
            raise DataError(
                f"{file}: missing column(s) the model needs: {', '.join(missing)}",
                column=missing[0],
            )

    @property
    def id_type(self) -> Any:
        return self.schema.field(self.id_column).type if self.id_column else None

    def check(self, id_column: str | None) -> None:
        super().check(id_column)
        import pyarrow.types as pat

        for name in self.needed:
            kind = self.schema.field(name).type
            if pat.is_nested(kind):
                raise DataError(
                    f"{self.path}: column '{name}' holds {kind} values; "
                    "the model needs one number or category per row",
                    column=name,
                )

    def empty_frame(self) -> pd.DataFrame:
        return self.schema.empty_table().to_pandas()

    def pieces(self, target_rows: int | None = None) -> list[Piece]:
        """Row groups gathered into pieces of at least ``target_rows`` rows (a piece never
        spans two files); None: one piece per file."""
        found: list[Piece] = []
        offset = 0
        for file, metadata in zip(self.files, self.metadata, strict=True):
            if target_rows is None:
                found.append(Piece(len(found), file, None, offset, metadata.num_rows))
                offset += metadata.num_rows
                continue
            groups: list[int] = []
            rows = start = 0
            for group in range(metadata.num_row_groups):
                if not groups:
                    start = offset
                groups.append(group)
                size = metadata.row_group(group).num_rows
                rows += size
                offset += size
                if rows >= target_rows:
                    found.append(Piece(len(found), file, tuple(groups), start, rows))
                    groups, rows = [], 0
            if groups or metadata.num_row_groups == 0:
                found.append(Piece(len(found), file, tuple(groups), start, rows))
        return found

    def detached(self) -> InputFile:
        light = super().detached()
        assert isinstance(light, ParquetInput)
        light.metadata = []  # a task reads its own file's footer again
        return light

    def _dictionary_columns(self) -> list[str]:
        """Text category columns, read as Arrow dictionaries: pandas categoricals, coded once."""
        import pyarrow.types as pat

        wanted = []
        for column in self.signature.columns:
            kind = self.schema.field(column.name).type
            text = pat.is_string(kind) or pat.is_large_string(kind)
            if column.role == "categorical" and text:
                wanted.append(column.name)
        return wanted

    def _metadata(self, file: Path) -> Any:
        if self.metadata:
            return self.metadata[self.files.index(file)]
        return parquet_metadata(file)

    def read(self, piece: Piece, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, pa.Array | None]]:
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        features = list(self.signature.names)
        offset = piece.offset
        parquet = pq.ParquetFile(
            piece.file,
            metadata=self._metadata(piece.file),
            read_dictionary=self._dictionary_columns(),
            buffer_size=READ_BUFFER,
        )
        groups = piece.row_groups
        try:
            for group in range(parquet.num_row_groups) if groups is None else groups:
                for batch in parquet.iter_batches(
                    batch_size=chunk_rows, row_groups=[group], columns=self.needed
                ):
                    # one block per column: no copy of the numbers into a 2D block that
                    # conform and the raw columns take apart again (~2-15 ms per 100k rows)
                    frame = batch.select(features).to_pandas(split_blocks=True)
                    frame.index = pd.RangeIndex(offset, offset + batch.num_rows)
                    offset += batch.num_rows
                    yield frame, self._ids(batch)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"cannot read Parquet file {piece.file}: {exc}") from exc
        finally:
            parquet.close()

    def _ids(self, batch: pa.RecordBatch) -> pa.Array | None:
        if self.id_column is None:
            return None
        ids = batch.column(self.id_column)
        return ids if ids.type == self.id_type else ids.cast(self.id_type)


def _parquet_files(path: Path) -> list[Path]:
    """The file itself, or a directory's files in name order (hidden and ``_`` files
    skipped; a FIFO or device refused by name, never skipped: its rows would vanish)."""
    from framework.data_limits import parquet_files

    files = parquet_files(path)
    if not files:
        raise DataError(f"no Parquet files in directory {path}")
    return files


def _listed(names: list[str], limit: int = 20) -> str:
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")
