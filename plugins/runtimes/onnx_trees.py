"""Tree models as one ``ai.onnx.ml.TreeEnsemble`` (opset 5) node, in float64.

Opset 5's ``TreeEnsemble`` keeps thresholds and leaf weights as float64 tensors and
tests category sets (``BRANCH_MEMBER``), so LightGBM's trees, scikit-learn's forests
and histogram boosting are evaluated with their own comparisons: ``x <= threshold``,
missing values sent the way the model learnt (``nodes_missing_value_tracks_true``),
categorical splits as set membership. Each leaf feeds one target, so a forest
classifier's tree is written once per class (a leaf's share of each class).

What each library does around the comparisons is written out here as it does it:

- LightGBM turns NaN into 0.0 on a feature whose splits learnt no missing values
  (``missing_type: None``) -- so NaN goes where 0.0 goes; ``Zero`` treats 0.0 as missing;
  a categorical split sends NaN and negative values right.
- scikit-learn trees compare ``float32(x)`` (their input dtype) with float64 thresholds.
- Histogram boosting starts from its baseline and adds every tree's leaf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from plugins.runtimes.onnx_graph import Graph, Unsupported

if TYPE_CHECKING:
    import numpy as np

LEQ, MEMBER = 0, 6
"""``nodes_modes`` values: BRANCH_LEQ (x <= split goes to the true branch), BRANCH_MEMBER."""

Split = tuple[int, int, float, tuple[float, ...], bool, Any, Any]
"""(feature, mode, threshold, members, missing goes true, true child, false child)."""
Describe = Callable[[Any], "float | Split"]
"""A tree's node -> its leaf weight, or its split."""


class Ensemble:
    """The arrays of one TreeEnsemble node, filled tree by tree."""

    def __init__(self, n_targets: int) -> None:
        self.n_targets = n_targets
        self.roots: list[int] = []
        self.feature: list[int] = []
        self.mode: list[int] = []
        self.split: list[float] = []
        self.members: dict[int, tuple[float, ...]] = {}
        self.missing_true: list[int] = []
        self.true_id: list[int] = []
        self.true_leaf: list[int] = []
        self.false_id: list[int] = []
        self.false_leaf: list[int] = []
        self.leaf_target: list[int] = []
        self.leaf_weight: list[float] = []

    def _node(self) -> int:
        for values in (
            self.feature,
            self.mode,
            self.missing_true,
            self.true_id,
            self.true_leaf,
            self.false_id,
            self.false_leaf,
        ):
            values.append(0)
        self.split.append(0.0)
        return len(self.feature) - 1

    def _leaf(self, target: int, weight: float) -> int:
        self.leaf_target.append(target)
        self.leaf_weight.append(float(weight))
        return len(self.leaf_weight) - 1

    def add(self, root: Any, describe: Describe, target: int) -> None:
        """One tree, walked from ``root`` with ``describe`` (no recursion: deep trees)."""
        top = describe(root)
        index = self._node()
        self.roots.append(index)
        if not isinstance(top, tuple):  # a one-leaf tree: a split whose branches agree
            leaf = self._leaf(target, top)
            self.true_id[index] = self.false_id[index] = leaf
            self.true_leaf[index] = self.false_leaf[index] = 1
            return
        stack: list[tuple[int, Split]] = [(index, top)]
        while stack:
            at, (feature, mode, threshold, members, missing_true, yes, no) = stack.pop()
            self.feature[at], self.mode[at], self.split[at] = feature, mode, threshold
            self.missing_true[at] = int(missing_true)
            if mode == MEMBER:
                self.members[at] = members
            for child, ids, leafs in (
                (yes, self.true_id, self.true_leaf),
                (no, self.false_id, self.false_leaf),
            ):
                described = describe(child)
                if isinstance(described, tuple):
                    ids[at], leafs[at] = self._node(), 0
                    stack.append((ids[at], described))
                else:
                    ids[at], leafs[at] = self._leaf(target, described), 1

    def add_arrays(self, tree: Any, leaf_value: np.ndarray, target: int) -> None:
        """One scikit-learn tree (``tree_``: parallel arrays, ``children_left == -1`` at a
        leaf), mapped with array operations rather than node by node: a forest of deep
        trees has millions of nodes. Internal nodes and leaves keep the tree's order."""
        import numpy as np

        left, right = tree.children_left, tree.children_right
        internal = left != -1
        if not internal[0]:
            self.add(0, lambda node: float(leaf_value[node]), target)
            return
        node_base, leaf_base = len(self.feature), len(self.leaf_weight)
        node_index = np.cumsum(internal) - 1 + node_base
        leaf_index = np.cumsum(~internal) - 1 + leaf_base
        ids = np.flatnonzero(internal)

        def child(children: np.ndarray) -> tuple[list[int], list[int]]:
            is_node = internal[children]
            where = np.where(is_node, node_index[children], leaf_index[children])
            return where.tolist(), (~is_node).astype(np.int64).tolist()

        true_id, true_leaf = child(left[ids])
        false_id, false_leaf = child(right[ids])
        missing = getattr(tree, "missing_go_to_left", None)
        self.roots.append(node_base)  # node 0 is the root and the first internal node
        self.feature.extend(tree.feature[ids].tolist())
        self.mode.extend([LEQ] * len(ids))
        self.split.extend(tree.threshold[ids].astype(np.float64).tolist())
        self.missing_true.extend(
            missing[ids].astype(np.int64).tolist() if missing is not None else [0] * len(ids)
        )
        self.true_id.extend(true_id)
        self.true_leaf.extend(true_leaf)
        self.false_id.extend(false_id)
        self.false_leaf.extend(false_leaf)
        leaves = np.flatnonzero(~internal)
        self.leaf_target.extend([target] * len(leaves))
        self.leaf_weight.extend(np.asarray(leaf_value, dtype=np.float64)[leaves].tolist())

    def emit(self, graph: Graph, features: str) -> str:
        """The TreeEnsemble node: ``[N, n_targets]`` float64 sums over the trees."""
        import numpy as np
        from onnx import numpy_helper

        membership: list[float] = []
        for at in range(len(self.mode)):
            if self.mode[at] == MEMBER:
                membership.extend(self.members[at])
                membership.append(float("nan"))
        attrs: dict[str, Any] = {
            "n_targets": self.n_targets,
            "aggregate_function": 1,  # SUM
            "post_transform": 0,  # NONE: the link function is written out after it
            "tree_roots": self.roots,
            "nodes_featureids": self.feature,
            "nodes_modes": numpy_helper.from_array(np.asarray(self.mode, dtype=np.uint8)),
            "nodes_splits": numpy_helper.from_array(np.asarray(self.split, dtype=np.float64)),
            "nodes_truenodeids": self.true_id,
            "nodes_trueleafs": self.true_leaf,
            "nodes_falsenodeids": self.false_id,
            "nodes_falseleafs": self.false_leaf,
            "nodes_missing_value_tracks_true": self.missing_true,
            "leaf_targetids": self.leaf_target,
            "leaf_weights": numpy_helper.from_array(np.asarray(self.leaf_weight, np.float64)),
        }
        if membership:
            attrs["membership_values"] = numpy_helper.from_array(
                np.asarray(membership, dtype=np.float64)
            )
        return graph.op("TreeEnsemble", [features], "trees", domain="ai.onnx.ml", **attrs)


# --- LightGBM ---------------------------------------------------------------------------

MISSING_NONE, MISSING_ZERO, MISSING_NAN = "None", "Zero", "NaN"


def lightgbm_scores(graph: Graph, features: str, dump: dict[str, Any]) -> str:
    """Raw scores ``[N, trees per iteration]`` of a LightGBM model (``Booster.dump_model``)."""
    import numpy as np

    if dump.get("average_output"):
        raise Unsupported("LightGBM random-forest mode (average_output) is not compiled")
    per_iteration = int(dump.get("num_tree_per_iteration", 1))
    zero_missing: set[int] = set()

    def describe(node: dict[str, Any]) -> float | Split:
        if "leaf_value" in node:
            return float(node["leaf_value"])
        feature = int(node["split_feature"])
        yes, no = node["left_child"], node["right_child"]
        if node["decision_type"] == "==":
            members = tuple(float(v) for v in str(node["threshold"]).split("||"))
            return feature, MEMBER, 0.0, members, False, yes, no
        if node["decision_type"] != "<=":
            raise Unsupported(f"LightGBM split {node['decision_type']!r} is not compiled")
        threshold = float(node["threshold"])
        missing = node.get("missing_type", MISSING_NONE)
        if missing == MISSING_NAN:
            goes = bool(node["default_left"])
        elif missing == MISSING_NONE:
            goes = threshold >= 0.0  # NaN is read as 0.0, and 0.0 <= threshold goes left
        elif missing == MISSING_ZERO:
            zero_missing.add(feature)  # 0.0 becomes NaN below, then the default side
            goes = bool(node["default_left"])
        else:
            raise Unsupported(f"LightGBM missing type {missing!r} is not compiled")
        return feature, LEQ, threshold, (), goes, yes, no

    ensemble = Ensemble(per_iteration)
    for i, tree in enumerate(dump["tree_info"]):
        ensemble.add(tree["tree_structure"], describe, i % per_iteration)
    if zero_missing:  # LightGBM's IsZero: |x| <= kZeroThreshold counts as missing
        mask = np.zeros(int(dump["max_feature_idx"]) + 1, dtype=bool)
        mask[sorted(zero_missing)] = True
        near = graph.op("LessOrEqual", [graph.op("Abs", [features]), graph.const(1e-35)])
        hit = graph.op("And", [near, graph.const(mask[None, :], "zero_missing")])
        features = graph.op("Where", [hit, graph.const(np.nan), features], "zero_as_nan")
    return ensemble.emit(graph, features)


# --- scikit-learn trees ---------------------------------------------------------------


def as_float32(graph: Graph, features: str) -> str:
    """scikit-learn's trees read their input as float32: round through it first."""
    from onnx import TensorProto

    single = graph.op("Cast", [features], "float32", to=TensorProto.FLOAT)
    return graph.op("Cast", [single], "float32_as_double", to=TensorProto.DOUBLE)


def forest_proba(graph: Graph, features: str, forest: Any, n_classes: int) -> str:
    """A forest classifier's ``predict_proba``: each tree's normalised leaf, summed, / trees.

    A leaf feeds one target, so each tree is written once per class; for two classes
    only the second class's trees are, and the first is ``1 - p`` (half the work; within
    1e-16 of scikit-learn's own sum, and the same label, since ``p > 1 - p`` exactly
    when the second class wins)."""
    import numpy as np

    classes = np.asarray(forest.classes_).astype(int)
    two = list(classes) == [0, 1] and n_classes == 2
    ensemble = Ensemble(1 if two else n_classes)
    for estimator in forest.estimators_:
        tree = estimator.tree_
        value = tree.value[:, 0, : len(classes)].astype(np.float64)
        total = value.sum(axis=1)
        total[total == 0.0] = 1.0
        proba = value / total[:, None]
        for k, target in enumerate(classes):
            if two and k == 0:
                continue
            ensemble.add_arrays(tree, proba[:, k], 0 if two else int(target))
    summed = ensemble.emit(graph, as_float32(graph, features))
    mean = graph.op("Div", [summed, graph.const(float(len(forest.estimators_)))], "mean")
    if not two:
        return mean
    return graph.op("Concat", [graph.op("Sub", [graph.const(1.0), mean]), mean], "proba", axis=1)


def forest_value(graph: Graph, features: str, forest: Any) -> str:
    """A forest regressor's mean of its trees' leaf values, ``[N, 1]``."""
    ensemble = Ensemble(1)
    for estimator in forest.estimators_:
        tree = estimator.tree_
        ensemble.add_arrays(tree, tree.value[:, 0, 0], 0)
    summed = ensemble.emit(graph, as_float32(graph, features))
    return graph.op("Div", [summed, graph.const(float(len(forest.estimators_)))], "mean")


def hist_gradient_boosting_raw(graph: Graph, features: str, model: Any) -> str:
    """Histogram boosting's raw predictions ``[N, trees per iteration]``: baseline + trees.

    ``features`` are in the order the model's own preprocessor makes (its categorical
    columns first, as ordinal codes, then the numeric ones). A categorical split sends
    the categories of its bitset left; NaN (missing, and unseen, which the signature
    made missing) goes where the split learnt missing values go."""
    import numpy as np

    per_iteration = model.n_trees_per_iteration_
    ensemble = Ensemble(per_iteration)
    for iteration in model._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            bitsets = predictor.raw_left_cat_bitsets

            def describe(node: int, nodes: Any = nodes, bitsets: Any = bitsets) -> float | Split:
                row = nodes[node]
                if row["is_leaf"]:
                    return float(row["value"])
                goes = bool(row["missing_go_to_left"])
                yes, no = int(row["left"]), int(row["right"])
                if row["is_categorical"]:
                    members = _bitset_members(bitsets[int(row["bitset_idx"])])
                    return int(row["feature_idx"]), MEMBER, 0.0, members, goes, yes, no
                threshold = float(row["num_threshold"])
                return int(row["feature_idx"]), LEQ, threshold, (), goes, yes, no

            ensemble.add(0, describe, k)
    summed = ensemble.emit(graph, features)
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(1, -1)
    return graph.op("Add", [summed, graph.const(baseline, "baseline")], "raw")


def _bitset_members(bitset: Any) -> tuple[float, ...]:
    """The category codes a scikit-learn bitset (uint32 words) holds."""
    members = [
        float(32 * word + bit)
        for word, value in enumerate(bitset)
        for bit in range(32)
        if (int(value) >> bit) & 1
    ]
    if not members:
        raise Unsupported("hist_gradient_boosting has a categorical split with no categories")
    return tuple(members)
