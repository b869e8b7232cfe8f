"""One ONNX graph from a model package: raw columns in, the package's predictions out.

Inputs, one per signature column, named after it:

- numeric and boolean columns: ``double [N, 1]``, NaN where missing;
- categorical columns: ``string [N, 1]``, a category's *key* (its text; a number as
  ``1`` or ``2.5``, a boolean as ``true``/``false``). Any other string (the empty one,
  say) is missing, which is also what an unseen value is on the native path.

Outputs: ``probabilities`` ``double [N, classes]``, ``code`` ``int64 [N]`` (the index of
the predicted label) and ``label`` ``string [N]`` for classifiers; ``value``
``double [N]`` for regression. The graph's metadata (``specops.*`` properties) repeats
the labels and the inputs' keys for whoever serves it elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plugins.runtimes.onnx_graph import Graph, Unsupported, double
from plugins.runtimes.onnx_transform import Coded, Column, Numeric, apply, check_transform, pick
from plugins.runtimes.onnx_trees import (
    forest_proba,
    forest_value,
    hist_gradient_boosting_raw,
    lightgbm_scores,
)

if TYPE_CHECKING:
    import onnx

    from framework import ModelPackage

LINEAR = frozenset({"logistic_regression", "linear_regression", "ridge"})
FORESTS = frozenset({"random_forest", "extra_trees"})
MODEL_TYPES = LINEAR | FORESTS | {"hist_gradient_boosting", "lightgbm"}
OUTPUTS = ("probabilities", "code", "label", "value")


@dataclass
class Built:
    """The graph and what a scorer needs to feed it (also written as ``onnx.json``)."""

    model: onnx.ModelProto
    inputs: list[dict[str, Any]]
    outputs: list[str]


def category_key(value: Any) -> str:
    """The text a categorical input carries for a training category."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def keys_of(name: str, categories: list[Any]) -> tuple[list[str], str]:
    """The keys of a column's categories and a string that is none of them (missing)."""
    keys = [category_key(value) for value in categories]
    if len(set(keys)) != len(keys):
        raise Unsupported(f"column {name!r} has categories that read as the same text")
    missing = ""
    while missing in keys:
        missing += "\x00"
    return keys, missing


def why_not_structure(package: ModelPackage) -> str | None:
    """Why this package's model or transform cannot be compiled (types only), or None."""
    model_type = package.metadata.get("model_type")
    if model_type not in MODEL_TYPES:
        return f"{model_type} is not a model type the onnx runtime compiles"
    try:
        if package.transform is not None:
            check_transform(package.transform)
    except Unsupported as exc:
        return str(exc)
    nodes = tree_nodes(package, model_type)
    if nodes > MAX_NODES:
        return (
            f"the model has about {nodes:,} tree nodes; the onnx runtime compiles at most "
            f"{MAX_NODES:,} (a graph that size would not fit the runtime's file bound)"
        )
    return None


MAX_NODES = 5_000_000
"""Tree nodes compiled at most: ~35 bytes each in the graph, so about 175 MB, under the
256 MB a runtime may store; building it holds them in Python lists meanwhile."""


def tree_nodes(package: ModelPackage, model_type: str) -> int:
    """How many tree nodes the graph would hold (cheap: counts, no walking)."""
    model = package.model
    if model_type in FORESTS:
        forest = model.estimator
        copies = 1 if package.task != "multiclass" else max(1, len(forest.classes_))
        return copies * sum(int(e.tree_.node_count) for e in forest.estimators_)
    if model_type == "hist_gradient_boosting":
        return sum(len(p.nodes) for iteration in model.estimator._predictors for p in iteration)
    if model_type == "lightgbm":
        booster = model._booster  # its params are the stored model's (a loaded one has them)
        leaves = int((getattr(booster, "params", None) or {}).get("num_leaves", 31))
        return int(booster.num_trees()) * (2 * leaves - 1)
    return 0


def build(package: ModelPackage) -> Built:
    """The whole graph; :class:`Unsupported` when something in the package is not compiled."""
    graph = Graph()
    columns, inputs = _inputs(graph, package)
    if package.transform is not None:
        columns = apply(graph, package.transform, columns)
    model_type = package.metadata["model_type"]
    features = _features(graph, package, model_type, columns)
    outputs = _outputs(graph, package, _head(graph, package, model_type, features))
    metadata = {
        "specops.model_type": str(model_type),
        "specops.task": package.task,
        "specops.labels": json.dumps(package.labels, default=str),
        "specops.inputs": json.dumps(inputs),
    }
    return Built(graph.model(DOC, metadata), inputs, outputs)


def _inputs(graph: Graph, package: ModelPackage) -> tuple[dict[str, Column], list[dict]]:
    """One graph input per signature column; categories coded by the graph's own lookup
    (``LabelEncoder``: a key to its code, anything else to 0, missing)."""
    import numpy as np
    import pandas as pd
    from onnx import TensorProto

    columns: dict[str, Column] = {}
    inputs: list[dict[str, Any]] = []
    for column in package.signature.columns:
        if column.name.startswith("specops/") or column.name in OUTPUTS:
            raise Unsupported(f"a column named {column.name!r} would clash with the graph's names")
        if column.role != "categorical":
            graph.add_input(column.name, TensorProto.DOUBLE, [None, 1])
            columns[column.name] = Numeric(column.name, 0, 1)
            inputs.append({"name": column.name, "type": "double", "role": column.role})
            continue
        categories = list(column.categories or [])
        if not categories:
            raise Unsupported(f"categorical column {column.name!r} has no training categories")
        keys, missing = keys_of(column.name, categories)
        graph.add_input(column.name, TensorProto.STRING, [None, 1])
        coded = graph.op(
            "LabelEncoder",
            [column.name],
            "category",
            domain="ai.onnx.ml",
            keys_strings=keys,
            values_int64s=list(range(1, len(keys) + 1)),
            default_int64=0,
        )
        flat = graph.op("Reshape", [coded, graph.const([-1], "flat", np.int64)], "codes")
        columns[column.name] = Coded(flat, tuple(categories), pd.CategoricalDtype(categories))
        inputs.append(
            {
                "name": column.name,
                "type": "string",
                "role": "categorical",
                "keys": keys,
                "missing": missing,
                "text": all(isinstance(value, str) for value in categories),
            }
        )
    return columns, inputs


def _outputs(graph: Graph, package: ModelPackage, head: str) -> list[str]:
    """The graph's outputs from the model's head; returns the ones the scorer reads."""
    import numpy as np
    from onnx import TensorProto

    if package.task == "regression":
        graph.rename(graph.op("Reshape", [head, graph.const([-1], "flat", np.int64)]), "value")
        graph.add_output("value", TensorProto.DOUBLE, [None])
        return ["value"]
    graph.rename(head, "probabilities")
    code = graph.op("ArgMax", [head], "code", axis=1, keepdims=0)
    graph.rename(code, "code")
    labels = np.asarray([str(label) for label in package.labels or []], dtype=object)
    graph.rename(graph.op("Gather", [graph.const(labels, "labels"), code]), "label")
    graph.add_output("probabilities", TensorProto.DOUBLE, [None, len(labels)])
    graph.add_output("code", TensorProto.INT64, [None])
    graph.add_output("label", TensorProto.STRING, [None])
    return ["code", "probabilities"]


DOC = (
    "specops model: one input per column (double [N,1] numbers, NaN missing; string [N,1] "
    "categories by key, any other string missing); outputs probabilities/code/label for "
    "classifiers, value for regression. See the specops.* metadata properties."
)


def _features(
    graph: Graph, package: ModelPackage, model_type: str, columns: dict[str, Column]
) -> str:
    """The model's input matrix ``[N, F]`` float64, columns in the order it was fitted on,
    categories coded as the model reads them."""
    if model_type == "lightgbm":
        names = list(package.model.features)
        categories = list(getattr(package.model._booster, "pandas_categorical", None) or [])
    else:
        estimator = package.model.estimator
        names = [str(n) for n in getattr(estimator, "feature_names_in_", list(columns))]
        categories = []
        if model_type == "hist_gradient_boosting" and estimator.is_categorical_ is not None:
            names, categories = _hist_gradient_boosting_order(estimator, names)
    missing = [name for name in names if name not in columns]
    if missing:
        raise Unsupported(f"the model reads {missing[0]!r}, which the transform does not make")
    picked: list[Column] = []
    categorical = 0
    for name in names:
        column = columns[name]
        if isinstance(column, Numeric):
            picked.append(column)
            continue
        if model_type == "hist_gradient_boosting" and categorical < len(categories):
            picked.append(_category_position(graph, column, categories[categorical]))
            categorical += 1
            continue
        if model_type != "lightgbm":
            raise Unsupported(
                f"{model_type} reading the categorical column {name!r} itself is not "
                "compiled (encode it with one_hot or ordinal first)"
            )
        if categorical >= len(categories):
            raise Unsupported("the LightGBM model does not list the categories of its columns")
        picked.append(_category_position(graph, column, categories[categorical]))
        categorical += 1
    if categorical != len(categories):
        raise Unsupported(f"the {model_type} model's categorical columns are not the ones it reads")
    return pick(graph, picked)


def _hist_gradient_boosting_order(estimator: Any, names: list[str]) -> tuple[list[str], list]:
    """The columns as histogram boosting's own preprocessor hands them to its trees: the
    categorical ones first (ordinal codes of its encoder's categories), then the others."""
    import numpy as np

    mask = np.asarray(estimator.is_categorical_, dtype=bool)
    remapped = np.asarray(estimator._is_categorical_remapped, dtype=bool)
    count = int(mask.sum())
    if list(remapped) != [True] * count + [False] * (len(mask) - count):
        raise Unsupported("hist_gradient_boosting orders its columns in a way not compiled")
    encoder = estimator._preprocessor.named_transformers_["encoder"]
    categories = [list(values) for values in encoder.categories_]
    ordered = [n for n, c in zip(names, mask, strict=True) if c]
    ordered += [n for n, c in zip(names, mask, strict=True) if not c]
    return ordered, categories


def _category_position(graph: Graph, column: Coded, trained: list[Any]) -> Numeric:
    """A category column as a tree model reads it: the value's position in the model's
    own training categories (LightGBM's ``pandas_categorical``, histogram boosting's
    encoder), NaN when missing or not among them."""
    import numpy as np

    trained = [v for v in trained if not (isinstance(v, float) and np.isnan(v))]
    position = {(type(v), v): i for i, v in enumerate(trained)}
    table = np.full((len(column.domain) + 1, 1), np.nan)
    for j, value in enumerate(column.domain):
        found = position.get((type(value), value))
        if found is None:  # numpy / Python scalars of equal value: compare as pandas does
            found = next((i for i, v in enumerate(trained) if v == value), None)
        if found is not None:
            table[j + 1, 0] = float(found)
    block = graph.op("Gather", [graph.const(table, "lgb_categories"), column.codes], "category")
    return Numeric(block, 0, 1)


def _head(graph: Graph, package: ModelPackage, model_type: str, features: str) -> str:
    """Probabilities ``[N, classes]`` or values ``[N, 1]``: the model on its features."""
    import numpy as np

    task = package.task
    model = package.model
    if model_type == "lightgbm":
        dump = model._booster.dump_model()
        raw = lightgbm_scores(graph, features, dump)
        return _lightgbm_link(graph, raw, task, str(dump.get("objective", "")))
    estimator = model.estimator
    if model_type in FORESTS:
        if task == "regression":
            return forest_value(graph, features, estimator)
        return forest_proba(graph, features, estimator, model.n_classes)
    if model_type == "hist_gradient_boosting":
        raw = hist_gradient_boosting_raw(graph, features, estimator)
        if task == "regression":
            if type(estimator._loss).__name__ != "HalfSquaredError":
                raise Unsupported("hist_gradient_boosting with a non-squared loss")
            return raw
        seen = _binary(graph, raw) if raw_width(estimator) == 1 else _softmax(graph, raw)
        return _place(graph, seen, estimator.classes_, model.n_classes)
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    intercept = np.asarray(estimator.intercept_, dtype=np.float64).reshape(-1)
    if task == "regression":
        weights = graph.const(coef.reshape(-1, 1), "coef")
        return graph.op("Add", [graph.op("MatMul", [features, weights]), graph.const(intercept)])
    decision = graph.op("MatMul", [features, graph.const(coef.T, "coef")], "decision")
    decision = graph.op("Add", [decision, graph.const(intercept, "intercept")], "decision")
    seen = _binary(graph, decision) if coef.shape[0] == 1 else _softmax(graph, decision)
    return _place(graph, seen, estimator.classes_, model.n_classes)


def raw_width(estimator: Any) -> int:
    return int(estimator.n_trees_per_iteration_)


def _binary(graph: Graph, score: str) -> str:
    """``[1 - p, p]`` with ``p = sigmoid(score)``, as scikit-learn and LightGBM stack it."""
    p = graph.op("Sigmoid", [score], "p")
    return graph.op("Concat", [graph.op("Sub", [graph.const(1.0), p]), p], "proba", axis=1)


def _softmax(graph: Graph, scores: str) -> str:
    return graph.op("Softmax", [scores], "proba", axis=1)


def _place(graph: Graph, seen: str, classes: Any, n_classes: int) -> str:
    """Columns of the classes the estimator saw, at their codes among ``n_classes``."""
    import numpy as np

    codes = np.asarray(classes).astype(int)
    if list(codes) == list(range(n_classes)):
        return seen
    placement = np.zeros((len(codes), n_classes))
    placement[np.arange(len(codes)), codes] = 1.0
    return graph.op("MatMul", [seen, graph.const(placement, "placement")], "proba")


def _lightgbm_link(graph: Graph, raw: str, task: str, objective: str) -> str:
    """LightGBM's output transform for the objectives specops trains."""
    words = objective.split()
    name = words[0] if words else ""
    if task == "regression":
        if name not in ("regression", "regression_l2", "l2"):
            raise Unsupported(f"LightGBM objective {objective!r} is not compiled")
        return raw
    if task == "binary":
        if name != "binary":
            raise Unsupported(f"LightGBM objective {objective!r} is not compiled")
        scale = next((float(w.split(":")[1]) for w in words if w.startswith("sigmoid:")), 1.0)
        if scale != 1.0:
            raw = graph.op("Mul", [raw, graph.const(double(scale))], "scaled")
        return _binary(graph, raw)
    if name != "multiclass":
        raise Unsupported(f"LightGBM objective {objective!r} is not compiled")
    return _softmax(graph, raw)
