"""The request checks' quick answers for the usual request (exactly the model's columns)
give what the full checks give, and anything else still gets the full checks' 400."""

from __future__ import annotations

import pytest

from framework.serving.batch import Batch, IgnoredColumns, check_columns, from_rows
from framework.serving.errors import RequestError
from framework.serving.records import check_names

WANTED = {"x": None, "code": None, "color": None}


def test_the_model_columns_in_any_order_are_kept_by_name() -> None:
    names = ["color", "x", "code"]
    keep = check_names(names, WANTED, "cols", IgnoredColumns())
    batch = from_rows(names, [["red", 1.5, "A1"], ["blue", None, "01"]], "data", keep)

    assert keep == [0, 1, 2]
    assert dict(batch.columns) == {
        "color": ("red", "blue"),
        "x": (1.5, None),
        "code": ("A1", "01"),
    }
    check_columns(batch, WANTED)  # nothing to refuse


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["x", ["code"], "color"], "column names must be strings"),
        (["x", "x", "color"], "column name(s) repeated: x"),
        (["x", 1, "color"], "column names must be strings"),
    ],
)
def test_names_of_the_models_count_that_are_not_its_columns_are_refused(
    names: list, message: str
) -> None:
    with pytest.raises(RequestError) as caught:
        check_names(names, WANTED, "cols", IgnoredColumns())
    assert caught.value.status == 400 and message in caught.value.message


def test_rows_without_checked_names_are_checked_here() -> None:
    with pytest.raises(RequestError, match="repeated"):
        from_rows(["x", "x"], [[1, 2]], "data")
    with pytest.raises(RequestError, match="must be strings"):
        from_rows(["x", 2], [[1, 2]], "data")


def test_a_batch_that_is_not_exactly_the_model_columns_is_refused_by_name() -> None:
    with pytest.raises(RequestError, match=r"missing column.*color"):
        check_columns(Batch({"x": [1], "code": ["a"]}, 1), WANTED)
    extra = Batch({"x": [1], "code": ["a"], "color": ["red"], "note": ["n"]}, 1)
    with pytest.raises(RequestError, match=r"unexpected column.*note"):
        check_columns(extra, WANTED)
    with pytest.raises(RequestError, match="empty batch"):
        check_columns(Batch({"x": [], "code": [], "color": []}, 0), WANTED)


@pytest.mark.parametrize("keep", [None, [0, 1, 2], [0, 2]])
@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1.0, "a", "b"], [2.0, "a"]], "data[1] has 2 values but there are 3 columns"),
        ([[1.0, "a", "b"], [2.0, "a", "b", "c"]], "data[1] has 4 values but there are 3 columns"),
        ([[1.0, "a"], [2.0, "a"]], "data[0] has 2 values but there are 3 columns"),
        ([[], []], "data[0] has 0 values but there are 3 columns"),
        ([[1.0, "a", "b"], {"x": 1}], "data[1] must be a list of 3 values, got dict"),
        ([[1.0, "a"], "abc"], "data[0] has 2 values"),  # the first bad row, whatever is wrong
    ],
)
def test_the_first_row_of_another_shape_is_named(
    rows: list, message: str, keep: list[int] | None
) -> None:
    with pytest.raises(RequestError) as caught:
        from_rows(["x", "code", "color"], rows, "data", keep)
    assert caught.value.status == 400 and message in caught.value.message
