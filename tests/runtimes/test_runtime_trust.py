"""A stored runtime file is loaded only when it is exactly what this specops compiles from
the package's validated native model (the ``onnx`` runtime's graph, the ``numpy``
runtime's JSON): a graph replaced by another valid one serves natively and says why,
garbage never reaches ONNX Runtime, an untouched package serves with onnx, ``models
export --format onnx`` never hands out a graph the model does not compile to, and a
hand-written numpy file (a hundred million classes) serves natively instead of failing
the server's start.

Real trainings, real exported packages and stores, real servers on 127.0.0.1; nothing
is mocked."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnxruntime")

import numpy as np

import plugins.runtimes.numpy_runtime as numpy_runtime
import plugins.runtimes.onnx as onnx_runtime
from framework.package import ModelPackage
from framework.plugins import get_plugins
from framework.runtimes.base import RuntimeUnavailable
from framework.runtimes.choose import choose_runtime
from tests.helpers import stored_package
from tests.serving.conftest import make_frame, split_payload, start_server, train

REFUSED = (
    "runtimes/onnx/model.onnx is not what this model compiles to (edited, or written by "
    "another specops/onnx version): not loaded"
)
GRAPH = "runtimes/onnx/model.onnx"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``churn/1``: LightGBM on numbers and two text categories, ``serve.runtime: onnx``
    (verified at registration), exported by the directory target to ``pkg``."""
    root = tmp_path_factory.mktemp("trust")
    train(
        root,
        runtime="onnx",
        rows=400,
        extra=("--set", "deploy={type: directory, params: {path: pkg}}"),
    )
    assert (root / "pkg" / GRAPH).is_file()
    return root


def _rehash(directory: Path) -> None:
    """Rewrite ``release.json``'s hashes, as whoever edits an exported package would."""
    release = json.loads((directory / "release.json").read_text())
    release["files"] = {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name not in ("release.json", ".specops-deploy.json")
    }
    (directory / "release.json").write_text(json.dumps(release))


def _copy(trained: Path, tmp_path: Path, graph: bytes | None = None) -> Path:
    package = tmp_path / "pkg"
    shutil.copytree(trained / "pkg", package)
    if graph is not None:
        (package / GRAPH).write_bytes(graph)
        _rehash(package)
    return package


def _threshold_changed(graph: bytes) -> bytes:
    """Our own graph with one tree threshold moved: valid ONNX, another model."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_model_from_string(graph)
    node = next(n for n in model.graph.node if n.op_type == "TreeEnsemble")
    splits = next(a for a in node.attribute if a.name == "nodes_splits")
    values = numpy_helper.to_array(splits.t).copy()
    values[0] += 0.5
    splits.t.CopyFrom(numpy_helper.from_array(values, splits.t.name))
    edited = model.SerializeToString()
    onnx.checker.check_model(onnx.load_model_from_string(edited))
    return edited


def _another_models_graph(tmp_path: Path) -> bytes:
    """The graph this specops compiles for a different model (logistic regression)."""
    from tests.runtimes.trees_packages import table
    from tests.runtimes.trees_packages import train as train_package

    other, _ = train_package(
        tmp_path / "other", table(120), "binary", "logistic_regression", {}, (("scale", {}),)
    )
    return onnx_runtime.compiled_files(other)[onnx_runtime.GRAPH_FILE]


def _answers_like_native(server: Any, package: ModelPackage) -> dict[str, Any]:
    client = server.connect()
    try:
        status, version = client.get("/version")
        assert status == 200, version
        rows = make_frame(20, seed=9).drop(columns="target")
        payload = split_payload(rows)
        status, answer = client.post_json("/invocations", payload)
        assert status == 200, answer
    finally:
        client.close()
    import pandas as pd

    split = payload["dataframe_split"]  # the rows as sent (pandas writes 10 digits)
    native, _ = package.predict(pd.DataFrame(split["data"], columns=split["columns"], dtype=object))
    assert answer["predictions"] == native.values.tolist()
    np.testing.assert_allclose(answer["probabilities"], native.proba, rtol=0, atol=1e-9)
    return version


def test_an_untouched_package_and_version_serve_with_onnx(trained: Path) -> None:
    package = trained / "pkg"
    for args in (("--package", package), ("churn/1", "--store", trained / ".specops")):
        server = start_server(*args, "--no-request-log")
        try:
            version = _answers_like_native(server, ModelPackage(package, get_plugins()))
        finally:
            server.stop()
        assert version["runtime"] == "onnx", version
        assert "onnx" not in version["runtimes_not_used"]


@pytest.mark.parametrize("replacement", ["threshold-changed", "another-models-graph"])
def test_a_replaced_graph_serves_natively_and_says_why(
    trained: Path, tmp_path: Path, replacement: str
) -> None:
    original = (trained / "pkg" / GRAPH).read_bytes()
    graph = (
        _threshold_changed(original)
        if replacement == "threshold-changed"
        else _another_models_graph(tmp_path)
    )
    package = _copy(trained, tmp_path, graph)
    server = start_server("--package", package, "--no-request-log")
    try:
        version = _answers_like_native(server, ModelPackage(package, get_plugins()))
    finally:
        server.stop()
    assert version["runtime"] == "native", version
    why = version["runtimes_not_used"]["onnx"]
    assert why.startswith(f"verified, but failed to load here: {REFUSED} ("), why
    log = server.process.stderr.read() if server.process.stderr else ""
    assert "WARNING" in log and REFUSED in log, log[-2000:]


def test_garbage_never_reaches_onnxruntime(trained: Path, tmp_path: Path) -> None:
    """Bytes that are no graph at all, as long as the real one: refused by the comparison
    (which says where they differ), never by ONNX Runtime's parser (which would say it
    failed to parse a protobuf)."""
    import onnxruntime as ort

    original = (trained / "pkg" / GRAPH).read_bytes()
    garbage = bytes(b ^ 0xFF for b in original)
    with pytest.raises(Exception) as parsed:  # what ONNX Runtime says of these bytes
        ort.InferenceSession(garbage, providers=["CPUExecutionProvider"])
    parser_said = str(parsed.value)
    assert "protobuf" in parser_said.lower()

    package = ModelPackage(_copy(trained, tmp_path, garbage), get_plugins())
    chosen = choose_runtime(package, get_plugins(), "onnx")
    assert chosen.name == "native"
    why = chosen.reasons["onnx"]
    assert f"{REFUSED} (from byte 0 of {len(original):,})" in why, why
    assert "protobuf" not in why.lower()


def _edit_stored_graph(store: Path, graph: bytes, scratch: Path) -> None:
    """Put ``graph`` in the store as a blob and point churn/1's package at it: what someone
    with write access to the store (its blobs and database) can do."""
    from framework.store import Store

    (scratch / "edited.onnx").write_bytes(graph)
    opened = Store.open_existing(store)
    try:
        digest = opened.artifacts.put_file(scratch / "edited.onnx")
    finally:
        opened.close()
    with sqlite3.connect(store / "store.db") as db:
        (files,) = db.execute(
            "SELECT files_json FROM model_versions WHERE name = 'churn' AND version = 1"
        ).fetchone()
        files = json.loads(files)
        files[GRAPH] = digest
        db.execute(
            "UPDATE model_versions SET files_json = ? WHERE name = 'churn' AND version = 1",
            (json.dumps(files),),
        )


def test_export_refuses_an_edited_graph_and_serving_says_why(
    trained: Path, tmp_path: Path, cli: Any
) -> None:
    store = tmp_path / "store"
    shutil.copytree(trained / ".specops", store)
    original = (trained / "pkg" / GRAPH).read_bytes()
    target = tmp_path / "out" / "churn.onnx"
    done = cli("models", "export", "churn/1", "--format", "onnx", target, "--store", store)
    assert done.code == 0, done.err
    assert target.read_bytes() == original  # untouched: the stored graph, as it is

    _edit_stored_graph(store, _threshold_changed(original), tmp_path)
    target = tmp_path / "edited" / "churn.onnx"
    done = cli("models", "export", "churn/1", "--format", "onnx", target, "--store", store)
    assert done.code == 2, done.err
    assert (
        "churn/1: runtimes/onnx/model.onnx is not what this model compiles to (edited, or "
        "written by another specops/onnx version): not exported (from byte"
    ) in done.err
    assert "Traceback" not in done.err
    assert not target.parent.exists()  # nothing written, not even the folder

    chosen = choose_runtime(stored_package(store, "churn/1"), get_plugins(), "onnx")
    assert chosen.name == "native"
    assert REFUSED in chosen.reasons["onnx"]


DETERMINISM = """
import hashlib, json, sys
from pathlib import Path
from framework.package import ModelPackage
from framework.plugins import get_plugins
from plugins.runtimes import numpy_runtime, onnx

found = {}
for argument in sys.argv[1:]:
    runtime, folder = argument.split("=", 1)
    module = onnx if runtime == "onnx" else numpy_runtime
    files = module.compiled_files(ModelPackage(Path(folder), get_plugins()))
    found[argument] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
print(json.dumps(found))
"""


def test_compiled_files_are_the_same_bytes_every_time_and_in_every_process(
    trained: Path, numpy_trained: Path, tmp_path: Path
) -> None:
    """What the check relies on: compiling one model twice, after a store round trip, and
    in processes with other string hash seeds gives the same bytes (onnx: LightGBM with
    text categories, impute + one_hot + a forest; numpy: one_hot + scale + logistic)."""
    from tests.runtimes.trees_packages import table
    from tests.runtimes.trees_packages import train as train_package

    forest, _ = train_package(
        tmp_path / "forest",
        table(200),
        "binary",
        "random_forest",
        {"n_estimators": 8},
        (("impute", {"strategy": "most_frequent"}), ("one_hot", {})),
    )
    first = onnx_runtime.compiled_files(forest)
    fresh = ModelPackage(forest.directory, get_plugins())  # another object: compiled anew
    assert onnx_runtime.compiled_files(fresh) == first

    stored = stored_package(trained / ".specops", "churn/1")  # compiled at registration
    assert stored.runtime_files is not None
    kept = stored.runtime_files["onnx"]
    assert onnx_runtime.compiled_files(stored) == kept

    numpy_kept = stored_package(numpy_trained / ".specops", "churn/1").runtime_files
    assert numpy_kept is not None
    numpy_package = ModelPackage(numpy_trained / "pkg", get_plugins())
    assert numpy_runtime.compiled_files(numpy_package) == numpy_kept["numpy"]

    expected = {
        f"onnx={trained / 'pkg'}": kept,
        f"onnx={forest.directory}": first,
        f"numpy={numpy_trained / 'pkg'}": numpy_kept["numpy"],
    }
    repo = Path(__file__).resolve().parent.parent.parent
    for seed in ("0", "4242"):
        done = subprocess.run(
            [sys.executable, "-c", DETERMINISM, *expected],
            capture_output=True,
            text=True,
            cwd=repo,
            timeout=180,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        found = json.loads(done.stdout)
        for argument, files in expected.items():
            hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
            assert found[argument] == hashes, (seed, argument)


# --- the numpy runtime's JSON -------------------------------------------------------------


@pytest.fixture(scope="module")
def numpy_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``churn/1``: one_hot + scale + logistic regression, ``serve.runtime: numpy``,
    exported to ``pkg``."""
    root = tmp_path_factory.mktemp("numpy-trust")
    train(
        root,
        model="logistic_regression",
        params="{}",
        preprocess="preprocess: [{type: one_hot}, {type: scale}]\n",
        rows=300,
        runtime="numpy",
        extra=("--set", "deploy={type: directory, params: {path: pkg}}"),
    )
    assert (root / "pkg" / "runtimes" / "numpy" / "model.json").is_file()
    return root


def test_a_hand_written_numpy_file_serves_natively_and_says_why(
    numpy_trained: Path, tmp_path: Path
) -> None:
    """A hundred million classes in ``model.json``: every request allocated that many
    probabilities per row, and the server's start-up check ended in an internal error
    (exit 3). Now the file is not what the model compiles to: native serves."""
    package = tmp_path / "pkg"
    shutil.copytree(numpy_trained / "pkg", package)
    path = package / "runtimes" / "numpy" / "model.json"
    original = path.stat().st_size
    model = json.loads(path.read_text())
    model["n_classes"] = 100_000_000
    path.write_text(json.dumps(model, separators=(",", ":")))
    _rehash(package)
    server = start_server("--package", package, "--no-request-log")
    try:
        version = _answers_like_native(server, ModelPackage(package, get_plugins()))
    finally:
        server.stop()
    assert version["runtime"] == "native", version
    assert version["runtimes_not_used"]["numpy"] == (
        "verified, but failed to load here: runtimes/numpy/model.json is not what this model "
        "compiles to (edited, or written by another specops version): not loaded "
        f"({path.stat().st_size:,} bytes stored, {original:,} compiled)"
    )


def test_a_damaged_numpy_file_is_refused_before_it_is_parsed(
    numpy_trained: Path, tmp_path: Path
) -> None:
    package = ModelPackage(numpy_trained / "pkg", get_plugins())
    stored = numpy_trained / "pkg" / "runtimes" / "numpy"
    transform = (stored / "transform.json").read_bytes()
    assert b'"format":1' in transform
    for name, content in [
        ("transform.json", b"[1, 2"),
        (
            "transform.json",
            (stored / "transform.json").read_bytes().replace(b'"format":1', b'"format":9'),
        ),
        ("model.json", b""),
    ]:
        copy = tmp_path / f"copy-{len(content)}"
        shutil.copytree(stored, copy)
        (copy / name).write_bytes(content)
        with pytest.raises(RuntimeUnavailable, match=rf"runtimes/numpy/{name} is not what this"):
            numpy_runtime.NumpyRuntime().load(package, copy)
    (copy / "model.json").unlink()
    with pytest.raises(RuntimeUnavailable, match=r"model\.json .* \(the file is missing\)"):
        numpy_runtime.NumpyRuntime().load(package, copy)
