"""A partitioned data snapshot in S3 is read a part at a time, each part fetched just
before it is read, so the bounded read cache never evicts a part before it is read.

The S3 cache keeps at most its cap plus what was read in the last ten minutes. Fetched
all at once before any was read, the parts of a snapshot bigger than the cap whose
download takes over ten minutes would lose the first before it was read. Here each
download "takes eleven minutes" (the cached files' mtimes are moved back after every
blob enters the cache, which is all time passing changes for it) and the cap holds one
part and a half. Real moto S3 server, real Parquet parts, the store's own reader.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.snapshots import (
    encode_part,
    iter_snapshot,
    keep_partitioned_snapshot,
    read_snapshot,
    snapshot_layout,
)
from framework.store import Store, StoreAddress
from tests.team.s3_server import S3Prefix
from tests.team.test_s3_cache import _later

pytest.importorskip("boto3", reason="the s3 extra is not installed")

PARTS = 4
ROWS = 400
DIGEST = "d" * 64
"""The dataset's hash as the store records it (any sha256-shaped name will do)."""


def _frames() -> list[pd.DataFrame]:
    rng = np.random.default_rng(13)
    return [
        pd.DataFrame({"x": rng.normal(size=ROWS), "plan": rng.choice(["a", "b", "c"], ROWS)})
        for _ in range(PARTS)
    ]


def _cache_files(workdir: Path) -> dict[str, int]:
    """The cache's blobs, by digest, with their sizes."""
    return {
        p.parent.name + p.name: p.stat().st_size
        for p in (workdir / "cache" / "blobs").glob("??/*")
        if p.is_file() and len(p.parent.name + p.name) == 64
    }


@pytest.fixture
def snapshot(s3_prefix: S3Prefix, tmp_path: Path) -> tuple[Path, list[str], int]:
    """A snapshot of PARTS Parquet parts in S3, recorded in a local store.db; the
    reader's working directory (another machine: that database and the bucket); the
    parts' digests; the largest part's size."""
    writer = tmp_path / "writer" / ".specops"
    params = {"endpoint_url": s3_prefix.endpoint}
    store = Store.open(StoreAddress(str(writer), writer, s3_prefix.url, params))
    try:
        store.record_dataset("no-run", DIGEST, PARTS * ROWS, ["x", "plan"])
        manifest = keep_partitioned_snapshot(store, DIGEST, (encode_part(f) for f in _frames()))
        listed = json.loads(store.artifacts.verified(manifest, "manifest").read_text())
        parts = [part["blob"] for part in listed["parts"]]
    finally:
        store.close()
    sizes = _cache_files(writer)
    reader = tmp_path / "reader" / ".specops"
    reader.mkdir(parents=True)
    shutil.copy(writer / "store.db", reader / "store.db")
    return reader, parts, max(sizes[p] for p in parts)


@pytest.fixture
def slow_downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every blob entering a cache takes eleven minutes: afterwards, every cached file
    is that much older."""
    from plugins.store_s3 import S3Artifacts

    keep = S3Artifacts._keep

    def kept_then_later(self: S3Artifacts, temp: Path, digest: str) -> None:
        keep(self, temp, digest)
        _later(self.cache)

    monkeypatch.setattr(S3Artifacts, "_keep", kept_then_later)
    yield


def test_each_part_is_fetched_just_before_it_is_read_so_a_small_cache_loses_none(
    snapshot: tuple[Path, list[str], int], s3_prefix: S3Prefix, slow_downloads: None
) -> None:
    reader, parts, largest = snapshot
    cap = largest * 3 // 2  # one part and a half: the cache cannot hold two parts
    address = StoreAddress(
        str(reader), reader, None, {"endpoint_url": s3_prefix.endpoint, "cache_bytes": cap}
    )
    read: list[pd.DataFrame] = []
    for number, frame in enumerate(iter_snapshot(address, DIGEST), start=1):
        read.append(frame)
        cached = _cache_files(reader)
        assert parts[number - 1] in cached  # the part just read came through the cache
        assert not set(parts[: number - 1]) & set(cached)  # the ones before made room
        assert sum(cached.values()) <= cap + largest  # the cap, plus the part being read
    expected = pd.concat(_frames(), ignore_index=True)
    pd.testing.assert_frame_equal(pd.concat(read, ignore_index=True), expected)
    pd.testing.assert_frame_equal(read_snapshot(address, DIGEST), expected)  # and again

    # what reading them would meet had every part been fetched first: the first is gone
    shutil.rmtree(reader / "cache")
    layout = snapshot_layout(address, DIGEST)  # fetch=True: every part fetched now
    assert all(part.path is not None for part in layout.parts)
    assert not layout.parts[0].path.is_file()  # type: ignore[union-attr]
