"""The train/test split on a Dask cluster: the same rows as the local split, exactly.

Public functions (plain inputs: dask DataFrames, column names, components)::

    refusal(splitter, type_name: str, ctx) -> str | None
        Why this splitter cannot split on a cluster (None: it can). For the executor's
        validate: random/stratified (method: content) and time can; method: shuffle and
        splitters without a content rule (or a time rule) cannot.
    split_distributed(ddf, rule: ContentRule, *, fingerprint: str | None = None,
                      columns: list[str] | None = None, target: str | None = None) -> DaskSplit
        ``fingerprint``: a column of ``ddf`` holding each row's uint64 fingerprint
        (framework.training_rows.row_hashes over features + target), or ``columns``:
        the columns to hash per partition. ``target`` is required when ``rule.stratify``.
    kth_smallest_distributed(keys: dask DataFrame with columns "key" (uint64) and
                             optionally "group", wanted: {group: k}) -> {group: Selected}
        The exact k-th smallest key per group, found without gathering the keys.
    order_statistics(data, requests: {name: (group, k)}, sizes=None, produce=keys_by_group)
        -> {name: Selected}
        Several at once (a median's two middle values, quartiles), sharing the rounds;
        ``produce(partition) -> {group: uint64 keys}`` reads any dask frame (the keys are
        never materialised between rounds). A prefix holding one value ends at once.
    group_sizes(data, produce=keys_by_group) -> {group: keys}
    combine_on_workers(parts: list[Delayed], combine) -> Delayed
        Pairwise reduction of per-partition results on the workers (one result to compute).
    time_split_distributed(ddf, splitter: plugins.splits.TimeSplit) -> DaskSplit
        The time split: an exact distributed cutoff (the time ``ceil(rows * test_size)``
        rows from the end) or the spec's, rows at or after it are test; DaskSplit.cutoff,
        and DaskSplit.entry: the lineage's training_rows record (the splitter's
        time_rule: column and cutoff), what the gate and monitoring leave out later.
    DaskSplit: train, test (lazy dask DataFrames, the fingerprint column kept when given),
        train_rows, test_rows (exact counts), thresholds {group: uint64} (None = no
        strata), test_by_class {group: rows}.

The rule (framework.execution.rows): test rows are those whose ``u = mix(fingerprint,
seed)`` is at most the k-th smallest ``u`` (per class when stratified). The threshold
is found by an exact distributed selection: each partition sends a histogram of the
top 16 bits of its ``u`` (per class); the bin holding the k-th value is then either
gathered (its distinct values with counts, a few hundred rows on any realistic data)
or refined by the next 16 bits, so no more than a bin ever reaches the client. Then
``u <= threshold`` is applied partition by partition. Nothing depends on how the
data is partitioned, so 1 or 100 partitions, and pandas, choose the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework import role_of
from framework.execution import ContentRule, check_counts, class_test_counts, mix

if TYPE_CHECKING:
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd

BITS = 16
"""Bits of the key each histogram round looks at: 65,536 bins (512 KiB a class)."""
GATHER_LIMIT = 1 << 17
"""A bin with at most this many rows is gathered (distinct values and counts) rather than
refined: the most the client ever receives in one round, per class."""
MAX_HISTOGRAM_CELLS = 1 << 22
"""Bins x classes per histogram (32 MiB): with many classes each round looks at fewer bits."""
NO_GROUP = "__all__"


@dataclass(frozen=True)
class Selected:
    """The k-th smallest key of a group, and how many of the group's rows are <= it
    (more than k when the k-th value is repeated: duplicates go together)."""

    value: int
    at_most: int
    rows: int


@dataclass
class DaskSplit:
    """Both sides as lazy dask frames, with their exact sizes."""

    train: dd.DataFrame
    test: dd.DataFrame
    train_rows: int
    test_rows: int
    thresholds: dict[Hashable, int] | None
    """Per class (stratified) the largest ``u`` of a test row; None for a random split."""
    threshold: int | None = None
    """The random split's threshold (None when stratified)."""
    test_by_class: dict[Hashable, int] = field(default_factory=dict)
    cutoff: Any = None
    """A time split's first test time (rows at or after it are test rows)."""
    entry: dict[str, Any] | None = None
    """A time split's ``training_rows`` lineage entry (a content split's is built by the
    executor from the rule and thresholds)."""


def refusal(splitter: Any, type_name: str, ctx: Any) -> str | None:
    """Why ``splitter`` cannot split on a cluster, or None when it can."""
    declare = getattr(splitter, "content_rule", None)
    if getattr(splitter, "distributed", False) and callable(declare) and declare(ctx) is not None:
        return None
    if getattr(splitter, "distributed", False) and is_time_split(splitter):
        return None
    if getattr(splitter, "method", None) == "shuffle":
        return (
            f"split '{type_name}' with method: shuffle needs the whole table in one process; "
            "use method: content (the default), or execution: local"
        )
    return (
        f"split '{type_name}' cannot run on a Dask cluster: it needs the whole table in one "
        "process; use type: random, stratified (they split by row content, the same rows "
        "as locally) or time, or execution: local"
    )


TIME_PROTOCOL = (
    "column",
    "cutoff",
    "check_times",
    "check_complete",
    "check_sides",
    "latest_rows",
    "given_cutoff",
)
"""What :func:`time_split_distributed` reads of a time splitter, beside ``time_rule``."""


def is_time_split(splitter: Any) -> bool:
    """A splitter :func:`time_split_distributed` can run: it orders rows by a column and
    records its rows as a time rule (``time_rule(cutoff, train_rows)``)."""
    return callable(getattr(splitter, "time_rule", None)) and all(
        hasattr(splitter, name) for name in TIME_PROTOCOL
    )


# --- exact distributed selection ---------------------------------------------


def _groups_of(part: pd.DataFrame) -> tuple[list[Hashable], list[np.ndarray]]:
    """The partition's groups and, for each, the positions of its rows."""
    import numpy as np
    import pandas as pd

    if "group" not in part.columns:
        return [NO_GROUP], [np.arange(len(part))]
    codes, uniques = pd.factorize(part["group"], sort=False, use_na_sentinel=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(uniques)))])
    labels = [group_label(u) for u in uniques]
    return labels, [order[bounds[i] : bounds[i + 1]] for i in range(len(labels))]


MISSING_GROUP = "\x00missing"
"""The group of rows whose class is missing (NaN is not equal to itself: no dict key)."""


def group_label(value: Any) -> Hashable:
    """A class value as a plain, hashable group label."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return MISSING_GROUP
    return value.item() if hasattr(value, "item") else value


def keys_by_group(part: pd.DataFrame) -> dict[Hashable, np.ndarray]:
    """The default producer: a frame's uint64 ``key`` column, split by its ``group``."""
    keys = part["key"].to_numpy(dtype="uint64")
    return {label: keys[rows] for label, rows in zip(*_groups_of(part), strict=True)}


Producer = Callable[[Any], dict[Hashable, "np.ndarray"]]
"""A partition -> its keys per group: how the selection reads a partition."""


def _in_prefix(keys: np.ndarray, consumed: int, prefix: int) -> np.ndarray:
    import numpy as np

    if consumed == 0:
        return keys
    return keys[(keys >> np.uint64(64 - consumed)) == np.uint64(prefix)]


def _histograms(part: Any, produce: Producer, plan: dict[Hashable, tuple]) -> dict:
    """Per request (group, consumed bits, prefix, bits): counts of the next bits, and the
    smallest and largest key in the prefix (equal: the prefix holds one value)."""
    import numpy as np

    keys = produce(part)
    out = {}
    for request, (label, consumed, prefix, bits) in plan.items():
        if label not in keys:
            continue
        mine = _in_prefix(keys[label], consumed, prefix)
        if not len(mine):
            continue
        bins = (mine >> np.uint64(64 - consumed - bits)) & np.uint64((1 << bits) - 1)
        counts = np.bincount(bins.astype("int64"), minlength=1 << bits).astype("int64")
        out[request] = (counts, int(mine.min()), int(mine.max()))
    return out


def _gathered(part: Any, produce: Producer, plan: dict[Hashable, tuple]) -> dict:
    """Per request (group, consumed bits, prefix): the distinct keys there, with counts."""
    import numpy as np

    keys = produce(part)
    out = {}
    for request, (label, consumed, prefix) in plan.items():
        if label in keys:
            out[request] = np.unique(_in_prefix(keys[label], consumed, prefix), return_counts=True)
    return out


def _add_histograms(left: dict, right: dict) -> dict:
    merged = dict(left)
    for label, (counts, low, high) in right.items():
        if label in merged:
            before, low_before, high_before = merged[label]
            merged[label] = (before + counts, min(low, low_before), max(high, high_before))
        else:
            merged[label] = (counts, low, high)
    return merged


def _add_gathered(left: dict, right: dict) -> dict:
    import numpy as np

    merged = dict(left)
    for label, (values, counts) in right.items():
        if label in merged:
            both = np.concatenate([merged[label][0], values])
            weights = np.concatenate([merged[label][1], counts])
            distinct, inverse = np.unique(both, return_inverse=True)
            merged[label] = (distinct, np.bincount(inverse, weights=weights).astype("int64"))
        else:
            merged[label] = (values, counts)
    return merged


def combine_on_workers(parts: list[Any], combine: Callable[[Any, Any], Any]) -> Any:
    """Combine per-partition results pairwise on the workers: the client gets one."""
    import dask

    level = list(parts)
    if not level:
        return dask.delayed(dict)()
    while len(level) > 1:
        level = [
            dask.delayed(combine)(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0]


def _round(
    data: dd.DataFrame, produce: Producer, task: Callable[..., dict], plan: dict, combine: Callable
) -> dict:
    import dask

    parts = [dask.delayed(task)(part, produce, plan) for part in data.to_delayed()]
    (result,) = dask.compute(combine_on_workers(parts, combine))
    return result


def group_sizes(data: dd.DataFrame, produce: Producer = keys_by_group) -> dict[Hashable, int]:
    """Keys per group (one pass)."""
    import dask

    def count(part: Any, produce: Producer) -> dict:
        return {label: len(keys) for label, keys in produce(part).items() if len(keys)}

    def add(left: dict, right: dict) -> dict:
        merged = dict(left)
        for label, n in right.items():
            merged[label] = merged.get(label, 0) + n
        return merged

    parts = [dask.delayed(count)(part, produce) for part in data.to_delayed()]
    (sizes,) = dask.compute(combine_on_workers(parts, add))
    return sizes


def kth_smallest_distributed(
    keys: dd.DataFrame, wanted: dict[Hashable, int], sizes: dict[Hashable, int] | None = None
) -> dict[Hashable, Selected]:
    """The exact ``wanted[group]``-th smallest (1-based) uint64 ``key`` of each group.

    ``keys`` has a uint64 column ``key`` and, for groups, a column ``group`` (without it
    every row is in the group ``NO_GROUP``). Each round sends one histogram (or one
    bin's distinct values) per group and partition through a tree of additions on the
    workers; at most four rounds of 16 bits reach the exact value.
    """
    requests = {label: (label, k) for label, k in wanted.items()}
    return order_statistics(keys, requests, sizes)


def order_statistics(
    data: dd.DataFrame,
    requests: dict[Hashable, tuple[Hashable, int]],
    sizes: dict[Hashable, int] | None = None,
    produce: Producer = keys_by_group,
) -> dict[Hashable, Selected]:
    """Several exact order statistics at once: ``requests[name] = (group, k)`` asks for the
    k-th smallest key of ``group``; the rounds are shared by all requests. ``produce``
    reads a partition of ``data`` into its keys per group (default: a frame's ``key``
    and ``group`` columns), so the keys need not be materialised between rounds."""
    import numpy as np

    bits = BITS
    while bits > 4 and len(requests) * (1 << bits) > MAX_HISTOGRAM_CELLS:
        bits -= 2
    if sizes is None:
        sizes = group_sizes(data, produce)
    # per request: group, bits consumed, prefix of those bits, k within, rows below, rows in
    state = {name: (label, 0, 0, k, 0, sizes[label]) for name, (label, k) in requests.items()}
    found: dict[Hashable, Selected] = {}
    while state:
        gather = {
            name: (label, c, p)
            for name, (label, c, p, _k, _below, n) in state.items()
            if n <= GATHER_LIMIT
        }
        refine = {
            name: (label, c, p, min(bits, 64 - c))
            for name, (label, c, p, *_) in state.items()
            if name not in gather
        }
        if gather:
            values = _round(data, produce, _gathered, gather, _add_gathered)
            for name in gather:
                label, _consumed, _prefix, k, below, _n = state.pop(name)
                distinct, counts = values[name]
                running = np.cumsum(counts)
                at = int(np.searchsorted(running, k, side="left"))
                found[name] = Selected(int(distinct[at]), below + int(running[at]), sizes[label])
        if refine:
            histograms = _round(data, produce, _histograms, refine, _add_histograms)
            for name, (label, consumed, prefix, width) in refine.items():
                k, below = state[name][3], state[name][4]
                counts, low, high = histograms[name]
                if low == high:  # the prefix holds a single value (a constant, a 0/1 column)
                    state.pop(name)
                    found[name] = Selected(low, below + int(counts.sum()), sizes[label])
                    continue
                running = np.cumsum(counts)
                at = int(np.searchsorted(running, k, side="left"))
                before = int(running[at - 1]) if at else 0
                in_bin = int(running[at]) - before
                consumed += width
                prefix = (prefix << width) | at
                if consumed == 64:  # the bin is one value
                    state.pop(name)
                    found[name] = Selected(prefix, below + before + in_bin, sizes[label])
                else:
                    state[name] = (label, consumed, prefix, k - before, below + before, in_bin)
    return found


# --- order-preserving keys ----------------------------------------------------------


def float_keys(values: np.ndarray) -> np.ndarray:
    """float64 -> uint64 with the same order (negative numbers' bits reversed): numbers
    ranked by the exact selection above (medians, quartiles, a time cutoff)."""
    import numpy as np

    bits = np.ascontiguousarray(values, dtype="float64").view("uint64")
    negative = (bits >> np.uint64(63)) == np.uint64(1)
    return np.where(negative, ~bits, bits | np.uint64(1 << 63))


def key_float(key: int) -> float:
    """The float64 a key of :func:`float_keys` stands for."""
    import numpy as np

    bits = np.uint64(key)
    raw = bits ^ np.uint64(1 << 63) if bits >> np.uint64(63) else ~bits
    return float(np.array([raw], dtype="uint64").view("float64")[0])


def int_keys(values: np.ndarray) -> np.ndarray:
    """int64 -> uint64 with the same order (the sign bit flipped): datetimes' ticks."""
    import numpy as np

    return np.asarray(values, dtype="int64").view("uint64") ^ np.uint64(1 << 63)


def key_int(key: int) -> int:
    """The int64 a key of :func:`int_keys` stands for (that one adds 2**63)."""
    return int(key) - (1 << 63)


# --- the split -----------------------------------------------------------------


def _fingerprints(
    part: pd.DataFrame, fingerprint: str | None, columns: list[str] | None
) -> np.ndarray:
    """The rows' fingerprints: the column computed at ingest, else hashed here."""
    if fingerprint is not None:
        return part[fingerprint].to_numpy(dtype="uint64")
    from framework.execution import row_hashes

    return row_hashes(part, list(columns or []))


def _keys_partition(
    part: pd.DataFrame,
    rule: ContentRule,
    fingerprint: str | None,
    columns: list[str] | None,
    target: str | None,
) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({"key": mix(_fingerprints(part, fingerprint, columns), rule.seed)})
    if rule.stratify:
        frame["group"] = part[target].to_numpy()
    return frame


def _side(
    part: pd.DataFrame,
    rule: ContentRule,
    fingerprint: str | None,
    columns: list[str] | None,
    target: str | None,
    thresholds: dict[Hashable, int],
    test: bool,
) -> pd.DataFrame:
    """The partition's rows on one side: ``u <= threshold`` (of the row's class) is test."""
    import numpy as np
    import pandas as pd

    u = mix(_fingerprints(part, fingerprint, columns), rule.seed)
    if rule.stratify:
        codes, uniques = pd.factorize(part[target], sort=False, use_na_sentinel=False)
        labels = [group_label(v) for v in uniques]
        limits = np.array([thresholds[label] for label in labels], dtype="uint64")[codes]
    else:
        limits = np.uint64(thresholds[NO_GROUP])
    chosen = u <= limits
    return part[chosen if test else ~chosen]


def split_distributed(
    ddf: dd.DataFrame,
    rule: ContentRule,
    *,
    fingerprint: str | None = None,
    columns: list[str] | None = None,
    target: str | None = None,
) -> DaskSplit:
    """Train and test sides of ``ddf`` under ``rule``: the rows the local split chooses."""
    import pandas as pd

    if (fingerprint is None) == (columns is None):
        raise ValueError("give either the fingerprint column or the columns to hash")
    if rule.stratify and target is None:
        raise ValueError("a stratified rule needs the target column")
    meta = pd.DataFrame({"key": pd.Series([], dtype="uint64")})
    if rule.stratify:
        meta["group"] = ddf._meta[target]
    keys = ddf.map_partitions(
        _keys_partition, rule, fingerprint, columns, target, meta=meta, align_dataframes=False
    ).persist()  # 8 bytes a row (+ the class), read by every round
    try:
        sizes = group_sizes(keys)
        rows = sum(sizes.values())
        if rule.stratify:
            wanted = class_test_counts(sizes, rule.test_size, target)
        else:
            wanted = {NO_GROUP: check_counts(rows, rule.test_size)}
        selected = kth_smallest_distributed(keys, wanted, sizes)
    finally:
        del keys
    thresholds = {label: found.value for label, found in selected.items()}
    test_rows = sum(found.at_most for found in selected.values())
    args = (rule, fingerprint, columns, target, thresholds)
    train = ddf.map_partitions(_side, *args, False, meta=ddf._meta, align_dataframes=False)
    test = ddf.map_partitions(_side, *args, True, meta=ddf._meta, align_dataframes=False)
    return DaskSplit(
        train=train,
        test=test,
        train_rows=rows - test_rows,
        test_rows=test_rows,
        thresholds=thresholds if rule.stratify else None,
        threshold=None if rule.stratify else thresholds[NO_GROUP],
        test_by_class={label: found.at_most for label, found in selected.items()}
        if rule.stratify
        else {},
    )


# --- the time split ---------------------------------------------------------------


def _time_keys(part: pd.DataFrame, column: str) -> pd.DataFrame:
    import pandas as pd

    times = part[column]
    if role_of(times) == "datetime":
        keys = int_keys(times.array.asi8)
    else:
        keys = float_keys(times.to_numpy(dtype="float64"))
    return pd.DataFrame({"key": keys})


def _time_value(key: int, times: pd.Series) -> Any:
    """The time a key stands for, typed like the column (what the local split compares)."""
    import numpy as np
    import pandas as pd

    if role_of(times) == "datetime":
        unit = times.array.unit
        naive = pd.DatetimeIndex(np.array([key_int(key)], dtype="int64").view(f"M8[{unit}]"))
        tz = getattr(times.dtype, "tz", None)
        return (naive.tz_localize("UTC").tz_convert(tz) if tz is not None else naive)[0]
    value = key_float(key)
    return times.dtype.type(value) if times.dtype.kind in "iu" else value


def time_split_distributed(ddf: dd.DataFrame, splitter: Any) -> DaskSplit:
    """The ``time`` split on a cluster: the same rows, cutoff and errors as locally.

    Without a ``cutoff`` the first test time is the ``(rows - n_test + 1)``-th smallest
    time (``n_test = ceil(rows * test_size)``), found by the exact selection; every row
    at or after it is a test row, so rows sharing a time stay together.
    """
    import dask
    import pandas as pd

    from framework import DataError, did_you_mean

    column = splitter.column
    if column not in ddf.columns:
        names = [str(c) for c in ddf.columns]
        raise DataError(
            f"time column '{column}' not found{did_you_mean(column, names)}",
            column=column,
            hint=f"columns: {', '.join(names)}",
        )
    times = ddf._meta[column]
    splitter.check_times(times)
    series = ddf[column]
    rows, missing, first, last = dask.compute(
        ddf.map_partitions(len).sum(), series.isna().sum(), series.min(), series.max()
    )
    rows = int(rows)
    splitter.check_complete(int(missing))
    if splitter.cutoff is None:
        k = rows - splitter.latest_rows(rows) + 1
        meta = pd.DataFrame({"key": pd.Series([], dtype="uint64")})
        keys = ddf[[column]].map_partitions(_time_keys, column, meta=meta).persist()
        try:
            found = kth_smallest_distributed(keys, {NO_GROUP: k}, {NO_GROUP: rows})
        finally:
            del keys
        cutoff = _time_value(found[NO_GROUP].value, times)
    else:
        cutoff = splitter.given_cutoff(times)
    test_rows = int((ddf[column] >= cutoff).sum().compute())
    splitter.check_sides(rows - test_rows, test_rows, cutoff, first, last)
    later = ddf[column] >= cutoff
    return DaskSplit(
        train=ddf[~later],
        test=ddf[later],
        train_rows=rows - test_rows,
        test_rows=test_rows,
        thresholds=None,
        cutoff=cutoff,
        entry=splitter.time_rule(cutoff, rows - test_rows),
    )
