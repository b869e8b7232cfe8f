"""The built-in data checks: each passing and failing, on small real frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from framework import CheckOutcome, StepContext
from plugins import checks
from plugins.checks import (
    AllowedValues,
    Dtypes,
    MaxNullFraction,
    Range,
    RequiredColumns,
    RowCount,
    Unique,
)

CTX = StepContext(spec_name="t", task="binary", target="churned", base_dir=Path())


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [25, 40, np.nan, 61, 12.5],
            "plan": ["basic", "pro", "pro", "gold!", None],
            "user_id": [1, 2, 3, 3, 5],
            "signed_up": pd.to_datetime(
                ["2023-01-01", "2023-02-01", "2023-03-01", "2023-04-01", "2023-05-01"]
            ),
            "churned": [True, False, False, True, False],
            "segment": pd.Categorical(["a", "b", "a", "b", "a"]),
        }
    )


def by_column(outcomes: list[CheckOutcome]) -> dict[str | None, CheckOutcome]:
    return {outcome.column: outcome for outcome in outcomes}


def test_registers_every_check_with_a_valid_schema() -> None:
    registered: dict[str, Any] = {}

    def register(type_name: str, factory: Any, params_schema: Any = None, *, summary: str = ""):
        registered[type_name] = (factory, params_schema, summary)

    checks.specops_register_checks(register)

    assert set(registered) == {
        "required_columns",
        "dtypes",
        "range",
        "allowed_values",
        "max_null_fraction",
        "unique",
        "row_count",
    }
    for factory, schema, summary in registered.values():
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert callable(factory) and summary


def test_required_columns_suggests_the_close_name(frame: pd.DataFrame) -> None:
    outcomes = by_column(RequiredColumns(columns=["age", "planz"]).run(frame, CTX))

    assert outcomes["age"].passed
    missing = outcomes["planz"]
    assert not missing.passed
    assert (missing.observed, missing.expected) == ("missing", "present")
    assert missing.detail == "column 'planz' not found; did you mean 'plan'?"
    assert missing.check == "required_columns"


def test_dtypes(frame: pd.DataFrame) -> None:
    expected = {
        "age": "float",
        "user_id": "integer",
        "plan": "string",
        "signed_up": "datetime",
        "churned": "boolean",
        "segment": "categorical",
    }
    outcomes = Dtypes(columns=expected).run(frame, CTX)
    assert all(o.passed for o in outcomes), [o.detail for o in outcomes if not o.passed]

    wrong = by_column(
        Dtypes(columns={"age": "integer", "churned": "numeric", "plan": "numeric"}).run(frame, CTX)
    )
    assert not any(o.passed for o in wrong.values())
    assert (wrong["age"].observed, wrong["age"].expected) == ("float64", "integer")
    assert "missing values make pandas store them as float" not in wrong["age"].detail
    assert wrong["plan"].observed == "str"  # pandas 3: text is the "str" dtype


def test_dtypes_explains_integers_stored_as_float() -> None:
    frame = pd.DataFrame({"count": [1, None, 3]})

    [outcome] = Dtypes(columns={"count": "integer"}).run(frame, CTX)

    assert not outcome.passed
    assert "missing values make pandas store them as float" in outcome.detail


def test_dtypes_unknown_kind_is_a_finding() -> None:
    [finding] = Dtypes(columns={"age": "numerik"}).validate(CTX)

    assert finding.key == "columns" and "did you mean 'numeric'" in finding.message


def test_range_pass_and_fail_ignoring_nan(frame: pd.DataFrame) -> None:
    [passed] = Range(column="age", min=0, max=100).run(frame, CTX)
    assert passed.passed
    assert passed.observed == "min 12.5, max 61"
    assert passed.expected == ">= 0, <= 100"
    assert passed.detail == "all 4 values >= 0, <= 100 (1 missing ignored)"

    [failed] = Range(columns=["age"], min=18, max=60).run(frame, CTX)
    assert not failed.passed
    assert failed.detail == (
        "1 of 4 values below 18 (min seen 12.5); 1 of 4 values above 60 (max seen 61)"
        " (1 missing ignored)"
    )


def test_range_exclusive_bounds() -> None:
    frame = pd.DataFrame({"p": [0.0, 0.5, 1.0]})

    [inclusive] = Range(column="p", min=0, max=1).run(frame, CTX)
    [exclusive] = Range(column="p", min=0, max=1, inclusive=False).run(frame, CTX)

    assert inclusive.passed
    assert not exclusive.passed
    assert exclusive.expected == "> 0, < 1"
    assert "1 of 3 values below 0" in exclusive.detail


def test_range_on_dates_missing_and_text_columns(frame: pd.DataFrame) -> None:
    outcomes = by_column(
        Range(columns=["signed_up", "plan", "agee"], min="2023-02-01").run(frame, CTX)
    )

    assert not outcomes["signed_up"].passed
    assert "1 of 5 values below 2023-02-01T00:00:00" in outcomes["signed_up"].detail
    assert not outcomes["plan"].passed
    assert "neither numeric nor datetime" in outcomes["plan"].detail
    assert outcomes["agee"].detail == "column 'agee' not found; did you mean 'age'?"


@pytest.mark.parametrize(
    ("column", "bound", "message"),
    [
        ("signed_up", 5, "bound 5 is not a date, but the column holds datetimes"),
        ("age", "ten", "bound 'ten' is not a number, but the column is numeric"),
        ("age", True, "bound True is not a number, but the column is numeric"),
        (
            "signed_up",
            "2023-02-01T00:00Z",
            "bound '2023-02-01T00:00Z' has a time zone, but the column's times have none",
        ),
    ],
)
def test_range_bound_of_the_wrong_kind_fails_with_the_reason(
    frame: pd.DataFrame, column: str, bound: Any, message: str
) -> None:
    [outcome] = Range(column=column, min=bound).run(frame, CTX)

    assert not outcome.passed
    assert outcome.detail == message


def test_range_findings() -> None:
    assert Range(column="age", min=0).validate(CTX) == []
    assert "min, max or both" in Range(column="age").validate(CTX)[0].message
    assert "exactly one of" in Range(min=0).validate(CTX)[0].message
    assert "exactly one of" in Range(column="a", columns=["b"], min=0).validate(CTX)[0].message
    assert Range(column="age", min=5, max=1).validate(CTX)[0].key == "min"


def test_allowed_values_names_offenders(frame: pd.DataFrame) -> None:
    [passed] = AllowedValues(column="segment", values=["a", "b"]).run(frame, CTX)
    assert passed.passed and passed.observed == []

    [failed] = AllowedValues(column="plan", values=["basic", "pro"]).run(frame, CTX)
    assert not failed.passed
    assert failed.observed == ["gold!"]
    assert failed.expected == ["basic", "pro"]
    assert failed.detail == "1 of 4 values not allowed: 'gold!' (1 row)"


def test_allowed_values_on_categorical_does_not_list_unused_categories() -> None:
    frame = pd.DataFrame({"c": pd.Categorical(["x", "z", "z"], categories=["x", "y", "z"])})

    [failed] = AllowedValues(column="c", values=["x"]).run(frame, CTX)

    assert failed.detail == "2 of 3 values not allowed: 'z' (2 rows)"
    assert failed.observed == ["z"]  # not the allowed 'x', nor 'y', which no row holds


def test_max_null_fraction(frame: pd.DataFrame) -> None:
    outcomes = by_column(MaxNullFraction(max=0.1).run(frame, CTX))

    assert set(outcomes) == set(frame.columns)  # default: every column
    assert not outcomes["age"].passed
    assert outcomes["age"].observed == 0.2
    assert outcomes["age"].expected == "<= 0.1"
    assert outcomes["age"].detail == "1 of 5 values missing (20.0%)"
    assert outcomes["user_id"].passed

    [lenient] = MaxNullFraction(max=0.2, columns=["plan"]).run(frame, CTX)
    assert lenient.passed


def test_unique_single_and_composite(frame: pd.DataFrame) -> None:
    outcomes = by_column(Unique(columns=["user_id", "signed_up"]).run(frame, CTX))
    assert outcomes["signed_up"].passed
    dup = outcomes["user_id"]
    assert not dup.passed
    assert (dup.observed, dup.expected) == (1, 0)
    assert dup.detail == "1 of 5 rows repeat an earlier value: 3 (2 rows)"

    [composite] = Unique(columns=["plan", "churned"], together=True).run(frame, CTX)
    assert composite.column == "plan, churned"
    assert not composite.passed
    assert composite.detail == "1 of 4 rows repeat an earlier key: ('pro', False) (2 rows)"

    [key] = Unique(columns=["user_id", "signed_up"], together=True).run(frame, CTX)
    assert key.passed


def test_unique_ignores_missing_values() -> None:
    frame = pd.DataFrame({"id": [1.0, None, None, 2.0]})

    [outcome] = Unique(columns=["id"]).run(frame, CTX)

    assert outcome.passed


def test_row_count(frame: pd.DataFrame) -> None:
    [ok] = RowCount(min=1, max=10).run(frame, CTX)
    [few] = RowCount(min=100).run(frame, CTX)

    assert ok.passed and ok.observed == 5 and ok.expected == ">= 1, <= 10"
    assert not few.passed and few.detail == "5 rows, fewer than 100"
    assert RowCount().validate(CTX)[0].message == "row_count needs min, max or both"


@pytest.mark.parametrize(
    "check",
    [
        Dtypes(columns={"nope": "numeric"}),
        Range(column="nope", min=0),
        AllowedValues(column="nope", values=[1]),
        MaxNullFraction(max=0.5, columns=["nope"]),
        Unique(columns=["nope"]),
        Unique(columns=["nope", "age"], together=True),
    ],
)
def test_a_missing_column_is_a_failed_outcome_not_an_error(check: Any, frame: pd.DataFrame) -> None:
    [outcome] = check.run(frame, CTX)

    assert not outcome.passed
    assert outcome.column == "nope"
    assert outcome.detail == "column 'nope' not found"


def test_checks_are_vectorised_on_a_large_frame() -> None:
    rows = 1_000_000
    big = pd.DataFrame({"x": np.arange(rows, dtype="float64"), "k": np.arange(rows) % 7})

    outcomes = [
        *Range(column="x", min=0, max=rows).run(big, CTX),
        *AllowedValues(column="k", values=list(range(7))).run(big, CTX),
        *Unique(columns=["x"]).run(big, CTX),
        *MaxNullFraction(max=0).run(big, CTX),
    ]

    assert all(o.passed for o in outcomes)
