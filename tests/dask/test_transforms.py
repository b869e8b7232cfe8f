"""Transforms fitted with distributed statistics are the pipeline the local fit makes:
the same scikit-learn objects, transforming any frame to the same values."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import StepContext
from framework.plugins import load_plugins
from framework.preprocess import checked_build, fit_preprocess, wrap_step
from framework.signature import as_training_categories
from framework.spec.model import ComponentSpec
from plugins.dask_execution import split as dask_split
from plugins.dask_execution import transforms as dask_transforms
from plugins.transforms import Drop, Impute, OneHot, Ordinal, Scale

dd = pytest.importorskip("dask.dataframe")

CTX = StepContext(spec_name="t", task="binary", target="y", base_dir=Path("."))


@pytest.fixture(scope="module")
def plugins() -> Any:
    return load_plugins()


def training_frame(rows: int = 240) -> pd.DataFrame:
    """Features as the engine hands them over: floats with gaps and ties, integers,
    categories with gaps, text, booleans as 1.0/0.0, a column with a single value."""
    rng = np.random.default_rng(3)
    age = rng.normal(40, 12, size=rows).round(1)
    age[rng.random(rows) < 0.15] = np.nan
    visits = rng.integers(0, 9, size=rows)
    plan = pd.Categorical(rng.choice(["free", "pro", "team", None], size=rows))
    city = pd.Series(rng.choice(["Lyon", "Paris", "Nice", None], size=rows), dtype="str")
    active = rng.choice([1.0, 0.0, np.nan], size=rows, p=[0.5, 0.4, 0.1])
    return pd.DataFrame(
        {
            "age": age,
            "visits": visits,
            "plan": plan,
            "city": city,
            "active": active,
            "flat": np.full(rows, 2.5),
        }
    )


def new_frame(train: pd.DataFrame) -> pd.DataFrame:
    """Rows to transform after fitting: unseen categories, gaps where training had none."""
    plan = pd.Series(["enterprise", "pro", None])
    return pd.DataFrame(
        {
            "age": [30.0, np.nan, 99.5],
            "visits": [2, 3, 40],
            # as the signature codes them: an unseen category becomes missing
            "plan": as_training_categories(plan, list(train["plan"].cat.categories)),
            "city": pd.Series(["Atlantis", "Paris", None], dtype="str"),  # unseen text
            "active": [1.0, np.nan, 0.0],
            "flat": [2.5, np.nan, 1.0],
        }
    )


def assert_same_output(local: Any, distributed: Any, frames: list[pd.DataFrame]) -> None:
    for frame in frames:
        expected, got = local.transform(frame), distributed.transform(frame)
        assert list(got.columns) == list(expected.columns)
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, atol=1e-12)


TRANSFORMS = {
    "impute_median": Impute(),
    "impute_mean": Impute(strategy="mean"),
    "impute_most_frequent": Impute(strategy="most_frequent", add_indicator=True),
    "impute_constant": Impute(strategy="constant", fill_value="none", columns=["plan", "city"]),
    "scale_standard": Scale(),
    "scale_minmax": Scale(method="minmax"),
    "scale_robust": Scale(method="robust"),
    "one_hot": OneHot(),
    "one_hot_infrequent": OneHot(max_categories=3, min_frequency=0.27),
    "ordinal": Ordinal(),
    "ordinal_order": Ordinal(order={"plan": ["free", "team", "pro"]}),
    "drop": Drop(columns=["city"]),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_each_transform_fits_the_local_statistics(
    dask_client: Any, plugins: Any, name: str
) -> None:
    train = training_frame()
    component = TRANSFORMS[name]
    estimator, columns = component.build(train, CTX)
    local = wrap_step(name, estimator, columns).fit(train)

    step, transformed, chosen = dask_transforms.fit_step_distributed(
        name, name.split("_")[0], component, dd.from_pandas(train, npartitions=3), plugins, CTX
    )

    assert chosen == columns
    assert type(step.named_transformers_[name]) is type(local.named_transformers_[name])
    assert step.output_indices_ == local.output_indices_
    if name == "one_hot_infrequent":  # rare categories grouped from the whole table's counts
        grouped = local.named_transformers_[name].infrequent_categories_
        assert any(c is not None for c in grouped)
        got = step.named_transformers_[name].infrequent_categories_
        assert [None if c is None else list(c) for c in got] == [
            None if c is None else list(c) for c in grouped
        ]
    assert_same_output(local, step, [train, new_frame(train)])
    pd.testing.assert_frame_equal(
        transformed.compute(), local.transform(train), check_exact=False, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_a_pipeline_with_auto_steps_equals_the_local_one(
    dask_client: Any, plugins: Any, partitions: int
) -> None:
    train = training_frame(301)  # odd: medians and quartiles fall between values
    specs = (
        ComponentSpec("transform", "impute", {"strategy": "median"}, "preprocess[0]"),
        ComponentSpec("transform", "scale", {"method": "robust"}, "preprocess[1]"),
    )
    model = SimpleNamespace(native_categorical=False, handles_missing=False)
    local = fit_preprocess(train, specs, model, plugins, CTX)

    fitted = dask_transforms.fit_preprocess_distributed(
        dd.from_pandas(train, npartitions=partitions), specs, model, plugins, CTX
    )

    assert fitted.steps == local.steps
    assert [n for n, _ in fitted.pipeline.steps] == [n for n, _ in local.pipeline.steps]
    assert [n for n, _ in local.pipeline.steps][-2:] == ["auto_one_hot", "auto_impute"]
    assert_same_output(local.pipeline, fitted.pipeline, [train, new_frame(train)])
    pd.testing.assert_frame_equal(
        fitted.train.compute(), local.train, check_exact=False, rtol=1e-12, atol=1e-12
    )
    applied = dask_transforms.transform_distributed(
        fitted.pipeline, dd.from_pandas(new_frame(train), npartitions=2)
    )
    pd.testing.assert_frame_equal(
        applied.compute(), local.pipeline.transform(new_frame(train)), rtol=1e-12, atol=1e-12
    )


def test_exact_order_statistics_match_numpy(dask_client: Any) -> None:
    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 4, 5, 10, 101):
        values = rng.normal(size=n).round(2)
        values[::4] = -values[::4]
        frame = pd.DataFrame({"v": np.concatenate([values, [np.nan, np.nan]])})
        current = dd.from_pandas(frame, npartitions=3)
        stats = dask_transforms.basic_stats(current)
        ranks = {(n + 1) // 2, n // 2, n // 2 + 1} - {0}
        for q in (25, 75, 10, 90):
            ranks |= set(dask_transforms._percentile_ranks(n, q))
        dask_transforms.add_order_statistics(current, stats, {"v": ranks})
        assert stats.median("v") == np.nanmedian(frame["v"])
        for q in (25, 75, 10, 90):
            assert stats.percentile("v", q) == np.nanpercentile(frame["v"], q), (n, q)


def test_float_keys_keep_the_order() -> None:
    values = np.array([-np.inf, -3.5, -0.0, 0.0, 1e-300, 2.0, np.inf])
    keys = dask_split.float_keys(values)
    assert list(np.argsort(keys, kind="stable")) == list(range(len(values)))
    assert [dask_split.key_float(int(k)) for k in keys] == list(values)


def test_transforms_that_cannot_fit_distributed_are_refused() -> None:
    assert dask_transforms.refusal(Impute(), "impute") is None
    assert dask_transforms.refusal(OneHot(max_categories=3), "one_hot") is None
    assert "execution: local" in dask_transforms.refusal(object(), "custom")


@pytest.mark.parametrize("strategy", ["median", "mean", "most_frequent"])
def test_empty_partitions_and_an_empty_column(
    dask_client: Any, plugins: Any, strategy: str
) -> None:
    """A split leaves some partitions empty; a column may hold no value at all (the
    imputer then drops it, as locally)."""
    train = training_frame(120).assign(empty=np.nan)
    kept = train.iloc[:90]
    parts = dd.from_pandas(train, npartitions=4)
    parts = parts.map_partitions(
        lambda p: p[p.index < 90], meta=parts._meta
    )  # the last partition keeps no row
    specs = (
        ComponentSpec("transform", "impute", {"strategy": strategy}, "preprocess[0]"),
        ComponentSpec("transform", "scale", {}, "preprocess[1]"),
    )
    model = SimpleNamespace(native_categorical=False, handles_missing=False)
    with pytest.warns(UserWarning, match="empty"):  # scikit-learn: 'empty' has no value
        local = fit_preprocess(kept, specs, model, plugins, CTX)

    fitted = dask_transforms.fit_preprocess_distributed(parts, specs, model, plugins, CTX)

    assert "empty" not in local.train.columns
    assert_same_output(local.pipeline, fitted.pipeline, [kept, new_frame(kept).assign(empty=1.0)])
    pd.testing.assert_frame_equal(fitted.train.compute(), local.train, rtol=1e-12, atol=1e-12)


EXACT = ["impute_median", "impute_most_frequent", "scale_minmax", "scale_robust", "one_hot"]
EXACT += ["one_hot_infrequent", "ordinal", "ordinal_order", "drop"]


@pytest.mark.parametrize("name", EXACT)
def test_order_and_count_statistics_store_the_very_same_bytes(
    dask_client: Any, plugins: Any, name: str, tmp_path: Path
) -> None:
    """What rests on order statistics and counts is exact: the stored step is byte for
    byte the local one (a model package made on Dask holds the same transform.skops)."""
    from framework import save_skops

    train = training_frame(301)
    component = TRANSFORMS[name]
    # built as the engine builds it: through the transform contract
    built = checked_build(plugins, name, component.build(train, CTX), train.columns)
    local = wrap_step(name, *built).fit(train)
    step, _, _ = dask_transforms.fit_step_distributed(
        name, name, component, dd.from_pandas(train, npartitions=4), plugins, CTX
    )
    save_skops(local, tmp_path / "local.skops")
    save_skops(step, tmp_path / "dask.skops")
    assert (tmp_path / "dask.skops").read_bytes() == (tmp_path / "local.skops").read_bytes()
