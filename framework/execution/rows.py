"""Which rows are test rows: decided by each row's content and the seed, never its position.

Shared by every executor, so the same data gives the same train/test rows locally and
on a cluster, whatever the number of partitions or workers::

    mix(fingerprints: np.ndarray[uint64], seed: int) -> np.ndarray[uint64]
    holdout_count(rows: int, test_size: float) -> int
    class_test_counts(counts: dict[label, int], test_size: float, column=None) -> dict[label, int]
    kth_smallest(values: np.ndarray[uint64], k: int) -> int
    content_split(fingerprints, rule, classes=None, column=None) -> (train, test) positions
    ContentRule(test_size: float, seed: int, stratify: bool)
    LINEAGE_KEY = "rows_method"; METHOD = "content/1"   # what a run records in its lineage

The rule: each row gets ``u = mix(fingerprint, seed)``, a well-mixed 64-bit number
computed from the row's content fingerprint (``framework.training_rows.row_hashes``
over the features and the target) and the seed. The test rows are the ``k`` rows with
the smallest ``u``, ``k = ceil(rows * test_size)`` as scikit-learn counts it; for a
stratified split the same within each class. Equivalently: a row is a test row when
``u <= threshold``, the k-th smallest ``u`` -- a test any partition can apply alone once
the threshold is known (a cluster finds it with an exact distributed selection).

Why content and not a shuffled position:

- partition- and worker-independent: a row's side depends only on its values and the
  seed, so pandas and Dask (1 or 100 partitions) choose exactly the same rows;
- identical rows share a fingerprint, hence a ``u``, hence a side: a duplicated row never
  sits in train and test at once (which would flatter the test score). Because of such
  ties the test set may hold a few more than ``k`` rows (the duplicates of the k-th).

Runs made before this rule used a shuffled permutation of positions (``method:
shuffle``); their lineage has no ``rows_method``, which is how ``reproduce`` knows to
rerun them the old way.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework.errors import DataError

if TYPE_CHECKING:
    import numpy as np

LINEAGE_KEY = "rows_method"
"""The lineage key naming how the run chose its rows (absent: an older specops)."""
METHOD = "content/1"
"""This module's rule, as recorded under :data:`LINEAGE_KEY`; a change of ``mix`` or of
the counts must get a new version, since recorded content rules are replayed."""

_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB
_MASK = (1 << 64) - 1
_SEED_SALT = 0x5EED_5EED_5EED_5EED


@dataclass(frozen=True)
class ContentRule:
    """What a splitter declares instead of choosing rows itself: the executor applies it
    to the fingerprints (locally with :func:`content_split`, on Dask distributed)."""

    test_size: float
    seed: int
    stratify: bool = False
    """Apply the rule within each class of the target, keeping class shares."""


def _splitmix_int(value: int) -> int:
    """splitmix64's finaliser on one Python int (for the seed's key)."""
    z = (value + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _MUL1) & _MASK
    z = ((z ^ (z >> 27)) * _MUL2) & _MASK
    return z ^ (z >> 31)


def seed_key(seed: int) -> int:
    """The 64-bit key a seed stands for: mixed, so seeds 1 and 2 differ in every bit."""
    return _splitmix_int((int(seed) ^ _SEED_SALT) & _MASK)


def mix(fingerprints: np.ndarray, seed: int) -> np.ndarray:
    """``splitmix64(fingerprint XOR key(seed))`` for each row, vectorised.

    splitmix64's finaliser is a bijection on 64-bit numbers with full avalanche, so
    distinct fingerprints keep distinct values, equal ones stay equal, and each seed
    orders the rows independently of the others.
    """
    import numpy as np

    z = np.asarray(fingerprints, dtype="uint64") ^ np.uint64(seed_key(seed))
    with np.errstate(over="ignore"):
        z = z + np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MUL1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MUL2)
    return z ^ (z >> np.uint64(31))


def holdout_count(rows: int, test_size: float) -> int:
    """How many rows the test side needs: ``ceil(rows * test_size)``, as scikit-learn."""
    return math.ceil(rows * test_size)


def check_counts(rows: int, test_size: float) -> int:
    """The test count, or the DataError a split of so few rows is (both sides non-empty)."""
    k = holdout_count(rows, test_size)
    if k < 1 or k >= rows:
        raise DataError(
            f"cannot split {rows} rows with test_size {test_size}: "
            f"{k} test and {rows - k} train rows",
            hint="change test_size or provide more rows",
        )
    return k


def class_test_counts(
    counts: Mapping[Hashable, int], test_size: float, column: str | None = None
) -> dict[Hashable, int]:
    """Test rows per class: ``ceil(n * test_size)``, at least 1 and at most ``n - 1`` so
    every class is on both sides. A class of one row cannot be: a DataError names it."""
    lonely = [label for label, n in counts.items() if n < 2]
    if lonely:
        names = ", ".join(repr(_plain(c)) for c in lonely)
        which = f"class {names} has" if len(lonely) == 1 else f"classes {names} have"
        raise DataError(
            f"target {which} fewer than 2 rows: cannot be in both train and test",
            column=column,
            hint="remove or merge rare classes, or use type: random",
        )
    return {label: min(max(holdout_count(n, test_size), 1), n - 1) for label, n in counts.items()}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def kth_smallest(values: np.ndarray, k: int) -> int:
    """The k-th smallest (1-based) of ``values``: the test threshold for ``k`` test rows."""
    import numpy as np

    return int(np.partition(np.asarray(values, dtype="uint64"), k - 1)[k - 1])


def content_split(
    fingerprints: np.ndarray, rule: ContentRule, classes: Any = None, column: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row positions, each in table order, under ``rule``.

    ``classes`` (one label or code per row) is required when ``rule.stratify``; the
    labels only group rows, so codes and values give the same split. ``column`` (the
    target's name) is named in the error about a class too small to split.
    """
    import numpy as np
    import pandas as pd

    u = mix(fingerprints, rule.seed)
    test = np.zeros(len(u), dtype=bool)
    if not rule.stratify:
        k = check_counts(len(u), rule.test_size)
        test = u <= np.uint64(kth_smallest(u, k))
    else:
        if classes is None:
            raise ValueError("a stratified content rule needs the rows' classes")
        codes, labels = pd.factorize(pd.Series(classes), sort=True, use_na_sentinel=False)
        sizes = np.bincount(codes, minlength=len(labels))
        counts = {labels[i]: int(n) for i, n in enumerate(sizes)}
        wanted = class_test_counts(counts, rule.test_size, column)
        order = np.argsort(codes, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        for code, label in enumerate(labels):
            members = order[bounds[code] : bounds[code + 1]]
            mine = u[members]
            test[members] = mine <= np.uint64(kth_smallest(mine, wanted[label]))
    positions = np.arange(len(u))
    return positions[~test], positions[test]
