"""A request's rows, column-wise: what every protocol parses into and every path scores.

Columns stay as the lists (or NumPy arrays) the payload decoded to, so a small
request never becomes a DataFrame unless the model needs one. The checks here
are the ones that need no data library: every column the model takes is
present and there is at least one row. Columns the model does not take never
reach a batch: the parsers leave them out as they read and count them in
:class:`IgnoredColumns` (or refuse them, with ``--strict-columns``).
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
SHOWN_IGNORED = 10
"""How many ignored column names a response header and the request log name."""
NAME_CHARS = 60
"""Longest ignored name shown as sent; a longer one is cut (names are client data)."""


@dataclass
class IgnoredColumns:
    """Columns a request sent that the model does not take: how many, and the first few.

    Bounded whatever the request: at most ``SHOWN_IGNORED`` names are kept, and
    the count is of distinct names, found with a set of the names the parser
    already holds (one reference per name, nothing built from them).
    """

    strict: bool = False
    names: list[str] = field(default_factory=list)
    _seen: set[Any] = field(default_factory=set)

    @property
    def count(self) -> int:
        return len(self._seen)

    def saw(self, name: Any) -> bool:
        """Whether the request sent a column of that name (among the ignored ones)."""
        return name in self._seen

    def add(self, name: Any) -> None:
        if name in self._seen:
            return
        self._seen.add(name)
        if len(self.names) < SHOWN_IGNORED:
            self.names.append(shown_name(name))

    def header(self) -> bytes:
        """``a, b, "odd, name"`` for a response header: ASCII, at most ``SHOWN_IGNORED`` names."""
        return ", ".join(_header_safe(name) for name in self.names).encode("ascii")


def shown_name(name: Any) -> str:
    """A client's column name for a message: as sent when plain, else its repr; cut short."""
    text = name if isinstance(name, str) and name and name == name.strip() else repr(name)
    return text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 3] + "..."


def _header_safe(name: str) -> str:
    """Plain ASCII names as they are; anything else JSON-quoted (``\\u`` escapes, no CR/LF)."""
    import json

    plain = name.isascii() and name.isprintable() and "," not in name and '"' not in name
    return name if plain else json.dumps(name, ensure_ascii=True)


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
    ignored: IgnoredColumns = field(default_factory=IgnoredColumns)
    """The columns the request sent that the model does not take (left out of ``columns``)."""
    label: Sequence[Any] | None = None
    """The true labels, when the request carried the model's target column (one value per
    row): never scored, only written to the request log, so ``specops monitor --from-log``
    can judge performance and retrain on what the servers saw (see
    :mod:`framework.serving.labels`)."""

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


def from_rows(
    names: Sequence[Any], rows: Any, where: str = "data", keep: Sequence[int] | None = None
) -> Batch:
    """Row-major data under known column names (MLflow's ``dataframe_split``, tensors).

    ``keep`` lists the positions of the columns to build (the model's), as
    :func:`framework.serving.records.check_names` found them, having checked the names
    (text, none twice); the other columns are checked for shape only, never copied out
    of the rows. Without ``keep`` the names are checked here.
    """
    if not isinstance(rows, list):
        raise bad_request(f"{where} must be a list of rows, got {type(rows).__name__}")
    if keep is None:
        _check_row_names(names)
    width = len(names)
    if rows and set(map(type, rows)) - {list, tuple}:
        _refuse_row(rows, width, where)
    if keep is not None and len(keep) < width:
        if rows and set(map(len, rows)) != {width}:
            _refuse_row(rows, width, where)
        return Batch({names[j]: [row[j] for row in rows] for j in keep}, len(rows))
    if not rows:
        return Batch({name: [] for name in names}, 0)
    try:  # a row of another length stops either zip: found then, not counted beforehand
        return Batch(dict(zip(names, zip(*rows, strict=True), strict=True)), len(rows))
    except ValueError:
        _refuse_row(rows, width, where)
        raise


def _refuse_row(rows: list[Any], width: int, where: str) -> None:
    """A 400 naming the first row that is not a list of ``width`` values."""
    for index, row in enumerate(rows):
        if not isinstance(row, (list, tuple)):
            raise bad_request(
                f"{where}[{index}] must be a list of {width} values, got {type(row).__name__}"
            )
        if len(row) != width:
            raise bad_request(
                f"{where}[{index}] has {len(row)} values but there are {width} columns"
            )


def _check_row_names(names: Sequence[Any]) -> None:
    if not all(isinstance(name, str) for name in names):
        raise bad_request(f"column names must be strings, got {list(names)[:MAX_NAMES]!r}")
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if list(names).count(name) > 1})
        raise bad_request(f"column name(s) repeated: {listing(repeated)}")


def check_columns(batch: Batch, wanted: Mapping[str, Any]) -> None:
    """Refuse a batch with no rows, lacking a column, or with one the model does not take.

    ``wanted`` is the model's columns by name, in signature order (built once per version).
    The parsers leave ignored columns out of a batch; one built by hand may still
    hold some, and is refused. A batch of exactly the model's columns is one comparison.
    """
    if batch.rows == 0 and not batch.ignored.count:
        raise bad_request("empty batch: the request has no rows to score")
    if batch.rows and batch.frame is None and batch.columns.keys() == wanted.keys():
        return
    given = batch.names
    given_set = set(given)
    missing = [name for name in wanted if name not in given_set]
    extra = [name for name in given if name not in wanted]
    if missing:
        raise bad_request(
            f"missing column(s) the model needs: {listing(missing)}"
            f"{did_you_mean(missing[0], extra or batch.ignored.names)}"
        )
    if batch.rows == 0:
        raise bad_request("empty batch: the request has no rows to score")
    if extra:
        raise bad_request(
            f"unexpected column(s): {listing(extra)}; the model takes exactly "
            f"{len(wanted)} column(s): {listing(list(wanted))}"
        )
