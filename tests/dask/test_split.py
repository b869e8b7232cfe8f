"""The content split on a cluster chooses exactly the rows the local split chooses,
whatever the partitioning, with duplicated rows never on both sides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import DataError, StepContext
from framework.execution.rows import ContentRule, content_split, mix
from framework.training_rows import row_hashes
from plugins.dask_execution import split as dask_split
from plugins.splits import RandomSplit, StratifiedSplit, TimeSplit

dd = pytest.importorskip("dask.dataframe")


def context(seed: int = 0) -> StepContext:
    return StepContext(spec_name="t", task="binary", target="label", base_dir=Path(), seed=seed)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """600 rows, 3 classes of unequal size, 60 of them exact copies of others."""
    rng = np.random.default_rng(11)
    base = pd.DataFrame(
        {
            "x": rng.normal(size=540).round(3),
            "city": rng.choice(["a", "b", "c", None], size=540),
            "label": rng.choice(["no", "yes", "maybe"], size=540, p=[0.6, 0.3, 0.1]),
        }
    )
    copies = base.sample(60, random_state=1)
    return pd.concat([base, copies]).sample(frac=1, random_state=2).reset_index(drop=True)


def local_ids(frame: pd.DataFrame, splitter: Any, ctx: StepContext) -> tuple[set, set]:
    train, test = splitter.split(frame, ctx)
    return set(frame.index[train]), set(frame.index[test])


def ids(part: Any) -> set:
    return set(part.compute().index)


@pytest.mark.parametrize("partitions", [1, 3, 7])
@pytest.mark.parametrize(
    "splitter", [RandomSplit(0.25), StratifiedSplit(0.3)], ids=["random", "stratified"]
)
def test_the_cluster_chooses_the_local_rows(
    dask_client: Any, frame: pd.DataFrame, splitter: Any, partitions: int
) -> None:
    ctx = context(seed=5)
    train, test = local_ids(frame, splitter, ctx)
    ddf = dd.from_pandas(frame, npartitions=partitions)
    rule = splitter.content_rule(ctx)

    split = dask_split.split_distributed(
        ddf, rule, columns=list(frame.columns), target="label" if rule.stratify else None
    )

    assert ids(split.test) == test and ids(split.train) == train
    assert (split.train_rows, split.test_rows) == (len(train), len(test))
    # duplicated rows are on one side only
    sides = frame.assign(test=frame.index.isin(test))
    assert sides.groupby(list(frame.columns), dropna=False)["test"].nunique().max() == 1


def test_a_fingerprint_column_gives_the_same_split(dask_client: Any, frame: pd.DataFrame) -> None:
    rule = ContentRule(0.2, seed=3, stratify=True)
    hashes = row_hashes(frame, list(frame.columns))
    _, test = content_split(hashes, rule, frame["label"].to_numpy())
    ddf = dd.from_pandas(frame.assign(fp=hashes), npartitions=4)

    split = dask_split.split_distributed(ddf, rule, fingerprint="fp", target="label")

    assert ids(split.test) == set(test)
    assert "fp" in split.train.columns  # kept: the training-rows record needs it
    assert sum(split.test_by_class.values()) == split.test_rows == len(test)


def test_exact_selection_through_refining_rounds(
    dask_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a tiny gather limit every bit level is refined: the value is still exact."""
    monkeypatch.setattr(dask_split, "GATHER_LIMIT", 2)
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**63, size=2000, dtype="uint64") * np.uint64(2)
    keys[:50] = keys[50]  # a repeated value
    ddf = dd.from_pandas(pd.DataFrame({"key": keys}), npartitions=5)
    for k in (1, 17, 51, 1000, 2000):
        found = dask_split.kth_smallest_distributed(ddf, {dask_split.NO_GROUP: k})
        value = found[dask_split.NO_GROUP]
        assert value.value == int(np.sort(keys)[k - 1])
        assert value.at_most == int((keys <= keys[np.argsort(keys)[k - 1]]).sum())


def test_the_same_errors_as_locally(dask_client: Any, frame: pd.DataFrame) -> None:
    lonely = frame.assign(label=["a"] * (len(frame) - 1) + ["rare"])
    ddf = dd.from_pandas(lonely, npartitions=3)
    with pytest.raises(DataError, match="target class 'rare' has fewer than 2 rows") as caught:
        dask_split.split_distributed(
            ddf, ContentRule(0.2, 0, True), columns=list(frame.columns), target="label"
        )
    assert caught.value.column == "label"
    with pytest.raises(DataError, match="cannot split 1 rows"):
        dask_split.split_distributed(
            dd.from_pandas(frame.head(1), npartitions=1), ContentRule(0.2, 0), columns=["x"]
        )


def test_splitters_that_need_the_whole_table_are_refused() -> None:
    ctx = context()
    assert dask_split.refusal(RandomSplit(), "random", ctx) is None
    assert dask_split.refusal(StratifiedSplit(), "stratified", ctx) is None
    assert "method: shuffle" in dask_split.refusal(RandomSplit(method="shuffle"), "random", ctx)
    assert dask_split.refusal(TimeSplit("day"), "time", ctx) is None  # its exact cutoff

    class WholeTable:  # a custom splitter with neither a content nor a time rule
        distributed = True

        def split(self, frame: Any, ctx: Any) -> Any:
            raise AssertionError("never called")

    refused = dask_split.refusal(WholeTable(), "custom", ctx)
    assert "use type: random, stratified" in refused and "or time" in refused


def test_the_mix_depends_on_the_seed_only_through_the_key() -> None:
    hashes = np.arange(1000, dtype="uint64")
    assert not np.array_equal(mix(hashes, 1), mix(hashes, 2))
    assert np.array_equal(mix(hashes, 1), mix(hashes.copy(), 1))
    assert len(np.unique(mix(hashes, 1))) == 1000  # a bijection: no new ties


def time_frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    return pd.DataFrame(
        {
            "day": days[rng.integers(0, 60, size=300)],  # many rows share a day
            "step": rng.integers(-20, 20, size=300),
            "score": rng.normal(size=300).round(1),
            "label": rng.choice(["a", "b"], size=300),
        }
    )


@pytest.mark.parametrize("partitions", [1, 3, 7])
@pytest.mark.parametrize(
    "params",
    [
        {"column": "day", "test_size": 0.2},
        {"column": "step", "test_size": 0.35},
        {"column": "score", "test_size": 0.1},
        {"column": "day", "cutoff": "2024-02-10"},
        {"column": "step", "cutoff": 3},
    ],
    ids=["day", "ints", "floats", "date-cutoff", "int-cutoff"],
)
def test_the_time_split_on_the_cluster_is_the_local_one(
    dask_client: Any, partitions: int, params: dict[str, Any]
) -> None:
    frame = time_frame()
    if params["column"] == "day" and partitions == 3:  # a time zone changes nothing
        frame["day"] = frame["day"].dt.tz_localize("Europe/Paris")
        if "cutoff" in params:
            params = {**params, "cutoff": "2024-02-10T00:00+01:00"}
    splitter = TimeSplit(**params)
    train, test = local_ids(frame, splitter, context())

    split = dask_split.time_split_distributed(
        dd.from_pandas(frame, npartitions=partitions), splitter
    )

    assert ids(split.test) == test and ids(split.train) == train
    assert (split.train_rows, split.test_rows) == (len(train), len(test))
    assert split.cutoff == frame.loc[sorted(test), params["column"]].min()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"column": "dya"}, "time column 'dya' not found; did you mean 'day'"),
        ({"column": "label"}, "not datetime or numeric"),
        ({"column": "day", "cutoff": "2030-01-01"}, "leaves the test set empty"),
        ({"column": "day", "cutoff": "someday"}, "cutoff 'someday' is not a date"),
        ({"column": "gappy"}, r"time column 'gappy' has 3 missing values"),
    ],
)
def test_the_time_split_errors_as_locally(
    dask_client: Any, params: dict[str, Any], message: str
) -> None:
    frame = time_frame().assign(gappy=lambda f: f["score"].where(f.index >= 3))
    with pytest.raises(DataError, match=message):
        TimeSplit(**params).split(frame, context())
    with pytest.raises(DataError, match=message):
        dask_split.time_split_distributed(dd.from_pandas(frame, npartitions=3), TimeSplit(**params))


def test_few_distinct_values_end_the_selection_early(
    dask_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 0/1 column: once the bin holds one value the selection stops, exactly."""
    monkeypatch.setattr(dask_split, "GATHER_LIMIT", 2)
    rounds = []
    real = dask_split._round
    monkeypatch.setattr(dask_split, "_round", lambda *a: rounds.append(1) or real(*a))
    zero, one = (int(k) for k in dask_split.float_keys(np.array([0.0, 1.0])))
    keys = np.array([zero] * 700 + [one] * 300, dtype="uint64")
    ddf = dd.from_pandas(pd.DataFrame({"key": keys}), npartitions=4)
    for k, value, at_most in (
        (1, zero, 700),
        (700, zero, 700),
        (701, one, 1000),
        (1000, one, 1000),
    ):
        rounds.clear()
        found = dask_split.kth_smallest_distributed(
            ddf, {dask_split.NO_GROUP: k}, {"__all__": 1000}
        )
        assert (found["__all__"].value, found["__all__"].at_most) == (value, at_most)
        assert len(rounds) == 2  # the whole range, then the value's bin: one value


def test_a_missing_class_is_a_stratum_as_locally(dask_client: Any, frame: pd.DataFrame) -> None:
    """A class column with gaps (the engine refuses a gappy target, a direct caller may
    stratify on anything): missing values form one stratum, as in the local split."""
    rule = ContentRule(0.25, seed=8, stratify=True)
    hashes = row_hashes(frame, list(frame.columns))
    _, test = content_split(hashes, rule, frame["city"].to_numpy())
    split = dask_split.split_distributed(
        dd.from_pandas(frame, npartitions=3), rule, columns=list(frame.columns), target="city"
    )
    assert ids(split.test) == set(test)
