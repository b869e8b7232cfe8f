"""A new batch of data, read and held against the champion's signature and profile.

Reading fails loudly (a missing or unreadable file is exit 2). Everything after
that is collected, not raised: a column the batch lacks, or one whose values no
longer fit its training role, becomes a named problem and a column that could
not be judged, so one bad column never hides the verdicts of all the others.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.data_limits import (
    UNUSABLE_HINT,
    check_csv_header,
    check_parquet_text,
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
GLOB_CHARACTERS = "*?["
MAX_BATCH_FILES = 100_000
"""Files one batch may match: each one's header or footer is read before any row."""


def read_batch(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file, a directory of Parquet files or a glob of CSV or Parquet
    files, as one table; a DataError naming the file otherwise.

    A partitioned batch is read file by file in name order, each file as a file
    alone would be, and put together by :func:`unify_dtypes` (the rule a Dask read
    of the same files applies per partition), its rows numbered in file order.
    """
    kind, files = batch_source(path)
    if len(files) == 1 and files[0] == path:
        frame = read_file(kind, path)
        refuse_unusable(frame, str(path))
        return frame
    if kind == "parquet":
        check_parquet_whole(files, where=path)  # read whole: the declared size first
        check_parquet_text(files, where=path)  # and the length of its text
    frames = [read_file(kind, file, checked=kind == "parquet") for file in files]
    return concat_unified(frames, str(path))


def batch_source(path: Path) -> tuple[str, list[Path]]:
    """The batch's format (``csv`` or ``parquet``) and its files in name order."""
    if is_partitioned(path):
        return batch_files(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"cannot read {path}: expected a .csv or .parquet file, a directory of Parquet "
            "files or a glob of either",
            hint="convert the batch to CSV or Parquet",
        )
    require_regular(path, "new data")  # a FIFO would block the read
    if not path.is_file():
        raise DataError(f"new data file not found: {path.absolute()}")
    return kind, [path]


def is_partitioned(path: Path) -> bool:
    """A directory, or a pattern that names no existing file (``data/*.csv``)."""
    if path.is_dir():
        return True
    return not path.exists() and any(c in str(path) for c in GLOB_CHARACTERS)


def batch_files(path: Path) -> tuple[str, list[Path]]:
    """A partitioned batch's format and files in name order: a directory's Parquet files
    (hidden and ``_`` files skipped, as pyarrow skips them), or what a glob matches."""
    from framework.data_limits import parquet_files

    if path.is_dir():
        files = parquet_files(path)
        if not files:
            raise DataError(f"no Parquet files in the new data directory {path.absolute()}")
        kinds = {"parquet"}
    else:
        matched = sorted(Path(p) for p in glob.iglob(str(path), recursive=True))
        files = [p for p in matched if not p.is_dir() and not p.name.startswith((".", "_"))]
        if not files:
            raise DataError(f"new data: no file matches {path}")
        kinds = {READERS.get(file.suffix.lower()) for file in files}
        if None in kinds or len(kinds) > 1:
            raise DataError(
                f"new data {path} matches {_kinds_found(files)}: match only .csv or only "
                ".parquet files"
            )
    if len(files) > MAX_BATCH_FILES:
        raise DataError(f"new data {path} has {len(files):,} files, more than {MAX_BATCH_FILES:,}")
    kind = kinds.pop()
    assert kind is not None
    return kind, files


def _kinds_found(files: list[Path]) -> str:
    suffixes = sorted({file.suffix.lower() or "(no suffix)" for file in files})
    return "files of several kinds (" + ", ".join(suffixes) + ")"


def read_file(kind: str, path: Path, *, checked: bool = False) -> pd.DataFrame:
    """One CSV or Parquet file, read whole (its width, and a Parquet file's declared
    size, checked first unless ``checked``), text column names, integers too big
    for a float refused. What a Dask worker runs for each file of a batch too."""
    import pandas as pd

    require_regular(path, "new data")
    if kind == "csv":
        check_csv_header(path)
    elif not checked:
        check_parquet_whole([path])
        check_parquet_text([path])
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except Exception as exc:  # a parser's own words are the useful part
        raise DataError(f"cannot read {path} as {kind}: {exc}") from exc
    frame.columns = [str(c) for c in frame.columns]
    refuse_huge_integers(frame, str(path), line_offset=2 if kind == "csv" else None)
    return frame


def refuse_unusable(frame: pd.DataFrame, where: str) -> None:
    """A column of values no statistic can use (lists, dicts), named: profiling would
    fail on it without naming it."""
    unusable = unusable_column(frame)
    if unusable is not None:
        raise DataError(
            f"{where}: column '{unusable[0]}' holds {unusable[1]}",
            column=unusable[0],
            hint=UNUSABLE_HINT,
        )


def unify_dtypes(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    """One dtype per column for the files of a batch (``{name: dtype}`` each, in file
    order): the file's own when all agree, else the common type (``int64`` and
    ``float64`` give ``float64``; numbers and text give ``object``). A column some
    files lack is missing values there: ``float64`` for them. Columns in first-seen
    order. The local reader and the Dask one both cast each file to this."""
    import numpy as np
    from pandas.api.types import is_bool_dtype, is_integer_dtype

    names: dict[str, list[Any]] = {}
    for schema in schemas:
        for name in schema:
            names.setdefault(name, [])
    for schema in schemas:
        for name, found in names.items():
            found.append(schema.get(name, np.dtype("float64")))
    unified: dict[str, Any] = {}
    for name, dtypes in names.items():
        first = dtypes[0]
        if all(_same_dtype(d, first) for d in dtypes):
            unified[name] = first
            continue
        try:
            from pandas.core.dtypes.cast import find_common_type

            common = find_common_type(dtypes)
        except (TypeError, ValueError):
            common = np.dtype(object)
        if is_integer_dtype(common) or is_bool_dtype(common):
            common = np.dtype("float64")  # a missing column made missing values
        unified[name] = common
    return unified


def conform_file(frame: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
    """A file's table with the batch's columns (absent ones all missing) and dtypes."""
    import numpy as np

    if list(frame.columns) != list(dtypes):
        frame = frame.reindex(columns=list(dtypes), fill_value=np.nan)
    changed = {n: d for n, d in dtypes.items() if not _same_dtype(frame[n].dtype, d)}
    return frame.astype(changed) if changed else frame


def _same_dtype(found: Any, wanted: Any) -> bool:
    """Dtypes compared by name, except categories: every ``category`` dtype has that
    name, and files whose categories differ (one file has a value the others lack) are
    one column only as the values' common type, which ``pd.concat`` gives locally and
    a Dask DataFrame needs (its partitions must all have the dtype of its meta)."""
    if str(found) != str(wanted):
        return False
    return str(found) != "category" or found == wanted


def concat_unified(frames: list[pd.DataFrame], where: str) -> pd.DataFrame:
    """Files' tables as one, cast by :func:`unify_dtypes`, rows numbered in file order."""
    import pandas as pd

    dtypes = unify_dtypes([dict(frame.dtypes.items()) for frame in frames])
    frame = pd.concat([conform_file(f, dtypes) for f in frames], ignore_index=True)
    refuse_unusable(frame, where)
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
    return prepare_categorical(series, reference)


def _numeric(series: pd.Series, name: str) -> PreparedColumn:
    return numeric_from_parts([numeric_part(series)], name)


@dataclass
class NumericPart:
    """One part of a numeric column (the whole column here, a partition on Dask): its
    finite values sorted, how many are missing, and the values that are not numbers
    (how many, and the first few with their row labels)."""

    ordered: Any  # numpy float64 array
    nulls: int
    bad: int = 0
    examples: list[str] = field(default_factory=list)
    datetimes: str | None = None  # the dtype, when the part holds datetimes


def numeric_part(series: pd.Series) -> NumericPart:
    """Reduce a numeric column's part to :class:`NumericPart` (row labels are the
    series' index: number it as the whole batch is numbered)."""
    import numpy as np
    import pandas as pd

    from framework.columns import role_of

    role = role_of(series)
    if role in ("numeric", "boolean"):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
    elif role == "datetime":
        return NumericPart(np.zeros(0), 0, datetimes=str(series.dtype))
    else:
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna() & series.notna()
        if bad.any():
            rows = list(series.index[bad][:3])
            shown = [f"{series[r]!r} (row {r})" for r in rows]
            return NumericPart(np.zeros(0), 0, int(bad.sum()), shown)
        values = converted.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    ordered = np.sort(values[finite])
    return NumericPart(ordered, int(len(values) - len(ordered)))


def numeric_from_parts(parts: list[NumericPart], name: str) -> PreparedColumn:
    """The column prepared from its parts in row order; ColumnProblem as the whole
    column would raise it (every value that is not a number counted, the first shown)."""
    import numpy as np
    import pandas as pd

    datetimes = next((p.datetimes for p in parts if p.datetimes), None)
    if datetimes is not None:
        raise ColumnProblem(f"was numeric in training; here it holds datetimes ({datetimes})")
    bad = sum(p.bad for p in parts)
    if bad:
        examples = ", ".join([e for p in parts for e in p.examples][:3])
        raise ColumnProblem(
            f"was numeric in training; here it holds text: {bad} value(s) "
            f"are not numbers, e.g. {examples}"
        )
    if len(parts) == 1:
        ordered = parts[0].ordered
    else:  # sorted runs: a stable sort merges them
        ordered = np.sort(np.concatenate([p.ordered for p in parts]), kind="stable")
    return PreparedColumn(pd.Series(ordered, name=name), len(ordered), sum(p.nulls for p in parts))


def prepare_categorical(series: pd.Series, reference: ColumnProfile) -> PreparedColumn:
    """A categorical column: its non-missing values as categories named by text, and the
    counts of those never seen in training (unless the profile pooled rare ones)."""
    import pandas as pd

    refuse_numbers_for_categories(series, reference)
    known = reference.categories
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


def refuse_numbers_for_categories(series: pd.Series, reference: ColumnProfile) -> None:
    """ColumnProblem when a column categorical in training now has a numeric dtype and
    no training category looks like a number. Needs only the dtype: an empty series
    of the batch's dtype (a Dask frame's meta) is enough."""
    from framework.columns import role_of

    known = reference.categories
    if role_of(series) == "numeric" and known and not any(_is_number(c) for c in known):
        raise ColumnProblem(
            f"was categorical in training (e.g. {', '.join(repr(c) for c in list(known)[:3])}); "
            f"here it holds numbers ({series.dtype})"
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


EXAMPLE_CHARACTERS = 60
"""The longest category value a message quotes: a batch's value is the sender's (a 10 MB
field was printed whole, and wrapping it took the console 30 s)."""


def example(value: object) -> str:
    """``repr`` of a category value, cut to :data:`EXAMPLE_CHARACTERS` with its length."""
    text = str(value)
    if len(text) <= EXAMPLE_CHARACTERS:
        return repr(value)
    return f"{text[:EXAMPLE_CHARACTERS]!r}... ({len(text):,} characters)"


def label(value: object) -> str:
    """A category value as the report and the stored record show it: cut like
    :func:`example` (a 10 MB value was stored three times in each monitor record)."""
    text = str(value)
    if len(text) <= EXAMPLE_CHARACTERS:
        return text
    return f"{text[:EXAMPLE_CHARACTERS]}... ({len(text):,} characters)"


def labelled(counts: dict[str, int]) -> dict[str, int]:
    """``counts`` keyed by :func:`label` (two long values that show alike add up)."""
    shown: dict[str, int] = {}
    for value, count in counts.items():
        shown[label(value)] = shown.get(label(value), 0) + count
    return shown


def examples(counts: dict[str, int], shown: int = 5) -> str:
    """``'x' (3 rows), 'y' (1 row)``: the most frequent first."""
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{example(k)} ({v} row{'s' if v != 1 else ''})" for k, v in ordered[:shown])
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
            cur["unseen"] = labelled(prepared.unseen)
    return {"reference": ref, "current": cur}
