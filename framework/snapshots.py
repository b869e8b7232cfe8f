"""Reading back the data a run ingested, from the store's content-addressed snapshots.

Every run records its data's content hash; unless ``store.snapshot_data`` is off,
the table itself is kept once per distinct hash. A recorded dataset version can
then be trained on again (``source: {type: snapshot}``) or a run reproduced
exactly (``specops reproduce``).

Two layouts, both read by everything here:

- one blob, an Arrow IPC (Feather) file of the whole table: what a local run keeps;
- partitioned (a Dask run): one Parquet blob per partition plus a JSON manifest
  blob listing them in order, written one partition at a time so the process
  writing never holds the table. ``datasets.blob`` names the manifest. Parts
  shared by two versions (an unchanged partition) are stored once.

Every blob is hash-checked before it is parsed, a part by whoever reads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import StoreError
from framework.store import Store

if TYPE_CHECKING:
    import pandas as pd

MANIFEST_FORMAT = "specops-snapshot-parts/1"
MANIFEST_BYTES = 64 << 20
"""A manifest lists part hashes: far below this even for 100,000 partitions."""


@dataclass(frozen=True)
class SnapshotPart:
    """One partition of a partitioned snapshot: its blob, where it is, its rows.

    ``path`` is None for a part of a remote store not fetched yet (a layout asked for
    with ``fetch=False``): :func:`iter_snapshot` fetches each such part just before it
    reads it."""

    blob: str
    path: Path | None
    rows: int


@dataclass(frozen=True)
class SnapshotLayout:
    """Where a snapshot's bytes are: ``parts`` for a partitioned one, else ``whole``
    (the single Arrow blob's path and hash)."""

    data_hash: str
    parts: tuple[SnapshotPart, ...] = ()
    whole: tuple[str, Path] | None = None
    columns: tuple[str, ...] = ()

    @property
    def partitioned(self) -> bool:
        return self.whole is None


def find_dataset(store: Store, prefix: str) -> str:
    """The full data hash for a hash or a unique prefix of one."""
    rows = store.db.execute(
        "SELECT hash FROM datasets WHERE hash LIKE ? ORDER BY first_seen", (f"{prefix}%",)
    ).fetchall()
    if len(rows) == 1:
        return str(rows[0][0])
    if not rows:
        known = store.db.execute(
            "SELECT hash FROM datasets ORDER BY first_seen DESC LIMIT 5"
        ).fetchall()
        listed = ", ".join(row[0][:12] for row in known) or "none"
        raise StoreError(f"no dataset version {prefix!r} in {store.root}; recent: {listed}")
    raise StoreError(f"dataset prefix {prefix!r} is ambiguous: {len(rows)} versions match")


def snapshot_layout(store_root: Path, data_hash: str, *, fetch: bool = True) -> SnapshotLayout:
    """Which blobs hold a dataset version (by hash or unique prefix), manifest checked.

    With ``fetch`` (for readers handed paths, e.g. Dask workers) a remote store's parts
    are all fetched into its local cache first; without, their ``path`` is None until
    read (see :func:`iter_snapshot`)."""
    store = Store.open_existing(store_root, write=False)
    try:
        return _layout(store, data_hash, fetch=fetch)
    finally:
        store.close()


def _layout(store: Store, data_hash: str, *, fetch: bool) -> SnapshotLayout:
    full = find_dataset(store, data_hash)
    blob = store.snapshot_blob(full)
    if blob is None:
        raise StoreError(
            f"dataset {full[:12]} was recorded without a snapshot (store.snapshot_data: false)"
        )
    label = f"snapshot of dataset {full[:12]}"
    path = _blob_file(store, blob, label)
    # a whole-table blob is hash-checked as it is copied out; a manifest here
    manifest = (
        _manifest(store.artifacts.verified(blob, label), label) if _is_manifest(path) else None
    )
    if manifest is None:
        return SnapshotLayout(full, whole=(blob, path))
    if not isinstance(manifest.get("parts"), list):
        raise StoreError(f"{label} has a manifest without its parts ({path})")
    parts = tuple(
        _part(store, entry, full, number, fetch=fetch)
        for number, entry in enumerate(manifest["parts"], start=1)
    )
    return SnapshotLayout(full, parts=parts, columns=tuple(manifest.get("columns", ())))


def _part(store: Store, entry: Any, data_hash: str, number: int, *, fetch: bool) -> SnapshotPart:
    """A manifest's entry, refused unless it names a blob by its sha256 (nothing else
    may become a path under the store)."""
    blob = entry.get("blob") if isinstance(entry, dict) else None
    rows = entry.get("rows") if isinstance(entry, dict) else None
    if not isinstance(blob, str) or not _SHA256.fullmatch(blob) or not isinstance(rows, int):
        raise StoreError(
            f"snapshot of dataset {data_hash[:12]} has a manifest entry specops did not "
            f"write: {entry!r:.80}"
        )
    path_of = getattr(store.artifacts, "path_of", None)
    if path_of is not None:
        return SnapshotPart(blob, path_of(blob), rows)
    # a remote store: fetched into the workdir's cache (verified), now or when read
    label = _part_label(data_hash, number)
    return SnapshotPart(blob, store.artifacts.verified(blob, label) if fetch else None, rows)


def _blob_file(store: Store, blob: str, label: str) -> Path:
    """A local file holding the blob: a local store's own (hash-checked where it is
    read), or a remote store's copy in the workdir's cache (verified on download)."""
    path_of = getattr(store.artifacts, "path_of", None)
    if path_of is None:
        return store.artifacts.verified(blob, label)
    path = path_of(blob)
    if not path.is_file():
        raise StoreError(f"artifact {label} is missing from the store: {path}")
    return path


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_manifest(path: Path) -> bool:
    """A manifest is JSON (``{``); a whole-table snapshot is Arrow IPC (``ARROW1``)."""
    with path.open("rb") as handle:
        return handle.read(1) == b"{"


def _manifest(path: Path, label: str) -> dict[str, Any]:
    """The manifest a (hash-checked) blob holds."""
    if path.stat().st_size > MANIFEST_BYTES:
        raise StoreError(f"{label} is not a snapshot manifest specops wrote ({path})")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{label} has an unreadable manifest ({path}): {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise StoreError(
            f"{label} is a manifest of format {found!r}, not {MANIFEST_FORMAT!r}: "
            "written by a newer specops?"
        )
    return manifest


def read_part(path: Path, blob: str, label: str) -> pd.DataFrame:
    """One part of a partitioned snapshot, hash-checked before it is parsed (runs
    wherever the part is read: this process, or a Dask worker)."""
    import pandas as pd

    from framework.store.artifacts import sha256_file

    if not path.is_file():
        raise StoreError(f"{label} is missing from the store: {path}")
    actual = sha256_file(path)
    if actual != blob:
        raise StoreError(
            f"{label} is corrupt: {path} has sha256 {actual[:12]}..., expected "
            f"{blob[:12]}...; refusing to load it"
        )
    return pd.read_parquet(path, engine="pyarrow")


def iter_snapshot(store_root: Path, data_hash: str) -> Iterator[pd.DataFrame]:
    """A snapshot's table, a part at a time (the whole table for a single-blob one).

    A remote store's part is fetched just before it is read, never all of them first:
    the S3 read cache keeps only what was read in the last ten minutes beyond its cap,
    so parts fetched ahead, slowly, could be evicted before being read."""
    store = Store.open_existing(store_root, write=False)
    try:
        layout = _layout(store, data_hash, fetch=False)
        if not layout.partitioned:
            yield _read_whole(store, layout)
            return
        for number, part in enumerate(layout.parts, start=1):
            label = _part_label(layout.data_hash, number)
            path = part.path or store.artifacts.verified(part.blob, label)
            yield read_part(path, part.blob, label)
    finally:
        store.close()


def read_snapshot(store_root: Path, data_hash: str) -> pd.DataFrame:
    """The table a run ingested, hash-checked before it is parsed (either layout)."""
    import pandas as pd

    frames = list(iter_snapshot(store_root, data_hash))
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)


def _read_whole(store: Store, layout: SnapshotLayout) -> pd.DataFrame:
    import tempfile

    import pandas as pd

    assert layout.whole is not None
    blob = layout.whole[0]
    scratch = None if store.read_only else store.root  # a read-only store: system temp
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".load-") as tmp:
        local = Path(tmp) / "snapshot.arrow"
        store.artifacts.copy_out(blob, f"snapshot of dataset {layout.data_hash[:12]}", local)
        return pd.read_feather(local)


def _part_label(data_hash: str, number: int) -> str:
    return f"part {number} of the snapshot of dataset {data_hash[:12]}"


@dataclass(frozen=True)
class EncodedPart:
    """One partition as the Parquet bytes of its blob (made where the partition is,
    e.g. on a Dask worker, so the writer receives compressed bytes, not a table)."""

    data: bytes
    rows: int
    columns: tuple[str, ...]
    write: Callable[[Path], None] | None = None
    """Writes the part's bytes to the given path itself (a worker on this machine's file
    system, say); ``data`` is then unused (``b""``). The blob is hashed and placed as any
    other, so who wrote the bytes changes nothing about what is stored."""


def encode_part(frame: pd.DataFrame) -> EncodedPart:
    """A partition as a snapshot part's bytes: Parquet, snappy (fast: every Dask run
    with snapshots pays it), no index."""
    import io

    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(
        buffer, engine="pyarrow", index=False, compression="snappy"
    )
    return EncodedPart(buffer.getvalue(), len(frame), tuple(str(c) for c in frame.columns))


def keep_partitioned_snapshot(
    store: Store, data_hash: str, partitions: Iterable[EncodedPart]
) -> str:
    """Keep a dataset version as one Parquet blob per partition plus a manifest blob;
    returns the manifest's hash (what ``datasets.blob`` names). ``partitions`` is
    consumed one at a time (the caller pulls each from a cluster just in time). A
    version kept before is reused without reading a partition."""
    existing = store.snapshot_blob(data_hash)
    if existing:
        return existing
    parts: list[dict[str, Any]] = []
    columns: tuple[str, ...] | None = None
    for part in partitions:
        if columns is None:
            columns = part.columns
        elif part.columns != columns:
            raise ValueError(f"partition {len(parts) + 1} has other columns than the first")

        def write(path: Path, data: bytes = part.data) -> None:
            path.write_bytes(data)

        parts.append({"blob": store.artifacts.put_written(part.write or write), "rows": part.rows})
    manifest = {
        "format": MANIFEST_FORMAT,
        "data_hash": data_hash,
        "rows": sum(p["rows"] for p in parts),
        "columns": list(columns or ()),
        "parts": parts,
    }
    text = json.dumps(manifest, indent=1, sort_keys=True).encode()

    def write_manifest(path: Path) -> None:
        path.write_bytes(text)

    blob = store.artifacts.put_written(write_manifest)
    # recorded under the write lock, every blob checked to be there (a concurrent
    # `store gc` may have removed one meanwhile: StoreError, the caller writes again)
    return store.keep_snapshot_parts(data_hash, blob, [p["blob"] for p in parts])
