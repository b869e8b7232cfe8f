"""How specops sees a column: numeric, categorical, boolean or datetime.

One definition shared by the engine, the signature and the plugins, so that
"numeric" means the same thing in a check, a transform and a served request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

PREDICTION = "prediction"
"""The column predictions are written under: predict's output, the request log, and
the monitor's drift test on what the model answered."""


def role_of(series: pd.Series) -> str:
    """The role a column's dtype implies; anything non-numeric counts as categorical."""
    from pandas.api import types

    if types.is_bool_dtype(series.dtype):
        return "boolean"
    if types.is_datetime64_any_dtype(series.dtype):
        return "datetime"
    if types.is_numeric_dtype(series.dtype):
        return "numeric"
    return "categorical"


def columns_with_role(frame: pd.DataFrame, *roles: str) -> list[str]:
    """The columns of ``frame`` whose role is one of ``roles``, in frame order."""
    return [str(name) for name in frame.columns if role_of(frame[name]) in roles]


def text_as_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as ``category``, which native-categorical models read by dtype.

    An impute step hands categories back as strings; LightGBM and scikit-learn's
    histogram boosting map values to their training categories at predict time, so
    the category order built here does not matter.
    """
    from pandas.api import types

    text = [
        name
        for name in frame.columns
        if role_of(frame[name]) == "categorical"
        and not isinstance(frame[name].dtype, types.CategoricalDtype)
    ]
    return frame.astype(dict.fromkeys(text, "category")) if text else frame
