"""The monitoring reference profile on a Dask cluster, from distributed aggregations,
written in the format of :mod:`framework.monitoring.profile` (``profile.json``).

Public functions (plain inputs)::

    build_profile_distributed(features: dd.DataFrame, roles: {column: role},
                              predictions: TestPredictions, labels) -> Profile
    write_profile_distributed(package_dir, features: dd.DataFrame, signature,
                              predictions: TestPredictions, labels) -> Path
    check_reload(package, x_rows: pd.DataFrame, predictions: TestPredictions)
        -> str | None   (what differs after save and load; None when it predicts the same)

How each statistic is computed, and how it compares with the local profile on the
same rows (tests/dask/test_profile.py checks each):

- count, nulls, min, max: exact (sums, minima, maxima over partitions).
- mean, std: Chan's parallel merge of per-partition (count, mean, M2): equal to
  numpy's on the whole column within a relative 1e-9 (floating-point order).
- categorical columns: exact counts per category (value counts added up), hence the
  same ``categories`` and ``other`` (the 1,000 most frequent; ties at that cut may
  keep another of the tied categories).
- numeric columns with at most 65,536 distinct finite values (flags, counts, codes,
  anything rounded): their exact value counts are added up over partitions, and the
  profile is built from them exactly as locally (``numeric_from_counts``): grid,
  ``le``/``lt``, quantiles, deciles, atoms and ``distinct`` are identical.
- numeric columns with more distinct values (continuous): the ECDF grid points are
  Dask's approximate quantiles (as ``Series.quantile``: per-partition percentiles,
  taken in the first pass from each partition's sorted values, merged by
  ``dask.array.percentile.merge_percentiles``) at the same levels, plus the exact min
  and max; ``le``/``lt`` at those
  points and the decile bins' counts are then counted exactly over the partitions, so
  the ECDF is exact at every grid point (KS and Wasserstein interpolate between
  points as locally). The points lie within 0.002 in rank of the local ones (their
  quantile level), the shown quantiles and decile edges too; ``distinct`` is Dask's
  HyperLogLog estimate (``nunique_approx``'s registers, filled in the first pass from
  each partition's distinct values; a few percent), only ever read to tell whether a
  column has at most 20 values, which such a column never has.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import ColumnProfile
from framework.execution import (
    ATOMS_MAX,
    DECILES,
    PREDICTION,
    SHOWN_QUANTILES,
    Profile,
    categorical_from_counts,
    grid_levels,
    numeric_from_counts,
    numeric_from_summary,
    prediction_role,
    profile_roles,
    save_profile,
)
from plugins.dask_execution.evaluation import CODE, TestPredictions, head

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

EXACT_DISTINCT = 1 << 16
"""A numeric column with at most this many distinct values is profiled exactly from its
value counts (1 MiB a column at most); above it, from quantiles and exact counts."""

HLL_BITS = 16
"""Registers of the distinct-count estimate (2**16, as ``nunique_approx``): 64 KiB a
continuous column."""


# --- per partition, then added up pairwise on the workers ------------------------------


def _numeric_part(values: np.ndarray) -> dict[str, Any]:
    import numpy as np

    values = np.asarray(values, dtype="float64")
    finite = values[np.isfinite(values)]
    n = len(finite)
    mean = float(finite.mean()) if n else 0.0
    summary = {
        "count": n,
        "nulls": len(values) - n,
        "min": float(finite.min()) if n else np.inf,
        "max": float(finite.max()) if n else -np.inf,
        "mean": mean,
        "m2": float(((finite - mean) ** 2).sum()) if n else 0.0,
        "values": None,
    }
    # np.unique's result from one sort (np.unique with counts takes 3 times as long)
    ordered = np.sort(finite)
    first = np.ones(n, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    if len(starts) <= EXACT_DISTINCT:
        summary["values"] = (ordered[starts], np.diff(np.append(starts, n)))
    else:
        summary["registers"] = _registers(ordered[starts])
        summary["sketches"] = [(_linear(ordered, grid_levels() * (n - 1)), n)]
    return summary


def _linear(ordered: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """``np.percentile``'s linear interpolation between order statistics at ``ranks``."""
    import numpy as np

    low = np.floor(ranks)
    at_low = ordered[low.astype("int64")]
    at_high = ordered[np.ceil(ranks).astype("int64")]
    return at_low + (at_high - at_low) * (ranks - low)


def _percentiles(distinct: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, int]:
    """What Dask's ``Series.quantile`` computes per partition (``np.percentile``, linear,
    at the grid levels) for ``dask.array.percentile.merge_percentiles``, here from the
    partition's sorted distinct values and their counts (no second pass, no sort)."""
    import numpy as np

    ends = np.cumsum(counts)
    n = int(ends[-1])
    ranks = grid_levels() * (n - 1)
    low = np.floor(ranks)
    at_low = distinct[np.searchsorted(ends, low, side="right")]
    at_high = distinct[np.searchsorted(ends, np.ceil(ranks), side="right")]
    return at_low + (at_high - at_low) * (ranks - low), n


def _sketches_of(summary: dict[str, Any]) -> list[tuple[np.ndarray, int]]:
    if summary.get("sketches") is not None:
        return summary["sketches"]
    distinct, counts = summary["values"]
    return [_percentiles(distinct, counts)] if len(distinct) else []


def _registers(distinct: np.ndarray) -> np.ndarray:
    """Dask's HyperLogLog registers (``nunique_approx``: the same hash, 2**16 registers,
    the same first-bit rule) of a column's distinct values, without the (n x 32) bit
    table ``dask.dataframe.hyperloglog.compute_first_bit`` builds: 15 times faster. The
    registers of the distinct values are those of the column (duplicates never raise a
    maximum), so each partition hashes only its distinct values."""
    import numpy as np
    import pandas as pd
    from pandas.util import hash_pandas_object

    hashes = hash_pandas_object(pd.Series(distinct), index=False).to_numpy().astype(np.uint32)
    lowest = hashes & (~hashes + np.uint32(1))  # the lowest set bit; 0 for a zero hash
    # its position + 1, read from the exponent bits of the power of two as a float32
    # (exact up to 2**31; a third of the time of log2 on float64)
    exponent = lowest.astype(np.float32).view(np.uint32) >> np.uint32(23)
    first_bit = (exponent.astype(np.int16) - 126).astype(np.uint8)
    first_bit[hashes == 0] = 33
    registers = np.zeros(1 << HLL_BITS, dtype=np.uint8)
    np.maximum.at(registers, hashes >> (32 - HLL_BITS), first_bit)
    return registers


def _registers_of(summary: dict[str, Any]) -> np.ndarray:
    if summary.get("registers") is not None:
        return summary["registers"]
    return _registers(summary["values"][0])


def _add_numeric(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Chan et al.'s merge of two partial (count, mean, M2), and the value counts."""
    import numpy as np

    n = left["count"] + right["count"]
    merged = {
        "count": n,
        "nulls": left["nulls"] + right["nulls"],
        "min": min(left["min"], right["min"]),
        "max": max(left["max"], right["max"]),
        "mean": 0.0,
        "m2": 0.0,
        "values": None,
    }
    if n:
        delta = right["mean"] - left["mean"]
        merged["mean"] = left["mean"] + delta * right["count"] / n
        merged["m2"] = left["m2"] + right["m2"] + delta**2 * left["count"] * right["count"] / n
    if left["values"] is not None and right["values"] is not None:
        both = np.concatenate([left["values"][0], right["values"][0]])
        weights = np.concatenate([left["values"][1], right["values"][1]])
        distinct, inverse = np.unique(both, return_inverse=True)
        if len(distinct) <= EXACT_DISTINCT:
            merged["values"] = (distinct, np.bincount(inverse, weights=weights).astype("int64"))
    if merged["values"] is None:
        merged["registers"] = np.maximum(_registers_of(left), _registers_of(right))
        merged["sketches"] = _sketches_of(left) + _sketches_of(right)
    return merged


def _categorical_part(values: pd.Series) -> tuple[pd.Series, int]:
    counts = values.value_counts(dropna=True)
    counts = counts[counts > 0]
    counts.index = counts.index.astype(object)  # category indexes do not add up
    return counts, int(values.isna().sum())


def _add_categorical(left: tuple[pd.Series, int], right: tuple[pd.Series, int]) -> tuple:
    return left[0].add(right[0], fill_value=0).astype("int64"), left[1] + right[1]


def _summaries(part: pd.DataFrame, roles: dict[str, str]) -> dict[str, Any]:
    return {
        name: _numeric_part(_as_numbers(part[name]))
        if role == "numeric"
        else _categorical_part(part[name])
        for name, role in roles.items()
    }


def _add_summaries(left: dict[str, Any], right: dict[str, Any], roles: dict[str, str]) -> dict:
    return {
        name: (_add_numeric if role == "numeric" else _add_categorical)(left[name], right[name])
        for name, role in roles.items()
    }


def _as_numbers(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype="float64", na_value=float("nan"))


def _tree(parts: list[Any], combine: Callable[[Any, Any], Any]) -> Any:
    """Add per-partition results up pairwise on the workers: one result comes back."""
    from dask import delayed

    level = list(parts)
    while len(level) > 1:
        level = [
            delayed(combine)(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0]


def _counts_at(
    part: pd.DataFrame, points: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per column: rows <= and < each grid point, and rows < each inner decile edge."""
    import numpy as np

    found = {}
    for name, (grid, inner) in points.items():
        values = _as_numbers(part[name])
        ordered = np.sort(values[np.isfinite(values)])
        found[name] = (
            np.searchsorted(ordered, grid, side="right"),
            np.searchsorted(ordered, grid, side="left"),
            np.searchsorted(ordered, inner, side="left"),
        )
    return found


def _add_counts(left: dict, right: dict) -> dict:
    return {
        name: tuple(a + b for a, b in zip(left[name], right[name], strict=True)) for name in left
    }


# --- assembling ------------------------------------------------------------------------


def profile_columns(frame: Any, roles: dict[str, str], source: str) -> dict[str, ColumnProfile]:
    """The profile of each column of ``frame`` (a dask DataFrame) by its role."""
    import dask
    import numpy as np

    if not roles:
        return {}
    parts = [dask.delayed(_summaries)(part, roles) for part in frame.to_delayed()]
    (total,) = dask.compute(_tree(parts, partial(_add_summaries, roles=roles)))
    profiles: dict[str, ColumnProfile] = {}
    wide: dict[str, dict[str, Any]] = {}
    for name, role in roles.items():
        summary = total[name]
        if role != "numeric":
            counts, nulls = summary
            counts = counts.sort_values(ascending=False, kind="stable")
            profiles[name] = categorical_from_counts(name, counts, nulls, source)
            continue
        n = summary["count"]
        std = float(np.sqrt(summary["m2"] / n)) if n else 0.0
        if summary["values"] is not None or n == 0:
            values, counts = summary["values"] or (np.zeros(0), np.zeros(0, dtype="int64"))
            profiles[name] = numeric_from_counts(
                name, values, counts, summary["nulls"], source, summary["mean"], std
            )
        else:
            wide[name] = {**summary, "std": std}
    if wide:
        profiles.update(_continuous(frame, wide, source))
    return {name: profiles[name] for name in roles}


def _continuous(
    frame: Any, summaries: dict[str, dict[str, Any]], source: str
) -> dict[str, ColumnProfile]:
    """Columns with many distinct values: Dask's quantiles as grid points, exact counts."""
    import dask
    import numpy as np
    from dask.array.percentile import merge_percentiles
    from dask.dataframe.hyperloglog import estimate_count

    names = list(summaries)
    levels = grid_levels()
    decile_levels = np.linspace(0, 1, DECILES + 1)
    points, shown = {}, {}
    for name, summary in summaries.items():
        sketches = summary["sketches"]
        at = merge_percentiles(
            levels * 100,
            [levels * 100] * len(sketches),
            [values for values, _ in sketches],
            "lower",
            [n for _, n in sketches],
            False,
        ).astype("float64")
        low, high = summary["min"], summary["max"]
        at = np.clip(at, low, high)
        at[0], at[-1] = low, high  # the ends exact
        # one point per distinct rank, as locally (tail levels share ranks on few rows)
        _, first = np.unique(np.rint((summary["count"] - 1) * levels), return_index=True)
        grid = np.unique(at[first])
        deciles = np.unique(np.interp(decile_levels, levels, at))
        deciles[0], deciles[-1] = low, high
        inner = deciles[1:-1] if len(deciles) > 2 else deciles[:0]
        points[name] = (grid, inner)
        shown[name] = {f"{q:g}": float(np.interp(q, levels, at)) for q in SHOWN_QUANTILES}
    parts = [dask.delayed(_counts_at)(part, points) for part in frame[names].to_delayed()]
    (counted,) = dask.compute(_tree(parts, _add_counts))
    profiles = {}
    for name, summary in summaries.items():
        n = summary["count"]
        grid, inner = points[name]
        le, lt, positions = counted[name]
        profile = ColumnProfile(name, "numeric", source, n, summary["nulls"])
        profiles[name] = numeric_from_summary(
            profile,
            minimum=summary["min"],
            maximum=summary["max"],
            mean=summary["mean"],
            std=summary["std"],
            distinct=max(
                int(estimate_count(summary["registers"], HLL_BITS)),
                ATOMS_MAX + 1,
                EXACT_DISTINCT + 1,
            ),
            quantiles=shown[name],
            grid=grid,
            le=le,
            lt=lt,
            edges=np.concatenate([[summary["min"]], inner, [summary["max"]]]),
            bin_counts=np.diff(np.concatenate([[0], positions, [n]])),
            atoms=None,
        )
    return profiles


def _prediction_part(frame: pd.DataFrame, task: str, labels: list[Any] | None) -> pd.DataFrame:
    """What monitoring calls the prediction (``prediction_series``), for one partition."""
    import numpy as np
    import pandas as pd

    if task == "binary":  # an empty partition has no probability columns
        scores = frame["proba_1"] if "proba_1" in frame else frame[CODE]
        return pd.DataFrame({PREDICTION: scores.to_numpy(dtype="float64")})
    if task == "multiclass":
        names = np.asarray([str(v) for v in (labels or [])], dtype=object)
        codes = frame[CODE].to_numpy().astype("int64")
        values = names[codes] if len(names) else codes.astype(str)
        return pd.DataFrame({PREDICTION: pd.Series(values, dtype=object)})
    return pd.DataFrame({PREDICTION: frame[CODE].to_numpy(dtype="float64")})


def build_profile_distributed(
    features: Any, roles: dict[str, str], predictions: TestPredictions, labels: list[Any] | None
) -> Profile:
    """The reference profile of the training features (a dask DataFrame) and the
    held-out predictions (kept on the workers by the evaluation)."""
    import dask
    import dask.dataframe as dd
    import pandas as pd

    task = predictions.task
    # held on the workers for the passes below (each would reread the source otherwise)
    features = features[list(roles)].persist()
    columns = profile_columns(features, roles, "feature")
    meta = pd.DataFrame(
        {PREDICTION: pd.Series([], dtype=object if task == "multiclass" else "float64")}
    )
    predicted = dd.from_delayed(
        [dask.delayed(_prediction_part)(part, task, labels) for part in predictions.parts],
        meta=meta,
    )
    first = next(iter(columns.values()), None)
    rows = first.count + first.nulls if first is not None else len(features)
    columns.update(profile_columns(predicted, {PREDICTION: prediction_role(task)}, "prediction"))
    return Profile(columns, rows, predictions.total, task)


def write_profile_distributed(
    package_dir: Path,
    features: Any,
    signature: Any,
    predictions: TestPredictions,
    labels: list[Any] | None,
) -> Path:
    """Write ``profile.json`` into a model package, as the engine's local register step
    does (``framework.monitoring.profile.write_profile``)."""
    profile = build_profile_distributed(features, profile_roles(signature), predictions, labels)
    return save_profile(package_dir, profile)


def check_reload(package: Any, x_rows: pd.DataFrame, predictions: TestPredictions) -> str | None:
    """Predict ``x_rows`` (the first test rows, raw: :func:`evaluation.first_rows`) with
    the reloaded ``package`` and compare with the evaluation's predictions of the same
    rows (:func:`evaluation.head`); what differs, or None. The executor raises
    ``contracts.broken(..., step="register")`` with it, as the local path does."""
    import numpy as np

    _, codes, proba = head(predictions, len(x_rows))
    again, _ = package.predict(x_rows)
    made = proba if proba is not None else codes
    new = again.proba if again.proba is not None else again.codes
    if np.asarray(new).shape != np.asarray(made).shape or not np.allclose(
        np.asarray(new, dtype=float),
        np.asarray(made, dtype=float),
        rtol=1e-6,
        atol=1e-9,
        equal_nan=True,
    ):
        return (
            "predictions differ after save and load; save must keep everything predict "
            "uses, at full precision"
        )
    return None
