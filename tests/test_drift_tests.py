"""Drift tests: the built-ins against SciPy on full data, a third-party test, the spec."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from framework import DriftResult, SpecError, hookimpl
from framework.monitoring.profile import categorical_profile, numeric_profile
from framework.plugins import load_plugins
from framework.spec import load_spec
from tests.conftest import SPECS


def sorted_series(values: np.ndarray) -> pd.Series:
    return pd.Series(np.sort(values))


@pytest.mark.parametrize(
    ("make_reference", "make_current"),
    [
        (lambda r: r.normal(size=200_000), lambda r: r.normal(0.02, 1, 3_000)),
        (lambda r: r.lognormal(size=200_000), lambda r: r.lognormal(0.05, 1.05, 200_000)),
        (lambda r: r.integers(1, 73, 100_000).astype(float), lambda r: r.integers(1, 75, 500)),
        (
            lambda r: np.where(r.random(100_000) < 0.3, 0, r.exponential(size=100_000)),
            lambda r: np.where(r.random(20_000) < 0.33, 0, r.exponential(size=20_000)),
        ),
    ],
    ids=["normal", "lognormal", "integers", "zero-inflated"],
)
def test_ks_and_wasserstein_on_a_profile_match_scipy_on_the_full_data(
    make_reference, make_current
) -> None:
    plugins = load_plugins()
    rng = np.random.default_rng(5)
    reference, current = make_reference(rng), make_current(rng).astype(float)
    profile = numeric_profile("x", reference)
    ks = plugins.build("drift_test", "ks").statistic(profile, sorted_series(current))
    exact = stats.ks_2samp(reference, current)
    d = float(ks.detail.split("D = ")[1].split(" ")[0])
    assert abs(d - exact.statistic) < 0.001
    assert (ks.statistic < 0.05) == (exact.pvalue < 0.05)
    wasserstein = plugins.build("drift_test", "wasserstein").statistic(
        profile, sorted_series(current)
    )
    full = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert wasserstein.statistic == pytest.approx(full, rel=0.02, abs=0.002)


def test_categorical_tests_use_the_usual_definitions() -> None:
    plugins = load_plugins()
    rng = np.random.default_rng(1)
    reference = pd.Series(rng.choice(list("abcde"), 50_000, p=[0.4, 0.3, 0.2, 0.05, 0.05]))
    current = pd.Series(rng.choice(list("abcdf"), 20_000, p=[0.35, 0.3, 0.2, 0.1, 0.05]))
    profile = categorical_profile("c", reference.astype("category"))
    cats = current.astype("category")
    keys = sorted(set(reference) | set(current))
    ref = reference.value_counts().reindex(keys, fill_value=0).to_numpy()
    cur = current.value_counts().reindex(keys, fill_value=0).to_numpy()
    js = plugins.build("drift_test", "jensen_shannon").statistic(profile, cats)
    assert js.statistic == pytest.approx(distance.jensenshannon(ref / ref.sum(), cur / cur.sum()))
    chi = plugins.build("drift_test", "chi_square").statistic(profile, cats)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False).pvalue
    assert chi.statistic == pytest.approx(expected) and chi.drifted
    psi = plugins.build("drift_test", "psi", {"threshold": 0.1}).statistic(profile, cats)
    assert psi.drifted and psi.threshold == 0.1 and "(unseen)" in psi.detail


def test_a_p_value_test_with_nothing_to_compare_reads_as_a_p_value() -> None:
    profile = categorical_profile("c", pd.Series(["a"] * 50).astype("category"))
    result = (
        load_plugins()
        .build("drift_test", "chi_square")
        .statistic(profile, pd.Series(["a"] * 20).astype("category"))
    )
    assert (result.statistic, result.drifted, result.measure, result.drift_if) == (
        1.0,
        False,
        "p_value",
        "<",
    )
    assert result.detail == "one cell only: nothing to compare"


class MeanShift:
    """A third party's test: the shift of the mean, in reference standard deviations."""

    roles = frozenset({"numeric"})

    def __init__(self, limit: float = 0.5) -> None:
        self.limit = limit

    def statistic(self, reference: Any, current: pd.Series) -> DriftResult:
        shift = abs(float(current.mean()) - reference.mean) / reference.std
        return DriftResult(shift, self.limit, shift >= self.limit, f"mean moved {shift:.2f} sd")


class MeanShiftPlugin:
    @hookimpl
    def specops_register_drift_tests(self, register: Any) -> None:
        schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {"limit": {"type": "number", "exclusiveMinimum": 0}},
        }
        register("mean_shift", MeanShift, schema, summary="Shift of the mean in sd")


SPEC = """
name: subs
task: binary
data:
  source: {type: csv, params: {path: train.csv}}
  target: churned
  exclude: [customer_id, month]
model: {type: lightgbm, params: {n_estimators: 10}}
monitor:
  columns: [monthly_fee, tenure_months, plan]
  drift:
    columns:
      monthly_fee: {type: mean_shift, params: {limit: 0.3}}
"""


def test_a_third_party_drift_test_is_registered_and_named_by_the_spec(tmp_path: Path) -> None:
    from framework.engine import Engine
    from framework.monitoring.batch import read_batch
    from framework.monitoring.monitor import Batch, judge_batch
    from framework.store import Store

    shutil.copy(SPECS / "data/subscriptions_jan_jun.csv", tmp_path / "train.csv")
    (tmp_path / "spec.yaml").write_text(SPEC)
    with pytest.raises(SpecError, match="unknown drift_test type 'mean_shift'"):
        load_spec(tmp_path / "spec.yaml", load_plugins())
    plugins = load_plugins(extra=[("meanshift", MeanShiftPlugin())])
    assert "mean_shift" in plugins.registry.types("drift_test")
    spec = load_spec(tmp_path / "spec.yaml", plugins)
    assert Engine(spec, plugins).run().exit_code == 0
    store = Store(spec.store_path)
    try:
        frame = read_batch(SPECS / "data/subscriptions_jul_sep.csv")
        result = judge_batch(spec, plugins, store, Batch(frame, "jul-sep"))
    finally:
        store.close()
    columns = {c.column: c for c in result.columns}
    assert list(columns) == ["monthly_fee", "tenure_months", "plan"]
    fee = columns["monthly_fee"]
    assert fee.test == "mean_shift" and fee.status == "drift" and "mean moved" in fee.detail
    assert fee.reason == "set for this column (monitor.drift.columns.monthly_fee)"


@pytest.mark.parametrize(
    ("monitor", "message"),
    [
        ("on_drift: retrian", "retrian"),
        ("retrain: {data: recent}", "retrain.data 'recent' needs rows"),
        ("performance: {roc_acu: {min: 0.7}}", "did you mean 'roc_auc'"),
        ("performance: {rmse: {max: 3}}", "metric 'rmse' does not fit a binary task"),
        ("drift: {categorical: {type: ks}}", "drift test 'ks' does not apply to categorical"),
        ("drift: {numeric: {type: psi, params: {treshold: 0.1}}}", "treshold"),
        ("drift: {numeric: {type: wasserstien}}", "did you mean 'wasserstein'"),
        ("drift: {share: 1.5}", "1.5"),
    ],
)
def test_the_monitor_section_is_validated(tmp_path: Path, monitor: str, message: str) -> None:
    shutil.copy(SPECS / "data/subscriptions_jan_jun.csv", tmp_path / "train.csv")
    spec = SPEC.split("monitor:")[0] + "monitor:\n  " + monitor + "\n"
    (tmp_path / "spec.yaml").write_text(spec)
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "spec.yaml", load_plugins())
    text = "\n".join(f"{p.message} {p.hint or ''} {p.found or ''}" for p in caught.value.problems)
    assert message in text
    assert all(p.location and p.location.line > 0 for p in caught.value.problems)


def test_watched_columns_must_be_declared_features(tmp_path: Path) -> None:
    shutil.copy(SPECS / "data/subscriptions_jan_jun.csv", tmp_path / "train.csv")
    declared = SPEC.replace(
        "  exclude: [customer_id, month]\n", "  features: [plan, monthly_fee]\n"
    )
    spec = declared.split("monitor:")[0] + "monitor:\n  columns: [plan, prediction, plann]\n"
    spec += "  drift: {columns: {monthly_fe: {type: ks}}}\n"
    (tmp_path / "spec.yaml").write_text(spec)
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "spec.yaml", load_plugins())
    problems = caught.value.problems
    assert [p.message for p in problems] == [
        "monitored column 'plann' is not a feature; did you mean 'plan'?",
        "monitored column 'monthly_fe' is not a feature; did you mean 'monthly_fee'?",
    ]
    assert problems[0].hint == "features: plan, monthly_fee; or 'prediction'"
    assert all(p.location and p.location.line > 0 for p in problems)


def test_example_spec_validates_and_lists_its_monitor_components(cli) -> None:
    assert cli("validate", SPECS / "subscriptions_monitor.yaml").code == 0
    plugins = cli("plugins", "--json")
    drift = next(
        p for p in __import__("json").loads(plugins.out)["plugins"] if p["name"] == "drift"
    )
    assert {c["type"] for c in drift["components"]} == {
        "ks",
        "psi",
        "chi_square",
        "jensen_shannon",
        "wasserstein",
    }
