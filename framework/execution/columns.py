"""Which columns a table offers, which the spec picks, and what its target must hold:
the rules every executor applies.

The local executor judges a pandas table, the Dask one a lazy table's metadata; both
must refuse the same things in the same words, so the rules live here once and take
only column names (and, to set dates aside, a frame whose dtypes give the roles: an
empty metadata frame is enough).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from framework.errors import DataError
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    import pandas as pd


def require_column_names(names: list[str], source_type: str) -> None:
    """Refuse a table with a repeated or blank column name: the stored signature, the
    model and every message name columns, so each needs its own (compared as text)."""
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise DataError(
            f"source '{source_type}' returned more than one column named "
            f"{', '.join(repr(name) for name in repeated[:5])}",
            hint="every column needs its own name (names are compared as text)",
        )
    blank = [position + 1 for position, name in enumerate(names) if not name.strip()]
    if blank:
        raise DataError(
            f"source '{source_type}' returned a column with no name (column {blank[0]} of "
            f"{len(names)})",
            hint="give every column a name (in a query: SELECT ... AS name)",
        )


def require_target(names: list[str], target: str) -> None:
    """Refuse a table without the spec's target column, listing what it has."""
    if target not in names:
        raise DataError(
            f"target column '{target}' is not in the data{did_you_mean(target, names)}",
            column=target,
            hint=f"columns: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}",
        )


def choose_features(
    frame: pd.DataFrame, target: str, features: dict[str, Any] | None, exclude: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(feature columns, date columns set aside): the declared ``features``, or every
    column but the target and ``exclude``, dates aside (no model takes them as they are)."""
    from framework.columns import role_of

    available = [str(c) for c in frame.columns]
    if features:
        wanted = list(features)
        missing = [c for c in wanted if c not in available]
        if missing:
            raise DataError(
                f"feature column '{missing[0]}' is not in the data"
                f"{did_you_mean(missing[0], available)}",
                column=missing[0],
            )
        return wanted, []
    unknown = [c for c in exclude if c not in available]
    if unknown:
        raise DataError(
            f"excluded column '{unknown[0]}' is not in the data"
            f"{did_you_mean(unknown[0], available)}",
            column=unknown[0],
        )
    skip = {target, *exclude}
    candidates = [c for c in available if c not in skip]
    dates = [c for c in candidates if role_of(frame[c]) == "datetime"]
    chosen = [c for c in candidates if c not in dates]
    if not chosen:
        raise DataError("no feature columns left after removing the target and exclude")
    return chosen, dates


def require_classes(target: str, task: str, classes: int, first_label: Any = None) -> None:
    """Refuse a classification target with one class, more than two for a binary task,
    or more than ``MAX_CLASSES`` (scores are rows x classes: 10^5 labels in a 2 MB CSV
    is 80 GB). ``classes`` is counted however the executor can (exactly, past the limit)."""
    from framework.data_limits import MAX_CLASSES

    if classes < 2:
        raise DataError(
            f"target '{target}' has a single class ({first_label!r}); "
            f"a {task} task needs at least two",
            column=target,
        )
    if task == "binary" and classes > 2:
        raise DataError(
            f"target '{target}' has {classes} classes but the task is binary",
            column=target,
            hint="use task: multiclass",
        )
    most = MAX_CLASSES.value()
    if classes > most:
        raise DataError(
            f"target '{target}' has {classes:,} classes, more than the limit of {most:,}",
            column=target,
            hint="is it an identifier or a measured value (task: regression)? "
            f"{MAX_CLASSES.env} raises the limit",
        )
