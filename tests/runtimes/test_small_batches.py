"""Small LightGBM batches run on one thread: the same predictions as LightGBM's default.

The fast path (:class:`framework.serving.fastpath.LightGBMScorer`) and the numpy runtime
predict batches of up to ``SINGLE_THREAD_ROWS`` rows with ``num_threads=1`` (OpenMP's
start-up per call dominates tiny batches). That must not change a single bit of what a
user gets, and must not leave LightGBM single-threaded for the next, larger call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framework.runtimes.verify import build_rows
from framework.serving import fastpath
from framework.serving.fastpath import LightGBMScorer
from plugins.runtimes import numpy_runtime
from plugins.runtimes.numpy_runtime import NumpyRuntime
from tests.runtimes.trees_packages import table, train, with_probes

PARAMS = {"n_estimators": 30, "num_leaves": 15}


def _openmp_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "openmp"]


def _same(got, reference: np.ndarray, task: str) -> None:
    if task == "regression":
        assert got.proba is None
        np.testing.assert_array_equal(got.codes, reference)
        return
    proba = np.column_stack([1.0 - reference, reference]) if task == "binary" else reference
    np.testing.assert_array_equal(got.proba, proba)  # bit for bit, not within a tolerance
    np.testing.assert_array_equal(got.codes, proba.argmax(axis=1))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_small_batches_predict_exactly_as_the_default_threads(task: str, tmp_path: Path) -> None:
    assert fastpath.SINGLE_THREAD_ROWS == numpy_runtime.SINGLE_THREAD_ROWS == 64
    package, test = train(tmp_path, table(task=task, rows=400), task, "lightgbm", PARAMS)
    rows = build_rows(with_probes(test), package.signature)  # missing and unseen values too
    assert rows.count > 65
    fast = LightGBMScorer.for_package(package)
    assert fast is not None
    runtime = NumpyRuntime()
    (tmp_path / "numpy").mkdir()
    runtime.compile(package, tmp_path / "numpy")
    numpy_scorer = runtime.load(package, tmp_path / "numpy")
    booster = package.model._booster
    threads_before = _openmp_threads()

    for start, size in [(0, 1), (5, 1), (rows.count - 1, 1), (0, 2), (3, 64), (0, 65)]:
        part = {name: values[start : start + size] for name, values in rows.columns.items()}
        count = len(next(iter(part.values())))
        matrix = fast.matrix(part, count)
        reference = booster.predict(matrix)  # LightGBM's own default threads
        _same(fast.predict(part, count), reference, task)
        _same(numpy_scorer.predict(part, count), reference, task)
        # the per-call setting does not stay behind: LightGBM's OpenMP is as it was
        assert _openmp_threads() == threads_before

    whole = fast.matrix(rows.columns, rows.count)  # a large batch: default threads
    _same(fast.predict(rows.columns, rows.count), booster.predict(whole), task)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_one_row_is_built_as_the_batch_builds_it(task: str, tmp_path: Path) -> None:
    """A single row takes its own path into the model's matrix (a Python list, not
    column-wise numpy): every probe row, one at a time, gives the batch's row bit for
    bit, numbers as categories included (missing, unseen, each column in turn)."""
    package, test = train(
        tmp_path,
        table(task=task, rows=300),
        task,
        "lightgbm",
        PARAMS,
        declared={"rating": "categorical"},
    )
    rows = build_rows(with_probes(test), package.signature)
    runtime = NumpyRuntime()
    (tmp_path / "numpy").mkdir()
    runtime.compile(package, tmp_path / "numpy")
    matrix = runtime.load(package, tmp_path / "numpy").matrix
    assert matrix._one_row is not None  # no transform steps: the one-row path is taken
    whole = matrix(rows.columns, rows.count)
    for i in range(rows.count):
        one = matrix({name: values[i : i + 1] for name, values in rows.columns.items()}, 1)
        np.testing.assert_array_equal(one, whole[i : i + 1])
    assert np.isnan(whole).any()  # the probes reached the model as missing values
