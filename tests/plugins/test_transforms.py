"""The built-in transforms, built and wrapped the way the engine does, then stored with skops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from framework import DataError, StepContext, load_skops, save_skops
from plugins import transforms
from plugins.transforms import Drop, Impute, OneHot, Ordinal, Scale
from tests.helpers import heavy_imports

CTX = StepContext(spec_name="test", task="binary", target="y", base_dir=Path("."))


def training_frame() -> pd.DataFrame:
    """Numeric (float with NaN, int), pandas 3 ``str`` and ``category`` with NaN, boolean."""
    return pd.DataFrame(
        {
            "age": [22.0, np.nan, 35.0, 41.0, 29.0, np.nan, 52.0, 38.0],
            "visits": [1, 4, 2, 8, 3, 5, 2, 7],
            "city": ["Lyon", "Paris", None, "Paris", "Lyon", "Nice", "Paris", "Paris"],
            "plan": pd.Categorical(["free", "pro", "free", None, "pro", "free", "team", "free"]),
            "active": [True, False, True, True, False, True, False, True],
        }
    )


def unseen_frame() -> pd.DataFrame:
    """New rows: an unseen city and plan, missing values where training had none."""
    return pd.DataFrame(
        {
            "age": [30.0, np.nan, 60.0],
            "visits": [2, 3, 9],
            "city": ["Atlantis", "Paris", None],
            "plan": pd.Categorical(["enterprise", "pro", None]),
            "active": [True, False, True],
        }
    )


def wrap(name: str, transform: Any, frame: pd.DataFrame) -> Pipeline:
    """One preprocessing step exactly as the engine compiles it."""
    estimator, columns = transform.build(frame, CTX)
    column_transformer = ColumnTransformer(
        [(name, estimator, columns)], remainder="passthrough", verbose_feature_names_out=False
    ).set_output(transform="pandas")
    return Pipeline([(name, column_transformer)])


def fit_chain(steps: list[tuple[str, Any]], frame: pd.DataFrame) -> Pipeline:
    """Build each step on the frame as the previous steps left it, like the engine does."""
    fitted: list[tuple[str, Any]] = []
    for name, transform in steps:
        step = wrap(name, transform, frame).fit(frame)
        frame = step.transform(frame)
        fitted.append((name, step))
    return Pipeline(fitted)


def reloaded(pipeline: Pipeline, tmp_path: Path) -> Pipeline:
    path = tmp_path / "transform.skops"
    save_skops(pipeline, path)
    return load_skops(path)


STEPS: dict[str, Any] = {
    "impute_median": Impute(),
    "impute_most_frequent_with_indicator": Impute(strategy="most_frequent", add_indicator=True),
    "impute_constant_text": Impute(strategy="constant", fill_value="unknown"),
    "impute_constant_number": Impute(strategy="constant", fill_value=-1),
    "scale_standard": Scale(),
    "scale_minmax": Scale(method="minmax"),
    "scale_robust": Scale(method="robust", columns=["visits"]),
    "one_hot": OneHot(),
    "one_hot_grouped": OneHot(max_categories=2),
    "one_hot_min_frequency": OneHot(min_frequency=0.25),
    "ordinal": Ordinal(),
    "ordinal_ranked": Ordinal(order={"plan": ["team", "pro", "free"]}),
    "drop": Drop(columns=["city", "active"]),
}


@pytest.mark.parametrize("name", list(STEPS))
def test_stored_step_transforms_unseen_data_identically(name: str, tmp_path: Path) -> None:
    pipeline = wrap(name, STEPS[name], training_frame()).fit(training_frame())
    expected = pipeline.transform(unseen_frame())

    pd.testing.assert_frame_equal(reloaded(pipeline, tmp_path).transform(unseen_frame()), expected)


def test_chained_steps_store_and_reload_as_one_pipeline(tmp_path: Path) -> None:
    pipeline = fit_chain(
        [
            ("impute", Impute(strategy="most_frequent")),
            ("one_hot", OneHot()),
            ("scale", Scale(columns=["age", "visits"])),
        ],
        training_frame(),
    )
    expected = pipeline.transform(unseen_frame())

    assert not expected.isna().any().any()
    assert "city_Atlantis" not in expected.columns
    pd.testing.assert_frame_equal(reloaded(pipeline, tmp_path).transform(unseen_frame()), expected)


def test_impute_keeps_numeric_columns_numeric_next_to_text_columns() -> None:
    pipeline = wrap(
        "impute", Impute(strategy="most_frequent", add_indicator=True), training_frame()
    )
    out = pipeline.fit(training_frame()).transform(unseen_frame())

    assert out["age"].dtype == np.float64
    assert out["age"].tolist() == [30.0, 22.0, 60.0]  # 22 is the first of the tied modes
    assert out["city"].tolist() == ["Atlantis", "Paris", "Paris"]
    assert out["plan"].tolist() == ["enterprise", "pro", "free"]
    indicators = ["missingindicator_age", "missingindicator_city", "missingindicator_plan"]
    assert out[indicators].dtypes.eq(bool).all()
    assert out["missingindicator_age"].tolist() == [False, True, False]


def test_impute_median_fills_only_numeric_columns_by_default() -> None:
    out = wrap("impute", Impute(), training_frame()).fit_transform(training_frame())

    assert out["age"].isna().sum() == 0
    assert out.loc[1, "age"] == 36.5  # median of the six known ages
    assert out["city"].isna().sum() == 1


def test_impute_constant_text_fills_only_categorical_columns() -> None:
    out = wrap("impute", Impute(strategy="constant", fill_value="unknown"), training_frame())
    filled = out.fit(training_frame()).transform(unseen_frame())

    assert filled["city"].tolist() == ["Atlantis", "Paris", "unknown"]
    assert filled["age"].isna().sum() == 1


def test_scale_standard_centres_numeric_columns_and_leaves_others() -> None:
    out = wrap("scale", Scale(), training_frame()).fit_transform(training_frame())

    assert out["visits"].mean() == pytest.approx(0.0)
    assert out["visits"].std(ddof=0) == pytest.approx(1.0)
    assert out["city"].equals(training_frame()["city"])


def test_one_hot_encodes_unseen_category_as_all_zeros() -> None:
    out = (
        wrap("one_hot", OneHot(), training_frame()).fit(training_frame()).transform(unseen_frame())
    )

    city = ["city_Lyon", "city_Nice", "city_Paris", "city_nan"]
    assert out[city].to_numpy().tolist() == [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert out[city].dtypes.eq(np.float64).all()
    assert {"active_False", "active_True", "plan_team"} <= set(out.columns)


def test_one_hot_groups_rare_and_unseen_categories_as_infrequent() -> None:
    pipeline = wrap("one_hot", OneHot(columns=["city"], max_categories=2), training_frame())
    out = pipeline.fit(training_frame()).transform(unseen_frame())

    assert [c for c in out.columns if c.startswith("city_")] == [
        "city_Paris",
        "city_infrequent_sklearn",
    ]
    assert out["city_infrequent_sklearn"].tolist() == [1.0, 0.0, 1.0]


def test_ordinal_follows_the_given_order_and_sorts_the_rest() -> None:
    ranked = Ordinal(order={"plan": ["team", "pro", "free"]})
    out = wrap("ordinal", ranked, training_frame()).fit(training_frame()).transform(unseen_frame())

    assert out["plan"].tolist()[1] == 1.0  # pro: the middle rank, not its sorted place
    assert np.isnan(out["plan"].tolist()[0])  # enterprise: never seen, so unknown
    assert np.isnan(out["city"].iloc[0])  # Atlantis: never seen
    assert out["city"].iloc[1] == 2.0  # Lyon < Nice < Paris: sorted, as without order


def test_ordinal_refuses_a_training_value_its_order_does_not_rank() -> None:
    typo = Ordinal(order={"plan": ["free", "Pro", "team"]})

    with pytest.raises(DataError) as caught:
        wrap("ordinal", typo, training_frame())

    assert "column 'plan' has values that order.plan does not rank: 'pro'" in str(caught.value)
    assert "did you mean 'Pro'?" in str(caught.value)


def test_ordinal_refuses_an_order_for_a_column_it_does_not_encode() -> None:
    with pytest.raises(DataError, match="order names 'plan', which 'columns' leaves out"):
        wrap("ordinal", Ordinal(columns=["city"], order={"plan": ["free"]}), training_frame())


def test_ordinal_order_is_checked_by_the_schema() -> None:
    schema = Ordinal.params_schema
    jsonschema.validate({"order": {"cut": ["Fair", "Good", "Ideal"]}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"order": {"cut": ["Fair", "Fair"]}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"order": {"cut": "Fair < Good"}}, schema)


def test_ordinal_encodes_unknown_and_missing_as_nan() -> None:
    out = (
        wrap("ordinal", Ordinal(), training_frame()).fit(training_frame()).transform(unseen_frame())
    )

    assert out["city"].tolist()[1] == 2.0  # Lyon, Nice, Paris in sorted order
    assert np.isnan(out["city"].tolist()[0])  # unseen "Atlantis"
    assert np.isnan(out["city"].tolist()[2])  # missing
    assert np.isnan(out["plan"].tolist()[0]) and out["plan"].tolist()[1] == 1.0


def test_drop_removes_only_the_named_columns() -> None:
    out = wrap("drop", Drop(columns=["city"]), training_frame()).fit_transform(training_frame())

    assert sorted(out.columns) == ["active", "age", "plan", "visits"]
    assert isinstance(out["plan"].dtype, pd.CategoricalDtype)


def test_misspelt_column_is_a_data_error_with_suggestion() -> None:
    with pytest.raises(DataError, match="'cty' is not in the data; did you mean 'city'") as info:
        Scale(columns=["cty"]).build(training_frame(), CTX)
    assert info.value.column == "cty"


@pytest.mark.parametrize(
    "transform",
    [Scale(columns=["city"]), Impute(strategy="mean", columns=["plan"])],
    ids=["scale-text", "mean-of-category"],
)
def test_numeric_only_transform_refuses_a_named_text_column(transform: Any) -> None:
    with pytest.raises(DataError, match="is categorical, but this transform needs numeric"):
        transform.build(training_frame(), CTX)


def test_empty_default_selection_returns_no_columns() -> None:
    text_only = training_frame()[["city", "plan"]]

    assert Scale().build(text_only, CTX)[1] == []
    assert Ordinal().build(training_frame()[["age"]], CTX)[1] == []


def registered() -> dict[str, tuple[Any, dict[str, Any] | None]]:
    found: dict[str, tuple[Any, dict[str, Any] | None]] = {}

    def register(
        type_name: str, factory: Any, params_schema: Any = None, *, summary: str = ""
    ) -> None:
        assert summary
        found[type_name] = (factory, params_schema)

    transforms.specops_register_transforms(register)
    return found


def test_registers_every_transform_with_a_valid_closed_schema() -> None:
    found = registered()

    assert set(found) == {"impute", "scale", "one_hot", "ordinal", "drop"}
    for _, schema in found.values():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("type_name", "params", "valid"),
    [
        ("impute", {"strategy": "constant", "fill_value": 0, "add_indicator": True}, True),
        ("impute", {"strategy": "mode"}, False),
        ("one_hot", {"min_frequency": 0.05, "max_categories": 10}, True),
        ("one_hot", {"min_frequency": 1.5}, False),
        ("drop", {}, False),
        ("scale", {"method": "minmax", "colums": ["a"]}, False),
    ],
)
def test_schemas_accept_and_refuse_params(type_name: str, params: dict, valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(registered()[type_name][1])

    assert validator.is_valid(params) is valid


def test_importing_the_plugin_leaves_heavy_libraries_unimported() -> None:
    heavy = ("pandas", "numpy", "sklearn", "lightgbm")

    assert heavy_imports(["plugins.transforms"], heavy) == []


def test_drop_fits_through_the_engine_path() -> None:
    """``specops run`` builds each step through the transform contract: scikit-learn's
    "drop" is a transformer there too (it used to end the run as a plugin fault)."""
    from types import SimpleNamespace

    from framework.plugins import load_plugins
    from framework.preprocess import fit_preprocess
    from framework.spec.model import ComponentSpec

    spec = ComponentSpec("transform", "drop", {"columns": ["city"]}, "preprocess[0]")
    model = SimpleNamespace(native_categorical=True, handles_missing=True)
    fitted = fit_preprocess(training_frame(), (spec,), model, load_plugins(), CTX)
    assert "city" not in fitted.train.columns
    assert fitted.steps == ["0_drop: city"]


def test_built_ins_declare_a_distributed_fit() -> None:
    for transform in (Impute(), Scale(), OneHot(max_categories=3), Ordinal(), Drop(["x"])):
        assert transform.distributed is True and transform.distributed_refusal is None


def test_ordinal_order_of_numbers_must_be_ascending_said_before_any_data_is_read() -> None:
    """scikit-learn numbers a numeric column's categories in ascending order only: an
    order ranking numbers otherwise used to stop training with an internal error."""
    [unsorted] = Ordinal(order={"visits": [8, 1, 2]}).validate(CTX)
    assert unsorted.key == "order.visits"
    assert "ranks numbers out of ascending order (8, 1, 2)" in unsorted.message
    [mixed] = Ordinal(order={"visits": [1, "2"]}).validate(CTX)
    assert mixed.key == "order.visits" and "mixes numbers and text" in mixed.message
    assert (
        Ordinal(order={"visits": [1, 2, 3, 4, 5, 7, 8], "plan": ["team", "free"]}).validate(CTX)
        == []
    )


def test_ordinal_ascending_numbers_train_and_rank_as_given() -> None:
    ranked = Ordinal(order={"visits": [1, 2, 3, 4, 5, 7, 8]}, columns=["visits"])
    out = wrap("ordinal", ranked, training_frame()).fit(training_frame())
    assert out.transform(training_frame())["visits"].tolist() == [0, 3, 1, 6, 2, 4, 1, 5]


def test_specops_validate_points_at_an_unsorted_numeric_order(cli, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    (tmp_path / "d.csv").write_text("grade,x,y\n1,0.5,0\n2,0.1,1\n3,0.7,1\n")
    spec.write_text(
        "name: o\ntask: binary\ndata:\n  source: {type: csv, params: {path: d.csv}}\n"
        "  target: y\n  features: {grade: categorical, x: numeric}\n"
        "preprocess:\n  - type: ordinal\n    params: {order: {grade: [3, 1, 2]}}\n"
        "model: {type: lightgbm}\n"
    )
    result = cli("validate", spec)
    assert result.code == 2 and "Traceback" not in result.err + result.out
    said = result.err + result.out
    assert "spec.yaml:9:" in said and "order.grade ranks numbers out of ascending order" in said


@pytest.mark.parametrize("transform", [OneHot(), Ordinal()], ids=["one_hot", "ordinal"])
@pytest.mark.parametrize("as_category", [False, True])
def test_encoders_refuse_a_column_mixing_numbers_and_text(transform, as_category: bool) -> None:
    """A SQLite column may hold 3 and 'a' at once: a data error naming the column, not
    scikit-learn's TypeError (an internal error, exit 3)."""
    frame = training_frame()
    mixed = pd.Series(["a", 3, "b", 7, None, "a", 3, "b"], dtype=object)
    frame["code"] = mixed.astype("category") if as_category else mixed
    with pytest.raises(DataError) as caught:
        wrap(transform.type_name, transform, frame)
    assert "column 'code' mixes numbers and text (e.g. 3 and 'a')" in str(caught.value)
