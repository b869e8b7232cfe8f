"""The log entry of one answered request, built on the log's writer thread.

Number and boolean columns are stored in their signature's type, float64 (booleans
as 1/0), however the request spelt them (``"12"`` in a text tensor, ``true``, a CSV
integer), so :func:`~framework.prediction_log.read_window` never mixes ``"12"`` and
``12`` in one column. Categories are kept as sent, so monitoring sees the unseen ones.

Most requests a server answers are single rows of plain JSON values, thousands a
second, and every one is an entry; the writer shares the process's two cores (and
its GIL) with the requests. So a one-row request takes a quick path: columns that are
already what the log stores (floats or null in number columns, in the signature's
order: what a JSON client usually sends) are written as they came (:func:`plain_row`);
otherwise :func:`one_row_inputs` checks each value's type and keeps numbers as Python
floats. Either way the log writes the very same JSON the general path writes from
float64 arrays (orjson writes NaN and infinities as ``null`` either way), for about
2.5 µs a request where the general path cost about 30 µs (a NumPy conversion and an
infinity check per column). Any other value takes the general path.
"""

from __future__ import annotations

import weakref
from itertools import chain
from typing import TYPE_CHECKING, Any

from framework.prediction_log import IGNORED_KEY, LogEntry

if TYPE_CHECKING:
    from framework.package import Predictions
    from framework.serving.batch import Batch
    from framework.serving.served import ServedModel

NUMBER_ROLES = ("numeric", "boolean")
LISTS = (list, tuple)
LIST_TYPES = frozenset(LISTS)
FLOAT_OR_NONE = frozenset({float, type(None)})
_plans: weakref.WeakKeyDictionary[Any, Plan] = weakref.WeakKeyDictionary()
"""Per served model (a version swapped out is forgotten with it)."""
_last: tuple[Any, Plan] | None = None
"""The last model planned (a weak reference) and its plan: one identity check instead of
a weak dictionary lookup for each of thousands of requests a second."""


def entry(
    served: ServedModel,
    batch: Batch,
    predictions: Predictions,
    at: float,
    inputs: dict[str, Any] | None = None,
) -> LogEntry:
    """The log entry of one request: its feature columns, its answers, what it ignored.

    ``inputs``: the columns as :func:`one_row_inputs` read them, when it could."""
    if inputs is None:
        inputs = all_inputs(served, batch)
    if batch.label is not None and served.target is not None:
        inputs[served.target] = list(batch.label)  # the true labels the client sent
    outputs = answers(served, batch, predictions)
    return LogEntry(served.name, served.version, at, batch.rows, inputs, outputs)


def answers(served: ServedModel, batch: Batch, predictions: Predictions) -> dict[str, Any]:
    """What the request was answered (and which of its columns were ignored)."""
    outputs: dict[str, Any] = {"prediction": _answers(predictions)}
    if predictions.proba is not None and served.labels is not None:
        outputs["labels"] = served.labels
        outputs["proba"] = predictions.proba
    if batch.ignored.count:
        outputs[IGNORED_KEY] = {"names": batch.ignored.names, "count": batch.ignored.count}
    return outputs


class Plan:
    """A model's columns as the log reads them, worked out once per version."""

    def __init__(self, served: ServedModel) -> None:
        columns = served.signature.columns
        self.columns = tuple((c.name, c.role in NUMBER_ROLES) for c in columns)
        """(name, stored as a number), in signature order."""
        self.names = tuple(c.name for c in columns)
        self.numbers = tuple(c.name for c in columns if c.role in NUMBER_ROLES)


def plan(served: ServedModel) -> Plan:
    """The served model's :class:`Plan` (kept while the version is)."""
    global _last
    last = _last  # one tuple, replaced whole: never one model's reference with another's plan
    if last is not None and last[0]() is served:  # the usual case: the last request's version
        return last[1]
    found = _plans.get(served)
    if found is None:
        found = _plans[served] = Plan(served)
    _last = (weakref.ref(served), found)
    return found


def plain_row(served: ServedModel, batch: Batch) -> dict[str, Any] | None:
    """The request's own columns, when they are already exactly what the log stores for
    a one-row request: the model's columns in signature order, each a list or tuple (of
    the batch's one value), every number column's value a float or null. (What a JSON
    client sending floats gives; then :func:`one_row_inputs` would only copy them.)
    Else None."""
    columns = batch.columns
    found = plan(served)
    if (
        batch.label is not None
        or batch.frame is not None
        or type(columns) is not dict
        or tuple(columns) != found.names
        or not set(map(type, columns.values())) <= LIST_TYPES
    ):
        return None
    numbers = map(columns.__getitem__, found.numbers)
    if not set(map(type, chain.from_iterable(numbers))) <= FLOAT_OR_NONE:
        return None
    return columns


def one_row_inputs(served: ServedModel, batch: Batch) -> dict[str, Any] | None:
    """A one-row request's columns as the log stores them, or None when a value is not
    a plain JSON number, boolean or null in a number column (the general path reads it).

    A number is kept as a Python float (an integer or boolean converted, as float64
    would), so the JSON written is the general path's; a category as sent.
    """
    if batch.frame is not None:
        return None
    columns = batch.columns
    inputs: dict[str, Any] = {}
    for name, number in plan(served).columns:
        values = columns[name]
        if type(values) not in LISTS or len(values) != 1:
            return None
        if number:
            value = values[0]
            kind = type(value)
            if kind is int or kind is bool:
                try:
                    value = float(value)
                except OverflowError:  # past float64: the general path keeps it as sent
                    return None
            elif kind is not float and value is not None:
                return None
            inputs[name] = [value]
        else:
            inputs[name] = values
    return inputs


def all_inputs(served: ServedModel, batch: Batch) -> dict[str, Any]:
    """Any request's columns as the log stores them (the general path)."""
    inputs: dict[str, Any] = {}
    for column in served.signature.columns:
        name = column.name
        if name in batch.arrays:  # what the fast path already converted
            inputs[name] = floats(batch.arrays[name])
            continue
        values = batch.frame[name] if batch.frame is not None else batch.columns[name]
        if column.role in NUMBER_ROLES:
            inputs[name] = typed(values, column.role, name)
        else:
            inputs[name] = values.tolist() if hasattr(values, "tolist") else values
    return inputs


def _answers(predictions: Predictions) -> Any:
    """The predicted labels (or values), as :attr:`Predictions.values` gives them; for a
    single row a list, without the object array that costs more than the row."""
    labels = predictions.labels
    if labels is not None and len(predictions.codes) == 1:
        return [labels[int(predictions.codes[0])]]
    return predictions.values


def typed(values: Any, role: str, name: str) -> Any:
    """A number or boolean column as float64, read by the signature's own rules (so
    ``"true"`` is 1 and ``"yes"`` in a boolean column is 1); as sent if it cannot be."""
    try:
        return floats(values)
    except (TypeError, ValueError, OverflowError):
        pass
    import pandas as pd

    from framework.errors import DataError
    from framework.signature import as_boolean, as_numeric

    frame = pd.DataFrame({name: list(values) if not hasattr(values, "dtype") else values})
    try:
        if role == "boolean":
            return floats(as_boolean(frame, name).to_numpy())
        return floats(as_numeric(frame, name, "must be numeric", booleans=True).to_numpy())
    except (DataError, TypeError, ValueError, OverflowError):
        return values.tolist() if hasattr(values, "tolist") else values


def floats(values: Any) -> Any:
    """Numbers as float64 (booleans as 0/1), infinities missing: what JSON would have kept,
    so a column reads back the same whichever way a request's rows were stored."""
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    infinite = np.isinf(array)
    return np.where(infinite, np.nan, array) if infinite.any() else array


INT64 = 2**63


def storable(entry: LogEntry) -> LogEntry:
    """The entry with every value written as JSON the log's reader can read back.

    A request may carry what Python parses but orjson does not write (an integer
    past 64 bits, a string with a lone surrogate from a ``\\ud800`` escape) in a
    category column or an ignored column's name. Only those values change: the
    integer is kept as its digits, the surrogate becomes "?". Without this, one
    such request made the whole flush fail, dropping every request queued with it.
    """
    from dataclasses import replace

    return replace(
        entry,
        inputs={name: _plain(values) for name, values in entry.inputs.items()},
        outputs={name: _plain(values) for name, values in entry.outputs.items()},
    )


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if getattr(value, "dtype", None) is not None and value.dtype == object:
        return [_plain(item) for item in value.tolist()]
    return value
