"""Snapshots of a Dask run: one Parquet blob per partition plus a manifest, read back
by the local path, by the workers and by the snapshot source, hash for hash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import StepContext, StoreError
from framework.snapshots import read_snapshot, snapshot_layout
from framework.store import Store
from plugins.dask_execution import ingest as dask_ingest
from plugins.dask_execution.snapshot import keep_snapshot, partition_count, read_distributed
from plugins.sources import ParquetSource, SnapshotSource

dd = pytest.importorskip("dask.dataframe")

ROWS = 2_400


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "id": np.arange(ROWS),
            "fee": rng.normal(50, 5, ROWS),
            "plan": rng.choice(["basic", "pro"], ROWS),
            "region": rng.choice(["north", "south", "east"], ROWS),
            "churn": rng.choice([0, 1], ROWS),
        }
    )


@pytest.fixture
def dataset(tmp_path: Path) -> Any:
    """A hive-partitioned Parquet dataset read lazily, as a Dask run's source gives it."""
    _frame().to_parquet(tmp_path / "sales", partition_cols=["region"], index=False)
    ctx = StepContext(spec_name="t", task="binary", target="churn", base_dir=tmp_path)
    return ParquetSource(path="sales").load_distributed(ctx)


def _kept(root: Path, ddf: Any) -> tuple[str, str]:
    digest = dask_ingest.data_hash(ddf)
    store = Store(root)
    try:
        store.record_dataset("no-run", digest, ROWS, [str(c) for c in ddf.columns])
        blob, problem = keep_snapshot(store, digest, ddf)
    finally:
        store.close()
    assert problem is None and blob is not None
    return digest, blob


def test_each_partition_is_its_own_blob_under_a_manifest(
    dask_client: Any, dataset: Any, tmp_path: Path
) -> None:
    digest, blob = _kept(tmp_path / "store", dataset)
    layout = snapshot_layout(tmp_path / "store", digest[:10])
    assert layout.partitioned and len(layout.parts) == dataset.npartitions == 3
    assert sum(part.rows for part in layout.parts) == ROWS
    assert all(part.path.is_file() for part in layout.parts)
    store = Store.open_existing(tmp_path / "store", write=False)
    try:
        manifest = json.loads(store.artifacts.verified(blob, "manifest").read_text())
    finally:
        store.close()
    assert manifest["data_hash"] == digest and manifest["rows"] == ROWS
    assert [p["blob"] for p in manifest["parts"]] == [p.blob for p in layout.parts]


def test_read_back_locally_and_on_the_cluster_with_the_same_hash(
    dask_client: Any, dataset: Any, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    digest, _ = _kept(root, dataset)
    original = dataset.compute().reset_index(drop=True)

    local = read_snapshot(root, digest)
    pd.testing.assert_frame_equal(local, original)

    again = read_distributed(root, digest)
    assert again.npartitions == 3 == partition_count(root, digest)
    assert dask_ingest.data_hash(again) == digest
    pd.testing.assert_frame_equal(again.compute().reset_index(drop=True), original)


def test_the_snapshot_source_reads_both_layouts(
    dask_client: Any, dataset: Any, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    digest, _ = _kept(root, dataset)
    ctx = StepContext(spec_name="t", task="binary", target="churn", base_dir=tmp_path)
    source = SnapshotSource(data=digest[:12], store="store")
    assert len(source.load(ctx)) == ROWS
    assert source.partitions(ctx) == 3
    assert dask_ingest.data_hash(source.load_distributed(ctx)) == digest

    # a local run's single Arrow blob, read lazily by record batch groups
    frame = _frame()
    store = Store(root)
    try:
        store.record_dataset("no-run", "a" * 64, len(frame), list(frame.columns))
        store.keep_snapshot("a" * 64, frame)
    finally:
        store.close()
    old = SnapshotSource(data="aaaaaaaa", store="store")
    assert old.partitions(ctx) == 1
    pd.testing.assert_frame_equal(old.load_distributed(ctx).compute(), frame)
    pd.testing.assert_frame_equal(old.load(ctx), frame)


def test_a_snapshot_kept_before_is_reused_without_reading_a_partition(
    dask_client: Any, dataset: Any, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    digest, blob = _kept(root, dataset)

    def broken(part: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("a partition was read")

    unreadable = dataset.map_partitions(broken, meta=dataset._meta)
    store = Store(root)
    try:
        assert keep_snapshot(store, digest, unreadable) == (blob, None)
    finally:
        store.close()


def test_a_corrupt_part_is_refused_by_whoever_reads_it(
    dask_client: Any, dataset: Any, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    digest, _ = _kept(root, dataset)
    part = snapshot_layout(root, digest).parts[1]
    part.path.chmod(0o644)
    data = bytearray(part.path.read_bytes())
    data[100] ^= 0xFF
    part.path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"part 2 of the snapshot of dataset \w+ is corrupt"):
        read_snapshot(root, digest)
    with pytest.raises(StoreError, match=r"part 2 of the snapshot of dataset \w+ is corrupt"):
        read_distributed(root, digest).compute()


def test_a_manifest_naming_something_else_than_a_blob_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = Store(root)
    try:
        store.record_dataset("no-run", "b" * 64, 1, ["x"])
        manifest = {
            "format": "specops-snapshot-parts/1",
            "parts": [{"blob": "../../etc/passwd", "rows": 1}],
        }
        blob = store.artifacts.put_written(lambda p: p.write_text(json.dumps(manifest)))
        with store.transaction() as db:
            db.execute("UPDATE datasets SET blob = ? WHERE hash = ?", (blob, "b" * 64))
    finally:
        store.close()
    with pytest.raises(StoreError, match="manifest entry specops did not write"):
        read_snapshot(root, "b" * 64)


def test_store_gc_keeps_the_parts_and_verify_checks_them(
    dask_client: Any, dataset: Any, tmp_path: Path
) -> None:
    from framework.store.integrity import find_garbage, verify

    root = tmp_path / "store"
    digest, _ = _kept(root, dataset)
    store = Store(root)
    try:
        assert find_garbage(store) == []  # every part is referenced, none collected
        report = verify(store, full=True)
        assert report.ok and report.blobs == 1 + 3  # the manifest and three parts
        part = snapshot_layout(root, digest).parts[2]
        part.path.chmod(0o644)
        part.path.write_bytes(b"not the part")
        [problem] = verify(store, full=True).problems
        assert "snapshot part" in str(problem)
    finally:
        store.close()


@pytest.mark.parametrize("with_cluster", [True, False], ids=["cluster", "no client"])
def test_a_large_partition_is_cut_into_parts_of_bounded_rows(
    request: pytest.FixtureRequest,
    dataset: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    with_cluster: bool,
) -> None:
    """This process holds one part's bytes at a time, however large a partition is."""
    from plugins.dask_execution import snapshot

    if with_cluster:
        request.getfixturevalue("dask_client")
    monkeypatch.setattr(snapshot, "PART_ROWS", 300)
    root = tmp_path / "store"
    digest, _ = _kept(root, dataset)
    layout = snapshot_layout(root, digest)
    assert all(part.rows <= 300 for part in layout.parts)
    assert len(layout.parts) >= ROWS // 300
    assert sum(part.rows for part in layout.parts) == ROWS
    pd.testing.assert_frame_equal(
        read_snapshot(root, digest), dataset.compute().reset_index(drop=True)
    )
    assert dask_ingest.data_hash(read_distributed(root, digest)) == digest


def test_a_part_taken_by_gc_before_the_record_is_written_again(
    dask_client: Any, dataset: Any, tmp_path: Path
) -> None:
    """store.keep_snapshot_parts refuses to record a blob a concurrent gc removed; the
    snapshot is then written once more (and noted as not kept if that fails too)."""
    root = tmp_path / "store"
    digest = dask_ingest.data_hash(dataset)
    store = Store(root)
    try:
        store.record_dataset("no-run", digest, ROWS, [str(c) for c in dataset.columns])
        real = store.keep_snapshot_parts
        calls: list[int] = []

        def racing(data_hash: str, manifest: str, parts: list[str]) -> str:
            calls.append(len(parts))
            if len(calls) == 1:
                store.artifacts.path_of(parts[0]).unlink()  # what gc would do
                raise StoreError(f"snapshot blob {parts[0][:12]} vanished before it was recorded")
            return real(data_hash, manifest, parts)

        store.keep_snapshot_parts = racing  # type: ignore[method-assign]
        blob, problem = keep_snapshot(store, digest, dataset)
        assert problem is None and blob is not None and len(calls) == 2

        store.keep_snapshot_parts = lambda *args: (_ for _ in ()).throw(  # type: ignore[method-assign]
            StoreError("the store is read-only")
        )
        other = dataset[dataset["fee"] > 50]
        assert keep_snapshot(store, "c" * 64, other) == (
            None,
            "data snapshot not kept (the store is read-only)",
        )
    finally:
        store.close()
    pd.testing.assert_frame_equal(
        read_snapshot(root, digest), dataset.compute().reset_index(drop=True)
    )
