"""Data snapshots of a Dask run: written partition by partition, read back lazily.

Public functions (what the Dask executor and the snapshot source call)::

    keep_snapshot(store: Store, data_hash: str, ddf) -> tuple[str | None, str | None]
        # (manifest blob, None) or (None, why not); each partition is encoded as
        # Parquet on a worker and its bytes pulled one at a time into its own blob
    read_distributed(store_root: Path, data_hash: str) -> dask.dataframe.DataFrame
        # a kept snapshot (either layout) as a lazy frame: each partition is read and
        # hash-checked by a worker (the store must be on a file system they share)
    partition_count(store_root: Path, data_hash: str) -> int   # manifest only (plan)

A single-blob snapshot (kept by a local run) is read as one partition per Arrow
record batch group, so it too is never loaded by the client.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import StoreError
from framework.execution import (
    EncodedPart,
    SnapshotLayout,
    encode_part,
    keep_partitioned_snapshot,
    read_part,
    snapshot_layout,
)

if TYPE_CHECKING:
    import pandas as pd

    from framework.execution import Store

BATCHES_PER_PARTITION = 16
"""Arrow record batches (64k rows each as pandas writes them) per partition of an old
single-blob snapshot."""


def keep_snapshot(store: Store, data_hash: str, ddf: Any) -> tuple[str | None, str | None]:
    """Keep the ingested table for ``specops reproduce``; a table Parquet cannot hold
    is noted, not fatal (the run does not depend on its snapshot)."""

    import pyarrow

    def partitions() -> Any:
        return _encoded_parts(ddf)

    try:
        try:
            return keep_partitioned_snapshot(store, data_hash, partitions()), None
        except StoreError as exc:
            if "vanished" not in str(exc):
                raise
            # a concurrent `store gc` took a blob before it was recorded: once more
            return keep_partitioned_snapshot(store, data_hash, partitions()), None
    except StoreError as exc:
        return None, f"data snapshot not kept ({exc})"
    except (ValueError, TypeError, OSError, pyarrow.ArrowException) as exc:
        # pyarrow's own errors are listed: ArrowException is not a ValueError
        return None, f"data snapshot not kept ({type(exc).__name__}: {exc})"


PART_ROWS = 250_000
"""Rows per snapshot part at most: a partition larger than this is cut into several
parts, so this process holds one part's Parquet bytes at a time, whatever the
partition size."""


AHEAD_PER_WORKER = 4
"""Parts encoded ahead of the one this process is storing, per worker (at most
``PART_ROWS`` rows each): every worker encodes its own partitions' parts while this
process stores the earlier ones, and no worker holds more than a few parts' bytes."""


def _encoded_parts(ddf: Any) -> Iterator[EncodedPart]:
    """Each partition as Parquet parts of at most :data:`PART_ROWS` rows, in order.

    With a distributed client, each part is cut and encoded on the worker holding its
    partition, up to :data:`AHEAD_PER_WORKER` parts per worker ahead of the one being
    stored: the workers encode in parallel (all of them, not one partition after the
    other) while this process fetches and stores one part's bytes at a time, in order.
    With the plain dask schedulers the partition is computed here (bounded by the
    partition) and cut the same way.
    """
    import dask

    tasks = list(ddf.to_delayed())
    client = _client()
    if client is None:
        for task in tasks:
            frame = dask.compute(task)[0]
            for start, stop in _slices(len(frame)):
                yield encode_part(frame.iloc[start:stop])
        return
    ahead = AHEAD_PER_WORKER * max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    pending: deque[Any] = deque()
    try:
        for task in tasks:
            frame = client.compute(task)  # a persisted table's partition: already there
            try:
                rows = client.submit(len, frame).result()
                for start, stop in _slices(rows):
                    pending.append(client.submit(_encode_slice, frame, start, stop))
                    while len(pending) > ahead:
                        yield _taken(pending.popleft())
            finally:
                frame.release()  # its parts' tasks hold it until they have run
        while pending:
            yield _taken(pending.popleft())
    finally:
        for part in pending:
            part.release()


def _taken(part: Any) -> EncodedPart:
    """A part's bytes, fetched; the worker's copy let go at once."""
    try:
        return part.result()
    finally:
        part.release()


def _slices(rows: int) -> list[tuple[int, int]]:
    """Row ranges of at most PART_ROWS (one, empty, for an empty partition)."""
    return [(start, min(start + PART_ROWS, rows)) for start in range(0, max(rows, 1), PART_ROWS)]


def _encode_slice(frame: pd.DataFrame, start: int, stop: int) -> EncodedPart:
    return encode_part(frame.iloc[start:stop])


def _client() -> Any:
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client in this process
        return None


def read_distributed(store_root: Path, data_hash: str) -> Any:
    """A kept snapshot as a lazy dask frame (hash-checked part by part on the workers)."""
    import dask
    import dask.dataframe as dd

    layout = snapshot_layout(store_root, data_hash)
    if not layout.partitioned:
        return _read_whole(layout)
    meta = _parquet_meta(layout)
    parts = [
        dask.delayed(read_part)(part.path, part.blob, _label(layout, number))
        for number, part in enumerate(layout.parts, start=1)
    ]
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def partition_count(store_root: Path, data_hash: str) -> int:
    """How many partitions :func:`read_distributed` yields, from the manifest alone."""
    import pyarrow as pa

    layout = snapshot_layout(store_root, data_hash)
    if layout.partitioned:
        return len(layout.parts)
    assert layout.whole is not None
    with pa.memory_map(str(layout.whole[1])) as source:
        batches = pa.ipc.open_file(source).num_record_batches
    return max(1, -(-batches // BATCHES_PER_PARTITION))


def _label(layout: SnapshotLayout, number: int) -> str:
    return f"part {number} of the snapshot of dataset {layout.data_hash[:12]}"


def _parquet_meta(layout: SnapshotLayout) -> pd.DataFrame:
    """The empty frame a part reads as, from the first part's schema (its footer)."""
    import pyarrow.parquet as pq

    first = layout.parts[0].path if layout.parts else None
    if first is None or not first.is_file():
        raise StoreError(f"the snapshot of dataset {layout.data_hash[:12]} has no parts")
    return pq.read_schema(first).empty_table().to_pandas()


def _read_whole(layout: SnapshotLayout) -> Any:
    """An old single-blob (Arrow IPC) snapshot: checked once here (streamed, bounded
    memory), then read by the workers a group of record batches at a time."""
    import dask
    import dask.dataframe as dd
    import pyarrow as pa

    from framework.execution import sha256_file

    assert layout.whole is not None
    blob, path = layout.whole
    if sha256_file(path) != blob:
        raise StoreError(
            f"the snapshot of dataset {layout.data_hash[:12]} is corrupt: {path}; "
            "refusing to load it"
        )
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        batches = reader.num_record_batches
        meta = reader.schema.empty_table().to_pandas()
    groups = [
        (start, min(start + BATCHES_PER_PARTITION, batches))
        for start in range(0, max(batches, 1), BATCHES_PER_PARTITION)
    ]
    parts = [dask.delayed(_read_batches)(str(path), start, stop) for start, stop in groups]
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def _read_batches(path: str, start: int, stop: int) -> pd.DataFrame:
    import pyarrow as pa

    with pa.memory_map(path) as source:
        reader = pa.ipc.open_file(source)
        if stop <= start:
            return reader.schema.empty_table().to_pandas()
        table = pa.Table.from_batches([reader.get_batch(i) for i in range(start, stop)])
    return table.to_pandas()
