"""specops' own C for a tree ensemble: what the ``treelite`` runtime compiles.

Treelite imports the trees (LightGBM, scikit-learn forests); this module turns its model
into C that scores many rows at once faster than TL2cgen's code, with the same sums bit
for bit:

- **Rows in blocks, trees outside.** TL2cgen runs one row through every tree before the
  next, so each row streams the whole ensemble's machine code (hundreds of KB for 200
  trees) through the instruction cache. Here a block of rows goes through one tree (a
  function of its own, hot in the cache) before the next tree; each row's sums still
  receive the trees' leaves in the trees' order, so they are the interpreter's exactly.
- **Tests on the doubles.** A missing value is NaN, and NaN goes to a node's default side
  by the comparison's form alone (``x <= t`` is false for NaN, ``!(x > t)`` true): no
  per-node missing flag. A categorical value is turned into a small code once per row
  per block (a missing value, a negative, an out-of-range or in-no-list one get codes of
  their own), and each categorical node is one bit test on a constant.
- **Hints.** Each branch is marked likely towards the child more training rows reached.

The C is made from numbers only: feature indices checked to be below the model's feature
count, thresholds and leaves written as exact hexadecimal floats (``float.hex``),
category sets as integer constants. No text of the model reaches it. Its size is bounded
(:data:`MAX_NODES` and the others) so a model cannot make a build take unbounded memory.

The library's functions (the ABI :class:`plugins.runtimes.treelite.CompiledTrees` calls)::

    int32_t specops_trees_version(void);   GENERATOR_VERSION of the generator that wrote it
    int32_t specops_trees_features(void);  columns per row it reads
    int32_t specops_trees_outputs(void);   raw sums per row it writes
    void specops_trees_predict(const double* rows, int64_t count, double* out);

``rows`` is C-contiguous float64, ``count`` rows of ``features``; ``out`` receives
``count`` rows of ``outputs`` raw sums (averaged and with base scores, as Treelite's
``pred_margin``). It keeps no state: threads may call it at once on different rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

GENERATOR_VERSION = 1
"""Changes whenever the generated code or its ABI changes: part of the cache key, and
checked in a library before it is used."""
MAX_NODES = 1_000_000
"""Tree nodes compiled at most (about 100 bytes of C each, and gcc's time grows with
them; the generator holds each as a small dict meanwhile): several times the benchmark's
largest forests (100 trees of depth 10: about 100,000 nodes)."""
MAX_CATEGORY = 65_535
"""Largest category a categorical split may name: each such node is a bit set of that
many bits (specops' category codes are a column's training categories, far fewer)."""
MAX_OUTPUTS = 4_096
"""Raw sums per row at most (classes times targets)."""
MAX_LEAF_VALUES = 5_000_000
"""Leaf values (leaf vectors' entries included) at most: about 30 bytes of C each."""
MAX_SOURCE_BYTES = 256 * 2**20
"""The generated C at most, whatever the model's shape (what the limits above allow
stays below it; this bounds what the compiler is handed in any case)."""
MAX_FEATURES = 1_000_000
"""Columns per row at most."""
BLOCK_BYTES = 16_384
"""Stack a block's category codes may take: sets the rows per block with many
categorical columns (1,024 rows otherwise)."""
COMPILE_FLAGS = ("-O3", "-fPIC", "-std=c99")
"""As TL2cgen's gcc build, without ``-march=native``: a library built in an image's
builder stage must run on another CPU of the same architecture."""
CFLAGS = (*COMPILE_FLAGS, "-shared")
"""Compiling and linking one file into the library at once."""
UNIT_NODES = 4_000
"""Models with fewer tree nodes are one file (gcc takes a second or so on it)."""
OPS = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}
"""Comparison operators handled, with the one that is their negation for numbers."""


class Unsupported(ValueError):
    """The model has a shape or a size this generator does not compile (the message says
    which): the runtime is unavailable for it, saying why."""


def refusal(model: Any) -> str | None:
    """Why :func:`generate` would refuse ``model`` (a Treelite model) for its size, or
    None; cheap (the trees' arrays, no JSON), so a build is refused before it starts."""
    import numpy as np

    nodes = leaf_values = 0
    top = -1
    for index in range(model.num_tree):
        tree = model.get_tree_accessor(index)
        nodes += len(tree.get_field("node_type"))
        leaf_values += len(tree.get_field("leaf_vector")) + len(tree.get_field("leaf_value"))
        categories = tree.get_field("category_list")
        if len(categories):
            top = max(top, int(np.max(categories)))
        if nodes > MAX_NODES:
            return f"the trees have more than {MAX_NODES:,} nodes, more than it compiles"
    if leaf_values > MAX_LEAF_VALUES:
        return f"the trees hold {leaf_values:,} leaf values, more than {MAX_LEAF_VALUES:,}"
    if top > MAX_CATEGORY:
        return f"a categorical split names category {top:,}, above {MAX_CATEGORY:,}"
    return None


def generate(model: Any) -> str:
    """The C source for ``model`` (a Treelite model) as one file; :class:`Unsupported`
    when its shape or size is not one this generator handles."""
    return generate_units(model, 1)[0]


def generate_units(model: Any, count: int) -> list[str]:
    """The same C as :func:`generate`, as files to compile on ``count`` cores at once and
    link together (one file for a small model: a compiler per file costs more than it
    saves there)."""
    reason = refusal(model)
    if reason:
        raise Unsupported(reason)
    source = Source(read_header(model_dump(model)))
    nodes = sum(len(tree) for tree in source.header.trees)
    units = source.units(count if nodes >= UNIT_NODES else 1)
    size = sum(len(text) for text in units)
    if size > MAX_SOURCE_BYTES:
        raise Unsupported(f"its C would be {size:,} bytes, more than {MAX_SOURCE_BYTES:,}")
    return units


KINDS = {0: None, 1: "numerical_test_node", 2: "categorical_test_node"}
"""Treelite's node types (``node_type``): leaf, numerical test, categorical test."""
OPERATORS = {1: "==", 2: "<", 3: "<=", 4: ">", 5: ">="}
"""Treelite's comparison operators (``cmp``)."""
TYPES = {1: "uint32", 2: "float32", 3: "float64"}
"""Treelite's value types (``threshold_type``, ``leaf_output_type``)."""


def model_dump(model: Any) -> dict[str, Any]:
    """The model as :meth:`treelite.Model.dump_as_json` lays it out, read from its arrays
    (``get_field``): that JSON writes an infinite threshold (scikit-learn's split that
    sends only missing values right) as nothing at all, the arrays hold it exactly."""
    head = model.get_header_accessor()

    def one(name: str) -> Any:
        return head.get_field(name).tolist()[0]

    return {
        "threshold_type": TYPES.get(one("threshold_type")),
        "leaf_output_type": TYPES.get(one("leaf_output_type")),
        "num_feature": one("num_feature"),
        "num_target": one("num_target"),
        "num_class": head.get_field("num_class").tolist(),
        "leaf_vector_shape": head.get_field("leaf_vector_shape").tolist(),
        "target_id": head.get_field("target_id").tolist(),
        "class_id": head.get_field("class_id").tolist(),
        "average_tree_output": bool(one("average_tree_output")),
        "base_scores": head.get_field("base_scores").tolist(),
        "trees": [{"nodes": _nodes(model.get_tree_accessor(i))} for i in range(model.num_tree)],
    }


def _nodes(tree: Any) -> list[dict[str, Any]]:
    """One tree's nodes as dump_as_json gives them (the fields the generator reads)."""
    field = {name: tree.get_field(name).tolist() for name in TREE_FIELDS}
    nodes = []
    for i, kind in enumerate(field["node_type"]):
        node: dict[str, Any] = {"node_id": i}
        if field["data_count_present"][i]:
            node["data_count"] = field["data_count"][i]
        if kind == 0:
            begin, end = field["leaf_vector_begin"][i], field["leaf_vector_end"][i]
            vector = field["leaf_vector"][begin:end]
            node["leaf_value"] = vector if end > begin else field["leaf_value"][i]
            nodes.append(node)
            continue
        node.update(
            node_type=KINDS.get(kind, kind),
            split_feature_id=field["split_index"][i],
            default_left=bool(field["default_left"][i]),
            left_child=field["cleft"][i],
            right_child=field["cright"][i],
        )
        if kind == 1:
            node["comparison_op"] = OPERATORS.get(field["cmp"][i])
            node["threshold"] = field["threshold"][i]
        else:
            begin, end = field["category_list_begin"][i], field["category_list_end"][i]
            node["category_list"] = field["category_list"][begin:end]
            node["category_list_right_child"] = bool(field["category_list_right_child"][i])
        nodes.append(node)
    return nodes


TREE_FIELDS = (
    "node_type", "cleft", "cright", "split_index", "default_left", "leaf_value", "threshold",
    "cmp", "category_list_right_child", "leaf_vector", "leaf_vector_begin", "leaf_vector_end",
    "category_list", "category_list_begin", "category_list_end", "data_count",
    "data_count_present",
)  # fmt: skip


@dataclass(frozen=True)
class Header:
    """What the code needs from the model besides its trees, checked."""

    features: int
    outputs: int
    classes: int
    slots: list[list[int]]
    """Per tree, the outputs its leaf adds to (one for a scalar leaf, all for a vector)."""
    vector: bool
    divisors: list[int] | None
    """Per output, the trees averaged into it (scikit-learn forests), else None."""
    base: list[float]
    trees: list[list[dict[str, Any]]]


def read_header(dump: dict[str, Any]) -> Header:
    """The model's dump checked field by field: only float64 trees, scalar leaves that
    name their output, or leaf vectors for every output (the shapes Treelite gives
    LightGBM and scikit-learn models)."""
    if (dump.get("threshold_type"), dump.get("leaf_output_type")) != ("float64", "float64"):
        raise Unsupported("only float64 thresholds and leaves are compiled")
    features = _count(dump.get("num_feature"), MAX_FEATURES, "num_feature")
    targets = _count(dump.get("num_target"), MAX_OUTPUTS, "num_target")
    classes_list = dump.get("num_class")
    if not isinstance(classes_list, list) or len(classes_list) != targets:
        raise Unsupported("num_class is not one count per target")
    classes = max(_count(c, MAX_OUTPUTS, "num_class") for c in classes_list)
    outputs = targets * classes
    if outputs > MAX_OUTPUTS:
        raise Unsupported(f"{outputs:,} outputs per row, more than {MAX_OUTPUTS:,}")
    trees = [t.get("nodes") for t in dump.get("trees", [])]
    if not trees or not all(isinstance(t, list) and t for t in trees):
        raise Unsupported("a tree without nodes")
    shape = dump.get("leaf_vector_shape")
    vector = shape != [1, 1]
    if vector and shape != [targets, classes]:
        raise Unsupported(f"leaf vectors of shape {shape} are not compiled")
    target_ids, class_ids = dump.get("target_id"), dump.get("class_id")
    if not (isinstance(target_ids, list) and isinstance(class_ids, list)) or not (
        len(target_ids) == len(class_ids) == len(trees)
    ):
        raise Unsupported("target_id and class_id are not one per tree")
    pairs = zip(target_ids, class_ids, strict=True)
    slots = [_slots(t, c, vector, targets, classes) for t, c in pairs]
    base = dump.get("base_scores")
    if not isinstance(base, list) or len(base) != outputs:
        raise Unsupported("base_scores is not one per output")
    divisors = None
    if dump.get("average_tree_output") is True:
        divisors = [0] * outputs
        for tree_slots in slots:
            for slot in tree_slots:
                divisors[slot] += 1
    return Header(
        features, outputs, classes, slots, vector, divisors, [_float(b) for b in base], trees
    )


def _slots(target: Any, klass: Any, vector: bool, targets: int, classes: int) -> list[int]:
    """The outputs one tree adds to: its (target, class), or all of them for a leaf
    vector that covers every target and class."""
    if vector:
        if (target, klass) != (-1, -1):
            raise Unsupported("leaf vectors for one target or class are not compiled")
        return list(range(targets * classes))
    t = _count(target, targets - 1, "target_id", least=0)
    c = _count(klass, classes - 1, "class_id", least=0)
    return [t * classes + c]


def _count(value: Any, most: int, name: str, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise Unsupported(f"{name} {value!r} is not an integer from {least} to {most:,}")
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unsupported(f"{value!r} is not a number")
    return float(value)


def literal(value: float) -> str:
    """``value`` as a C double literal that is exactly it (hexadecimal, or the macros)."""
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INFINITY" if value > 0 else "(-INFINITY)"
    return value.hex()


class Source:
    """The C text of one model (see the module). Categorical features get a slot each in
    a block's code table; a feature's codes run 0..top-1 (its categories), ``top`` (a
    value in no list: negative, too large, infinite) and ``top + 1`` (missing)."""

    def __init__(self, header: Header) -> None:
        self.header = header
        tops: dict[int, int] = {}
        for nodes in header.trees:
            for node in nodes:
                if node.get("node_type") == "categorical_test_node":
                    feature = self._feature(node)
                    categories = node.get("category_list")
                    if not isinstance(categories, list):
                        raise Unsupported("a categorical split without a category list")
                    for category in categories:
                        _count(category, MAX_CATEGORY, "a category", least=0)
                    tops[feature] = max([tops.get(feature, 0), *(c + 1 for c in categories)])
        self.tops = tops
        self.slot = {feature: index for index, feature in enumerate(sorted(tops))}
        self.block = max(16, min(1024, BLOCK_BYTES // (4 * max(1, len(tops)))))
        self.tables: list[str] = []
        self.written = 0
        """Bytes of C made so far: counted as it is made, so a model whose category tables
        would be gigabytes (a category near MAX_CATEGORY on every categorical node) is
        refused at MAX_SOURCE_BYTES, never built whole first."""

    def _made(self, text: str) -> str:
        self.written += len(text)
        if self.written > MAX_SOURCE_BYTES:
            raise Unsupported(
                f"its C would be {self.written:,}+ bytes, more than {MAX_SOURCE_BYTES:,}"
            )
        return text

    def units(self, count: int) -> list[str]:
        """The library as files compiled apart (gcc on ``count`` cores): the trees shared
        out by size into ``count`` files, then a small one with the ABI and the block loop."""
        trees = [self._tree(index, nodes) for index, nodes in enumerate(self.header.trees)]
        shares: list[list[str]] = [[] for _ in range(max(1, count))]
        sizes = [0] * len(shares)
        for text in trees:  # in order, each to the share that is smallest so far
            smallest = sizes.index(min(sizes))
            shares[smallest].append(text)
            sizes[smallest] += len(text)
        if count <= 1:
            return ["".join([self._preamble(), *trees, self._predict()])]
        return [self._preamble() + "".join(share) for share in shares] + [
            self._preamble() + self._predict()
        ]

    def _preamble(self) -> str:
        """What every file starts with: the sizes, the hints, the category coding."""
        h = self.header
        return (
            "/* generated by specops (plugins/runtimes/trees_c.py) from a model's trees */\n"
            "#include <math.h>\n#include <stdint.h>\n#include <string.h>\n"
            f"#define F {h.features}\n#define W {h.outputs}\n#define B {self.block}\n"
            f"#define NC {max(1, len(self.tops))}\n"
            "#define LIKELY(x) __builtin_expect(!!(x), 1)\n"
            "#define UNLIKELY(x) __builtin_expect(!!(x), 0)\n"
            '#define HIDDEN __attribute__((visibility("hidden")))\n'
            "static inline uint32_t category_code(double x, uint32_t top) {\n"
            "  if (x != x) return top + 1;\n"
            "  if (x >= 0.0 && x < (double)top) return (uint32_t)x;\n"
            "  return top;\n"
            "}\n"
        )

    def _feature(self, node: dict[str, Any]) -> int:
        return _count(node.get("split_feature_id"), self.header.features - 1, "a feature", 0)

    def _tree(self, index: int, nodes: list[dict[str, Any]]) -> str:
        """One tree's function: every row of the block through it, its leaf added to the
        row's sums. Nodes are laid out depth first, the likelier child right after its
        parent (no jump), the other reached by ``goto``."""
        self.tables = []
        by_id = {}
        for node in nodes:
            node_id = node.get("node_id")
            if isinstance(node_id, bool) or not isinstance(node_id, int) or node_id in by_id:
                raise Unsupported(f"tree {index}: node ids are not distinct integers")
            by_id[node_id] = node
        lines = [
            f"HIDDEN void tree_{index}(const double* X, int64_t n, const uint32_t* C, "
            "double* out) {\n  for (int64_t r = 0; r < n; r++) {\n"
            "    const double* x = X + r * F;\n    const uint32_t* c = C + r * NC;\n"
            "    double* acc = out + r * W;\n    (void)x; (void)c;\n"
        ]
        seen: set[int] = set()
        stack = [(0, False)]
        while stack:
            node_id, labelled = stack.pop()
            node = by_id.get(node_id)
            if node is None or node_id in seen:
                raise Unsupported(f"tree {index}: node {node_id} is missing or reached twice")
            seen.add(node_id)
            if labelled:
                lines.append(f"   n{node_id}:;\n")
            if "leaf_value" in node:
                lines.append(self._leaf(index, node["leaf_value"]))
                continue
            left, right = node.get("left_child"), node.get("right_child")
            for child in (left, right):
                if isinstance(child, bool) or not isinstance(child, int) or child not in by_id:
                    raise Unsupported(f"tree {index}: node {node_id} has no child {child!r}")
            goes_left = self._test(index, node_id, node)
            near, far, far_test = left, right, f"!({goes_left})"
            if _count_of(by_id.get(right)) > _count_of(by_id.get(left)):
                near, far, far_test = right, left, goes_left
            hint = "UNLIKELY" if _count_of(by_id.get(far)) < _count_of(by_id.get(near)) else ""
            lines.append(f"    if ({hint}({far_test})) goto n{far};\n")
            stack.append((far, True))
            stack.append((near, False))
        if len(seen) != len(by_id):
            raise Unsupported(f"tree {index}: nodes not reached from its root")
        lines.append("  }\n}\n")
        return "".join(self.tables) + self._made("".join(lines))

    def _leaf(self, index: int, value: Any) -> str:
        slots = self.header.slots[index]
        values = value if isinstance(value, list) else [value]
        if len(values) != len(slots):
            raise Unsupported(f"tree {index}: a leaf of {len(values)} values for {len(slots)}")
        pairs = zip(slots, values, strict=True)
        adds = "".join(f"    acc[{slot}] += {literal(_float(v))};\n" for slot, v in pairs)
        return adds + "    continue;\n"

    def _test(self, index: int, node_id: int, node: dict[str, Any]) -> str:
        """The C expression true when a row goes to the left child, missing values
        (NaN) included: to the default side."""
        feature = self._feature(node)
        default_left = node.get("default_left")
        if not isinstance(default_left, bool):
            raise Unsupported(f"tree {index}: node {node_id} has no default side")
        kind = node.get("node_type")
        if kind == "numerical_test_node":
            op = node.get("comparison_op")
            if op not in OPS:
                raise Unsupported(f"tree {index}: comparison {op!r} is not compiled")
            threshold = _float(node.get("threshold"))
            if math.isnan(threshold):
                raise Unsupported(f"tree {index}: node {node_id} has a NaN threshold")
            value, t = f"x[{feature}]", literal(threshold)
            return f"!({value} {OPS[op]} {t})" if default_left else f"{value} {op} {t}"
        if kind != "categorical_test_node":
            raise Unsupported(f"tree {index}: node type {kind!r} is not compiled")
        in_list_right = node.get("category_list_right_child")
        if not isinstance(in_list_right, bool):
            raise Unsupported(f"tree {index}: node {node_id} lacks category_list_right_child")
        top = self.tops[feature]
        bits = 0
        for category in node["category_list"]:
            bits |= 1 << category
        if not in_list_right:  # the list's categories go left; missing where the default is
            left = bits | ((1 << (top + 1)) if default_left else 0)
        else:  # everything else goes left: the codes below top not listed, and top itself
            left = ((1 << (top + 1)) - 1) & ~bits | ((1 << (top + 1)) if default_left else 0)
        code = f"c[{self.slot[feature]}]"
        words = (top + 2 + 63) // 64
        if words == 1:
            return f"((0x{left:x}ULL >> {code}) & 1)"
        name = f"set_{index}_{node_id}"
        mask = (1 << 64) - 1
        values = ",".join(f"0x{(left >> (64 * i)) & mask:x}ULL" for i in range(words))
        self.tables.append(self._made(f"static const uint64_t {name}[{words}] = {{{values}}};\n"))
        return f"(({name}[{code} >> 6] >> ({code} & 63)) & 1)"

    def _predict(self) -> str:
        h = self.header
        codes = "".join(
            f"      C[r * NC + {slot}] = category_code(rows[r * F + {feature}], {top}u);\n"
            for feature, slot in self.slot.items()
            for top in (self.tops[feature],)
        )
        calls = "".join(f"    tree_{i}(rows, n, C, out);\n" for i in range(len(h.trees)))
        declared = "".join(
            f"HIDDEN void tree_{i}(const double*, int64_t, const uint32_t*, double*);\n"
            for i in range(len(h.trees))
        )
        finish = ""
        if h.divisors is not None:
            finish += "".join(
                f"      acc[{k}] /= {literal(float(d))};\n" for k, d in enumerate(h.divisors) if d
            )
        finish += "".join(
            f"      acc[{k}] += {literal(b)};\n" for k, b in enumerate(h.base) if b != 0.0
        )
        if finish:
            finish = (
                "    for (int64_t r = 0; r < n; r++) {\n      double* acc = out + r * W;\n"
                + finish
                + "    }\n"
            )
        return (
            declared
            + f"int32_t specops_trees_version(void) {{ return {GENERATOR_VERSION}; }}\n"
            + "int32_t specops_trees_features(void) { return F; }\n"
            + "int32_t specops_trees_outputs(void) { return W; }\n"
            + "void specops_trees_predict(const double* data, int64_t count, double* result) {\n"
            "  uint32_t C[B * NC];\n"
            "  for (int64_t start = 0; start < count; start += B) {\n"
            "    int64_t n = count - start < B ? count - start : B;\n"
            "    const double* rows = data + start * F;\n"
            "    double* out = result + start * W;\n"
            "    memset(out, 0, sizeof(double) * (size_t)(n * W));\n"
            "    for (int64_t r = 0; r < n; r++) {\n"
            + codes
            + "    }\n"
            + calls
            + finish
            + "  }\n}\n"
        )


def _count_of(node: dict[str, Any] | None) -> int:
    """Training rows that reached ``node`` (0 when the model does not say)."""
    count = (node or {}).get("data_count")
    return count if isinstance(count, int) and not isinstance(count, bool) else 0
