"""A model's input signature: the columns it was trained on, their roles and categories.

Recorded at training time and enforced before every prediction, so a served
request, a batch file and the test split all reach the model in the same shape:
missing columns and impossible values are refused by name, categories are fixed
to those seen in training (unseen ones become missing, as LightGBM and the
encoders expect), and extra columns are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework.columns import role_of
from framework.errors import DataError
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

MAX_EXAMPLES = 3


@dataclass(frozen=True)
class ColumnSignature:
    name: str
    role: str  # numeric, categorical, boolean
    dtype: str
    categories: list[Any] | None = None


@dataclass(frozen=True)
class Signature:
    columns: tuple[ColumnSignature, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        # not dataclasses.asdict, which deep-copies every category list
        return {"columns": [dict(vars(c)) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        return cls(tuple(ColumnSignature(**c) for c in data["columns"]))

    def roles_summary(self) -> str:
        """``4 numeric (age, fee, ...), 3 categorical (plan, ...)``: a wrong role shows here
        before any model is trained on it."""
        by_role: dict[str, list[str]] = {}
        for column in self.columns:
            by_role.setdefault(column.role, []).append(column.name)
        return ", ".join(
            f"{len(names)} {role} ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})"
            for role, names in by_role.items()
        )


def _python(values: Any) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]


BOOLEAN_NUMBERS = {"true": 1.0, "false": 0.0}
"""At prediction time a number column takes a boolean as 1/0: JSON ``true``/``false``
(MLflow records, V2 tensors) and the words ``true``/``false`` in any case (a CSV
cell, a text tensor), so every scoring path reads the same request alike."""


def as_numeric(frame: pd.DataFrame, column: str, why: str, *, booleans: bool = False) -> pd.Series:
    """The column as numbers, or a DataError naming the first values that are not.

    ``booleans``: a boolean (or the word true/false) counts as 1/0, as at prediction time.
    """
    import pandas as pd

    series = frame[column]
    role = role_of(series)
    if role == "numeric":
        return series
    if role == "boolean":
        return series.astype("float64")
    if role == "datetime":  # to_numeric would turn it into nanoseconds, silently
        raise DataError(
            f"column '{column}' {why} but holds dates or times ({series.dtype})", column=column
        )
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & series.notna()
    if booleans and bad.any():  # only the few values that are not numbers are looked at
        words = series[bad].map(_boolean_number).astype("float64")
        converted = converted.astype("float64")
        converted[bad] = words
        bad = converted.isna() & series.notna()
    if bad.any():
        raise _bad_values(
            series,
            bad,
            column,
            why,
            "non-numeric",
            hint="fix the data, or declare the column categorical in data.features",
        )
    return converted


def _boolean_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return BOOLEAN_NUMBERS.get(value.strip().lower())
    return None


def _bad_values(
    series: pd.Series, bad: pd.Series, column: str, claim: str, kind: str, hint: str
) -> DataError:
    """A DataError for the values ``bad`` marks: how many, the first few and their rows.

    Reads "column 'COLUMN' CLAIM but has N KIND value(s): examples (rows ...)", e.g.
    "column 'age' is declared numeric but has 2 non-numeric value(s): 'n/a', '?' (rows 4, 9)".
    """
    rows = list(series.index[bad][:MAX_EXAMPLES])
    examples = ", ".join(repr(series[r]) for r in rows)
    return DataError(
        f"column '{column}' {claim} but has {int(bad.sum())} {kind} value(s): "
        f"{examples} (rows {', '.join(map(str, rows))})",
        column=column,
        hint=hint,
        context={"rows": rows},
    )


TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0"})


def as_boolean(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as 1.0 / 0.0 (NaN where missing): bools, 0/1 numbers or yes/no words."""
    import numpy as np
    import pandas as pd

    series = frame[column]
    if role_of(series) in ("boolean", "numeric"):
        values = series.astype("float64")
        bad = values.notna() & ~values.isin([0.0, 1.0])
    else:
        words = series.astype("string").str.strip().str.lower()
        values = pd.Series(
            np.where(words.isin(TRUE_WORDS), 1.0, np.where(words.isin(FALSE_WORDS), 0.0, np.nan)),
            index=series.index,
        )
        bad = values.isna() & series.notna()
    if bad.any():
        raise _bad_values(
            series,
            bad,
            column,
            "is declared boolean",
            "other",
            hint="booleans are true/false, yes/no, 1/0; or declare the column categorical",
        )
    return values


def infer_signature(
    frame: pd.DataFrame, declared: dict[str, str]
) -> tuple[Signature, pd.DataFrame]:
    """Fix each feature's role (declared or inferred) and cast the frame to match."""
    import pandas as pd

    columns = []
    changed = {}
    for name in frame.columns:
        role = declared.get(name, "infer")
        series = frame[name]
        if role == "infer":
            role = role_of(series)
            if role == "categorical" and not isinstance(series.dtype, pd.CategoricalDtype):
                _refuse_mostly_numeric_text(series, name)
        if role == "datetime" or role_of(series) == "datetime":
            raise DataError(
                f"column '{name}' holds dates or times, which cannot be a feature as they are",
                column=name,
                hint="add it to data.exclude, or derive numeric features from it upstream",
            )
        if role == "boolean":
            series = as_boolean(frame, name)
            columns.append(ColumnSignature(name, "boolean", "float64"))
        elif role == "numeric":
            why = "is declared numeric" if declared.get(name) == "numeric" else "looks numeric"
            series = as_numeric(frame, name, why)
            columns.append(ColumnSignature(name, "numeric", str(series.dtype)))
        else:
            series = series.astype("category") if series.dtype != "category" else series
            categories = _python(series.cat.categories)
            columns.append(ColumnSignature(name, "categorical", "category", categories))
        if series.dtype != frame[name].dtype:  # as_numeric returns a numeric column as is
            changed[name] = series
    # only the cast columns are replaced: a new frame of every column copied the numeric
    # ones into one block (32 MB at 200,000 rows x 20 columns, ~0.1 s to fault in)
    prepared = frame.copy(deep=False)
    for name, series in changed.items():
        prepared[name] = series
    return Signature(tuple(columns)), prepared


def training_categories(
    signature: Signature, train: pd.DataFrame, test: pd.DataFrame
) -> tuple[Signature, pd.DataFrame, pd.DataFrame]:
    """Keep only the categories the training split has, and treat the others in the
    test split as unseen (missing), exactly as they will be at prediction time."""
    columns = []
    replaced_train: dict[str, pd.Series] = {}
    replaced_test: dict[str, pd.Series] = {}
    for column in signature.columns:
        if column.role != "categorical":
            columns.append(column)
            continue
        seen = train[column.name].cat.remove_unused_categories()
        categories = _python(seen.cat.categories)
        replaced_train[column.name] = seen
        # set_categories, not pd.Categorical(..., categories=): pandas deprecates the
        # latter for values outside the categories, which is exactly this case.
        replaced_test[column.name] = test[column.name].cat.set_categories(seen.cat.categories)
        columns.append(ColumnSignature(column.name, "categorical", "category", categories))
    # assign replaces just those columns; copying whole frames cost ~0.1 s at 200k rows
    train = train.assign(**replaced_train) if replaced_train else train
    test = test.assign(**replaced_test) if replaced_test else test
    return Signature(tuple(columns)), train, test


def _refuse_mostly_numeric_text(series: pd.Series, name: str) -> None:
    """A column that is numbers but for a few typos is a data error, not a category."""
    import pandas as pd

    present = pd.Series(series.dropna().unique())
    if present.empty:
        return
    _refuse_decimal_commas(present, name)
    numeric = pd.to_numeric(present, errors="coerce").notna()
    share = float(numeric.mean())
    if 0.9 <= share < 1.0:
        as_numeric(
            series.to_frame(name), name, f"looks numeric ({share:.0%} of values are numbers)"
        )


DECIMAL_COMMA = r"^\s*[-+]?(?:\d{1,3}(?:[.\s\u00a0]\d{3})+|\d+),\d+\s*$"
"""``3,5`` or ``1.234,5``: a number as a continental European spreadsheet writes it."""


def _refuse_decimal_commas(present: pd.Series, name: str) -> None:
    """Numbers with decimal commas would silently become categories: name them instead."""
    import pandas as pd

    if not pd.api.types.is_string_dtype(present) and present.dtype != object:
        return
    text = present.astype(str)
    commas = text.str.match(DECIMAL_COMMA)
    plain = pd.to_numeric(text, errors="coerce").notna()
    if commas.any() and float((commas | plain).mean()) >= 0.9:
        example = text[commas].iloc[0]
        raise DataError(
            f"column '{name}' holds numbers written with a decimal comma ({example!r}), "
            "which would be read as categories",
            column=name,
            hint="read the file with the csv source's decimal: ',' (and thousands: '.' "
            "if it groups thousands)",
        )


def conform(frame: pd.DataFrame, signature: Signature) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` in the signature's shape; returns the extra columns it ignored."""
    import pandas as pd

    missing = [c for c in signature.names if c not in frame.columns]
    if missing:
        first = missing[0]
        raise DataError(
            f"missing column(s) the model needs: {', '.join(missing)}"
            f"{did_you_mean(first, [str(c) for c in frame.columns])}",
            column=first,
        )
    prepared = {}
    for column in signature.columns:
        if column.role == "numeric":
            prepared[column.name] = as_numeric(frame, column.name, "must be numeric", booleans=True)
        elif column.role == "boolean":
            prepared[column.name] = as_boolean(frame, column.name)
        else:
            series = frame[column.name]
            prepared[column.name] = as_training_categories(series, column.categories or [])
    known = set(signature.names)
    extra = [str(c) for c in frame.columns if c not in known]
    return pd.DataFrame(prepared, index=frame.index), extra


def as_training_categories(series: pd.Series, categories: list[Any]) -> pd.Categorical:
    """The values coded against the training categories; anything unseen becomes missing.

    Coded by lookup, not ``pd.Categorical(values, categories=...)``: pandas deprecates
    that for values outside the categories (it warns now and will raise). A column
    that is already categorical (a Parquet dictionary column, say) is recoded through
    its few categories, not its many rows.
    """
    import numpy as np
    import pandas as pd

    dtype = pd.CategoricalDtype(categories)
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = _align_types(pd.Series(series.cat.categories), categories)
        lookup = np.append(dtype.categories.get_indexer(present), -1)  # code -1 stays missing
        codes = lookup[series.cat.codes.to_numpy()]
    else:
        codes = dtype.categories.get_indexer(_align_types(series, categories))
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _align_types(series: pd.Series, categories: list[Any]) -> pd.Series:
    """Compare like with like: '1' from a CSV against categories 1, 2, 3 from training."""
    import pandas as pd
    from pandas.api import types

    if not categories:
        return series
    if all(isinstance(c, str) for c in categories):
        if isinstance(series.dtype, pd.StringDtype):
            return series
        try:
            return series.astype("string")
        except UnicodeDecodeError as exc:  # a Parquet binary column: bytes, not text
            raise DataError(
                f"column {series.name!r} holds binary values (blobs) that are not UTF-8 "
                f"text ({exc.reason} at byte {exc.start} of a value)",
                hint="convert it to text in the file, or leave it out",
            ) from None
    numbers = all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in categories)
    if numbers and not types.is_numeric_dtype(series.dtype):
        return pd.to_numeric(series, errors="coerce")
    return series


def unseen_categories(
    frame: pd.DataFrame, signature: Signature, limit: int = MAX_EXAMPLES
) -> dict[str, tuple[int, list[Any]]]:
    """Per categorical column: how many values are not among the training categories (they
    are scored as missing), and the first ``limit`` distinct ones; columns with none left out.
    """
    found: dict[str, tuple[int, list[Any]]] = {}
    for column in signature.columns:
        if column.role != "categorical" or column.name not in frame.columns:
            continue
        series = frame[column.name]
        coded = as_training_categories(series, column.categories or [])
        unseen = (coded.codes == -1) & series.notna().to_numpy()
        count = int(unseen.sum())
        if count:
            examples = _python(series[unseen].drop_duplicates().head(limit))
            found[column.name] = (count, examples)
    return found
