"""A new batch of data, read and held against the champion's signature and profile.

Reading fails loudly (a missing or unreadable file is exit 2). Everything after
that is collected, not raised: a column the batch lacks, or one whose values no
longer fit its training role, becomes a named problem and a column that could
not be judged, so one bad column never hides the verdicts of all the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.data_limits import (
    UNUSABLE_HINT,
    check_csv_header,
    check_parquet_whole,
    refuse_huge_integers,
    unusable_column,
)
from framework.errors import DataError
from framework.file_kind import require_regular
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

    from framework.monitoring.profile import ColumnProfile

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_batch(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a table; a DataError naming the file otherwise."""
    import pandas as pd

    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"cannot read {path}: expected a .csv or .parquet file",
            hint="convert the batch to CSV or Parquet",
        )
    require_regular(path, "new data")  # a FIFO would block the read
    if path.is_dir():
        raise DataError(f"new data {path.absolute()} is a directory, not a .csv or .parquet file")
    if not path.is_file():
        raise DataError(f"new data file not found: {path.absolute()}")
    # Width (and, for Parquet, declared size) before reading: the batch is read whole.
    if kind == "csv":
        check_csv_header(path)
    else:
        check_parquet_whole([path])
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except Exception as exc:  # a parser's own words are the useful part
        raise DataError(f"cannot read {path} as {kind}: {exc}") from exc
    frame.columns = [str(c) for c in frame.columns]
    refuse_huge_integers(frame, str(path), line_offset=2 if kind == "csv" else None)
    unusable = unusable_column(frame)
    if unusable is not None:  # profiling would fail on it without naming it (exit 3)
        raise DataError(
            f"{path}: column '{unusable[0]}' holds {unusable[1]}",
            column=unusable[0],
            hint=UNUSABLE_HINT,
        )
    return frame


@dataclass
class PreparedColumn:
    """One watched column of the batch, ready for a drift test."""

    values: pd.Series  # non-missing: sorted float64 (numeric) or category of text
    count: int
    nulls: int
    unseen: dict[str, int] = field(default_factory=dict)  # categories never seen in training

    @property
    def null_share(self) -> float:
        total = self.count + self.nulls
        return self.nulls / total if total else 0.0


class ColumnProblem(Exception):
    """Why a column of the batch cannot be judged (it becomes that column's note)."""


def prepare_column(frame: pd.DataFrame, name: str, reference: ColumnProfile) -> PreparedColumn:
    """The column in its training role; ColumnProblem when it is absent or changed type."""
    if name not in frame.columns:
        raise ColumnProblem(
            f"missing from the new data{did_you_mean(name, [str(c) for c in frame.columns])}"
        )
    series = frame[name]
    if reference.role == "numeric":
        return _numeric(series, name)
    return _categorical(series, reference)


def _numeric(series: pd.Series, name: str) -> PreparedColumn:
    import numpy as np
    import pandas as pd

    from framework.columns import role_of

    role = role_of(series)
    if role in ("numeric", "boolean"):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
    elif role == "datetime":
        raise ColumnProblem(f"was numeric in training; here it holds datetimes ({series.dtype})")
    else:
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna() & series.notna()
        if bad.any():
            rows = list(series.index[bad][:3])
            examples = ", ".join(f"{series[r]!r} (row {r})" for r in rows)
            raise ColumnProblem(
                f"was numeric in training; here it holds text: {int(bad.sum())} value(s) "
                f"are not numbers, e.g. {examples}"
            )
        values = converted.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    ordered = np.sort(values[finite])
    return PreparedColumn(
        pd.Series(ordered, name=name), len(ordered), int(len(values) - len(ordered))
    )


def _categorical(series: pd.Series, reference: ColumnProfile) -> PreparedColumn:
    import pandas as pd

    from framework.columns import role_of

    known = reference.categories
    if role_of(series) == "numeric" and known and not any(_is_number(c) for c in known):
        raise ColumnProblem(
            f"was categorical in training (e.g. {', '.join(repr(c) for c in list(known)[:3])}); "
            f"here it holds numbers ({series.dtype})"
        )
    present = series.dropna()
    if not isinstance(present.dtype, pd.CategoricalDtype):
        present = present.astype("category")
    if not all(isinstance(c, str) for c in present.cat.categories):
        present = present.cat.rename_categories([str(c) for c in present.cat.categories])
    counts = present.value_counts()
    unseen = {
        str(k): int(v)
        for k, v in counts.items()
        if v > 0 and str(k) not in known and not reference.other
    }
    return PreparedColumn(present, len(present), int(len(series) - len(present)), unseen)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def examples(counts: dict[str, int], shown: int = 5) -> str:
    """``'x' (3 rows), 'y' (1 row)``: the most frequent first."""
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k!r} ({v} row{'s' if v != 1 else ''})" for k, v in ordered[:shown])
    more = len(ordered) - shown
    return text + (f" and {more} more" if more > 0 else "")


def describe(reference: Any, prepared: PreparedColumn | None) -> dict[str, Any]:
    """Side-by-side summary numbers of a column, for the table and the report."""
    ref: dict[str, Any] = {
        "count": reference.count,
        "nulls": reference.nulls,
        "null_share": round(reference.null_share, 6),
    }
    if reference.role == "numeric" and reference.count:
        ref["mean"] = reference.mean
        ref["median"] = reference.quantiles.get("0.5")
    cur: dict[str, Any] = {}
    if prepared is not None:
        cur = {
            "count": prepared.count,
            "nulls": prepared.nulls,
            "null_share": round(prepared.null_share, 6),
        }
        if reference.role == "numeric" and prepared.count:
            values = prepared.values.to_numpy()
            cur["mean"] = float(values.mean())
            cur["median"] = float(values[(len(values) - 1) // 2])
        if prepared.unseen:
            cur["unseen"] = prepared.unseen
    return {"reference": ref, "current": cur}
