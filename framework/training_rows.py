"""Fingerprints of the rows a model version trained on, so the gate can leave them out.

A model scored on rows it trained on looks better than it is. When the champion
is rescored on a candidate's test split drawn from the same data (another seed,
another split, a retraining window that overlaps the source), many of those rows
were in the champion's training data. Row positions do not survive re-reading
the data, so each row is identified by its content: a 64-bit hash of its feature
values and target (``pandas.util.hash_pandas_object``, vectorised), after
normalising what re-reading may change (integers read back as floats, ``-0.0``,
categories read as text). Identical rows share a fingerprint, which is what
"trained on" means here.

A version records the sorted, distinct fingerprints of its training rows as one
content-addressed blob (8 bytes a row) named in its lineage as ``training_rows``,
with the columns hashed. The blob lives in the store, not in the model package,
so exported packages carry no trace of the training data.

A version trained on a Dask cluster records a content rule instead (scheme
``content-split/1``): its rows were split by ``u = mix(fingerprint, seed)``
(:mod:`framework.execution.rows`), test rows being those with ``u`` at most a
threshold (per class when stratified), so the rule, a few numbers, tells which
rows it could have trained on without a blob the client would have to collect. It
is conservative: a row the version never saw but whose ``u`` is above the threshold
counts as trained on (left out of a comparison), never the other way round.

A version split by time on a Dask cluster records its time rule (scheme
``time-split/1``): the time column and the cutoff, its first test time. Every row it
trained on was earlier than the cutoff, so "trained on" is ``time < cutoff`` (and,
conservatively, a row whose time is missing or cannot be compared with the cutoff)::

    content_rule(columns, seed, test_size, stratify, target, train_rows,
                 threshold=None, thresholds=None) -> lineage entry (no blob)
    time_rule(column, cutoff, train_rows, test_size, given) -> lineage entry (no blob)
    load(store, lineage, owner) -> TrainingRows | ContentRows | TimeRows | None
    in_training(rows, frame, hashes=None) -> bool mask (either kind, a frame's rows)
    members(store, entry, frame) -> distinct fingerprints of frame's rows trained on
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import StoreError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework.store import Store

LINEAGE_KEY = "training_rows"
SCHEME = "pandas-hash-uint64/1"
"""How fingerprints are computed; another scheme's fingerprints are never compared."""
CONTENT_SCHEME = "content-split/1"
"""A content rule: the split's seed and thresholds over these fingerprints (see above)."""
TIME_SCHEME = "time-split/1"
"""A time rule: the rows earlier than the cutoff in this column were the training rows."""
MAGIC = b"specops training rows 1\n"
MISSING_TEXT = "\x00specops:missing"
SHA256 = re.compile(r"[0-9a-f]{64}")


ROWS_AT_ONCE = 1 << 15
"""Rows hashed together: each column's temporaries (a few arrays of 8 bytes a row)
stay small enough to be reused by the allocator instead of being mapped and faulted
in afresh for every column (at 200,000 rows, hashing whole columns touched ~150 MB)."""


def row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One uint64 per row of ``frame`` over ``columns``, stable across re-reads.

    Each column is hashed by ``pandas.util.hash_array`` and the columns are combined
    as ``hash_pandas_object`` combines them, without building a normalised frame
    first (which costs twice the hashing: pandas consolidates the columns). A row's
    fingerprint depends on that row alone, so the rows are hashed a block at a time.
    """
    import numpy as np

    combined = np.empty(len(frame), dtype="uint64")
    for start in range(0, len(frame), ROWS_AT_ONCE):
        block = frame.iloc[start : start + ROWS_AT_ONCE]
        combined[start : start + len(block)] = _block_hashes(block, columns)
    return combined


def _block_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    import numpy as np
    from pandas.util import hash_array

    combined = np.full(len(frame), 0x345678, dtype="uint64")
    multiplier = np.uint64(1000003)
    with np.errstate(over="ignore"):
        for position, name in enumerate(columns):
            combined ^= _column_hashes(frame[name], hash_array)
            combined *= multiplier
            remaining = len(columns) - position
            multiplier += np.uint64(82520 + remaining + remaining)
        combined += np.uint64(97531)
    return combined


def _column_hashes(column: pd.Series, hash_array: Any) -> np.ndarray:
    """``hash_array`` of the column's normalised values. A text column (pandas' string
    dtype) is hashed per distinct value and the hashes spread to the rows by code:
    what ``hash_array`` does itself, but without first making a Python string of every
    value (600,000 of them for 200,000 rows of three text columns). Object columns
    keep the plain path: factorising them could merge values whose text differs
    (``1``, ``1.0``, ``True``)."""
    import numpy as np
    import pandas as pd

    if not isinstance(column.dtype, pd.StringDtype):
        return hash_array(_normalised(column))
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    text = np.asarray(uniques, dtype=object)
    hashed = hash_array(np.append(text, MISSING_TEXT).astype(object), categorize=False)
    return hashed.take(codes)  # code -1 (missing) takes the last: MISSING_TEXT's hash


def _normalised(column: pd.Series) -> Any:
    """Numbers (and booleans) as float64 with one zero and one NaN; the rest as text."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype="float64", na_value=np.nan) + 0.0  # -0.0 -> 0.0
        values[np.isnan(values)] = np.nan
        return values
    missing = column.isna().to_numpy()
    text = column.astype(str).to_numpy(dtype=object)
    text[missing] = MISSING_TEXT
    return text


@dataclass(frozen=True)
class TrainingRows:
    """The distinct fingerprints (sorted) of a version's training rows, and what was hashed."""

    columns: tuple[str, ...]
    hashes: np.ndarray

    @classmethod
    def of(cls, hashes: np.ndarray, columns: list[str]) -> TrainingRows:
        import numpy as np

        # sort, then drop repeats: np.unique takes 100x longer here (1 s for 800,000)
        ordered = np.sort(hashes)
        distinct = np.ones(len(ordered), dtype=bool)
        distinct[1:] = ordered[1:] != ordered[:-1]
        return cls(tuple(columns), ordered[distinct])

    def contains(self, hashes: np.ndarray, classes: Any = None) -> np.ndarray:
        """For each fingerprint, whether it is one of these rows (a boolean mask).
        ``classes`` is ignored (a content rule reads it)."""
        import numpy as np

        if len(self.hashes) == 0:
            return np.zeros(len(hashes), dtype=bool)
        at = np.searchsorted(self.hashes, hashes)
        at[at == len(self.hashes)] = 0
        return self.hashes[at] == hashes

    def to_bytes(self) -> bytes:
        return MAGIC + self.hashes.astype("<u8").tobytes()


@dataclass(frozen=True)
class ContentRows:
    """The rows a version may have trained on, by the content rule of its split."""

    columns: tuple[str, ...]
    seed: int
    target: str | None
    threshold: int | None
    """The random split's threshold: a row with ``u`` above it was a training row."""
    thresholds: dict[Any, int] | None
    """Per class (by :func:`label_key`) when the split was stratified."""

    @classmethod
    def from_entry(cls, entry: dict[str, Any], owner: str) -> ContentRows:
        """The rule a lineage entry records; a malformed one is a damaged record."""
        try:
            thresholds = None
            if entry.get("stratify"):
                thresholds = {
                    label_key(item["label"]): _uint64(item["threshold"])
                    for item in entry["thresholds"]
                }
            return cls(
                tuple(str(c) for c in entry["columns"]),
                int(entry["seed"]),
                None if entry.get("target") is None else str(entry["target"]),
                None if thresholds is not None else _uint64(entry["threshold"]),
                thresholds,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(
                f"training rows of {owner}: the content rule in its lineage is damaged ({exc})"
            ) from exc

    def contains(self, hashes: np.ndarray, classes: Any = None) -> np.ndarray:
        """Whether each row (its fingerprint over :attr:`columns`, its class among
        ``classes``) may have been a training row: ``u`` above its class's threshold.
        Without ``classes``, or for a class the version never saw, the smallest
        threshold is used (or 0): such rows are counted as trained on."""
        import numpy as np

        from framework.execution.rows import mix

        u = mix(hashes, self.seed)
        if self.threshold is not None:
            return u > np.uint64(self.threshold)
        thresholds = self.thresholds or {}
        lowest = min(thresholds.values(), default=0)
        if classes is None:
            return u > np.uint64(lowest)
        keys = [label_key(value) for value in np.asarray(classes, dtype=object)]
        limits = np.fromiter((thresholds.get(k, 0) for k in keys), dtype="uint64", count=len(u))
        return u > limits


@dataclass(frozen=True)
class TimeRows:
    """The rows a version may have trained on, by the time rule of its split: those
    earlier than the cutoff in :attr:`column`."""

    column: str
    cutoff: Any
    """The first test time: a ``pandas.Timestamp`` (with the time zone it was recorded
    with, or none) or a number."""
    target: None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The one column the rule reads (the gate checks the data still has it)."""
        return (self.column,)

    @classmethod
    def from_entry(cls, entry: dict[str, Any], owner: str) -> TimeRows:
        """The rule a lineage entry records; a malformed one is a damaged record."""
        try:
            column, kind, value = str(entry["column"]), entry["kind"], entry["cutoff"]
            if kind == "datetime":
                import pandas as pd

                cutoff: Any = pd.Timestamp(str(value))
            elif kind == "number" and type(value) in (int, float):
                cutoff = value
            else:
                raise ValueError(f"cutoff {value!r} of kind {kind!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(
                f"training rows of {owner}: the time rule in its lineage is damaged ({exc})"
            ) from exc
        return cls(column, cutoff)

    def in_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Whether each row of ``frame`` (which holds :attr:`column`) may have been a
        training row: earlier than the cutoff. A missing time, or a column the cutoff
        cannot be compared with (other type, time zone present on one side only),
        counts as trained on: conservative, like a content rule."""
        import numpy as np
        import pandas as pd

        times = frame[self.column]
        everything = np.ones(len(times), dtype=bool)
        if isinstance(self.cutoff, pd.Timestamp):
            if not pd.api.types.is_datetime64_any_dtype(times):
                return everything
            if (getattr(times.dtype, "tz", None) is None) != (self.cutoff.tzinfo is None):
                return everything
        elif pd.api.types.is_bool_dtype(times) or not pd.api.types.is_numeric_dtype(times):
            return everything
        earlier = (times < self.cutoff).to_numpy(dtype=bool, na_value=True)
        return earlier | times.isna().to_numpy()

    def contains(self, hashes: np.ndarray, classes: Any = None) -> np.ndarray:
        """Fingerprints cannot tell a row's time: every row counts as trained on
        (conservative). Callers with the rows themselves use :func:`in_training`."""
        import numpy as np

        return np.ones(len(hashes), dtype=bool)


def label_key(value: Any) -> Any:
    """A class label as a rule stores and matches it: numbers (and booleans) as float,
    so ``1``, ``1.0`` and ``True`` read back from a file match; anything else as text."""
    import numbers

    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool | numbers.Real):
        return float(value)
    return str(value)


def _uint64(value: Any) -> int:
    number = int(value)
    if not 0 <= number < 1 << 64:
        raise ValueError(f"threshold {value!r} is not a 64-bit unsigned number")
    return number


def content_rule(
    *,
    columns: list[str],
    seed: int,
    test_size: float,
    stratify: bool,
    target: str | None,
    train_rows: int,
    threshold: int | None = None,
    thresholds: dict[Any, int] | None = None,
) -> dict[str, Any]:
    """The lineage entry of a version whose rows were split by content (no blob):
    ``threshold`` for a random split, ``thresholds`` by class label when stratified
    (as :class:`plugins.dask_execution.split.DaskSplit` reports them)."""
    from framework.execution.rows import METHOD

    entry: dict[str, Any] = {
        "scheme": CONTENT_SCHEME,
        "method": METHOD,
        "seed": int(seed),
        "test_size": float(test_size),
        "stratify": bool(stratify),
        "columns": [str(c) for c in columns],
        "target": target,
        "rows": int(train_rows),
    }
    if stratify:
        entry["thresholds"] = [
            {"label": value.item() if hasattr(value, "item") else value, "threshold": int(limit)}
            for value, limit in (thresholds or {}).items()
        ]
    else:
        entry["threshold"] = int(threshold if threshold is not None else 0)
    return entry


def time_rule(
    *, column: str, cutoff: Any, train_rows: int, test_size: float, given: bool
) -> dict[str, Any]:
    """The lineage entry of a version whose rows were split by time (no blob): rows of
    ``column`` earlier than ``cutoff`` were its training rows. ``given``: the cutoff
    came from the spec (else it was found ``test_size`` of the rows from the end)."""
    import pandas as pd

    if isinstance(cutoff, pd.Timestamp):
        kind, value = "datetime", cutoff.isoformat()
    else:
        number = cutoff.item() if hasattr(cutoff, "item") else cutoff
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise TypeError(f"a time split's cutoff is a Timestamp or a number, not {cutoff!r}")
        kind, value = "number", number
    return {
        "scheme": TIME_SCHEME,
        "column": str(column),
        "kind": kind,
        "cutoff": value,
        "cutoff_from": "spec" if given else "test_size",
        "test_size": float(test_size),
        "rows": int(train_rows),
    }


def in_training(
    rows: TrainingRows | ContentRows | TimeRows,
    frame: pd.DataFrame,
    hashes: np.ndarray | None = None,
) -> np.ndarray:
    """Which rows of ``frame`` the version may have trained on. ``hashes``: the rows'
    fingerprints over ``rows.columns`` when already known (they are computed else);
    every column of ``rows.columns`` must be in ``frame``."""
    if isinstance(rows, TimeRows):
        return rows.in_frame(frame)
    if hashes is None:
        hashes = row_hashes(frame, list(rows.columns))
    target = getattr(rows, "target", None)
    classes = frame[target].to_numpy() if target is not None and target in frame else None
    return rows.contains(hashes, classes)


def members(store: Store, entry: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """The distinct fingerprints of the rows a version trained on, whatever its record:
    a blob's own list, or the rows of ``frame`` (its data) a content rule puts in training."""
    rows = load(store, {LINEAGE_KEY: entry}, "this version")
    if rows is None:
        raise StoreError(f"no training rows recorded in {entry!r}")
    if isinstance(rows, TrainingRows):
        return rows.hashes
    if isinstance(rows, TimeRows):
        raise StoreError(f"a time rule names a time column, not fingerprints: {entry!r}")
    hashes = row_hashes(frame, list(rows.columns))
    return TrainingRows.of(hashes[in_training(rows, frame, hashes)], list(rows.columns)).hashes


def record(store: Store, rows: TrainingRows) -> tuple[dict[str, Any], bytes]:
    """Store the fingerprints as a blob; the lineage entry naming it, and its bytes
    (kept to restore the blob should ``store gc`` remove it before a version names it)."""
    data = rows.to_bytes()
    digest = store.artifacts.put_written(lambda path: path.write_bytes(data))
    entry = {
        "blob": digest,
        "rows": len(rows.hashes),
        "columns": list(rows.columns),
        "scheme": SCHEME,
    }
    return entry, data


def ensure_stored(store: Store, entry: dict[str, Any], data: bytes) -> None:
    """After the version row is committed (``gc`` now keeps the blob): put it back if a
    ``gc`` running between :func:`record` and the commit removed it (a content rule
    has no blob)."""
    if "blob" in entry and not store.artifacts.exists(entry["blob"]):
        store.artifacts.put_written(lambda path: path.write_bytes(data))


def load(
    store: Store, lineage: dict[str, Any], owner: str
) -> TrainingRows | ContentRows | TimeRows | None:
    """A version's training rows: its fingerprints (hash-checked), its content rule or
    its time rule; None when it recorded none (an older specops) or in a scheme unknown
    here. A missing or damaged blob, or a malformed rule, is a StoreError."""
    import numpy as np

    entry = lineage.get(LINEAGE_KEY)
    if isinstance(entry, dict) and entry.get("scheme") == CONTENT_SCHEME:
        return ContentRows.from_entry(entry, owner)
    if isinstance(entry, dict) and entry.get("scheme") == TIME_SCHEME:
        return TimeRows.from_entry(entry, owner)
    if not isinstance(entry, dict) or entry.get("scheme") != SCHEME:
        return None
    digest = entry.get("blob")
    if not isinstance(digest, str) or not SHA256.fullmatch(digest):
        raise StoreError(
            f"training rows of {owner}: the lineage names no valid blob ({digest!r}); "
            "the store's record of that version is damaged"
        )
    path: Path = store.artifacts.verified(digest, f"training rows of {owner}")
    data = path.read_bytes()
    body = data[len(MAGIC) :]
    if not data.startswith(MAGIC) or len(body) % 8:
        raise StoreError(f"training rows of {owner} are not a fingerprint file: {path}")
    hashes = np.frombuffer(body, dtype="<u8").astype("uint64")
    return TrainingRows(tuple(str(c) for c in entry.get("columns", [])), hashes)
