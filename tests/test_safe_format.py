"""Only data-like scikit-learn objects load from the store; code smuggled in is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework import StoreError, load_skops, save_skops


def test_a_fitted_hist_gradient_boosting_with_categories_round_trips(tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = pd.DataFrame({"x": np.arange(60.0), "c": pd.Categorical(["a", "b", "c"] * 20)})
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=5)
    model.fit(frame, np.arange(60) % 2)
    save_skops(model, tmp_path / "m.skops")
    loaded = load_skops(tmp_path / "m.skops")
    assert (loaded.predict_proba(frame) == model.predict_proba(frame)).all()


@pytest.mark.parametrize("func", [exec, eval, print])
def test_a_function_transformer_naming_a_builtin_is_refused(tmp_path: Path, func) -> None:
    from sklearn.preprocessing import FunctionTransformer

    save_skops(FunctionTransformer(func=func), tmp_path / "evil.skops")
    with pytest.raises(StoreError, match=f"does not trust: builtins.{func.__name__}"):
        load_skops(tmp_path / "evil.skops")


def test_a_library_function_is_refused_too(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import FunctionTransformer

    save_skops(FunctionTransformer(func=load_iris), tmp_path / "f.skops")
    with pytest.raises(StoreError, match=r"sklearn\.datasets\._base\.load_iris"):
        load_skops(tmp_path / "f.skops")


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    from sklearn.preprocessing import StandardScaler

    path = tmp_path / "s.skops"
    save_skops(StandardScaler().fit([[1.0], [2.0]]), path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(StoreError, match="not a readable skops file"):
        load_skops(path)


def test_every_built_in_transform_and_model_still_loads(tmp_path: Path) -> None:
    """The trust rules admit what specops itself stores: each transform kind, each model."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
    )
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        RobustScaler,
        StandardScaler,
    )

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=120),
            "y": np.where(rng.random(120) < 0.1, np.nan, rng.normal(size=120)),
            "c": pd.Categorical(rng.choice(list("abcde"), 120)),
            "s": rng.choice(["u", "v", None], 120).astype(object),
        }
    )
    target = np.arange(120) % 3

    def columns(*parts: tuple) -> ColumnTransformer:
        wrapped = ColumnTransformer(
            list(parts), verbose_feature_names_out=False, remainder="passthrough"
        )
        return wrapped.set_output(transform="pandas")

    pipeline = Pipeline(
        [
            (
                "impute",
                columns(
                    ("n", SimpleImputer(strategy="median"), ["y"]),
                    ("k", SimpleImputer(strategy="constant", fill_value="zz"), ["s"]),
                    ("i", MissingIndicator(error_on_new=False), ["y", "s"]),
                ),
            ),
            ("scale", columns(("a", StandardScaler(), ["x"]), ("b", MinMaxScaler(), ["y"]))),
            ("robust", columns(("r", RobustScaler(), ["y"]))),
            (
                "one_hot",
                columns(("o", OneHotEncoder(sparse_output=False, max_categories=3), ["c"])),
            ),
            (
                "ordinal",
                columns(
                    (
                        "d",
                        OrdinalEncoder(
                            categories=[["u", "v", "zz"]],
                            handle_unknown="use_encoded_value",
                            unknown_value=np.nan,
                            encoded_missing_value=np.nan,
                        ),
                        ["s"],
                    )
                ),
            ),
            ("drop", columns(("z", "drop", ["x"]))),
        ]
    )
    features = pipeline.fit_transform(frame).astype(float)
    models = [
        LogisticRegression(max_iter=500),
        LinearRegression(),
        Ridge(),
        RandomForestClassifier(3, random_state=0),
        ExtraTreesClassifier(3, random_state=0),
    ]
    fitted: list = [pipeline, *(model.fit(features, target) for model in models)]
    native = HistGradientBoostingRegressor(categorical_features="from_dtype", max_iter=3)
    fitted.append(native.fit(frame[["x", "y", "c"]], target.astype(float)))
    for number, obj in enumerate(fitted):
        save_skops(obj, tmp_path / f"{number}.skops")
        loaded = load_skops(tmp_path / f"{number}.skops")
        assert type(loaded) is type(obj)
    assert load_skops(tmp_path / "0.skops").transform(frame).equals(pipeline.transform(frame))


def test_a_sparse_matrix_round_trips_and_a_file_without_schema_is_named(tmp_path: Path) -> None:
    import zipfile

    from scipy.sparse import csr_matrix

    matrix = csr_matrix(np.eye(4))
    save_skops(matrix, tmp_path / "m.skops")
    assert (load_skops(tmp_path / "m.skops") != matrix).nnz == 0

    with zipfile.ZipFile(tmp_path / "empty.skops", "w") as archive:
        archive.writestr("data.bin", b"")
    with pytest.raises(
        StoreError, match=r"empty\.skops is not a readable skops file: it has no schema\.json"
    ):
        load_skops(tmp_path / "empty.skops")
