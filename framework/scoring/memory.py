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

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
"""Arrow's own setting: when a user sets it, their choice stands."""


def use_steady_memory_pool() -> str | None:
    """Make jemalloc this process's default Arrow pool, unless the user chose one or
    this pyarrow has none (a build without it, e.g. on Windows); returns the pool's
    name when it was set, else None. Buffers already allocated stay with their pool."""
    if os.environ.get(POOL_VARIABLE):
        return None
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowException):
        return None
    pa.set_memory_pool(pool)
    return str(pool.backend_name)
