"""A request's columns as :data:`~framework.runtimes.base.RawColumns`, without pandas.

A compiled runtime scores raw columns (numbers as float64 with NaN, categories as
the values sent); building them straight from the lists or arrays a request decoded
to costs microseconds, where a DataFrame and the signature check cost milliseconds.

Correctness comes first: a column is decoded only when the meaning of every value is
unambiguous, the same way the package's own pandas path reads it:

- numeric: numbers, booleans (1/0) or null; a NumPy numeric or BOOL tensor;
- boolean: booleans or null, or numbers that are all 0/1; a BOOL or numeric tensor
  holding only 0/1;
- categorical with text categories: text or null; with number categories: numbers
  (not booleans) or null.

Anything else (a number sent as text, a nested list, an integer too large for int64,
a category of another type than the training ones) makes :meth:`RequestColumns.decode`
return None, and the request takes the pandas path, which either reads it as the rest
of specops does or answers with the message naming the bad value. Tests compare both
paths row for row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from framework.serving.batch import Batch
    from framework.signature import Signature

NONE = type(None)
NUMBER_TYPES = frozenset({int, float, NONE})
TEXT_TYPES = frozenset({str, NONE})
BOOL_TYPES = frozenset({bool, NONE})
LARGEST_EXACT_INT = 2.0**63
"""Beyond int64 pandas keeps Python ints as objects: leave those to the pandas path."""
QUICK_DTYPES = ("float64", "int64", "bool")
"""The dtypes NumPy infers only from plain Python floats, ints (below 2**63) and bools."""

TEXT, NUMBERS = "text", "numbers"
NAN = float("nan")


class RequestColumns:
    """Decodes a batch's columns into raw columns for one signature (built once per version)."""

    def __init__(self, signature: Signature) -> None:
        self.plan: list[tuple[str, str, str | None]] = []
        """(column, role, category kind): the kind is ``text``, ``numbers`` or None
        (categories of mixed types, which only the pandas path aligns)."""
        for column in signature.columns:
            kind = _category_kind(column.categories or []) if column.role == "categorical" else None
            self.plan.append((column.name, column.role, kind))
        self.row_numbers = tuple(
            (name, role == "boolean") for name, role, _ in self.plan if role != "categorical"
        )
        """(column, is boolean) of the numeric and boolean columns, in signature order."""
        self.number_names = tuple(name for name, _ in self.row_numbers)
        """The columns :meth:`decode` leaves in ``batch.arrays`` (what the request log keeps)."""
        self.row_categories = tuple(
            (name, kind) for name, role, kind in self.plan if role == "categorical"
        )
        self.mixed_categories = any(kind is None for _, kind in self.row_categories)
        self.names = tuple(name for name, _, _ in self.plan)
        self.numbers_first = self.names == (
            *self.number_names,
            *(n for n, _ in self.row_categories),
        )
        """Whether :meth:`one_row`'s columns (numbers, then categories) are in signature order."""

    def decode(self, batch: Batch, *, objects: bool = True) -> dict[str, Any] | None:
        """The batch's columns as raw columns, or None when a value needs the pandas path.

        Numeric and boolean columns decoded here are also left in ``batch.arrays``, which
        the request log encodes far faster than lists of Python numbers. ``objects=False``
        leaves checked text categories as the list they came in (the LightGBM fast path
        looks each up once; an object array would only be copied back to a list).
        """
        if batch.frame is not None:
            return None
        decoded = self.one_row(batch.columns) if batch.rows == 1 else None
        if decoded is None:
            decoded = self.columns(batch.columns, objects=objects)
            if decoded is None:
                return None
        arrays = batch.arrays
        for name in self.number_names:
            arrays[name] = decoded[name]
        return decoded

    def columns(self, columns: Any, *, objects: bool = True) -> dict[str, Any] | None:
        """Column by column, with NumPy (any number of rows); None as :meth:`decode`."""
        decoded: dict[str, Any] = {}
        for name, role, kind in self.plan:
            values = columns[name]
            if role == "numeric":
                column = numbers(values)
            elif role == "boolean":
                column = booleans(values)
            else:
                column = categories(values, kind, objects=objects)
            if column is None:
                return None
            decoded[name] = column
        return decoded

    def one_row(self, columns: Any) -> dict[str, np.ndarray] | None:
        """A one-row batch of plain lists read value by value, by the same rules as the
        column decoders; None for anything else, which the column decoders then judge.

        The values are read into one float64 array and one object array, and each column
        is a one-value view of them: a few microseconds where an array per column cost
        about 0.4 µs each (most of a single-row request's decoding)."""
        import numpy as np

        if self.mixed_categories:
            return None
        numbers: list[float] = []
        for name, boolean in self.row_numbers:
            values = columns[name]
            if type(values) is not list and type(values) is not tuple:
                return None
            value = values[0]
            if type(value) is float and not boolean:  # the usual value: taken as it is
                numbers.append(value)
                continue
            number = _one_number(value, boolean)
            if number is None:
                return None
            numbers.append(number)
        texts: list[Any] = []
        for name, kind in self.row_categories:
            values = columns[name]
            if type(values) is not list and type(values) is not tuple:
                return None
            value = values[0]
            if value is not None and not _is_category(value, kind):
                return None
            texts.append(None if value != value else value)  # NaN: missing
        decoded: dict[str, np.ndarray] = dict(
            zip(self.number_names, np.array(numbers, dtype=np.float64).reshape(-1, 1), strict=True)
        )
        if texts:
            block = np.empty((len(texts), 1), dtype=object)
            for position, value in enumerate(texts):
                block[position, 0] = value  # one by one: a value is never broadcast
            decoded.update(zip((name for name, _ in self.row_categories), block, strict=True))
        if not self.numbers_first:  # the signature's order, as the column decoders give it
            decoded = {name: decoded[name] for name in self.names}
        return decoded


def _is_category(value: Any, kind: str | None) -> bool:
    if kind == TEXT:
        return type(value) is str
    return kind == NUMBERS and (type(value) is int or type(value) is float)


def _one_number(value: Any, boolean: bool) -> float | None:
    """One number-column value as float (NaN for null), or None when only pandas reads it."""
    kind = type(value)
    if value is None:
        return NAN
    if kind is bool:
        return float(value)
    if kind is int:
        if abs(value) >= LARGEST_EXACT_INT:
            return None
    elif kind is not float:
        return None
    number = float(value)
    if boolean and number == number and number not in (0.0, 1.0):
        return None
    return number


def _category_kind(values: list[Any]) -> str | None:
    if all(isinstance(value, str) for value in values):
        return TEXT
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
        return NUMBERS
    return None


def as_list(values: Sequence[Any]) -> Sequence[Any]:
    return values.tolist() if hasattr(values, "tolist") else values


def numbers(values: Sequence[Any]) -> Any:
    """float64 with NaN for missing, or None when a value is not plainly a number."""
    import numpy as np

    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind in ("f", "i", "u", "b"):  # a binary tensor (BOOL is 1/0)
        return np.asarray(values, dtype=np.float64)
    values = as_list(values)
    try:  # NumPy finds the values' common type in C (~1/3 less than checking each type)
        quick = np.array(values)
    except (TypeError, ValueError, OverflowError):
        quick = None
    # Only float/int/bool values give float64/int64/bool (text gives <U; None, big ints
    # and dicts object; nested lists 2-D; float32 etc. their own dtype): the values the
    # exact check accepts, as the same numbers. (NumPy's own float64/int64/bool scalars
    # pass too, where the exact check sends them to pandas: same numbers either way.)
    if quick is not None and quick.ndim == 1 and quick.dtype in QUICK_DTYPES:
        column = quick.astype(np.float64, copy=False)
        if not (np.abs(column) >= LARGEST_EXACT_INT).any():  # NaN compares False
            return column
    return exact_numbers(values)


def exact_numbers(values: Sequence[Any]) -> Any:
    """:func:`numbers` for a list, checking each value's type (what the quick path is not
    sure of: missing values, big numbers, anything not plainly a number)."""
    import numpy as np

    kinds = set(map(type, values))
    if not kinds <= NUMBER_TYPES | BOOL_TYPES:  # a boolean is 1/0, as in signature.as_numeric
        return None
    try:
        column = np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    if int in kinds and len(column) and np.nanmax(np.abs(column), initial=0.0) >= LARGEST_EXACT_INT:
        return None
    return column


def booleans(values: Sequence[Any]) -> Any:
    """1.0 / 0.0 with NaN for missing, or None when a value is not plainly a boolean."""
    import numpy as np

    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind == "b":
        return values.astype(np.float64)
    if kind is None:
        values = as_list(values)
        if set(map(type, values)) <= BOOL_TYPES:
            return np.array([None if v is None else float(v) for v in values], dtype=np.float64)
    column = numbers(values)
    if column is None:
        return None
    present = column[~np.isnan(column)]
    return column if np.isin(present, (0.0, 1.0)).all() else None


def categories(values: Sequence[Any], kind: str | None, *, objects: bool = True) -> Any:
    """The values as sent, in an object array (None for missing; unseen kept as they are),
    or None when their type is not the training categories' type. ``objects=False``: text
    values are returned as the (checked) list itself."""
    import numpy as np

    if kind is None:
        return None
    array_kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind == NUMBERS and array_kind in ("f", "i", "u"):  # a numeric tensor
        column = np.asarray(values).astype(object)
        if array_kind == "f":
            column[np.isnan(np.asarray(values, dtype=np.float64))] = None
        return column
    values = as_list(values)
    allowed = TEXT_TYPES if kind == TEXT else NUMBER_TYPES
    if not set(map(type, values)) <= allowed:
        return None
    if not objects and kind == TEXT:
        return values
    column = np.empty(len(values), dtype=object)
    column[:] = values
    if kind == NUMBERS:  # NaN sent as a float is a missing value, as in the pandas path
        for position, value in enumerate(values):
            if value != value:
                column[position] = None
    return column
