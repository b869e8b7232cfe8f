"""The Parquet datasets the Dask benchmarks read: N rows x 23 columns, written chunk by chunk.

The point of the Dask benchmarks is data larger than one process should hold, so the
generator never holds it either: it makes one chunk of ``CHUNK_ROWS`` rows at a time
(its own seeded generator, keyed by the chunk's index), writes it as a row group and
drops it. A dataset is a directory of ``part-NNNNN.parquet`` files of ``FILE_ROWS``
rows each (so Dask reads it as several partitions), written under a temporary name
and renamed into place: an interrupted run never leaves a half-written cache.

Columns: ``num_00`` .. ``num_19`` (float64, standard normal), ``cat_a`` and ``cat_b``
(text, 8 and 40 levels) and ``target`` (0/1, about 40 % positives). The target's
log-odds mix linear, interaction and non-linear terms of six numeric columns and a
random effect per text level, so a model has real work to do and a dropped column
shows in the ROC AUC. Chunks are keyed by their index, so the first 2M rows of the
8M dataset are the 2M dataset (for sizes that are multiples of ``CHUNK_ROWS``).

    python benchmarks/dask_data.py --sizes 2M,8M,20M          # generate (cached) and list
    python benchmarks/dask_data.py --sizes 20k --data-dir /tmp/x
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path("/tmp/specops-bench-data")
N_NUMERIC = 20
CATEGORY_LEVELS = {"cat_a": 8, "cat_b": 40}
TARGET = "target"
NUMERIC = [f"num_{i:02d}" for i in range(N_NUMERIC)]
COLUMNS = [*NUMERIC, *CATEGORY_LEVELS, TARGET]
CHUNK_ROWS = 250_000
"""Rows generated at once, and the row-group size: about 45 MB of numbers in memory."""
FILE_ROWS = 1_000_000
"""Rows per file: Dask reads a file (or a row group) per partition."""
LEVEL_KEY = 2**31 - 1
"""The generator key of the per-level effects, apart from every chunk's key."""

_SUFFIXES = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def parse_rows(text: str) -> int:
    """``"2M"`` -> 2,000,000; ``"20k"`` -> 20,000; ``"1500"`` -> 1500."""
    cleaned = text.strip().lower().replace("_", "").replace(",", "")
    factor = _SUFFIXES.get(cleaned[-1:], 1)
    number = cleaned[:-1] if cleaned[-1:] in _SUFFIXES else cleaned
    try:
        rows = int(float(number) * factor)
    except ValueError:
        raise ValueError(f"not a row count: {text!r} (use e.g. 2M, 500k or 20000)") from None
    if rows < 100:
        raise ValueError(f"too few rows: {text!r} (at least 100)")
    return rows


def size_label(rows: int) -> str:
    """The short name of a row count, as the reports print it: 2M, 20k, 1500."""
    for suffix, factor in (("M", 1_000_000), ("k", 1_000)):
        if rows % factor == 0:
            return f"{rows // factor}{suffix}"
    return str(rows)


def dataset_dir(rows: int, seed: int, data_dir: Path = DEFAULT_DATA_DIR) -> Path:
    """The cache directory of one size and seed."""
    return data_dir / f"dask_{size_label(rows)}_{seed}"


def file_sizes(rows: int) -> list[int]:
    """Rows per file: ``FILE_ROWS`` each, at least two files (several partitions even
    for a smoke run), the last one taking the remainder."""
    files = max(2, math.ceil(rows / FILE_ROWS))
    per_file = math.ceil(rows / files)
    sizes = [per_file] * (files - 1)
    return [*sizes, rows - sum(sizes)]


def level_effects(seed: int) -> dict[str, Any]:
    """Each text column's effect per level on the log-odds: fixed by the seed alone."""
    import numpy as np

    rng = np.random.default_rng([seed, LEVEL_KEY])
    return {name: rng.normal(0.0, 0.6, levels) for name, levels in CATEGORY_LEVELS.items()}


def make_chunk(index: int, rows: int, seed: int, effects: dict[str, Any]) -> Any:
    """Chunk ``index`` (rows ``index * CHUNK_ROWS`` on) as a pyarrow Table of ``rows`` rows;
    the index keys its generator, so a chunk is the same whatever else is generated."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng([seed, index])
    numeric = rng.standard_normal((rows, N_NUMERIC))
    logit = (
        0.9 * numeric[:, 0]
        - 0.7 * numeric[:, 1]
        + 0.5 * numeric[:, 2] * numeric[:, 3]
        + 0.6 * np.sin(2 * numeric[:, 4])
        + 0.3 * numeric[:, 5] ** 2
        - 0.6
    )
    arrays = {name: pa.array(numeric[:, i]) for i, name in enumerate(NUMERIC)}
    for name, levels in CATEGORY_LEVELS.items():
        codes = rng.integers(0, levels, rows)
        logit += effects[name][codes]
        names = pa.array([f"{name}_{k:02d}" for k in range(levels)], type=pa.string())
        arrays[name] = pc.take(names, pa.array(codes))
    probability = 1.0 / (1.0 + np.exp(-logit))
    arrays[TARGET] = pa.array((rng.random(rows) < probability).astype("int64"))
    return pa.table(arrays)


def write_dataset(rows: int, seed: int, directory: Path) -> None:
    """Write the dataset into ``directory`` (which must not exist) one chunk at a time.

    Chunks are generated whole and cut at file boundaries, so no two rows share a
    generator draw however the files fall.
    """
    import pyarrow.parquet as pq

    effects = level_effects(seed)
    partial = directory.with_name(f"{directory.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    ends = list(itertools.accumulate(file_sizes(rows)))
    number, writer = 0, None
    try:
        for index in range(math.ceil(rows / CHUNK_ROWS)):
            start = index * CHUNK_ROWS
            chunk = make_chunk(index, min(CHUNK_ROWS, rows - start), seed, effects)
            while chunk.num_rows:
                if writer is None:
                    path = partial / f"part-{number:05d}.parquet"
                    writer = pq.ParquetWriter(path, chunk.schema)
                take = min(chunk.num_rows, ends[number] - start)
                writer.write_table(chunk.slice(0, take), row_group_size=CHUNK_ROWS)
                chunk, start = chunk.slice(take), start + take
                if start == ends[number]:
                    writer.close()
                    number, writer = number + 1, None
    finally:
        if writer is not None:
            writer.close()
    partial.rename(directory)  # atomic: readers see the whole dataset or none


def ensure_dataset(rows: int, seed: int, data_dir: Path = DEFAULT_DATA_DIR) -> tuple[Path, bool]:
    """The dataset's directory, generating it first if not cached; True if generated.

    Generated in a child process, so this process never imports numpy or pyarrow
    and its own memory says nothing about the data.
    """
    directory = dataset_dir(rows, seed, data_dir)
    if directory.is_dir():
        return directory, False
    data_dir.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        " from dask_data import write_dataset;"
        " write_dataset(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))"
    )
    here = str(Path(__file__).resolve().parent)
    argv = [sys.executable, "-c", code, here, str(rows), str(seed), str(directory)]
    subprocess.run(argv, check=True)
    return directory, True


def dataset_bytes(directory: Path) -> int:
    """The dataset's size on disk."""
    return sum(f.stat().st_size for f in directory.glob("*.parquet"))


def free_bytes(path: Path) -> int:
    """Free space on the file system holding ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free


BYTES_PER_ROW = 180
"""About what a row of this dataset takes on disk (random floats hardly compress)."""


def check_space(sizes: list[int], seed: int, data_dir: Path) -> None:
    """Refuse, before writing anything, to generate what the disk cannot hold."""
    needed = sum(
        BYTES_PER_ROW * rows for rows in sizes if not dataset_dir(rows, seed, data_dir).is_dir()
    )
    free = free_bytes(data_dir)
    if needed and needed * 1.2 > free:
        raise SystemExit(
            f"generating {needed / 1e9:.1f} GB of data needs more than the "
            f"{free / 1e9:.1f} GB free at {data_dir}: use --data-dir or fewer --sizes"
        )


def parse_sizes(text: str) -> list[int]:
    """``"2M,8M,20M"`` -> row counts, in the order given."""
    return [parse_rows(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2M,8M,20M", help="row counts, e.g. 2M,8M,20M")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the cache")
    args = parser.parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as error:
        parser.error(str(error))
    check_space(sizes, args.seed, args.data_dir)
    for rows in sizes:
        directory, generated = ensure_dataset(rows, args.seed, args.data_dir)
        state = "generated" if generated else "cached"
        files = len(list(directory.glob("*.parquet")))
        print(
            f"{size_label(rows):>5}  {directory}  {files} files, "
            f"{dataset_bytes(directory) / 1e6:,.0f} MB ({state})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
