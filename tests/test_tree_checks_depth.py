"""A tree the bounds check cannot reach is refused, never skipped."""

from __future__ import annotations

import numpy as np
import pytest

from framework.errors import StoreError
from framework.tree_checks import MAX_DEPTH_OF_OBJECTS, check_trees


def test_a_damaged_tree_nested_past_the_walk_depth_is_refused() -> None:
    from sklearn.tree import DecisionTreeClassifier

    X = np.arange(40.0).reshape(20, 2)
    model = DecisionTreeClassifier(max_depth=3).fit(X, np.arange(20) % 2)
    model.tree_.children_left[0] = 1_000_000  # what a crafted file could hold
    nested: object = model
    for _ in range(MAX_DEPTH_OF_OBJECTS + 5):
        nested = [nested]

    with pytest.raises(StoreError, match=r"model\.skops holds a damaged or crafted model: objects"):
        check_trees(nested, "model.skops")
