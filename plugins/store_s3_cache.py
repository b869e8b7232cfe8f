"""The ``s3`` artifact store's local read cache, kept under a byte cap.

Every blob the store reads or writes stays in ``WORKDIR/cache/blobs/ab/cdef...``, so
reading it again downloads nothing. Unbounded, a serving pod that follows ``@champion``
for months, or a machine running monitors over big data snapshots, fills its disk with
every blob it ever touched. :func:`trim` keeps the cache's blobs under a cap:

- **Least recently read first.** Each read touches the cached file's mtime (the store
  re-hashes a cached copy on every read anyway, so the touch is free), so mtime order is
  read order. atime would not do: most file systems are mounted ``relatime``/``noatime``.
- **Nothing recent.** A file read or written in the last :data:`GRACE_SECONDS` stays, over
  the cap if need be: a reader has been handed its path and may not have opened it yet,
  and a model being loaded must not vanish under it. So a blob larger than the cap still
  works; it goes at a later pass. The disk used is thus about the cap plus what was
  read in the last ten minutes. The assumption: whoever gets a path opens it within ten
  minutes. A data snapshot's parts are therefore fetched one at a time, each just
  before it is read (``framework.snapshots.iter_snapshot``); only a Dask run reading
  one on its cluster fetches every part first, so its machine needs a cap above its
  largest snapshot when the parts take longer than that to download.
- **Only cache blobs.** Only regular files named like the cache's layout (``ab/`` + 62
  hex digits) are counted or deleted: never a live process's ``.incoming-*`` temporary
  file (``store gc`` deals with those), never a symlink, never anything else put there.
- **Cheap and harmless.** One ``os.scandir`` pass over the cache, run when a blob enters
  it (a download or an upload), never on a cache hit. Several processes may share one
  workdir: a file another process evicted first is simply gone, and a file read since
  the scan is looked at again just before it would be deleted. Bounding never fails a
  read or a write: what cannot be deleted costs one warning in the log.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from framework import UserError

DEFAULT_CACHE_BYTES = 10 << 30
"""10 GiB. A model package is megabytes to a few hundred; a data snapshot a monitor
reads may be gigabytes. 10 GiB holds a serving pod's champion and the versions it may
roll back to, or a monitor's current snapshots, so the usual reads hit the cache, yet it
is a modest share of a node's disk (Kubernetes nodes commonly have 50-100 GB, shared by
every pod). A pod with a small ``ephemeral-storage`` limit sets ``cache_bytes`` (or
``SPECOPS_S3_CACHE_BYTES``) below that limit; 0 keeps only what was read in the last ten
minutes."""

MAX_CACHE_BYTES = 1 << 50
"""1 PiB: the largest cap accepted (anything above is a typo, not a disk)."""

CACHE_VARIABLE = "SPECOPS_S3_CACHE_BYTES"
"""The cap for commands given ``--store URL`` and no spec; the store's param wins."""

GRACE_SECONDS = 600
"""A cached file read or written this recently is never evicted."""

_FOLDER = re.compile(r"[0-9a-f]{2}")
_REST = re.compile(r"[0-9a-f]{62}")

log = logging.getLogger("specops.store")


@dataclass(frozen=True)
class Cached:
    """One cache blob as the scan saw it."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Trimmed:
    """What one pass did: for the log and the tests."""

    kept_bytes: int
    """Bytes of cache blobs left (as scanned, less what this pass deleted)."""
    evicted: int
    """Files this pass deleted."""
    failed: int
    """Files it could not delete (each a warning's worth, logged once per pass)."""


def limit_from_environment() -> int:
    """The cap from ``$SPECOPS_S3_CACHE_BYTES`` (unset or empty: the default);
    UserError naming the variable when it is not a whole number of bytes."""
    raw = os.environ.get(CACHE_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_CACHE_BYTES
    if not re.fullmatch(r"[0-9]{1,20}", raw) or int(raw) > MAX_CACHE_BYTES:
        raise UserError(
            f"{CACHE_VARIABLE}={raw[:40]!r}: expected a whole number of bytes from 0 to "
            f"{MAX_CACHE_BYTES} (10 GiB is 10737418240), the cap of the s3 artifact "
            "store's local cache"
        )
    return int(raw)


def touch(path: Path) -> bool:
    """Mark a cached file as read now; False when it is gone (evicted meanwhile)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except OSError:
        pass  # another account's file in a shared cache: readable, just not marked
    return True


def scan(cache: Path) -> list[Cached]:
    """Every cache blob under ``cache``: regular files at ``ab/`` + 62 hex digits."""
    found: list[Cached] = []
    try:
        top = os.scandir(cache)
    except FileNotFoundError:
        return found
    with top:
        for folder in top:
            if not _FOLDER.fullmatch(folder.name) or not folder.is_dir(follow_symlinks=False):
                continue
            try:
                inner = os.scandir(folder.path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with inner:
                for entry in inner:
                    if not _REST.fullmatch(entry.name):
                        continue
                    try:
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        stat = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    found.append(Cached(entry.path, stat.st_size, stat.st_mtime_ns))
    return found


def trim(cache: Path, limit: int, keep: Path | None = None) -> Trimmed:
    """Evict the least recently read cache blobs until those left take at most
    ``limit`` bytes, sparing ``keep`` (the blob just cached) and anything read or
    written in the last :data:`GRACE_SECONDS`. Never raises: a failure is logged."""
    try:
        return _trim(cache, limit, None if keep is None else str(keep))
    except Exception as exc:  # the cache bound must never fail a read or a write
        log.warning("could not bound the S3 read cache %s: %s: %s", cache, type(exc).__name__, exc)
        return Trimmed(-1, 0, 1)


def _trim(cache: Path, limit: int, keep: str | None) -> Trimmed:
    blobs = scan(cache)
    total = sum(blob.size for blob in blobs)
    if total <= limit:
        return Trimmed(total, 0, 0)
    recent = time.time_ns() - GRACE_SECONDS * 1_000_000_000
    evicted = 0
    failures: list[str] = []
    for blob in sorted(blobs, key=lambda b: (b.mtime_ns, b.path)):
        if total <= limit or blob.mtime_ns >= recent:
            break  # sorted by mtime: everything after it is recent too
        if blob.path == keep:
            continue
        try:
            now = os.stat(blob.path, follow_symlinks=False)
            if now.st_mtime_ns != blob.mtime_ns:
                continue  # read (or replaced) since the scan: not the oldest any more
            os.unlink(blob.path)
        except FileNotFoundError:
            total -= blob.size  # another process evicted it first
            continue
        except OSError as exc:
            failures.append(f"{blob.path}: {type(exc).__name__}: {exc.strerror or exc}")
            continue
        total -= blob.size
        evicted += 1
    if failures:
        log.warning(
            "could not evict %d file(s) from the S3 read cache %s (first: %s); it holds "
            "%d bytes (cap %d)",
            len(failures),
            cache,
            failures[0],
            total,
            limit,
        )
    return Trimmed(total, evicted, len(failures))
