"""The ``numpy`` runtime against the native pipeline: every built-in transform, the linear
models and LightGBM, each task, with missing values and unseen categories, in batches
and one row at a time, through the same verification the engine runs at registration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from framework import EXACT, RuntimeUnavailable
from framework.runtimes.verify import build_rows, check_runtime
from plugins.runtimes.numpy_runtime import NumpyRuntime
from tests.runtimes.trees_packages import native_predictions, table, train, with_probes

CASES = [
    ("binary", "logistic_regression", {}, (("scale", {}),), None),
    (
        "multiclass",
        "logistic_regression",
        {"C": 0.5},
        (
            ("impute", {"strategy": "most_frequent", "add_indicator": True}),
            ("scale", {"method": "robust"}),
            ("one_hot", {"max_categories": 3}),
        ),
        None,
    ),
    (
        "binary",
        "logistic_regression",
        {},
        (
            ("impute", {"strategy": "constant", "fill_value": "none", "add_indicator": True}),
            ("one_hot", {"min_frequency": 30}),
            ("scale", {"method": "minmax"}),
        ),
        {"rating": "categorical"},
    ),
    (
        "regression",
        "ridge",
        {"alpha": 2.0},
        (
            ("impute", {"add_indicator": True}),
            ("scale", {"method": "minmax"}),
            ("ordinal", {"order": {"plan": ["team", "pro", "plus", "basic"]}}),
        ),
        None,
    ),
    (
        "regression",
        "linear_regression",
        {},
        (("drop", {"columns": ["visits", "city"]}), ("impute", {"strategy": "mean"})),
        {"rating": "categorical"},
    ),
    ("binary", "lightgbm", {"n_estimators": 15}, (), {"rating": "categorical"}),
    (
        "multiclass",
        "lightgbm",
        {"n_estimators": 10},
        (("impute", {"strategy": "most_frequent", "add_indicator": True}),),
        None,
    ),
    (
        "regression",
        "lightgbm",
        {"n_estimators": 15},
        (("ordinal", {}), ("scale", {"method": "standard"}), ("one_hot", {"columns": ["city"]})),
        None,
    ),
]


def _ids(case: tuple) -> str:
    task, model, _, steps, declared = case
    return "-".join(
        [task, model, *(s[0] for s in steps)] + (["int-categories"] if declared else [])
    )


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_same_predictions_as_native(case: tuple, tmp_path: Path) -> None:
    task, model_type, params, steps, declared = case
    package, test = train(tmp_path, table(task=task), task, model_type, params, steps, declared)
    rows = build_rows(with_probes(test), package.signature)  # test rows + engine's probes
    native = native_predictions(package, rows)

    verdict = check_runtime(NumpyRuntime(), package, rows, native, tmp_path / "numpy")
    assert verdict.verified, verdict.why
    assert verdict.files == ("model.json", "transform.json")
    for name in verdict.files:  # data, not code: JSON any reader can check
        json.loads((tmp_path / "numpy" / name).read_text())

    scorer = NumpyRuntime().load(package, tmp_path / "numpy")
    got = scorer.predict(rows.columns, rows.count)
    _assert_same(got, native, bound=1e-12)
    assert got.labels == package.labels
    # one row at a time: the small-batch category lookup (a dict, not pandas)
    for index in range(0, rows.count, 7):
        one = {name: values[index : index + 1] for name, values in rows.columns.items()}
        single = scorer.predict(one, 1)
        reference = native.proba if native.proba is not None else native.codes
        mine = single.proba if single.proba is not None else single.codes
        assert np.abs(mine[0] - reference[index]).max() <= EXACT.proba, rows.describe(index)
        assert single.codes[0] == native.codes[index] or task == "regression"


def _assert_same(got, native, bound: float) -> None:
    if native.proba is None:
        assert got.proba is None
        assert np.abs(got.codes - native.codes).max() <= bound
        return
    assert got.proba.shape == native.proba.shape
    assert np.abs(got.proba - native.proba).max() <= bound
    np.testing.assert_array_equal(got.codes, native.codes)


def test_categories_sent_as_other_types_are_read_like_native(tmp_path: Path) -> None:
    """Integer categories sent as text (a CSV), text categories sent as numbers, numpy
    scalars: the fast lookup steps aside and pandas compares them as conform does."""
    package, test = train(
        tmp_path,
        table(task="binary"),
        "binary",
        "logistic_regression",
        {},
        (("one_hot", {}),),
        {"rating": "categorical", "visits": "categorical"},
    )
    frame = test.head(6).copy()
    frame["rating"] = [str(v) for v in frame["rating"]]
    frame["plan"] = frame["plan"].astype(object)
    frame.loc[0, "plan"] = 7  # unseen, as a number
    rows = build_rows(frame, package.signature)
    native = native_predictions(package, rows)
    runtime = NumpyRuntime()
    (tmp_path / "numpy").mkdir()
    runtime.compile(package, tmp_path / "numpy")
    scorer = runtime.load(package, tmp_path / "numpy")
    for count in (rows.count, 1):
        columns = {name: values[:count] for name, values in rows.columns.items()}
        got = scorer.predict(columns, count)
        np.testing.assert_array_equal(got.codes, native.codes[:count])
        assert np.abs(got.proba - native.proba[:count]).max() <= 1e-12


def test_models_it_does_not_compile_say_why(tmp_path: Path) -> None:
    package, _ = train(tmp_path, table(rows=120), "binary", "random_forest", {"n_estimators": 3})
    why = NumpyRuntime().why_not(package)
    assert why is not None and why.startswith("random_forest is not a model it compiles")
    with pytest.raises(RuntimeUnavailable, match="random_forest"):
        NumpyRuntime().compile(package, tmp_path)


def test_a_transform_it_does_not_know_is_unavailable_not_wrong(tmp_path: Path) -> None:
    """A third-party transform in the pipeline: refused by name, nothing written."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import PolynomialFeatures

    package, _ = train(tmp_path, table(120, task="regression"), "regression", "ridge", {}, ())
    step = ColumnTransformer(
        [("poly", PolynomialFeatures(), ["age"])], remainder="passthrough"
    ).set_output(transform="pandas")
    step.fit(table(rows=50).drop(columns=["target"]).fillna({"age": 0.0}))
    package.transform = Pipeline([("foreign", step)])
    target = tmp_path / "numpy"
    target.mkdir()
    with pytest.raises(RuntimeUnavailable, match="PolynomialFeatures"):
        NumpyRuntime().compile(package, target)
    assert list(target.iterdir()) == []


def test_a_damaged_or_foreign_file_is_refused_on_load(tmp_path: Path) -> None:
    package, _ = train(tmp_path, table(rows=120), "binary", "logistic_regression", {}, ())
    target = tmp_path / "numpy"
    target.mkdir()
    NumpyRuntime().compile(package, target)
    copy = tmp_path / "copy"
    shutil.copytree(target, copy)
    not_compiled = r"runtimes/numpy/transform\.json is not what this model compiles to"
    (copy / "transform.json").write_text("[1, 2")
    with pytest.raises(RuntimeUnavailable, match=not_compiled):
        NumpyRuntime().load(package, copy)
    data = json.loads((target / "transform.json").read_text())
    data["format"] = 99
    (copy / "transform.json").write_text(json.dumps(data))
    with pytest.raises(RuntimeUnavailable, match=not_compiled):
        NumpyRuntime().load(package, copy)


def test_registered_as_the_numpy_runtime() -> None:
    import plugins.runtimes.numpy_runtime as module
    from framework.plugins import get_plugins, load_plugins

    registry = get_plugins().registry
    if "numpy" not in registry.types("runtime"):  # entry point not installed yet
        registry = load_plugins(extra=[("numpy_runtime", module)]).registry
    runtime = registry.find("runtime", "numpy").factory()
    assert runtime.name == "numpy" and runtime.tolerance == EXACT


def test_encoders_asked_in_chunks_give_the_same_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wide one-hot is asked how it encodes each value a few rows at a time (bounded
    memory); the tables are the same as asked at once, and predictions match native."""
    from plugins.runtimes import numpy_transform

    steps = (
        ("impute", {"strategy": "most_frequent", "add_indicator": True}),
        ("one_hot", {"columns": ["city", "plan", "missingindicator_age"]}),
        ("ordinal", {}),
        ("one_hot", {"columns": ["active"]}),
    )
    package, test = train(
        tmp_path, table(task="multiclass"), "multiclass", "lightgbm", {"n_estimators": 5}, steps
    )
    whole = numpy_transform.compile_transform(package.transform, package.signature)
    monkeypatch.setattr(numpy_transform, "PROBE_CELLS", 5)
    chunked = numpy_transform.compile_transform(package.transform, package.signature)
    assert chunked == whole
    rows = build_rows(with_probes(test), package.signature)
    native = native_predictions(package, rows)
    verdict = check_runtime(NumpyRuntime(), package, rows, native, tmp_path / "numpy")
    assert verdict.verified, verdict.why


def test_a_run_verifies_it_and_predict_uses_it(tmp_path: Path, cli) -> None:
    """Through `specops run` (serve.runtime: numpy): the version records a verified numpy
    verdict with its files, and `specops predict` scores with it, as natively."""
    import pandas as pd

    table(400).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "spec.yaml").write_text(
        "name: numpy-e2e\n"
        "task: binary\n"
        "data:\n"
        "  source: {type: csv, params: {path: data.csv}}\n"
        "  target: target\n"
        "preprocess:\n"
        "  - {type: impute, params: {add_indicator: true}}\n"
        "  - {type: scale, params: {method: robust}}\n"
        "model: {type: logistic_regression}\n"
        "serve: {runtime: numpy}\n"
    )
    done = cli("run", tmp_path / "spec.yaml")
    assert done.code == 0, done.err
    store = tmp_path / ".specops"
    shown = cli("models", "show", "numpy-e2e/1", "--json", "--store", store)
    assert shown.code == 0, shown.err
    runtimes = json.loads(shown.out)["runtimes"]
    assert runtimes["serves"] == "numpy" and runtimes["scores"] == "numpy"
    verdict = runtimes["verdicts"]["numpy"]
    assert verdict["verified"] is True and verdict["max_proba_error"] <= EXACT.proba
    assert verdict["files"] == ["runtimes/numpy/model.json", "runtimes/numpy/transform.json"]

    rows = table(60, seed=5).drop(columns=["target"])
    rows.loc[0, "plan"] = "never-seen"
    rows.to_csv(tmp_path / "rows.csv", index=False)
    for runtime in ("numpy", "native"):
        out = tmp_path / f"{runtime}.csv"
        scored = cli(
            "predict", "numpy-e2e@champion", "--input", tmp_path / "rows.csv", "--output", out,
            "--runtime", runtime, "--store", store,
        )  # fmt: skip
        assert scored.code == 0, scored.err
        assert f"({runtime} runtime)" in scored.out + scored.err
    assert pd.read_csv(tmp_path / "numpy.csv").equals(pd.read_csv(tmp_path / "native.csv"))
