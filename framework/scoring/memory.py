"""Which Arrow memory pool a ``specops predict`` process reads its file with.

pyarrow's default pool on Linux is mimalloc, which asks for transparent huge pages for
its segments. Reading a Parquet row group decodes it whole into fresh memory (the
1,000,000-row benchmark file: ~220 MB at the first chunk); where free huge pages are
scarce (a busy machine, memory full of page cache) the kernel compacts memory on each
of those faults. Measured here on the first pass over that file: mimalloc 0.03 to 1.2 s
of system time, varying from run to run; jemalloc, which uses ordinary pages, 0.10 to
0.13 s every time, and a lower peak. A steady cost is the better default for a command
whose time people compare.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
"""Arrow's own setting: when a user sets it, their choice stands."""


@contextmanager
def steady_memory_pool() -> Iterator[str | None]:
    """jemalloc as the default Arrow pool while the block runs, unless the user chose one
    or this pyarrow has none (a build without it, e.g. on Windows); yields the pool's
    name when it was set, else None. The pool before is the default again afterwards:
    a program that runs ``specops predict`` in process keeps its own choice."""
    if os.environ.get(POOL_VARIABLE):
        yield None
        return
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowException):
        yield None
        return
    before = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield str(pool.backend_name)
    finally:
        pa.set_memory_pool(before)
