"""Crafted model files: every way we know for a skops archive to run code is refused at load.

Each file is built by hand (or by editing what ``skops.dumps`` writes) the way an
attacker would, with a payload that creates a marker file if it ever runs: at load,
or when the loaded object transforms a frame (what ``serve`` does at warm-up). Each
must be refused with a StoreError that names what was refused, and the marker must
not exist afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import operator
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import StoreError, load_skops

POPEN_REEXPORT = ("numpy.distutils.fcompiler.gnu", "Popen")
"""``subprocess.Popen``, reachable under a trusted library's name."""


# --- building archives by hand -------------------------------------------------------


def dumped(obj: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """What skops writes for ``obj``: its schema and its other entries."""
    import skops.io as sio

    with zipfile.ZipFile(io.BytesIO(sio.dumps(obj))) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(entries.pop("schema.json")), entries


def write_archive(path: Path, schema: dict[str, Any], entries: dict[str, bytes] | None = None):
    """A skops file holding ``schema`` (given the current protocol) and ``entries``."""
    from skops.io._protocol import PROTOCOL

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", json.dumps({**schema, "protocol": PROTOCOL}))
        for name, data in (entries or {}).items():
            archive.writestr(name, data)
    return path


_ids = iter(range(10_000, 1_000_000))


def json_node(value: Any) -> dict[str, Any]:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def type_node(module: str, name: str) -> dict[str, Any]:
    return {"__class__": name, "__module__": module, "__loader__": "TypeNode", "__id__": next(_ids)}


def list_node(items: list[dict[str, Any]], kind: str = "list") -> dict[str, Any]:
    loader = {"list": "ListNode", "tuple": "TupleNode"}[kind]
    return {"__class__": kind, "__module__": "builtins", "__loader__": loader, "content": items}


def dict_node(content: dict[str, dict[str, Any]], key_type: dict[str, Any] | None = None):
    key_types = [key_type or type_node("builtins", "str") for _ in content]
    return {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": content,
        "key_types": list_node(key_types),
        "__id__": next(_ids),
    }


def shell_partial(func: dict[str, Any]) -> dict[str, Any]:
    """``functools.partial(func, shell=True)``: calling it with a string runs a shell."""
    return {
        "__class__": "partial",
        "__module__": "functools",
        "__loader__": "PartialNode",
        "content": {
            "func": func,
            "args": list_node([], "tuple"),
            "kwds": dict_node({"shell": json_node(True)}),
            "namespace": json_node(None),
        },
        "__id__": next(_ids),
    }


def function_transformer(func: dict[str, Any], kw_args: dict[str, Any] | None = None):
    """A FunctionTransformer whose ``func`` (and ``kw_args``) are the given nodes."""
    from sklearn.preprocessing import FunctionTransformer

    schema, entries = dumped(FunctionTransformer(validate=False))
    attrs = schema["content"]["content"]
    attrs["func"] = func
    if kw_args is not None:
        attrs["kw_args"] = dict_node(kw_args)
    return schema, entries


# --- the attacks ---------------------------------------------------------------------


def reexported_popen(command: str, marker: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """FunctionTransformer(func=Popen, kw_args={shell: True}): runs the column names."""
    return function_transformer(type_node(*POPEN_REEXPORT), {"shell": json_node(True)})


def popen_partial_as_dict_key_type(command: str, marker: Path):
    """A dict whose key type is partial(Popen, shell=True): skops calls it on the key at load."""
    return dict_node(
        {command: json_node(1)}, key_type=shell_partial(type_node(*POPEN_REEXPORT))
    ), {}


def popen_as_dict_key_type(command: str, marker: Path):
    return dict_node({command: json_node(1)}, key_type=type_node(*POPEN_REEXPORT)), {}


def memmap_constructor(command: str, marker: Path):
    """numpy.memmap(marker, mode='w+') called with stored arguments: writes a file at load."""
    args = [
        json_node(str(marker)),
        json_node("uint8"),
        json_node("w+"),
        json_node(0),
        json_node([1]),
    ]
    node = {
        "__class__": "memmap",
        "__module__": "numpy",
        "__loader__": "ConstructorFromReduceNode",
        "content": list_node(args, "tuple"),
    }
    return node, {}


def function_transformer_of(func: Any, **kw_args: Any):
    def build(command: str, marker: Path):
        from sklearn.preprocessing import FunctionTransformer

        return dumped(FunctionTransformer(func=func, kw_args=kw_args or None, validate=False))

    return build


def partial_of_os_system(command: str, marker: Path):
    from sklearn.preprocessing import FunctionTransformer

    return dumped(FunctionTransformer(func=functools.partial(os.system, command), validate=False))


def methodcaller_system(command: str, marker: Path):
    from sklearn.preprocessing import FunctionTransformer

    caller = operator.methodcaller("system", command)
    return dumped(FunctionTransformer(func=caller, validate=False))


def attrgetter_system(command: str, marker: Path):
    from sklearn.preprocessing import FunctionTransformer

    return dumped(FunctionTransformer(func=operator.attrgetter("system"), validate=False))


def bound_method(command: str, marker: Path):
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    return dumped(FunctionTransformer(func=StandardScaler().fit, validate=False))


def object_npy(command: str, marker: Path):
    """An .npy entry of dtype object: numpy could only read it with pickle."""
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    node = {
        "__class__": "ndarray",
        "__module__": "numpy",
        "__loader__": "NdArrayNode",
        "type": "numpy",
        "file": "1.npy",
    }
    return node, {"1.npy": buffer.getvalue()}


def object_array_holding_a_partial(command: str, marker: Path):
    """An object array (stored as JSON) whose item is partial(Popen, shell=True)."""
    node = {
        "__class__": "ndarray",
        "__module__": "numpy",
        "__loader__": "NdArrayNode",
        "type": "json",
        "content": [shell_partial(type_node(*POPEN_REEXPORT))],
        "shape": list_node([json_node(1)], "tuple"),
    }
    return node, {}


def object_node(module: str, name: str):
    def build(command: str, marker: Path):
        return {"__class__": name, "__module__": module, "__loader__": "ObjectNode"}, {}

    return build


def lying_array_header(command: str, marker: Path):
    """An .npy header claiming 10^12 floats over 8 bytes of data (numpy would allocate it)."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    text = header.ljust(117) + "\n"
    raw = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode() + b"\x00" * 8
    node = {
        "__class__": "ndarray",
        "__module__": "numpy",
        "__loader__": "NdArrayNode",
        "type": "numpy",
        "file": "1.npy",
    }
    return node, {"1.npy": raw}


ATTACKS = {
    "re-exported Popen as a FunctionTransformer func": (reexported_popen, "gnu.Popen"),
    "partial(re-exported Popen) as a dict key type": (
        popen_partial_as_dict_key_type,
        "functools.partial(numpy.distutils.fcompiler.gnu.Popen)",
    ),
    "re-exported Popen as a dict key type": (popen_as_dict_key_type, "gnu.Popen"),
    "numpy.memmap called with stored arguments": (memmap_constructor, "numpy.memmap"),
    "FunctionTransformer(func=os.system)": (function_transformer_of(os.system), "posix.system"),
    "FunctionTransformer(func=builtins.eval)": (function_transformer_of(eval), "builtins.eval"),
    "FunctionTransformer(func=builtins.exec)": (function_transformer_of(exec), "builtins.exec"),
    "FunctionTransformer(func=subprocess.getoutput)": (
        function_transformer_of(__import__("subprocess").getoutput),
        "subprocess.getoutput",
    ),
    "FunctionTransformer(func=numpy.load), a library function": (
        function_transformer_of(np.load, allow_pickle=True),
        "numpy.load",
    ),
    "functools.partial(os.system, command)": (partial_of_os_system, "posix.system"),
    "operator.methodcaller('system', command)": (methodcaller_system, "operator.methodcaller"),
    "operator.attrgetter('system')": (attrgetter_system, "operator.attrgetter"),
    "a bound method": (bound_method, "StandardScaler.fit"),
    "an object-dtype .npy entry": (object_npy, "numpy object array"),
    "an object array holding a partial": (object_array_holding_a_partial, "in an object array"),
    "a class re-exported under another sklearn module": (
        object_node("sklearn.pipeline", "Bunch"),
        "sklearn.pipeline.Bunch",
    ),
    "a class from sklearn's test tooling": (
        object_node("sklearn.utils._testing", "TempMemmap"),
        "sklearn.utils._testing.TempMemmap",
    ),
    "a dotted class name reaching into another module": (
        object_node("sklearn", "utils._testing.TempMemmap"),
        "sklearn.utils._testing.TempMemmap",
    ),
    "a numpy class rebuilt from attributes": (object_node("numpy", "memmap"), "numpy.memmap"),
    "a module outside the trusted libraries": (object_node("os", "_wrap_close"), "os._wrap_close"),
    "an array header larger than its data": (lying_array_header, "header does not match"),
}


def use(obj: Any, command: str) -> None:
    """Do what serving does with a loaded transform: transform a frame (columns = command)."""
    with contextlib.suppress(Exception):
        obj.transform(pd.DataFrame({command: [1.0]}))
    time.sleep(0.5)  # Popen returns before its shell has run


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_crafted_model_file_is_refused_and_never_runs(tmp_path: Path, attack: str) -> None:
    build, named = ATTACKS[attack]
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    schema, entries = build(command, marker)
    path = write_archive(tmp_path / "transform.skops", schema, entries)

    try:
        loaded = load_skops(path)
    except StoreError as exc:
        message = str(exc)
    else:
        use(loaded, command)
        message = "loaded"

    assert message.startswith("transform.skops "), message
    assert named in message
    assert not marker.exists(), "the payload ran"


def test_a_schema_that_inflates_past_its_limit_is_refused_without_inflating(
    tmp_path: Path,
) -> None:
    """300 MiB of schema.json in a ~1 MiB file: refused from the zip directory alone."""
    path = tmp_path / "bomb.skops"
    block = b" " * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("schema.json", "w", force_zip64=True) as entry,
    ):
        entry.write(b"{" + b" " * 1023)
        for _ in range(300):
            entry.write(block)
        entry.write(b"}")
    assert path.stat().st_size < 4 << 20

    started = time.perf_counter()
    with pytest.raises(StoreError) as caught:
        load_skops(path)

    assert time.perf_counter() - started < 1.0
    assert "schema.json is 314573825 bytes, over the limit of 268435456" in str(caught.value)
    assert "SPECOPS_MAX_MODEL_SCHEMA_BYTES" in str(caught.value)


def test_too_many_entries_or_bytes_are_refused_and_the_limits_can_be_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.preprocessing import StandardScaler

    schema, entries = dumped(StandardScaler().fit([[1.0], [2.0]]))
    entries.update({f"extra{i}.bin": b"x" * 1000 for i in range(20)})
    path = write_archive(tmp_path / "m.skops", schema, entries)
    assert load_skops(path).mean_ == [1.5]

    monkeypatch.setenv("SPECOPS_MAX_MODEL_FILE_ENTRIES", "10")
    with pytest.raises(StoreError, match=r"entries, over the limit of 10 \(SPECOPS_MAX_MODEL_FILE"):
        load_skops(path)
    monkeypatch.delenv("SPECOPS_MAX_MODEL_FILE_ENTRIES")
    monkeypatch.setenv("SPECOPS_MAX_MODEL_FILE_BYTES", "10000")
    with pytest.raises(StoreError, match=r"over the limit of 10000 \(SPECOPS_MAX_MODEL_FILE_BYTES"):
        load_skops(path)


def test_a_cached_node_cannot_smuggle_an_unchecked_function_into_a_partial(tmp_path: Path):
    """skops reuses the first object stored under an id; the rule must hold for every one."""
    popen = type_node(*POPEN_REEXPORT)
    alias = {
        "__class__": "x",
        "__module__": "x",
        "__loader__": "CachedNode",
        "__id__": popen["__id__"],
    }
    partial = shell_partial(alias)
    schema = list_node([popen, partial])
    path = write_archive(tmp_path / "m.skops", schema)

    with pytest.raises(StoreError, match=r"functools\.partial\(numpy\.distutils"):
        load_skops(path)


def test_the_protocol_must_be_the_one_specops_writes(tmp_path: Path) -> None:
    """An older protocol would select skops' older, looser node classes."""
    from sklearn.preprocessing import StandardScaler

    schema, entries = dumped(StandardScaler().fit([[1.0], [2.0]]))
    path = tmp_path / "m.skops"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("schema.json", json.dumps({**schema, "protocol": 0}))
        for name, data in entries.items():
            archive.writestr(name, data)

    with pytest.raises(StoreError, match="skops protocol 0; specops loads protocol"):
        load_skops(path)


# --- exported packages carry their hashes; crafted files through the CLI ---------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The churn example run once: its store holds churn/1, exported to out/model."""
    import shutil

    from framework.cli.main import main
    from tests.conftest import SPECS

    directory = tmp_path_factory.mktemp("churn")
    shutil.copytree(SPECS / "data", directory / "data")
    shutil.copy(SPECS / "churn_csv.yaml", directory / "spec.yaml")
    deploy = "deploy={type: directory, params: {path: out/model}}"
    assert main(["run", str(directory / "spec.yaml"), "--set", deploy, "--json"]) == 0
    return directory


@pytest.fixture
def project(exported: Path, tmp_path: Path) -> Path:
    """A private copy of the trained project (store and exported package) to damage."""
    import shutil

    shutil.copytree(exported, tmp_path / "churn")
    return tmp_path / "churn"


def serve_package(package: Path) -> tuple[int, str]:
    """``specops serve --package``, as a user runs it; a server that starts is a failure."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "framework.cli.main", "serve", "--package", str(package)]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    try:
        done = subprocess.run(
            [*command, "--port", "0"], capture_output=True, text=True, env=env, timeout=120
        )
    except subprocess.TimeoutExpired:
        return -1, "the server started"
    return done.returncode, done.stderr


def load_package(package: Path) -> Any:
    from framework.package import ModelPackage
    from framework.plugins import get_plugins

    return ModelPackage(package, get_plugins())


def test_an_exported_package_lists_every_file_with_its_sha256(project: Path) -> None:
    import hashlib

    package = project / "out" / "model"
    listed = json.loads((package / "release.json").read_text())["files"]
    on_disk = {
        p.relative_to(package).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in package.rglob("*")
        if p.is_file() and p.name not in {"release.json", ".specops-deploy.json"}
    }
    assert listed == on_disk
    assert {"model.json", "signature.json", "transform.skops"} <= set(listed)
    assert any(name.startswith("model/") for name in listed)
    assert load_package(package).predict  # it loads as exported


def test_serve_package_refuses_a_model_file_changed_by_one_byte(project: Path) -> None:
    package = project / "out" / "model"
    model_file = next(p for p in sorted((package / "model").iterdir()) if p.is_file())
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    model_file.write_bytes(bytes(data))

    code, err = serve_package(package)

    assert code == 2, err
    assert f"model/{model_file.name} has changed since export" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("damage", ["missing", "added"])
def test_a_missing_or_added_file_is_refused_by_name(project: Path, damage: str) -> None:
    package = project / "out" / "model"
    if damage == "missing":
        (package / "signature.json").unlink()
        expected = "signature.json is missing (listed in release.json)"
    else:
        (package / "model" / "extra.py").write_text("print('hi')\n")
        expected = "model/extra.py is not part of the exported package"

    with pytest.raises(StoreError) as caught:
        load_package(package)

    assert expected in str(caught.value)


def test_a_package_exported_before_hashes_loads_with_a_warning(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    package = project / "out" / "model"
    release = json.loads((package / "release.json").read_text())
    del release["files"]
    (package / "release.json").write_text(json.dumps(release))

    with caplog.at_level("WARNING", logger="specops"):
        load_package(package)

    assert "lists no file hashes (exported by an older specops)" in caplog.text


def craft_transform(path: Path) -> None:
    """Overwrite a transform with FunctionTransformer(func=re-exported Popen, shell=True)."""
    schema, entries = reexported_popen("", path)
    write_archive(path, schema, entries)


def test_serve_package_refuses_a_crafted_transform_even_with_matching_hashes(
    project: Path,
) -> None:
    """The attacker rewrote release.json too: the hash check passes, the trust check does not."""
    from framework.manifest import sha256_of

    package = project / "out" / "model"
    marker = project / "pwned"
    signature = json.loads((package / "signature.json").read_text())
    signature["columns"][0]["name"] = f"touch {marker}"  # Popen(X, shell=True) runs this
    (package / "signature.json").write_text(json.dumps(signature))
    craft_transform(package / "transform.skops")
    release = json.loads((package / "release.json").read_text())
    for name in ("transform.skops", "signature.json"):
        release["files"][name] = sha256_of(package / name)
    (package / "release.json").write_text(json.dumps(release))

    code, err = serve_package(package)

    assert code == 2, err
    assert "transform.skops contains types specops does not trust" in err
    assert "numpy.distutils.fcompiler.gnu.Popen" in err
    assert not marker.exists()


def test_predict_refuses_a_crafted_transform_in_the_store(project: Path, cli) -> None:
    """A store blob replaced with a crafted one (and its row pointed at it): exit 2, named."""
    from framework.store import Store
    from tests.helpers import store_execute

    crafted = project / "crafted.skops"
    craft_transform(crafted)
    store = Store.open_existing(project / ".specops")
    try:
        digest = store.artifacts.put_file(crafted)
    finally:
        store.close()
    store_execute(
        project / ".specops",
        "UPDATE model_versions SET files_json = json_set(files_json, '$.\"transform.skops\"', "
        f"'{digest}') WHERE name = 'churn' AND version = 1",
    )
    scored = project / "scored.csv"

    result = cli(
        "predict",
        "churn/1",
        "-i",
        project / "data" / "churn.csv",
        "-o",
        scored,
        "--store",
        project / ".specops",
    )

    assert result.code == 2, result.err
    assert "transform.skops contains types specops does not trust" in result.err
    assert "numpy.distutils.fcompiler.gnu.Popen" in result.err
    assert not scored.exists()


@pytest.mark.parametrize(
    "damage",
    [
        "categories line holding Python code",
        "garbage instead of trees",
        "categories of another shape",
    ],
)
def test_a_lightgbm_model_file_is_parsed_as_data_and_never_run(tmp_path: Path, damage: str):
    """model.txt is read by LightGBM's C++ parser and its categories line by json, never eval."""
    import lightgbm as lgb

    from plugins.models._common import write_meta
    from plugins.models.lightgbm_model import LightGBMModel

    frame = pd.DataFrame({"x": np.arange(40.0), "c": pd.Categorical(["a", "b"] * 20)})
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 2},
        lgb.Dataset(frame, np.arange(40) % 2),
        num_boost_round=2,
    )
    booster.save_model(str(tmp_path / "model.txt"))
    write_meta(
        tmp_path, {"type": "lightgbm", "task": "binary", "n_classes": 2, "features": ["x", "c"]}
    )
    assert LightGBMModel.load(tmp_path).predict_proba(frame).shape == (40, 2)

    marker = tmp_path / "pwned"
    text = (tmp_path / "model.txt").read_text()
    if damage == "garbage instead of trees":
        text = "tree\nversion=v4\nnum_class=1\nTree=0\nnum_leaves=99999999\nleaf_value=1 2\n"
    head, _, _ = text.rpartition("pandas_categorical:")
    text = head + f"pandas_categorical:__import__('os').system('touch {marker}')\n"
    said = r"model\.txt is not a readable LightGBM model"
    if damage == "categories of another shape":  # JSON, but not a list of category lists
        text = head + 'pandas_categorical:{"c": ["a", "b"]}\n'
        said += ": its pandas_categorical line is not a list of category lists"
    (tmp_path / "model.txt").write_text(text)

    with pytest.raises(StoreError, match=said):
        LightGBMModel.load(tmp_path)
    assert not marker.exists()


# --- fitted trees: compiled code trusts their indices ----------------------------------


def find_node(tree: Any, test) -> dict[str, Any]:
    """The first schema node (depth first) for which ``test`` holds."""
    if isinstance(tree, dict):
        if "__loader__" in tree and test(tree):
            return tree
        children = tree.values()
    elif isinstance(tree, list):
        children = tree
    else:
        children = []
    for child in children:
        found = find_node(child, test)
        if found is not None:
            return found
    return None  # type: ignore[return-value]


def edit_array(entries: dict[str, bytes], name: str, edit) -> None:
    array = np.load(io.BytesIO(entries[name]))
    edit(array)
    buffer = io.BytesIO()
    np.save(buffer, array)
    entries[name] = buffer.getvalue()


def decision_tree_file() -> tuple[dict[str, Any], dict[str, bytes], dict[str, Any]]:
    from sklearn.tree import DecisionTreeClassifier

    X = np.arange(40.0).reshape(20, 2)
    schema, entries = dumped(DecisionTreeClassifier(max_depth=3).fit(X, np.arange(20) % 2))
    tree = find_node(schema, lambda n: n["__loader__"] == "TreeNode")
    return schema, entries, tree["content"]["content"]


def hist_gradient_boosting_file():
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = pd.DataFrame({"x": np.arange(60.0), "c": pd.Categorical(["a", "b", "c"] * 20)})
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=3)
    schema, entries = dumped(model.fit(frame, (np.arange(60) // 3) % 2))
    predictor = find_node(schema, lambda n: n["__class__"] == "TreePredictor")
    return schema, entries, predictor["content"]["content"]


def child_past_the_end(tree):
    tree["left_child"][0] = 1_000_000


def child_pointing_back(tree):
    tree["left_child"][0] = 0


def feature_past_the_row(tree):
    tree["feature"][0] = 7


def predictor_child_past_the_end(nodes):
    nodes["left"][0] = 1_000_000


def predictor_feature_past_the_row(nodes):
    nodes["feature_idx"][0] = 5


def predictor_categorical_split_on_a_number(nodes):
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    nodes["feature_idx"][inner] = 1  # the numeric column once categories come first
    nodes["is_categorical"][inner] = 1


@pytest.mark.parametrize(
    "edit",
    [child_past_the_end, child_pointing_back, feature_past_the_row],
    ids=lambda e: e.__name__,
)
def test_a_decision_tree_with_indices_outside_it_is_refused(tmp_path: Path, edit) -> None:
    schema, entries, tree = decision_tree_file()
    edit_array(entries, tree["nodes"]["file"], edit)
    path = write_archive(tmp_path / "model.skops", schema, entries)

    with pytest.raises(StoreError, match=r"model\.skops holds a damaged or crafted decision tree"):
        load_skops(path)


@pytest.mark.parametrize(
    "edit",
    [
        predictor_child_past_the_end,
        predictor_feature_past_the_row,
        predictor_categorical_split_on_a_number,
    ],
    ids=lambda e: e.__name__,
)
def test_a_gradient_boosting_tree_with_indices_outside_it_is_refused(tmp_path: Path, edit) -> None:
    schema, entries, predictor = hist_gradient_boosting_file()
    path = write_archive(tmp_path / "fine.skops", schema, entries)
    assert load_skops(path) is not None
    edit_array(entries, predictor["nodes"]["file"], edit)
    path = write_archive(tmp_path / "model.skops", schema, entries)

    with pytest.raises(StoreError, match="holds a damaged or crafted gradient boosting tree"):
        load_skops(path)


@pytest.mark.parametrize("loader", ["role", "children", "MethodNode", "QuantileForestNode"])
def test_a_loader_specops_does_not_list_is_refused(tmp_path: Path, loader: str) -> None:
    """Only skops loaders with a rule here are accepted, not any name that happens to resolve."""
    node = {"__class__": "dict", "__module__": "builtins", "__loader__": loader, "content": {}}
    path = write_archive(tmp_path / "m.skops", node)

    with pytest.raises(StoreError, match=r"m\.skops contains types specops does not trust"):
        load_skops(path)
