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

:class:`LightGBMScorer` is the matrix-building half, a runtime ``Scorer`` on raw
columns: the ``native`` runtime scores with it when it applies (registration measures
native's speed through it), and :class:`LightGBMFastPath` puts the request decoding of
:mod:`framework.serving.raw_columns` in front of it (one row read straight into the
matrix row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from framework.package import Predictions
from framework.serving.raw_columns import (
    BOOL_TYPES,
    LARGEST_EXACT_INT,
    NUMBER_TYPES,
    TEXT_TYPES,
    RequestColumns,
    as_list,
)

if TYPE_CHECKING:
    import numpy as np

    from framework.package import ModelPackage
    from framework.serving.batch import Batch

TASKS = ("binary", "multiclass", "regression")
NAN = float("nan")
SINGLE_THREAD_ROWS = 64
"""Batches up to this many rows are predicted with ``num_threads=1``: LightGBM starts
its OpenMP threads on every call, which for a few rows costs more than the trees, and
on a busy machine a thread waiting for a core makes the tail ~100x the median (p99
20-40 ms vs 0.13-6 ms for one row here). Same predictions either way; the setting is
per call (the next call is parallel again). Treelite's scorer does the same
(``SINGLE_THREAD_ROWS``)."""

__all__ = ["BOOL_TYPES", "NUMBER_TYPES", "TEXT_TYPES", "LightGBMFastPath", "LightGBMScorer"]


class LightGBMScorer:
    """Builds LightGBM's input matrix from raw columns, then predicts as the model does.

    A :class:`~framework.runtimes.base.Scorer`: the native runtime's fast form for a
    LightGBM model without preprocessing (nothing compiled, nothing stored).
    """

    def __init__(self, booster: Any, task: str, labels: list[Any] | None, plan: list[Any]) -> None:
        self.booster = booster
        self.task = task
        self.labels = labels
        self.plan = plan  # (column, {category: code} or None), in model feature order

    @classmethod
    def for_package(cls, package: ModelPackage) -> LightGBMScorer | None:
        """The scorer for this package, or None when only the pandas path is exact."""
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
                plan.append((name, {c: float(i) for i, c in enumerate(categories)}))
            elif column.role in ("numeric", "boolean"):
                plan.append((name, None))
            else:
                return None
        return cls(booster, package.task, package.labels, plan)

    def matrix(self, columns: Mapping[str, Any], rows: int) -> np.ndarray:
        """The float matrix LightGBM builds from these rows (categories as their codes;
        missing and unseen ones NaN)."""
        import numpy as np

        matrix = np.empty((rows, len(self.plan)), dtype=np.float64)
        for position, (name, codes) in enumerate(self.plan):
            if codes is None:
                matrix[:, position] = columns[name]
            else:
                values = as_list(columns[name])  # text or None: unseen and missing are NaN
                matrix[:, position] = np.array(list(map(codes.get, values)), dtype=np.float64)
        return matrix

    def predict(self, columns: Mapping[str, Any], rows: int) -> Predictions:
        """Predictions exactly as ``ModelPackage.predict`` makes them."""
        return self.from_matrix(self.matrix(columns, rows))

    def from_matrix(self, matrix: np.ndarray) -> Predictions:
        """Predictions from LightGBM's own input matrix (see :meth:`matrix`)."""
        import numpy as np

        if len(matrix) <= SINGLE_THREAD_ROWS:
            scores = self.booster.predict(matrix, num_threads=1)
        else:
            scores = self.booster.predict(matrix)
        if self.task == "regression":
            return Predictions(scores, None, None)
        proba = np.column_stack([1.0 - scores, scores]) if self.task == "binary" else scores
        return Predictions(proba.argmax(axis=1), self.labels, proba)


class LightGBMFastPath:
    """Request columns -> raw columns -> :class:`LightGBMScorer`, or None for the pandas path.

    One row (the usual online request) skips the per-column arrays: its values are read
    one by one, by the same rules as :mod:`framework.serving.raw_columns`, into the one
    matrix row LightGBM takes.
    """

    def __init__(
        self, scorer: LightGBMScorer, decoder: RequestColumns, roles: Mapping[str, str]
    ) -> None:
        self.scorer = scorer
        self.decoder = decoder
        self.row_plan = [(name, roles[name], codes) for name, codes in scorer.plan]

    @classmethod
    def for_package(cls, package: ModelPackage) -> LightGBMFastPath | None:
        """The fast path for this package, or None when only the pandas path is exact."""
        scorer = LightGBMScorer.for_package(package)
        if scorer is None:
            return None
        roles = {column.name: column.role for column in package.signature.columns}
        return cls(scorer, RequestColumns(package.signature), roles)

    def predict(self, batch: Batch) -> Predictions | None:
        """Predictions exactly as ``ModelPackage.predict`` makes them, or None to use pandas."""
        if batch.rows == 1 and batch.frame is None:
            row = self.one_row(batch.columns)
            if row is not None:
                import numpy as np

                return self.scorer.from_matrix(np.array([row], dtype=np.float64))
        columns = self.decoder.decode(batch, objects=False)
        if columns is None:
            return None
        return self.scorer.predict(columns, batch.rows)

    def one_row(self, columns: Mapping[str, Any]) -> list[float] | None:
        """The matrix row of a one-row batch of plain lists, or None (arrays, or a value
        only the column decoders or the pandas path read)."""
        row: list[float] = []
        append = row.append
        for name, role, codes in self.row_plan:
            values = columns[name]
            if type(values) is not list and type(values) is not tuple:
                return None
            value = values[0]
            kind = type(value)
            if value is None:
                append(NAN)
            elif codes is not None:
                if kind is not str:
                    return None
                append(codes.get(value, NAN))
            elif kind is float or kind is bool:
                if role == "boolean" and value == value and value not in (0.0, 1.0):
                    return None
                append(float(value))
            elif kind is int:
                if abs(value) >= LARGEST_EXACT_INT or (role == "boolean" and value not in (0, 1)):
                    return None
                append(float(value))
            else:
                return None
        return row
