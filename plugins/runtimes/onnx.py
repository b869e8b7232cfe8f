"""The ``onnx`` runtime: the stored pipeline and model as one ONNX graph, run by ONNX Runtime.

``compile`` writes ``model.onnx`` (the graph: raw columns in, predictions out; see
:mod:`plugins.runtimes.onnx_build`) and ``onnx.json`` (its inputs and outputs, what the
scorer feeds). The graph is written node by node in float64 -- the transform's
arithmetic, the trees as ``TreeEnsemble`` with float64 thresholds, the link function --
rather than through skl2onnx/onnxmltools, whose tree converters work in float32 and
read LightGBM's missing values differently from LightGBM. So the runtime is held to
:data:`framework.EXACT`. The same graph is what ``specops models export --format onnx``
writes for serving elsewhere.

``load`` trusts no stored byte: it compiles the package again (its native model was
validated when the package loaded: LightGBM's text checked field by field, scikit-learn
through the skops trust list and the tree bounds checks) and refuses, before anything
parses them, stored files that are not exactly what that gives (:func:`checked_files`).
So whatever reaches ONNX Runtime's C++ parser and executor is a graph this specops
writes for this model, never one an attacker wrote (a graph allocating huge tensors per
request passes any check on a few rows). Then it opens an ``InferenceSession`` tuned for
a server answering one request at a time: one thread, sequential execution, no spinning.
A large batch (``specops predict``'s chunks) gets a second session with a thread per core.
"""

from __future__ import annotations

import json
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import EXACT, RawColumns, Register, RuntimeUnavailable, category_coder, hookimpl

if TYPE_CHECKING:
    import numpy as np

    from framework import ModelPackage, Predictions

SPECOPS_HOOK_API = ">=1.3,<2"

GRAPH_FILE = "model.onnx"
META_FILE = "onnx.json"
FORMAT = 1
MAX_GRAPH_BYTES = 256 * 1024 * 1024
"""The largest graph ``compile`` writes (the package check bounds a runtime's files alike)."""
SMALL = 8
"""Rows up to which categories are looked up in Python (cheaper than pandas for a request)."""
BATCH_ROWS = 4096
"""Rows from which a call goes to the batch session (every core) instead of the one-thread one."""
INSTALL = "pip install 'specops[onnx]'"


def _missing_library(modules: tuple[str, ...] = ("onnx", "onnxruntime")) -> str | None:
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: {INSTALL}"
    return None


class OnnxScorer:
    """Feeds raw columns to the session; categories become their keys on the way in."""

    def __init__(self, data: bytes, meta: dict[str, Any], package: ModelPackage) -> None:
        import numpy as np

        self.session = open_session(data, threads=1)
        self._data = data  # for the batch session, opened when a large batch first comes
        self._batch: Any = None
        self.outputs = list(meta["outputs"])
        self.labels = package.labels
        self.regression = package.task == "regression"
        self.numeric: list[str] = []
        self.categorical: list[tuple[str, Any, np.ndarray, set[str] | None, str]] = []
        categories = {c.name: c.categories for c in package.signature.columns}
        for spec in meta["inputs"]:
            if spec["type"] == "double":
                self.numeric.append(spec["name"])
                continue
            keys = np.asarray([*spec["keys"], spec["missing"]], dtype=object)
            text = set(spec["keys"]) if spec.get("text") else None
            coder = category_coder(list(categories[spec["name"]] or []))
            self.categorical.append((spec["name"], coder, keys, text, spec["missing"]))

    def predict(self, columns: RawColumns, rows: int) -> Predictions:
        import numpy as np

        from framework import Predictions

        feed: dict[str, np.ndarray] = {}
        for name in self.numeric:
            feed[name] = np.asarray(columns[name], dtype=np.float64).reshape(rows, 1)
        for name, coder, keys, text, missing in self.categorical:
            feed[name] = _keys(columns[name], rows, coder, keys, text, missing)
        results = self._session(rows).run(self.outputs, feed)
        if self.regression:
            return Predictions(results[0], None, None)
        return Predictions(results[0], self.labels, results[1])

    def _session(self, rows: int) -> Any:
        """One thread for requests (latency); every core for large batches (throughput:
        ONNX Runtime splits a batch's rows among threads, so each row's sum is the same)."""
        if rows < BATCH_ROWS:
            return self.session
        if self._batch is None:
            self._batch = open_session(self._data, threads=0)
        return self._batch


def _keys(
    values: np.ndarray,
    rows: int,
    coder: Any,
    keys: np.ndarray,
    text: set[str] | None,
    missing: str,
) -> np.ndarray:
    """``values`` as the graph's string input ``[rows, 1]``: the key of the training category
    each value is (compared as the native path compares it), else the missing key."""
    import numpy as np

    if text is not None and rows <= SMALL:
        out = np.empty((rows, 1), dtype=object)
        for i, value in enumerate(values):
            if value is None:
                out[i, 0] = missing
            elif type(value) is str:
                out[i, 0] = value if value in text else missing
            else:
                break
        else:
            return out
    import pandas as pd

    # all text (or missing): the graph's own lookup maps it, text it does not know to missing
    if text is not None and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return np.where(pd.isna(values), missing, values).astype(object).reshape(rows, 1)
    return keys[coder(values)].reshape(rows, 1)  # code -1 (missing, unseen) -> the last


class OnnxRuntime:
    """Compiles a package into one float64 ONNX graph and runs it with ONNX Runtime."""

    name = "onnx"
    tolerance = EXACT

    def why_not(self, package: ModelPackage) -> str | None:
        from plugins.runtimes.onnx_build import why_not_structure

        return _missing_library() or why_not_structure(package)

    def compile(self, package: ModelPackage, directory: Path) -> None:
        why = self.why_not(package)
        if why:
            raise RuntimeUnavailable(why)
        for name, data in compiled_files(package).items():
            (directory / name).write_bytes(data)

    def load(self, package: ModelPackage, directory: Path) -> OnnxScorer:
        why = _missing_library()
        if why:
            raise RuntimeUnavailable(why)
        files = checked_files(package, directory, "loaded")
        return OnnxScorer(files[GRAPH_FILE], json.loads(files[META_FILE]), package)

    def exported_graph(self, package: ModelPackage, directory: Path) -> bytes:
        """The stored graph for ``specops models export --format onnx``, only when it is
        exactly what this package compiles to (:func:`checked_files`; needs onnx, not
        onnxruntime); RuntimeUnavailable saying why not."""
        why = _missing_library(("onnx",))
        if why:
            raise RuntimeUnavailable(why)
        return checked_files(package, directory, "exported")[GRAPH_FILE]


SHOWN = "runtimes/onnx/"
"""How the package names this runtime's folder in messages."""
_COMPILED: weakref.WeakKeyDictionary[Any, tuple[Any, Any, dict[str, bytes]]] = (
    weakref.WeakKeyDictionary()
)
"""The files last compiled per package object (with the model and transform they came
from): registration compiles then loads, a server loads once per purpose; each compiles
the same bytes, so once is enough. Keyed weakly: a package dropped is forgotten."""
_COMPILED_LOCK = threading.Lock()


def compiled_files(package: ModelPackage) -> dict[str, bytes]:
    """``{file: bytes}`` that :meth:`OnnxRuntime.compile` writes for ``package``: the same
    bytes for the same model every time (names are counters, attributes sorted, no
    producer version or date), which is what lets :func:`checked_files` compare them.
    RuntimeUnavailable when the package does not compile."""
    from plugins.runtimes.onnx_build import build, why_not_structure
    from plugins.runtimes.onnx_graph import Unsupported

    model, transform = package.model, package.transform
    with _COMPILED_LOCK:
        known = _COMPILED.get(package)
    if known is not None and known[0] is model and known[1] is transform:
        return known[2]
    why = why_not_structure(package)  # cheap: refuses a model too large to build first
    if why:
        raise RuntimeUnavailable(why)
    try:
        built = build(package)
    except Unsupported as exc:
        raise RuntimeUnavailable(str(exc)) from None
    data = built.model.SerializeToString()
    if len(data) > MAX_GRAPH_BYTES:
        raise RuntimeUnavailable(
            f"the ONNX graph would be {len(data) / 1e6:.0f} MB, over the "
            f"{MAX_GRAPH_BYTES / 1e6:.0f} MB a runtime may store"
        )
    meta = {"format": FORMAT, "inputs": built.inputs, "outputs": built.outputs}
    files = {GRAPH_FILE: data, META_FILE: (json.dumps(meta, indent=1) + "\n").encode("utf-8")}
    with _COMPILED_LOCK:
        _COMPILED[package] = (model, transform, files)
    return files


def checked_files(package: ModelPackage, directory: Path, action: str) -> dict[str, bytes]:
    """The runtime's files in ``directory``, only when each is byte for byte what
    :func:`compiled_files` makes of ``package`` now; else RuntimeUnavailable naming the
    file and what differs ("not <action>"). Stored bytes are compared, never parsed: a
    crafted or damaged graph never reaches protobuf, onnx or ONNX Runtime. A version
    compiled by another specops (or onnx) whose builder wrote other bytes is refused
    alike: it serves natively, saying so, until it is registered again."""
    from plugins.runtimes.compiled_check import check_stored

    try:
        expected = compiled_files(package)
    except RuntimeUnavailable as exc:
        raise RuntimeUnavailable(
            f"{SHOWN}{GRAPH_FILE} cannot be checked: this model does not compile to ONNX "
            f"here ({exc}): not {action}"
        ) from None
    check_stored(directory, expected, SHOWN, action, "specops/onnx")
    return expected


def open_session(data: bytes, threads: int = 1) -> Any:
    """An InferenceSession with ``threads`` intra-op threads (0: ONNX Runtime's default,
    one per physical core): one for requests (a second costs more than it gains on a row,
    and the server has other work for the core), sequential execution, no busy-waiting,
    every graph optimisation, the CPU provider only."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


@hookimpl
def specops_register_runtimes(register: Register) -> None:
    register(
        "onnx",
        OnnxRuntime,
        summary="The pipeline and model as one float64 ONNX graph run by ONNX Runtime",
    )
