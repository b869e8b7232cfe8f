"""Scoring into a partitioned output: the pieces scored anywhere (a Dask worker, or
here), one ``part-NNNNN.parquet`` each, into a staging directory renamed into place."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import UserError
from framework.scoring.files import (
    DEFAULT_CHUNK_ROWS,
    Progress,
    check_chunk_rows,
    prepare_input,
    refuse_overwriting_input,
    score_piece,
)
from framework.scoring.inputs import CSV_SUFFIXES, InputFile, Piece
from framework.scoring.outputs import ChunkWriter, OutputColumns, ScoreResult, UnseenCategories

if TYPE_CHECKING:
    from framework.package import ModelPackage


PIECE_ROWS = 1_000_000
"""Rows a piece gathers (whole Parquet row groups, never across files) when scored into
parts: enough to keep a worker busy, few enough to spread a single large file."""
PART_NAME = "part-{:05d}.parquet"
SCRATCH_NAME = ".specops-scratch"


@dataclass
class PartsJob:
    """What every piece's task needs besides the package: small and picklable."""

    source: InputFile
    """The input without its package (:meth:`InputFile.detached`)."""
    outputs: OutputColumns
    directory: Path
    """The staging directory the parts go to (renamed into place once all are written)."""
    chunk_rows: int

    @property
    def scratch(self) -> Path:
        """Where the parts are written before each is renamed into ``directory``: inside
        it, removed whole before it is published, so the partial file of a writer that
        died (or is dying, or was started again too late by the executor) is never part
        of the output, however late it goes."""
        return self.directory / SCRATCH_NAME


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
    writer = ChunkWriter(job.directory / PART_NAME.format(piece.number), job.scratch)
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
    store: Path | None = None,
) -> ScoreResult:
    """Score ``input_path`` into the directory ``output_path`` as a Parquet dataset, one
    ``part-NNNNN.parquet`` per piece, the pieces scored by ``run_parts``.

    The same checks as :func:`score_file` come first, on the client, reading only
    headers and footers. The parts are written into a staging directory beside the
    output that replaces it in one rename once every part is written
    (:func:`framework.export.replace_directory`): a reader sees the old output or the
    whole new one. Only an absent path, an empty directory or an output specops wrote
    (its :data:`framework.ownership.MARKER` lists every file) is replaced; anything else
    is a UserError naming it, before a row is scored, as is an output inside the input
    or the store ``store`` (:func:`refuse_overwriting_input`). On a failure the staging
    directory is removed and the output is left as it was. Both paths are made absolute
    first: a worker's working directory need not be this process's.
    """
    from framework.export import replace_directory
    from framework.ownership import PREDICT, replace_refusal

    started = time.perf_counter()
    check_chunk_rows(chunk_rows)
    if piece_rows < 1:
        raise UserError(f"piece rows must be at least 1, got {piece_rows}")
    output = Path(output_path).absolute()
    if output.suffix.lower() in CSV_SUFFIXES:
        raise UserError(
            f"output {output}: a partitioned output is a directory of Parquet parts; "
            "name a directory (out/ or out.parquet), or score to a CSV file locally"
        )
    source = prepare_input(package, Path(input_path).absolute(), id_column, strict_columns)
    refuse_overwriting_input(output, source, store)
    refusal = replace_refusal(output, actor=PREDICT)
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
        job.scratch.mkdir()
        try:
            run_parts(package, job, pieces, arrived)
        finally:
            _remove_scratch(job.scratch)
        missing = [p.number for p in pieces if p.number not in results]
        if missing:
            raise RuntimeError(f"the executor scored no part {missing[0]}: a bug")

    version = getattr(package, "version", None)
    marker = {"target": "predict", "model": getattr(version, "ref", None), **(owner or {})}
    replace_directory(output, write, owner=marker, actor=PREDICT)
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


def _remove_scratch(scratch: Path) -> None:
    """Remove the scratch folder and whatever partial files are left in it (a killed
    worker's, even one whose process has not finished dying and still holds it open).
    A writer that creates a file in it meanwhile makes ``rmdir`` fail: list again."""
    import shutil

    for _ in range(100):
        try:
            shutil.rmtree(scratch)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)
    shutil.rmtree(scratch)  # still refilled after a second: let the error be seen


def run_parts_here(
    package: ModelPackage,
    job: PartsJob,
    pieces: list[Piece],
    arrived: Callable[[PartResult], None],
) -> None:
    """:data:`RunParts` in this process, one piece after the other (local execution)."""
    for piece in pieces:
        arrived(score_part(package, job, piece))
