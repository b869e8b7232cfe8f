"""Compiling, verifying and measuring the runtimes a spec allows, at registration.

Called by the engine's ``register`` step after the package was written and reloaded
(``executor.check_reload``) and before ``store.add_version`` hashes it, so what a
version serves with was decided, and recorded, when it was made: a server never
compiles, and a version whose compiled form disagreed with its own pipeline never
serves with it. Each allowed runtime gets a :class:`~framework.runtimes.base.Verdict`
in ``model.json`` under ``runtimes``; a verified one's files go to
``runtimes/<name>/`` inside the package. A runtime failing is a verdict, never a
failed run.

With ``serve.runtime: native`` (or no runtime registered but native) nothing here
runs: no package is loaded again, nothing is measured.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.runtimes.base import Verdict
from framework.runtimes.lookup import AUTO, NATIVE, build, to_compile

if TYPE_CHECKING:
    from framework.package import ModelPackage
    from framework.plugins import Plugins

RUNTIMES_DIR = "runtimes"
"""The package folder holding each verified runtime's files, ``runtimes/<name>/``."""
METADATA_KEY = "runtimes"
"""``model.json``'s key for the verdicts, ``{name: Verdict.to_dict()}``."""
REQUESTED_KEY = "serve_runtime"
"""``model.json``'s key for the spec's ``serve.runtime`` when the version was made."""
BATCH_ROWS = 20_000
"""Rows of the batch ``rows_per_second`` is measured on: the test rows repeated. On the
verification batch (at most 2,000 rows) a runtime's start-up per call weighs far more
than on ``predict``'s 100,000-row chunks, and ranks runtimes differently (ONNX's
one-thread session looked faster than Treelite's threads on 2,000 rows, and is 2.6x
slower on 10,000), so ``auto`` would score batches with the slower one."""
BATCH_SECONDS = 0.5
"""A runtime whose rows per second on the verification batch says one call on
:data:`BATCH_ROWS` rows would take longer is not measured again (its figure stays): the
measurement costs at most about this, per runtime, on top of verification's 0.05 s."""


def compile_runtimes(
    package_dir: Path,
    plugins: Plugins,
    x_test: Any,
    *,
    requested: str = AUTO,
    seconds: float | None = None,
) -> dict[str, Verdict]:
    """Compile, verify and measure every runtime ``requested`` allows for the package in
    ``package_dir``, on the raw test rows ``x_test`` (a pandas or Dask frame; the first
    2,000 rows are used). Writes the verdicts into ``package_dir/model.json`` and each
    verified runtime's files into ``package_dir/runtimes/<name>/``; returns the verdicts
    (empty when nothing was to compile)."""
    names = to_compile(requested, plugins)
    if not names:
        return {}
    from framework.package import ModelPackage

    package = ModelPackage(package_dir, plugins)
    verdicts = verify_all(package, plugins, names, x_test, package_dir, seconds=seconds)
    record(package_dir, verdicts)
    return verdicts


def verify_all(
    package: ModelPackage,
    plugins: Plugins,
    names: list[str],
    x_test: Any,
    package_dir: Path,
    *,
    seconds: float | None = None,
) -> dict[str, Verdict]:
    """The verdicts of ``names`` (native's first, as measured for comparison)."""
    from framework.runtimes.choose import native_scorer
    from framework.runtimes.native import PackageScorer
    from framework.runtimes.verify import (
        build_rows,
        check_runtime,
        measure_native,
        verification_rows,
    )

    try:
        frame = verification_rows(x_test)
        if frame is None:
            return {name: Verdict(name, False, "no test rows to verify it on") for name in names}
        rows = build_rows(frame, package.signature)
        reference = PackageScorer(package)  # the pandas path: what everything must match
        native = reference.predict(rows.columns, rows.count)
        served = native_scorer(package, plugins)  # what serves natively (a fast form?)
        verdicts = {NATIVE: measure_native(served, reference, native, rows, package.task)}
        same = served is reference or _agrees(served, native, rows, package.task)
        _measure_batch(verdicts[NATIVE], served if same else reference, rows)
    except Exception as exc:  # never a failed run: every runtime says why it is not used
        why = f"verification rows could not be scored natively: {type(exc).__name__}: {exc}"
        return {name: Verdict(name, False, why[:400]) for name in names}
    for name in names:
        scratch = package_dir.parent / f".runtime-{name}"
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            runtime = build(name, plugins)
        except Exception as exc:
            verdicts[name] = Verdict(name, False, f"failed: {exc}"[:400])
            continue
        keeping = _Keeping(runtime)
        verdict = check_runtime(keeping, package, rows, native, scratch, seconds=seconds)
        if verdict.verified and keeping.scorer is not None:  # before its files move
            _measure_batch(verdict, keeping.scorer, rows)
        if verdict.verified:
            verdict.files = _keep(scratch, package_dir / RUNTIMES_DIR / name, verdict.files)
            note = getattr(runtime, "measurement_note", None)
            if isinstance(note, str) and note:
                verdict.note = note[:400]
        verdicts[name] = verdict
    return verdicts


class _Keeping:
    """A runtime as :func:`~framework.runtimes.verify.check_runtime` sees it, keeping the
    scorer its ``load`` made, so the batch is measured on the very scorer verified
    (no second load: ONNX sessions and compiled libraries are not free to make)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.name = runtime.name
        self.tolerance = runtime.tolerance
        self.scorer: Any = None

    def why_not(self, package: ModelPackage) -> str | None:
        return self.runtime.why_not(package)

    def compile(self, package: ModelPackage, directory: Path) -> None:
        self.runtime.compile(package, directory)

    def load(self, package: ModelPackage, directory: Path) -> Any:
        self.scorer = self.runtime.load(package, directory)
        return self.scorer


def _agrees(served: Any, native: Any, rows: Any, task: str) -> bool:
    """Whether native's fast form gives the pandas path's predictions (as
    :func:`~framework.runtimes.verify.measure_native` decides what it measures)."""
    from framework.runtimes.base import EXACT
    from framework.runtimes.verify import compare

    return compare(native, served.predict(rows.columns, rows.count), task, EXACT, rows).why is None


def _measure_batch(verdict: Verdict, scorer: Any, rows: Any) -> None:
    """``verdict.rows_per_second`` measured again on :data:`BATCH_ROWS` rows (the test
    rows repeated): the best of the calls made within verification's 0.05 s, at least
    one, at most 3. Kept as it is when it would take longer than :data:`BATCH_SECONDS`,
    when there are no test rows, or when the scorer fails on the larger batch."""
    import numpy as np

    from framework.runtimes.verify import _timed

    per_second = verdict.rows_per_second or 0.0
    if rows.tested == 0 or per_second <= 0 or BATCH_ROWS / per_second > BATCH_SECONDS:
        return
    batch = {
        name: np.resize(np.asarray(values), BATCH_ROWS)
        for name, values in rows.head(rows.tested).items()
    }
    try:
        best = min(_timed(lambda: scorer.predict(batch, BATCH_ROWS), 3, 1))
    except Exception:  # verified on its rows; the verification figure stays
        return
    verdict.rows_per_second = round(BATCH_ROWS / max(best, 1e-9), 1)


def _keep(scratch: Path, final: Path, files: tuple[str, ...]) -> tuple[str, ...]:
    """Move a verified runtime's files into the package; their names as the package
    lists them (``runtimes/onnx/model.onnx``)."""
    if not files:
        shutil.rmtree(scratch, ignore_errors=True)
        return ()
    final.parent.mkdir(exist_ok=True)
    shutil.rmtree(final, ignore_errors=True)
    shutil.move(str(scratch), str(final))
    return tuple(f"{RUNTIMES_DIR}/{final.name}/{name}" for name in files)


def record(package_dir: Path, verdicts: dict[str, Verdict]) -> None:
    """Write ``verdicts`` into the package's ``model.json`` (``runtimes``)."""
    path = package_dir / "model.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata[METADATA_KEY] = {name: verdict.to_dict() for name, verdict in verdicts.items()}
    path.write_text(json.dumps(metadata, indent=2, default=str), encoding="utf-8")


def summary(verdicts: dict[str, Verdict]) -> str:
    """One line for the register step: ``runtimes: onnx verified (41 µs/row), treelite
    not (no C compiler)``."""
    parts = []
    for name, verdict in verdicts.items():
        if name == NATIVE:
            continue
        if verdict.verified:
            speed = f" ({verdict.single_row_us:g} µs/row)" if verdict.single_row_us else ""
            parts.append(f"{name} verified{speed}")
        else:
            parts.append(f"{name} not verified")
    return "runtimes: " + ", ".join(parts) if parts else ""
