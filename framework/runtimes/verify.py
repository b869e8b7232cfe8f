"""Verifying one runtime against the native path, and measuring its speed.

A compiled form is kept only if it gives the native predictions on the rows that
matter: the run's own test split (the first :data:`VERIFY_ROWS`), and probe rows built
from a few of them with each column missing, each categorical column set to a value
training never saw, and every column missing at once, the cases a hand-written
compiler gets wrong first. Labels must be identical; probabilities and values within
the runtime's :class:`~framework.runtimes.base.Tolerance`.

Everything a runtime does here (compile, load, predict) runs in a worker thread bounded
by :data:`SECONDS`: a runtime that hangs is abandoned with a verdict, and whatever
it raises is its verdict too. A run never fails because of a runtime.
"""

from __future__ import annotations

import os
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.package_check import MAX_RUNTIME_BYTES, RUNTIME_CODE_SUFFIXES
from framework.runtimes.base import RuntimeUnavailable, Verdict

if TYPE_CHECKING:
    import pandas as pd

    from framework.package import ModelPackage, Predictions
    from framework.runtimes.base import RawColumns, Runtime, Scorer, Tolerance
    from framework.signature import Signature

VERIFY_ROWS = 2_000
"""Test rows a runtime is verified on (and its batch speed measured with)."""
PROBE_BASE_ROWS = 3
"""Test rows each probe (a column missing, a category unseen) is built from."""
MAX_PROBE_ROWS = 2_000
"""Probe rows at most, however wide the table."""
SECONDS = 120.0
"""How long one runtime may take to compile, load, verify and measure
(``SPECOPS_RUNTIME_SECONDS`` overrides)."""
SINGLE_ROW_CALLS = 200
"""One-row calls measured at most; their median is ``single_row_us``."""
MEASURE_SECONDS = 0.05
"""Time spent measuring each of single rows and the batch, per runtime: registration
stays cheap (a few hundred calls of a compiled form, a few dozen of the native path,
are plenty for a median), and at least :data:`MIN_CALLS` calls are made however slow."""
MIN_CALLS = 3
UNSEEN_TEXT = "__specops_unseen__"
WHY_LENGTH = 400


def seconds_allowed() -> float:
    """:data:`SECONDS`, or ``SPECOPS_RUNTIME_SECONDS`` when set to a positive number."""
    raw = os.environ.get("SPECOPS_RUNTIME_SECONDS", "")
    try:
        value = float(raw)
    except ValueError:
        return SECONDS
    return value if value > 0 else SECONDS


# ---------------------------------------------------------------------------
# the rows
# ---------------------------------------------------------------------------


def verification_rows(x_test: Any, limit: int = VERIFY_ROWS) -> pd.DataFrame | None:
    """The first ``limit`` raw test rows as a pandas frame: a pandas frame is cut; a
    partitioned (Dask) frame is read partition by partition until ``limit`` rows (its
    ``head`` looks at one partition, and a split leaves empty ones). None when there
    are none."""
    import pandas as pd

    if isinstance(x_test, pd.DataFrame):
        rows = x_test.iloc[:limit]
    elif hasattr(x_test, "npartitions") and hasattr(x_test, "partitions"):
        taken: list[pd.DataFrame] = []
        count = 0
        for index in range(x_test.npartitions):
            if count >= limit:
                break
            part = x_test.partitions[index].head(limit - count, npartitions=1, compute=True)
            if len(part):
                taken.append(part)
                count += len(part)
        rows = pd.concat(taken) if taken else None
    else:
        return None
    return None if rows is None or rows.empty else rows.reset_index(drop=True)


@dataclass
class Rows:
    """The verification batch: test rows then probe rows, as raw columns, and what
    each probe row is (for the verdict's first mismatch)."""

    columns: RawColumns
    count: int
    tested: int  # the first ``tested`` are test rows; the rest are probes
    probes: list[str]

    def describe(self, index: int) -> str:
        if index < self.tested:
            return f"test row {index}"
        return f"probe row: {self.probes[index - self.tested]}"

    def head(self, rows: int) -> RawColumns:
        return {name: values[:rows] for name, values in self.columns.items()}


def build_rows(frame: pd.DataFrame, signature: Signature) -> Rows:
    """The test rows of ``frame`` plus probes, as :data:`RawColumns` read as a server
    would (unseen categories kept as written). Probes take at most
    :data:`MAX_PROBE_ROWS` rows: a wide table gets one base row per probe, and beyond
    that neighbouring probes are merged (several columns missing in one row)."""
    import numpy as np

    from framework.runtimes.columns import columns_as_sent

    tested = columns_as_sent(frame, signature)
    count = len(frame)
    specs: list[tuple[str, dict[str, Any]]] = []
    for column in signature.columns:
        missing = None if column.role == "categorical" else np.nan
        specs.append((f"column '{column.name}' missing", {column.name: missing}))
        if column.role == "categorical":
            for unseen in _unseen_values(column.categories or []):
                specs.append(
                    (f"column '{column.name}' = {unseen!r}, unseen", {column.name: unseen})
                )
    width = min(count, PROBE_BASE_ROWS)
    if len(specs) * width > MAX_PROBE_ROWS:
        width = 1
    if len(specs) > MAX_PROBE_ROWS - 1:
        specs = _merged(specs, MAX_PROBE_ROWS - 1)
    everything = {c.name: None if c.role == "categorical" else np.nan for c in signature.columns}
    specs.append(("every column missing", everything))
    columns = {}
    for name, values in tested.items():
        probes = np.tile(values[:width], len(specs))
        for index, (_, changes) in enumerate(specs):
            if name in changes:
                probes[index * width : (index + 1) * width] = changes[name]
        columns[name] = np.concatenate([values, probes])
    described = [what for what, _ in specs for _ in range(width)]
    return Rows(columns, count + len(described), count, described)


def _merged(specs: list[tuple[str, dict[str, Any]]], most: int) -> list[tuple[str, dict[str, Any]]]:
    """``specs`` merged in neighbouring groups so that at most ``most`` remain."""
    size = -(-len(specs) // most)
    merged = []
    for start in range(0, len(specs), size):
        group = specs[start : start + size]
        changes: dict[str, Any] = {}
        for _, change in group:
            changes.update(change)
        merged.append(("; ".join(what for what, _ in group), changes))
    return merged


def _unseen_values(categories: list[Any]) -> list[Any]:
    """A text value training never saw and, for numeric categories, a number too."""
    found: list[Any] = [UNSEEN_TEXT]
    numbers = [c for c in categories if isinstance(c, int | float) and not isinstance(c, bool)]
    if numbers and len(numbers) == len(categories):
        found.append(max(numbers) + 1)
    return found


# ---------------------------------------------------------------------------
# comparing
# ---------------------------------------------------------------------------


@dataclass
class Comparison:
    why: str | None
    max_proba_error: float | None = None
    max_value_error: float | None = None


def compare(
    native: Predictions, got: Predictions, task: str, tolerance: Tolerance, rows: Rows
) -> Comparison:
    """Whether ``got`` gives ``native``'s predictions within ``tolerance``: the same
    labels, probabilities within ``tolerance.proba``, values within ``tolerance.value``
    relative to ``max(1, |native|)``; ``why`` names the first row that differs."""
    import numpy as np

    count = rows.count
    codes = np.asarray(got.codes)
    if codes.shape != (count,):
        return Comparison(f"predict returned {codes.shape} labels for {count} rows")
    if task == "regression":
        want = np.asarray(native.codes, dtype="float64")
        have = codes.astype("float64", copy=False)
        error = np.abs(have - want) / np.maximum(1.0, np.abs(want))
        error = np.where(np.isnan(want) & np.isnan(have), 0.0, error)
        worst = float(np.nanmax(error)) if np.isfinite(error).any() else 0.0
        bad = ~(error <= tolerance.value)  # NaN counts as different
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            return Comparison(
                f"{int(bad.sum())} of {count} values differ beyond {tolerance.value:g} "
                f"(relative); first: {rows.describe(at)}: {have[at]!r} where native "
                f"predicts {want[at]!r}",
                max_value_error=_finite(worst),
            )
        return Comparison(None, max_value_error=worst)
    if got.proba is None or np.asarray(got.proba).shape != np.asarray(native.proba).shape:
        shape = None if got.proba is None else np.asarray(got.proba).shape
        return Comparison(
            f"predict returned probabilities of shape {shape}, native "
            f"{np.asarray(native.proba).shape}"
        )
    want_p = np.asarray(native.proba, dtype="float64")
    have_p = np.asarray(got.proba, dtype="float64")
    error = np.abs(have_p - want_p)
    error = np.where(np.isnan(want_p) & np.isnan(have_p), 0.0, error)
    row_error = np.max(error, axis=1) if error.size else np.zeros(count)
    worst = float(np.nanmax(row_error)) if np.isfinite(row_error).any() else 0.0
    labels_differ = codes.astype("int64", copy=False) != np.asarray(native.codes, dtype="int64")
    bad = labels_differ | ~(row_error <= tolerance.proba)
    if got.labels is not None and list(got.labels) != list(native.labels or []):
        return Comparison(
            f"labels {list(got.labels)[:5]} differ from the package's "
            f"{list(native.labels or [])[:5]}",
            max_proba_error=_finite(worst),
        )
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        what = (
            f"label {_label(native, codes[at])!r} where native predicts "
            f"{_label(native, native.codes[at])!r}"
            if labels_differ[at]
            else f"probability error {row_error[at]:.3g} > {tolerance.proba:g}"
        )
        return Comparison(
            f"{int(bad.sum())} of {count} rows differ ({int(labels_differ.sum())} labels); "
            f"first: {rows.describe(at)}: {what}",
            max_proba_error=_finite(worst),
        )
    return Comparison(None, max_proba_error=worst)


def _finite(value: float) -> float | None:
    import math

    return value if math.isfinite(value) else None


def _label(predictions: Predictions, code: Any) -> Any:
    labels = predictions.labels
    try:
        return labels[int(code)] if labels is not None else code
    except (IndexError, TypeError, ValueError):
        return code


# ---------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------


def measure(scorer: Scorer, rows: Rows) -> tuple[float, float]:
    """``(single_row_us, rows_per_second)``: the median of one-row calls (up to
    :data:`SINGLE_ROW_CALLS`, within :data:`MEASURE_SECONDS`), and the test batch's rows
    per second (the best of the calls made within :data:`MEASURE_SECONDS`, at most 3).
    The verification call already warmed the scorer up."""
    one = rows.head(1)
    scorer.predict(one, 1)  # the first one-row call pays for lazy set-up
    timings = _timed(lambda: scorer.predict(one, 1), SINGLE_ROW_CALLS, MIN_CALLS)
    batch = rows.head(rows.tested)
    best = min(_timed(lambda: scorer.predict(batch, rows.tested), 3, 1))
    return statistics.median(timings) * 1e6, rows.tested / max(best, 1e-9)


def _timed(call: Callable[[], object], most: int, least: int) -> list[float]:
    """Durations of ``call``: ``least`` calls, then more while :data:`MEASURE_SECONDS`
    lasts, ``most`` in all at most."""
    timings: list[float] = []
    started = time.perf_counter()
    while len(timings) < most and (
        len(timings) < least or time.perf_counter() - started < MEASURE_SECONDS
    ):
        begin = time.perf_counter()
        call()
        timings.append(time.perf_counter() - begin)
    return timings


# ---------------------------------------------------------------------------
# one runtime
# ---------------------------------------------------------------------------


def check_runtime(
    runtime: Runtime,
    package: ModelPackage,
    rows: Rows,
    native: Predictions,
    scratch: Path,
    *,
    seconds: float | None = None,
) -> Verdict:
    """Compile ``runtime`` for ``package`` into ``scratch`` (created here, empty), load
    it, verify it on ``rows`` against ``native`` and measure it, within ``seconds``.
    The verdict says how it went; on any failure ``scratch`` is removed."""
    name = str(getattr(runtime, "name", "?"))
    limit = seconds or seconds_allowed()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["verdict"] = _check(runtime, name, package, rows, native, scratch)
        except BaseException as exc:  # any failure of a runtime is its verdict
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"specops-runtime-{name}", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():  # it cannot be stopped: abandoned, its files removed
        shutil.rmtree(scratch, ignore_errors=True)
        return Verdict(name, False, f"abandoned: took longer than {limit:g} s")
    error = outcome.get("error")
    if error is not None:
        shutil.rmtree(scratch, ignore_errors=True)
        return Verdict(name, False, _why(error))
    verdict: Verdict = outcome["verdict"]
    if not verdict.verified:
        shutil.rmtree(scratch, ignore_errors=True)
        verdict.files = ()  # removed: a version keeps only what it may serve with
    return verdict


def _check(
    runtime: Runtime,
    name: str,
    package: ModelPackage,
    rows: Rows,
    native: Predictions,
    scratch: Path,
) -> Verdict:
    why = runtime.why_not(package)
    if why:
        return Verdict(name, False, _one_line(f"not available: {why}"))
    scratch.mkdir(parents=True)
    started = time.perf_counter()
    runtime.compile(package, scratch)
    files = stored_files(scratch)  # refuses code and oversized output before loading it
    scorer = runtime.load(package, scratch)
    compiled = time.perf_counter() - started
    got = scorer.predict(rows.columns, rows.count)
    tolerance = runtime.tolerance
    found = compare(native, got, package.task, tolerance, rows)
    verdict = Verdict(
        name,
        found.why is None,
        None if found.why is None else _one_line(f"mismatch: {found.why}"),
        rows=rows.count,
        max_proba_error=found.max_proba_error,
        max_value_error=found.max_value_error,
        compile_seconds=round(compiled, 3),
        files=tuple(files),
    )
    if verdict.verified:
        verdict.single_row_us, verdict.rows_per_second = _rounded(*measure(scorer, rows))
    return verdict


def measure_native(
    served: Scorer, reference: Scorer, native: Predictions, rows: Rows, task: str
) -> Verdict:
    """The native path's own verdict, measured like the others so ``auto`` serves
    natively when no compiled form is faster. ``served`` is how native serves (a fast
    form of the pandas path, for LightGBM); it is measured when it gives exactly the
    reference's predictions on the verification rows, else the reference is."""
    from framework.runtimes.base import EXACT

    if served is not reference:
        same = compare(native, served.predict(rows.columns, rows.count), task, EXACT, rows)
        served = served if same.why is None else reference
    single, per_second = _rounded(*measure(served, rows))
    return Verdict(
        "native", True, rows=rows.count, single_row_us=single, rows_per_second=per_second
    )


def _rounded(single_us: float, per_second: float) -> tuple[float, float]:
    return round(single_us, 1), round(per_second, 1)


def stored_files(directory: Path) -> list[str]:
    """The files a runtime wrote, relative to ``directory``: regular files only, none
    that is code (``RUNTIME_CODE_SUFFIXES``), at most :data:`MAX_RUNTIME_BYTES` in all."""
    names: list[str] = []
    total = 0
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise RuntimeError(f"compile wrote {relative}, which is not a regular file")
        if path.is_dir():
            continue
        if path.suffix.lower() in RUNTIME_CODE_SUFFIXES:
            raise RuntimeError(
                f"compile wrote {relative}: a stored runtime holds data only, never code "
                "(build native code at load, into a cache)"
            )
        total += path.stat().st_size
        if total > MAX_RUNTIME_BYTES:
            raise RuntimeError(f"compile wrote more than {MAX_RUNTIME_BYTES // 2**20} MB")
        names.append(relative)
    return names


def _why(error: BaseException) -> str:
    if isinstance(error, RuntimeUnavailable):
        return _one_line(f"not available: {error}")
    return _one_line(f"failed: {type(error).__name__}: {error}")


def _one_line(text: str) -> str:
    from framework.redact import scrub_text

    line = " ".join(scrub_text(str(text)).split())
    return line if len(line) <= WHY_LENGTH else line[: WHY_LENGTH - 3] + "..."
