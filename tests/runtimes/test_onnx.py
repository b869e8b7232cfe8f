"""The ``onnx`` runtime: real small trainings compiled to one ONNX graph, verified against
the native path (missing values, unseen categories, one row and many), the export of
the verified graph, and what is refused."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

import onnxruntime as ort

import plugins.runtimes.onnx as onnx_runtime
import plugins.runtimes.onnx_build as onnx_build
from framework.package import ModelPackage, Predictions
from framework.runtimes.base import RuntimeUnavailable
from framework.runtimes.verify import build_rows, check_runtime
from framework.testing import SpecopsProject
from plugins.runtimes.onnx import OnnxRuntime
from tests.runtimes.trees_packages import table, train

CASES = [
    # (task, model type, params, preprocess, declared roles)
    (
        "binary",
        "random_forest",
        {"n_estimators": 12},
        (("impute", {"strategy": "most_frequent"}), ("one_hot", {})),
        None,
    ),
    ("binary", "logistic_regression", {}, (("scale", {}),), None),
    (
        "binary",
        "logistic_regression",
        {},
        (
            ("one_hot", {"columns": ["visits"], "max_categories": 6}),  # numbers, grouped
            ("ordinal", {"order": {"rating": [1, 2, 3, 4, 5]}}),
            ("scale", {}),
        ),
        None,
    ),
    (
        "multiclass",
        "logistic_regression",
        {},
        (("impute", {"add_indicator": True}), ("scale", {"method": "robust"}), ("one_hot", {})),
        None,
    ),
    ("binary", "lightgbm", {"n_estimators": 25}, (), {"rating": "categorical"}),
    ("multiclass", "lightgbm", {"n_estimators": 15}, (), None),
    (
        "binary",
        "lightgbm",
        {"n_estimators": 15},
        (("impute", {"strategy": "constant", "fill_value": "none"}),),
        None,
    ),
    ("regression", "lightgbm", {"n_estimators": 20}, (), None),
    ("regression", "ridge", {}, (("scale", {"method": "minmax"}), ("ordinal", {})), None),
    ("regression", "extra_trees", {"n_estimators": 8}, (("ordinal", {}),), None),
    ("multiclass", "hist_gradient_boosting", {"max_iter": 15}, (("one_hot", {}),), None),
    ("binary", "hist_gradient_boosting", {"max_iter": 15}, (("one_hot", {}),), None),
    ("binary", "hist_gradient_boosting", {"max_iter": 15}, (), None),  # its own categories
    (
        "multiclass",
        "hist_gradient_boosting",
        {"max_iter": 10},
        (("impute", {"strategy": "most_frequent"}),),
        {"rating": "categorical"},
    ),
    ("regression", "hist_gradient_boosting", {"max_iter": 15}, (("ordinal", {}),), None),
    ("multiclass", "random_forest", {"n_estimators": 6, "min_samples_leaf": 3}, (), None),
    ("binary", "extra_trees", {"n_estimators": 6}, (("drop", {"columns": ["city"]}),), None),
    (
        "regression",
        "linear_regression",
        {},
        (("impute", {"strategy": "mean", "add_indicator": True}), ("one_hot", {})),
        None,
    ),
]


def data(model_type: str, task: str = "binary") -> pd.DataFrame:
    """LightGBM splits on a category only with 100 rows in each group (its
    min_data_per_group): 800 rows make it split on ``plan`` and ``city``, so the graph's
    set-membership nodes are exercised; the others learn from fewer. ``balance`` is
    negative and never missing in training: LightGBM reads a NaN there as 0.0, which
    goes right of its (negative) thresholds, not where its default_left points."""
    frame = table(800 if model_type == "lightgbm" else 240, task=task)
    frame.insert(0, "balance", -frame["age"].fillna(40.0) - frame["visits"] / 3)
    return frame


def verify(package: ModelPackage, test: pd.DataFrame, scratch: Path) -> Any:
    """What registration does: the test rows plus probes through the runtime and natively."""
    rows = build_rows(test, package.signature)
    native, _ = package.predict(_frame(rows.columns, package))
    return check_runtime(OnnxRuntime(), package, rows, native, scratch), rows, native


def _frame(columns: dict[str, np.ndarray], package: ModelPackage) -> pd.DataFrame:
    return pd.DataFrame({name: columns[name] for name in package.signature.names})


def one_by_one(scorer: Any, columns: dict[str, np.ndarray], count: int) -> Predictions:
    """Each row alone, as a server scores a request (the scorer's one-row path)."""
    results = [
        scorer.predict({name: values[i : i + 1] for name, values in columns.items()}, 1)
        for i in range(count)
    ]
    codes = np.concatenate([r.codes for r in results])
    proba = None if results[0].proba is None else np.vstack([r.proba for r in results])
    return Predictions(codes, results[0].labels, proba)


@pytest.mark.parametrize(
    ("task", "model_type", "params", "preprocess", "declared"),
    CASES,
    ids=[f"{c[1]}-{c[0]}-{'+'.join(s[0] for s in c[3]) or 'raw'}" for c in CASES],
)
def test_the_graph_predicts_what_the_native_path_does(
    tmp_path: Path,
    task: str,
    model_type: str,
    params: dict[str, Any],
    preprocess: tuple[tuple[str, dict[str, Any]], ...],
    declared: dict[str, str] | None,
) -> None:
    package, test = train(
        tmp_path,
        data(model_type, task),
        task,
        model_type,
        params,
        preprocess,
        declared,
    )
    verdict, rows, native = verify(package, test, tmp_path / "runtime")
    assert verdict.verified, verdict.why
    assert verdict.files == ("onnx.json", "model.onnx") or set(verdict.files) == {
        "onnx.json",
        "model.onnx",
    }
    # float64 throughout: far inside EXACT (1e-9); measured 0 to 2.3e-16
    error = verdict.max_value_error if task == "regression" else verdict.max_proba_error
    assert error is not None and error <= 1e-12
    assert rows.count > rows.tested > 0  # probes: each column missing, categories unseen

    scorer = OnnxRuntime().load(package, tmp_path / "runtime")
    single = one_by_one(scorer, rows.columns, rows.count)
    if task == "regression":
        np.testing.assert_allclose(single.codes, native.codes, rtol=1e-12, atol=1e-12)
    else:
        assert single.labels == package.labels
        np.testing.assert_array_equal(single.codes, native.codes)
        np.testing.assert_allclose(single.proba, native.proba, rtol=0, atol=1e-12)


def test_unseen_and_missing_categories_score_alike_as_natively(tmp_path: Path) -> None:
    """A value training never saw is missing on the native path; the graph agrees, for
    text categories and for numbers declared categorical, sent as text or as numbers."""
    package, test = train(
        tmp_path,
        data("lightgbm"),
        "binary",
        "lightgbm",
        {"n_estimators": 20},
        (),
        {"rating": "categorical"},
    )
    runtime = OnnxRuntime()
    (tmp_path / "rt").mkdir()
    runtime.compile(package, tmp_path / "rt")
    scorer = runtime.load(package, tmp_path / "rt")
    variants = {
        "plan": ["basic", "plus", "pro", "Pro", "", None, "platinum", 3],
        "city": ["Oslo", "Lima", "nowhere", None],
        "rating": [2, "2", 2.0, "2.0", 9, "x", None],
    }
    for column, values in variants.items():
        frame = pd.concat([test.head(1)] * len(values), ignore_index=True)
        frame[column] = pd.Series(values, dtype=object)
        native, _ = package.predict(frame)
        columns = _raw(frame, package)
        batch = scorer.predict(columns, len(frame))
        np.testing.assert_array_equal(batch.codes, native.codes)
        np.testing.assert_allclose(batch.proba, native.proba, rtol=0, atol=1e-12)
        single = one_by_one(scorer, columns, len(frame))
        np.testing.assert_allclose(single.proba, native.proba, rtol=0, atol=1e-12)
        if column == "plan":  # the category decides here, so a wrong mapping would show
            assert len({round(p, 9) for p in native.proba[:, 1]}) >= 3


def test_numbers_an_encoder_never_saw_score_as_natively(tmp_path: Path) -> None:
    """one_hot and ordinal of numeric columns: a number outside the learnt categories is
    what scikit-learn makes of it (the infrequent column, or NaN), in the graph too."""
    steps = (
        ("one_hot", {"columns": ["visits"], "max_categories": 6}),
        ("ordinal", {"order": {"rating": [1, 2, 3, 4, 5]}}),
    )
    package, test = train(tmp_path, data("lightgbm"), "binary", "lightgbm", {}, steps)
    (tmp_path / "rt").mkdir()
    OnnxRuntime().compile(package, tmp_path / "rt")
    scorer = OnnxRuntime().load(package, tmp_path / "rt")
    frame = pd.concat([test.head(1)] * 7, ignore_index=True)
    frame["visits"] = [0.0, 1.0, 3.5, 25.0, -1.0, np.nan, 19.0]
    frame["rating"] = [1, 5, 9, 0, 3, np.nan, 2]
    native, _ = package.predict(frame)
    got = scorer.predict(_raw(frame, package), len(frame))
    np.testing.assert_array_equal(got.codes, native.codes)
    np.testing.assert_allclose(got.proba, native.proba, rtol=0, atol=1e-12)


def _raw(frame: pd.DataFrame, package: ModelPackage) -> dict[str, np.ndarray]:
    from framework.runtimes.columns import columns_as_sent

    return dict(columns_as_sent(frame, package.signature))


def test_requests_get_one_thread_and_large_batches_every_core(tmp_path: Path) -> None:
    package, test = train(tmp_path, data("lightgbm"), "binary", "lightgbm", {}, ())
    (tmp_path / "rt").mkdir()
    OnnxRuntime().compile(package, tmp_path / "rt")
    scorer = OnnxRuntime().load(package, tmp_path / "rt")
    options = scorer.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert scorer.session.get_providers() == ["CPUExecutionProvider"]
    assert scorer._batch is None  # opened when a batch first needs it

    big = pd.concat([test] * (onnx_runtime.BATCH_ROWS // len(test) + 1), ignore_index=True)
    big.loc[::7, "age"] = np.nan
    native, _ = package.predict(big)
    got = scorer.predict(_raw(big, package), len(big))
    assert scorer._batch.get_session_options().intra_op_num_threads == 0  # one per core
    np.testing.assert_array_equal(got.codes, native.codes)
    np.testing.assert_allclose(got.proba, native.proba, rtol=0, atol=1e-12)


# --- refusals ---------------------------------------------------------------------------


def test_why_not_names_the_missing_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package, _ = train(tmp_path, table(120), "binary", "logistic_regression", {}, (("scale", {}),))
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name)
    )
    assert OnnxRuntime().why_not(package) == (
        "onnxruntime is not installed: pip install 'specops[onnx]'"
    )


def test_why_not_names_what_it_does_not_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import PolynomialFeatures

    package, _ = train(tmp_path, table(120), "binary", "logistic_regression", {}, (("scale", {}),))
    assert OnnxRuntime().why_not(package) is None
    package.transform = Pipeline([("poly", PolynomialFeatures())])
    why = OnnxRuntime().why_not(package)
    assert (
        why == "the transform holds a PolynomialFeatures, which the onnx runtime does not compile"
    )
    package.transform = None
    forest, _ = train(tmp_path / "forest", table(120), "binary", "random_forest", {}, ())
    assert OnnxRuntime().why_not(forest) is None
    monkeypatch.setattr(onnx_build, "MAX_NODES", 100)
    nodes = onnx_build.tree_nodes(forest, "random_forest")
    assert nodes == sum(e.tree_.node_count for e in forest.model.estimator.estimators_)
    assert OnnxRuntime().why_not(forest) == (
        f"the model has about {nodes:,} tree nodes; the onnx runtime compiles at most 100 "
        "(a graph that size would not fit the runtime's file bound)"
    )
    package.metadata = {**package.metadata, "model_type": "made_up"}
    assert OnnxRuntime().why_not(package) == "made_up is not a model type the onnx runtime compiles"


def test_load_refuses_any_graph_but_the_one_the_model_compiles_to(tmp_path: Path) -> None:
    """Huge, foreign-domain, external-data and garbage graphs are all refused by one rule,
    before protobuf or ONNX Runtime parses a byte: the stored files must be exactly what
    the package compiles to."""
    package, _ = train(tmp_path, table(120), "binary", "logistic_regression", {}, (("scale", {}),))
    directory = tmp_path / "rt"
    directory.mkdir()
    OnnxRuntime().compile(package, directory)
    graph = directory / "model.onnx"
    original = graph.read_bytes()
    size = len(original)
    refused = r"runtimes/onnx/model\.onnx is not what this model compiles to \(edited, or "
    refused += r"written by another specops/onnx version\): not loaded"

    with graph.open("r+b") as handle:  # sparse: no disk used, and never read
        handle.truncate(onnx_runtime.MAX_GRAPH_BYTES + 1)
    huge = refused + rf" \(268,435,457 bytes stored, {size:,} compiled\)"
    with pytest.raises(RuntimeUnavailable, match=huge):
        OnnxRuntime().load(package, directory)

    import onnx

    model = onnx.load_model_from_string(original)
    model.graph.node[0].domain = "com.example.custom"
    model.opset_import.append(onnx.helper.make_opsetid("com.example.custom", 1))
    graph.write_bytes(model.SerializeToString())
    with pytest.raises(RuntimeUnavailable, match=refused):
        OnnxRuntime().load(package, directory)

    model = onnx.load_model_from_string(original)
    tensor = model.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    graph.write_bytes(model.SerializeToString())
    with pytest.raises(RuntimeUnavailable, match=refused):
        OnnxRuntime().load(package, directory)

    graph.write_bytes(b"not a graph")
    with pytest.raises(RuntimeUnavailable, match=refused + r" \(11 bytes stored"):
        OnnxRuntime().load(package, directory)

    graph.unlink()
    with pytest.raises(RuntimeUnavailable, match=refused + r" \(the file is missing\)"):
        OnnxRuntime().load(package, directory)

    graph.write_bytes(original)
    meta = directory / "onnx.json"
    meta.write_text(meta.read_text().replace('"double"', '"string"', 1))
    with pytest.raises(RuntimeUnavailable, match=r"runtimes/onnx/onnx\.json is not what this"):
        OnnxRuntime().load(package, directory)


# --- registration and export --------------------------------------------------------------

SPEC = """
name: churn
task: binary
seed: 3
data:
  source: {type: csv, params: {path: data.csv}}
  target: target
preprocess:
  - {type: impute, params: {strategy: most_frequent}}
model: {type: random_forest, params: {n_estimators: 10}}
serve: {runtime: RUNTIME}
"""


def _installed(module: str) -> bool:
    return any(ep.value == module for ep in metadata.entry_points(group="specops"))


def project_with_onnx(tmp_path: Path) -> SpecopsProject:
    plugins: list[tuple[str, object]] = []
    if not _installed("plugins.runtimes.onnx"):
        plugins.append(("onnx_runtime", onnx_runtime))
    if not _installed("plugins.runtimes.native"):
        import plugins.runtimes.native as native

        plugins.append(("native_runtime", native))
    project = SpecopsProject(tmp_path / "project", plugins)
    frame = table(240)
    frame.to_csv(project.directory / "data.csv", index=False)
    return project


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> SpecopsProject:
    """Runs with serve.runtime: onnx (version 1), native (version 2), and onnx on data
    it does not compile (version 3: a column named like one of the graph's outputs)."""
    project = project_with_onnx(tmp_path_factory.mktemp("export"))
    result = project.run(SPEC.replace("RUNTIME", "onnx"))
    assert result.code == 0, result
    result = project.run(SPEC.replace("RUNTIME", "native"), "--set", "model.params.n_estimators=11")
    assert result.code in (0, 1), result
    frame = pd.read_csv(project.directory / "data.csv").rename(columns={"visits": "value"})
    frame.to_csv(project.directory / "data.csv", index=False)
    result = project.run(SPEC.replace("RUNTIME", "onnx"))
    assert result.code in (0, 1), result
    return project


def test_export_writes_the_verified_graph_onnxruntime_loads(
    trained: SpecopsProject, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "churn.onnx"
    result = trained.cli("models", "export", "churn/1", "--format", "onnx", str(target))
    assert result.code == 0, result
    assert "exported churn/1's ONNX graph ->" in result.out
    assert "inputs:  age: double [N,1]" in result.out and "plan: string [N,1]" in result.out
    assert "outputs: probabilities: double [N,classes], code: int64 [N]" in result.out

    session = ort.InferenceSession(target.read_bytes(), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.type for i in session.get_inputs()}
    assert inputs["age"] == "tensor(double)" and inputs["plan"] == "tensor(string)"
    assert [o.name for o in session.get_outputs()] == ["probabilities", "code", "label"]
    described = session.get_modelmeta().custom_metadata_map
    assert json.loads(described["specops.labels"]) == ["no", "yes"]
    plan = next(i for i in json.loads(described["specops.inputs"]) if i["name"] == "plan")
    assert plan["keys"] == ["basic", "plus", "pro", "team"] and plan["missing"] == ""

    package = trained_package(trained, 1)
    frame = table(240, seed=5).drop(columns=["target"]).head(40)
    frame.loc[0, "plan"] = "never-seen"
    frame.loc[1, "age"] = np.nan
    feed = {}
    for column in package.signature.columns:
        values = frame[column.name]
        if column.role == "categorical":
            text = values.map(lambda v: "" if v is None or v != v else str(v))
            feed[column.name] = text.to_numpy(dtype=object).reshape(-1, 1)
        else:
            feed[column.name] = values.to_numpy(dtype=np.float64).reshape(-1, 1)
    proba, code, label = session.run(None, feed)
    native, _ = package.predict(frame)
    np.testing.assert_allclose(proba, native.proba, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(code, native.codes)
    assert list(label) == [str(v) for v in native.values]

    # again to the same file: an earlier export is replaced; --json says what was written
    again = trained.cli("models", "export", "churn/1", "--format", "onnx", str(target), "--json")
    assert again.code == 0, again
    report = json.loads(again.out)
    assert report["verdict"]["verified"] is True and report["path"] == str(target)


def trained_package(project: SpecopsProject, version: int) -> ModelPackage:
    from framework.store import Store

    store = Store.open_existing(project.store, write=False)
    try:
        found = store.version("churn", version)
        assert found is not None
        return ModelPackage.from_store(store, found, project.plugins)
    finally:
        store.close()


def test_export_refuses_a_version_without_a_verified_graph(
    trained: SpecopsProject, tmp_path: Path
) -> None:
    target = tmp_path / "native.onnx"
    result = trained.cli("models", "export", "churn/2", "--format", "onnx", str(target))
    assert result.code == 2
    assert "churn/2 has no compiled runtimes" in result.err
    assert "Traceback" not in result.err
    assert not target.exists()

    result = trained.cli("models", "export", "churn/3", "--format", "onnx", str(target))
    assert result.code == 2
    assert (
        "churn/3's onnx graph was not verified at registration: not available: "
        "a column named 'value' would clash with the graph's names"
    ) in result.err
    assert not target.exists()


def test_export_refuses_a_file_it_did_not_write(trained: SpecopsProject, tmp_path: Path) -> None:
    target = tmp_path / "mine.onnx"
    target.write_text("someone's file")
    result = trained.cli("models", "export", "churn/1", "--format", "onnx", str(target))
    assert result.code == 2
    assert "is a file specops did not write" in result.err
    assert target.read_text() == "someone's file"


def test_the_version_records_the_verdict_and_keeps_the_graph(trained: SpecopsProject) -> None:
    from framework.store import Store

    store = Store.open_existing(trained.store, write=False)
    try:
        found = store.version("churn", 1)
        assert found is not None
        assert {"runtimes/onnx/model.onnx", "runtimes/onnx/onnx.json"} <= set(found.files)
        target = trained.directory / "model-1.json"
        store.artifacts.copy_out(found.files["model.json"], "model.json", target)
    finally:
        store.close()
    verdict = json.loads(target.read_text())["runtimes"]["onnx"]
    assert verdict["verified"] is True
    assert verdict["max_proba_error"] <= 1e-12
    assert verdict["single_row_us"] > 0 and verdict["rows_per_second"] > 0


def test_predict_through_the_graph_writes_what_native_writes(
    trained: SpecopsProject, tmp_path: Path
) -> None:
    """``specops predict --runtime onnx`` (missing values, an unseen category) against
    ``--runtime native``: the same labels, probabilities within EXACT."""
    rows = table(240, seed=7).drop(columns=["target"])
    rows.loc[0, "plan"] = "never-seen"
    rows.loc[1, ["age", "fee"]] = np.nan
    rows.to_csv(tmp_path / "rows.csv", index=False)
    written = {}
    for runtime in ("onnx", "native"):
        output = tmp_path / f"{runtime}.csv"
        args = ["--input", str(tmp_path / "rows.csv"), "--output", str(output)]
        result = trained.cli("predict", "churn/1", *args, "--runtime", runtime, "--json")
        assert result.code == 0, result
        assert json.loads(result.out)["runtime"] == runtime
        written[runtime] = pd.read_csv(output)
    onnx, native = written["onnx"], written["native"]
    assert list(onnx.columns) == list(native.columns)
    assert onnx["prediction"].tolist() == native["prediction"].tolist()
    proba = [c for c in native.columns if c.startswith("proba_")]
    np.testing.assert_allclose(onnx[proba], native[proba], rtol=0, atol=1e-12)
