"""Encoding answered requests for the prediction log and appending them, one statement a segment.

The rows written are exactly :func:`framework.prediction_log.append_batch`'s (same
tables, same blobs, same segments and bounds, so ``read_window`` and ``specops monitor
--from-log`` read them as ever); what differs is the cost per request, which a server
answering thousands of single rows a second pays on the cores its requests use:

- a one-row request's inputs are written with one ``dumps`` (what ``pack`` writes for
  columns that small) instead of ``pack`` looking at every column first;
- the requests of one segment are inserted with one ``executemany`` (one statement
  prepared, no Python per row between SQLite calls) instead of one ``execute`` each;
- a request whose values JSON cannot hold (an integer past 64 bits, a lone surrogate)
  is made storable by itself, instead of the whole flush being encoded twice.

Segments open, close and rotate as in ``append_batch``: a new segment when the current
one holds ``segment_rows`` rows or ``segment_bytes`` bytes, then the oldest whole
segments dropped while the model's log is over ``max_rows`` or ``max_bytes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from framework.packed_columns import RAW_MIN_VALUES, pack
from framework.prediction_log import LogEntry, LogLimits
from framework.serving.jsonio import dumps
from framework.serving.request_log_entries import (
    answers,
    entry,
    one_row_inputs,
    plain_row,
    storable,
)

if TYPE_CHECKING:
    from framework.package import Predictions
    from framework.serving.batch import Batch
    from framework.serving.served import ServedModel
    from framework.store import Store

INSERT = (
    "INSERT INTO prediction_log (segment, model, version, at, rows, inputs, outputs)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class Encoded(NamedTuple):
    """One request as the log stores it."""

    model: str
    version: int | None
    at: float
    rows: int
    inputs: bytes
    outputs: bytes


def encode_request(
    served: ServedModel, batch: Batch, predictions: Predictions, at: float
) -> Encoded:
    """One answered request as the log stores it."""
    inputs = None
    if batch.rows == 1:
        quick = _plain_request(served, batch, predictions, at)
        if quick is not None:
            return quick
        inputs = one_row_inputs(served, batch)
    return encode(entry(served, batch, predictions, at, inputs), plain_inputs=inputs is not None)


def _plain_request(
    served: ServedModel, batch: Batch, predictions: Predictions, at: float
) -> Encoded | None:
    """A one-row request of plain floats written straight from its own columns (the same
    bytes as :func:`encode` writes for it), or None."""
    columns = plain_row(served, batch)
    if columns is None:
        return None
    outputs = answers(served, batch, predictions)
    proba = predictions.proba
    try:
        inputs = dumps(columns)
        written = dumps(outputs) if proba is None or proba.size < RAW_MIN_VALUES else pack(outputs)
    except TypeError:  # a category JSON cannot hold: the general path makes it storable
        return None
    return Encoded(served.name, served.version, at, 1, inputs, written)


def encode(logged: LogEntry, *, plain_inputs: bool = False) -> Encoded:
    """The entry's blobs; ``plain_inputs``: its inputs are lists of one value each (a
    one-row request), which ``pack`` would write as plain JSON anyway."""
    try:
        inputs = dumps(logged.inputs) if plain_inputs else pack(logged.inputs)
        outputs = pack(logged.outputs)
    except TypeError:  # a value as sent that JSON cannot hold: store it as text
        logged = storable(logged)
        inputs, outputs = pack(logged.inputs), pack(logged.outputs)
    return Encoded(logged.model, logged.version, logged.at, logged.rows, inputs, outputs)


def append_encoded(store: Store, records: Iterable[Encoded], limits: LogLimits) -> int:
    """Append the requests in one transaction, then drop old segments over the bound.

    Returns the number of rows (not requests) written.
    """
    by_model: dict[str, list[Encoded]] = {}
    for record in records:
        if record.rows > 0:
            by_model.setdefault(record.model, []).append(record)
    if not by_model:
        return 0
    written = 0
    with store.transaction() as db:
        for model, items in by_model.items():
            written += _append_model(db, model, items, limits)
    return written


def _append_model(db: Any, model: str, items: list[Encoded], limits: LogLimits) -> int:
    last = db.execute(
        "SELECT id, rows, bytes FROM prediction_log_segments WHERE model = ?"
        " ORDER BY id DESC LIMIT 1",
        (model,),
    ).fetchone()
    segment, seg_rows, seg_bytes = (int(last[0]), int(last[1]), int(last[2])) if last else (0, 0, 0)
    pending: list[tuple[Any, ...]] = []
    written = 0
    for item in items:
        if not segment or seg_rows >= limits.segment_rows or seg_bytes >= limits.segment_bytes:
            if segment:
                _insert(db, pending)
                _close_segment(db, segment, seg_rows, seg_bytes)
            segment = int(
                db.execute(
                    "INSERT INTO prediction_log_segments (model, opened_at) VALUES (?, ?)"
                    " RETURNING id",
                    (model, item.at),
                ).fetchone()[0]
            )
            seg_rows = seg_bytes = 0
        pending.append(
            (segment, model, item.version, item.at, item.rows, item.inputs, item.outputs)
        )
        seg_rows += item.rows
        seg_bytes += len(item.inputs) + len(item.outputs)
        written += item.rows
    _insert(db, pending)
    _close_segment(db, segment, seg_rows, seg_bytes)
    _drop_over_bound(db, model, limits)
    return written


def _insert(db: Any, rows: list[tuple[Any, ...]]) -> None:
    """The segment's requests so far, in order (ids follow the order they were answered)."""
    if rows:
        db.executemany(INSERT, rows)
        rows.clear()


def _close_segment(db: Any, segment: int, rows: int, size: int) -> None:
    db.execute(
        "UPDATE prediction_log_segments SET rows = ?, bytes = ? WHERE id = ?", (rows, size, segment)
    )


def _drop_over_bound(db: Any, model: str, limits: LogLimits) -> None:
    """Delete the model's oldest segments until it fits, always keeping the newest."""
    segments = db.execute(
        "SELECT id, rows, bytes FROM prediction_log_segments WHERE model = ? ORDER BY id",
        (model,),
    ).fetchall()
    total_rows = sum(int(s[1]) for s in segments)
    total_bytes = sum(int(s[2]) for s in segments)
    for segment_id, rows, size in segments[:-1]:
        if total_rows <= limits.max_rows and total_bytes <= limits.max_bytes:
            break
        db.execute("DELETE FROM prediction_log WHERE segment = ?", (int(segment_id),))
        db.execute("DELETE FROM prediction_log_segments WHERE id = ?", (int(segment_id),))
        total_rows -= int(rows)
        total_bytes -= int(size)
