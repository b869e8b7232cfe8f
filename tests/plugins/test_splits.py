"""The built-in splitters: determinism, stratification and time order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from framework import DataError, StepContext
from plugins import splits
from plugins.splits import RandomSplit, StratifiedSplit, TimeSplit


def rows(frame: pd.DataFrame, parts: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows a splitter chose: the built-ins return positions, not copies."""
    train, test = parts
    return frame.iloc[train], frame.iloc[test]


def context(seed: int = 0, task: str = "binary") -> StepContext:
    return StepContext(spec_name="t", task=task, target="label", base_dir=Path(), seed=seed)


@pytest.fixture
def frame() -> pd.DataFrame:
    """100 rows, 80 of class 'a' and 20 of 'b', with a non-default index."""
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "x": rng.normal(size=100),
            "label": ["a"] * 80 + ["b"] * 20,
            "day": pd.date_range("2024-01-01", periods=100, freq="D")[rng.permutation(100)],
        },
        index=pd.RangeIndex(1000, 1100),
    )


def assert_partition(frame: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame) -> None:
    """Every row lands on exactly one side, with its index label and columns intact."""
    assert list(train.columns) == list(frame.columns) == list(test.columns)
    assert set(train.index).isdisjoint(test.index)
    assert sorted([*train.index, *test.index]) == list(frame.index)
    pd.testing.assert_frame_equal(train, frame.loc[train.index])


def test_registers_every_splitter_with_a_valid_schema() -> None:
    registered: dict[str, Any] = {}

    def register(type_name: str, factory: Any, params_schema: Any = None, *, summary: str = ""):
        registered[type_name] = (factory, params_schema, summary)

    splits.specops_register_splits(register)

    assert set(registered) == {"random", "stratified", "time"}
    for factory, schema, summary in registered.values():
        Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False
        assert callable(factory) and summary


def test_random_split_is_deterministic_for_a_seed(frame: pd.DataFrame) -> None:
    train, test = rows(frame, RandomSplit(test_size=0.25).split(frame, context(seed=1)))
    again_train, again_test = rows(frame, RandomSplit(test_size=0.25).split(frame, context(seed=1)))
    _, other_test = rows(frame, RandomSplit(test_size=0.25).split(frame, context(seed=2)))
    _, param_test = rows(frame, RandomSplit(test_size=0.25, seed=2).split(frame, context(seed=1)))

    assert_partition(frame, train, test)
    assert len(test) == 25
    assert list(test.index) == list(again_test.index)
    assert list(train.index) == list(again_train.index)
    assert list(test.index) != list(other_test.index)
    assert list(param_test.index) == list(other_test.index)  # the param beats ctx.seed
    assert test.index.is_monotonic_increasing  # a selection, not a shuffle


def test_random_split_of_too_few_rows_is_a_data_error(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="cannot split 1 rows"):
        rows(frame.iloc[:1], RandomSplit().split(frame.iloc[:1], context()))


def test_stratified_split_keeps_class_shares(frame: pd.DataFrame) -> None:
    train, test = rows(frame, StratifiedSplit(test_size=0.25).split(frame, context(seed=3)))
    _, other_test = rows(frame, StratifiedSplit(test_size=0.25).split(frame, context(seed=4)))
    _, same_test = rows(frame, StratifiedSplit(test_size=0.25).split(frame, context(seed=3)))

    assert_partition(frame, train, test)
    assert test["label"].value_counts().to_dict() == {"a": 20, "b": 5}
    assert train["label"].value_counts().to_dict() == {"a": 60, "b": 15}
    assert list(test.index) == list(same_test.index)
    assert list(test.index) != list(other_test.index)


def test_stratified_split_refuses_a_class_of_one(frame: pd.DataFrame) -> None:
    lonely = frame.assign(label=["a"] * 99 + ["rare"])

    with pytest.raises(DataError, match="target class 'rare' has fewer than 2 rows") as caught:
        rows(lonely, StratifiedSplit().split(lonely, context()))
    assert caught.value.column == "label"


def test_stratified_split_names_a_missing_target(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="target column 'label' not found; did you mean 'lable'"):
        StratifiedSplit().split(frame.rename(columns={"label": "lable"}), context())


def test_stratified_split_is_a_finding_for_regression() -> None:
    [finding] = StratifiedSplit().validate(context(task="regression"))

    assert finding.key is None and finding.hint == "use type: random or time"
    assert StratifiedSplit().validate(context(task="multiclass")) == []


def test_time_split_tests_on_the_latest_rows(frame: pd.DataFrame) -> None:
    train, test = rows(frame, TimeSplit(column="day", test_size=0.2).split(frame, context()))

    assert_partition(frame, train, test)
    assert len(test) == 20
    assert train["day"].max() < test["day"].min()
    assert test["day"].min() == pd.Timestamp("2024-03-21")
    assert test["day"].is_monotonic_increasing


def test_time_split_at_a_cutoff(frame: pd.DataFrame) -> None:
    train, test = rows(frame, TimeSplit(column="day", cutoff="2024-04-01").split(frame, context()))

    assert (test["day"] >= pd.Timestamp("2024-04-01")).all()
    assert (train["day"] < pd.Timestamp("2024-04-01")).all()
    assert len(test) == 9  # 2024-04-01 .. 2024-04-09


def test_time_split_on_a_numeric_column_keeps_ties_together() -> None:
    frame = pd.DataFrame({"step": [1, 2, 3, 3, 3, 4, 4, 5, 6, 6], "y": range(10)})

    train, test = rows(frame, TimeSplit(column="step", test_size=0.4).split(frame, context()))
    _, cut = rows(frame, TimeSplit(column="step", cutoff="5").split(frame, context()))

    assert test["step"].tolist() == [4, 4, 5, 6, 6]
    assert train["step"].max() == 3
    assert cut["step"].tolist() == [5, 6, 6]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"column": "dya"}, "time column 'dya' not found; did you mean 'day'"),
        ({"column": "label"}, "has dtype str, not datetime or numeric"),
        ({"column": "day", "cutoff": "2030-01-01"}, "leaves the test set empty"),
        ({"column": "day", "cutoff": "2000-01-01"}, "leaves the train set empty"),
        ({"column": "day", "cutoff": "someday"}, "cutoff 'someday' is not a date"),
        ({"column": "day", "cutoff": 5}, "cutoff 5 is not a date, but 'day' holds datetimes"),
        ({"column": "x", "cutoff": "soon"}, "cutoff 'soon' is not a number, but 'x' is numeric"),
        (
            {"column": "day", "cutoff": "2024-04-01T00:00Z"},
            "cutoff '2024-04-01T00:00Z' has a time zone, but 'day' holds times without one",
        ),
    ],
)
def test_time_split_errors(frame: pd.DataFrame, params: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        TimeSplit(**params).split(frame, context())


def test_time_split_refuses_undated_rows(frame: pd.DataFrame) -> None:
    undated = frame.assign(day=frame["day"].where(frame["x"] > -2))

    with pytest.raises(DataError, match=r"time column 'day' has .* missing values"):
        TimeSplit(column="day").split(undated, context())


def test_content_split_is_independent_of_row_order(frame: pd.DataFrame) -> None:
    """The side of a row follows from its values and the seed: shuffling the table, or
    cutting it into pieces, changes nothing (what lets a cluster choose the same rows)."""
    _, test = rows(frame, RandomSplit(test_size=0.25).split(frame, context(seed=1)))
    shuffled = frame.sample(frac=1, random_state=3)
    _, test_shuffled = rows(shuffled, RandomSplit(test_size=0.25).split(shuffled, context(seed=1)))

    assert set(test.index) == set(test_shuffled.index)


def test_duplicated_rows_never_straddle_train_and_test(frame: pd.DataFrame) -> None:
    doubled = pd.concat([frame, frame.iloc[:40]]).reset_index(drop=True)
    for splitter in (RandomSplit(test_size=0.3), StratifiedSplit(test_size=0.3)):
        train, test = rows(doubled, splitter.split(doubled, context(seed=9)))
        keys = list(frame.columns)
        shared = train.merge(test, on=keys)
        assert shared.empty, f"{type(splitter).__name__}: a row is on both sides"
        assert len(test) >= 42  # ceil(140 * 0.3); a copy of the last test row may add to it


def test_shuffle_is_the_old_split(frame: pd.DataFrame) -> None:
    """method: shuffle is scikit-learn's permutation, bit for bit: old runs reproduce."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(frame))
    train, test = RandomSplit(test_size=0.25, method="shuffle").split(frame, context(seed=4))
    old_train, old_test = train_test_split(positions, test_size=0.25, random_state=4)
    assert list(train) == sorted(old_train) and list(test) == sorted(old_test)

    train, test = StratifiedSplit(test_size=0.25, method="shuffle").split(frame, context(seed=4))
    codes = pd.factorize(frame["label"], sort=True)[0]
    old_train, old_test = train_test_split(
        positions, test_size=0.25, random_state=4, stratify=codes
    )
    assert list(test) == sorted(old_test)


def test_splitters_declare_whether_they_run_distributed() -> None:
    ctx = context(seed=2)
    rule = StratifiedSplit(test_size=0.3).content_rule(ctx)
    assert (rule.test_size, rule.seed, rule.stratify) == (0.3, 2, True)
    assert RandomSplit(seed=5).content_rule(ctx).seed == 5
    assert RandomSplit(method="shuffle").content_rule(ctx) is None
    assert RandomSplit().distributed and not RandomSplit(method="shuffle").distributed
    assert TimeSplit(column="day").content_rule(ctx) is None
