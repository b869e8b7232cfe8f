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
