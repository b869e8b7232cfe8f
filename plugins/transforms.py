"""Built-in preprocessing transforms for ``preprocess:``: impute, scale, one_hot, ordinal, drop.

Each transform picks its columns (named by ``columns`` or, by default, every
column of the roles it makes sense for) and returns an unfitted scikit-learn
transformer. The engine wraps it in a ``ColumnTransformer`` with pandas output and
stores the fitted pipeline with skops, so only scikit-learn and numpy types are
used here: no ``FunctionTransformer`` and no custom classes, which a safe loader
could not rebuild.

On a Dask cluster (``execution: dask``) every built-in fits from distributed
statistics (plugins/dask_execution/transforms.py) into the same scikit-learn objects:
``distributed`` says a transform can, and then ``build`` must work from a *summary
frame* (the current columns and dtypes, every distinct value of the categorical ones)
and return estimators of the types that module fits. A transform that cannot sets
``distributed`` false and says why in ``distributed_refusal``.

When the default selection finds no column (``scale`` on a table without numeric
columns, say) ``build`` returns an empty column list and the engine skips the step.
A ``columns`` entry that names a missing column is a :class:`DataError` with a
"did you mean" suggestion, since that is a typo in the spec, not something to skip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from framework import (
    DataError,
    Finding,
    StepContext,
    columns_with_role,
    did_you_mean,
    hookimpl,
    role_of,
)

if TYPE_CHECKING:
    import pandas as pd

    from framework import Register

NUMERIC: tuple[str, ...] = ("numeric",)
CATEGORICAL: tuple[str, ...] = ("categorical",)
IMPUTABLE: tuple[str, ...] = ("numeric", "categorical")
"""Roles that can hold NaN and be imputed (boolean columns cannot hold NaN)."""


def _schema(properties: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    """A closed params schema, so a misspelt param is a spec error rather than ignored."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def _columns_property(default_description: str | None) -> dict[str, Any]:
    description = (
        f"Columns to transform. Default: {default_description}."
        if default_description
        else "Columns to remove."
    )
    return {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "uniqueItems": True,
        "description": description,
    }


class ColumnTransform:
    """Shared column selection: the ``columns`` param, or every column of ``default_roles``."""

    type_name: ClassVar[str]
    summary: ClassVar[str]
    params_schema: ClassVar[dict[str, Any]]
    default_roles: ClassVar[tuple[str, ...]] = ()
    accepted_roles: ClassVar[tuple[str, ...] | None] = None
    """Roles an explicitly named column may have; None accepts any column."""
    distributed: bool = True
    """Fits on a Dask cluster from distributed statistics (see the module docstring)."""
    distributed_refusal: str | None = None
    """Why not, when ``distributed`` is false: shown by ``validate``."""

    def __init__(self, columns: Sequence[str] | None = None) -> None:
        self.columns = list(columns) if columns is not None else None

    def build(self, frame: pd.DataFrame, ctx: StepContext) -> tuple[Any, list[str]]:
        """The unfitted transformer and its columns; an empty list means "skip this step"."""
        columns = self.select(frame)
        if not columns:
            return "passthrough", []  # a harmless no-op, should the engine not skip it
        return self.estimator(frame, columns), columns

    def select(self, frame: pd.DataFrame) -> list[str]:
        if self.columns is None:
            return self.default_columns(frame)
        self.require_columns(frame, self.columns, self.allowed_roles())
        return list(self.columns)

    def default_columns(self, frame: pd.DataFrame) -> list[str]:
        return columns_with_role(frame, *self.default_roles)

    def allowed_roles(self) -> tuple[str, ...] | None:
        return self.accepted_roles

    def require_columns(
        self, frame: pd.DataFrame, columns: Sequence[str], roles: Sequence[str] | None
    ) -> None:
        """Refuse columns the frame lacks, or whose role this transform cannot handle."""
        present = [str(name) for name in frame.columns]
        for name in columns:
            if name not in present:
                raise DataError(
                    f"{self.type_name}: column '{name}' is not in the data"
                    f"{did_you_mean(name, present)}",
                    column=name,
                    hint="columns at this point of the pipeline: " + ", ".join(present),
                )
            role = role_of(frame[name])
            if roles is not None and role not in roles:
                raise DataError(
                    f"{self.type_name}: column '{name}' is {role}, "
                    f"but this transform needs {' or '.join(roles)} columns",
                    column=name,
                )

    def estimator(self, frame: pd.DataFrame, columns: list[str]) -> Any:
        raise NotImplementedError

    def require_one_kind(self, frame: pd.DataFrame, columns: Sequence[str]) -> None:
        """Refuse a column whose values mix numbers and text (a SQLite column may hold
        both): scikit-learn's encoders sort the categories and cannot compare 3 with
        'a'. A data error naming the column, not an encoder's TypeError."""
        import pandas as pd
        from pandas.api.types import infer_dtype

        for name in columns:
            column = frame[name]
            if isinstance(column.dtype, pd.CategoricalDtype):
                column = pd.Series(column.cat.categories)  # what the encoder will sort
            if column.dtype != object or infer_dtype(column, skipna=True) not in MIXED:
                continue
            values = column.dropna()
            number = next((v for v in values if not isinstance(v, str)), None)
            text = next((v for v in values if isinstance(v, str)), None)
            raise DataError(
                f"{self.type_name}: column '{name}' mixes numbers and text "
                f"(e.g. {number!r} and {text!r}); its categories must be one or the other",
                column=name,
                hint="make them one kind at the source: e.g. CAST(column AS TEXT) in SQL",
            )


MIXED = frozenset({"mixed", "mixed-integer"})
"""What pandas' ``infer_dtype`` says of a column mixing text with numbers (or booleans)."""


class Impute(ColumnTransform):
    """Fill missing values, keeping numeric and non-numeric columns apart.

    One ``SimpleImputer`` over mixed columns would work on an object array and
    hand back numeric columns as ``object``, which later steps would no longer
    see as numeric; so numeric and categorical columns get an imputer each.
    The missing-value indicators come from one ``MissingIndicator`` (bool columns)
    that tolerates NaN at predict time in columns that had none in training.
    Imputed categorical columns come back as strings, not ``category``.
    """

    type_name = "impute"
    summary = "Fill missing values (median, mean, most frequent or a constant)"
    params_schema = _schema(
        {
            "strategy": {
                "enum": ["mean", "median", "most_frequent", "constant"],
                "default": "median",
                "description": "How to fill: mean/median need numeric columns.",
            },
            "fill_value": {
                "type": ["number", "string"],
                "description": "The value for strategy 'constant'; a number fills numeric "
                "columns, a string categorical ones. Default: 0 or 'missing_value'.",
            },
            "columns": _columns_property(
                "numeric columns for mean/median; numeric and categorical columns for "
                "most_frequent/constant (only those a fill_value fits)"
            ),
            "add_indicator": {
                "type": "boolean",
                "default": False,
                "description": "Also add a bool column 'missingindicator_<col>' per column "
                "that had missing values in training.",
            },
        }
    )

    def __init__(
        self,
        strategy: str = "median",
        fill_value: float | str | None = None,
        columns: Sequence[str] | None = None,
        add_indicator: bool = False,
    ) -> None:
        super().__init__(columns)
        self.strategy = strategy
        self.fill_value = fill_value
        self.add_indicator = add_indicator

    def default_columns(self, frame: pd.DataFrame) -> list[str]:
        return columns_with_role(frame, *self.allowed_roles())

    def allowed_roles(self) -> tuple[str, ...]:
        """The roles this strategy (and fill value) can fill."""
        if self.strategy in ("mean", "median"):
            return NUMERIC
        if self.strategy == "constant" and isinstance(self.fill_value, str):
            return CATEGORICAL
        if self.strategy == "constant" and self.fill_value is not None:
            return NUMERIC
        return IMPUTABLE

    def estimator(self, frame: pd.DataFrame, columns: list[str]) -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import MissingIndicator, SimpleImputer

        numeric = [name for name in columns if role_of(frame[name]) == "numeric"]
        others = [name for name in columns if name not in numeric]
        parts = [
            (group, SimpleImputer(strategy=self.strategy, fill_value=self.fill_value), names)
            for group, names in (("numeric", numeric), ("categorical", others))
            if names
        ]
        if self.add_indicator:
            parts.append(("indicator", MissingIndicator(error_on_new=False), columns))
        if len(parts) == 1:
            return parts[0][1]
        return ColumnTransformer(parts, verbose_feature_names_out=False)


SCALERS: dict[str, str] = {
    "standard": "StandardScaler",
    "minmax": "MinMaxScaler",
    "robust": "RobustScaler",
}


class Scale(ColumnTransform):
    """Rescale numeric columns, which linear models and distances are sensitive to."""

    type_name = "scale"
    summary = "Scale numeric columns (standard, min-max or robust)"
    default_roles = NUMERIC
    accepted_roles = NUMERIC
    params_schema = _schema(
        {
            "method": {
                "enum": list(SCALERS),
                "default": "standard",
                "description": "standard: zero mean, unit variance; minmax: to [0, 1]; "
                "robust: median and interquartile range, insensitive to outliers.",
            },
            "columns": _columns_property("every numeric column"),
        }
    )

    def __init__(self, method: str = "standard", columns: Sequence[str] | None = None) -> None:
        super().__init__(columns)
        self.method = method

    def estimator(self, frame: pd.DataFrame, columns: list[str]) -> Any:
        from sklearn import preprocessing

        return getattr(preprocessing, SCALERS[self.method])()


class OneHot(ColumnTransform):
    """One 0/1 column per category, for models that cannot take categories natively.

    Categories unseen in training encode as all zeros (or as the infrequent
    column when ``max_categories``/``min_frequency`` grouped rare ones), so new
    values at predict time never fail. Missing values get a column of their own.
    """

    type_name = "one_hot"
    summary = "One-hot encode categorical columns (unknown categories ignored)"
    default_roles = ("categorical", "boolean")
    params_schema = _schema(
        {
            "columns": _columns_property("every categorical and boolean column"),
            "max_categories": {
                "type": "integer",
                "minimum": 2,
                "maximum": 100_000,
                "description": "At most this many columns per feature; the rarest "
                "categories are grouped into one 'infrequent' column.",
            },
            "min_frequency": {
                "anyOf": [
                    {"type": "integer", "minimum": 1},
                    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                ],
                "description": "Categories seen fewer times (an integer) or in a smaller "
                "share of rows (a fraction) are grouped as 'infrequent'.",
            },
        }
    )

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        max_categories: int | None = None,
        min_frequency: float | None = None,
    ) -> None:
        super().__init__(columns)
        self.max_categories = max_categories
        self.min_frequency = min_frequency

    def estimator(self, frame: pd.DataFrame, columns: list[str]) -> Any:
        from sklearn.preprocessing import OneHotEncoder

        self.require_one_kind(frame, columns)
        return OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            sparse_output=False,
            max_categories=self.max_categories,
            min_frequency=self.min_frequency,
        )


class Ordinal(ColumnTransform):
    """Encode each category as a number, one column per feature.

    Without ``order`` a column's categories are numbered in sorted order, which is
    right for identifiers and wrong for ranked values: diamonds' ``cut`` sorts as
    Fair < Good < Ideal < Premium < Very Good. ``order`` gives the ranking per column,
    and a training value missing from it is a spec error (usually a typo in the
    spec), not a silent NaN.

    Unknown categories at predict time encode as NaN, like missing values: the
    model sees "no information" rather than a made-up lowest category (-1), and
    models that handle missing values treat both the same way.
    """

    type_name = "ordinal"
    summary = "Encode categories as numbers, in sorted or given order (unknown become NaN)"
    default_roles = CATEGORICAL
    params_schema = _schema(
        {
            "columns": _columns_property(
                "every categorical column, plus the columns named in order"
            ),
            "order": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {
                    "type": "array",
                    "items": {"type": ["string", "number", "boolean"]},
                    "minItems": 1,
                    "uniqueItems": True,
                },
                "description": "Per column, its categories from lowest to highest, "
                "e.g. {cut: [Fair, Good, Very Good, Premium, Ideal]}. Columns not named "
                "here are numbered in sorted order.",
            },
        }
    )

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        order: dict[str, Sequence[Any]] | None = None,
    ) -> None:
        super().__init__(columns)
        self.order = {name: list(values) for name, values in (order or {}).items()}

    def validate(self, ctx: StepContext) -> list[Finding]:
        """Orders scikit-learn cannot follow, found before any data is read."""
        findings = []
        for name, ranked in self.order.items():
            numbers = [v for v in ranked if not isinstance(v, str)]
            if numbers and len(numbers) < len(ranked):
                findings.append(
                    Finding(
                        f"order.{name} mixes numbers and text: a column holds one or the other",
                        key=f"order.{name}",
                        hint="quote the numbers if the column holds text ('1', '2')",
                    )
                )
            elif numbers and numbers != sorted(numbers):
                findings.append(_unsorted_numbers(name, numbers))
        return findings

    def select(self, frame: pd.DataFrame) -> list[str]:
        columns = super().select(frame)
        ordered = [name for name in self.order if name not in columns]
        if self.columns is not None and ordered:
            raise DataError(
                f"ordinal: order names {', '.join(map(repr, ordered))}, which 'columns' leaves out",
                column=ordered[0],
                hint="add them to columns, or remove them from order",
            )
        self.require_columns(frame, ordered, None)
        return columns + ordered

    def estimator(self, frame: pd.DataFrame, columns: list[str]) -> Any:
        import numpy as np
        from sklearn.preprocessing import OrdinalEncoder

        self.require_one_kind(frame, columns)
        for name in self.order:
            self._require_ranked(frame[name], name)
            ranked = self.order[name]
            if frame[name].dtype.kind in "biuf" and ranked != sorted(ranked):
                finding = _unsorted_numbers(name, ranked)
                raise DataError(finding.message, column=name, hint=finding.hint)
        categories = [self.order.get(name) for name in columns]
        return OrdinalEncoder(
            categories="auto" if not self.order else self._with_sorted(frame, columns, categories),
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
        )

    def _require_ranked(self, column: pd.Series, name: str) -> None:
        """Every value seen in training must have a rank: a missing one is a spec typo."""
        ranked = self.order[name]
        rank_set = set(ranked)  # a set: a long order times many values stays linear
        seen = column.dropna().unique().tolist()
        unranked = [value for value in seen if value not in rank_set]
        if unranked:
            example = str(unranked[0])
            raise DataError(
                f"ordinal: column '{name}' has values that order.{name} does not rank: "
                + ", ".join(repr(v) for v in unranked[:5])
                + (f" and {len(unranked) - 5} more" if len(unranked) > 5 else "")
                + did_you_mean(example, [str(v) for v in ranked]),
                column=name,
                hint=f"order.{name} ranks: " + ", ".join(map(repr, ranked)),
            )

    @staticmethod
    def _with_sorted(
        frame: pd.DataFrame, columns: list[str], categories: list[list[Any] | None]
    ) -> list[list[Any]]:
        """Explicit categories for every column: the given order, else the sorted values."""
        return [
            given if given is not None else sorted(frame[name].dropna().unique().tolist())
            for name, given in zip(columns, categories, strict=True)
        ]


def _unsorted_numbers(name: str, ranked: list[Any]) -> Finding:
    """An order that ranks numbers other than ascending: scikit-learn's OrdinalEncoder
    numbers a numeric column's categories in ascending order only (it looks them up
    by binary search), so such an order would fail at training."""
    shown = ", ".join(map(repr, ranked[:8])) + (", ..." if len(ranked) > 8 else "")
    return Finding(
        f"order.{name} ranks numbers out of ascending order ({shown}): a numeric "
        "column's categories are numbered in ascending order only",
        key=f"order.{name}",
        hint=f"list them ascending, or leave order.{name} out (the same), or encode the "
        "ranking in the data itself (a column of text like 'low', 'mid', 'high')",
    )


class Drop(ColumnTransform):
    """Remove columns (identifiers, leaks); ColumnTransformer's own "drop" stores safely."""

    type_name = "drop"
    summary = "Remove columns"
    params_schema = _schema({"columns": _columns_property(None)}, ["columns"])

    def __init__(self, columns: Sequence[str]) -> None:
        super().__init__(columns)

    def estimator(self, frame: pd.DataFrame, columns: list[str]) -> Any:
        return "drop"


TRANSFORMS: tuple[type[ColumnTransform], ...] = (Impute, Scale, OneHot, Ordinal, Drop)


@hookimpl
def specops_register_transforms(register: Register) -> None:
    """Register the built-in transforms."""
    for transform in TRANSFORMS:
        register(
            transform.type_name,
            transform,
            transform.params_schema,
            summary=transform.summary,
        )
