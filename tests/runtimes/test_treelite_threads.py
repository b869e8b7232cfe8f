"""TL2cgen refuses a predictor with more threads than OpenMP allows in the process, and
the process's OpenMP limit is whatever a library last set (LightGBM sets it on calls with
``num_threads``). A compiled library must then load with the threads it may have, not
fail its whole verdict (seen in a server: "nthread cannot exceed 1")."""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tl2cgen")


def _tl2cgen_openmp() -> ctypes.CDLL:
    maps = Path("/proc/self/maps").read_text().split()
    found = sorted({entry for entry in maps if "tl2cgen" in entry and "libgomp" in entry})
    if not found:
        pytest.skip("TL2cgen's OpenMP runtime is not a separate library here")
    return ctypes.CDLL(found[0])


def test_a_process_whose_openmp_allows_one_thread_still_loads_compiled_trees(
    tmp_path: Path,
) -> None:
    import lightgbm as lgb
    import tl2cgen
    import treelite

    from plugins.runtimes.treelite import CompiledTrees

    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 5)
    library = tmp_path / "trees.so"
    tl2cgen.export_lib(treelite.frontend.from_lightgbm(booster), "gcc", str(library))
    openmp = _tl2cgen_openmp()
    openmp.omp_set_num_threads(1)
    try:
        trees = CompiledTrees(library, 4)
        big = rng.random((5_000, 4))
        margins = np.asarray(trees(big)).reshape(-1)
    finally:
        openmp.omp_set_num_threads(2)

    expected = booster.predict(big, raw_score=True)
    np.testing.assert_allclose(margins, expected, rtol=0, atol=1e-9)


def test_the_interpreter_verifies_when_openmp_allows_one_thread() -> None:
    """Registration verifies through Treelite's interpreter, whose OpenMP is the one
    LightGBM shares: after LightGBM lowered it, a big batch must still be scored."""
    import lightgbm as lgb
    import treelite

    from plugins.runtimes.treelite import InterpretedTrees

    rng = np.random.default_rng(1)
    X = rng.random((300, 4))
    booster = lgb.train(
        {"objective": "binary", "verbose": -1}, lgb.Dataset(X, (X[:, 0] > 0.5).astype(int)), 5
    )
    trees = InterpretedTrees(treelite.frontend.from_lightgbm(booster))
    trees.cores = 2  # what a two-core machine gives it
    openmp = [
        ctypes.CDLL(entry)
        for entry in sorted({e for e in Path("/proc/self/maps").read_text().split() if "gomp" in e})
    ]
    for library in openmp:
        library.omp_set_num_threads(1)
    try:
        big = rng.random((5_000, 4))
        margins = np.asarray(trees(big)).reshape(-1)
    finally:
        for library in openmp:
            library.omp_set_num_threads(2)

    np.testing.assert_allclose(margins, booster.predict(big, raw_score=True), rtol=0, atol=1e-9)


def test_two_threads_scoring_at_once_get_their_own_answers(tmp_path: Path) -> None:
    """A server scores single rows on its event loop and big requests on worker threads
    at the same time: rows called one by one into the library, and batches through
    TL2cgen's predictors (one thread at a time each), give each caller its own rows'
    margins, missing values included."""
    import lightgbm as lgb
    import tl2cgen
    import treelite

    from plugins.runtimes.treelite import DIRECT_ROWS, CompiledTrees

    rng = np.random.default_rng(2)
    X = rng.random((400, 5))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(X, y), 12
    )
    library = tmp_path / "trees.so"
    tl2cgen.export_lib(treelite.frontend.from_lightgbm(booster), "gcc", str(library))
    trees = CompiledTrees(library, 5)
    assert trees.direct is not None  # float64 trees: called row by row
    batches = [rng.random((rows, 5)) for rows in (1, DIRECT_ROWS, 300, 3_000)]
    for batch in batches:
        batch[rng.random(batch.shape) < 0.2] = np.nan
    expected = [booster.predict(batch, raw_score=True) for batch in batches]
    wrong: list[str] = []

    def work(order: list[int]) -> None:
        for _ in range(15):
            for index in order:
                got = np.asarray(trees(batches[index])).reshape(-1)
                if not np.allclose(got, expected[index], rtol=0, atol=1e-9, equal_nan=False):
                    wrong.append(f"batch {index}")

    threads = [
        threading.Thread(target=work, args=([0, 1, 2, 3],)),
        threading.Thread(target=work, args=([3, 2, 1, 0],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    with pytest.raises(ValueError, match="rows of 5 features expected"):
        trees.by_row(np.zeros((1, 4)))  # the library would read past the row
