"""Fitted trees from a model file: every node index must stay inside its arrays.

scikit-learn's tree code (``sklearn.tree._tree.Tree`` in decision trees and forests,
``TreePredictor`` in HistGradientBoosting) walks nodes in compiled code without bounds
checks, trusting the indices it finds. A crafted file can name a child past the end of
the node array, a feature past the end of the row, a node count larger than the
allocation, or a cycle, and crash the process (or read memory it should not) at the
first prediction. skops does not trust ``TreePredictor`` for this reason; specops must
load its own HistGradientBoosting models, so it checks every tree once, after loading
and before anything predicts:

- the node count never exceeds the allocated nodes;
- an internal node's children come after it and inside the array (so no cycle);
- its feature is inside the row every enclosing estimator checks ``X`` against
  (``n_features_in_``) and inside the tree's own ``n_features``;
- a categorical split of HistGradientBoosting names a categorical feature and a bitset
  that exists.
"""

from __future__ import annotations

from typing import Any

from framework.errors import StoreError

MAX_DEPTH_OF_OBJECTS = 200
"""How deep the loaded object graph may nest (pipelines nest a few levels); deeper is refused."""


def check_trees(obj: Any, source: str) -> None:
    """Raise StoreError naming ``source`` if any tree inside ``obj`` is out of bounds."""
    _walk(obj, None, None, source, set(), 0)


def _walk(
    obj: Any, n_features: int | None, categorical: Any, source: str, seen: set[int], depth: int
) -> None:
    if id(obj) in seen:
        return
    if depth > MAX_DEPTH_OF_OBJECTS:  # never skip: a tree hidden deeper must not go unchecked
        raise _refuse(source, "model", f"objects nested more than {MAX_DEPTH_OF_OBJECTS} deep")
    seen.add(id(obj))
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    if isinstance(obj, Tree):
        _check_tree(obj, n_features, source)
        return
    if isinstance(obj, TreePredictor):
        _check_predictor(obj, n_features, categorical, source)
        return
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        children = list(obj)
    elif type(obj).__module__.startswith("sklearn.") and hasattr(obj, "__dict__"):
        own = getattr(obj, "n_features_in_", None)
        if isinstance(own, int):
            n_features = own if n_features is None else min(n_features, own)
        mapper = getattr(obj, "_bin_mapper", None)
        if mapper is not None:
            categorical = getattr(mapper, "is_categorical_", None)
        children = list(vars(obj).values())
    else:
        return
    for child in children:
        _walk(child, n_features, categorical, source, seen, depth + 1)


def _refuse(source: str, what: str, why: str) -> StoreError:
    return StoreError(f"{source} holds a damaged or crafted {what}: {why}")


def _check_tree(tree: Any, n_features: int | None, source: str) -> None:
    import numpy as np

    if not 0 < tree.node_count <= tree.capacity:
        raise _refuse(source, "decision tree", f"{tree.node_count} nodes in {tree.capacity}")
    limit = tree.n_features if n_features is None else min(n_features, tree.n_features)
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    index = np.arange(tree.node_count)
    leaf = (left == -1) & (right == -1)
    inner = ~leaf
    bad = inner & ~((left > index) & (left < tree.node_count))
    bad |= inner & ~((right > index) & (right < tree.node_count))
    bad |= inner & ~((feature >= 0) & (feature < limit))
    if bad.any():
        node = int(np.flatnonzero(bad)[0])
        raise _refuse(
            source,
            "decision tree",
            f"node {node} points outside the tree (children {left[node]}, {right[node]}, "
            f"feature {feature[node]} of {limit})",
        )


def _check_predictor(predictor: Any, n_features: int | None, categorical: Any, source: str) -> None:
    import numpy as np
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    if (
        not isinstance(nodes, np.ndarray)
        or nodes.dtype != PREDICTOR_RECORD_DTYPE
        or nodes.ndim != 1
    ):
        raise _refuse(source, "gradient boosting tree", "its nodes are not a node array")
    if len(nodes) == 0 or n_features is None:
        raise _refuse(source, "gradient boosting tree", "no nodes, or no estimator around it")
    count = len(nodes)
    index = np.arange(count)
    inner = nodes["is_leaf"] == 0
    left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)
    feature = nodes["feature_idx"]
    bad = inner & ~((left > index) & (left < count) & (right > index) & (right < count))
    bad |= inner & ~((feature >= 0) & (feature < n_features))
    split_on_category = inner & (nodes["is_categorical"] != 0)
    if split_on_category.any():
        bitsets = [predictor.raw_left_cat_bitsets, predictor.binned_left_cat_bitsets]
        rows = min(len(b) if isinstance(b, np.ndarray) and b.ndim == 2 else 0 for b in bitsets)
        mask = np.asarray(categorical if categorical is not None else [], dtype=bool)
        known = np.zeros(count, dtype=bool)
        inside = (feature >= 0) & (feature < len(mask))
        known[inside] = mask[feature[inside]]
        bad |= split_on_category & ~((nodes["bitset_idx"] < rows) & known)
    if bad.any():
        node = int(np.flatnonzero(bad)[0])
        raise _refuse(
            source,
            "gradient boosting tree",
            f"node {node} points outside the tree (children {left[node]}, {right[node]}, "
            f"feature {feature[node]} of {n_features})",
        )
