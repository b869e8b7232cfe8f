"""Raw columns (:data:`framework.runtimes.base.RawColumns`) from a table.

``specops predict`` and the batch target read a file chunk into a DataFrame and check it
against the signature (:func:`framework.signature.conform`: missing columns and
impossible values refused by name, categories coded against training). A compiled
runtime takes plain arrays instead, so :func:`raw_columns` turns the conformed chunk into
them without a Python loop over rows. Verification uses :func:`columns_as_sent`, which
keeps unseen categories as they were written, as a server receives them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework.runtimes.base import RawColumns
    from framework.signature import Signature


def raw_columns(frame: pd.DataFrame, signature: Signature) -> RawColumns:
    """The columns of ``frame`` (the output of ``conform``) as a runtime reads them:
    numbers and booleans as float64 with NaN, categories as an object array of the training
    category values with None where missing (an unseen value is missing after conform)."""
    import numpy as np
    import pandas as pd

    columns: dict[str, np.ndarray] = {}
    for column in signature.columns:
        series = frame[column.name]
        if column.role != "categorical":
            columns[column.name] = _floats(series)
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            values = series.cat.categories.to_numpy(dtype=object)
            lookup = np.empty(len(values) + 1, dtype=object)  # code -1 -> the last: None
            lookup[: len(values)] = values
            columns[column.name] = lookup[series.cat.codes.to_numpy()]
        else:
            columns[column.name] = _objects(series)
    return columns


def columns_as_sent(frame: pd.DataFrame, signature: Signature) -> RawColumns:
    """The columns of a raw table (not conformed): numbers and booleans read as the
    signature reads them, categories as written (None where missing, unseen values kept),
    what a server hands a runtime from a request."""
    from framework.signature import as_boolean, as_numeric

    columns: dict[str, np.ndarray] = {}
    for column in signature.columns:
        if column.role == "numeric":
            numbers = as_numeric(frame, column.name, "must be numeric", booleans=True)
            columns[column.name] = _floats(numbers)
        elif column.role == "boolean":
            columns[column.name] = _floats(as_boolean(frame, column.name))
        else:
            columns[column.name] = _objects(frame[column.name])
    return columns


def _floats(series: pd.Series) -> np.ndarray:
    import numpy as np

    return np.ascontiguousarray(series.to_numpy(dtype="float64", na_value=np.nan))


def _objects(series: pd.Series) -> np.ndarray:
    """Values as Python objects (pandas converts NumPy scalars), None where missing (NaN,
    None, pd.NA, NaT alike)."""
    values = series.astype(object).to_numpy(dtype=object, copy=True)
    values[series.isna().to_numpy()] = None
    return values


FAST_ROWS = 256
"""Up to this many values are coded by dictionary lookup; more through pandas, vectorised."""


def category_coder(categories: list[Any]) -> Callable[[np.ndarray], np.ndarray]:
    """A function coding raw categorical values (an object array, as in
    :data:`~framework.runtimes.base.RawColumns`) against the training ``categories``
    exactly as the native path does (:func:`framework.signature.as_training_categories`):
    the category's index, ``-1`` for a missing value or one training never saw (a
    string ``'1'`` finds the category ``1`` as natively, and so on). Build it once, when a
    runtime loads; call it per request. Small batches of text take a dictionary lookup
    (a single row costs a microsecond or two), anything else takes the native code."""
    known = list(categories)
    text = bool(known) and all(isinstance(value, str) for value in known)
    lookup = {value: index for index, value in enumerate(known)} if text else {}

    def native(values: np.ndarray) -> np.ndarray:
        import numpy as np
        import pandas as pd

        from framework.signature import as_training_categories

        series = pd.Series(values, dtype=object)
        return np.asarray(as_training_categories(series, known).codes, dtype=np.int64)

    def codes(values: np.ndarray) -> np.ndarray:
        import numpy as np

        if not text or len(values) > FAST_ROWS:
            return native(values)
        found = []
        for value in values:
            if type(value) is str:
                found.append(lookup.get(value, -1))
            elif value is None or (type(value) is float and value != value):
                found.append(-1)
            else:  # a number or boolean in a text column: compared as native compares it
                return native(values)
        return np.array(found, dtype=np.int64)

    return codes
