"""Batch scoring on a Dask cluster: ``specops predict REF -i IN -o OUT --execution dask``.

Public function (the DaskExecutor's ``score`` calls it inside its session)::

    score_partitioned(
        client: distributed.Client,
        package: framework.package.ModelPackage,
        input_path: str | Path,          # Parquet file/directory/glob, CSV file/glob
        output_path: str | Path,         # a directory: part-00000.parquet, ...
        *,
        id_column: str | None = None,
        chunk_rows: int = 100_000,       # rows a worker scores at a time
        strict_columns: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
        piece_rows: int = 1_000_000,     # rows per task (Parquet row groups gathered)
        owner: dict | None = None,       # extra fields for the output's ownership marker
        store: Path | None = None,       # the store's root: the output may not go in it
    ) -> framework.scoring.ScoreResult

The input is cut into pieces (files, or runs of row groups of one Parquet file) on
the client from headers and footers alone; each piece is one task that reads,
scores and writes its own ``part-NNNNN.parquet`` on a worker, through the same
readers and the same scoring loop as the local path
(:func:`framework.scoring.score_part`), so dtypes, refusals, unseen categories and
output columns cannot differ. The client holds neither the input nor the output:
tasks send back a row count and a few unseen examples. The package is loaded (and
hash-checked) once on the client and broadcast to the workers.

Why tasks per piece rather than ``dask.dataframe.read_parquet(...).map_partitions(...)
.to_parquet(...)``: a dataframe would re-type CSV chunks by its own inference (codes
like ``01`` read as numbers) and name no file in an error; the local readers already
fix types per chunk and name the file and line, and a piece's part file is what
``to_parquet`` would write anyway.

The workers write the parts themselves, so the output directory must be on storage
the workers and the client share (as for ``to_parquet`` to a path). The parts go to a
staging directory beside the output that replaces it in one rename; on a failure the
remaining tasks are cancelled, running ones are waited for, and the staging
directory is removed: no output, no temporary directory.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.execution import (
    DEFAULT_CHUNK_ROWS,
    PIECE_ROWS,
    PartResult,
    PartsJob,
    Piece,
    ScoreResult,
    score_part,
    score_to_parts,
)

if TYPE_CHECKING:
    from distributed import Client

    from framework.execution import ModelPackage

SETTLE_SECONDS = 60.0
"""After a failure, how long to wait for the tasks still running to stop writing."""


def score_partitioned(
    client: Client,
    package: ModelPackage,
    input_path: str | Path,
    output_path: str | Path,
    *,
    id_column: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    strict_columns: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    piece_rows: int = PIECE_ROWS,
    owner: dict[str, Any] | None = None,
    store: Path | None = None,
) -> ScoreResult:
    """Score ``input_path`` on the cluster behind ``client`` into the Parquet dataset
    directory ``output_path``; see the module docstring."""
    return score_to_parts(
        package,
        input_path,
        output_path,
        partial(run_on_cluster, client),
        id_column=id_column,
        chunk_rows=chunk_rows,
        progress=progress,
        strict_columns=strict_columns,
        piece_rows=piece_rows,
        owner={"execution": "dask", **(owner or {})},
        store=store,
    )


def run_on_cluster(
    client: Client,
    package: ModelPackage,
    job: PartsJob,
    pieces: list[Piece],
    arrived: Callable[[PartResult], None],
) -> None:
    """One task per piece, in parallel; each result handed to ``arrived`` as it comes.

    The first failure cancels the tasks not yet started and waits until none of this
    run's tasks is still running (a running task cannot be stopped, and would write
    into the staging directory as it is being removed), then is raised as it was
    raised on the worker (a DataError stays a DataError: exit 2 naming the file). On
    success the same cancel-and-wait runs: Dask recomputes a finished part whose result
    was lost with a dying worker, and that rewrite must not outlive the run.
    """
    from distributed import as_completed

    if not pieces:
        return
    run = uuid.uuid4().hex[:8]
    [shared] = client.scatter([package], broadcast=True, hash=False)
    futures = [
        client.submit(
            score_part, shared, job, piece, key=f"specops-score-{run}-{piece.number}", pure=False
        )
        for piece in pieces
    ]
    try:
        for future in as_completed(futures):
            arrived(future.result())
    finally:
        # On success too: a part whose result lived on a worker that died since is
        # computed again while its future is held, after it arrived; that writer must
        # be done before the staging directory is published, or its partial file ends
        # up in the output (found by CI: a killed worker's part rewritten too late).
        client.cancel(futures)
        _settle(client, {f.key for f in futures})
        client.cancel([shared])


def _settle(client: Client, keys: set[Any], timeout: float = SETTLE_SECONDS) -> None:
    """Wait until no worker is executing one of ``keys`` (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:  # a worker dying now answers with its error: the others still count
            running = client.run(partial(_executing, keys=keys), on_error="return")
        except Exception:  # the scheduler away: nothing left to wait for
            return
        if not any(isinstance(found, list) and found for found in running.values()):
            return
        time.sleep(0.1)


def _executing(dask_worker: Any, keys: set[Any]) -> list[Any]:
    """Runs on each worker: which of ``keys`` it is executing now."""
    return [task.key for task in dask_worker.state.executing if task.key in keys]
