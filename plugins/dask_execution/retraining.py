"""Retraining on drift found on Dask: the window a challenger trains on, read lazily on
the retraining run's own cluster, never through the client.

Public function (``DaskBatch.retraining_window`` calls it)::

    batch_window(spec, plugins, files: BatchFiles, batch_rows: int,
                 batch_columns: list[str]) -> framework.monitoring.retrain.Window

The window is the local one (:func:`framework.monitoring.retrain.window_frame`): the
batch alone (``new_only``), or the spec's source then the batch aligned to the
source's columns, the last ``monitor.retrain.rows`` rows, with the same sentence. The
row counts are taken while the monitor's cluster is up; the rows themselves are read
again by :class:`WindowSource` (the spec's source by its ``load_distributed``, the
batch's files by the monitor's reader) when the retraining run loads them, on the
cluster its own session opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework import DataError, UserError
from plugins.dask_execution.ingest import row_count

if TYPE_CHECKING:
    import pandas as pd

    from framework import StepContext
    from framework.execution import Plugins, Spec, Window
    from plugins.dask_execution.monitoring import BatchFiles


def batch_window(
    spec: Spec, plugins: Plugins, files: BatchFiles, batch_rows: int, batch_columns: list[str]
) -> Window:
    """The window as a source a Dask run loads lazily (the batch's files read again,
    after the spec's source's ``load_distributed`` unless ``new_only``), the row
    counts taken here; the same rows and the same sentence as the local window."""
    from framework import StepContext
    from framework.execution import Window

    if spec.target not in batch_columns:
        raise DataError(
            f"retraining needs labels, but the new data has no target column '{spec.target}'",
            column=spec.target,
            hint="add the labels to the batch, or use on_drift: fail until they arrive",
        )
    if spec.execution.type != "dask":
        raise UserError("retraining on a batch read on Dask needs the spec's execution: dask")
    policy = spec.monitor.retrain
    reference = None
    if policy.data == "new_only":
        rows, what = batch_rows, f"the new batch ({batch_rows:,} rows)"
    else:
        # a Dask read: the source judges its limits per file, not as a whole table
        ctx = StepContext(
            spec.name, spec.task, spec.target, spec.base_dir, spec.seed, execution="dask"
        )
        reference = plugins.build("source", spec.source.type, spec.source.kwargs())
        if not callable(getattr(reference, "load_distributed", None)):
            raise UserError(
                f"retraining on Dask reads the spec's source on Dask, and source "
                f"'{spec.source.type}' cannot (no load_distributed); use monitor.retrain"
                ".data: new_only, or execution: local"
            )
        table = reference.load_distributed(ctx)
        columns = [str(c) for c in table.columns]
        before = row_count(table)
        rows = before + batch_rows
        what = f"the spec's source ({before:,} rows) then the new batch ({batch_rows:,})"
        extra = [c for c in batch_columns if c not in set(columns)]
        if extra:
            what += f"; batch columns not in the source ignored: {', '.join(extra)}"
    if policy.rows is not None and rows > policy.rows:
        rows, what = policy.rows, f"the last {policy.rows:,} rows of {what}"
    return Window(WindowSource(files, reference, policy.rows), rows, what)


class WindowSource:
    """The retraining window of a Dask batch, loaded on the retraining run's cluster:
    ``reference`` (the spec's source, None for ``new_only``) then the batch's files
    aligned to its columns, cast to the dtypes pandas' concat would give, the last
    ``keep`` rows."""

    def __init__(self, files: BatchFiles, reference: Any | None, keep: int | None) -> None:
        self.files = files
        self.reference = reference
        self.keep = keep

    def partitions(self, ctx: StepContext) -> int:
        count = getattr(self.reference, "partitions", None)
        before = int(count(ctx)) if callable(count) else 0
        return before + len(self.files.files)

    def load(self, ctx: StepContext) -> pd.DataFrame:
        raise UserError("this retraining window is read on Dask only (execution: dask)")

    def load_distributed(self, ctx: StepContext) -> Any:
        import dask.dataframe as dd
        import pandas as pd

        batch = self.files.frame()
        if self.reference is None:
            frame = batch
        else:
            table = self.reference.load_distributed(ctx)
            table = table.rename(columns={c: str(c) for c in table.columns})
            columns = list(table.columns)
            aligned_meta = batch._meta.reindex(columns=columns)
            dtypes = dict(pd.concat([table._meta, aligned_meta]).dtypes.items())
            cast = {n: d for n, d in dtypes.items() if str(table._meta[n].dtype) != str(d)}
            if cast:
                table = table.astype(cast)
            aligned = batch.map_partitions(
                _aligned, columns, dtypes, meta=aligned_meta.astype(dtypes)
            )
            frame = dd.concat([table, aligned])
        if self.keep is not None:
            frame = _last_rows(frame, self.keep)
        return frame


def _aligned(frame: pd.DataFrame, columns: list[str], dtypes: dict[str, Any]) -> pd.DataFrame:
    return frame.reindex(columns=columns).astype(dtypes)


def _last_rows(frame: Any, keep: int) -> Any:
    """The last ``keep`` rows of a Dask DataFrame, partitions in order."""
    lengths = [int(n) for n in frame.map_partitions(len).compute()]
    start = max(sum(lengths) - keep, 0)
    offsets = [sum(lengths[:i]) for i in range(len(lengths))]
    return frame.map_partitions(_from_row, start, offsets, meta=frame._meta)


def _from_row(
    frame: pd.DataFrame, start: int, offsets: list[int], partition_info: Any = None
) -> pd.DataFrame:
    offset = offsets[partition_info["number"]] if partition_info else 0
    return frame.iloc[max(start - offset, 0) :]
