"""The built-in models, trained for real on small scikit-learn datasets and stored safely."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from framework import DataError, StepContext, StoreError, save_skops
from plugins.models import lightgbm_model, sklearn_models
from plugins.models.lightgbm_model import LightGBMModel
from plugins.models.sklearn_models import (
    HistGradientBoostingModel,
    RandomForestModel,
    RidgeModel,
)
from tests.helpers import heavy_imports

SEED = 7

FAST_PARAMS: dict[str, dict[str, Any]] = {
    "lightgbm": {"n_estimators": 20, "num_leaves": 7, "n_jobs": 1},
    "logistic_regression": {"C": 0.5},
    "linear_regression": {},
    "ridge": {"alpha": 0.5},
    "random_forest": {"n_estimators": 10, "max_depth": 6, "n_jobs": 1},
    "hist_gradient_boosting": {"max_iter": 20},
    "extra_trees": {"n_estimators": 10, "max_depth": 6, "n_jobs": 1},
}


def context(task: str, seed: int = SEED) -> StepContext:
    return StepContext(spec_name="test", task=task, target="y", base_dir=Path("."), seed=seed)


@cache
def dataset(task: str) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """(X_train, y_train, X_test, y_test): every fourth row is held out.

    Features are standardised so linear models converge; every frame also carries
    a ``band`` column of pandas ``category`` dtype (text categories) for the
    models that take categories natively.
    """
    loader = {"binary": load_breast_cancer, "multiclass": load_iris, "regression": load_diabetes}
    X, y = loader[task](return_X_y=True, as_frame=True)
    X = (X - X.mean()) / X.std()
    bands = pd.qcut(X.iloc[:, 0], 3, labels=["low", "mid", "high"]).astype(str)
    X["band"] = bands.astype("category")
    y = y.to_numpy(dtype=float if task == "regression" else np.int64)
    test = np.arange(len(X)) % 4 == 0
    return X[~test], y[~test], X[test], y[test]


def features_for(model: Any, X: pd.DataFrame) -> pd.DataFrame:
    """The engine one-hot encodes categories for models without native support."""
    return X if model.native_categorical else X.drop(columns="band")


def trained(type_name: str, task: str, **params: Any) -> tuple[Any, pd.DataFrame]:
    """A fitted model of ``type_name`` and the test features it expects."""
    factory = registered()[type_name][0]
    model = factory(**{**FAST_PARAMS[type_name], **params})
    X_train, y_train, X_test, _ = dataset(task)
    model.fit(features_for(model, X_train), y_train, context(task))
    return model, features_for(model, X_test)


def registered() -> dict[str, tuple[Any, dict[str, Any] | None]]:
    found: dict[str, tuple[Any, dict[str, Any] | None]] = {}

    def register(
        type_name: str, factory: Any, params_schema: Any = None, *, summary: str = ""
    ) -> None:
        assert summary and type_name not in found
        found[type_name] = (factory, params_schema)

    lightgbm_model.specops_register_models(register)
    sklearn_models.specops_register_models(register)
    return found


MODEL_TASKS = [
    (type_name, task)
    for type_name, (factory, _) in sorted(registered().items())
    for task in sorted(factory.tasks)
]


def round_trip_cases() -> list[Any]:
    return list(MODEL_TASKS)


@pytest.mark.parametrize(("type_name", "task"), round_trip_cases())
def test_reloaded_model_predicts_identically(type_name: str, task: str, tmp_path: Path) -> None:
    model, X_test = trained(type_name, task)
    model.save(tmp_path)

    reloaded = type(model).load(tmp_path)

    np.testing.assert_array_equal(reloaded.predict(X_test), model.predict(X_test))
    if task != "regression":
        np.testing.assert_array_equal(reloaded.predict_proba(X_test), model.predict_proba(X_test))
    assert json.loads((tmp_path / "model.json").read_text())["task"] == task


def test_hist_gradient_boosting_without_categories_round_trips(tmp_path: Path) -> None:
    model = HistGradientBoostingModel(max_iter=10)
    X_train, y_train, X_test, _ = dataset("binary")
    model.fit(X_train.drop(columns="band"), y_train, context("binary"))
    model.save(tmp_path)

    reloaded = HistGradientBoostingModel.load(tmp_path)

    np.testing.assert_array_equal(
        reloaded.predict_proba(X_test.drop(columns="band")),
        model.predict_proba(X_test.drop(columns="band")),
    )


@pytest.mark.parametrize(("type_name", "task"), MODEL_TASKS)
def test_model_learns_and_returns_the_promised_shapes(type_name: str, task: str) -> None:
    model, X_test = trained(type_name, task)
    y_test = dataset(task)[3]

    predictions = model.predict(X_test)

    assert predictions.shape == (len(X_test),)
    if task == "regression":
        assert np.corrcoef(predictions, y_test)[0, 1] > 0.5
        with pytest.raises(TypeError, match="classification"):
            model.predict_proba(X_test)
        return
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2 if task == "binary" else 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(predictions, proba.argmax(axis=1))
    assert (predictions == y_test).mean() > 0.85


@pytest.mark.parametrize("type_name", ["lightgbm", "random_forest"])
def test_class_absent_from_training_still_gets_a_probability_column(type_name: str) -> None:
    X_train, y_train, X_test, _ = dataset("multiclass")
    seen = y_train != 1  # codes 0 and 2 only: class 1 never seen
    model = registered()[type_name][0](**FAST_PARAMS[type_name])
    model.fit(features_for(model, X_train)[seen], y_train[seen], context("multiclass"))

    proba = model.predict_proba(features_for(model, X_test))

    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba[:, 1], 0.0, atol=1e-6)
    assert set(model.predict(features_for(model, X_test))) <= {0, 2}


def with_band(X: pd.DataFrame, values: Any, categories: list[str]) -> pd.DataFrame:
    return X.assign(band=pd.Categorical(values, categories=categories))


def test_lightgbm_maps_categories_by_value_after_reload(tmp_path: Path) -> None:
    """Another category order, or an unseen category, must not shift the codes."""
    X_train, y_train, X_test, _ = dataset("binary")
    columns = ["mean texture", "band"]  # band (binned radius) carries most of the signal
    model = LightGBMModel(n_estimators=20, min_child_samples=5, n_jobs=1)
    model.fit(X_train[columns], y_train, context("binary"))
    X_test = X_test[columns]
    model.save(tmp_path)
    reloaded = LightGBMModel.load(tmp_path)
    texts = X_test["band"].astype(str)
    n = len(X_test)

    expected = model.predict_proba(X_test)

    assert not np.allclose(
        model.predict_proba(with_band(X_test, ["low"] * n, ["low"])),
        model.predict_proba(with_band(X_test, ["high"] * n, ["high"])),
    )
    reordered = with_band(X_test, texts, ["high", "mid", "low"])
    np.testing.assert_array_equal(reloaded.predict_proba(reordered), expected)
    np.testing.assert_array_equal(
        reloaded.predict_proba(with_band(X_test, ["huge"] * n, ["huge", "low"])),
        model.predict_proba(with_band(X_test, [None] * n, ["low"])),
    )


def test_lightgbm_reorders_columns_to_training_order() -> None:
    model, X_test = trained("lightgbm", "multiclass")

    shuffled = X_test[list(reversed(X_test.columns))]

    np.testing.assert_array_equal(model.predict_proba(shuffled), model.predict_proba(X_test))
    with pytest.raises(DataError, match="band"):
        model.predict(X_test.drop(columns="band"))


@pytest.mark.parametrize("type_name", ["lightgbm", "hist_gradient_boosting"])
def test_native_categorical_model_reads_text_columns_as_categories(type_name: str) -> None:
    """An impute step returns categories as strings; the model must still map them by value."""
    X_train, y_train, X_test, _ = dataset("binary")
    model = registered()[type_name][0](**FAST_PARAMS[type_name])
    model.fit(X_train.assign(band=X_train["band"].astype(str)), y_train, context("binary"))

    from_text = model.predict_proba(X_test.assign(band=X_test["band"].astype(str)))

    np.testing.assert_array_equal(from_text, model.predict_proba(X_test))


def model_text(seed: int, tmp_path: Path, name: str) -> bytes:
    params = {"subsample": 0.7, "subsample_freq": 1, "colsample_bytree": 0.7}
    model = LightGBMModel(**FAST_PARAMS["lightgbm"], **params)
    X_train, y_train, _, _ = dataset("binary")
    model.fit(X_train, y_train, context("binary", seed=seed))
    model.save(tmp_path / name)
    return (tmp_path / name / "model.txt").read_bytes()


def test_lightgbm_fit_is_byte_reproducible_for_a_seed(tmp_path: Path) -> None:
    first = model_text(SEED, tmp_path, "first")

    assert model_text(SEED, tmp_path, "again") == first
    assert model_text(SEED + 1, tmp_path, "other_seed") != first


def test_lightgbm_balanced_class_weight_shifts_towards_the_rare_class() -> None:
    X_train, y_train, X_test, _ = dataset("binary")
    rare = np.flatnonzero(y_train == 0)[20:]  # keep 20 malignant rows only
    keep = np.setdiff1d(np.arange(len(y_train)), rare)
    plain, balanced = (
        LightGBMModel(n_estimators=10),
        LightGBMModel(n_estimators=10, class_weight="balanced"),
    )
    for model in (plain, balanced):
        model.fit(X_train.iloc[keep], y_train[keep], context("binary"))

    assert balanced.predict_proba(X_test)[:, 0].mean() > plain.predict_proba(X_test)[:, 0].mean()


def test_sklearn_model_seed_defaults_to_the_run_seed() -> None:
    model, _ = trained("random_forest", "regression")
    chosen, _ = trained("random_forest", "regression", random_state=123)

    assert model.estimator.get_params()["random_state"] == SEED
    assert chosen.estimator.get_params()["random_state"] == 123


def test_tampered_skops_model_is_refused(tmp_path: Path) -> None:
    model, _ = trained("ridge", "regression")
    model.save(tmp_path)
    save_skops(make_pipeline(FunctionTransformer(os.system)), tmp_path / "model.skops")

    with pytest.raises(StoreError, match=r"does not trust: posix\.system|nt\.system"):
        RidgeModel.load(tmp_path)


def test_loading_another_model_types_directory_is_refused(tmp_path: Path) -> None:
    model, _ = trained("lightgbm", "regression")
    model.save(tmp_path)

    with pytest.raises(StoreError, match="holds a 'lightgbm' model, not 'random_forest'"):
        RandomForestModel.load(tmp_path)
    with pytest.raises(StoreError, match="cannot read"):
        LightGBMModel.load(tmp_path / "nowhere")


def test_class_weight_on_a_regression_task_is_a_static_finding() -> None:
    for model in (
        LightGBMModel(class_weight="balanced"),
        RandomForestModel(class_weight="balanced"),
    ):
        findings = model.validate(context("regression"))
        assert [finding.key for finding in findings] == ["class_weight"]
        assert findings[0].message == "class_weight applies to classification only"
        assert model.validate(context("binary")) == []


@pytest.mark.parametrize("type_name", ["lightgbm", "random_forest", "hist_gradient_boosting"])
def test_class_weight_null_on_a_regression_task_trains(type_name: str) -> None:
    """null is the schema's default: writing it out must not reach a regressor as a param."""
    model, X_test = trained(type_name, "regression", class_weight=None)

    assert model.validate(context("regression")) == []
    assert model.predict(X_test).shape == (len(X_test),)


def test_corrupt_lightgbm_model_file_is_a_store_error(tmp_path: Path) -> None:
    model, _ = trained("lightgbm", "binary")
    model.save(tmp_path)
    (tmp_path / "model.txt").write_text("not a LightGBM model\n")

    with pytest.raises(StoreError, match=r"model\.txt is not a readable LightGBM model"):
        LightGBMModel.load(tmp_path)


def test_unknown_param_is_refused_by_the_constructor() -> None:
    with pytest.raises(TypeError, match="n_trees"):
        RandomForestModel(n_trees=5)
    with pytest.raises(TypeError, match="leaves"):
        LightGBMModel(leaves=5)


EXPECTED = {
    "lightgbm": ({"binary", "multiclass", "regression"}, True, True),
    "logistic_regression": ({"binary", "multiclass"}, False, False),
    "linear_regression": ({"regression"}, False, False),
    "ridge": ({"regression"}, False, False),
    "random_forest": ({"binary", "multiclass", "regression"}, False, True),
    "hist_gradient_boosting": ({"binary", "multiclass", "regression"}, True, True),
    "extra_trees": ({"binary", "multiclass", "regression"}, False, True),
}


def test_registers_every_model_with_its_capabilities() -> None:
    found = registered()

    assert {
        name: (set(factory.tasks), factory.native_categorical, factory.handles_missing)
        for name, (factory, _) in found.items()
    } == EXPECTED


@pytest.mark.parametrize("type_name", sorted(EXPECTED))
def test_params_schema_is_closed_valid_and_matches_its_defaults(type_name: str) -> None:
    schema = registered()[type_name][1]
    assert schema is not None

    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
        if "default" in prop:
            jsonschema.validate(prop["default"], prop)
    assert jsonschema.Draft202012Validator(schema).is_valid(FAST_PARAMS[type_name])
    assert not jsonschema.Draft202012Validator(schema).is_valid({"no_such_param": 1})


@pytest.mark.parametrize(
    ("type_name", "params"),
    [
        ("lightgbm", {"learning_rate": 0}),
        ("lightgbm", {"num_leaves": 1}),
        ("lightgbm", {"class_weight": "auto"}),
        ("random_forest", {"max_features": 1.5}),
        ("ridge", {"alpha": -1}),
        ("hist_gradient_boosting", {"max_bins": 256}),
    ],
)
def test_params_schema_refuses_out_of_bounds_values(type_name: str, params: dict) -> None:
    schema = registered()[type_name][1]

    assert not jsonschema.Draft202012Validator(schema).is_valid(params)


def test_importing_the_plugins_leaves_heavy_libraries_unimported() -> None:
    heavy = ("pandas", "numpy", "sklearn", "lightgbm")
    plugins = ["plugins.models.lightgbm_model", "plugins.models.sklearn_models"]

    assert heavy_imports(plugins, heavy) == []


def test_lightgbm_trained_on_a_handful_of_rows_registers_and_reloads(cli, write_spec) -> None:
    """Too few rows to split on: LightGBM writes one-leaf trees (an empty leaf_weight),
    which the model-file check must accept as LightGBM wrote them."""
    spec = write_spec(
        """
        name: tiny
        task: binary
        data:
          source: {type: sklearn_dataset, params: {name: breast_cancer}}
          target: target
          split: {type: stratified, params: {test_size: 0.99}}
        model: {type: lightgbm, params: {n_estimators: 5}}
        """
    )
    ran = cli("run", spec, "--json")
    assert ran.code == 0, ran.err + ran.out
    rows = spec.parent / "rows.csv"
    from sklearn.datasets import load_breast_cancer

    load_breast_cancer(as_frame=True).frame.drop(columns="target").head(5).to_csv(rows, index=False)
    store = spec.parent / ".specops"
    predicted = cli("predict", "tiny", "-i", rows, "-o", spec.parent / "out.csv", "--store", store)
    assert predicted.code == 0, predicted.err
