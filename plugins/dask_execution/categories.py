"""The training categories of the model's signature, computed on a Dask cluster.

Public functions (plain inputs: a Signature and dask DataFrames)::

    training_categories_distributed(signature: Signature, train: dd.DataFrame) -> Signature
        framework.signature.training_categories' signature: each categorical column keeps
        only the categories the training split holds, in the signature's order (sorted
        when the signature has none), computed with distributed value counts.
    apply_categories(ddf: dd.DataFrame, signature: Signature) -> dd.DataFrame
        Each categorical column coded against those categories, partition by partition
        (a value unseen in training becomes missing): the train and test frames the
        local split hands to the transforms and the model.

Together they give what ``training_categories(signature, train, test)`` gives locally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.execution import ColumnSignature, Signature

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def training_categories_distributed(signature: Signature, train: dd.DataFrame) -> Signature:
    """The signature with each categorical column's categories cut to those in ``train``."""
    import dask

    categorical = [c.name for c in signature.columns if c.role == "categorical"]
    if not categorical:
        return signature
    wanted = {name: train[name].value_counts(dropna=True, split_out=1) for name in categorical}
    (counts,) = dask.compute(wanted)
    columns = []
    for column in signature.columns:
        if column.role != "categorical":
            columns.append(column)
            continue
        seen = counts[column.name]
        present = {_python(v) for v in seen.index[seen.to_numpy() > 0]}
        if column.categories:
            kept = [c for c in column.categories if c in present]
        else:
            kept = sorted(present)
        columns.append(ColumnSignature(column.name, "categorical", "category", kept))
    return Signature(tuple(columns))


def apply_categories(ddf: dd.DataFrame, signature: Signature) -> dd.DataFrame:
    """``ddf`` with its categorical columns coded against the signature's categories."""
    wanted = {
        c.name: list(c.categories or []) for c in signature.columns if c.role == "categorical"
    }
    if not wanted:
        return ddf
    return ddf.map_partitions(_coded, wanted, meta=_coded(ddf._meta, wanted))


def _coded(part: pd.DataFrame, wanted: dict[str, list[Any]]) -> pd.DataFrame:
    from framework.execution import as_training_categories

    present = {name: cats for name, cats in wanted.items() if name in part.columns}
    return (
        part.assign(
            **{name: as_training_categories(part[name], cats) for name, cats in present.items()}
        )
        if present
        else part
    )
