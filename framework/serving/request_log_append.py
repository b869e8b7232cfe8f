"""Encoding answered requests for the prediction log and appending them, one statement a segment.

The rows written are exactly :func:`framework.prediction_log.append_batch`'s (same
tables, same blobs, same segments and bounds, so ``read_window`` and ``specops monitor
--from-log`` read them as ever); what differs is the cost per request, which a server
answering thousands of single rows a second pays on the cores its requests use:

- a one-row request's inputs are written with one ``dumps`` (what ``pack`` writes for
  columns that small) instead of ``pack`` looking at every column first;
- a request whose values JSON cannot hold (an integer past 64 bits, a lone surrogate)
  is made storable by itself, instead of the whole flush being encoded twice.

The encoded requests are appended by :func:`framework.prediction_log.append_encoded`,
which ``append_batch`` uses too: one set of segment rules (open, rotate, drop the
oldest over the bound), one ``executemany`` per segment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.packed_columns import RAW_MIN_VALUES, pack
from framework.prediction_log import Encoded, LogEntry
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
