"""Distributed aggregations the built-in checks' ``run_distributed`` methods use.

A check's local ``run(frame, ctx)`` reads a pandas frame; on Dask it asks for the
same numbers as small aggregates: each partition is reduced on its worker, the
partials are combined, and only what a verdict quotes reaches the client (a few
counts, a min and a max, the five most frequent offending values). Orders are the
local ones: most frequent first, ties by first appearance in the table (pandas'
``value_counts``), so details read word for word the same.

Public functions::

    run_checks_distributed(plugins, checks: Iterable[ComponentSpec], ddf, ctx)
        -> tuple[list[CheckOutcome], list[CheckOutcome]]   # (every outcome, failed)

    per_partition(ddf, fn, *args) -> list
        # fn(part: pd.DataFrame, number: int, *args) on every partition, one compute
    counted(ddf, columns, keep=None, *, shown=5, repeated_only=False, also=()) -> Counted
        # distinct values (or keys) of ``columns`` among the rows ``keep(part)`` marks,
        # rows with a missing key dropped: how many rows, distinct and repeated values,
        # the ``shown`` most frequent as a pandas Series indexed like value_counts'
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from framework import CheckOutcome, StepContext
    from framework.execution import ComponentSpec, Plugins


def run_checks_distributed(
    plugins: Plugins, checks: Iterable[ComponentSpec], ddf: Any, ctx: StepContext
) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
    """The spec's checks on a dask frame (each by its ``run_distributed``): every
    outcome, and the failed ones of severity error (:mod:`framework.checking`)."""
    from framework.execution import run_checks_distributed as run

    return run(plugins, checks, ddf, ctx)


POSITION_BITS = 40
"""A row's place in the table as one int64: partition number << 40 | row in it
(10^12 rows a partition), ordered as the rows are."""
_N, _FIRST = "__specops_n", "__specops_first"


def per_partition(ddf: Any, fn: Callable[..., Any], *args: Any) -> list[Any]:
    """``fn(part, number, *args)`` for every partition, computed together; the results
    (small, by contract) come back in partition order."""
    import dask

    from plugins.dask_execution.ingest import compute_data

    tasks = [dask.delayed(fn)(part, number, *args) for number, part in enumerate(ddf.to_delayed())]
    return list(compute_data(*tasks)) if tasks else []


@dataclass
class Counted:
    """What :func:`counted` found over the rows kept: ``rows`` of them, ``distinct``
    values (keys) among them, ``repeated`` of those seen more than once, the most
    frequent ``top`` (a Series of counts indexed like ``value_counts``'), and the
    values of the ``also`` collections computed alongside."""

    rows: int
    distinct: int
    repeated: int
    top: pd.Series
    also: list[Any]


def _partial(
    part: pd.DataFrame,
    number: int,
    columns: list[str],
    keep: Callable[[pd.DataFrame], Any] | None,
    by_code: bool,
) -> pd.DataFrame:
    """One partition's counts per value, with each value's first position (or its
    category code, which orders a categorical's ties in ``value_counts``)."""
    import numpy as np

    rows = part[columns].reset_index(drop=True)
    if by_code:
        rows[_FIRST] = rows[columns[0]].cat.codes.astype("int64")
    else:
        rows[_FIRST] = (number << POSITION_BITS) + np.arange(len(rows), dtype="int64")
    rows = rows.dropna(subset=columns, how="any")
    if keep is not None:
        rows = rows[np.asarray(keep(rows[columns]), dtype=bool)]
    grouped = rows.groupby(columns, sort=False, observed=True, dropna=True)
    out = grouped[_FIRST].agg(["size", "min"]).reset_index()
    out.columns = [*columns, _N, _FIRST]
    return out.astype({_N: "int64", _FIRST: "int64"})


def counted(
    ddf: Any,
    columns: Sequence[str],
    keep: Callable[[pd.DataFrame], Any] | None = None,
    *,
    shown: int = 5,
    repeated_only: bool = False,
    also: Sequence[Any] = (),
) -> Counted:
    """Count the distinct values of ``columns`` on the cluster (rows with a missing one
    dropped, then ``keep``'s rows). ``repeated_only``: ``top`` lists only values seen
    more than once. The client receives ``shown`` rows and a few numbers."""
    import dask
    import dask.dataframe as dd
    import pandas as pd

    from plugins.dask_execution.ingest import compute_data

    columns = list(columns)
    first = ddf._meta[columns[0]]
    by_code = (
        len(columns) == 1
        and isinstance(first.dtype, pd.CategoricalDtype)
        and bool(ddf[columns[0]].cat.known)
    )
    meta = _partial(ddf._meta, 0, columns, None, by_code)
    partials = dd.from_delayed(
        [
            dask.delayed(_partial)(part, number, columns, keep, by_code)
            for number, part in enumerate(ddf.to_delayed())
        ],
        meta=meta,
        verify_meta=False,
    )
    # spread over as many partitions as the table: a key per row (an id column) must
    # not gather on one worker
    combined = partials.groupby(columns, observed=True, dropna=True).agg(
        {_N: "sum", _FIRST: "min"}, split_out=max(1, partials.npartitions)
    )
    rows = combined[_N].sum()
    distinct = combined[_N].count()
    repeated = (combined[_N] > 1).sum()
    listed = combined[combined[_N] > 1] if repeated_only else combined
    listed = listed.assign(__order=-listed[_N])
    top = listed.nsmallest(shown, ["__order", _FIRST])
    top, rows, distinct, repeated, *extra = compute_data(top, rows, distinct, repeated, *also)
    top = top.sort_values(["__order", _FIRST], kind="stable")
    index = _index_like_value_counts(top, columns, ddf._meta)
    counts = pd.Series(top[_N].to_numpy(), index=index, name="count")
    return Counted(
        rows=int(rows),
        distinct=int(distinct),
        repeated=int(repeated),
        top=counts,
        also=list(extra),
    )


def _index_like_value_counts(top: pd.DataFrame, columns: list[str], meta: pd.DataFrame) -> Any:
    """The index ``value_counts`` would give these values: the column's dtype for one
    column (so values print alike), a MultiIndex of key tuples for several."""
    import pandas as pd

    keys = top.index.to_frame(index=False) if len(columns) > 1 else None
    if keys is None:
        values = top.index.to_numpy()
        dtype = meta[columns[0]].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            dtype = dtype.categories.dtype if len(dtype.categories) else None
        try:
            return pd.Index(values, dtype=dtype, name=columns[0])
        except (TypeError, ValueError):
            return pd.Index(values, name=columns[0])
    for name in columns:
        dtype = meta[name].dtype
        if not isinstance(dtype, pd.CategoricalDtype):
            with contextlib.suppress(TypeError, ValueError):
                keys[name] = keys[name].astype(dtype)
    return pd.MultiIndex.from_frame(keys)
