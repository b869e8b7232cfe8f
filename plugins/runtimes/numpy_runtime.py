"""The ``numpy`` runtime: the preprocessing pipeline and linear models as plain NumPy.

Compiling writes two JSON files of numbers (never code): ``transform.json``, what the
fitted scikit-learn transform learned (see :mod:`plugins.runtimes.numpy_transform`),
and ``model.json``, a linear model's coefficients or, for LightGBM, how each
categorical column's values map to the codes LightGBM was trained on. A scorer
evaluates them with a few vectorised NumPy operations per step, which is what makes a
single row cost tens of microseconds instead of a pandas pipeline's milliseconds.

Models: ``logistic_regression`` (sigmoid for two classes, softmax for more, as
scikit-learn computes them), ``linear_regression`` and ``ridge`` from ``coef_`` and
``intercept_``; ``lightgbm`` through its own booster's ``predict`` on the matrix (the
booster is the package's, already loaded; its categorical columns are given as their
training-category codes, as LightGBM's pandas reader gives them). Every other model
type is refused by :meth:`NumpyRuntime.why_not`.

``load`` trusts no stored byte: it compiles the package again (a few milliseconds: its
model was validated when the package loaded) and refuses stored files that are not
exactly that (:func:`plugins.runtimes.compiled_check.check_stored`). A hand-written
``model.json`` could otherwise claim a hundred million classes (every request then
allocated that many probabilities per row, and a server's start-up check failed with an
internal error) or a one-hot block a million columns wide, from a file of a few bytes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import EXACT, DataError, RawColumns, Register, RuntimeUnavailable, hookimpl

if TYPE_CHECKING:
    import numpy as np

    from framework import ModelPackage, Predictions

SPECOPS_HOOK_API = ">=1.3,<2"

TRANSFORM_FILE = "transform.json"
MODEL_FILE = "model.json"
MAX_FILE_BYTES = 64 * 1024 * 1024
"""What a loader reads of a runtime JSON file at most (a package's files are
hash-checked, but a bound keeps a damaged or foreign one from costing memory)."""

SINGLE_THREAD_ROWS = 64
"""LightGBM batches up to this many rows are predicted with ``num_threads=1``: OpenMP's
start-up on every call costs more than a few rows' trees, and on a busy machine makes
the tail ~100x the median. Same predictions; per call only (as the fast path's and
treelite's ``SINGLE_THREAD_ROWS``)."""

LINEAR = frozenset({"logistic_regression", "linear_regression", "ridge"})
MODELS = LINEAR | {"lightgbm"}


def read_json(path: Path) -> dict[str, Any]:
    """A runtime's JSON file, bounded in size; a clear error when it is not one."""
    from framework import StoreError

    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise StoreError(f"{path} is {size} bytes, more than a runtime file may be")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path} is not a readable runtime file: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreError(f"{path} is not a runtime file (not a JSON object)")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_bytes(json_bytes(data))


def json_bytes(data: dict[str, Any]) -> bytes:
    """A runtime JSON file's bytes: compact, ASCII, the same bytes for the same data.
    allow_nan: Python's json reads back NaN and infinities exactly as it writes them."""
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def compile_transform_for(package: ModelPackage) -> dict[str, Any]:
    """The package's transform as data, or RuntimeUnavailable saying what is not supported."""
    from plugins.runtimes.numpy_transform import TransformUnsupported, compile_transform

    try:
        return compile_transform(package.transform, package.signature)
    except TransformUnsupported as exc:
        raise RuntimeUnavailable(f"the transform holds {exc}") from exc


def output_order(slots: list[dict[str, Any]], features: list[str]) -> list[int]:
    """Positions of the model's features among the transform's output slots."""
    names = [slot["name"] for slot in slots]
    if sorted(names) != sorted(features) or len(set(names)) != len(names):
        raise RuntimeUnavailable(
            "the transform's output columns are not the model's features "
            f"({len(names)} against {len(features)})"
        )
    position = {name: i for i, name in enumerate(names)}
    return [position[name] for name in features]


def lightgbm_tables(
    slots: list[dict[str, Any]], order: list[int], model: Any
) -> list[list[float | None] | None]:
    """Per model feature: None for a number, else a table from the slot's value codes to
    the code LightGBM was trained with (None: missing). LightGBM's pandas reader takes the
    category columns in frame order and matches them to ``pandas_categorical`` (of the
    model, or of a booster) in turn."""
    from plugins.runtimes.numpy_transform import category_table

    trained = list(getattr(model, "pandas_categorical", None) or [])
    categorical = [slots[i] for i in order if slots[i]["kind"] == "cat"]
    if len(categorical) != len(trained):
        raise RuntimeUnavailable(
            f"{len(categorical)} categorical columns reach LightGBM, which was trained "
            f"with {len(trained)}"
        )
    tables: list[list[float | None] | None] = []
    k = 0
    for i in order:
        slot = slots[i]
        if slot["kind"] != "cat":
            tables.append(None)
            continue
        tables.append(category_table(slot["vocab"], list(trained[k])))
        k += 1
    return tables


def compile_model(package: ModelPackage, transform: dict[str, Any]) -> dict[str, Any]:
    """The model part: coefficients (linear) or category tables (LightGBM)."""
    import numpy as np

    model_type = package.metadata["model_type"]
    slots = transform["slots"]
    if model_type == "lightgbm":
        # the model's own pandas_categorical: read from its text, no booster built
        order = output_order(slots, list(package.model.features))
        return {
            "kind": "lightgbm",
            "task": package.task,
            "order": order,
            "tables": lightgbm_tables(slots, order, package.model),
        }
    estimator = package.model.estimator
    features = [str(n) for n in getattr(estimator, "feature_names_in_", [])]
    if not features:
        raise RuntimeUnavailable("the model records no feature names to order its columns by")
    order = output_order(slots, features)
    if any(slots[i]["kind"] == "cat" for i in order):
        raise RuntimeUnavailable("a categorical column reaches a linear model unencoded")
    coef = np.asarray(estimator.coef_, dtype="float64")
    intercept = np.atleast_1d(np.asarray(estimator.intercept_, dtype="float64"))
    data: dict[str, Any] = {
        "kind": "linear",
        "task": package.task,
        "order": order,
        "coef": coef.tolist(),
        "intercept": intercept.tolist(),
    }
    if package.task != "regression":
        data["classes"] = [int(c) for c in estimator.classes_]
        data["n_classes"] = int(package.model.n_classes)
    return data


class ModelMatrix:
    """Raw columns -> the matrix the model is given: the compiled transform's output in
    the model's column order, LightGBM's categorical columns as its training codes."""

    def __init__(self, transform: dict[str, Any], model: dict[str, Any]) -> None:
        import numpy as np

        from plugins.runtimes.numpy_transform import NumpyTransform

        self.transform = NumpyTransform(transform)
        self.names = list(self.transform.names)
        self.order = np.asarray(model["order"], dtype=np.intp)
        self.tables = [
            None
            if table is None
            else np.asarray([np.nan if v is None else v for v in table] + [np.nan])
            for table in model.get("tables") or []
        ]
        self.categorical = [i for i, t in enumerate(self.tables) if t is not None]
        self.in_order = bool(np.array_equal(self.order, np.arange(len(self.names))))
        self._one_row = self._row_plan()
        self._np = np

    def _row_plan(self) -> list[tuple[str, bool, Any, Any, list[float] | None]] | None:
        """Per model column, where one row's value comes from, when the transform has no
        steps (a model given the raw columns: LightGBM's usual case); None otherwise."""
        if self.transform.steps:
            return None
        plan = []
        for position, source in enumerate(self.order.tolist()):
            name, categorical, lookup, coder = self.transform.inputs[source]
            table = self.tables[position] if position < len(self.tables) else None
            plan.append(
                (name, categorical, lookup, coder, None if table is None else table.tolist())
            )
        return plan

    def __call__(self, columns: RawColumns, rows: int) -> np.ndarray:
        import numpy as np

        if rows == 1 and self._one_row is not None:
            return self._row(columns)
        X = self.transform.matrix(columns, rows)
        if not self.in_order:
            X = X[:, self.order]
        for i in self.categorical:
            table = self.tables[i]
            codes = X[:, i]
            index = np.where(np.isnan(codes), len(table) - 1, codes).astype(np.intp)
            X[:, i] = table[index]
        return X

    def _row(self, columns: RawColumns) -> np.ndarray:
        """One row built as a Python list and made an array once: the same values as the
        column-wise path (its codes and tables), at a third of its cost for one row,
        where numpy's per-call overhead is most of the time."""
        from plugins.runtimes.numpy_transform import category_codes

        nan = math.nan
        row: list[float] = []
        for name, categorical, lookup, coder, table in self._one_row or ():
            values = columns[name]
            if not categorical:
                row.append(values[0])
                continue
            value = values[0]
            if lookup is not None and type(value) in lookup[1]:
                code = lookup[0].get(value, nan)
            else:
                code = float(category_codes(values, lookup, coder)[0])
            if table is not None:
                code = table[-1 if code != code else int(code)]
            row.append(code)
        return self._np.array([row], dtype="float64")


class NumpyScorer:
    """Raw columns -> transform matrix -> the model's arithmetic, all in NumPy."""

    def __init__(self, package: ModelPackage, transform: dict[str, Any], model: dict[str, Any]):
        import numpy as np

        self.matrix = ModelMatrix(transform, model)
        self.task = package.task
        self.labels = package.labels
        self.names = self.matrix.names
        self.order = self.matrix.order
        self.kind = model["kind"]
        if self.kind == "lightgbm":
            self.booster = package.model._booster
        elif self.kind == "linear":
            from scipy.special import expit

            self.expit = expit
            coef = np.asarray(model["coef"], dtype="float64")
            self.coef_t = coef.T if coef.ndim == 2 else coef
            self.intercept = np.asarray(model["intercept"], dtype="float64")
            if coef.ndim == 1:
                self.intercept = self.intercept.reshape(())
            self.classes = np.asarray(model.get("classes", []), dtype=np.intp)
            self.n_classes = int(model.get("n_classes", 0))
            self.all_classes = bool(np.array_equal(self.classes, np.arange(self.n_classes)))
        else:
            raise ValueError(f"unknown numpy model kind {self.kind!r}")

    def predict(self, columns: RawColumns, rows: int) -> Predictions:
        X = self.matrix(columns, rows)
        if self.kind == "lightgbm":
            return self._lightgbm(X)
        return self._linear(X)

    def _lightgbm(self, X: np.ndarray) -> Predictions:
        import numpy as np

        from framework import Predictions

        if len(X) <= SINGLE_THREAD_ROWS:
            scores = self.booster.predict(X, num_threads=1)
        else:
            scores = self.booster.predict(X)
        if self.task == "regression":
            return Predictions(scores, None, None)
        proba = np.column_stack([1.0 - scores, scores]) if self.task == "binary" else scores
        return Predictions(proba.argmax(axis=1), self.labels, proba)

    def _linear(self, X: np.ndarray) -> Predictions:
        import numpy as np

        from framework import Predictions

        if np.isnan(X).any():
            column = self.names[self.order[np.isnan(X).any(axis=0).argmax()]]
            raise DataError(
                f"column '{column}' is missing in a row, and this linear model was trained "
                "without a way to fill it (its transform imputes no such column)",
                column=column,
            )
        scores = X @ self.coef_t + self.intercept
        if self.task == "regression":
            return Predictions(scores, None, None)
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        if scores.ndim == 1:  # two classes: sigmoid, as scikit-learn's _predict_proba_lr
            positive = self.expit(scores)
            seen = np.empty((len(positive), 2))
            seen[:, 0] = 1 - positive
            seen[:, 1] = positive
        else:  # softmax, as sklearn.utils.extmath.softmax
            scores = scores - scores.max(axis=1).reshape(-1, 1)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=1).reshape(-1, 1)
            seen = scores
        if self.all_classes:
            proba = seen
        else:  # a class absent from training: its column stays zero
            proba = np.zeros((len(seen), self.n_classes))
            proba[:, self.classes] = seen
        return Predictions(proba.argmax(axis=1), self.labels, proba)


class NumpyRuntime:
    """Preprocessing and linear models in NumPy; LightGBM's booster behind the NumPy transform."""

    name = "numpy"
    tolerance = EXACT

    def why_not(self, package: ModelPackage) -> str | None:
        model_type = package.metadata.get("model_type")
        if model_type not in MODELS:
            return f"{model_type} is not a model it compiles (it does {', '.join(sorted(MODELS))})"
        return None

    def compile(self, package: ModelPackage, directory: Path) -> None:
        reason = self.why_not(package)
        if reason:
            raise RuntimeUnavailable(reason)
        for name, data in compiled_files(package).items():
            (directory / name).write_bytes(data)

    def load(self, package: ModelPackage, directory: Path) -> NumpyScorer:
        from plugins.runtimes.compiled_check import check_stored

        reason = self.why_not(package)
        if reason:
            raise RuntimeUnavailable(reason)
        try:
            expected = compiled_files(package)
        except RuntimeUnavailable as exc:
            raise RuntimeUnavailable(
                f"{SHOWN}{TRANSFORM_FILE} cannot be checked: this model does not compile to "
                f"NumPy here ({exc}): not loaded"
            ) from None
        check_stored(directory, expected, SHOWN, "loaded", "specops")
        transform = json.loads(expected[TRANSFORM_FILE])
        model = json.loads(expected[MODEL_FILE])
        return NumpyScorer(package, transform, model)


SHOWN = "runtimes/numpy/"
"""How the package names this runtime's folder in messages."""


def compiled_files(package: ModelPackage) -> dict[str, bytes]:
    """``{file: bytes}`` that :meth:`NumpyRuntime.compile` writes for ``package`` (the same
    bytes every time for the same model); RuntimeUnavailable when it does not compile."""
    transform = compile_transform_for(package)
    model = compile_model(package, transform)
    return {TRANSFORM_FILE: json_bytes(transform), MODEL_FILE: json_bytes(model)}


@hookimpl
def specops_register_runtimes(register: Register) -> None:
    register(
        "numpy",
        NumpyRuntime,
        summary="Preprocessing and linear models as NumPy arithmetic; LightGBM's booster "
        "on the NumPy-transformed matrix (exact)",
    )
