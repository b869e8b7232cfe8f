"""The ``treelite`` runtime: tree ensembles compiled to C with Treelite and TL2cgen.

Compiling stores data only: ``trees.tl`` (Treelite's checkpoint of the trees: split
features, thresholds, category lists, leaf values), and the NumPy transform and model
order in JSON (:mod:`plugins.runtimes.numpy_runtime`). Nothing native is built at
registration: right after :meth:`TreeliteRuntime.compile`, the same instance's ``load``
scores with Treelite's own interpreter (GTIL), so verification proves that the trees
are the model's and registration needs no compiler and no compile time.

The shared library is built where the model is *loaded* to serve or score, never stored:
TL2cgen turns the checkpoint into C, gcc compiles it, and the library goes into a cache
this runtime owns (:mod:`plugins.runtimes.treelite_cache`), keyed by the stored files'
hash, so a model is compiled once per machine (or once in a container image's builder
stage: ``specops runtimes prepare PACKAGE_DIR`` calls :meth:`TreeliteRuntime.prepare`).
The stored checkpoint is never deserialized where the model loads (a crafted package
could hold any bytes there): the trees are imported again from the package's own model,
validated before it loads, and the stored bytes must be exactly theirs, else the runtime
does not load and the version serves with the next one. A library is used only after it
sums the trees exactly as the interpreter does on rows made from the trees' own
thresholds (each side of every split, each category, missing); where it is built it is
timed beside native (:mod:`plugins.runtimes.treelite_measure`), which is what ``auto``
ranks it by there.
Both forms return the raw sums; the link (LightGBM's sigmoid or softmax) is applied here
in NumPy as LightGBM applies it, so the verified numbers and the served ones are the same
arithmetic.

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
from plugins.runtimes.compiled_check import check_stored
from plugins.runtimes.numpy_runtime import (
    MAX_FILE_BYTES,
    ModelMatrix,
    compile_model,
    compile_transform_for,
    json_bytes,
    output_order,
    read_json,
)

if TYPE_CHECKING:
    import numpy as np

    from framework import ModelPackage, Predictions

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


def trees_of(package: ModelPackage) -> Any:
    """The package's trees as Treelite's model, imported from the package's own (already
    validated) model: the only way this runtime makes one."""
    model_type = package.metadata["model_type"]
    if model_type == "lightgbm":
        import treelite

        return treelite.frontend.from_lightgbm(package.model._booster)
    import treelite.sklearn

    return treelite.sklearn.import_model(package.model.estimator)


def compiled_json(package: ModelPackage) -> dict[str, bytes]:
    """``{file: bytes}`` of the transform and the model tables compile writes beside the
    trees (the same bytes every time for the same model)."""
    transform = compile_transform_for(package)
    if package.metadata["model_type"] == "lightgbm":
        model = compile_model(package, transform)
    else:
        model = _sklearn_model(package, transform)
    return {TRANSFORM_FILE: json_bytes(transform), MODEL_FILE: json_bytes(model)}


def compile_trees(package: ModelPackage) -> bytes:
    """Treelite's checkpoint of the package's trees (the same bytes every time)."""
    return bytes(trees_of(package).serialize_bytes())


NOT_THE_TREES = (
    f"runtimes/treelite/{TREES_FILE} is not what this model's trees compile to (edited, or "
    "written by another Treelite version): not loaded"
)


class CompiledTrees:
    """The library TL2cgen built. A few rows call its ``predict`` function directly, one
    row at a time (TL2cgen's Predictor costs more per call, in Python and C, than one
    row's trees); up to :data:`SINGLE_THREAD_ROWS` rows go through a one-thread
    Predictor, larger batches through one with a thread per core.

    The direct call hands the function exactly what TL2cgen's own batch loop hands it:
    one ``union Entry`` per feature, the value as a double, a missing value (NaN) as
    ``missing = -1`` in the union's first four bytes, and a zeroed output the trees add
    their leaves to (checked against the interpreter on every load, with the batch
    path, by :func:`check_library`). TL2cgen documents a Predictor as usable by one
    thread at a time, so each is behind a lock; the direct call keeps no state."""

    def __init__(self, library: Path, features: int) -> None:
        import threading

        import tl2cgen
        from tl2cgen.exception import TL2cgenError

        self.tl2cgen = tl2cgen
        self.single = tl2cgen.Predictor(str(library), nthread=1)
        try:
            self.parallel = tl2cgen.Predictor(str(library), nthread=_cores())
        except TL2cgenError:  # OpenMP in this process allows fewer threads (LightGBM set it)
            self.parallel = self.single
        if self.single.num_feature != features:
            raise StoreError(
                f"the compiled trees take {self.single.num_feature} features, the transform "
                f"gives {features}"
            )
        self.locks = {id(self.single): threading.Lock(), id(self.parallel): threading.Lock()}
        self.features = features
        self.width = int(self.single.num_target) * int(max(self.single.num_class, default=1))
        self.direct = _direct_function(library, self.single)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        rows = len(X)
        if self.direct is not None and rows <= DIRECT_ROWS:
            return self.by_row(X)
        predictor = self.single if rows <= SINGLE_THREAD_ROWS else self.parallel
        matrix = self.tl2cgen.DMatrix(X, dtype="float64")
        with self.locks[id(predictor)]:
            return predictor.predict(matrix, pred_margin=True)

    def by_row(self, X: np.ndarray) -> np.ndarray:
        """The library's ``predict`` called once per row (see the class)."""
        import numpy as np

        entries = np.array(X, dtype=np.float64, order="C", copy=True)
        if entries.ndim != 2 or entries.shape[1] != self.features:  # C reads that many
            raise ValueError(f"rows of {self.features} features expected, not {entries.shape}")
        missing = np.isnan(entries)
        if missing.any():  # the int ``missing`` member: the first 4 bytes of each entry
            entries.view(np.int32).reshape(len(entries), -1)[:, 0::2][missing] = -1
        out = np.zeros((len(entries), self.width))
        data, result = entries.ctypes.data, out.ctypes.data
        step_in, step_out = self.features * 8, self.width * 8
        for row in range(len(entries)):
            self.direct(data + row * step_in, 1, result + row * step_out)
        return out


DIRECT_ROWS = 8
"""Batches up to this size call the library's ``predict`` per row (:meth:`CompiledTrees.by_row`)."""


def _direct_function(library: Path, predictor: Any) -> Any:
    """The library's ``void predict(union Entry*, int pred_margin, double* result)``, or
    None when its types are not the float64 ones this module calls it with."""
    import ctypes

    if (predictor.threshold_type, predictor.leaf_output_type) != ("float64", "float64"):
        return None
    try:
        function = ctypes.CDLL(str(library)).predict
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
    function.restype = None
    return function


class InterpretedTrees:
    """Treelite's own interpreter (GTIL) on the same checkpoint: no compiler needed. What
    registration verifies (the conversion of the model to Treelite's trees), and what a
    compiled library is checked against when it loads."""

    def __init__(self, model: Any) -> None:
        import treelite.gtil

        self.gtil = treelite.gtil
        self.model = model
        self.cores = _cores()

    def __call__(self, X: np.ndarray) -> np.ndarray:
        from treelite.core import TreeliteError

        threads = 1 if len(X) <= SINGLE_THREAD_ROWS else self.cores
        try:
            return self.gtil.predict(self.model, X, nthread=threads, pred_margin=True)
        except TreeliteError:  # OpenMP in this process allows fewer threads (LightGBM set it)
            if threads == 1:
                raise
            return self.gtil.predict(self.model, X, nthread=1, pred_margin=True)


class TreeliteScorer:
    """The NumPy transform's matrix, scored by the trees (compiled, or interpreted)."""

    def __init__(
        self,
        package: ModelPackage,
        transform: dict[str, Any],
        model: dict[str, Any],
        trees: CompiledTrees | InterpretedTrees,
    ) -> None:
        import numpy as np

        self.task = package.task
        self.labels = package.labels
        self.float32 = bool(model.get("float32_inputs"))
        self.classes = np.asarray(model.get("classes", []), dtype=np.intp)
        self.n_classes = int(model.get("n_classes", 0))
        self.lightgbm = model["kind"] == "lightgbm"
        self.matrix = ModelMatrix(transform, model)
        self.trees = trees
        self.compiled = isinstance(trees, CompiledTrees)

    def predict(self, columns: RawColumns, rows: int) -> Predictions:
        import numpy as np

        from framework import Predictions

        X = self.matrix(columns, rows)
        if self.float32:  # scikit-learn's trees compare float32 features
            X = X.astype(np.float32).astype(np.float64)
        out = self.trees(X).reshape(rows, -1)  # raw sums: both forms agree on them exactly
        if self.task == "regression":
            return Predictions(out[:, 0].copy(), None, None)
        if self.lightgbm and self.task == "binary":  # LightGBM's sigmoid: 1 / (1 + e^-x)
            proba = np.empty((rows, 2))
            positive = proba[:, 1]
            np.negative(out[:, 0], out=positive)
            np.exp(positive, out=positive)
            positive += 1.0
            np.divide(1.0, positive, out=positive)
            np.subtract(1.0, positive, out=proba[:, 0])
        elif self.lightgbm:  # LightGBM's softmax: shifted by the row's largest score
            proba = np.exp(out - out.max(axis=1, keepdims=True))
            proba /= proba.sum(axis=1, keepdims=True)
        else:  # forests average probabilities: no transformation
            proba = np.zeros((rows, self.n_classes))
            proba[:, self.classes] = out
        return Predictions(proba.argmax(axis=1), self.labels, proba)


CHECK_ROWS = 512
"""Rows a freshly loaded library is checked on against Treelite's interpreter."""


def split_values(model: Any, features: int) -> list[np.ndarray]:
    """Per feature, the values its splits turn on: each threshold and the next float
    either side of it, its categories (and one past them), and missing (NaN last)."""
    import numpy as np

    pools: list[set[float]] = [{np.nan} for _ in range(features)]
    for index in range(model.num_tree):
        tree = model.get_tree_accessor(index)
        kinds = tree.get_field("node_type")
        split = tree.get_field("split_index")
        threshold = tree.get_field("threshold")
        categories = tree.get_field("category_list")
        for node in np.flatnonzero((kinds == 1) & np.isfinite(threshold)):
            value = float(threshold[node])
            pools[int(split[node])].update(
                (value, float(np.nextafter(value, -np.inf)), float(np.nextafter(value, np.inf)))
            )
        if len(categories):
            top = int(categories.max()) + 2
            for node in np.flatnonzero(kinds == 2):
                pools[int(split[node])].update(float(c) for c in range(top))
    return [np.asarray(sorted(pool, key=lambda v: (np.isnan(v), v))) for pool in pools]


def check_rows(model: Any, features: int, *, float32: bool, seed: int = 0) -> np.ndarray:
    """Rows that exercise the trees' own decisions: each feature's values drawn from
    :func:`split_values`; rounded to float32 for a model that only ever sees float32
    values (scikit-learn's trees), as its scorer rounds them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    choices = split_values(model, features)
    rows = np.column_stack([rng.choice(values, CHECK_ROWS) for values in choices])
    return rows.astype(np.float32).astype(np.float64) if float32 else rows


def check_library(
    compiled: CompiledTrees, interpreted: InterpretedTrees, model: Any, *, float32: bool
) -> int:
    """The library sums the trees as the interpreter does (the form registration
    verified) on :func:`check_rows`; a RuntimeError when not. Returns the rows checked."""
    import numpy as np

    X = check_rows(model, compiled.single.num_feature, float32=float32)
    expected = interpreted(X).reshape(len(X), -1)
    paths = [("", compiled(X))]  # TL2cgen's Predictor (more rows than DIRECT_ROWS)
    if compiled.direct is not None:
        paths.append((" called row by row", compiled.by_row(X)))
    for how, found in paths:
        got = found.reshape(len(X), -1)
        worst = float(np.max(np.abs(got - expected))) if got.size else 0.0
        if got.shape != expected.shape or not worst <= EXACT.proba:
            raise RuntimeError(
                f"the compiled trees{how} disagree with Treelite's interpreter (by {worst:g}) "
                "on rows made from their own thresholds"
            )
    return len(X)


class TreeliteRuntime:
    """Trees compiled to a shared library (built locally, cached), transform in NumPy."""

    name = "treelite"
    tolerance = EXACT
    measurement_note = (
        "timed with Treelite's interpreter at registration (no compiler needed there); "
        "the compiled library, built where it serves, is faster"
    )

    def __init__(self) -> None:
        self._compiled_here: Path | None = None
        """The directory this instance just compiled into: its ``load`` is registration's
        verification, which checks the conversion with the interpreter (no compiler)."""

    def why_not(self, package: ModelPackage) -> str | None:
        model_type = package.metadata.get("model_type")
        if model_type not in MODELS:
            does = ", ".join(sorted(MODELS))
            return f"{model_type} is not a tree model it compiles (it does {does})"
        return missing_libraries()

    def compile(self, package: ModelPackage, directory: Path) -> None:
        """Write the trees (Treelite's checkpoint) and the transform: data, no compiling."""
        reason = self.why_not(package)
        if reason:
            raise RuntimeUnavailable(reason)
        (directory / TREES_FILE).write_bytes(compile_trees(package))
        for name, data in compiled_json(package).items():
            (directory / name).write_bytes(data)
        self._compiled_here = directory.resolve()

    def prepare(self, package: ModelPackage, directory: Path) -> str:
        """Build the library into the local cache (a container's builder stage, or before
        a server starts), check it, and time it beside native (what ``auto`` ranks it
        by here): where it is, how long the build took, how fast it is."""
        from plugins.runtimes.treelite_cache import build_record, library_for

        contents, transform, model, trees = self._read(package, directory)
        library = library_for(contents)
        compiled = CompiledTrees(library, trees.num_feature)
        float32 = bool(model.get("float32_inputs"))
        rows = check_library(compiled, InterpretedTrees(trees), trees, float32=float32)
        scorer = TreeliteScorer(package, transform, model, compiled)
        speed = _measure(package, scorer, trees, library)
        seconds = build_record(library).get("seconds")
        took = f", built in {seconds} s" if seconds is not None else ""
        return f"{library} (checked on {rows} rows{took}; {speed})"

    def ready(self, package: ModelPackage, directory: Path) -> bool:
        """Whether :meth:`load` finds the library already built in this machine's cache
        (``specops runtimes prepare``, a container's builder stage, an earlier load):
        ``auto`` never makes a server or ``predict`` wait for gcc."""
        from plugins.runtimes.treelite_cache import cached_library

        if missing_libraries():
            return False
        contents = {name: _read_bounded(directory / name) for name in FILES}
        return cached_library(contents) is not None

    def measured(self, package: ModelPackage, directory: Path) -> dict[str, Any] | None:
        """How fast the library already built here scored, beside native, when it was
        built or prepared (:mod:`plugins.runtimes.treelite_measure`): ``auto`` ranks the
        runtime by this rather than by registration's interpreter. None when the library
        is not built here or was never timed. Cheap: a hash and a small JSON file."""
        from plugins.runtimes.treelite_cache import cached_library, read_measurement
        from plugins.runtimes.treelite_measure import valid

        if missing_libraries() or package.metadata.get("model_type") not in MODELS:
            return None
        contents = {name: _read_bounded(directory / name) for name in FILES}
        library = cached_library(contents)
        return None if library is None else valid(read_measurement(library))

    def load(self, package: ModelPackage, directory: Path) -> TreeliteScorer:
        """The compiled library from the cache, built first when it is not there (a
        compiler needed), checked against the interpreter, and timed beside native when
        it never was here. Right after :meth:`compile` (registration) nothing is built:
        the interpreter scores, which verifies that the trees are the model's; the
        library is built where the model serves."""
        from plugins.runtimes.treelite_cache import cached_library, library_for, read_measurement
        from plugins.runtimes.treelite_measure import valid

        contents, transform, model, trees = self._read(package, directory)
        interpreted = InterpretedTrees(trees)
        library = cached_library(contents)
        if library is None and self._compiled_here == directory.resolve():
            return TreeliteScorer(package, transform, model, interpreted)
        if library is None:
            library = library_for(contents)
        compiled = CompiledTrees(library, len(model["order"]))
        check_library(compiled, interpreted, trees, float32=bool(model.get("float32_inputs")))
        scorer = TreeliteScorer(package, transform, model, compiled)
        if valid(read_measurement(library)) is None:  # built now, or before timing existed
            _measure(package, scorer, trees, library)
        return scorer

    def _read(
        self, package: ModelPackage, directory: Path
    ) -> tuple[dict[str, bytes], dict[str, Any], dict[str, Any], Any]:
        model_type = package.metadata.get("model_type")
        if model_type not in MODELS:
            raise RuntimeUnavailable(f"{model_type} is not a tree model it compiles")
        missing = missing_libraries()
        if missing:
            raise RuntimeUnavailable(missing)
        # the JSON files are read only when they are exactly what this model compiles
        # to: a hand-made one could ask for any size of table (see compiled_check)
        check_stored(directory, compiled_json(package), "runtimes/treelite/", "loaded", "specops")
        contents = {name: _read_bounded(directory / name) for name in FILES}
        transform = read_json(directory / TRANSFORM_FILE)
        model = read_json(directory / MODEL_FILE)
        # the stored checkpoint is never handed to Treelite's deserializer (nor to the
        # build, which compiles these bytes): the trees are imported again from the
        # package's own model, and the stored bytes must be exactly theirs
        trees = trees_of(package)
        if bytes(trees.serialize_bytes()) != contents[TREES_FILE]:
            raise RuntimeUnavailable(NOT_THE_TREES)
        if trees.num_feature != len(model["order"]):
            raise StoreError(
                f"the trees take {trees.num_feature} features, the transform gives "
                f"{len(model['order'])}"
            )
        return contents, transform, model, trees


def _measure(package: ModelPackage, scorer: TreeliteScorer, trees: Any, library: Path) -> str:
    """Time ``scorer`` (the built library) beside native and keep the numbers beside the
    library; what was found, in a phrase. A failure to measure never fails a load."""
    from plugins.runtimes.treelite_cache import record_measurement
    from plugins.runtimes.treelite_measure import (
        MEASURE_ROWS,
        describe,
        measure_beside_native,
        measurement_columns,
    )

    matrix = scorer.matrix
    values = split_values(trees, len(matrix.order))
    pools = {matrix.names[int(slot)]: values[index] for index, slot in enumerate(matrix.order)}
    try:
        columns = measurement_columns(package, pools, MEASURE_ROWS)
        measured = measure_beside_native(package, scorer, columns, MEASURE_ROWS)
    except Exception as exc:  # the library is checked; only its speed stays unknown
        return f"not timed: {type(exc).__name__}: {exc}"[:300]
    kept = record_measurement(library, measured)
    return describe(measured) + ("" if kept else " (not kept: the cache is not writable)")


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count),
    at most what ``OMP_NUM_THREADS`` allows: TL2cgen refuses more threads than OpenMP's."""
    import os

    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return min(cores, int(limit)) if limit.isdigit() and int(limit) > 0 else cores


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
