"""Scoring a LightGBM model straight from request columns, without building a DataFrame.

For a LightGBM model with no preprocessing, ``ModelPackage.predict`` builds a
DataFrame, conforms it to the signature (categoricals fixed to the training
categories) and LightGBM turns that into a float matrix whose categorical
columns hold each value's position in the training categories (missing or
unseen: NaN). Doing the same directly costs about 20 µs for one row instead of
about 5 ms, which is what makes single-row serving sub-millisecond.

Correctness comes first: the fast path only takes values whose meaning is
unambiguous — numbers, booleans (as 1/0) or null in numeric columns, strings
(or null) in categorical ones, booleans (or 0/1) in boolean ones — and returns
None for anything else (a number sent as a string, a nested list), which sends
the request down the pandas path. That path gives
the answer the rest of specops gives, or the error that names the bad value.
Tests compare both paths row for row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from framework.package import Predictions

if TYPE_CHECKING:
    import numpy as np

    from framework.package import ModelPackage
    from framework.serving.batch import Batch

NONE = type(None)
NUMBER_TYPES = frozenset({int, float, NONE})
TEXT_TYPES = frozenset({str, NONE})
BOOL_TYPES = frozenset({bool, NONE})
LARGEST_EXACT_INT = 2.0**63
"""Beyond int64 pandas keeps Python ints as objects: leave those to the pandas path."""

TASKS = ("binary", "multiclass", "regression")


class LightGBMFastPath:
    """Builds LightGBM's input matrix from a batch's columns, then predicts as the model does."""

    def __init__(self, booster: Any, task: str, labels: list[Any] | None, plan: list[Any]) -> None:
        self.booster = booster
        self.task = task
        self.labels = labels
        self.plan = plan  # (column, role, {category: code} or None), in model feature order

    @classmethod
    def for_package(cls, package: ModelPackage) -> LightGBMFastPath | None:
        """The fast path for this package, or None when only the pandas path is exact."""
        if package.transform is not None or package.metadata.get("model_type") != "lightgbm":
            return None
        if package.task not in TASKS:
            return None
        model = package.model
        booster = getattr(model, "_booster", None)
        features = list(getattr(model, "features", None) or [])
        by_name = {column.name: column for column in package.signature.columns}
        if booster is None or sorted(features) != sorted(by_name):
            return None
        training_categories = list(getattr(booster, "pandas_categorical", None) or [])
        categorical = [name for name in features if by_name[name].role == "categorical"]
        if len(categorical) != len(training_categories):
            return None
        categories_of = dict(zip(categorical, training_categories, strict=True))
        plan: list[Any] = []
        for name in features:
            column = by_name[name]
            if column.role == "categorical":
                categories = list(categories_of[name])
                if not all(isinstance(c, str) for c in categories):
                    return None
                if set(categories) != set(column.categories or []):
                    return None
                plan.append((name, "categorical", {c: float(i) for i, c in enumerate(categories)}))
            elif column.role in ("numeric", "boolean"):
                plan.append((name, column.role, None))
            else:
                return None
        return cls(booster, package.task, package.labels, plan)

    def matrix(self, batch: Batch) -> np.ndarray | None:
        """The float matrix LightGBM would build from this batch, or None to use pandas."""
        import numpy as np

        matrix = np.empty((batch.rows, len(self.plan)), dtype=np.float64)
        for position, (name, role, codes) in enumerate(self.plan):
            values = batch.columns[name]
            if role == "numeric":
                column = _numbers(values)
            elif role == "boolean":
                column = _booleans(values)
            else:
                column = _categories(values, codes)
            if column is None:
                return None
            matrix[:, position] = column
            if role != "categorical":
                batch.arrays[name] = column  # for the request log, which converts it off this path
        return matrix

    def predict(self, batch: Batch) -> Predictions | None:
        """Predictions exactly as ``ModelPackage.predict`` makes them, or None to use pandas."""
        import numpy as np

        matrix = self.matrix(batch)
        if matrix is None:
            return None
        scores = self.booster.predict(matrix)
        if self.task == "regression":
            return Predictions(scores, None, None)
        proba = np.column_stack([1.0 - scores, scores]) if self.task == "binary" else scores
        return Predictions(proba.argmax(axis=1), self.labels, proba)


def _as_list(values: Sequence[Any]) -> Sequence[Any]:
    return values.tolist() if hasattr(values, "tolist") else values


def _numbers(values: Sequence[Any]) -> Any:
    import numpy as np

    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind in ("f", "i", "u"):
        return values
    if kind == "b":  # a binary BOOL tensor
        return values.astype("float64")
    values = _as_list(values)
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


def _booleans(values: Sequence[Any]) -> Any:
    import numpy as np

    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind == "b":
        return values
    values = _as_list(values)
    kinds = set(map(type, values))
    if kinds <= BOOL_TYPES:
        return np.array([None if v is None else float(v) for v in values], dtype=np.float64)
    column = _numbers(values)
    if column is None:
        return None
    present = column[~np.isnan(column)]
    return column if np.isin(present, (0.0, 1.0)).all() else None


def _categories(values: Sequence[Any], codes: dict[str, float]) -> Any:
    import numpy as np

    values = _as_list(values)
    if not set(map(type, values)) <= TEXT_TYPES:
        return None
    return np.array(list(map(codes.get, values)), dtype=np.float64)
