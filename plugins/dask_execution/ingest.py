"""The ingest data plane on Dask: validate a lazy table and describe it, never gathering it.

The local engine loads a pandas frame and checks it in place; here the table is a
``dask.dataframe.DataFrame`` whose partitions live on the workers. Everything that
needs values (row count, the data hash, missing targets, class labels, values a
declared role cannot take, unusable object columns) is computed in ONE pass: each
partition is reduced to a small dict of statistics on its worker, and only those
dicts reach the client (plus, for text features whose role is inferred, a sample of
at most ``sample_rows`` rows of the first partition, judged as the local path judges
text that is mostly numbers). Messages are the local path's, word for word, with row
numbers counted over the whole table (partition offsets added).

Public functions (what the Dask executor calls)::

    ingest(ddf, *, source_type: str, target: str, task: str,
           features: dict[str, str] | None = None, exclude: Sequence[str] = (),
           sample_rows: int = 10_000, plugins: Plugins | None = None) -> Ingested
        # everything below in one go; raises DataError with the local messages
        # (plugins: a source returning something else is named as a plugin's bug)
    as_table(ddf, source_type: str, plugins=None) -> dd.DataFrame
        # a dask DataFrame with text names: not a DataFrame / no columns /
        # duplicate or blank names refused (no compute)

The column rules (names, target, which features) are the local executor's own,
shared through ``framework.execution`` (``require_column_names``, ``require_target``,
``choose_features``) and judged on the table's metadata.
    table_stats(ddf, *, target: str, task: str, checks: dict[str, str]) -> TableStats
        # the one distributed pass (rows, hash sums, target facts, bad values)
    data_hash(ddf) -> str          # alone (e.g. for a snapshot read back)
    row_count(ddf) -> int
    compute_data(*collections, where=None) -> tuple
        # dask.compute, with a CSV column whose type changes between blocks, or a SQL
        # value that does not fit its column's type, said as a DataError
    dtype_family(dtype) -> str     # number / boolean / text / datetime / other
    require_meta_shape(part, number, expected, where) -> None
        # on a worker: a partition whose columns or kinds of value differ from the
        # metadata (a file unlike the first) is a DataError naming the partition;
        # table_stats runs it on every partition

Parquet files that disagree are refused earlier, on the client, from their footers,
naming the file (``plugins.sources``); this check is the backstop for any source.

``Ingested`` holds: ``frame`` (the validated table, lazy), ``y`` (lazy Series: int64
class codes 0..k-1, or float64 for regression), ``labels`` (sorted class labels or
None), ``features`` (names), ``excluded`` (datetime columns left out), ``signature``
(``framework.signature.Signature``; categorical columns have ``categories=None``:
the executor fills them from the training split, after the split), ``x`` (lazy
feature frame cast to the signature: numbers, booleans as float64, text as category
with unknown categories), ``rows``, ``columns`` (how many), ``data_hash`` and
``partitions``.

The data hash is NOT the local path's :func:`framework.lineage.frame_hash`: that one
hashes rows in order, which a partitioned table has no cheap way to do. This one is
order-independent: sha256 of the scheme's name (``dask-rows/1``), the column names and
dtypes, the row count and two 64-bit sums (mod 2**64) over the rows, of each row's
``pandas.util.hash_pandas_object`` and of a splitmix64 remix of it. The same rows in
another order or partitioning give the same hash (a snapshot read back included); the
same data ingested locally gives a different one, so a champion trained locally is
never taken to have trained on "the same data" as a Dask candidate by its hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework import DataError, role_of
from framework.execution import (
    choose_features,
    require_classes,
    require_column_names,
    require_target,
)

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

    from framework.execution import Signature

EXAMPLES = 3  # values named in a bad-value message (framework.signature.MAX_EXAMPLES)
MISSING_ROWS = 5  # rows named for a missing target (as the local engine)
HASH_SCHEME = "dask-rows/1"


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass
class BadValues:
    """Values a column cannot take in its role: how many, and the first few by row."""

    count: int = 0
    rows: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)


@dataclass
class TableStats:
    """What one distributed pass learns about a table (small: per column, per class)."""

    rows: int
    partition_rows: list[int]
    hash_sums: tuple[int, int]
    unusable: tuple[str, str] | None = None
    huge: tuple[str, int, int] | None = None
    """(column, row, digits) of the first whole number too large for 64 bits."""
    target_missing: BadValues = field(default_factory=BadValues)
    target_bad: BadValues = field(default_factory=BadValues)
    labels: list[Any] | None = None
    classes: int = 0
    bad: dict[str, BadValues] = field(default_factory=dict)
    converted_dtypes: dict[str, str] = field(default_factory=dict)


@dataclass
class Ingested:
    """A validated table and what the later steps need of it (see the module docstring)."""

    frame: Any
    y: Any
    labels: list[Any] | None
    features: list[str]
    excluded: list[str]
    signature: Signature
    x: Any
    rows: int
    columns: int
    data_hash: str
    partitions: int

    def release(self) -> None:
        """Drop this process's handles on the table (``frame``, ``x``, ``y``), so the
        workers free its persisted partitions once nothing computed from it needs them.
        The executor calls it after the split, which holds its own copy of the rows."""
        self.frame = self.x = self.y = None


# ---------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------


def as_table(ddf: Any, source_type: str, plugins: Any = None) -> dd.DataFrame:
    """The source's lazy table with text column names; refused as the local path refuses
    (only what metadata shows: emptiness and unusable values need the data pass).
    Something else than a dask DataFrame is a bug of the source's plugin, named (exit
    3) when ``plugins`` is given, as the local executor names it."""
    import dask.dataframe as dd

    if not isinstance(ddf, dd.DataFrame):
        if plugins is not None:
            from framework.execution import contract_broken

            what = f"load_distributed returned {type(ddf).__name__}, not a dask DataFrame"
            raise contract_broken(plugins, "source", source_type, what, step="ingest")
        raise DataError(
            f"source '{source_type}' load_distributed returned {type(ddf).__name__}, "
            "not a dask DataFrame"
        )
    names = [str(c) for c in ddf.columns]
    if not names:
        raise DataError(f"source '{source_type}' returned no rows: the dataset is empty")
    require_column_names(names, source_type)
    if names != list(ddf.columns):
        ddf = ddf.rename(columns=dict(zip(ddf.columns, names, strict=True)))
    return ddf


# ---------------------------------------------------------------------------
# the one distributed pass
# ---------------------------------------------------------------------------


def _numeric_bad(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(converted, bad mask) as :func:`framework.signature.as_numeric` converts text."""
    import numpy as np
    import pandas as pd

    values = series
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.na_value is pd.NA:
        # Dask's "string" (missing as NA) would convert to nullable Int64/Float64; the
        # local path's "str" (missing as NaN) gives numpy int64/float64: read as the latter
        values = pd.Series(series.to_numpy(dtype=object, na_value=np.nan), index=series.index)
    converted = pd.to_numeric(values, errors="coerce")
    return converted, converted.isna() & series.notna()


def _boolean_bad(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(1.0/0.0 values, bad mask) as :func:`framework.signature.as_boolean` reads them."""
    import numpy as np
    import pandas as pd

    from framework.execution import FALSE_WORDS, TRUE_WORDS

    if role_of(series) in ("boolean", "numeric"):
        values = series.astype("float64")
        return values, values.notna() & ~values.isin([0.0, 1.0])
    words = series.astype("string").str.strip().str.lower()
    values = pd.Series(
        np.where(words.isin(TRUE_WORDS), 1.0, np.where(words.isin(FALSE_WORDS), 0.0, np.nan)),
        index=series.index,
    )
    return values, values.isna() & series.notna()


def _hash_sums(rows: Any) -> list[int]:
    """Two order-independent sums (mod 2**64) of a partition's row hashes: of the hashes
    and of a splitmix64 remix of them, 128 bits of multiset fingerprint for one pass
    of ``hash_pandas_object``."""
    import numpy as np

    hashes = np.asarray(rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = hashes + np.uint64(0x9E3779B97F4A7C15)
        mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        mixed = mixed ^ (mixed >> np.uint64(31))
    return [int(hashes.sum(dtype=np.uint64)), int(mixed.sum(dtype=np.uint64))]


def _first(series: pd.Series, mask: Any, limit: int) -> dict[str, Any]:
    """How many rows ``mask`` marks, and the first ``limit`` (partition positions, values)."""
    import numpy as np

    flags = np.asarray(mask, dtype=bool)
    positions = np.flatnonzero(flags)[:limit]
    return {
        "count": int(flags.sum()),
        "rows": positions.tolist(),
        "values": [_python(v) for v in series.iloc[positions].tolist()],
    }


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _object_kind(series: pd.Series) -> tuple[str, str | None] | None:
    """An object column's inferred kind and, when it is 'mixed', the type of its first
    value that is not plain (what :func:`framework.data_limits.unusable_column` names)."""
    from pandas.api.types import infer_dtype

    if series.dtype != object:
        return None
    kind = infer_dtype(series, skipna=True)
    first = series.dropna().iloc[:1].tolist()
    odd = None
    if first and not isinstance(first[0], (str, int, float, bool)):
        odd = type(first[0]).__name__
    return kind, odd


def _huge_integer(series: pd.Series, name: str) -> tuple[str, int, int] | None:
    """(column, partition position, digits) of the first whole number no 64-bit type
    holds (what :func:`framework.data_limits.refuse_huge_integers` refuses)."""
    from framework.execution import INT64_MIN, UINT64_MAX

    for position, value in enumerate(series.tolist()):
        if isinstance(value, int) and not INT64_MIN <= value <= UINT64_MAX:
            return name, position, len(str(abs(value)))
    return None


def dtype_family(dtype: Any) -> str:
    """The kind of value a dtype holds, as the later steps judge it: every int and float
    width (nullable too) is a number; object, str, string and category are text."""
    import pandas as pd
    from pandas.api import types

    if isinstance(dtype, pd.CategoricalDtype) or types.is_string_dtype(dtype):
        return "text"
    if types.is_bool_dtype(dtype):
        return "boolean"
    if types.is_numeric_dtype(dtype):
        return "number"
    if types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return str(dtype)


def _values_family(series: pd.Series) -> str:
    """A partition column's family; for an object column, of its values (a Parquet
    boolean or integer column with nulls in one file reads as object)."""
    from pandas.api.types import infer_dtype

    if series.dtype != object:
        return dtype_family(series.dtype)
    kind = infer_dtype(series, skipna=True)
    if kind == "boolean":
        return "boolean"
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "number"
    if kind in ("datetime", "datetime64", "date"):
        return "datetime"
    return "text"


def require_meta_shape(
    part: pd.DataFrame, number: int, expected: Sequence[tuple[str, str]], where: str
) -> None:
    """Refuse a partition whose columns, or the kind of value a column holds, differ from
    the table's metadata (what Dask took from the first file or rows). Runs on the
    worker: a file that disagrees would otherwise fail later far from its cause (a
    "not in index" KeyError, LightGBM refusing text), as a bug of a plugin (exit 3).
    A column all missing in the partition agrees with any kind, and an object column of
    the metadata with any values (``expected`` family ``"object"``)."""
    names = [str(c) for c in part.columns]
    wanted = [name for name, _ in expected]
    hint = "every file or partition of the data must have the same columns and types"
    if names != wanted:
        missing = [n for n in wanted if n not in names]
        extra = [n for n in names if n not in wanted]
        what = (
            f"lacks column(s) {', '.join(map(repr, missing[:5]))}"
            if missing
            else f"has column(s) {', '.join(map(repr, extra[:5]))} the first lacks"
            if extra
            else "has the columns in another order"
        )
        raise DataError(
            f"{where}: partition {number} {what} (columns of the first: {', '.join(wanted[:8])})",
            hint=hint,
        )
    for position, (name, family) in enumerate(expected):
        if family == "object":  # the metadata's object column may hold anything
            continue
        series = part.iloc[:, position]
        found = _values_family(series)
        if found != family and series.notna().any():
            raise DataError(
                f"{where}: partition {number} holds column '{name}' as {series.dtype} "
                f"({found}) where the table's first rows are {family}",
                column=name,
                hint=hint,
            )


def partition_stats(
    part: pd.DataFrame,
    target: str | None,
    task: str | None,
    checks: dict[str, str],
    cap: int,
    shape: tuple[int, Sequence[tuple[str, str]], str] | None = None,
) -> dict[str, Any]:
    """One partition reduced to small facts (runs on a worker). ``checks``: column ->
    'numeric' or 'boolean', the columns whose values must convert to that role.
    ``shape``: (partition number, (column, dtype family) of the metadata, what to call
    the data), to refuse a partition that disagrees (:func:`require_meta_shape`)."""
    import pandas as pd

    if shape is not None:
        require_meta_shape(part, *shape)
    stats: dict[str, Any] = {"rows": len(part)}
    kinds = {}
    huge = None
    for position, name in enumerate(part.columns):
        kind = _object_kind(part.iloc[:, position])
        if kind is not None:
            kinds[str(name)] = kind
            if huge is None and "integer" in kind[0]:
                huge = _huge_integer(part.iloc[:, position], str(name))
    stats["kinds"] = kinds
    stats["huge"] = huge
    try:
        stats["hash"] = _hash_sums(pd.util.hash_pandas_object(part, index=False).to_numpy())
    except (TypeError, OverflowError):  # nested or huge values: refused before it matters
        stats["hash"] = [0, 0]
    if target is not None and target in part.columns:
        values = part[target]
        stats["target_missing"] = _first(values, values.isna(), MISSING_ROWS)
        present = values.dropna()
        if task == "regression":
            if role_of(values) not in ("numeric", "boolean", "datetime"):
                _, bad = _numeric_bad(values)
                stats["target_bad"] = _first(values, bad, EXAMPLES)
        else:
            uniques = pd.Series(present.unique(), dtype=values.dtype)
            stats["classes"] = uniques.iloc[: cap + 1]
    bad: dict[str, Any] = {}
    converted: dict[str, str] = {}
    for column, role in checks.items():
        series = part[column].reset_index(drop=True)
        values, mask = _numeric_bad(series) if role == "numeric" else _boolean_bad(series)
        bad[column] = _first(series, mask, EXAMPLES)
        if role == "numeric" and len(part):
            converted[column] = str(values[~mask].dtype)
    stats["bad"] = bad
    stats["converted"] = converted
    return stats


def _merge_first(parts: list[dict[str, Any]], offsets: list[int], limit: int) -> BadValues:
    merged = BadValues()
    for offset, part in zip(offsets, parts, strict=True):
        merged.count += part["count"]
        for row, value in zip(part["rows"], part["values"], strict=True):
            if len(merged.rows) < limit:
                merged.rows.append(offset + row)
                merged.values.append(value)
    return merged


def _unusable(
    kinds: list[dict[str, tuple[str, str | None]]], names: list[str]
) -> tuple[str, str] | None:
    """The first column no step can take, judged over every partition's kind."""
    for name in names:
        seen = [k[name] for k in kinds if name in k]
        if not seen:
            continue
        present = [kind for kind, _ in seen if kind != "empty"]
        if present and all(kind == "bytes" for kind in present):
            return name, "binary values (blobs)"
        odd = next((o for kind, o in seen if kind != "empty"), None)
        if odd is not None and (len(set(present)) > 1 or present[0] == "mixed"):
            return name, f"nested values ({odd})"
    return None


def table_stats(
    ddf: Any,
    *,
    target: str | None,
    task: str | None,
    checks: dict[str, str],
    where: str = "the data",
) -> TableStats:
    """Rows, hash sums and the value facts of every partition, in one distributed pass;
    only the per-partition dicts reach the client. A partition whose columns or kinds of
    value differ from the metadata is refused there, ``where`` naming the data."""
    import dask
    import numpy as np
    import pandas as pd

    from framework.execution import MAX_CLASSES

    cap = MAX_CLASSES.value()
    expected = [
        (str(name), "object" if str(dtype) == "object" else dtype_family(dtype))
        for name, dtype in ddf.dtypes.items()
    ]
    parts = [
        dask.delayed(partition_stats)(part, target, task, checks, cap, (number, expected, where))
        for number, part in enumerate(ddf.to_delayed())
    ]
    results = list(compute_data(*parts, where=where))
    partition_rows = [r["rows"] for r in results]
    offsets = np.concatenate([[0], np.cumsum(partition_rows)[:-1]]).astype(int).tolist()
    sums = [sum(r["hash"][i] for r in results) % (1 << 64) for i in range(2)]
    names = [str(c) for c in ddf.columns]
    stats = TableStats(
        rows=int(sum(partition_rows)),
        partition_rows=partition_rows,
        hash_sums=(sums[0], sums[1]),
        unusable=_unusable([r["kinds"] for r in results], names),
        huge=next(
            (
                (r["huge"][0], offset + r["huge"][1], r["huge"][2])
                for offset, r in zip(offsets, results, strict=True)
                if r["huge"] is not None
            ),
            None,
        ),
    )
    if target is not None and results and "target_missing" in results[0]:
        stats.target_missing = _merge_first(
            [r["target_missing"] for r in results], offsets, MISSING_ROWS
        )
        if task == "regression":
            if "target_bad" in results[0]:
                stats.target_bad = _merge_first(
                    [r["target_bad"] for r in results], offsets, EXAMPLES
                )
        else:
            dtype = ddf[target].dtype
            union = pd.concat([r["classes"] for r in results], ignore_index=True)
            union = pd.Series(union.unique(), dtype=dtype) if len(union) else union
            if len(union) > cap:  # too many: count them exactly, on the cluster
                stats.classes = int(ddf[target].dropna().nunique().compute())
            else:
                _, uniques = pd.factorize(union, sort=True)
                stats.labels = [_python(v) for v in uniques]
                stats.classes = len(stats.labels)
    for column in checks:
        stats.bad[column] = _merge_first([r["bad"][column] for r in results], offsets, EXAMPLES)
        dtypes = [r["converted"][column] for r in results if column in r["converted"]]
        if dtypes:
            stats.converted_dtypes[column] = _common_dtype(dtypes)
    return stats


def _common_dtype(dtypes: list[str]) -> str:
    """The dtype the partitions' converted values share, as pandas would concatenate
    them (int64 and float64: float64; Int64 and Float64: Float64)."""
    import pandas as pd
    from pandas.core.dtypes.cast import find_common_type

    return str(find_common_type([pd.api.types.pandas_dtype(d) for d in dtypes]))


def compute_data(*collections: Any, where: str | None = None) -> tuple[Any, ...]:
    """``dask.compute``, with the errors reading the data may raise on a worker said in
    the user's terms (a CSV column whose type changes between blocks, a SQL value that
    does not fit its column's type); ``where`` names the data in the latter."""
    import dask

    try:
        return dask.compute(*collections)
    except ValueError as exc:
        problem = _mismatched_dtypes(str(exc)) or _cast_failed(str(exc), where)
        if problem is None:
            raise
        raise problem from exc


def _cast_failed(text: str, where: str | None) -> DataError | None:
    """Dask's SQL reader casting a slice to the dtypes of the table's first rows
    (``Error while type casting for column 'b'``: text in an INTEGER column of SQLite,
    say) as a DataError naming the column, not a bug of the executor."""
    import re

    found = re.search(r"Error while type casting for column '([^']*)'", text)
    if found is None:
        return None
    column = found.group(1)
    reason = text[: found.start()].rstrip(": ").strip() or text[:200]
    return DataError(
        f"{where + ': ' if where else ''}"
        f"column '{column}' holds a value that does not fit the type Dask took from the "
        f"table's first rows, in a later partition: {reason[:200]}",
        column=column,
        hint=(
            "the column has missing values (NULL) past the rows Dask sampled, which a "
            "whole-number type cannot hold: read it through a view that CASTs it to REAL"
            if "non-finite" in reason
            else "fix the value in the table, or read the column through a view that "
            "CASTs it to one type (text, or a number)"
        ),
    )


def _mismatched_dtypes(text: str) -> DataError | None:
    """Dask's "Mismatched dtypes found in pd.read_csv" as a DataError naming the columns
    and the ``dtypes:`` param that fixes it."""
    import re

    if "Mismatched dtypes found" not in text:
        return None
    rows = re.findall(r"^\|\s*(\S[^|]*?)\s*\|\s*(\S+)\s*\|\s*(\S+)\s*\|$", text, re.M)
    found = [(name, seen, guessed) for name, seen, guessed in rows if name != "Column"]
    shown = ", ".join(f"'{n}' ({s} where the first rows gave {g})" for n, s, g in found[:5])
    fix = ", ".join(
        f"{n}: {'float64' if s.startswith(('float', 'int')) else 'str'}" for n, s, _ in found[:5]
    )
    return DataError(
        f"CSV columns change type after the first rows Dask read: {shown or text[:200]}",
        hint=f"set dtypes: {{{fix}}} in the source params"
        if fix
        else "set dtypes: in the source params",
    )


def data_hash_of(stats: TableStats, ddf: Any) -> str:
    """The order-independent content hash (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(HASH_SCHEME.encode())
    digest.update(repr([(str(c), str(t)) for c, t in ddf.dtypes.items()]).encode())
    digest.update(f"{stats.rows}:{stats.hash_sums[0]}:{stats.hash_sums[1]}".encode())
    return digest.hexdigest()


def data_hash(ddf: Any) -> str:
    """The data hash of a table alone (a snapshot read back, say)."""
    return data_hash_of(table_stats(ddf, target=None, task=None, checks={}), ddf)


def row_count(ddf: Any) -> int:
    """Rows, counted per partition on the workers."""
    return int(ddf.map_partitions(len).sum().compute())


# ---------------------------------------------------------------------------
# target, signature, everything
# ---------------------------------------------------------------------------


def _bad_values_error(column: str, claim: str, kind: str, bad: BadValues, hint: str) -> DataError:
    """The message :func:`framework.signature.as_numeric` / ``as_boolean`` give."""
    examples = ", ".join(repr(v) for v in bad.values)
    return DataError(
        f"column '{column}' {claim} but has {bad.count} {kind} value(s): "
        f"{examples} (rows {', '.join(map(str, bad.rows))})",
        column=column,
        hint=hint,
        context={"rows": list(bad.rows)},
    )


NUMERIC_HINT = "fix the data, or declare the column categorical in data.features"
BOOLEAN_HINT = "booleans are true/false, yes/no, 1/0; or declare the column categorical"


def _roles(
    meta: pd.DataFrame, features: list[str], declared: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(column -> role, column -> value check) from dtypes and declarations; a datetime
    feature is refused as :func:`framework.signature.infer_signature` refuses it."""
    roles: dict[str, str] = {}
    checks: dict[str, str] = {}
    for name in features:
        role = declared.get(name, "infer")
        by_dtype = role_of(meta[name])
        if role == "infer":
            role = by_dtype
        if role == "datetime" or by_dtype == "datetime":
            raise DataError(
                f"column '{name}' holds dates or times, which cannot be a feature as they are",
                column=name,
                hint="add it to data.exclude, or derive numeric features from it upstream",
            )
        if role == "boolean" and by_dtype != "boolean":
            checks[name] = "boolean"
        elif role == "numeric" and by_dtype not in ("numeric", "boolean"):
            checks[name] = "numeric"
        roles[name] = role
    return roles, checks


def _refuse_text_numbers(ddf: Any, columns: list[str], sample_rows: int) -> None:
    """Text columns that are numbers but for a few typos, or numbers with decimal commas:
    judged on a bounded sample of the first rows, as the local path judges the column."""
    if not columns:
        return
    # the first partition only (head over every partition would read them all), cut
    # on its worker: only the sample's rows reach this process
    import dask

    from framework.execution import infer_signature

    (sample,) = compute_data(dask.delayed(_head)(ddf[columns].to_delayed()[0], sample_rows))
    infer_signature(sample.reset_index(drop=True), {})


def _head(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    return frame.head(rows)


def _codes(series: pd.Series, labels: list[Any]) -> pd.Series:
    """Class codes 0..k-1 against the sorted labels: the same in every partition."""
    import pandas as pd

    index = pd.Index(pd.Series(labels, dtype=series.dtype))
    return pd.Series(index.get_indexer(series), index=series.index, dtype="int64", name=series.name)


def _as_float(series: pd.Series) -> pd.Series:
    return _numeric_bad(series)[0].astype("float64").rename(series.name)


def _as_number(series: pd.Series, dtype: str) -> pd.Series:
    return _numeric_bad(series)[0].astype(dtype).rename(series.name)


def _as_boolean(series: pd.Series) -> pd.Series:
    return _boolean_bad(series)[0].rename(series.name)


def _target(ddf: Any, stats: TableStats, target: str, task: str) -> tuple[Any, list[Any] | None]:
    """The lazy target (codes or floats) and the labels, refused as the local path refuses."""
    if stats.target_missing.count:
        rows = ", ".join(map(str, stats.target_missing.rows))
        raise DataError(
            f"target '{target}' has {stats.target_missing.count} missing value(s) (rows {rows})",
            column=target,
            hint="drop those rows or fill the target before training",
        )
    series = ddf[target]
    if task == "regression":
        role = role_of(series._meta)
        if role == "datetime":
            raise DataError(
                f"column '{target}' is a regression target but holds dates or times "
                f"({series.dtype})",
                column=target,
            )
        if stats.target_bad.count:
            raise _bad_values_error(
                target, "is a regression target", "non-numeric", stats.target_bad, NUMERIC_HINT
            )
        return series.map_partitions(_as_float, meta=(target, "float64")), None
    labels = stats.labels  # None: more than the limit, counted exactly on the cluster
    require_classes(target, task, stats.classes, labels[0] if labels else None)
    assert labels is not None  # require_classes refused more classes than the limit
    return series.map_partitions(_codes, labels, meta=(target, "int64")), labels


def _signature(
    ddf: Any,
    features: list[str],
    roles: dict[str, str],
    stats: TableStats,
    declared: dict[str, str],
) -> tuple[Signature, Any]:
    """The signature (categories left to the split) and the lazily cast feature frame."""
    from framework.execution import ColumnSignature, Signature

    meta = ddf._meta
    x = ddf[features]
    columns = []
    to_category = []
    for name in features:
        role = roles[name]
        by_dtype = role_of(meta[name])
        if role == "boolean":
            if by_dtype != "boolean" and stats.bad[name].count:
                raise _bad_values_error(
                    name, "is declared boolean", "other", stats.bad[name], BOOLEAN_HINT
                )
            x[name] = x[name].map_partitions(_as_boolean, meta=(name, "float64"))
            columns.append(ColumnSignature(name, "boolean", "float64"))
        elif role == "numeric":
            if by_dtype == "boolean":
                x[name] = x[name].astype("float64")
                dtype = "float64"
            elif by_dtype == "numeric":
                dtype = str(meta[name].dtype)
            else:
                why = "is declared numeric" if declared.get(name) == "numeric" else "looks numeric"
                if stats.bad[name].count:
                    raise _bad_values_error(name, why, "non-numeric", stats.bad[name], NUMERIC_HINT)
                dtype = stats.converted_dtypes.get(name, "float64")
                x[name] = x[name].map_partitions(_as_number, dtype, meta=(name, dtype))
            columns.append(ColumnSignature(name, "numeric", dtype))
        else:
            if str(meta[name].dtype) != "category":
                to_category.append(name)
            columns.append(ColumnSignature(name, "categorical", "category", None))
    if to_category:
        x = x.astype(dict.fromkeys(to_category, "category"))
    return Signature(tuple(columns)), x


def ingest(
    ddf: Any,
    *,
    source_type: str,
    target: str,
    task: str,
    features: dict[str, str] | None = None,
    exclude: Sequence[str] = (),
    sample_rows: int = 10_000,
    plugins: Any = None,
) -> Ingested:
    """Validate a source's lazy table and describe it, in the local path's order and words:
    table, target, feature columns, signature; one distributed pass for the values."""
    from framework.execution import UNUSABLE_HINT

    frame = as_table(ddf, source_type, plugins)
    meta = frame._meta
    require_target([str(c) for c in meta.columns], target)
    declared = dict(features or {})
    feature_problem: DataError | None = None
    chosen: list[str] = []
    excluded: list[str] = []
    roles: dict[str, str] = {}
    checks: dict[str, str] = {}
    try:  # reported after the target's problems, in the local path's order
        chosen, excluded = choose_features(meta, target, features, exclude)
        roles, checks = _roles(meta, chosen, declared)
    except DataError as exc:
        feature_problem = exc
    stats = table_stats(
        frame, target=target, task=task, checks=checks, where=f"source '{source_type}'"
    )
    if stats.rows == 0:
        raise DataError(f"source '{source_type}' returned no rows: the dataset is empty")
    if stats.unusable is not None:
        name, what = stats.unusable
        raise DataError(
            f"source '{source_type}' returned column '{name}' of {what}",
            column=name,
            hint=UNUSABLE_HINT,
        )
    if stats.huge is not None:  # as the sources refuse it locally (was exit 3 later)
        from framework.execution import INT64_MIN, UINT64_MAX

        name, row, digits = stats.huge
        raise DataError(
            f"source '{source_type}': column '{name}' row {row} holds a whole number of "
            f"{digits} digits, too large for a 64-bit number",
            column=name,
            hint=f"numbers must fit in 64 bits ({INT64_MIN} to {UINT64_MAX}); if "
            "the column is an identifier, store it as text (e.g. with a letter prefix)",
        )
    y, labels = _target(frame, stats, target, task)
    if feature_problem is not None:
        raise feature_problem
    inferred_text = [
        name
        for name in chosen
        if declared.get(name, "infer") == "infer"
        and roles[name] == "categorical"
        and str(meta[name].dtype) != "category"
    ]
    _refuse_text_numbers(frame, inferred_text, sample_rows)
    signature, x = _signature(frame, chosen, roles, stats, declared)
    return Ingested(
        frame=frame,
        y=y,
        labels=labels,
        features=chosen,
        excluded=excluded,
        signature=signature,
        x=x,
        rows=stats.rows,
        columns=len(frame.columns),
        data_hash=data_hash_of(stats, frame),
        partitions=frame.npartitions,
    )
