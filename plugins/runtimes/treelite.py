"""The ``treelite`` runtime: tree ensembles compiled to C with Treelite and TL2cgen.

Compiling stores data only: ``trees.tl`` (Treelite's checkpoint of the trees: split
features, thresholds, category lists, leaf values), and the NumPy transform and model
order in JSON (:mod:`plugins.runtimes.numpy_runtime`). The shared library is built
where the model is *loaded*, never stored: TL2cgen turns the checkpoint into C, gcc
compiles it, and the library goes into a cache this runtime owns
(:mod:`plugins.runtimes.treelite_cache`), keyed by the stored files' hash, so a model
is compiled once per machine (or once in a container image's builder stage, see
``specops runtimes prepare PACKAGE_DIR``, which calls :meth:`TreeliteRuntime.prepare`).

Models: ``lightgbm`` (numeric and categorical splits, missing values as LightGBM sends
them), ``random_forest`` and ``extra_trees`` (scikit-learn; missing values go where
each node's ``missing_go_to_left`` says). Both compute in float64 with float64
thresholds and leaves; scikit-learn's trees compare float32 features, so their inputs
are rounded to float32 first, exactly as scikit-learn's own predict does. Hence the
``EXACT`` tolerance.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import EXACT, RawColumns, Register, RuntimeUnavailable, StoreError, hookimpl
from plugins.runtimes.numpy_runtime import (
    MAX_FILE_BYTES,
    ModelMatrix,
    compile_model,
    compile_transform_for,
    output_order,
    read_json,
    write_json,
)

if TYPE_CHECKING:
    from framework.package import ModelPackage, Predictions

SPECOPS_HOOK_API = ">=1.3,<2"

TREES_FILE = "trees.tl"
TRANSFORM_FILE = "transform.json"
MODEL_FILE = "model.json"
FILES = (TREES_FILE, TRANSFORM_FILE, MODEL_FILE)
MODELS = frozenset({"lightgbm", "random_forest", "extra_trees"})
SKLEARN = frozenset({"random_forest", "extra_trees"})
SINGLE_THREAD_ROWS = 2_000
"""Batches up to this size are scored on the calling thread: starting worker threads
costs more than they save (a served single row, a small request)."""


def missing_libraries() -> str | None:
    """Why treelite cannot be used here for want of its Python packages, or None."""
    for module in ("treelite", "tl2cgen"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: pip install 'specops[treelite]'"
    return None


def compile_trees(package: ModelPackage) -> bytes:
    """Treelite's checkpoint of the package's trees."""
    model_type = package.metadata["model_type"]
    if model_type == "lightgbm":
        import treelite

        model = treelite.frontend.from_lightgbm(package.model._booster)
    else:
        import treelite.sklearn

        model = treelite.sklearn.import_model(package.model.estimator)
    return bytes(model.serialize_bytes())


class TreeliteScorer:
    """The NumPy transform's matrix, scored by the compiled library's predictor."""

    def __init__(
        self, package: ModelPackage, transform: dict[str, Any], model: dict[str, Any], library: Path
    ) -> None:
        import numpy as np
        import tl2cgen

        self.tl2cgen = tl2cgen
        self.task = package.task
        self.labels = package.labels
        self.float32 = bool(model.get("float32_inputs"))
        self.classes = np.asarray(model.get("classes", []), dtype=np.intp)
        self.n_classes = int(model.get("n_classes", 0))
        self.lightgbm = model["kind"] == "lightgbm"
        self.matrix = ModelMatrix(transform, model)
        self.single = tl2cgen.Predictor(str(library), nthread=1)
        self.parallel = tl2cgen.Predictor(str(library), nthread=_cores())
        if self.single.num_feature != len(model["order"]):
            raise StoreError(
                f"the compiled trees take {self.single.num_feature} features, the transform "
                f"gives {len(model['order'])}"
            )

    def predict(self, columns: RawColumns, rows: int) -> Predictions:
        import numpy as np

        from framework.package import Predictions

        X = self.matrix(columns, rows)
        if self.float32:  # scikit-learn's trees compare float32 features
            X = X.astype(np.float32).astype(np.float64)
        predictor = self.single if rows <= SINGLE_THREAD_ROWS else self.parallel
        out = predictor.predict(self.tl2cgen.DMatrix(X, dtype="float64"))
        out = out.reshape(rows, -1)
        if self.task == "regression":
            return Predictions(out[:, 0].copy(), None, None)
        if self.lightgbm:
            proba = np.column_stack([1.0 - out[:, 0], out[:, 0]]) if self.task == "binary" else out
        else:
            proba = np.zeros((rows, self.n_classes))
            proba[:, self.classes] = out
        return Predictions(proba.argmax(axis=1), self.labels, proba)


class TreeliteRuntime:
    """Trees compiled to a shared library (built locally, cached), transform in NumPy."""

    name = "treelite"
    tolerance = EXACT

    def why_not(self, package: ModelPackage) -> str | None:
        from plugins.runtimes.treelite_cache import compiler

        model_type = package.metadata.get("model_type")
        if model_type not in MODELS:
            does = ", ".join(sorted(MODELS))
            return f"{model_type} is not a tree model it compiles (it does {does})"
        missing = missing_libraries()
        if missing:
            return missing
        if compiler() is None:
            return "no C compiler here (gcc or cc): TL2cgen builds the trees with one"
        return None

    def compile(self, package: ModelPackage, directory: Path) -> None:
        reason = self.why_not(package)
        if reason:
            raise RuntimeUnavailable(reason)
        transform = compile_transform_for(package)
        if package.metadata["model_type"] == "lightgbm":
            model = compile_model(package, transform)
        else:
            model = _sklearn_model(package, transform)
        (directory / TREES_FILE).write_bytes(compile_trees(package))
        write_json(directory / TRANSFORM_FILE, transform)
        write_json(directory / MODEL_FILE, model)

    def prepare(self, package: ModelPackage, directory: Path) -> str:
        """Build the library into the local cache (a container's builder stage): the
        path of the library."""
        return str(self._library(package, directory)[2])

    def load(self, package: ModelPackage, directory: Path) -> TreeliteScorer:
        transform, model, library = self._library(package, directory)
        return TreeliteScorer(package, transform, model, library)

    def _library(
        self, package: ModelPackage, directory: Path
    ) -> tuple[dict[str, Any], dict[str, Any], Path]:
        from plugins.runtimes.treelite_cache import library_for

        model_type = package.metadata.get("model_type")
        if model_type not in MODELS:
            raise RuntimeUnavailable(f"{model_type} is not a tree model it compiles")
        missing = missing_libraries()
        if missing:
            raise RuntimeUnavailable(missing)
        contents = {name: _read_bounded(directory / name) for name in FILES}
        transform = read_json(directory / TRANSFORM_FILE)
        model = read_json(directory / MODEL_FILE)
        return transform, model, library_for(contents)


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _sklearn_model(package: ModelPackage, transform: dict[str, Any]) -> dict[str, Any]:
    """Column order and classes of a scikit-learn forest (its inputs rounded to float32)."""
    estimator = package.model.estimator
    features = [str(n) for n in getattr(estimator, "feature_names_in_", [])]
    if not features:
        raise RuntimeUnavailable("the model records no feature names to order its columns by")
    slots = transform["slots"]
    order = output_order(slots, features)
    if any(slots[i]["kind"] == "cat" for i in order):
        raise RuntimeUnavailable("a categorical column reaches the forest unencoded")
    data: dict[str, Any] = {
        "kind": "sklearn_forest",
        "task": package.task,
        "order": order,
        "float32_inputs": True,
    }
    if package.task != "regression":
        data["classes"] = [int(c) for c in estimator.classes_]
        data["n_classes"] = int(package.model.n_classes)
    return data


def _read_bounded(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise StoreError(f"{path} is {size} bytes, more than a runtime file may be")
        return path.read_bytes()
    except OSError as exc:
        raise StoreError(f"{path} is not a readable runtime file: {exc}") from exc


@hookimpl
def specops_register_runtimes(register: Register) -> None:
    register(
        "treelite",
        TreeliteRuntime,
        summary="Tree ensembles (LightGBM, random forest, extra trees) compiled to C with "
        "Treelite/TL2cgen, built once per machine into a local cache (exact)",
    )
