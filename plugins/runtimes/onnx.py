"""The ``onnx`` runtime: the stored pipeline and model as one ONNX graph, run by ONNX Runtime.

``compile`` writes ``model.onnx`` (the graph: raw columns in, predictions out; see
:mod:`plugins.runtimes.onnx_build`) and ``onnx.json`` (its inputs and outputs, what the
scorer feeds). The graph is written node by node in float64 -- the transform's
arithmetic, the trees as ``TreeEnsemble`` with float64 thresholds, the link function --
rather than through skl2onnx/onnxmltools, whose tree converters work in float32 and
read LightGBM's missing values differently from LightGBM. So the runtime is held to
:data:`framework.EXACT`. The same graph is what ``specops models export --format onnx``
writes for serving elsewhere.

``load`` reads the graph with a size bound, refuses one that names external data or an
operator domain it did not write, and opens an ``InferenceSession`` tuned for a server
answering one request at a time: one thread, sequential execution, no spinning. A large
batch (``specops predict``'s chunks) gets a second session with a thread per core.
"""

from __future__ import annotations

import json
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
"""The largest graph ``load`` parses (the package check bounds a runtime's files alike)."""
MAX_META_BYTES = 64 * 1024 * 1024
DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
"""Operator domains the graph may use: ONNX's own. Anything else needs a custom op library."""
SMALL = 8
"""Rows up to which categories are looked up in Python (cheaper than pandas for a request)."""
BATCH_ROWS = 4096
"""Rows from which a call goes to the batch session (every core) instead of the one-thread one."""
INSTALL = "pip install 'specops[onnx]'"


def _missing_library() -> str | None:
    import importlib.util

    for module in ("onnx", "onnxruntime"):
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
        from plugins.runtimes.onnx_build import build
        from plugins.runtimes.onnx_graph import Unsupported

        why = self.why_not(package)
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
        (directory / GRAPH_FILE).write_bytes(data)
        meta = {"format": FORMAT, "inputs": built.inputs, "outputs": built.outputs}
        (directory / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")

    def load(self, package: ModelPackage, directory: Path) -> OnnxScorer:
        why = _missing_library()
        if why:
            raise RuntimeUnavailable(why)
        meta = _read_meta(directory / META_FILE)
        data = read_graph(directory / GRAPH_FILE)
        return OnnxScorer(data, meta, package)


def _read_meta(path: Path) -> dict[str, Any]:
    raw = _bounded(path, MAX_META_BYTES)
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{path.name} is not JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path.name} is not an onnx runtime description this specops reads")
    return meta


def _bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, refused before reading when it is larger than ``limit``."""
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"{path.name} is {size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB bound")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path.name} grew past the {limit / 1e6:.0f} MB bound while read")
    return data


def read_graph(path: Path) -> bytes:
    """A stored graph's bytes, checked before any runtime sees them: bounded in size, no
    external data (a path to read from), no operator domain beyond ONNX's own."""
    data = _bounded(path, MAX_GRAPH_BYTES)
    check_graph(data, path.name)
    return data


def check_graph(data: bytes, shown: str) -> None:
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ValueError(f"{shown} is not an ONNX model: {exc}") from None
    domains = {opset.domain for opset in model.opset_import}
    domains |= {node.domain for node in model.graph.node}
    foreign = sorted(domains - DOMAINS)
    if foreign:
        raise ValueError(f"{shown} uses operator domain {foreign[0]!r}, which specops never writes")
    if model.functions:
        raise ValueError(f"{shown} defines functions, which specops never writes")
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            raise ValueError(f"{shown} points at external data, which specops never writes")
    for node in model.graph.node:
        if any(attr.g.node or attr.graphs for attr in node.attribute):
            raise ValueError(f"{shown} has subgraphs, which specops never writes")
        if any(attr.t.data_location == onnx.TensorProto.EXTERNAL for attr in node.attribute):
            raise ValueError(f"{shown} points at external data, which specops never writes")


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
