"""specops' C for tree ensembles (plugins/runtimes/trees_c.py), compiled with gcc and
called as the treelite runtime calls it: the raw sums must be Treelite's interpreter's and
the model's own raw scores bit for bit, for every model shape the runtime serves, on rows
that hit thresholds exactly, miss values, and send negative, unseen, fractional, huge and
infinite categories; the C holds numbers only; libraries of another generator version are
not loaded; a model beyond the generator's bounds is refused before any build."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framework import RuntimeUnavailable
from plugins.runtimes import treelite_cache, trees_c
from plugins.runtimes.treelite import CompiledTrees

pytestmark = pytest.mark.skipif(
    treelite_cache.compiler() is None, reason="no C compiler on this machine"
)


def gtil(model: Any, X: np.ndarray) -> np.ndarray:
    """Treelite's interpreter's raw sums, one row of outputs per row."""
    import treelite.gtil

    return treelite.gtil.predict(model, X, pred_margin=True).reshape(len(X), -1)


def built(model: Any, directory: Path, source: str | None = None) -> CompiledTrees:
    """``model``'s library, compiled as the build child compiles it, and loaded."""
    directory.mkdir(parents=True, exist_ok=True)
    code, library = directory / "lib.c", directory / "lib.so"
    code.write_text(source if source is not None else trees_c.generate(model))
    compiler = treelite_cache.compiler()
    assert compiler is not None
    command = [compiler, *trees_c.CFLAGS, "-o", str(library), str(code), "-lm"]
    subprocess.run(command, check=True)
    return CompiledTrees(library, model.num_feature)


def hard_rows(
    model: Any, rows: int, seed: int, categorical: tuple[int, ...] = (), odd: bool = True
) -> np.ndarray:
    """Rows whose values are the trees' own thresholds and their neighbours, NaN, +-inf
    and -0.0; categorical columns get categories, NaN, negatives, fractions, values past
    every category, 2**24 and beyond, and infinities."""
    from plugins.runtimes.treelite import split_values

    rng = np.random.default_rng(seed)
    pools = split_values(model, model.num_feature)
    X = np.column_stack([rng.choice(pool, rows) for pool in pools])
    extremes = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e300, -1e300])
    mask = rng.random(X.shape) < (0.1 if odd else 0.0)
    X[mask] = rng.choice(extremes, int(mask.sum()))
    strange = [np.nan, -1.0, -0.5, -0.0, 0.5, 2.5, 2.999999999, 7.0, 63.0, 64.0, 65.0, 1e10]
    strange += [2.0**24, 2.0**24 + 1, 2.0**32, np.inf, -np.inf, *range(8)]
    for column in categorical:
        X[:, column] = rng.choice(np.asarray(strange), rows)
    return X


def _training(rows: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, 5))
    X[:, 4] = rng.integers(0, 7, rows)
    X[rng.random(X.shape) < 0.1] = np.nan
    signal = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * 0.5 + (X[:, 4] % 3 == 1)
    return X, signal


def _lightgbm(objective: str) -> tuple[Any, Any]:
    import lightgbm as lgb
    import treelite

    X, signal = _training()
    y: Any = signal
    extra: dict[str, Any] = {}
    if objective == "binary":
        y = (signal > 0.5).astype(int)
    elif objective == "multiclass":
        y, extra = np.digitize(signal, [0.0, 1.0]), {"num_class": 3}
    params = {"objective": objective, "verbose": -1, "num_leaves": 9, "min_data_per_group": 5}
    data = lgb.Dataset(X, y, categorical_feature=[4])
    booster = lgb.train({**params, "cat_smooth": 1, **extra}, data, 6)
    return treelite.frontend.from_lightgbm(booster), booster


@pytest.mark.parametrize("objective", ["binary", "multiclass", "regression"])
def test_lightgbm_sums_are_lightgbms_and_the_interpreters_bit_for_bit(
    objective: str, tmp_path: Path
) -> None:
    model, booster = _lightgbm(objective)
    assert "categorical" in model.dump_as_json()  # categorical splits are compiled
    trees = built(model, tmp_path)
    X = hard_rows(model, 3_000, seed=1, categorical=(4,))
    got = trees(X)
    np.testing.assert_array_equal(got, gtil(model, X))
    # LightGBM's own scores on its ordinary inputs (thresholds exactly, either side of
    # them, missing; its categories): Treelite's import differs from it on odd ones, and
    # within LightGBM's zero band (|x| about 1e-35: it may read zero or missing there)
    plain = hard_rows(model, 3_000, seed=2, odd=False)
    plain[np.abs(plain) < 1e-34] = 0.5
    plain[:, 4] = np.random.default_rng(3).choice([np.nan, *range(8)], len(plain))
    raw = booster.predict(plain, raw_score=True).reshape(len(plain), -1)
    np.testing.assert_array_equal(trees(plain), raw)
    one = np.concatenate([trees(X[row : row + 1]) for row in range(50)])
    np.testing.assert_array_equal(one, got[:50])


FORESTS = [
    ("RandomForestClassifier", "binary"),
    ("RandomForestClassifier", "multiclass"),
    ("ExtraTreesClassifier", "multiclass"),
    ("RandomForestRegressor", "regression"),
    ("ExtraTreesRegressor", "regression"),
]


@pytest.mark.parametrize(("kind", "task"), FORESTS, ids=["-".join(f) for f in FORESTS])
def test_forest_sums_are_the_interpreters_bit_for_bit(kind: str, task: str, tmp_path: Path) -> None:
    """scikit-learn forests (leaf vectors for classes, averaged trees), trained with
    missing values, so some splits send only missing values one way (an infinite
    threshold); inputs rounded to float32 as the runtime's scorer rounds them."""
    import sklearn.ensemble
    import treelite.sklearn

    X, signal = _training(400, seed=3)
    y: Any = signal if task == "regression" else np.digitize(signal, [0.5])
    if task == "multiclass":
        y = np.digitize(signal, [0.0, 1.0])
    X32 = X.astype(np.float32).astype(np.float64)
    estimator = getattr(sklearn.ensemble, kind)(n_estimators=4, max_depth=6, random_state=0)
    estimator.fit(X32, y)
    model = treelite.sklearn.import_model(estimator)
    trees = built(model, tmp_path)
    with np.errstate(over="ignore"):  # 1e300 is infinite in float32
        rows = hard_rows(model, 2_000, seed=4).astype(np.float32).astype(np.float64)
    got = trees(rows)
    np.testing.assert_array_equal(got, gtil(model, rows))
    finite = rows[~np.isinf(rows).any(axis=1)]  # scikit-learn refuses infinities
    native = estimator.predict_proba(finite) if task != "regression" else estimator.predict(finite)
    mine = trees(finite).reshape(native.shape)
    np.testing.assert_allclose(mine, native, rtol=0, atol=1e-12)


def test_an_infinite_threshold_is_compiled_exactly(tmp_path: Path) -> None:
    """Treelite's JSON dump writes an infinite threshold as nothing; the generator reads
    the trees' arrays, so a split that sends only missing values right stays one."""
    import treelite.sklearn
    from sklearn.ensemble import RandomForestClassifier

    X = np.array([[0.0], [1.0], [2.0], [np.nan], [np.nan], [3.0]] * 20)
    y = np.array([0, 0, 0, 1, 1, 0] * 20)
    estimator = RandomForestClassifier(n_estimators=1, bootstrap=False, random_state=0)
    model = treelite.sklearn.import_model(estimator.fit(X, y))
    assert np.isinf(model.get_tree_accessor(0).get_field("threshold")).any()
    assert "INFINITY" in trees_c.generate(model)
    rows = np.array([[0.0], [5.0], [np.inf], [-np.inf], [np.nan], [1e308]])
    got = built(model, tmp_path)(rows)
    np.testing.assert_array_equal(got, gtil(model, rows))


def test_the_c_holds_numbers_only(tmp_path: Path) -> None:
    """Feature names (any text a data set brings) never reach the C source: features are
    indices, thresholds and leaves hexadecimal floats."""
    import lightgbm as lgb
    import treelite

    X, signal = _training(300)
    names = ["x);system(echo_pwned);", "*/#include</etc/passwd>/*", "b", "c", "d"]
    booster = lgb.train(
        {"objective": "regression", "verbose": -1},
        lgb.Dataset(X, signal, feature_name=names, categorical_feature=[4]),
        3,
    )
    source = trees_c.generate(treelite.frontend.from_lightgbm(booster))
    assert "system" not in source and "passwd" not in source and "pwned" not in source
    assert source.replace('visibility("hidden")', "").count('"') == 0  # no other string
    assert source.count("#include") == 3  # math.h, stdint.h, string.h


def test_a_library_of_another_generator_version_is_not_loaded(tmp_path: Path) -> None:
    model, _ = _lightgbm("regression")
    source = trees_c.generate(model)
    mark = f"specops_trees_version(void) {{ return {trees_c.GENERATOR_VERSION}; }}"
    assert mark in source
    older = source.replace(mark, "specops_trees_version(void) { return 0; }")
    with pytest.raises(RuntimeUnavailable, match="built by trees generator version 0"):
        built(model, tmp_path / "older", older)


def test_a_library_without_the_abi_is_not_loaded(tmp_path: Path) -> None:
    """A library an older specops built with TL2cgen has no specops_trees_* functions."""
    code = tmp_path / "other.c"
    code.write_text("void predict(void* data, int margin, double* out) { out[0] = 1.0; }\n")
    library = tmp_path / "other.so"
    subprocess.run(["gcc", *trees_c.CFLAGS, "-o", str(library), str(code)], check=True)
    with pytest.raises(RuntimeUnavailable, match="not a library of specops' compiled trees"):
        CompiledTrees(library, 3)


def test_the_cache_key_names_the_generator_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new generator version builds its own library: an older one's is never found."""
    contents = {"trees.tl": b"trees", "model.json": b"{}", "transform.json": b"{}"}
    now = treelite_cache.cache_key(contents)
    monkeypatch.setattr(trees_c, "GENERATOR_VERSION", trees_c.GENERATOR_VERSION + 1)
    assert treelite_cache.cache_key(contents) != now


def test_a_model_beyond_the_bounds_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = _lightgbm("multiclass")
    assert trees_c.refusal(model) is None
    monkeypatch.setattr(trees_c, "MAX_NODES", 20)
    reason = trees_c.refusal(model)
    assert reason == "the trees have more than 20 nodes, more than it compiles"
    with pytest.raises(trees_c.Unsupported, match="more than 20 nodes"):
        trees_c.generate(model)
    monkeypatch.undo()
    monkeypatch.setattr(trees_c, "MAX_CATEGORY", 3)
    assert "names category" in (trees_c.refusal(model) or "")
    monkeypatch.undo()
    monkeypatch.setattr(trees_c, "MAX_SOURCE_BYTES", 1_000)
    with pytest.raises(trees_c.Unsupported, match=r"its C would be .* bytes, more than 1,000"):
        trees_c.generate(model)


def test_a_library_built_from_several_files_sums_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big model's C is split across files compiled on several cores at once (the build
    child's way); linked, it is the same library."""
    model, _ = _lightgbm("multiclass")
    monkeypatch.setattr(trees_c, "UNIT_NODES", 1)
    units = trees_c.generate_units(model, 3)
    assert len(units) == 4  # three shares of trees, and the ABI with the block loop
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "trees.tl").write_bytes(bytes(model.serialize_bytes()))
    monkeypatch.setattr(treelite_cache, "_build_cores", lambda: 3)
    assert treelite_cache.main([str(scratch), treelite_cache.compiler() or "gcc"]) == 0
    assert sorted(p.name for p in scratch.glob("unit*.c")) == [f"unit{i}.c" for i in range(4)]
    X = hard_rows(model, 1_000, seed=5, categorical=(4,))
    split = CompiledTrees(scratch / "lib.so", model.num_feature)
    np.testing.assert_array_equal(split(X), built(model, tmp_path / "one")(X))
    np.testing.assert_array_equal(split(X), gtil(model, X))
