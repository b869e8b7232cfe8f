"""The prediction log: what every served request asked, what it was answered, by which version.

A server appends to it in batches from a background thread (see
``framework/serving/request_log.py``); monitoring reads it back with
:func:`read_window`. It lives in the store's SQLite file (tables in
``framework/store/30_prediction_log.sql``): one row per request, holding that
request's rows column-wise (``framework.packed_columns``: numeric arrays as raw
float64, everything else as JSON), so a 10,000-row request is one insert.

The log is bounded per model. Requests are grouped into *segments* of about
``max_rows / segments`` rows (or ``max_bytes / segments`` bytes); when a model's
log grows past ``max_rows`` or ``max_bytes``, its oldest whole segments are
deleted, so the log keeps roughly the most recent ``max_rows`` rows and the cost
of rotating is one indexed delete, never a scan. The newest segment is never
dropped, so one request larger than the whole bound is still kept until the next.

Only the model's feature columns are stored. Categories are stored as the
client sent them, so monitoring sees unseen ones; number and boolean columns
in their signature's type (float64, booleans 1/0), so a column never mixes
``"12"`` and ``12`` whichever form a request used; out-of-range numbers are
kept. Columns a request sent that the model does not take are not stored: the
entry's outputs name the first few and count them (:data:`IGNORED_KEY`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from framework.errors import StoreError
from framework.packed_columns import pack, unpack

if TYPE_CHECKING:
    import pandas as pd

    from framework.store import Store

DEFAULT_MAX_ROWS = 1_000_000
DEFAULT_MAX_BYTES = 256 * 2**20
DEFAULT_SEGMENTS = 10

IGNORED_KEY = "ignored_columns"
"""Key of an entry's outputs naming the columns the request sent that the model does not
take: ``{"names": [the first ten], "count": distinct names}`` (absent when none)."""

OUTPUT_COLUMNS = ("prediction", "version", "time")
"""Columns :func:`read_window` adds after the features; a feature with one of these
names (or starting with ``proba_``) is returned as ``input_<name>``."""


@dataclass(frozen=True)
class LogLimits:
    """How big one model's log may grow before its oldest segments are dropped."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_bytes: int = DEFAULT_MAX_BYTES
    segments: int = DEFAULT_SEGMENTS

    def __post_init__(self) -> None:
        if self.max_rows < 1 or self.max_bytes < 1 or self.segments < 1:
            raise ValueError("prediction log limits must be positive")

    @property
    def segment_rows(self) -> int:
        return max(1, self.max_rows // self.segments)

    @property
    def segment_bytes(self) -> int:
        return max(1, self.max_bytes // self.segments)


@dataclass
class LogEntry:
    """One answered request: its inputs column-wise and its outputs, row-aligned.

    ``outputs`` holds ``prediction`` (one value per row) and, for classifiers,
    ``labels`` (the class labels) and ``proba`` (one list of probabilities per row,
    in label order). Values may be lists, tuples or NumPy arrays.
    """

    model: str
    version: int | None
    at: float
    rows: int
    inputs: Mapping[str, Sequence[Any]]
    outputs: Mapping[str, Any]


@contextmanager
def _opened(store: Store | Path | str) -> Iterator[Store]:
    """The given Store, or the store at that directory, opened here and closed afterwards."""
    from framework.store import Store

    if isinstance(store, Store):
        yield store
        return
    opened = Store.open_existing(Path(store))
    try:
        yield opened
    finally:
        opened.close()


INSERT = (
    "INSERT INTO prediction_log (segment, model, version, at, rows, inputs, outputs)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class Encoded(NamedTuple):
    """One request as the log stores it: its blobs already written."""

    model: str
    version: int | None
    at: float
    rows: int
    inputs: bytes
    outputs: bytes


def append_batch(
    store: Store | Path | str, entries: Iterable[LogEntry], limits: LogLimits | None = None
) -> int:
    """Append answered requests in one transaction, then drop old segments over the bound.

    Returns the number of rows (not requests) written. Safe to call from several
    processes at once: the write transaction serialises them.
    """
    encoded = [
        Encoded(e.model, e.version, e.at, e.rows, pack(e.inputs), pack(e.outputs))
        for e in entries
        if e.rows > 0
    ]
    with _opened(store) as target:
        return append_encoded(target, encoded, limits or LogLimits())


def append_encoded(store: Store, records: Iterable[Encoded], limits: LogLimits) -> int:
    """Append requests already encoded (a server's request log encodes them its own,
    cheaper way) in one transaction, then drop old segments over the bound. Returns
    the number of rows (not requests) written."""
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
    """The model's requests into its newest segment, a new one each time it fills; one
    ``executemany`` per segment (no Python per row between SQLite calls)."""
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


def epoch_seconds(value: datetime | str | float | None) -> float | None:
    """A bound as epoch seconds: datetimes (naive ones are UTC), ISO strings or numbers."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    raise TypeError(f"a time bound must be a datetime, an ISO string or seconds, not {value!r}")


def read_window(
    store: Store | Path | str,
    model_name: str,
    since: datetime | str | float | None = None,
    until: datetime | str | float | None = None,
) -> pd.DataFrame:
    """Every logged row of ``model_name`` answered in ``[since, until)``, oldest first.

    ``store`` is a :class:`~framework.store.Store` or the store's directory. Bounds
    are datetimes (naive means UTC), ISO 8601 strings or epoch seconds; None leaves
    that end open. The frame has one row per predicted row: the feature columns as
    the clients sent them (a column a request lacked is missing there), then
    ``prediction`` (the answered label or value), for classifiers one
    ``proba_<label>`` column per class, ``version`` (the model version that
    answered, nullable integer) and ``time`` (UTC timestamp of the request).
    """
    import pandas as pd

    low, high = epoch_seconds(since), epoch_seconds(until)
    query = "SELECT id, version, at, rows, inputs, outputs FROM prediction_log WHERE model = ?"
    args: list[Any] = [model_name]
    if low is not None:
        query, args = query + " AND at >= ?", [*args, low]
    if high is not None:
        query, args = query + " AND at < ?", [*args, high]
    with _opened(store) as target:
        records = target.db.execute(query + " ORDER BY at, id", args).fetchall()

    columns = _Columns()
    predictions = _Columns()
    proba = _Columns()
    versions: list[Any] = []
    times: list[float] = []
    for row_id, version, at, declared, inputs_blob, outputs_blob in records:
        inputs, outputs = _unpacked(row_id, model_name, inputs_blob, outputs_blob)
        rows = _rows_held(row_id, model_name, declared, inputs, outputs)
        for name, values in inputs.items():
            columns.add(name, values, rows)
        predictions.add("prediction", outputs.get("prediction"), rows)
        labels = outputs.get("labels")
        if labels is not None and outputs.get("proba") is not None:
            by_class = _class_columns(outputs["proba"], rows, len(labels))
            for label, column in zip(labels, by_class, strict=True):
                proba.add(f"proba_{label}", column, rows)
        for group in (columns, predictions, proba):
            group.end_request(rows)
        versions.extend([version] * rows)
        times.extend([at] * rows)

    reserved = set(OUTPUT_COLUMNS)
    data: dict[str, Any] = {
        (f"input_{name}" if name in reserved or name.startswith("proba_") else name): values
        for name, values in columns.finish().items()
    }
    data["prediction"] = predictions.finish().get("prediction", [])
    data.update(proba.finish())
    data["version"] = pd.array(versions, dtype="Int64")
    data["time"] = pd.to_datetime(pd.Series(times, dtype="float64"), unit="s", utc=True)
    return pd.DataFrame(data)


def _rows_held(row_id: int, model: str, declared: Any, inputs: dict, outputs: dict) -> int:
    """The entry's ``rows``, checked against what its blobs hold: every row read back is
    padded to it, so a 30-byte entry declaring 400,000,000 rows (written by hand, or by
    another program) would cost gigabytes. A real request's columns hold exactly its rows
    (a one-row request may hold no column at all: at least 1 is allowed)."""
    held = [_length(values) for values in inputs.values()]
    held += [_length(outputs.get(key)) for key in ("prediction", "proba")]
    if type(declared) is int and 0 <= declared <= max([1, *held]):
        return declared
    raise StoreError(
        f"prediction log entry {row_id} of '{model}' is damaged: it declares "
        f"{str(declared)[:40]!r} rows but holds {max(held, default=0)} values a column; "
        "read a time window that leaves it out (--since/--until)"
    )


def _length(values: Any) -> int:
    """How many values a stored column holds (0 for what is not a column)."""
    if isinstance(values, (list, tuple)):
        return len(values)
    shape = getattr(values, "shape", None)
    return int(shape[0]) if shape else 0


def _unpacked(row_id: int, model: str, inputs: bytes, outputs: bytes) -> tuple[dict, dict]:
    try:
        return unpack(inputs), unpack(outputs)
    except StoreError as exc:
        raise StoreError(
            f"prediction log entry {row_id} of '{model}' is damaged: {exc}; "
            "read a time window that leaves it out (--since/--until)"
        ) from None


class _Columns:
    """Columns gathered request by request; a column a request lacked is missing there.

    Chunks stay as they were stored until :meth:`finish`: a column of packed number
    arrays (with, from small requests, lists of numbers) is joined as one number
    array; any other column is one list, whose type pandas infers as before.
    """

    def __init__(self) -> None:
        self.chunks: dict[str, list[Any]] = {}
        self.held: dict[str, int] = {}
        self.length = 0

    def add(self, name: str, values: Any, rows: int) -> None:
        if name not in self.chunks:  # first seen now: missing in every earlier request
            self.chunks[name] = [_missing(self.length)] if self.length else []
            self.held[name] = self.length
        self.chunks[name].append(_exactly(values, rows))
        self.held[name] += rows

    def end_request(self, rows: int) -> None:
        self.length += rows
        for name, held in self.held.items():
            if held < self.length:
                self.chunks[name].append(_missing(self.length - held))
                self.held[name] = self.length

    def finish(self) -> dict[str, Any]:
        import numpy as np

        joined: dict[str, Any] = {}
        for name, chunks in self.chunks.items():
            arrays = _number_arrays(chunks)
            if arrays is not None:
                joined[name] = np.concatenate(arrays)
            else:
                joined[name] = [v for chunk in chunks for v in _as_list(chunk)]
        return joined


NUMBERS = frozenset({int, float, bool, type(None)})
"""What a small request's list may hold to join a number column (booleans as 0/1, as the
server stores the big requests' boolean columns)."""


def _number_arrays(chunks: list[Any]) -> list[Any] | None:
    """The chunks as number arrays when at least one is already one and the rest are lists
    of numbers (small requests are stored as JSON); None when the column is not numbers."""
    import numpy as np

    if not any(isinstance(c, np.ndarray) for c in chunks):
        return None  # lists only: pandas infers the type, as for the values a client sent
    arrays = []
    for chunk in chunks:
        if isinstance(chunk, np.ndarray) and chunk.dtype.kind in "fiu":
            arrays.append(chunk)
        elif isinstance(chunk, list) and set(map(type, chunk)) <= NUMBERS:
            arrays.append(np.array(chunk, dtype=np.float64))
        else:
            return None
    return arrays


def _missing(rows: int) -> Any:
    import numpy as np

    return np.full(rows, np.nan)


def _as_list(values: Any) -> list[Any]:
    if hasattr(values, "tolist"):
        values = values.tolist()
        # a packed column's missing values are NaN; as elsewhere in the list, None
        return [None if isinstance(v, float) and v != v else v for v in values]
    return list(values)


def _class_columns(proba: Any, rows: int, classes: int) -> list[Any]:
    """One column of probabilities per class, from a (rows, classes) array or list of rows."""
    import numpy as np

    if isinstance(proba, np.ndarray) and proba.ndim == 2 and proba.shape[1] == classes:
        return [proba[:rows, k] for k in range(classes)]
    per_row = [r if isinstance(r, (list, tuple)) else () for r in _exactly(proba, rows)]
    return [[r[k] if k < len(r) else None for r in per_row] for k in range(classes)]


def _exactly(values: Any, rows: int) -> Any:
    """``values`` as exactly ``rows`` items: a number array is cut or padded with NaN,
    anything else becomes a list cut or padded with None."""
    import numpy as np

    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "fiu":
        column = values[:rows]
        return (
            column
            if len(column) == rows
            else np.concatenate([column, _missing(rows - len(column))])
        )
    values = _as_list(values) if values is not None else []
    if len(values) < rows:
        values += [None] * (rows - len(values))
    return values[:rows]


def log_summary(store: Store | Path | str, model_name: str) -> dict[str, Any]:
    """Rows, requests, bytes and segments held for a model, and its oldest and newest time."""
    with _opened(store) as target:
        segments = target.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(rows), 0), COALESCE(SUM(bytes), 0)"
            " FROM prediction_log_segments WHERE model = ?",
            (model_name,),
        ).fetchone()
        requests = target.db.execute(
            "SELECT COUNT(*), MIN(at), MAX(at) FROM prediction_log WHERE model = ?", (model_name,)
        ).fetchone()

    def when(seconds: float | None) -> str | None:
        if seconds is None or math.isnan(seconds):
            return None
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")

    return {
        "model": model_name,
        "segments": int(segments[0]),
        "rows": int(segments[1]),
        "bytes": int(segments[2]),
        "requests": int(requests[0]),
        "oldest": when(requests[1]),
        "newest": when(requests[2]),
    }
