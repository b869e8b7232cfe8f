"""The stored preprocessing pipeline as data, and its evaluation in vectorised NumPy.

:func:`compile_transform` reads what the fitted scikit-learn objects learned (an
imputer's fill values, a scaler's means and scales, an encoder's categories) into a
JSON-able dict; :class:`NumpyTransform` evaluates that dict on raw columns and returns
the float64 matrix the model would have been given by the native pipeline, value for
value. Nothing in the dict is code: a stored package's runtime file is read as numbers
and category values only.

How the native path is mirrored:

- the pipeline is a list of ``ColumnTransformer`` steps (one per ``preprocess:`` step,
  the others passed through, see framework/preprocess.py); a step's output is its
  transformers' outputs in order, then the remainder, exactly as scikit-learn orders it;
- the state between steps is one ``(rows, slots)`` float64 matrix. A numeric slot holds
  the value (NaN missing); a categorical slot holds the code of its value in a list
  known at compile time (the signature's categories, plus an imputer's fill value), NaN
  when missing. Encoders become lookup tables over those codes, so at run time a
  category is never compared as text again;
- encoder tables are not derived from scikit-learn's private rules (infrequent
  categories, unknown handling, missing as a category): the fitted encoder itself
  encodes every value a slot can hold, once, at compile time, and its answers are the
  table;
- scalers apply the same float64 operations in the same order as scikit-learn
  (``(x - mean) / scale``; min-max ``x * scale + min``), elementwise, so bits agree.

Anything else in a pipeline (a transform from a third-party plugin) raises
:class:`TransformUnsupported` with what it is, and the runtime says why it cannot serve.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework import category_coder

if TYPE_CHECKING:
    import numpy as np

FORMAT = 1
"""Version of the transform JSON; a loader refuses a format it does not know."""

PROBE_CELLS = 4_000_000
"""At most this many cells (32 MB of float64) per call when an encoder is asked how it
encodes every value: a one-hot of a thousand categories is asked in chunks."""


class TransformUnsupported(Exception):
    """The pipeline holds something this compiler does not evaluate; the message says what."""


# ----------------------------------------------------------------------------- compiling


@dataclass
class _Slot:
    """One column of the state between steps, as the compiler knows it."""

    name: str
    kind: str  # "num" or "cat"
    vocab: list[Any] = field(default_factory=list)
    """cat: the values the codes stand for."""
    pristine: bool = False
    """cat: still the signature's ``category`` column (not yet through an imputer)."""


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def compile_transform(transform: Any | None, signature: Any) -> dict[str, Any]:
    """The fitted ``transform`` (None: no preprocessing) as a JSON-able dict, for a model
    whose input ``signature`` (the package's) gives the columns, roles and categories."""
    slots = [
        _Slot(c.name, "cat", list(c.categories or []), True)
        if c.role == "categorical"
        else _Slot(c.name, "num")
        for c in signature.columns
    ]
    inputs = [
        {"name": c.name, "kind": "cat" if c.role == "categorical" else "num"}
        | ({"categories": list(c.categories or [])} if c.role == "categorical" else {})
        for c in signature.columns
    ]
    steps: list[dict[str, Any]] = []
    for step in _steps_of(transform):
        compiled, slots = _compile_step(step, slots)
        steps.append(compiled)
    return {"format": FORMAT, "inputs": inputs, "steps": steps, "slots": _describe(slots)}


def _describe(slots: list[_Slot]) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "kind": s.kind} | ({"vocab": s.vocab} if s.kind == "cat" else {})
        for s in slots
    ]


def _steps_of(transform: Any | None) -> list[Any]:
    if transform is None:
        return []
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(transform, Pipeline):
        steps = [step for _, step in transform.steps]
    else:
        steps = [transform]
    for step in steps:
        if not isinstance(step, ColumnTransformer):
            raise TransformUnsupported(f"a pipeline step is a {type(step).__name__}")
    return steps


def _compile_step(ct: Any, slots: list[_Slot]) -> tuple[dict[str, Any], list[_Slot]]:
    """One fitted ColumnTransformer: its parts (each reading slots, writing a block) and
    the slots after it, checked against scikit-learn's own output names."""
    position = {s.name: i for i, s in enumerate(slots)}
    names_in = [str(n) for n in getattr(ct, "feature_names_in_", [])]
    if names_in != [s.name for s in slots]:
        raise TransformUnsupported(
            "a step's input columns differ from the compiler's: "
            f"{names_in[:5]} against {[s.name for s in slots][:5]}"
        )
    parts: list[dict[str, Any]] = []
    out: list[_Slot] = []
    for _, trans, columns in ct.transformers_:
        indices = _indices(columns, names_in, position)
        if not indices or (isinstance(trans, str) and trans == "drop"):
            continue
        compiled, produced = _compile_part(trans, indices, slots)
        parts.extend(compiled)
        out.extend(produced)
    expected = [str(n) for n in ct.get_feature_names_out()]
    if expected != [s.name for s in out]:
        raise TransformUnsupported(
            f"compiled columns {[s.name for s in out][:6]} differ from scikit-learn's "
            f"{expected[:6]}"
        )
    return {"parts": parts}, out


def _indices(columns: Any, names: list[str], position: dict[str, int]) -> list[int]:
    import numpy as np

    if isinstance(columns, str):
        columns = [columns]
    values = list(np.asarray(columns).tolist()) if not isinstance(columns, list) else columns
    if values and all(isinstance(v, bool) for v in values):  # a boolean mask
        return [i for i, keep in enumerate(values) if keep]
    return [int(v) if isinstance(v, int) else position[str(v)] for v in values]


def _compile_part(
    trans: Any, indices: list[int], slots: list[_Slot]
) -> tuple[list[dict[str, Any]], list[_Slot]]:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.preprocessing import (
        FunctionTransformer,
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        RobustScaler,
        StandardScaler,
    )

    taken = [slots[i] for i in indices]
    if (isinstance(trans, str) and trans == "passthrough") or _is_passthrough(trans):
        return [{"op": "take", "cols": indices}], list(taken)
    if isinstance(trans, ColumnTransformer):
        return _compile_nested(trans, indices, slots)
    if isinstance(trans, SimpleImputer):
        return _compile_imputer(trans, indices, taken)
    if isinstance(trans, MissingIndicator):
        return _compile_indicator(trans, indices, taken)
    if isinstance(trans, StandardScaler):
        ops = []
        if trans.with_mean:
            ops.append(["sub", _floats(trans.mean_)])
        if trans.with_std:
            ops.append(["div", _floats(trans.scale_)])
        return [{"op": "affine", "cols": indices, "ops": ops}], _numeric(taken)
    if isinstance(trans, MinMaxScaler):
        ops = [["mul", _floats(trans.scale_)], ["add", _floats(trans.min_)]]
        if trans.clip:
            ops.append(["clip", list(map(float, trans.feature_range))])
        return [{"op": "affine", "cols": indices, "ops": ops}], _numeric(taken)
    if isinstance(trans, RobustScaler):
        ops = []
        if trans.with_centering:
            ops.append(["sub", _floats(trans.center_)])
        if trans.with_scaling:
            ops.append(["div", _floats(trans.scale_)])
        return [{"op": "affine", "cols": indices, "ops": ops}], _numeric(taken)
    if isinstance(trans, OneHotEncoder | OrdinalEncoder):
        return _compile_encoder(trans, indices, taken)
    if isinstance(trans, FunctionTransformer):
        raise TransformUnsupported("a FunctionTransformer that is not a passthrough")
    raise TransformUnsupported(f"{type(trans).__name__} is not a transform it compiles")


def _is_passthrough(trans: Any) -> bool:
    """A fitted ColumnTransformer keeps 'passthrough' as an identity FunctionTransformer."""
    from sklearn.preprocessing import FunctionTransformer

    return (
        isinstance(trans, FunctionTransformer) and trans.func is None and trans.inverse_func is None
    )


def _floats(values: Any) -> list[float]:
    import numpy as np

    return [float(v) for v in np.asarray(values, dtype="float64").ravel()]


def _numeric(taken: list[_Slot]) -> list[_Slot]:
    for slot in taken:
        if slot.kind != "num":
            raise TransformUnsupported(f"a scaler on categorical column '{slot.name}'")
    return [_Slot(s.name, "num") for s in taken]


def _compile_nested(
    ct: Any, indices: list[int], slots: list[_Slot]
) -> tuple[list[dict[str, Any]], list[_Slot]]:
    """The impute step's inner ColumnTransformer (numeric and categorical imputers plus
    an indicator, the remainder dropped): its parts read the outer step's slots."""
    sub = [slots[i] for i in indices]
    position = {s.name: i for i, s in enumerate(sub)}
    names = [s.name for s in sub]
    parts: list[dict[str, Any]] = []
    out: list[_Slot] = []
    for name, trans, columns in ct.transformers_:
        inner = _indices(columns, names, position)
        if not inner:
            continue
        if name == "remainder":
            if isinstance(trans, str) and trans == "drop":
                continue
            raise TransformUnsupported("a nested ColumnTransformer that keeps its remainder")
        if isinstance(trans, str) and trans == "drop":
            continue
        compiled, produced = _compile_part(trans, [indices[i] for i in inner], slots)
        parts.extend(compiled)
        out.extend(produced)
    expected = [str(n) for n in ct.get_feature_names_out()]
    if expected != [s.name for s in out]:
        raise TransformUnsupported(f"nested columns {[s.name for s in out][:6]} != {expected[:6]}")
    return parts, out


def _compile_imputer(
    imputer: Any, indices: list[int], taken: list[_Slot]
) -> tuple[list[dict[str, Any]], list[_Slot]]:
    """Fill values per column (a number, or the code of the fill category); a column
    whose statistic is missing (empty in training) is dropped by scikit-learn, here too."""
    if not _is_nan(_python(imputer.missing_values)):
        raise TransformUnsupported("a SimpleImputer whose missing_values is not NaN")
    if getattr(imputer, "add_indicator", False):
        raise TransformUnsupported("a SimpleImputer with add_indicator")
    kept = {str(n) for n in imputer.get_feature_names_out()}
    cols: list[int] = []
    fills: list[float] = []
    out: list[_Slot] = []
    for slot, index, statistic in zip(taken, indices, imputer.statistics_, strict=True):
        if slot.name not in kept:
            continue
        value = _python(statistic)
        cols.append(index)
        if slot.kind == "cat":
            vocab = [*slot.vocab, value]
            fills.append(float(len(vocab) - 1))
            out.append(_Slot(slot.name, "cat", vocab, False))
            continue
        try:
            fills.append(float(value))
        except (TypeError, ValueError) as exc:
            raise TransformUnsupported(
                f"numeric column '{slot.name}' filled with {value!r}"
            ) from exc
        out.append(_Slot(slot.name, "num"))
    return [{"op": "fill", "cols": cols, "values": fills}], out


def _compile_indicator(
    indicator: Any, indices: list[int], taken: list[_Slot]
) -> tuple[list[dict[str, Any]], list[_Slot]]:
    if not _is_nan(_python(indicator.missing_values)):
        raise TransformUnsupported("a MissingIndicator whose missing_values is not NaN")
    features = [int(i) for i in indicator.features_]
    cols = [indices[i] for i in features]
    out = [_Slot(f"missingindicator_{taken[i].name}", "num") for i in features]
    return [{"op": "indicator", "cols": cols}], out


def _compile_encoder(
    encoder: Any, indices: list[int], taken: list[_Slot]
) -> tuple[list[dict[str, Any]], list[_Slot]]:
    """Ask the fitted encoder how it encodes every value each slot can hold (all
    categories, missing, and for numeric slots an unseen number), and keep the answers
    as tables."""
    import numpy as np
    import pandas as pd
    from sklearn.preprocessing import OneHotEncoder

    one_hot = isinstance(encoder, OneHotEncoder)
    if one_hot and getattr(encoder, "drop_idx_", None) is not None:
        raise TransformUnsupported("a OneHotEncoder with drop")
    probes: list[list[Any]] = []
    for slot, categories in zip(taken, encoder.categories_, strict=True):
        if slot.kind == "cat":
            probes.append([*slot.vocab, None])
        else:
            known = sorted({float(v) for v in categories if not _is_nan(_python(v))})
            unseen = (max(known) + 1.0) if known else 0.0
            probes.append([*known, float("nan"), unseen])
    widths = list(encoder._n_features_outs) if one_hot else [1] * len(taken)
    found: list[list[Any]] = [[] for _ in taken]
    length = max(len(p) for p in probes)
    step = max(1, PROBE_CELLS // max(1, sum(widths)))  # bounded memory per transform call
    dtypes = {slot.name: pd.CategoricalDtype(slot.vocab) for slot in taken if slot.pristine}
    asked = copy.deepcopy(encoder).set_output(transform="default")  # arrays, not frames
    for begin in range(0, length, step):
        end = min(length, begin + step)
        frame = {
            slot.name: _probe_column(slot, probe, begin, end, dtypes.get(slot.name))
            for slot, probe in zip(taken, probes, strict=True)
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "unknown categories encoded as zeros": asked for
            encoded = np.asarray(asked.transform(pd.DataFrame(frame)), dtype="float64")
        if sum(widths) != encoded.shape[1]:
            raise TransformUnsupported(f"{type(encoder).__name__} output widths do not add up")
        start = 0
        for j, (probe, width) in enumerate(zip(probes, widths, strict=True)):
            block = encoded[: max(0, min(end, len(probe)) - begin), start : start + width]
            start += width
            found[j].extend(_one_hot_positions(block) if one_hot else _ordinal_values(block))
    features: list[dict[str, Any]] = []
    for slot, probe, answers in zip(taken, probes, found, strict=True):
        if slot.kind == "cat":
            features.append({"kind": "cat", "table": answers})
        else:
            features.append(
                {
                    "kind": "num",
                    "keys": probe[:-2],
                    "table": answers[:-2],
                    "nan": answers[-2],
                    "unseen": answers[-1],
                }
            )
    names = [str(n) for n in encoder.get_feature_names_out()]
    op = "one_hot" if one_hot else "ordinal"
    part = {"op": op, "cols": indices, "features": features, "widths": widths}
    return [part], [_Slot(name, "num") for name in names]


def _probe_column(slot: _Slot, probe: list[Any], begin: int, end: int, dtype: Any) -> Any:
    """Rows ``begin:end`` of one slot's probe values, typed as the native step sees them
    (the signature's categorical column, an imputer's object column, or floats); rows
    past the probe's end are missing."""
    import numpy as np
    import pandas as pd

    rows = end - begin
    if slot.kind == "num":
        values = np.full(rows, np.nan)
        real = probe[begin:end]
        values[: len(real)] = real
        return pd.Series(values, dtype="float64")
    if slot.pristine:  # codes past the vocabulary (the None probe, padding) are missing
        codes = np.arange(begin, end)
        codes[codes >= len(slot.vocab)] = -1
        return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype))
    values = np.full(rows, None, dtype=object)
    real = probe[begin:end]
    values[: len(real)] = real
    return pd.Series(values, dtype=object)


def _one_hot_positions(block: np.ndarray) -> list[int]:
    """Per probe row, the column holding its 1 (-1: all zeros)."""
    import numpy as np

    ones = block == 1.0
    if not np.all((block == 0.0) | ones) or np.any(ones.sum(axis=1) > 1):
        raise TransformUnsupported("a one-hot block that is not one 1 per row")
    return [int(np.argmax(row)) if row.any() else -1 for row in ones]


def _ordinal_values(block: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in block[:, 0]]


# ----------------------------------------------------------------------------- evaluating


class NumpyTransform:
    """A compiled transform, ready to turn raw columns into the model's matrix.

    ``matrix`` returns ``(rows, slots)`` float64 in the final slot order; categorical
    slots still hold their codes (NaN missing), which :meth:`category_codes` maps to
    what a model wants (LightGBM: its training-category codes)."""

    def __init__(self, data: dict[str, Any]) -> None:
        import numpy as np

        if data.get("format") != FORMAT:
            raise ValueError(f"transform format {data.get('format')!r}, expected {FORMAT}")
        self.inputs: list[tuple[str, bool, Any, list[Any] | None]] = []
        for column in data["inputs"]:
            if column["kind"] == "cat":
                categories = list(column["categories"])
                lookup = _fast_lookup(categories)
                self.inputs.append((column["name"], True, lookup, category_coder(categories)))
            else:
                self.inputs.append((column["name"], False, None, None))
        _check_widths(data)
        self.steps = [[_part(p) for p in step["parts"]] for step in data["steps"]]
        self.slots: list[dict[str, Any]] = data["slots"]
        self.names = [s["name"] for s in self.slots]
        self._np = np

    def matrix(self, columns: Any, rows: int) -> np.ndarray:
        np = self._np
        state = np.empty((rows, len(self.inputs)), dtype="float64")
        for i, (name, categorical, lookup, coder) in enumerate(self.inputs):
            values = columns[name]
            if categorical:
                state[:, i] = category_codes(values, lookup, coder)
            else:
                state[:, i] = values
        for parts in self.steps:
            blocks = [part(state) for part in parts]
            state = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
        return state


TEXT_TYPES = frozenset({str, type(None)})
NUMBER_TYPES = frozenset({int, float, type(None)})


MAX_COLUMNS = 1_000_000
"""More columns than any fitted pipeline here makes: a file asking for more is refused at
load rather than allocating rows x columns at the first request."""


def _check_widths(data: dict[str, Any]) -> None:
    """Every step reads columns that exist and writes a bounded number of them."""
    width = len(data["inputs"])
    for number, step in enumerate(data["steps"]):
        out = 0
        for part in step["parts"]:
            cols = [int(c) for c in part["cols"]]
            if any(c < 0 or c >= width for c in cols):
                raise ValueError(f"transform step {number} reads a column that is not there")
            widths = part.get("widths")
            op = part["op"]
            if op == "one_hot":
                out += sum(int(w) for w in widths)
            elif op == "ordinal" or op in ("take", "fill", "indicator", "affine"):
                out += len(cols)
            else:
                raise ValueError(f"unknown transform op {op!r}")
        if out > MAX_COLUMNS:
            raise ValueError(f"transform step {number} makes {out} columns")
        width = out
    if width != len(data["slots"]):
        raise ValueError(f"the transform makes {width} columns, its slots say {len(data['slots'])}")


def _fast_lookup(categories: list[Any]) -> tuple[dict[Any, float], frozenset[type]] | None:
    """A dict from value to code, and the value types it may be asked about: those that
    compare with the categories without conversion, as the native path compares them
    (str against text categories; int and float against numeric ones; None, missing,
    finds nothing). None when the categories mix types: every lookup goes through pandas.
    """
    codes = {c: float(i) for i, c in enumerate(categories)}
    if all(isinstance(c, str) for c in categories):
        return codes, TEXT_TYPES
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in categories):
        if any(abs(c) >= EXACT_FLOAT_INT for c in categories):
            return None  # natively compared as float64: 2**60 finds 2**60 + 1; not in a dict
        return codes, NUMBER_TYPES
    return None


EXACT_FLOAT_INT = 2**53
"""Below this every int is exactly a float64, so the dict's int/float equality is the
native (float64) comparison; an int sent above it rounds to no smaller category."""


def category_codes(
    values: Any, lookup: tuple[dict[Any, float], frozenset[type]] | None, coder: Any
) -> Any:
    """Codes of raw values against the training categories (NaN: missing or unseen), as
    the native path codes them: a dict lookup when every value's type allows it (one pass
    over the types first), else framework's ``category_coder`` (the native conversion)."""
    import numpy as np

    if lookup is not None:
        codes, types = lookup
        if types.issuperset(map(type, values)):
            if len(values) >= FACTORIZE_ROWS:
                return _codes_by_factorize(values, codes)
            get = codes.get
            nan = np.nan
            return np.fromiter((get(value, nan) for value in values), "float64", len(values))
    found = np.asarray(coder(np.asarray(values, dtype=object)), dtype="float64")
    found[found < 0] = np.nan
    return found


FACTORIZE_ROWS = 1_000
"""From this many values on, a category column is coded through ``pd.factorize`` (each
distinct value looked up once, in C: ~40% less per 1M values); below it the dict lookup
per value is cheaper than factorize's ~20 us of overhead."""


def _codes_by_factorize(values: Any, codes: dict[Any, float]) -> Any:
    """The dict lookup's codes, asking the dict once per distinct value. The values are
    already checked to be text/None or int/float/None: as an object array, factorize
    compares them as Python does (1 == 1.0, 2**60 + 1 != 2.0**60), as the dict does;
    None and NaN are its -1 sentinel, the last (NaN) entry of the table."""
    import numpy as np
    import pandas as pd

    positions, uniques = pd.factorize(np.asarray(values, dtype=object))
    get = codes.get
    table = np.empty(len(uniques) + 1, dtype="float64")
    table[:-1] = [get(value, np.nan) for value in uniques]
    table[-1] = np.nan
    return table[positions]


def _part(data: dict[str, Any]) -> Any:
    """A function ``state -> block`` for one compiled part."""
    import numpy as np

    op = data["op"]
    cols = np.asarray(data["cols"], dtype=np.intp)
    if op == "take":
        return lambda state: state[:, cols]
    if op == "fill":
        values = np.asarray(data["values"], dtype="float64")

        def fill(state: np.ndarray) -> np.ndarray:
            block = state[:, cols]
            return np.where(np.isnan(block), values, block)

        return fill
    if op == "indicator":
        return lambda state: np.isnan(state[:, cols]).astype("float64")
    if op == "affine":
        return _affine(cols, data["ops"])
    if op in ("one_hot", "ordinal"):
        return _encoder(cols, data, one_hot=op == "one_hot")
    raise ValueError(f"unknown transform op {op!r}")


def _affine(cols: np.ndarray, ops: list[list[Any]]) -> Any:
    """Scaler arithmetic, operation by operation as scikit-learn applies it."""
    import numpy as np

    steps = [
        (name, np.asarray(arg, dtype="float64") if name != "clip" else tuple(arg))
        for name, arg in ops
    ]

    def affine(state: np.ndarray) -> np.ndarray:
        block = state[:, cols]
        for name, arg in steps:
            if name == "sub":
                block -= arg
            elif name == "div":
                block /= arg
            elif name == "mul":
                block *= arg
            elif name == "add":
                block += arg
            else:
                np.clip(block, arg[0], arg[1], out=block)
        return block

    return affine


def _encoder(cols: np.ndarray, data: dict[str, Any], *, one_hot: bool) -> Any:
    """One-hot or ordinal encoding by table lookup. The categorical features' tables are
    laid end to end, so all of them are looked up with one indexing operation (a served
    row pays for a handful of NumPy calls, not a handful per feature); numeric features
    (booleans, numbers named for one_hot) search their sorted values one by one."""
    import numpy as np

    tables, offsets, missing_codes, cat_at, numeric = [], [], [], [], []
    start = size = 0
    for place, (feature, width) in enumerate(zip(data["features"], data["widths"], strict=True)):
        if feature["kind"] == "cat":
            table = _answers(feature["table"], one_hot, start)
            tables.append(table)
            offsets.append(size)
            missing_codes.append(len(table) - 1)  # the table's last entry: missing
            size += len(table)
            cat_at.append(place)
        else:
            keys = np.asarray(feature["keys"], dtype="float64")
            answers = feature["table"] + [feature["unseen"], feature["nan"]]
            numeric.append((place, _answers(answers, one_hot, start), keys))
        start += width
    total, features = start, len(data["features"])
    joined = np.concatenate(tables) if tables else np.zeros(0)
    cat_cols = cols[cat_at]
    offset = np.asarray(offsets, dtype=np.intp)
    missing_code = np.asarray(missing_codes, dtype="float64")
    cat_place = np.asarray(cat_at, dtype=np.intp)

    def numeric_answers(state: np.ndarray) -> list[tuple[int, np.ndarray]]:
        found = []
        for place, table, keys in numeric:
            values = state[:, cols[place]]
            at = np.searchsorted(keys, values)
            clipped = np.minimum(at, len(keys) - 1) if len(keys) else at * 0
            hit = (at < len(keys)) & (keys[clipped] == values) if len(keys) else at < 0
            codes = np.where(hit, clipped, len(keys))  # unseen
            codes[np.isnan(values)] = len(keys) + 1
            found.append((place, table[codes]))
        return found

    def encode(state: np.ndarray) -> np.ndarray:
        rows = state.shape[0]
        if len(cat_at):
            values = state[:, cat_cols]
            codes = np.where(np.isnan(values), missing_code, values).astype(np.intp)
            answers = joined[codes + offset]
        if not one_hot:
            out = np.empty((rows, features), dtype="float64")
            if len(cat_at):
                out[:, cat_place] = answers
            for place, found in numeric_answers(state):
                out[:, place] = found
            return out
        block = np.zeros((rows, total + 1), dtype="float64")
        every = np.arange(rows)
        if len(cat_at):
            block[every[:, None], answers] = 1.0
        for _, positions in numeric_answers(state):
            block[every, positions] = 1.0
        return block[:, :total]

    return encode


def _answers(answers: list[Any], one_hot: bool, start: int) -> np.ndarray:
    """Per value code: the output column of its 1 (one-hot; the spare last column when
    none) or its ordinal value (NaN for unknown and missing)."""
    import numpy as np

    if not one_hot:
        return np.asarray([np.nan if a is None else a for a in answers], dtype="float64")
    spare = -1
    return np.asarray([spare if a < 0 else start + a for a in answers], dtype=np.intp)


def category_table(vocab: list[Any], categories: list[Any]) -> list[float | None]:
    """For each value a categorical slot can hold, its code among ``categories`` as pandas'
    ``set_categories`` (LightGBM's predict) finds it; None when absent, then missing."""
    import pandas as pd

    if not vocab:
        return []
    found = pd.Index(categories, dtype=object).get_indexer(pd.Index(vocab, dtype=object))
    return [None if code < 0 else float(code) for code in found]
