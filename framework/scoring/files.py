"""Scoring one input into one file, piece after piece, chunk by chunk (``specops
predict`` here; the ``batch`` deploy target), and the loop every executor shares."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from framework.errors import DataError, UserError
from framework.scoring.inputs import (
    GLOB_CHARACTERS,
    InputFile,
    Piece,
    _listed,
    file_format,
    open_input,
)
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
    from framework.runtimes.base import Scorer

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
    store: Path | None = None,
    scorer: Scorer | None = None,
    load_scorer: Callable[[], Scorer | None] | None = None,
) -> ScoreResult:
    """Score every row of ``input_path`` with ``package`` and write ``output_path``.

    The output holds the id column (when given), ``prediction`` in the target's
    own labels and, for classifiers, ``proba_<label>`` per class. ``strict_columns``:
    an input column the model does not take (other than the id) is a DataError,
    before anything is written, rather than ignored. ``store``: the store's root, where
    the output may not go (:func:`refuse_overwriting_input`). ``scorer``: a compiled
    runtime's (``--runtime``), verified against the native path at registration; None
    scores each chunk with ``package.predict``. ``load_scorer``: instead of ``scorer``,
    what loads it, called once the input is checked and its first chunk is being read
    (a runtime's load, and a lazy package's model, take as long as reading a large
    row group: done side by side, on two cores).

    Chunks are read one ahead on a thread (:mod:`framework.scoring.ahead`) while the
    current one is scored: the same chunks, in the same order, with the same errors.
    """
    from framework.scoring.ahead import read_ahead

    started = time.perf_counter()
    check_chunk_rows(chunk_rows)
    output = Path(output_path)
    file_format(output, "output")
    source = prepare_input(package, input_path, id_column, strict_columns)
    refuse_overwriting_input(output, source, store)
    outputs = OutputColumns.of(package, id_column)
    writer = ChunkWriter(output)
    rows = 0
    unseen: dict[str, UnseenCategories] = {}
    try:
        with read_ahead(_all_chunks(source, chunk_rows)) as chunks:
            if load_scorer is not None:
                scorer = load_scorer()
            for piece, frame, ids in chunks:
                rows += score_chunk(
                    package, source, piece, frame, ids, outputs, writer.write, unseen, scorer
                )
                if progress is not None and len(frame):
                    progress(rows, source.total_rows)
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


def _all_chunks(
    source: InputFile, chunk_rows: int
) -> Iterator[tuple[Piece, pd.DataFrame, pa.Array | None]]:
    """Every chunk of the input, piece after piece, with the piece it came from."""
    for piece in source.pieces():
        for frame, ids in source.read(piece, chunk_rows):
            yield piece, frame, ids


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


def refuse_overwriting_input(output: Path, source: InputFile, store: Path | None = None) -> None:
    """Where the output may not go, under any name: over the input or one of its files,
    around them, inside the input (a directory, or where its glob would match: the next
    read of the input would take the predictions as rows), or in the store ``store``
    (or around it: its registry, artifacts and lock files are specops' own)."""
    target = output.absolute()
    for path in (source.path, *source.files):
        if output.resolve() == path.resolve() or _same_file(output, path):
            raise UserError(f"the output would overwrite the input {path}; choose another path")
        if output.resolve() in path.resolve().parents:
            raise UserError(f"the output {output} holds the input {path}; choose another path")
    where = source.path.absolute()
    if source.path.is_dir() and _inside(target, where):
        raise UserError(
            f"the output {target} is inside the input {where}: the next read of the input "
            "would take the predictions as rows; write it outside the input"
        )
    if _is_glob(source.path) and _glob_would_read(where, target):
        raise UserError(
            f"the output {target} is inside the input {where}: the pattern matches the "
            "output, so the next read of the input would take the predictions as rows; "
            "write it where the pattern does not match"
        )
    if store is not None:
        root = store.absolute()
        if _inside(target, root):
            raise UserError(
                f"the output {target} is inside the store {root}: the store holds only "
                "what specops keeps there; write the output outside it"
            )
        if _inside(root, target):
            raise UserError(
                f"the output {target} holds the store {root}: writing it would replace "
                "the registry; choose another path"
            )


def output_inside_input(output: Path, source: Path) -> str | None:
    """Why ``output`` may not be written where it is, judged from paths alone (a deploy
    target's validate, before any model exists): inside the input directory, or matched
    by the input glob. None when it may."""
    target, where = output.absolute(), source.absolute()
    if source.is_dir() and _inside(target, where):
        return (
            f"the output {target} is inside the input {where}: the next read of the "
            "input would take the predictions as rows"
        )
    if _is_glob(source) and _glob_would_read(where, target):
        return (
            f"the output {target} is matched by the input pattern {where}: the next read "
            "of the input would take the predictions as rows"
        )
    return None


def _inside(path: Path, place: Path) -> bool:
    """Whether ``path`` is ``place`` or lies under it, however either is spelt (links,
    ``..``, a bind mount of the same folder): compared resolved and by identity."""
    place_resolved = place.resolve()
    for candidate in (path.resolve(), *path.resolve().parents):
        if candidate == place_resolved or _same_file(candidate, place_resolved):
            return True
    return False


def _is_glob(path: Path) -> bool:
    return not path.exists() and any(c in str(path) for c in GLOB_CHARACTERS)


def _glob_would_read(pattern: Path, output: Path) -> bool:
    """Whether a later read of the glob ``pattern`` would take the output in: the
    output itself, or a part file in it (a directory of parts), matches the pattern
    as ``glob`` matches (``*`` within one name, ``**`` across folders)."""
    from framework.scoring.parts import PART_NAME

    spelt = Path(os.path.normpath(pattern)).parts  # "a/../b/*.csv" matches as "b/*.csv"
    for path in (Path(os.path.normpath(output)), output.resolve()):
        for written in (path, path / PART_NAME.format(0)):
            if _match_parts(spelt, written.parts):
                return True
    return False


def _match_parts(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """``glob``'s rule on split paths: each name by ``fnmatch``, ``**`` any names."""
    from fnmatch import fnmatchcase

    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_parts(rest, parts[skip:]) for skip in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _match_parts(rest, parts[1:])


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
    *,
    scorer: Scorer | None = None,
) -> int:
    """Score one piece chunk by chunk, ``write`` each chunk's output table, add its
    unseen categories to ``unseen``; returns ``done`` plus the piece's rows.

    A Dask worker's loop for the piece it was given; :func:`score_file` reads its
    pieces ahead on a thread; both score each chunk with :func:`score_chunk`.
    """
    for frame, ids in source.read(piece, chunk_rows):
        rows = score_chunk(package, source, piece, frame, ids, outputs, write, unseen, scorer)
        done += rows
        if progress is not None and rows:
            progress(done, source.total_rows)
    return done


def score_chunk(
    package: ModelPackage,
    source: InputFile,
    piece: Piece,
    frame: pd.DataFrame,
    ids: pa.Array | None,
    outputs: OutputColumns,
    write: Callable[[pa.Table], None],
    unseen: dict[str, UnseenCategories],
    scorer: Scorer | None = None,
) -> int:
    """Score one chunk, ``write`` its output table, add its unseen categories to
    ``unseen``; returns its rows (an empty chunk is skipped). Every loop scores a
    chunk here, so a row is refused, counted and written the same way wherever."""
    from framework.signature import unseen_categories

    if len(frame) == 0:
        return 0
    predictions = _predict(package, frame, source, piece, scorer)
    for name, (count, examples) in unseen_categories(frame, package.signature).items():
        unseen.setdefault(name, UnseenCategories()).add(count, examples)
    write(outputs.table(ids, predictions))
    return len(frame)


def _predict(
    package: ModelPackage,
    frame: pd.DataFrame,
    source: InputFile,
    piece: Piece,
    scorer: Scorer | None = None,
) -> Predictions:
    """One chunk's predictions; a data error says which file (and line) it came from."""
    try:
        if scorer is None:
            predictions, _ = package.predict(frame)
        else:
            predictions = _predict_compiled(package, frame, scorer)
    except DataError as exc:
        where = source.path if len(source.files) == 1 else piece.file
        raise DataError(
            f"{where}: {exc.message}",
            column=exc.column,
            hint=source.row_hint if "rows" in exc.context else exc.hint,
            context=exc.context,
        ) from exc
    return predictions


def _predict_compiled(package: ModelPackage, frame: pd.DataFrame, scorer: Scorer) -> Predictions:
    """The chunk checked as ``package.predict`` checks it, scored by a compiled runtime."""
    from framework.package_check import check_label_count
    from framework.scoring.raw import raw_columns
    from framework.signature import conform

    features, _ = conform(frame, package.signature)
    predictions = scorer.predict(raw_columns(features, package.signature), len(features))
    check_label_count(package.labels, predictions.proba, str(package.directory))
    predictions.labels = package.labels
    return predictions
