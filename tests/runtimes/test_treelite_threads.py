"""Threads: the compiled trees' one function keeps no state, so callers on several threads
(a server's event loop and its workers) and a big batch split across cores each get their
own rows' sums; Treelite's interpreter (registration's check) still scores when LightGBM
lowered the process's OpenMP threads."""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np
import pytest

from plugins.runtimes import treelite_cache
from tests.runtimes.test_trees_c import built

pytestmark = pytest.mark.skipif(
    treelite_cache.compiler() is None, reason="no C compiler on this machine"
)


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
    """Single rows on one thread and batches (split across threads, or not) on another at
    the same time, missing values included: each caller gets exactly LightGBM's raw
    scores for its own rows."""
    import lightgbm as lgb
    import treelite

    from plugins.runtimes.treelite import SINGLE_THREAD_ROWS

    rng = np.random.default_rng(2)
    X = rng.random((400, 5))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(X, y), 12
    )
    trees = built(treelite.frontend.from_lightgbm(booster), tmp_path)
    trees.cores = 3  # more threads than cores: shares of odd sizes
    batches = [rng.random((rows, 5)) for rows in (1, 7, 300, SINGLE_THREAD_ROWS + 1)]
    for batch in batches:
        batch[rng.random(batch.shape) < 0.2] = np.nan
    expected = [booster.predict(batch, raw_score=True) for batch in batches]
    wrong: list[str] = []

    def work(order: list[int]) -> None:
        for _ in range(15):
            for index in order:
                got = trees(batches[index]).reshape(-1)
                if not np.array_equal(got, expected[index]):
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
        trees(np.zeros((1, 4)))  # the library would read past the row


@pytest.mark.parametrize("rows", [0, 1, 2, 3, 5, 1_027, 2_049])
def test_a_batch_split_across_threads_is_the_batch_in_one_call(rows: int, tmp_path: Path) -> None:
    """Odd row counts split across 1-4 threads (a share of no rows among them) give the
    very sums of one call, in the rows' order; blocks of rows inside the library too."""
    import lightgbm as lgb
    import treelite

    rng = np.random.default_rng(rows)
    X = rng.random((300, 3))
    booster = lgb.train(
        {"objective": "regression", "verbose": -1, "num_leaves": 5},
        lgb.Dataset(X, X[:, 0] * 3 + X[:, 1]),
        6,
    )
    trees = built(treelite.frontend.from_lightgbm(booster), tmp_path)
    batch = rng.random((rows, 3))
    expected = booster.predict(batch, raw_score=True) if rows else np.empty(0)
    for threads in (1, 2, 3, 4):
        got = trees.split(batch, threads)
        assert got.shape == (rows, 1)
        np.testing.assert_array_equal(got.reshape(-1), expected)
