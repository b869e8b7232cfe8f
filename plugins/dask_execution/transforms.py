"""Fitting ``preprocess:`` on a Dask cluster into the SAME scikit-learn pipeline as locally.

Public functions (plain inputs: dask DataFrames, components, plugins, ctx)::

    fit_preprocess_distributed(train: dd.DataFrame, transforms: tuple[ComponentSpec, ...],
                               model, plugins, ctx) -> framework.preprocess.FittedPreprocess
        .pipeline: sklearn Pipeline of ColumnTransformers (None: nothing to do), the objects
        framework.preprocess.fit_preprocess makes; .train: the transformed training
        features, a lazy dask frame; .steps: one line per step, as locally.
    transform_distributed(pipeline, ddf: dd.DataFrame) -> dd.DataFrame
        The fitted pipeline applied partition by partition (the test split, batches).
    refusal(component, type_name: str) -> str | None
        Why a transform cannot fit on a cluster (None: it can); for the executor's validate.
    fit_step_distributed(name, type_name, component, current: dd.DataFrame, plugins, ctx)
        -> (fitted step | None, transformed dd.DataFrame, columns)   # one step

How a step is fitted (the protocol a transform component opts in to with a true
``distributed`` attribute; the built-ins in plugins/transforms.py do):

1. ``component.build(frame, ctx)`` receives a small pandas *summary frame* instead of
   the data: the current columns with their dtypes, holding every distinct value of
   each categorical column (numeric columns hold a placeholder). Roles are dtypes, so
   column selection is the same as locally; ordinal's ``order`` checks see every value.
2. The estimator it returns must be built from the scikit-learn types this module
   fits from distributed statistics: SimpleImputer (mean: sum/count; median: exact
   order statistics; most_frequent: value counts, ties to the smallest; constant),
   MissingIndicator (missing counts), StandardScaler (count, mean, centred second
   moment), MinMaxScaler (min, max), RobustScaler (exact median and quartiles, numpy's
   linear interpolation), OneHotEncoder (distinct values; rare categories grouped from
   the exact counts with its own method) and OrdinalEncoder (distinct values), a
   ColumnTransformer of those on named columns, "drop", "passthrough".
3. The statistics are computed with Dask aggregations and exact distributed selection
   (plugins/dask_execution/split.py), then the step is fitted on a *witness frame*: a
   few rows per column whose statistics under scikit-learn are exactly the
   distributed ones (a median as [m, m], a category set as its values, missing values
   where the data has them). What a few rows cannot carry (a scaler's mean, variance,
   sample count, quartiles) is then set from the exact statistics. So the stored
   object is the very class the local fit stores, and ``transform`` on any frame gives
   what the locally fitted pipeline gives (tested within 1e-12: sums add up in
   another order across partitions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework import UserError, role_of
from framework.execution import FittedPreprocess, checked_build, fit_steps, wrap_step

if TYPE_CHECKING:
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd

    from framework import StepContext
    from framework.execution import ComponentSpec, Plugins


def refusal(component: Any, type_name: str) -> str | None:
    """Why ``component`` cannot fit on a cluster, or None when it can."""
    if getattr(component, "distributed", False):
        return None
    why = getattr(component, "distributed_refusal", None)
    return why or (
        f"transform '{type_name}' cannot fit on a Dask cluster (it does not declare a "
        "distributed fit); use impute, scale, one_hot, ordinal or drop, or execution: local"
    )


def fit_preprocess_distributed(
    train: dd.DataFrame,
    transforms: tuple[ComponentSpec, ...],
    model: Any,
    plugins: Plugins,
    ctx: StepContext,
) -> FittedPreprocess:
    """framework.preprocess.fit_preprocess on a dask frame: same steps, same objects."""

    def fit_here(name: str, type_name: str, component: Any, current: Any) -> Any:
        return fit_step_distributed(name, type_name, component, current, plugins, ctx)

    return fit_steps(train, transforms, model, plugins, fit_here, lambda current: current._meta)


def transform_distributed(pipeline: Any, ddf: dd.DataFrame) -> dd.DataFrame:
    """``pipeline.transform`` on each partition (an empty partition stays empty)."""
    if pipeline is None:
        return ddf
    meta = pipeline.transform(as_local(ddf._meta_nonempty)).iloc[:0]
    return ddf.map_partitions(_transform, pipeline, _Empty(meta), meta=meta)


class _Empty:
    """The output of a partition without rows. Held in an object, not passed as a frame:
    Dask would turn a pandas frame argument into a collection and align the partitions
    with it (a repartition of the whole table, seconds per step)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame


def _transform(part: pd.DataFrame, fitted: Any, empty: _Empty) -> pd.DataFrame:
    if len(part) == 0:  # scikit-learn refuses 0 rows; a filtered partition may have none
        return empty.frame.copy()
    return fitted.transform(as_local(part))


def as_local(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as pandas' own ``str`` (missing = NaN), not Dask's ``string[pyarrow]``
    (missing = pd.NA, which scikit-learn's encoders and imputers refuse): what the
    local pipeline sees, so it is what the distributed one is fitted and applied on."""
    import numpy as np
    import pandas as pd

    changed = _pd_na_text(frame)
    if not changed:
        return frame
    return frame.astype(
        {name: pd.StringDtype(frame[name].dtype.storage, na_value=np.nan) for name in changed}
    )


def _pd_na_text(frame: pd.DataFrame) -> list[str]:
    """The text columns whose missing value is pd.NA (equal to ``str`` by ``==``)."""
    import pandas as pd

    return [
        name
        for name, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA
    ]


def _local_frames(current: dd.DataFrame) -> dd.DataFrame:
    """``current`` with :func:`as_local` applied to each partition (when it changes any)."""
    if not _pd_na_text(current._meta):
        return current
    return current.map_partitions(as_local, meta=as_local(current._meta))


KEEP_SHARE = 0.25
"""A step's input is kept in the workers' memory between passes when its estimated size
is at most this share of the cluster's memory; else each pass computes it again."""
TEXT_BYTES = 64
"""Estimated bytes of a text value in memory (numbers: their item size)."""


def _kept(current: dd.DataFrame, rows: int) -> dd.DataFrame:
    """The step's input kept in the workers' memory for the passes after the first (order
    statistics, moments), so the previous steps' transforms run once more, not once a
    pass; released when the next step keeps its own input. Only on a distributed cluster
    with room for it: without one, persisting would fill this process's memory."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        return current
    workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
    memory = sum(int(w.get("memory_limit") or 0) for w in workers)
    width = sum(
        dtype.itemsize if getattr(dtype, "kind", "O") in "biufcmM" else TEXT_BYTES
        for dtype in current._meta.dtypes
    )
    if not memory or rows * width > memory * KEEP_SHARE:
        return current
    return current.persist()


# --- statistics ---------------------------------------------------------------


@dataclass
class Stats:
    """What the cluster told us about the current columns."""

    rows: int
    count: dict[str, int]  # non-missing values per column
    sums: dict[str, float] = field(default_factory=dict)
    minimum: dict[str, Any] = field(default_factory=dict)
    maximum: dict[str, Any] = field(default_factory=dict)
    values: dict[str, pd.Series] = field(default_factory=dict)  # value -> count, no missing
    order: dict[tuple[str, int], float] = field(default_factory=dict)  # (column, k) -> value
    centred: dict[str, tuple[float, float]] = field(default_factory=dict)  # S1, S2 about mean

    def missing(self, column: str) -> bool:
        return self.count[column] < self.rows

    def mean(self, column: str) -> float:
        n = self.count[column]
        return self.sums[column] / n if n else float("nan")

    def distinct(self, column: str) -> list[Any]:
        counts = self.values[column]
        return [_python(v) for v in counts.index[counts.to_numpy() > 0]]

    def most_frequent(self, column: str) -> Any:
        """scikit-learn's choice: the most frequent value, the smallest among ties."""
        counts = self.values[column]
        counts = counts[counts > 0]
        if counts.empty:
            return float("nan")
        top = counts.max()
        return min(_python(v) for v in counts.index[counts.to_numpy() == top])

    def median(self, column: str) -> float:
        n = self.count[column]
        if n == 0:
            return float("nan")
        if n % 2:
            return self.order[(column, (n + 1) // 2)]
        return (self.order[(column, n // 2)] + self.order[(column, n // 2 + 1)]) / 2.0

    def percentile(self, column: str, q: float) -> float:
        """numpy's ``nanpercentile`` (method linear) from the exact order statistics."""
        import numpy as np

        n = self.count[column]
        if n == 0:
            return float("nan")
        virtual = (n - 1) * np.float64(np.true_divide(q, 100))
        if virtual >= n - 1:
            return self.order[(column, n)]
        below = int(np.floor(virtual))
        a = np.float64(self.order[(column, below + 1)])
        b = np.float64(self.order[(column, below + 2)])
        t = np.float64(virtual - below)
        diff = b - a
        return float(b - diff * (1 - t) if t >= 0.5 else a + diff * t)


def _percentile_ranks(n: int, q: float) -> list[int]:
    """The 1-based ranks numpy's linear percentile reads for ``n`` values."""
    import numpy as np

    if n == 0:
        return []
    virtual = (n - 1) * np.float64(np.true_divide(q, 100))
    if virtual >= n - 1:
        return [n]
    below = int(np.floor(virtual))
    return [below + 1, below + 2]


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _numeric(frame: pd.DataFrame, column: str) -> bool:
    return role_of(frame[column]) in ("numeric", "boolean")


def basic_stats(current: dd.DataFrame) -> Stats:
    """One pass: rows, non-missing counts, sums/min/max of numeric columns and the value
    counts of the others (their distinct values: what ``build`` and encoders need)."""
    import dask

    meta = current._meta
    names = [str(c) for c in meta.columns]
    numeric = [c for c in names if role_of(meta[c]) == "numeric"]
    other = [c for c in names if c not in numeric]
    wanted: dict[str, Any] = {
        "rows": current.map_partitions(len).sum(),
        "count": current.count(),
    }
    if numeric:
        as_float = current[numeric].astype("float64")
        wanted |= {"sums": as_float.sum(), "min": as_float.min(), "max": as_float.max()}
    for name in other:
        wanted[f"values:{name}"] = current[name].value_counts(dropna=True, split_out=1)
    (got,) = dask.compute(wanted)
    stats = Stats(int(got["rows"]), {c: int(got["count"][c]) for c in names})
    if numeric:
        stats.sums = {c: float(got["sums"][c]) for c in numeric}
        stats.minimum = {c: float(got["min"][c]) for c in numeric}
        stats.maximum = {c: float(got["max"][c]) for c in numeric}
    for name in other:
        stats.values[name] = got[f"values:{name}"]
    return stats


def column_keys(part: pd.DataFrame, columns: list[str]) -> dict[int, np.ndarray]:
    """Each non-missing value of ``columns`` as an order-preserving uint64 key, by the
    column's position: what the exact distributed selection ranks, read per partition."""
    import numpy as np

    from plugins.dask_execution.split import float_keys

    keys = {}
    for code, name in enumerate(columns):
        values = part[name].to_numpy(dtype="float64", na_value=np.nan)
        keys[code] = float_keys(values[~np.isnan(values)])
    return keys


def add_order_statistics(current: dd.DataFrame, stats: Stats, ranks: dict[str, set[int]]) -> None:
    """The exact k-th smallest values asked for (per column), into ``stats.order``. The
    keys are computed from the data in each round, never kept: a median of many columns
    costs a few passes, not memory."""
    from functools import partial

    from plugins.dask_execution.split import key_float, order_statistics

    ranks = {c: r for c, r in ranks.items() if r}
    if not ranks:
        return
    columns = sorted(ranks)
    sizes = {code: stats.count[c] for code, c in enumerate(columns)}
    requests = {(c, k): (code, k) for code, c in enumerate(columns) for k in ranks[c]}
    produce = partial(column_keys, columns=columns)
    found = order_statistics(current[columns], requests, sizes, produce)
    for request, selected in found.items():
        stats.order[request] = key_float(selected.value)


def add_centred_moments(current: dd.DataFrame, stats: Stats, columns: list[str]) -> None:
    """Per column, sum(x - mean) and sum((x - mean)^2): the variance as scikit-learn
    computes it (two passes with its correction term), summed over partitions."""
    import dask
    import numpy as np

    from plugins.dask_execution.split import combine_on_workers

    if not columns:
        return
    means = np.array([stats.mean(c) for c in columns], dtype="float64")
    parts = [
        dask.delayed(_centred_sums)(part, columns, means) for part in current[columns].to_delayed()
    ]
    (sums,) = dask.compute(combine_on_workers(parts, np.add))
    for i, c in enumerate(columns):
        stats.centred[c] = (float(sums[0, i]), float(sums[1, i]))


def _centred_sums(part: pd.DataFrame, columns: list[str], means: np.ndarray) -> np.ndarray:
    import numpy as np

    centred = part[columns].to_numpy(dtype="float64", na_value=np.nan) - means
    return np.stack([np.nansum(centred, axis=0), np.nansum(centred**2, axis=0)])


def add_value_counts(current: dd.DataFrame, stats: Stats, columns: list[str]) -> None:
    """Count the values of ``columns`` not counted yet, in one pass for all of them."""
    import dask

    missing = [c for c in columns if c not in stats.values]
    if missing:
        wanted = {c: current[c].value_counts(dropna=True, split_out=1) for c in missing}
        (counts,) = dask.compute(wanted)
        stats.values.update(counts)


# --- leaves: what each estimator needs and how it is fitted -------------------------


def _leaves(
    estimator: Any, columns: list[str], type_name: str, fitted: bool = False
) -> list[tuple[Any, list[str]]]:
    """The estimators a step is made of, each with its column names (``fitted``: the
    fitted clones a ColumnTransformer holds after ``fit``)."""
    from sklearn.compose import ColumnTransformer

    if isinstance(estimator, ColumnTransformer):
        found = []
        parts = estimator.transformers_ if fitted else estimator.transformers
        for name, inner, inner_columns in parts:
            if fitted and name == "remainder":
                continue
            names = [inner_columns] if isinstance(inner_columns, str) else list(inner_columns)
            if not all(isinstance(n, str) for n in names):
                raise _cannot(type_name, "a ColumnTransformer selecting columns by position")
            found += _leaves(inner, names, type_name, fitted)
        return found
    return [(estimator, columns)]


def _cannot(type_name: str, what: str) -> UserError:
    return UserError(
        f"transform '{type_name}' built {what}, which cannot be fitted on a Dask cluster; "
        "use the built-in transforms or execution: local"
    )


def _kind(estimator: Any, type_name: str) -> str:
    from sklearn import impute, preprocessing

    if isinstance(estimator, str) and estimator in ("drop", "passthrough"):
        return estimator
    kinds = {
        impute.SimpleImputer: "impute",
        impute.MissingIndicator: "indicator",
        preprocessing.StandardScaler: "standard",
        preprocessing.MinMaxScaler: "minmax",
        preprocessing.RobustScaler: "robust",
        preprocessing.OneHotEncoder: "encoder",
        preprocessing.OrdinalEncoder: "encoder",
    }
    kind = kinds.get(type(estimator))
    if kind is None:
        raise _cannot(type_name, f"a {type(estimator).__name__}")
    if (
        kind == "encoder"
        and type(estimator) is not preprocessing.OneHotEncoder
        and (
            getattr(estimator, "max_categories", None) is not None
            or getattr(estimator, "min_frequency", None) is not None
        )
    ):
        raise _cannot(type_name, "an ordinal encoder grouping infrequent categories")
    if kind == "impute" and (
        estimator.add_indicator or estimator.keep_empty_features or not _nan(estimator)
    ):
        raise _cannot(type_name, "a SimpleImputer with options other than the built-in's")
    if kind == "indicator" and (estimator.features != "missing-only" or not _nan(estimator)):
        raise _cannot(type_name, "a MissingIndicator with options other than the built-in's")
    return kind


def _nan(estimator: Any) -> bool:
    value = estimator.missing_values
    return isinstance(value, float) and value != value


def _gather_needs(
    leaves: list[tuple[Any, str, list[str]]], current: dd.DataFrame, stats: Stats
) -> None:
    """Compute what the leaves need beyond the first pass (order statistics, moments,
    value counts of numeric columns)."""
    meta = current._meta
    ranks: dict[str, set[int]] = {}
    moments: list[str] = []
    counted: list[str] = []
    for estimator, kind, columns in leaves:
        for c in columns:
            n = stats.count[c]
            if kind == "impute" and estimator.strategy == "median" and n:
                ranks.setdefault(c, set()).update({(n + 1) // 2} if n % 2 else {n // 2, n // 2 + 1})
            elif kind == "impute" and estimator.strategy == "most_frequent":
                counted.append(c)
            elif kind == "robust" and n:
                wanted = ranks.setdefault(c, set())
                if estimator.with_centering:
                    wanted.update({(n + 1) // 2} if n % 2 else {n // 2, n // 2 + 1})
                if estimator.with_scaling:
                    for q in estimator.quantile_range:
                        wanted.update(_percentile_ranks(n, q))
            elif kind == "standard":
                moments.append(c)
            elif kind == "encoder":
                counted.append(c)
    numeric_counted = [c for c in dict.fromkeys(counted) if _numeric(meta, c)]
    add_value_counts(current, stats, numeric_counted)
    add_order_statistics(current, stats, ranks)
    add_centred_moments(current, stats, list(dict.fromkeys(moments)))


def _witness_values(estimator: Any, kind: str, column: str, stats: Stats) -> list[Any]:
    """A few values whose statistic under ``estimator`` is the data's, exactly."""
    nan = float("nan")
    if stats.count[column] == 0:
        return [nan, nan, nan]
    last = nan if stats.missing(column) else None
    if kind == "impute":
        strategy = estimator.strategy
        if strategy == "mean":
            value = stats.mean(column)
        elif strategy == "median":
            value = stats.median(column)
        elif strategy == "most_frequent":
            value = stats.most_frequent(column)
        else:
            value = _any_value(column, stats)
        return [value, value, value if last is None else last]
    if kind == "minmax":
        low, high = stats.minimum[column], stats.maximum[column]
        return [low, high, high if last is None else last]
    if kind == "encoder":
        values = stats.distinct(column)
        return values + ([] if last is None else [last])
    value = _any_value(column, stats)  # indicator, scalers set later, drop, passthrough
    return [value, value, value if last is None else last]


def _any_value(column: str, stats: Stats) -> Any:
    if column in stats.minimum:
        return stats.minimum[column]
    values = stats.distinct(column) if column in stats.values else []
    return values[0] if values else float("nan")


def _frame(meta: pd.DataFrame, columns: dict[str, list[Any]], float_columns: set[str]) -> Any:
    """A pandas frame with ``meta``'s columns and dtypes holding the given values (each
    list repeated from its start to the longest length)."""
    import pandas as pd

    length = max((len(v) for v in columns.values()), default=1) or 1
    data = {}
    for name in meta.columns:
        values = columns.get(str(name)) or [float("nan")]
        values = values + [values[0]] * (length - len(values))
        data[name] = _typed(values, meta[name], str(name) in float_columns)
    return pd.DataFrame(data)


def _typed(values: list[Any], like: pd.Series, as_float: bool) -> pd.Series:
    import pandas as pd

    dtype = like.dtype
    if as_float:
        return pd.Series(values, dtype="float64")
    if isinstance(dtype, pd.CategoricalDtype):
        known = "__UNKNOWN_CATEGORIES__" not in list(dtype.categories)
        return pd.Series(pd.Categorical(values, dtype=dtype if known else None))
    try:
        typed = pd.Series(values).astype(dtype)
    except (TypeError, ValueError):
        return pd.Series(values)
    present = pd.Series(values).notna()
    if typed[present].tolist() != pd.Series(values)[present].tolist():  # e.g. 2.5 as int
        return pd.Series(values, dtype="float64")
    return typed


def _set_exact(estimator: Any, kind: str, columns: list[str], stats: Stats) -> None:
    """What the witness rows cannot carry, set from the exact statistics."""
    import numpy as np

    if kind == "minmax":
        estimator.n_samples_seen_ = stats.rows
    elif kind == "standard":
        _set_standard(estimator, columns, stats)
    elif kind == "robust":
        present = [i for i, c in enumerate(columns) if stats.count[c]]
        if estimator.with_centering:
            for i in present:
                estimator.center_[i] = stats.median(columns[i])
        if estimator.with_scaling:
            low, high = estimator.quantile_range
            spread = np.array(
                [
                    stats.percentile(c, high) - stats.percentile(c, low)
                    if stats.count[c]
                    else estimator.scale_[i]
                    for i, c in enumerate(columns)
                ],
                dtype="float64",
            )
            estimator.scale_ = _zeros_to_one(spread)


def _set_standard(estimator: Any, columns: list[str], stats: Stats) -> None:
    import numpy as np

    counts = np.array([stats.count[c] for c in columns], dtype="int64")
    seen = [i for i, c in enumerate(columns) if stats.count[c]]
    if estimator.mean_ is not None:
        mean = np.asarray(estimator.mean_, dtype="float64").copy()
        var = None if estimator.var_ is None else np.asarray(estimator.var_, dtype="float64")
        for i in seen:
            c = columns[i]
            mean[i] = stats.mean(c)
            if var is not None:
                first, second = stats.centred[c]
                var[i] = (second - first**2 / counts[i]) / counts[i]
        estimator.mean_ = mean
        estimator.var_ = var
    estimator.n_samples_seen_ = counts[0] if counts.max() == counts.min() else counts
    if estimator.with_std:
        var = estimator.var_
        eps = np.finfo(np.float64).eps
        n = estimator.n_samples_seen_
        constant = var <= n * eps * var + (n * estimator.mean_ * eps) ** 2
        scale = np.sqrt(var)
        scale[constant] = 1.0
        estimator.scale_ = scale


def _group_infrequent(encoder: Any, columns: list[str], stats: Stats) -> None:
    """A one-hot encoder's grouping of rare categories, from the exact counts: what
    scikit-learn's fit does after counting (its own method, given the whole table's
    counts instead of the witness rows' ones)."""
    import numpy as np

    counts = []
    for column, categories in zip(columns, encoder.categories_, strict=True):
        seen = {_python(v): int(n) for v, n in stats.values[column].items()}
        row = []
        for category in categories:
            value = _python(category)
            if isinstance(value, float) and value != value:  # missing: a category too
                row.append(stats.rows - stats.count[column])
            else:
                row.append(seen.get(value, 0))
        counts.append(np.array(row, dtype="int64"))
    # one-hot counts missing values as a category that may be rare (no missing_indices)
    encoder._fit_infrequent_category_mapping(stats.rows, counts, {})
    encoder._set_drop_idx()
    encoder._n_features_outs = encoder._compute_n_features_outs()


def _record_outputs(step: Any, name: str, leaf: Any, columns: list[str]) -> None:
    """The ColumnTransformer's record of which output columns each part made."""
    made = len(leaf.get_feature_names_out(columns))
    passed = len(step.feature_names_in_) - len(columns)
    step.output_indices_[name] = slice(0, made)
    step.output_indices_["remainder"] = slice(made, made + passed) if passed else slice(0, 0)


def _zeros_to_one(scale: np.ndarray) -> np.ndarray:
    """scikit-learn's treatment of a zero spread: scale 1 (no division by ~0)."""
    import numpy as np

    scale = scale.copy()
    scale[scale < 10 * np.finfo(scale.dtype).eps] = 1.0
    return scale


# --- one step -----------------------------------------------------------------------


def fit_step_distributed(
    name: str,
    type_name: str,
    component: Any,
    current: dd.DataFrame,
    plugins: Plugins,
    ctx: StepContext,
) -> tuple[Any | None, dd.DataFrame, list[str]]:
    """Build, fit and apply one step: the fitted ColumnTransformer (None when the step
    has no columns), the data after it (lazy) and its columns."""
    current = _local_frames(current)
    meta = current._meta
    stats = basic_stats(current)
    current = _kept(current, stats.rows)
    summary = _frame(
        meta,
        {str(c): stats.distinct(str(c)) for c in meta.columns if str(c) in stats.values},
        set(),
    )
    built = component.build(summary, ctx)
    estimator, columns = checked_build(plugins, type_name, built, summary.columns)
    if not columns:
        return None, current, columns
    leaves = [(e, _kind(e, type_name), cols) for e, cols in _leaves(estimator, columns, type_name)]
    _gather_needs(leaves, current, stats)
    witness: dict[str, list[Any]] = {}
    floats: set[str] = set()
    for leaf, kind, leaf_columns in leaves:
        for c in leaf_columns:
            values = _witness_values(leaf, kind, c, stats)
            if c in witness and kind == "indicator":
                continue  # the imputer's rows already carry the missing values
            witness[c] = values
            if kind in ("standard", "minmax", "robust") or (
                kind == "impute" and leaf.strategy in ("mean", "median")
            ):
                floats.add(c)
    for c in meta.columns:
        witness.setdefault(str(c), [_any_value(str(c), stats)])
    frame = _frame(meta, witness, floats)
    step = wrap_step(name, estimator, columns)
    step.fit(frame)
    fitted = step.named_transformers_[name]
    for leaf, leaf_columns in _leaves(fitted, columns, type_name, fitted=True):
        _set_exact(leaf, _kind(leaf, type_name), leaf_columns, stats)
        if getattr(leaf, "_infrequent_enabled", False):
            _group_infrequent(leaf, leaf_columns, stats)
            if leaf is fitted:  # the step's output columns changed with the grouping
                _record_outputs(step, name, leaf, columns)
    out_meta = step.transform(frame).iloc[:0]
    transformed = current.map_partitions(_transform, step, _Empty(out_meta), meta=out_meta)
    return step, transformed, columns


__all__ = [
    "Stats",
    "fit_preprocess_distributed",
    "fit_step_distributed",
    "refusal",
    "transform_distributed",
]
