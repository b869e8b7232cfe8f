"""The target column in a request: kept for the request log, never scored.

A client that knows the outcome of the rows it sends (a replay of labelled traffic,
a shadow stream, a system that learns the answer at once) may send the model's
target column with them. The model ignores it, as any column it does not take, but
the request log keeps it, so ``specops monitor SPEC --from-log`` sees the labels:
performance on live traffic (``--labels TARGET``) and, on drift, retraining on what
the servers answered (``--retrain``), the loop continuous training needs.

Only MLflow's JSON forms and CSV carry it (an Open Inference input not the model's
is never decoded). The values are kept only when they fit: one plain value (text,
number, boolean or null) per row; anything else is left out of the log, and the
request is answered all the same. With ``--strict-columns`` the target is refused
like any column the model does not take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework.serving.batch import Batch

PLAIN = (str, int, float, bool, type(None))


def attach(batch: Batch, form: str, value: Any, target: str | None) -> None:
    """Set ``batch.label`` from a parsed MLflow JSON form, if it carried ``target``."""
    if target is None or not batch.ignored.saw(target):
        return
    values: Any = None
    if form == "dataframe_split" and isinstance(value, Mapping):
        columns = value.get("columns")
        rows = value.get("data")
        if isinstance(columns, list) and isinstance(rows, list) and target in columns:
            position = columns.index(target)
            values = [row[position] for row in rows]  # rows were checked to be this wide
    elif isinstance(value, list):  # records
        values = [record.get(target) if isinstance(record, Mapping) else None for record in value]
    elif isinstance(value, Mapping):  # columns
        found = value.get(target)
        values = found if isinstance(found, list) else [found]
    keep(batch, values)


def keep(batch: Batch, values: Any) -> None:
    """Keep ``values`` as the batch's labels when they are one plain value per row."""
    if values is None:
        return
    if hasattr(values, "tolist"):
        values = values.tolist()
    if len(values) != batch.rows or not all(isinstance(v, PLAIN) for v in values):
        return
    batch.label = values
