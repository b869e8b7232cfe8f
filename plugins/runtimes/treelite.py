"""The ``treelite`` runtime: tree ensembles imported by Treelite, compiled to C by specops.

Compiling stores data only: ``trees.tl`` (Treelite's checkpoint of the trees: split
features, thresholds, category lists, leaf values), and the NumPy transform and model
order in JSON (:mod:`plugins.runtimes.numpy_runtime`). Nothing native is built at
registration: right after :meth:`TreeliteRuntime.compile`, the same instance's ``load``
scores with Treelite's own interpreter (GTIL), so verification proves that the trees
are the model's and registration needs no compiler and no compile time.

The shared library is built where the model is *loaded* to serve or score, never stored:
specops' generator (:mod:`plugins.runtimes.trees_c`: rows in blocks, each tree's code
hot for a whole block; faster than TL2cgen's one-row-at-a-time code, with the same sums)
turns the checkpoint into C, gcc compiles it, and the library goes into a cache
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
    """Why treelite cannot be used here for want of its Python package, or None (TL2cgen
    is not needed: specops writes the C itself)."""
    if importlib.util.find_spec("treelite") is None:
        return "treelite is not installed: pip install 'specops[treelite]'"
    return None


def trees_of(package: ModelPackage) -> Any:
    """The package's trees as Treelite's model, imported from the package's own (already
    validated) model: the only way this runtime makes one."""
    model_type = package.metadata["model_type"]
    if model_type == "lightgbm":
        from plugins.runtimes.lightgbm_text import lightgbm_trees

        return lightgbm_trees(package)
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
    """The library built from specops' C for the trees (:mod:`plugins.runtimes.trees_c`),
    called through ctypes: one function that scores any number of rows and keeps no
    state. ctypes lets go of the GIL during the call, so a big batch is split across
    :func:`_cores` Python threads, each scoring its own rows into its own part of the
    output; up to :data:`SINGLE_THREAD_ROWS` rows are scored on the calling thread (a
    served row, a small request: a thread costs more than it saves there).

    A library is loaded only when it says it was written by this generator version (the
    ABI called here) and reads as many features as the transform gives."""

    def __init__(self, library: Path, features: int) -> None:
        import ctypes

        from plugins.runtimes.trees_c import GENERATOR_VERSION

        try:
            loaded = ctypes.CDLL(str(library))
            version, reads, writes = (
                loaded.specops_trees_version,
                loaded.specops_trees_features,
                loaded.specops_trees_outputs,
            )
            function = loaded.specops_trees_predict
        except (OSError, AttributeError) as exc:
            raise RuntimeUnavailable(
                f"{library} is not a library of specops' compiled trees: {exc}"
            ) from exc
        for getter in (version, reads, writes):
            getter.argtypes, getter.restype = (), ctypes.c_int32
        if version() != GENERATOR_VERSION:
            raise RuntimeUnavailable(
                f"{library} was built by trees generator version {version()}, this specops "
                f"writes version {GENERATOR_VERSION}: not loaded"
            )
        if reads() != features:
            raise StoreError(
                f"the compiled trees take {reads()} features, the transform gives {features}"
            )
        function.argtypes = (ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)
        function.restype = None
        self.function = function
        self.features = features
        self.width = int(writes())
        from plugins.runtimes.treelite_cache import usable_cores

        self.cores = usable_cores()

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if len(X) > SINGLE_THREAD_ROWS:
            return self.split(X, self.cores)
        import numpy as np  # a served row: the fewest Python steps around one C call

        rows = np.ascontiguousarray(X, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.features:  # C reads that many
            raise ValueError(f"rows of {self.features} features expected, not {rows.shape}")
        out = np.empty((len(rows), self.width))
        self.function(rows.ctypes.data, len(rows), out.ctypes.data)
        return out

    def split(self, X: np.ndarray, threads: int) -> np.ndarray:
        """Raw sums of ``X``'s rows, scored by ``threads`` threads (this one among them),
        each on a contiguous share of the rows."""
        import itertools
        import threading

        import numpy as np

        rows = np.ascontiguousarray(X, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.features:  # C reads that many
            raise ValueError(f"rows of {self.features} features expected, not {rows.shape}")
        out = np.empty((len(rows), self.width))
        bounds = np.linspace(0, len(rows), max(1, threads) + 1).astype(np.int64).tolist()
        data, result = rows.ctypes.data, out.ctypes.data
        step_in, step_out = self.features * 8, self.width * 8
        shares = [
            (data + start * step_in, stop - start, result + start * step_out)
            for start, stop in itertools.pairwise(bounds)
            if stop > start
        ]
        workers = [threading.Thread(target=self.function, args=share) for share in shares[1:]]
        for worker in workers:
            worker.start()
        if shares:
            self.function(*shares[0])
        for worker in workers:
            worker.join()
        return out


class InterpretedTrees:
    """Treelite's own interpreter (GTIL) on the same checkpoint: no compiler needed. What
    registration verifies (the conversion of the model to Treelite's trees), and what a
    compiled library is checked against when it loads."""

    def __init__(self, model: Any) -> None:
        import treelite.gtil

        self.gtil = treelite.gtil
        self.model = model
        from plugins.runtimes.treelite_cache import usable_cores

        self.cores = usable_cores()

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
ONE_BY_ONE = 32
"""Of those, rows also checked one call each (a served row's path)."""


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
    verified) on :func:`check_rows`, bit for bit: in one call, split across threads, and
    one row per call; a RuntimeError when not. Returns the rows checked."""
    import numpy as np

    X = check_rows(model, compiled.features, float32=float32)
    expected = interpreted(X).reshape(len(X), -1)
    ones = [compiled.split(X[row : row + 1], 1) for row in range(ONE_BY_ONE)]
    paths = [
        ("", compiled.split(X, 1)),
        (" split across threads", compiled.split(X, max(2, compiled.cores))),
        (" called row by row", np.concatenate([*ones, compiled.split(X[ONE_BY_ONE:], 1)])),
    ]
    for how, got in paths:
        if got.shape != expected.shape:
            raise RuntimeError(
                f"the compiled trees{how} give {got.shape[1:]} sums per row, Treelite's "
                f"interpreter {expected.shape[1:]}"
            )
        if not np.array_equal(got, expected, equal_nan=True):
            worst = float(np.nanmax(np.abs(got - expected)))
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
        from plugins.runtimes.treelite_cache import build_record

        contents, transform, model, trees = self._read(package, directory)
        library = _library(contents, trees)
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
        from plugins.runtimes.treelite_cache import cached_library, read_measurement
        from plugins.runtimes.treelite_measure import valid

        contents, transform, model, trees = self._read(package, directory)
        interpreted = InterpretedTrees(trees)
        library = cached_library(contents)
        if library is None and self._compiled_here == directory.resolve():
            return TreeliteScorer(package, transform, model, interpreted)
        if library is None:
            library = _library(contents, trees)
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


def _library(contents: dict[str, bytes], trees: Any) -> Path:
    """The library for these stored files from the cache, else built, unless the trees
    are more than the generator compiles (said before any build starts)."""
    from plugins.runtimes.treelite_cache import cached_library, library_for
    from plugins.runtimes.trees_c import refusal

    found = cached_library(contents)
    if found is not None:
        return found
    reason = refusal(trees)
    if reason:
        raise RuntimeUnavailable(f"its trees are not compiled: {reason}")
    return library_for(contents)


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
        summary="Tree ensembles (LightGBM, random forest, extra trees) imported by Treelite "
        "and compiled to C by specops, built once per machine into a local cache (exact)",
    )
