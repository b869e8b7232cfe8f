"""Batch scoring: a file of any size through a stored model, in chunks, to a file.

Input is CSV or Parquet (by extension; a directory is read as its Parquet files
in name order; a glob such as ``data/*.csv`` or ``parts/*.parquet`` as its matching
files in name order), output CSV or Parquet (by extension). Each chunk goes through
:meth:`ModelPackage.predict`, so a batch is checked and shaped exactly like any
other prediction: missing columns and impossible values are refused by name,
unseen categories become missing (and are counted per column), extra columns
are ignored and reported once (refused with ``strict_columns``), as a server does.

Memory does not grow with the file. Parquet is read one row group at a time, in
batches (``ParquetFile.iter_batches`` over all row groups at once keeps memory
of every row group it has passed: pyarrow 26 grows by about the size of each row
group; one row group per call stays flat), so the peak follows the file's row
group size and ``chunk_rows``, not its length. CSV is read with ``read_csv``
chunks whose dtypes do not depend on what a chunk happens to hold: category
columns and the id are read as text (``01`` stays ``01``), numeric columns are
left to the parser and conformed per chunk (an all-empty chunk is all-missing
floats, not an error). Output is written as it goes, with the
schema of the first chunk, to a temporary file in the output's directory that
is renamed into place only when every row is written, so a failure never
leaves a half-written output behind.

An input is a list of :class:`Piece` s (a file, or some row groups of a Parquet
file) that are read and scored independently by :func:`score_piece`: here one
after the other into one output, on a Dask cluster in parallel, one output part
per piece (``plugins/dask_execution/scoring.py``). Both go through the same readers
and the same :func:`score_piece`, so a row is scored, refused or counted as unseen
the same way wherever it runs.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import partial_output
from framework.columns import PREDICTION
from framework.data_limits import check_csv_header, parquet_metadata, refuse_huge_integers
from framework.errors import DataError, UserError
from framework.store.failures import write_error
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from framework.package import ModelPackage, Predictions

DEFAULT_CHUNK_ROWS = 100_000
MAX_UNSEEN_EXAMPLES = 3
READ_BUFFER = 1 << 20
"""Parquet column chunks are read through a 1 MiB buffer, page by page: a lower peak
than reading each column chunk of a row group whole, at the same speed."""
PROBA_PREFIX = "proba_"
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")

Progress = Callable[[int, "int | None"], None]
"""Called after each chunk with the rows done and the total, when the input knows it."""


@dataclass(frozen=True)
class ScoreResult:
    """What a batch scoring did: for the CLI's summary line and the run's deploy detail."""

    input: Path
    output: Path
    rows: int
    seconds: float
    ignored_columns: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    unseen_categories: dict[str, UnseenCategories] = field(default_factory=dict)
    """Per categorical column: values not among the training categories (scored as missing)."""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": str(self.input),
            "output": str(self.output),
            "rows": self.rows,
            "seconds": round(self.seconds, 4),
            "rows_per_second": round(self.rows_per_second, 1),
            "ignored_columns": self.ignored_columns,
            "columns": self.columns,
            "unseen_categories": {
                name: {"count": unseen.count, "examples": unseen.examples}
                for name, unseen in self.unseen_categories.items()
            },
        }


@dataclass
class UnseenCategories:
    """How many values of one column were not training categories, and the first few."""

    count: int = 0
    examples: list[Any] = field(default_factory=list)

    def add(self, count: int, examples: list[Any]) -> None:
        self.count += count
        for example in examples:
            if len(self.examples) < MAX_UNSEEN_EXAMPLES and example not in self.examples:
                self.examples.append(example)


def score_file(
    package: ModelPackage,
    input_path: str | Path,
    output_path: str | Path,
    *,
    id_column: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    strict_columns: bool = False,
) -> ScoreResult:
    """Score every row of ``input_path`` with ``package`` and write ``output_path``.

    The output holds the id column (when given), ``prediction`` in the target's
    own labels and, for classifiers, ``proba_<label>`` per class. ``strict_columns``:
    an input column the model does not take (other than the id) is a DataError,
    before anything is written, rather than ignored.
    """
    started = time.perf_counter()
    check_chunk_rows(chunk_rows)
    output = Path(output_path)
    file_format(output, "output")
    source = prepare_input(package, input_path, id_column, strict_columns)
    refuse_overwriting_input(output, source)
    outputs = OutputColumns.of(package, id_column)
    writer = ChunkWriter(output)
    rows = 0
    unseen: dict[str, UnseenCategories] = {}
    try:
        for piece in source.pieces():
            rows = score_piece(
                package, source, piece, outputs, writer.write, chunk_rows, unseen, progress, rows
            )
        if rows == 0:
            writer.write(outputs.empty(source.id_type))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return ScoreResult(
        source.path,
        output,
        rows,
        time.perf_counter() - started,
        source.extra,
        outputs.names,
        unseen,
    )


def check_chunk_rows(chunk_rows: int) -> None:
    if chunk_rows < 1:
        raise UserError(f"chunk rows must be at least 1, got {chunk_rows}")


def prepare_input(
    package: ModelPackage, input_path: str | Path, id_column: str | None, strict_columns: bool
) -> InputFile:
    """The input opened and its columns checked (every file's), before any row is read."""
    source = open_input(Path(input_path), package, id_column)
    if strict_columns and source.extra:
        raise DataError(
            f"{source.path}: column(s) the model does not take: {_listed(source.extra)}; "
            f"the model takes {_listed(package.signature.names)}",
            hint="drop them, pass the one to keep as --id-column, or leave out "
            "--strict-columns to ignore them",
        )
    return source


def refuse_overwriting_input(output: Path, source: InputFile) -> None:
    """The output may be neither the input nor one of its files, under any name."""
    for path in (source.path, *source.files):
        if output.resolve() == path.resolve() or _same_file(output, path):
            raise UserError(f"the output would overwrite the input {path}; choose another path")
        if output.resolve() in path.resolve().parents:
            raise UserError(f"the output {output} holds the input {path}; choose another path")


def score_piece(
    package: ModelPackage,
    source: InputFile,
    piece: Piece,
    outputs: OutputColumns,
    write: Callable[[pa.Table], None],
    chunk_rows: int,
    unseen: dict[str, UnseenCategories],
    progress: Progress | None = None,
    done: int = 0,
) -> int:
    """Score one piece chunk by chunk, ``write`` each chunk's output table, add its
    unseen categories to ``unseen``; returns ``done`` plus the piece's rows.

    The one scoring loop: :func:`score_file` runs it for each piece in turn, a Dask
    worker for the piece it was given.
    """
    from framework.signature import unseen_categories

    for frame, ids in source.read(piece, chunk_rows):
        if len(frame) == 0:
            continue
        predictions = _predict(package, frame, source, piece)
        for name, (count, examples) in unseen_categories(frame, package.signature).items():
            unseen.setdefault(name, UnseenCategories()).add(count, examples)
        write(outputs.table(ids, predictions))
        done += len(frame)
        if progress is not None:
            progress(done, source.total_rows)
    return done


def _predict(
    package: ModelPackage, frame: pd.DataFrame, source: InputFile, piece: Piece
) -> Predictions:
    """One chunk's predictions; a data error says which file (and line) it came from."""
    try:
        predictions, _ = package.predict(frame)
    except DataError as exc:
        where = source.path if len(source.files) == 1 else piece.file
        raise DataError(
            f"{where}: {exc.message}",
            column=exc.column,
            hint=source.row_hint if "rows" in exc.context else exc.hint,
            context=exc.context,
        ) from exc
    return predictions


# ---------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------

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
        matched = sorted(Path(p) for p in glob.iglob(str(path), recursive=True))
        files = [p for p in matched if p.is_file()]
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
                    frame = batch.select(features).to_pandas()
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
    """The file itself, or a directory's files in name order (hidden and ``_`` files skipped)."""
    if not path.is_dir():
        return [path]
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    )
    if not files:
        raise DataError(f"no Parquet files in directory {path}")
    return files


def _listed(names: list[str], limit: int = 20) -> str:
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")


# ---------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputColumns:
    """The output's columns: the id, ``prediction`` and one ``proba_<label>`` per class."""

    id_column: str | None
    labels: Any  # pyarrow array of the target's labels, or None for regression
    proba_names: list[str]

    @classmethod
    def of(cls, package: ModelPackage, id_column: str | None) -> OutputColumns:
        import pyarrow as pa

        labels = None if package.labels is None else pa.array(package.labels)
        proba = [f"{PROBA_PREFIX}{label}" for label in (package.labels or [])]
        outputs = cls(id_column, labels, proba)
        if id_column is not None and id_column in (PREDICTION, *proba):
            raise UserError(
                f"the id column '{id_column}' has the name of an output column; "
                f"outputs: {', '.join(outputs.names[1:])}"
            )
        return outputs

    @property
    def names(self) -> list[str]:
        return [*([self.id_column] if self.id_column else []), PREDICTION, *self.proba_names]

    def table(self, ids: pa.Array | None, predictions: Predictions) -> pa.Table:
        """One chunk's output: labels looked up by code, no per-row Python."""
        import pyarrow as pa

        columns: list[Any] = [] if self.id_column is None else [ids]
        if self.labels is None:
            columns.append(pa.array(predictions.codes, type=pa.float64()))
        else:
            columns.append(self.labels.take(pa.array(predictions.codes)))
        if predictions.proba is not None:
            columns += [pa.array(predictions.proba[:, k]) for k in range(len(self.proba_names))]
        return pa.Table.from_arrays(columns, names=self.names)

    def empty(self, id_type: Any) -> pa.Table:
        """The output of an input with no rows: the columns, typed, and nothing else."""
        import numpy as np
        import pyarrow as pa

        from framework.package import Predictions

        ids = None if self.id_column is None else pa.array([], type=id_type or pa.string())
        codes = np.zeros(0, dtype="int64" if self.labels is not None else "float64")
        proba = np.zeros((0, len(self.proba_names))) if self.proba_names else None
        return self.table(ids, Predictions(codes, None, proba))


class ChunkWriter:
    """Appends tables to a temporary file beside the output; ``commit`` renames it into place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.format = file_format(path, "output")
        self.partial = partial_output.partial_name(path)
        self._claim: int | None = None  # holds the partial file's lock while it is written
        self.schema: Any = None
        self._writer: Any = None

    def write(self, table: pa.Table) -> None:
        try:
            if self._writer is None:
                self._open(table.schema)
            elif table.schema != self.schema:
                table = table.cast(self.schema)
            self._writer.write_table(table)
        except OSError as exc:  # pyarrow's IO errors are OSErrors too
            raise write_error(self.path, exc) from exc

    def _open(self, schema: pa.Schema) -> None:
        """The schema of the first chunk is the file's: later chunks are cast to it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._claim = partial_output.claim(self.partial, self.path)  # sweeps dead ones
        self.schema = schema
        if self.format == "parquet":
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self.partial, schema)
        else:
            import pyarrow.csv as pcsv

            self._writer = pcsv.CSVWriter(self.partial, schema)

    def commit(self) -> None:
        """Close, flush to disk, then rename: readers see the old file or the whole new one."""
        try:
            self._writer.close()
            self._writer = None
            descriptor = os.open(self.partial, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(self.partial, self.path)
        except OSError as exc:
            raise write_error(self.path, exc) from exc
        finally:
            partial_output.release(self._claim)

    def abort(self) -> None:
        """Drop the partial file; the output path is left as it was."""
        if self._writer is not None:
            with contextlib.suppress(Exception):  # it may fail half-written; it goes anyway
                self._writer.close()
            self._writer = None
        self.partial.unlink(missing_ok=True)
        partial_output.release(self._claim)


def _same_file(output: Path, source: Path) -> bool:
    """Whether ``output`` already is the input under another name (a bind mount, another
    case on a case-insensitive file system): the rename at the end would replace it."""
    try:
        return os.path.samefile(output, source)
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------
# partitioned output: pieces scored anywhere, one Parquet part each
# ---------------------------------------------------------------------------

PIECE_ROWS = 1_000_000
"""Rows a piece gathers (whole Parquet row groups, never across files) when scored into
parts: enough to keep a worker busy, few enough to spread a single large file."""
PART_NAME = "part-{:05d}.parquet"


@dataclass
class PartsJob:
    """What every piece's task needs besides the package: small and picklable."""

    source: InputFile
    """The input without its package (:meth:`InputFile.detached`)."""
    outputs: OutputColumns
    directory: Path
    """The staging directory the parts go to (renamed into place once all are written)."""
    chunk_rows: int


@dataclass(frozen=True)
class PartResult:
    """What one piece's task reports back: its rows and unseen categories, never rows."""

    number: int
    rows: int
    unseen: dict[str, tuple[int, list[Any]]]


RunParts = Callable[["ModelPackage", PartsJob, list[Piece], Callable[[PartResult], None]], None]
"""How an executor scores the pieces: call :func:`score_part` for each (anywhere, in any
order, in parallel), pass each result to the callback as it arrives, and on a failure
raise it only once no part is being written any more."""


def score_part(package: ModelPackage, job: PartsJob, piece: Piece) -> PartResult:
    """Score one piece into ``part-NNNNN.parquet`` of the job's directory (an empty,
    typed part when the piece has no rows, so every part carries the schema). Runs
    where the executor puts it, a Dask worker for instance; the part is written beside
    itself and renamed, so a retried task replaces a dead one's part whole."""
    if not job.directory.is_dir():  # not shared with this machine, or the run failed
        import socket

        raise UserError(
            f"the output's staging directory {job.directory} is not there on "
            f"{socket.gethostname()}: the output must be on storage the client and every "
            "worker share (the same path on each)"
        )
    source = copy.copy(job.source).attach(package)
    writer = ChunkWriter(job.directory / PART_NAME.format(piece.number))
    unseen: dict[str, UnseenCategories] = {}
    try:
        rows = score_piece(
            package, source, piece, job.outputs, writer.write, job.chunk_rows, unseen
        )
        if rows == 0:
            writer.write(job.outputs.empty(source.id_type))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    found = {name: (u.count, u.examples) for name, u in unseen.items()}
    return PartResult(piece.number, rows, found)


def score_to_parts(
    package: ModelPackage,
    input_path: str | Path,
    output_path: str | Path,
    run_parts: RunParts,
    *,
    id_column: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    strict_columns: bool = False,
    piece_rows: int = PIECE_ROWS,
    owner: dict[str, Any] | None = None,
) -> ScoreResult:
    """Score ``input_path`` into the directory ``output_path`` as a Parquet dataset, one
    ``part-NNNNN.parquet`` per piece, the pieces scored by ``run_parts``.

    The same checks as :func:`score_file` come first, on the client, reading only
    headers and footers. The parts are written into a staging directory beside the
    output that replaces it in one rename once every part is written
    (:func:`framework.export.replace_directory`): a reader sees the old output or the
    whole new one. Only an absent path, an empty directory or an output specops wrote
    (its :data:`framework.ownership.MARKER` lists every file) is replaced; anything else
    is a UserError naming it, before a row is scored. On a failure the staging
    directory is removed and the output is left as it was.
    """
    from framework.export import replace_directory
    from framework.ownership import replace_refusal

    started = time.perf_counter()
    check_chunk_rows(chunk_rows)
    if piece_rows < 1:
        raise UserError(f"piece rows must be at least 1, got {piece_rows}")
    output = Path(output_path)
    if output.suffix.lower() in CSV_SUFFIXES:
        raise UserError(
            f"output {output}: a partitioned output is a directory of Parquet parts; "
            "name a directory (out/ or out.parquet), or score to a CSV file locally"
        )
    source = prepare_input(package, input_path, id_column, strict_columns)
    refuse_overwriting_input(output, source)
    refusal = replace_refusal(output)
    if refusal:
        raise UserError(refusal)
    outputs = OutputColumns.of(package, id_column)
    pieces = source.pieces(piece_rows)
    results: dict[int, PartResult] = {}

    def arrived(result: PartResult) -> None:
        results[result.number] = result
        if progress is not None:
            progress(sum(r.rows for r in results.values()), source.total_rows)

    def write(staging: Path) -> None:
        job = PartsJob(source.detached(), outputs, staging, chunk_rows)
        run_parts(package, job, pieces, arrived)
        missing = [p.number for p in pieces if p.number not in results]
        if missing:
            raise RuntimeError(f"the executor scored no part {missing[0]}: a bug")
        for piece in pieces:  # a dead worker's partial file, its part since rewritten
            partial_output.sweep(staging / PART_NAME.format(piece.number))

    version = getattr(package, "version", None)
    marker = {"target": "predict", "model": getattr(version, "ref", None), **(owner or {})}
    replace_directory(output, write, owner=marker)
    unseen: dict[str, UnseenCategories] = {}
    for number in sorted(results):  # input order: the same examples as score_file gives
        for name, (count, examples) in results[number].unseen.items():
            unseen.setdefault(name, UnseenCategories()).add(count, examples)
    return ScoreResult(
        source.path,
        output,
        sum(r.rows for r in results.values()),
        time.perf_counter() - started,
        source.extra,
        outputs.names,
        unseen,
    )


def run_parts_here(
    package: ModelPackage,
    job: PartsJob,
    pieces: list[Piece],
    arrived: Callable[[PartResult], None],
) -> None:
    """:data:`RunParts` in this process, one piece after the other (local execution)."""
    for piece in pieces:
        arrived(score_part(package, job, piece))
