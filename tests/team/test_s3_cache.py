"""The S3 store's local read cache stays under its cap (``cache_bytes``, else
``$SPECOPS_S3_CACHE_BYTES``): least recently read blobs go first, nothing read in the
last ten minutes goes, nothing but cache blobs is ever deleted. Real moto S3 server,
real files; "ten minutes later" is the cached files' mtimes moved back, which is all
time passing changes for the cache."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.errors import UserError
from plugins.store_s3 import S3Artifacts, open_s3
from plugins.store_s3_cache import CACHE_VARIABLE, DEFAULT_CACHE_BYTES, scan, trim
from tests.helpers import breast_cancer_spec
from tests.team.s3_server import S3Prefix

pytest.importorskip("boto3", reason="the s3 extra is not installed")

SIZE = 1000
"""Bytes of every test blob: a cap of 3500 holds three."""


def _data(i: int) -> bytes:
    return (f"blob {i:03d} ".encode() * SIZE)[:SIZE]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def stored(s3_prefix: S3Prefix, tmp_path: Path) -> list[str]:
    """Six 1000-byte blobs in the bucket, put from another workdir."""
    writer = open_s3(s3_prefix.url, {"endpoint_url": s3_prefix.endpoint}, tmp_path / "writer")
    return [writer.put_written(lambda p, i=i: p.write_bytes(_data(i))) for i in range(6)]


def _reader(s3_prefix: S3Prefix, workdir: Path, **params: Any) -> S3Artifacts:
    return open_s3(s3_prefix.url, {"endpoint_url": s3_prefix.endpoint, **params}, workdir)


def _cached(blobs: S3Artifacts) -> set[str]:
    """The digests with a regular file in the cache (``ls -l`` would show them)."""
    return {
        p.parent.name + p.name
        for p in blobs.cache.glob("??/*")
        if re.fullmatch("[0-9a-f]{64}", p.parent.name + p.name)
        and not p.is_symlink()
        and not p.parent.is_symlink()
        and p.is_file()
    }


def _cache_bytes(blobs: S3Artifacts) -> int:
    return sum(p.stat().st_size for p in blobs.cache.glob("??/*") if p.is_file())


def _later(folder: Path, minutes: float = 11) -> None:
    """``minutes`` pass for every file under ``folder`` (their order kept)."""
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            shift = int(minutes * 60e9)
            os.utime(path, ns=(stat.st_atime_ns - shift, stat.st_mtime_ns - shift))


def test_the_cache_stays_under_the_cap_after_reading_more_blobs_than_fit(
    stored: list[str], s3_prefix: S3Prefix, tmp_path: Path
) -> None:
    reader = _reader(s3_prefix, tmp_path / "reader", cache_bytes=3500)
    for n, digest in enumerate(stored, start=1):
        assert reader.verified(digest, f"blob {n}").read_bytes() == _data(n - 1)
        assert _cache_bytes(reader) <= 3500
        assert _cached(reader) == set(stored[max(0, n - 3) : n])  # the last three read
        _later(reader.cache)
    # writing bounds the writer's own cache too (an upload enters it)
    writer = _reader(s3_prefix, tmp_path / "uploads", cache_bytes=2500)
    for i in range(10, 14):
        writer.put_written(lambda p, i=i: p.write_bytes(_data(i)))
        _later(writer.cache)
    source = tmp_path / "file.bin"
    source.write_bytes(_data(20))
    last = writer.put_file(source)
    assert _cache_bytes(writer) <= 2500
    assert _cached(writer) == {_sha(_data(13)), last}


def test_the_least_recently_read_goes_first_and_a_hit_counts_as_a_read(
    stored: list[str], s3_prefix: S3Prefix, tmp_path: Path
) -> None:
    reader = _reader(s3_prefix, tmp_path / "reader", cache_bytes=3500)
    a, b, c, d = stored[:4]
    for digest in (a, b, c):
        reader.verified(digest, "blob")
        _later(reader.cache)
    calls: list[str] = []
    reader._client().meta.events.register(
        "before-call.s3", lambda event_name, **_: calls.append(event_name.rsplit(".", 1)[-1])
    )
    assert reader.verified(a, "blob").read_bytes() == _data(0)  # a hit: read again
    assert calls == []
    _later(reader.cache)
    reader.verified(d, "blob")  # a download: b, read longest ago, makes room
    assert calls == ["GetObject"]
    assert _cached(reader) == {a, c, d}


def test_a_recently_read_blob_is_kept_even_over_the_cap(
    stored: list[str], s3_prefix: S3Prefix, tmp_path: Path
) -> None:
    reader = _reader(s3_prefix, tmp_path / "reader", cache_bytes=1500)
    paths = [reader.verified(digest, "blob") for digest in stored[:3]]
    # three blobs over a cap of one and a half: all read within ten minutes, all kept
    assert _cached(reader) == set(stored[:3])
    assert [p.read_bytes() for p in paths] == [_data(i) for i in range(3)]
    _later(reader.cache, minutes=9)
    reader.verified(stored[3], "blob")
    assert _cached(reader) == set(stored[:4])  # nine minutes is still recent
    _later(reader.cache, minutes=2)
    reader.verified(stored[4], "blob")
    assert _cached(reader) == {stored[3], stored[4]}  # over the cap, both within 10 min

    # a blob larger than the whole cap is kept for its reader, and evicted later
    tiny = _reader(s3_prefix, tmp_path / "tiny", cache_bytes=100)
    assert tiny.verified(stored[0], "big blob").read_bytes() == _data(0)
    assert _cached(tiny) == {stored[0]}
    _later(tiny.cache)
    tiny.verified(stored[1], "big blob")
    assert _cached(tiny) == {stored[1]}

    # cache_bytes 0: nothing outlives the grace period
    none = _reader(s3_prefix, tmp_path / "none", cache_bytes=0)
    none.verified(stored[0], "blob")
    _later(none.cache)
    none.verified(stored[1], "blob")
    assert _cached(none) == {stored[1]}


def test_only_cache_blobs_are_ever_deleted(
    stored: list[str], s3_prefix: S3Prefix, tmp_path: Path
) -> None:
    reader = _reader(s3_prefix, tmp_path / "reader", cache_bytes=0)
    reader.verified(stored[0], "blob")
    cache = reader.cache
    outside = tmp_path / "precious.bin"
    outside.write_bytes(b"p" * 5000)
    name = "c" * 62
    others = {
        cache / ".incoming-abc123": b"a live download" * 500,  # store gc's business
        cache / "notes.txt": b"n" * 5000,
        cache / "ab" / "README": b"r" * 5000,
        cache / "ab" / (name + ".bak"): b"b" * 5000,
        cache / "ab" / ("C" * 62): b"u" * 5000,  # upper case: not a digest
        cache / "zz" / name: b"z" * 5000,  # not a hex folder
        cache / "abc" / name: b"y" * 5000,
    }
    for path, data in others.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (cache / "cd").mkdir()
    (cache / "cd" / name).symlink_to(outside)  # named like a blob, but a symlink
    (cache / "ef" / name).mkdir(parents=True)  # named like a blob, but a folder
    (cache / "12").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / name).write_bytes(b"e" * 5000)
    _later(cache, minutes=120)
    _later(tmp_path / "elsewhere", minutes=120)

    reader.verified(stored[1], "blob")

    assert _cached(reader) == {stored[1]}  # the old blob went
    assert {p: p.read_bytes() for p in others} == others
    assert (cache / "cd" / name).is_symlink() and outside.read_bytes() == b"p" * 5000
    assert (cache / "ef" / name).is_dir()
    assert (tmp_path / "elsewhere" / name).read_bytes() == b"e" * 5000


def test_the_param_wins_over_the_environment_which_wins_over_the_default(
    stored: list[str], s3_prefix: S3Prefix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _reader(s3_prefix, tmp_path / "d").cache_bytes == DEFAULT_CACHE_BYTES == 10 << 30
    monkeypatch.setenv(CACHE_VARIABLE, "1500")
    from_env = _reader(s3_prefix, tmp_path / "env")
    from_param = _reader(s3_prefix, tmp_path / "param", cache_bytes=10_000)
    for digest in stored[:3]:
        for blobs in (from_env, from_param):
            blobs.verified(digest, "blob")
            _later(blobs.cache)
    assert _cached(from_env) == {stored[2]}
    assert _cached(from_param) == set(stored[:3])

    monkeypatch.setenv(CACHE_VARIABLE, "")  # "${X:-}" left empty: the default
    assert _reader(s3_prefix, tmp_path / "e").cache_bytes == DEFAULT_CACHE_BYTES
    for bad in ("10GB", "-1", "1.5", "9" * 30):
        monkeypatch.setenv(CACHE_VARIABLE, bad)
        with pytest.raises(UserError, match=f"{CACHE_VARIABLE}=.*expected a whole number"):
            _reader(s3_prefix, tmp_path / "bad")
        assert _reader(s3_prefix, tmp_path / "p", cache_bytes=0).cache_bytes == 0


@pytest.mark.parametrize("bad", [-1, 1.5, "10GB", True, 1 << 60])
def test_a_bad_cache_bytes_param_is_refused_by_name(bad: Any, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="param cache_bytes: expected a whole number of bytes"):
        open_s3("s3://bucket/p", {"cache_bytes": bad}, tmp_path)


def test_a_bad_cache_bytes_is_exit_2_naming_it(
    s3_prefix: S3Prefix, tmp_path: Path, cli_process: Callable[..., Any]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        breast_cancer_spec(n_estimators=5).lstrip()
        + f"store:\n  artifacts: {s3_prefix.url}\n"
        + f"  params: {{endpoint_url: '{s3_prefix.endpoint}', cache_bytes: '10 GiB'}}\n"
    )
    env = s3_prefix.server.env
    refused = cli_process("run", spec, cwd=tmp_path, env=env)
    assert refused.code == 2
    assert "param cache_bytes: expected a whole number of bytes" in refused.err
    assert "Traceback" not in refused.err

    spec.write_text(spec.read_text().replace(", cache_bytes: '10 GiB'", ""))
    refused = cli_process("run", spec, cwd=tmp_path, env={**env, CACHE_VARIABLE: "10G"})
    assert refused.code == 2
    assert f"{CACHE_VARIABLE}='10G': expected a whole number of bytes" in refused.err
    assert "Traceback" not in refused.err
    assert s3_prefix.keys() == []  # nothing was stored


def test_concurrent_bounds_of_one_cache_never_fail_and_end_under_the_cap(
    tmp_path: Path,
) -> None:
    """Several processes bounding one shared workdir at once: each finds files the
    others deleted first, and none raises."""
    cache = tmp_path / "cache" / "blobs"
    for i in range(200):
        digest = _sha(str(i).encode())
        path = cache / digest[:2] / digest[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
    _later(cache)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(trim(cache, 5000))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.failed == 0 for r in results)
    assert sum(r.evicted for r in results) == 150
    assert sum(b.size for b in scan(cache)) == 5000


@contextlib.contextmanager
def _undeletable(path: Path) -> Iterator[None]:
    """``path`` cannot be deleted while the block runs (its folder read-only; as root,
    which ignores that, the file immutable): a real failing unlink."""
    if os.geteuid() != 0:
        path.parent.chmod(0o500)
        try:
            yield
        finally:
            path.parent.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode:
        pytest.skip("cannot make a file undeletable here (root without chattr +i)")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_a_failing_eviction_is_a_warning_never_an_error(
    stored: list[str], s3_prefix: S3Prefix, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader = _reader(s3_prefix, tmp_path / "reader", cache_bytes=0)
    stuck = reader.verified(stored[0], "blob")
    _later(reader.cache)
    with _undeletable(stuck), caplog.at_level("WARNING", logger="specops.store"):
        assert reader.verified(stored[1], "blob").read_bytes() == _data(1)
    assert _cached(reader) == {stored[0], stored[1]}
    [warning] = [r.getMessage() for r in caplog.records if r.name == "specops.store"]
    assert warning.startswith(f"could not evict 1 file(s) from the S3 read cache {reader.cache}")
    assert stored[0][2:] in warning


def test_the_blob_just_kept_is_never_the_one_evicted(tmp_path: Path) -> None:
    """Even when its mtime is old (a copy another account owns, which cannot be
    touched): the process that just cached it is about to hand out its path."""
    cache = tmp_path / "cache" / "blobs"
    paths = []
    for i in range(3):
        digest = _sha(str(i).encode())
        paths.append(cache / digest[:2] / digest[2:])
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        paths[-1].write_bytes(b"x" * 100)
        _later(cache)
    trimmed = trim(cache, 0, keep=paths[0])  # the oldest
    assert (trimmed.evicted, trimmed.kept_bytes, trimmed.failed) == (2, 100, 0)
    assert [p.exists() for p in paths] == [True, False, False]


def test_store_verify_full_reads_without_filling_the_cache(
    stored: list[str], s3_prefix: S3Prefix, tmp_path: Path
) -> None:
    """Verifying a whole bucket must not push a server's models out of its cache."""
    reader = _reader(s3_prefix, tmp_path / "reader")
    reader.verified(stored[0], "blob")
    assert [reader.problem(digest, full=True) for digest in stored] == [None] * len(stored)
    assert _cached(reader) == {stored[0]}
    assert not list(reader.cache.glob(".incoming-*"))
