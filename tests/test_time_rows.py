"""The time rule a version split by time on Dask records as its training rows: the rows
earlier than its cutoff, conservative where a row's time cannot be compared."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from framework import training_rows
from framework.errors import StoreError
from framework.store import Store
from plugins.splits import TimeSplit


def _round_trip(entry: dict) -> training_rows.TimeRows:
    """The rule as the gate reads it back from a stored (JSON) lineage."""
    lineage = {training_rows.LINEAGE_KEY: json.loads(json.dumps(entry))}
    rows = training_rows.load(None, lineage, "bc/1")  # type: ignore[arg-type]  # no blob read
    assert isinstance(rows, training_rows.TimeRows)
    return rows


def test_rows_before_the_cutoff_count_as_trained_on() -> None:
    days = pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01", None, "2024-03-01"]))
    entry = TimeSplit("day").time_rule(pd.Timestamp("2024-02-01"), 1)
    assert entry["scheme"] == "time-split/1" and entry["cutoff_from"] == "test_size"
    rows = _round_trip(entry)
    # the cutoff day itself was a test day; a missing time counts as trained on
    assert rows.in_frame(pd.DataFrame({"day": days})).tolist() == [True, False, True, False]
    assert rows.columns == ("day",)
    mask = training_rows.in_training(rows, pd.DataFrame({"day": days, "x": range(4)}))
    assert mask.tolist() == [True, False, True, False]


def test_time_zones_and_numbers() -> None:
    paris = pd.Series(pd.date_range("2024-01-01", periods=4, freq="h", tz="Europe/Paris"))
    rows = _round_trip(TimeSplit("t", cutoff="x").time_rule(paris.iloc[2], 2))
    assert rows.in_frame(pd.DataFrame({"t": paris})).tolist() == [True, True, False, False]
    # the same instants in another zone compare as instants
    utc = pd.DataFrame({"t": paris.dt.tz_convert("UTC")})
    assert rows.in_frame(utc).tolist() == [True, True, False, False]
    # naive times against a zoned cutoff, text, numbers: cannot tell, every row counts
    naive = pd.DataFrame({"t": paris.dt.tz_localize(None)})
    assert rows.in_frame(naive).all()
    assert rows.in_frame(pd.DataFrame({"t": ["a", "b"]})).all()
    assert rows.in_frame(pd.DataFrame({"t": [1.0, 2.0]})).all()

    big = 2**60  # an integer cutoff stays exact (no float rounding)
    steps = pd.DataFrame({"t": np.array([big - 1, big, big + 1], dtype="int64")})
    ints = _round_trip(TimeSplit("t").time_rule(np.int64(big), 1))
    assert ints.in_frame(steps).tolist() == [True, False, False]
    floats = _round_trip(TimeSplit("t").time_rule(2.5, 1))
    assert floats.in_frame(pd.DataFrame({"t": [2.0, np.nan, 3.0]})).tolist() == [True, True, False]
    assert floats.in_frame(pd.DataFrame({"t": pd.to_datetime(["2024-01-01"])})).all()


def test_fingerprints_alone_cannot_tell_a_rows_time() -> None:
    rows = _round_trip(TimeSplit("t").time_rule(3, 1))
    assert rows.contains(np.arange(5, dtype="uint64")).all()  # conservative


@pytest.mark.parametrize(
    "damage",
    [{"cutoff": "not a date"}, {"kind": "number", "cutoff": "7"}, {"column": None, "kind": "x"}],
)
def test_a_damaged_time_rule_is_a_store_error(damage: dict) -> None:
    entry = {**TimeSplit("day").time_rule(pd.Timestamp("2024-02-01"), 1), **damage}
    if damage.get("column", "") is None:
        entry.pop("column")
    with pytest.raises(StoreError, match="the time rule in its lineage is damaged"):
        training_rows.load(None, {training_rows.LINEAGE_KEY: entry}, "bc/1")  # type: ignore[arg-type]


def test_members_of_a_time_rule_is_refused(tmp_path) -> None:
    store = Store(tmp_path / "store")
    try:
        with pytest.raises(StoreError, match="names a time column"):
            training_rows.members(store, TimeSplit("t").time_rule(3, 1), pd.DataFrame({"t": [1]}))
    finally:
        store.close()
