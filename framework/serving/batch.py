"""A request's rows, column-wise: what every protocol parses into and every path scores.

Columns stay as the lists (or NumPy arrays) the payload decoded to, so a small
request never becomes a DataFrame unless the model needs one. The checks here
are the ones that need no data library: every column the model takes is
present, nothing else is, and there is at least one row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework.serving.errors import bad_request
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

MAX_NAMES = 10


@dataclass
class Batch:
    """Rows to score: ``columns`` maps a name to ``rows`` values (list, tuple or array).

    ``frame`` is set instead when the rows arrived as a table (CSV).
    """

    columns: Mapping[str, Sequence[Any]]
    rows: int
    frame: pd.DataFrame | None = None
    arrays: dict[str, Any] = field(default_factory=dict)
    """Numeric columns as NumPy arrays once the fast path has converted them: the
    request log encodes those far faster than lists of Python numbers."""

    @property
    def names(self) -> list[str]:
        return [str(c) for c in (self.frame.columns if self.frame is not None else self.columns)]


def listing(names: Sequence[str]) -> str:
    """Names for a message: the first ``MAX_NAMES``, then how many there are in all."""
    shown = ", ".join(names[:MAX_NAMES])
    return shown + (f" ... ({len(names)} in all)" if len(names) > MAX_NAMES else "")


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or (
        hasattr(value, "ndim") and getattr(value, "ndim", 0) == 1
    )


def from_columns(columns: Mapping[str, Any], where: str = "inputs") -> Batch:
    """``{"a": [1, 2], "b": [3, 4]}``; all scalars (``{"a": 1, "b": 3}``) is one row."""
    if not columns:
        raise bad_request(f"{where} has no columns")
    sequences = {name: _is_sequence(value) for name, value in columns.items()}
    if not any(sequences.values()):
        return Batch({name: [value] for name, value in columns.items()}, 1)
    scalars = [name for name, is_seq in sequences.items() if not is_seq]
    if scalars:
        raise bad_request(
            f"{where}: column(s) {listing(scalars)} hold a single value while others hold "
            "lists; send a list of values for every column"
        )
    lengths = {name: len(value) for name, value in columns.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}: {n}" for name, n in list(lengths.items())[:MAX_NAMES])
        raise bad_request(f"{where}: columns have different lengths ({detail})")
    return Batch(dict(columns), next(iter(lengths.values())))


def from_rows(names: Sequence[Any], rows: Any, where: str = "data") -> Batch:
    """Row-major data under known column names (MLflow's ``dataframe_split``, tensors)."""
    if not isinstance(rows, list):
        raise bad_request(f"{where} must be a list of rows, got {type(rows).__name__}")
    if not all(isinstance(name, str) for name in names):
        raise bad_request(f"column names must be strings, got {list(names)[:MAX_NAMES]!r}")
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if list(names).count(name) > 1})
        raise bad_request(f"column name(s) repeated: {listing(repeated)}")
    width = len(names)
    if rows and (set(map(type, rows)) - {list, tuple} or set(map(len, rows)) != {width}):
        for index, row in enumerate(rows):
            if not isinstance(row, (list, tuple)):
                raise bad_request(
                    f"{where}[{index}] must be a list of {width} values, got {type(row).__name__}"
                )
            if len(row) != width:
                raise bad_request(
                    f"{where}[{index}] has {len(row)} values but there are {width} columns"
                )
    if not rows:
        return Batch({name: [] for name in names}, 0)
    return Batch(dict(zip(names, zip(*rows, strict=True), strict=True)), len(rows))


def from_records(records: Any, where: str = "dataframe_records") -> Batch:
    """A list of ``{column: value}`` objects; a key a record lacks is missing there."""
    if not isinstance(records, list):
        raise bad_request(f"{where} must be a list of objects, got {type(records).__name__}")
    if not records:
        return Batch({}, 0)
    if set(map(type, records)) != {dict}:
        index = next(i for i, r in enumerate(records) if not isinstance(r, dict))
        raise bad_request(
            f"{where}[{index}] must be an object of column: value, "
            f"got {type(records[index]).__name__}"
        )
    keys = list(dict.fromkeys(key for record in records for key in record))
    return Batch({key: [record.get(key) for record in records] for key in keys}, len(records))


def check_columns(batch: Batch, wanted: Mapping[str, Any]) -> None:
    """Refuse a batch with no rows, lacking a column, or with one the model does not take.

    ``wanted`` is the model's columns by name, in signature order (built once per version).
    """
    if batch.rows == 0:
        raise bad_request("empty batch: the request has no rows to score")
    given = batch.names
    given_set = set(given)
    missing = [name for name in wanted if name not in given_set]
    extra = [name for name in given if name not in wanted]
    if missing:
        raise bad_request(
            f"missing column(s) the model needs: {listing(missing)}"
            f"{did_you_mean(missing[0], extra)}"
        )
    if extra:
        raise bad_request(
            f"unexpected column(s): {listing(extra)}; the model takes exactly "
            f"{len(wanted)} column(s): {listing(list(wanted))}"
        )
