"""Scoring one input into one file, piece after piece, chunk by chunk (``specops
predict`` here; the ``batch`` deploy target), and the loop every executor shares."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from framework.errors import DataError, UserError
from framework.scoring.inputs import InputFile, Piece, _listed, file_format, open_input
from framework.scoring.outputs import (
    ChunkWriter,
    OutputColumns,
    ScoreResult,
    UnseenCategories,
    _same_file,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from framework.package import ModelPackage, Predictions

DEFAULT_CHUNK_ROWS = 100_000

Progress = Callable[[int, "int | None"], None]
"""Called after each chunk with the rows done and the total, when the input knows it."""


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
