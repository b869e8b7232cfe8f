"""Checking a LightGBM ``model.txt`` before LightGBM's C++ reader sees it.

LightGBM parses the trees of a model file in parallel, slicing the text by the
header's ``tree_sizes``, and predicts by following node indices without bounds
checks. A crafted or damaged file therefore does not fail politely: a wrong
``tree_sizes`` read past the buffer (segfault), a tree that does not parse raised
inside an OpenMP region (abort: "terminate called without an active
exception"), a child index outside its tree was followed at predict time, and
``num_class=2000000000`` allocated 30 GiB for one row. So the text is read here
first, as data, and everything the reader slices by or predict follows is checked:
the header against the model's own ``model.json`` (classes, features), each tree
block where ``tree_sizes`` puts it, each tree's arrays' lengths, and every child,
feature and category index inside its range. Children must come after their node
(LightGBM numbers nodes in split order), so no path loops. What is checked is the
text that is then loaded (``Booster(model_str=...)``), never a second read.
"""

from __future__ import annotations

from typing import Any

from framework import StoreError

MODEL_FILE = "model.txt"
MAX_LEAVES = 131_072
"""LightGBM's own ceiling on ``num_leaves``."""
NODE_ARRAYS = ("split_feature", "split_gain", "threshold", "decision_type")
OPTIONAL_NODE_ARRAYS = ("internal_value", "internal_weight", "internal_count")
OPTIONAL_LEAF_ARRAYS = ("leaf_weight", "leaf_count")


def _refuse(problem: str) -> StoreError:
    return StoreError(f"{MODEL_FILE} is not a readable LightGBM model: {problem}")


def check_model_text(text: str, meta: dict[str, Any]) -> None:
    """Refuse (StoreError) a model text LightGBM would crash on or predict out of bounds."""
    marker = text.find("\nTree=")
    if marker < 0:
        raise _refuse("it has no trees")
    header = _key_values(text[:marker].splitlines(), "the header")
    classes = _int(header, "num_class", "the header")
    per_iteration = _int(header, "num_tree_per_iteration", "the header")
    expected = meta.get("n_classes") if meta.get("task") == "multiclass" else 1
    if classes != expected or per_iteration != classes:
        raise _refuse(
            f"num_class={classes} and num_tree_per_iteration={per_iteration}, but model.json "
            f"says the model has {expected} class output(s)"
        )
    features = header.get("feature_names", "").split()
    width = _int(header, "max_feature_idx", "the header") + 1
    if not width == len(features) == len(meta.get("features") or []):
        raise _refuse(
            f"it names {len(features)} features (max_feature_idx={width - 1}) but model.json "
            f"lists {len(meta.get('features') or [])}"
        )
    if "feature_infos" in header and len(header["feature_infos"].split()) != width:
        raise _refuse(f"feature_infos does not have {width} entries")
    sizes = _ints(header.get("tree_sizes", ""), "tree_sizes")
    start = marker + 1
    for index, size in enumerate(sizes):
        block = text[start : start + size]
        first, _, body = block.partition("\n")
        if size <= 0 or len(block) != size or first != f"Tree={index}":
            raise _refuse(f"tree_sizes does not match tree {index} (Tree={index} expected there)")
        _check_tree(body.splitlines(), index, width)
        start += size
    if not text[start:].lstrip("\n").startswith("end of trees"):
        raise _refuse(f"tree_sizes lists {len(sizes)} trees but the file has more")
    if not sizes or len(sizes) % per_iteration:
        raise _refuse(f"{len(sizes)} trees is not a whole number of iterations")


def _check_tree(lines: list[str], index: int, width: int) -> None:
    where = f"tree {index}"
    tree = _key_values(lines, where)
    leaves = _int(tree, "num_leaves", where)
    cats = _int(tree, "num_cat", where)
    if not 1 <= leaves <= MAX_LEAVES or not 0 <= cats < max(leaves, 1):
        raise _refuse(f"{where} has num_leaves={leaves}, num_cat={cats}")
    if tree.get("is_linear", "0") != "0":
        raise _refuse(f"{where} is a linear tree, which specops does not train")
    _floats(tree, "leaf_value", leaves, where)
    for name in OPTIONAL_LEAF_ARRAYS:
        # LightGBM writes a one-leaf tree's leaf_weight empty (a model trained on a
        # handful of rows has such trees): only that, exactly as it writes it
        if name in tree and not (leaves == 1 and tree[name] == ""):
            _floats(tree, name, leaves, where)
    if leaves == 1:
        return
    nodes = leaves - 1
    for name in (*NODE_ARRAYS, *OPTIONAL_NODE_ARRAYS):
        if name in NODE_ARRAYS or name in tree:
            _floats(tree, name, nodes, where)
    features = _ints(tree.get("split_feature", ""), f"{where} split_feature")
    if not all(0 <= feature < width for feature in features):
        raise _refuse(f"{where} splits on a feature outside the model's {width}")
    for side in ("left_child", "right_child"):
        children = _ints(tree.get(side, ""), f"{where} {side}")
        if len(children) != nodes:
            raise _refuse(f"{where} {side} has {len(children)} entries, not {nodes}")
        for node, child in enumerate(children):
            inside = node < child < nodes if child >= 0 else ~child < leaves
            if not inside:
                raise _refuse(f"{where} node {node} points outside the tree ({side}={child})")
    decisions = _ints(tree.get("decision_type", ""), f"{where} decision_type")
    thresholds = _floats(tree, "threshold", nodes, where)
    categorical = [node for node, kind in enumerate(decisions) if kind & 1]
    if not categorical:
        return
    bounds = _ints(tree.get("cat_boundaries", ""), f"{where} cat_boundaries")
    if len(bounds) != cats + 1 or bounds[0] != 0 or bounds != sorted(bounds):
        raise _refuse(f"{where} cat_boundaries does not hold {cats + 1} rising offsets")
    if len(_ints(tree.get("cat_threshold", ""), f"{where} cat_threshold")) != bounds[-1]:
        raise _refuse(f"{where} cat_threshold does not have {bounds[-1]} entries")
    for node in categorical:
        if not (thresholds[node].is_integer() and 0 <= thresholds[node] < cats):
            raise _refuse(f"{where} node {node} names a category set it does not have")


def _key_values(lines: list[str], where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in lines:
        key, equals, value = line.partition("=")
        if equals:
            values[key.strip()] = value.strip()
    return values


def _int(values: dict[str, str], key: str, where: str) -> int:
    try:
        return int(values[key])
    except (KeyError, ValueError):
        raise _refuse(f"{where} has no whole number {key}") from None


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(part) for part in text.split()]
    except ValueError:
        raise _refuse(f"{what} holds something that is not a whole number") from None


def _floats(values: dict[str, str], key: str, count: int, where: str) -> list[float]:
    parts = values.get(key, "").split()
    if len(parts) != count:
        raise _refuse(f"{where} {key} has {len(parts)} entries, not {count}")
    try:
        return [float(part) for part in parts]
    except ValueError:
        raise _refuse(f"{where} {key} holds something that is not a number") from None
