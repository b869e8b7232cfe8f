"""How fast a built treelite library scores on this machine, side by side with native.

Registration verifies the trees with Treelite's interpreter (no compiler there), so the
speed it records is the interpreter's, several times slower than the library built where
the model serves. ``auto`` must rank the runtime by what would actually serve, so where
the library is built (``specops runtimes prepare``, or a first load asked for by name)
its scorer is timed here, on the same rows and in the same moments as the native path,
and the numbers are kept beside the library (:func:`treelite_cache.record_measurement`).
Native is timed alongside because the machine, its load and the build differ from
registration's: ``choose`` ranks by the ratio measured here, applied to what registration
measured for native, which puts the library on the same scale as the other runtimes.

The rows are made, not read (a package stores no data): each numeric column that reaches
the trees as it is draws from the split thresholds of its feature (and the next float
either side, and missing), the rest from a standard normal; a categorical column from
its categories and missing. Both paths score the very same rows.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from framework import ModelPackage, Scorer

MEASURE_ROWS = 5_000
"""Rows of the batch timed: enough for every core (above ``SINGLE_THREAD_ROWS``), few
enough that a first load with ``--runtime treelite`` is not kept waiting long."""
SINGLE_CALLS = 200
"""One-row calls timed per path, at most (their medians are compared)."""
BATCH_CALLS = 3
"""Batch calls timed per path, at most (the best of each is kept)."""
SECONDS = 1.0
"""Time the measurement may take, about: at least one call of each kind per path."""
KEYS = ("single_row_us", "rows_per_second", "native_single_row_us", "native_rows_per_second")


def measurement_columns(
    package: ModelPackage, pools: dict[str, np.ndarray], rows: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Raw columns for ``package``'s signature (see the module); ``pools``: the values to
    draw each numeric column from, by column name, when it reaches the trees unchanged."""
    import numpy as np

    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for column in package.signature.columns:
        if column.role == "categorical":
            values = np.empty(len(column.categories or []) + 1, dtype=object)
            values[: len(values) - 1] = list(column.categories or [])
            values[-1] = None
            columns[column.name] = values[rng.integers(0, len(values), rows)]
        elif column.role == "boolean":
            columns[column.name] = rng.choice(np.asarray([0.0, 1.0, np.nan]), rows)
        elif column.name in pools and len(pools[column.name]):
            columns[column.name] = rng.choice(pools[column.name], rows)
        else:
            columns[column.name] = rng.standard_normal(rows)
    return columns


def measure_beside_native(
    package: ModelPackage, scorer: Scorer, columns: dict[str, np.ndarray], rows: int
) -> dict[str, Any]:
    """``{single_row_us, rows_per_second, native_single_row_us, native_rows_per_second,
    rows, measured_at}``: ``scorer`` and the native path timed turn about on the same
    rows (a one-row call each, then a batch call each), so a busy moment costs both."""
    from framework import native_scorer

    native = native_scorer(package)
    one = {name: values[:1] for name, values in columns.items()}
    for path in (native, scorer):  # lazy set-up is not what is measured
        path.predict(one, 1)
    started = time.perf_counter()
    single = _turns(
        [lambda: scorer.predict(one, 1), lambda: native.predict(one, 1)],
        SINGLE_CALLS,
        lambda: time.perf_counter() - started > SECONDS / 4,
    )
    batch = _turns(
        [lambda: scorer.predict(columns, rows), lambda: native.predict(columns, rows)],
        BATCH_CALLS,
        lambda: time.perf_counter() - started > SECONDS,
    )
    return {
        "single_row_us": round(statistics.median(single[0]) * 1e6, 1),
        "native_single_row_us": round(statistics.median(single[1]) * 1e6, 1),
        "rows_per_second": round(rows / max(min(batch[0]), 1e-9), 1),
        "native_rows_per_second": round(rows / max(min(batch[1]), 1e-9), 1),
        "rows": rows,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _turns(
    calls: list[Callable[[], object]], most: int, over: Callable[[], bool]
) -> list[list[float]]:
    """Durations of each of ``calls``, called in turn: one round at least, ``most`` at
    most, none begun once ``over()``."""
    timings: list[list[float]] = [[] for _ in calls]
    for round_number in range(most):
        if round_number and over():
            break
        for call, durations in zip(calls, timings, strict=True):
            begin = time.perf_counter()
            call()
            durations.append(time.perf_counter() - begin)
    return timings


def valid(measured: dict[str, Any]) -> dict[str, Any] | None:
    """``measured`` when it holds the four speeds as positive numbers, else None."""
    for key in KEYS:
        value = measured.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            return None
    return measured


def describe(measured: dict[str, Any]) -> str:
    """One line for ``prepare``'s output and the verdict's note."""
    return (
        f"its library built here: {measured['single_row_us']:g} µs/row and "
        f"{measured['rows_per_second']:,.0f} rows/s, native "
        f"{measured['native_single_row_us']:g} µs/row and "
        f"{measured['native_rows_per_second']:,.0f} rows/s timed alongside on "
        f"{measured.get('rows', MEASURE_ROWS):,} made rows"
    )
