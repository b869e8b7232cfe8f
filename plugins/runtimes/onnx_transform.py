"""The stored preprocessing pipeline as ONNX nodes, column by column, in float64.

The fitted pipeline is a scikit-learn ``Pipeline`` of ``ColumnTransformer`` steps built
from the built-in transforms (plugins/transforms.py): ``SimpleImputer``,
``MissingIndicator``, the three scalers, ``OneHotEncoder``, ``OrdinalEncoder``, and the
words ``drop`` / ``passthrough``. This module walks that structure and keeps, for every
column as it stands after each step, where its values are in the graph:

- :class:`Numeric`: one column of a float64 block ``[N, width]`` (numbers, and the
  booleans a missing indicator makes);
- :class:`Coded`: a categorical column as int64 codes ``[N]`` into its *domain* (the
  values it can hold), ``0`` meaning missing and ``j + 1`` the ``j``-th value.

A categorical column has a finite domain, so whatever a fitted encoder or imputer does
to it is a table: the runtime evaluates the fitted scikit-learn object itself on every
value of the domain (and on missing) once, at compile time, and the graph looks rows up
in that table (``Gather``). Unseen values are missing before the pipeline (the
signature maps them so), so this is the native behaviour by construction: infrequent
groups, unknown handling and imputation of categories come from scikit-learn's own code.
Numeric columns get the arithmetic each estimator does (``x - mean``, ``/ scale``, NaN
replaced by the statistic), one node per step over the step's whole block, in the order
scikit-learn does it, so results are bit-for-bit float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plugins.runtimes.onnx_graph import Graph, Unsupported

if TYPE_CHECKING:
    import pandas as pd

LEAVES = frozenset(
    {
        "SimpleImputer",
        "MissingIndicator",
        "StandardScaler",
        "MinMaxScaler",
        "RobustScaler",
        "OneHotEncoder",
        "OrdinalEncoder",
    }
)
"""The fitted scikit-learn estimators the built-in transforms store, by class name."""

MAX_DOMAIN = 100_000
"""Categories per column the tables are built for (one_hot's own bound on columns)."""


@dataclass(frozen=True)
class Numeric:
    """Column ``index`` of the float64 block ``block`` (``[N, width]``)."""

    block: str
    index: int
    width: int
    boolean: bool = False
    """A missing indicator's output: 0.0/1.0, a ``bool`` column to scikit-learn."""


@dataclass(frozen=True)
class Coded:
    """A categorical column: int64 codes ``[N]`` (0 missing, ``j + 1`` = ``domain[j]``)."""

    codes: str
    domain: tuple[Any, ...]
    dtype: Any
    """The pandas dtype the column had in training at this point (category, str, bool)."""


Column = Numeric | Coded


def _sklearn(estimator: Any) -> str:
    """The class name of a scikit-learn estimator; anything else is not compiled."""
    kind = type(estimator)
    if not kind.__module__.startswith("sklearn."):
        raise Unsupported(f"the transform holds a {kind.__name__}, not a scikit-learn estimator")
    return kind.__name__


def check_transform(step: Any) -> None:
    """Raise :class:`Unsupported` when ``step`` holds an estimator this module cannot
    compile (cheap: types only, no tables)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(step, str) and step in ("drop", "passthrough"):
        return
    if isinstance(step, Pipeline):
        for _, sub in step.steps:
            if sub is not None:
                check_transform(sub)
        return
    if isinstance(step, ColumnTransformer):
        for _, sub, _ in step.transformers_:
            check_transform(sub)
        return
    name = _sklearn(step)
    if _is_identity(step):
        return
    if name not in LEAVES:
        raise Unsupported(f"the transform holds a {name}, which the onnx runtime does not compile")


def apply(graph: Graph, step: Any, columns: dict[str, Column]) -> dict[str, Column]:
    """The columns after the fitted ``step`` (a Pipeline, ColumnTransformer or estimator)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(step, str):
        if step == "passthrough":
            return dict(columns)
        if step == "drop":
            return {}
        raise Unsupported(f"the transform holds the word {step!r}")
    if isinstance(step, Pipeline):
        for _, sub in step.steps:
            if sub is not None:
                columns = apply(graph, sub, columns)
        return columns
    if isinstance(step, ColumnTransformer):
        return _column_transformer(graph, step, columns)
    if _is_identity(step):
        return dict(columns)
    return _leaf(graph, step, columns)


def _is_identity(step: Any) -> bool:
    """A ColumnTransformer's fitted "passthrough": a FunctionTransformer without a function."""
    from sklearn.preprocessing import FunctionTransformer

    return type(step) is FunctionTransformer and step.func is None


def _column_transformer(graph: Graph, step: Any, columns: dict[str, Column]) -> dict[str, Column]:
    names = list(columns)
    out: dict[str, Column] = {}
    for _, sub, selection in step.transformers_:
        picked = _selected(selection, names)
        if not picked or (isinstance(sub, str) and sub == "drop"):
            continue
        for name, column in apply(graph, sub, {n: columns[n] for n in picked}).items():
            if name in out:
                raise Unsupported(f"the transform makes two columns named {name!r}")
            out[name] = column
    expected = [str(name) for name in step.get_feature_names_out()]
    if list(out) != expected:
        raise Unsupported("the transform's output columns are not the ones it names")
    return out


def _selected(selection: Any, names: list[str]) -> list[str]:
    """The column names a ColumnTransformer entry selects (names, positions or a mask)."""
    import numpy as np

    if isinstance(selection, str):
        return [selection]
    if isinstance(selection, slice):
        return names[selection]
    values = list(np.asarray(selection).tolist()) if not isinstance(selection, list) else selection
    if not values:
        return []
    if all(isinstance(v, bool) for v in values):
        return [name for name, keep in zip(names, values, strict=True) if keep]
    if all(isinstance(v, int) for v in values):
        return [names[v] for v in values]
    if all(isinstance(v, str) for v in values):
        missing = [v for v in values if v not in names]
        if missing:
            raise Unsupported(f"the transform selects {missing[0]!r}, which is not a column here")
        return list(values)
    raise Unsupported("the transform selects columns in a way the onnx runtime cannot follow")


def _sources(estimator: Any, kind: str, names: list[str], produced: list[str]) -> list[str]:
    """For each output column of a leaf, the input column it is computed from."""
    if kind == "MissingIndicator":
        sources = [names[i] for i in estimator.features_]
    elif kind == "OneHotEncoder":
        sources = [
            name
            for name, width in zip(names, estimator._n_features_outs, strict=True)
            for _ in range(width)
        ]
    elif kind == "SimpleImputer":
        sources = list(produced)  # kept columns keep their names
    else:
        sources = list(names)
    if len(sources) != len(produced) or (kind == "SimpleImputer" and set(sources) - set(names)):
        raise Unsupported(f"cannot tell which input makes each output of {kind}")
    return sources


def _leaf(graph: Graph, estimator: Any, columns: dict[str, Column]) -> dict[str, Column]:
    kind = _sklearn(estimator)
    if kind not in LEAVES:
        raise Unsupported(f"the transform holds a {kind}, which the onnx runtime does not compile")
    names = list(columns)
    produced = [str(name) for name in estimator.get_feature_names_out()]
    sources = _sources(estimator, kind, names, produced)
    if kind in ("OneHotEncoder", "OrdinalEncoder"):  # numbers and booleans go in as codes
        columns = {
            n: as_coded(graph, c)
            if _is_bool(c)
            else numbers_as_coded(graph, c, estimator.categories_[names.index(n)])
            if isinstance(c, Numeric)
            else c
            for n, c in columns.items()
        }
    numeric = [n for n in names if isinstance(columns[n], Numeric)]
    coded = [n for n in names if isinstance(columns[n], Coded)]
    out: dict[str, Column] = {}
    if numeric:
        wanted = [n for n in numeric if n in sources]
        out.update(_numeric_leaf(graph, estimator, kind, names, wanted, columns, produced, sources))
    if coded:
        out.update(_coded_leaf(graph, estimator, names, coded, columns, produced, sources))
    return {name: out[name] for name in produced}


def _is_bool(column: Column) -> bool:
    return isinstance(column, Numeric) and column.boolean


def as_coded(graph: Graph, column: Column) -> Coded:
    """A 0/1 column as codes into the domain (False, True)."""
    import numpy as np
    from onnx import TensorProto

    if isinstance(column, Coded):
        return column
    value = pick(graph, [column])
    flat = graph.op("Reshape", [value, graph.const([-1], "flat", np.int64)])
    codes = graph.op("Cast", [flat], "bool_codes", to=TensorProto.INT64)
    shifted = graph.op("Add", [codes, graph.const(1, "one", np.int64)], "bool_codes")
    return Coded(shifted, (False, True), np.dtype(bool))


def numbers_as_coded(graph: Graph, column: Numeric, categories: Any) -> Coded:
    """A numeric column an encoder learnt categories of, as codes into those categories
    plus one number that is none of them (what the encoder does with an unknown number
    is read from scikit-learn like the rest of the table); NaN is missing."""
    import numpy as np
    from onnx import TensorProto

    known = [float(v) for v in np.asarray(categories, dtype=np.float64) if not np.isnan(v)]
    if len(known) > MAX_DOMAIN:
        raise Unsupported(f"an encoder learnt more than {MAX_DOMAIN} numbers as categories")
    other = max(known) + 1.0 if known else 0.0
    value = pick(graph, [column])
    equal = graph.op("Equal", [value, graph.const(np.asarray([known]), "categories")])
    ranks = graph.const(np.arange(1, len(known) + 1, dtype=np.float64).reshape(-1, 1), "ranks")
    found = graph.op("MatMul", [graph.op("Cast", [equal], to=TensorProto.DOUBLE), ranks])
    unknown = graph.const(float(len(known) + 1), "unknown")
    code = graph.op("Where", [graph.op("Greater", [found, graph.const(0.0)]), found, unknown])
    code = graph.op("Where", [graph.op("IsNaN", [value]), graph.const(0.0), code], "code")
    flat = graph.op("Reshape", [code, graph.const([-1], "flat", np.int64)])
    codes = graph.op("Cast", [flat], "number_codes", to=TensorProto.INT64)
    return Coded(codes, (*known, other), np.dtype(np.float64))


def _numeric_leaf(
    graph: Graph,
    estimator: Any,
    kind: str,
    names: list[str],
    wanted: list[str],
    columns: dict[str, Column],
    produced: list[str],
    sources: list[str],
) -> dict[str, Column]:
    """Vectorised arithmetic over the leaf's numeric inputs: one block in, one block out."""
    import numpy as np
    from onnx import TensorProto

    if not wanted:
        return {}
    block = pick(graph, [columns[n] for n in wanted])
    at = [names.index(n) for n in wanted]
    boolean = False
    if kind == "SimpleImputer":
        _require_nan_missing(estimator, kind)
        stats = np.asarray(estimator.statistics_, dtype=np.float64)[at]
        block = graph.op(
            "Where", [graph.op("IsNaN", [block]), graph.const(stats, "fill"), block], "impute"
        )
    elif kind == "MissingIndicator":
        _require_nan_missing(estimator, kind)
        block = graph.op("Cast", [graph.op("IsNaN", [block])], "indicator", to=TensorProto.DOUBLE)
        boolean = True
    elif kind == "StandardScaler":
        if estimator.with_mean:
            block = graph.op("Sub", [block, graph.const(estimator.mean_[at], "mean")], "center")
        if estimator.with_std:
            block = graph.op("Div", [block, graph.const(estimator.scale_[at], "scale")], "scale")
    elif kind == "RobustScaler":
        if estimator.with_centering:
            block = graph.op("Sub", [block, graph.const(estimator.center_[at], "center")])
        if estimator.with_scaling:
            block = graph.op("Div", [block, graph.const(estimator.scale_[at], "scale")])
    elif kind == "MinMaxScaler":
        if estimator.clip:
            raise Unsupported("MinMaxScaler with clip is not compiled")
        block = graph.op("Mul", [block, graph.const(estimator.scale_[at], "scale")])
        block = graph.op("Add", [block, graph.const(estimator.min_[at], "min")])
    else:
        raise Unsupported(f"{kind} of numeric columns is not compiled")
    # scikit-learn keeps outputs in input order; a column may be dropped (all-missing)
    position = {name: i for i, name in enumerate(wanted)}
    return {
        out: Numeric(block, position[source], len(wanted), boolean)
        for out, source in zip(produced, sources, strict=True)
        if source in position
    }


def _require_nan_missing(estimator: Any, kind: str) -> None:
    import numpy as np

    value = estimator.missing_values
    if not (isinstance(value, float) and np.isnan(value)):
        raise Unsupported(f"{kind} with missing_values={value!r} is not compiled")


def _coded_leaf(
    graph: Graph,
    estimator: Any,
    names: list[str],
    coded: list[str],
    columns: dict[str, Column],
    produced: list[str],
    sources: list[str],
) -> dict[str, Column]:
    """Tables from scikit-learn's own transform of every domain value, looked up by code."""
    import numpy as np
    import pandas as pd

    probe = _probe_frame(names, columns)
    table = estimator.transform(probe)
    if not isinstance(table, pd.DataFrame):
        table = pd.DataFrame(table, columns=produced)
    out: dict[str, Column] = {}
    for source in coded:
        column = columns[source]
        assert isinstance(column, Coded)
        rows = len(column.domain) + 1
        mine = [name for name, s in zip(produced, sources, strict=True) if s == source]
        numbers = [n for n in mine if _numeric_dtype(table[n].dtype)]
        if numbers:
            values = table[numbers].iloc[:rows].to_numpy(dtype=np.float64, na_value=np.nan)
            block = graph.op("Gather", [graph.const(values, "table"), column.codes], "lookup")
            for i, name in enumerate(numbers):
                boolean = pd.api.types.is_bool_dtype(table[name].dtype)
                out[name] = Numeric(block, i, len(numbers), boolean)
        for name in mine:
            if name not in numbers:
                out[name] = _recoded(graph, table[name].iloc[:rows], column)
    return out


def _numeric_dtype(dtype: Any) -> bool:
    from pandas.api import types

    return types.is_bool_dtype(dtype) or types.is_numeric_dtype(dtype)


def _recoded(graph: Graph, values: pd.Series, column: Coded) -> Coded:
    """A categorical output (an imputed category column): codes into its own domain."""
    import numpy as np
    import pandas as pd

    domain: list[Any] = []
    index: dict[Any, int] = {}
    codes = np.zeros(len(values), dtype=np.int64)
    for row, value in enumerate(values.astype(object).tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            continue
        key = (type(value), value)
        if key not in index:
            index[key] = len(domain)
            domain.append(value)
        codes[row] = index[key] + 1
    table = graph.const(codes, "recode")
    return Coded(graph.op("Gather", [table, column.codes], "recoded"), tuple(domain), values.dtype)


def _probe_frame(names: list[str], columns: dict[str, Column]) -> pd.DataFrame:
    """One row per code (row 0 missing, row j + 1 the j-th value) for every categorical
    column, padded to the longest; numeric columns are zeros (their outputs are computed
    by arithmetic, not read from here)."""
    import numpy as np
    import pandas as pd

    size = 1 + max(len(c.domain) for c in columns.values() if isinstance(c, Coded))
    data: dict[str, Any] = {}
    for name in names:
        column = columns[name]
        if isinstance(column, Numeric):
            data[name] = np.zeros(size, dtype=bool if column.boolean else np.float64)
            continue
        values: list[Any] = list(column.domain)
        if pd.api.types.is_bool_dtype(column.dtype):
            values = [values[0], *values]  # never missing: row 0 is never looked up
        else:
            values = [None, *values]
        values += [values[-1]] * (size - len(values))
        data[name] = pd.Series(values, dtype=column.dtype)
    return pd.DataFrame(data)


def pick(graph: Graph, columns: list[Column]) -> str:
    """A float64 block ``[N, len(columns)]`` of these numeric columns, in this order (a
    whole block as it is, else the columns gathered from each block and concatenated)."""
    import numpy as np

    pieces: list[str] = []
    run: list[Numeric] = []

    def flush() -> None:
        if not run:
            return
        first = run[0]
        indices = [c.index for c in run]
        if indices == list(range(first.width)):
            pieces.append(first.block)
        else:
            at = graph.const(np.asarray(indices, dtype=np.int64), "columns")
            pieces.append(graph.op("Gather", [first.block, at], "pick", axis=1))
        run.clear()

    for column in columns:
        if not isinstance(column, Numeric):
            raise Unsupported("a categorical column reaches a numeric operation")
        if run and run[0].block != column.block:
            flush()
        run.append(column)
    flush()
    if len(pieces) == 1:
        return pieces[0]
    return graph.op("Concat", pieces, "features", axis=1)
