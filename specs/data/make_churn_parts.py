"""Regenerate churn_parts/: the churn table (make_churn.py) as a Parquet dataset of four
files, the layout a Dask source reads one partition per file.

Deterministic (the same seeded rows as churn.csv, cut in four), so the files in the
repo can be rebuilt (byte for byte with the same pandas and pyarrow):
    python specs/data/make_churn_parts.py
"""

import runpy
from pathlib import Path

HERE = Path(__file__).parent
PARTS = 4


def write(directory: Path = HERE / "churn_parts", parts: int = PARTS) -> None:
    frame = runpy.run_path(str(HERE / "make_churn.py"))["make"]()  # the rows of churn.csv
    directory.mkdir(exist_ok=True)
    for old in directory.glob("part-*.parquet"):  # only the files this script writes
        old.unlink()
    size = -(-len(frame) // parts)
    for number in range(parts):
        chunk = frame.iloc[number * size : (number + 1) * size]
        chunk.to_parquet(directory / f"part-{number}.parquet", index=False)


if __name__ == "__main__":
    write()
    print(f"wrote {PARTS} Parquet files into {HERE / 'churn_parts'}")
