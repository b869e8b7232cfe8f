"""Whether a skops archive may be loaded: decided from its bytes, before skops builds anything.

skops refuses types it was not told to trust, but it only sees *names*, and a name
says where a thing is reachable, not what it is: ``numpy.distutils.fcompiler.gnu.Popen``
is ``subprocess.Popen``. So we read the archive's ``schema.json`` ourselves and judge
every node by what skops will do with it when it builds the object:

- a class whose instance is rebuilt from stored attributes (``ObjectNode``) is trusted
  only when it is *defined* in scikit-learn, under the name the file gives, outside
  scikit-learn's test and vendored code;
- a node that yields something callable (a function, a class stored as a value,
  ``functools.partial``, ``operator.methodcaller``/``attrgetter``, a bound method,
  a constructor called with stored arguments) is refused unless explicitly listed;
- numpy, scipy and skops' own nodes (arrays, dtypes, random states, sparse matrices,
  trees, losses) are accepted only for the exact classes those loaders build;
- object-dtype ``.npy`` entries (numpy would need pickle) are refused, and every
  array's header must match its data length, so a header cannot make numpy allocate
  more than the archive holds;
- the archive's size, entry count and ``schema.json`` are bounded before anything is
  inflated (zipfile never inflates past an entry's declared size).

Everything is checked on one in-memory copy of the file, which is then what skops
loads, so the file cannot change between the check and the load.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

MAX_ARCHIVE_BYTES = 2 * 1024**3
"""Largest skops file, and largest total of its entries once inflated (2 GiB)."""
MAX_ARCHIVE_ENTRIES = 100_000
"""Most entries (arrays, blobs) one skops file may hold."""
MAX_SCHEMA_BYTES = 256 * 1024**2
"""Largest ``schema.json`` (256 MiB; a 500-tree forest needs a few MB)."""

LIMIT_VARIABLES = {
    "SPECOPS_MAX_MODEL_FILE_BYTES": MAX_ARCHIVE_BYTES,
    "SPECOPS_MAX_MODEL_FILE_ENTRIES": MAX_ARCHIVE_ENTRIES,
    "SPECOPS_MAX_MODEL_SCHEMA_BYTES": MAX_SCHEMA_BYTES,
}
"""Environment variables that raise (or lower) the limits above, with their defaults."""

OBJECT_LIBRARIES: frozenset[str] = frozenset({"sklearn"})
"""Libraries whose classes may be rebuilt from stored attributes (``ObjectNode``).

numpy and scipy objects reach a specops pipeline only through skops' dedicated
loaders (arrays, dtypes, random states, sparse matrices), never through an arbitrary
class's ``__setstate__``, so they are not listed here."""

DENIED_MODULES: tuple[str, ...] = (
    "sklearn.utils._testing",
    "sklearn.externals",
    "sklearn.experimental",
    "sklearn.datasets",
    "sklearn.utils._show_versions",
    "sklearn.__check_build",
    "sklearn._build_utils",
    "numpy.distutils",
    "numpy.f2py",
    "numpy.testing",
    "numpy.ctypeslib",
    "numpy.lib._datasource",
    "scipy._lib",
)
"""Parts of trusted libraries that are tooling, not model code: never imported from a file."""

TRUSTED_FUNCTIONS: frozenset[str] = frozenset()
"""Functions a file may store as a value (a ``FunctionTransformer``'s ``func``, say).
Built-in specops pipelines store none."""

PARTIAL_FUNCTIONS: frozenset[str] = frozenset({"sklearn.utils.validation.check_array"})
"""Functions a stored ``functools.partial`` may wrap (HistGradientBoosting keeps
``partial(check_array, ...)``)."""

TYPE_VALUES: frozenset[str] = frozenset(
    f"builtins.{name}" for name in ("int", "float", "str", "bool", "list", "tuple", "set", "dict")
)
"""Classes a file may store as values (dict key types, ``dtype=`` params), besides
numpy's scalar types. A class is callable, so nothing else is accepted."""

CONTAINERS: dict[str, frozenset[str]] = {
    "DictNode": frozenset({"builtins.dict", "collections.OrderedDict"}),
    "DefaultDictNode": frozenset({"collections.defaultdict"}),
    "ListNode": frozenset({"builtins.list"}),
    "SetNode": frozenset({"builtins.set"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    "BytesNode": frozenset({"builtins.bytes"}),
    "BytearrayNode": frozenset({"builtins.bytearray"}),
    "SliceNode": frozenset({"builtins.slice"}),
    "DTypeNode": frozenset({"numpy.dtype"}),
    "MaskedArrayNode": frozenset({"numpy.ma.MaskedArray"}),
    "RandomStateNode": frozenset({"numpy.random.mtrand.RandomState"}),
    "RandomGeneratorNode": frozenset({"numpy.random._generator.Generator"}),
    "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
}
"""Loaders that build one fixed kind of object, and the class names each accepts."""

NEVER: frozenset[str] = frozenset({"MethodNode", "OperatorFuncNode", "ConstructorFromReduceNode"})
"""Loaders that yield a callable or call a class with stored arguments: always refused."""

LOADERS: frozenset[str] = frozenset(
    {
        *CONTAINERS,
        "JsonNode",
        "FunctionNode",
        "PartialNode",
        "TypeNode",
        "ObjectNode",
        "NdArrayNode",
        "SparseMatrixNode",
        "LossNode",
        "_DictWithDeprecatedKeysNode",
    }
)
"""The skops loaders specops accepts, each checked by ``Audit._<loader>``; any other
(``NEVER``, skops' quantile-forest nodes, a loader a newer skops adds) is refused."""

LOSS_MODULES: frozenset[str] = frozenset({"sklearn._loss._loss", "sklearn.linear_model._sgd_fast"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class Refused(Exception):
    """The archive is damaged or over a limit (the message says which)."""


def limit(variable: str) -> int:
    """A limit's value: its environment variable when set to a positive integer."""
    raw = os.environ.get(variable, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return LIMIT_VARIABLES[variable]


def defined_class(module_name: str, class_name: str, libraries: frozenset[str]) -> type | None:
    """The class named, only if it is *defined* there, in one of ``libraries``.

    Nothing is imported unless the module is inside a trusted library and outside
    ``DENIED_MODULES``; a re-export (``numpy.distutils...Popen``) or an alias fails
    the ``__module__``/``__qualname__`` comparison.
    """
    if not (_MODULE.fullmatch(module_name) and _NAME.fullmatch(class_name)):
        return None
    if module_name.split(".")[0] not in libraries:
        return None
    if any(module_name == d or module_name.startswith(d + ".") for d in DENIED_MODULES):
        return None
    if any(part in {"tests", "testing", "conftest"} for part in module_name.split(".")):
        return None
    try:
        module = importlib.import_module(module_name)
    except Exception:
        return None
    found = module.__dict__.get(class_name)
    if not isinstance(found, type) or issubclass(found, type):
        return None
    if found.__module__ != module_name or found.__qualname__ != class_name:
        return None
    return found


def _numpy_scalar(name: str) -> bool:
    import numpy as np

    module_name, _, class_name = name.rpartition(".")
    found = defined_class(module_name, class_name, frozenset({"numpy"}))
    return found is not None and issubclass(found, np.generic)


def _sparse(name: str) -> bool:
    import scipy.sparse as sp

    module_name, _, class_name = name.rpartition(".")
    if not module_name.startswith("scipy.sparse."):
        return False
    found = defined_class(module_name, class_name, frozenset({"scipy"}))
    bases = tuple(t for t in (getattr(sp, "spmatrix", None), getattr(sp, "sparray", None)) if t)
    return found is not None and issubclass(found, bases)


@dataclass
class Audit:
    """One pass over a skops ``schema.json``: what it refuses and why."""

    archive: zipfile.ZipFile
    untrusted: set[str] = field(default_factory=set)
    by_id: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    roles_checked: set[tuple[int, str]] = field(default_factory=set)
    entries: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.entries = frozenset(self.archive.namelist())

    def index(self, tree: Any) -> None:
        """Every state stored under each ``__id__``.

        skops builds the first state it meets under an id and reuses that object for
        every later one, whatever the later state says. Which one is "first" depends on
        skops' walking order, so a rule about what sits at some place (a partial's
        function, a dict's key types) must hold for every state sharing the id.
        """
        stack = [tree]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                saved_id = item.get("__id__")
                if (
                    item.get("__loader__") not in (None, "CachedNode")
                    and isinstance(saved_id, int)
                    and not isinstance(saved_id, bool)
                ):
                    self.by_id.setdefault(saved_id, []).append(item)
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)

    def candidates(self, state: Any) -> list[Any]:
        """The states skops may build at this place."""
        if isinstance(state, dict) and isinstance(state.get("__id__"), int):
            return self.by_id.get(state["__id__"], []) or [state]
        return [state]

    def node(self, state: Any) -> None:
        """Check one node and everything below it that skops will read.

        Every state is checked where it stands, even one whose id makes skops reuse
        an earlier object: that costs one pass over the tree and depends on no order.
        """
        if not isinstance(state, dict):
            raise Refused(f"a node is {type(state).__name__}, not an object")
        loader, module_name, class_name = (
            state.get("__loader__"),
            state.get("__module__"),
            state.get("__class__"),
        )
        if not all(isinstance(v, str) for v in (loader, module_name, class_name)):
            raise Refused("a node has no __loader__, __module__ or __class__")
        name = f"{module_name}.{class_name}"
        saved_id = state.get("__id__")
        if saved_id is not None and (not isinstance(saved_id, int) or isinstance(saved_id, bool)):
            raise Refused(f"node {name} has a non-integer __id__")
        if loader == "CachedNode":
            if saved_id not in self.by_id:
                raise Refused(f"a cached node refers to unknown id {saved_id}")
            return  # skops reuses an object stored under that id; each is checked where it is
        check = getattr(self, f"_{loader}") if loader in LOADERS else None
        if check is None:
            content = state.get("content")
            func = content.get("func") if isinstance(content, dict) else None
            self.untrusted.add(f"{name}.{func}" if loader == "MethodNode" else name)
            self._children(state)
            return
        check(state, name)

    def _role(self, state: Any, role: str) -> None:
        """Context rules: what a partial may wrap, what a dict key or array item may be."""
        if isinstance(state, dict) and isinstance(state.get("__id__"), int):
            if (state["__id__"], role) in self.roles_checked:
                return  # many places may share one id: check its states once per role
            self.roles_checked.add((state["__id__"], role))
        for candidate in self.candidates(state):
            if not isinstance(candidate, dict):
                continue  # node() refuses it
            loader = candidate.get("__loader__")
            name = f"{candidate.get('__module__')}.{candidate.get('__class__')}"
            if role == "partial" and not (loader == "FunctionNode" and name in PARTIAL_FUNCTIONS):
                self.untrusted.add(f"functools.partial({name})")
            if role == "key type" and not (loader == "TypeNode" and self._type_value(name)):
                self.untrusted.add(name)
            if role == "array item" and loader not in {"JsonNode", "NdArrayNode"}:
                self.untrusted.add(f"{name} in an object array")
            no_state = loader == "JsonNode" and candidate.get("content") == "null"
            if role == "attributes" and loader != "DictNode" and not no_state:
                self.untrusted.add(f"{name} as object attributes")

    def _children(self, state: dict[str, Any]) -> None:
        """Walk every nested node of a refused node too, so the report names them all."""
        for value in state.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and "__loader__" in item:
                    self.node(item)
                elif isinstance(item, dict):
                    for nested in item.values():
                        if isinstance(nested, dict) and "__loader__" in nested:
                            self.node(nested)

    def _fixed(self, state: dict[str, Any], name: str) -> None:
        if name not in CONTAINERS[state["__loader__"]]:
            self.untrusted.add(name)

    @staticmethod
    def _type_value(name: str) -> bool:
        return name in TYPE_VALUES or _numpy_scalar(name)

    def _entry(self, file_name: Any) -> None:
        if not isinstance(file_name, str) or file_name not in self.entries:
            raise Refused(f"a node refers to missing entry {file_name!r}")

    # One method per skops loader: what it builds, and which nodes under it skops reads.

    def _JsonNode(self, state: dict[str, Any], name: str) -> None:
        if not isinstance(state.get("content"), str):
            raise Refused("a JSON node has no text content")

    def _DictNode(self, state: dict[str, Any], name: str) -> None:
        self._fixed(state, name)
        self.node(state["key_types"])
        for key_types in self.candidates(state["key_types"]):
            if key_types.get("__loader__") != "ListNode":
                self.untrusted.add(f"{name} with key types {key_types.get('__class__')}")
                continue
            for key_type in key_types["content"]:
                self._role(key_type, "key type")
        content = state["content"]
        if not isinstance(content, dict):
            raise Refused(f"{name} has no content")
        for value in content.values():
            self.node(value)

    def _DefaultDictNode(self, state: dict[str, Any], name: str) -> None:
        self._fixed(state, name)
        self.node(state["content"]["main"])
        self.node(state["content"]["default_factory"])

    def _sequence(self, state: dict[str, Any], name: str) -> None:
        self._fixed(state, name)
        if not isinstance(state["content"], list):
            raise Refused(f"{name} has no content")
        for value in state["content"]:
            self.node(value)

    _ListNode = _SetNode = _TupleNode = _sequence

    def _BytesNode(self, state: dict[str, Any], name: str) -> None:
        self._fixed(state, name)
        self._entry(state["file"])

    _BytearrayNode = _BytesNode

    def _SliceNode(self, state: dict[str, Any], name: str) -> None:
        self._fixed(state, name)
        bounds = state["content"]
        if not all(
            bounds.get(k) is None
            or (isinstance(bounds[k], int) and not isinstance(bounds[k], bool))
            for k in ("start", "stop", "step")
        ):
            raise Refused("a slice has a bound that is not an integer")

    def _FunctionNode(self, state: dict[str, Any], name: str) -> None:
        if name not in TRUSTED_FUNCTIONS:
            self.untrusted.add(name)

    def _PartialNode(self, state: dict[str, Any], name: str) -> None:
        if name != "functools.partial":
            self.untrusted.add(name)
        content = state["content"]
        self._role(content["func"], "partial")
        if content["func"].get("__loader__") != "FunctionNode":
            self.node(content["func"])  # the role check refused it; name what it is too
        for key in ("args", "kwds", "namespace"):
            self.node(content[key])

    def _TypeNode(self, state: dict[str, Any], name: str) -> None:
        if not self._type_value(name):
            self.untrusted.add(name)

    def _ObjectNode(self, state: dict[str, Any], name: str) -> None:
        module_name, class_name = state["__module__"], state["__class__"]
        if defined_class(module_name, class_name, OBJECT_LIBRARIES) is None:
            self.untrusted.add(name)
        if "content" in state:
            self._role(state["content"], "attributes")
            self.node(state["content"])

    def _NdArrayNode(self, state: dict[str, Any], name: str) -> None:
        if state.get("type") == "numpy":
            if name != "numpy.ndarray" and not _numpy_scalar(name):
                self.untrusted.add(name)
            self._entry(state["file"])
        elif state.get("type") == "json":
            if name != "numpy.ndarray":
                self.untrusted.add(name)
            if not isinstance(state["content"], list):
                raise Refused("an object array has no items")
            for item in state["content"]:
                self._role(item, "array item")
                self.node(item)
            self.node(state["shape"])
        else:
            raise Refused(f"an array of unknown storage {state.get('type')!r}")

    def _MaskedArrayNode(self, state: dict[str, Any], name: str) -> None:
        self._fixed(state, name)
        self.node(state["content"]["data"])
        self.node(state["content"]["mask"])

    def _DTypeNode(self, state: dict[str, Any], name: str) -> None:
        self._fixed(state, name)
        self.node(state["content"])

    def _RandomStateNode(self, state: dict[str, Any], name: str) -> None:
        self._fixed(state, name)
        self.node(state["content"])

    def _RandomGeneratorNode(self, state: dict[str, Any], name: str) -> None:
        self._fixed(state, name)  # skops itself checks the bit generator's name
        self.node(state["content"]["bit_generator"])
        self.node(state["content"]["seed_seq"])

    def _SparseMatrixNode(self, state: dict[str, Any], name: str) -> None:
        if not _sparse(name) or state.get("type") != "scipy":
            self.untrusted.add(name)
        self._entry(state["file"])

    def _reduce(self, state: dict[str, Any]) -> None:
        self.node(state["content"])
        self.node(state["__reduce__"]["args"])

    def _TreeNode(self, state: dict[str, Any], name: str) -> None:
        self._fixed(state, name)
        self._reduce(state)

    def _LossNode(self, state: dict[str, Any], name: str) -> None:
        module_name, class_name = state["__module__"], state["__class__"]
        if module_name not in LOSS_MODULES or not defined_class(
            module_name, class_name, OBJECT_LIBRARIES
        ):
            self.untrusted.add(name)
        self._reduce(state)

    def _DictWithDeprecatedKeysNode(self, state: dict[str, Any], name: str) -> None:
        if name != "sklearn.covariance._graph_lasso._DictWithDeprecatedKeys":
            self.untrusted.add(name)
        self.node(state["content"]["main"])
        self.node(state["content"]["_deprecated_key_to_new_key"])


def _check_entries(archive: zipfile.ZipFile, where: str) -> None:
    """Entry count, inflated sizes and array headers, all from the archive's directory."""
    infos = archive.infolist()
    if len(infos) > limit("SPECOPS_MAX_MODEL_FILE_ENTRIES"):
        raise Refused(
            f"{where} has {len(infos)} entries, over the limit of "
            f"{limit('SPECOPS_MAX_MODEL_FILE_ENTRIES')} (SPECOPS_MAX_MODEL_FILE_ENTRIES)"
        )
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise Refused(f"{where} holds two entries with the same name")
    total = sum(info.file_size for info in infos)
    if total > limit("SPECOPS_MAX_MODEL_FILE_BYTES"):
        raise Refused(
            f"{where} inflates to {total} bytes, over the limit of "
            f"{limit('SPECOPS_MAX_MODEL_FILE_BYTES')} (SPECOPS_MAX_MODEL_FILE_BYTES)"
        )
    for info in infos:
        if info.filename.endswith(".npy"):
            _check_array(archive, info)
        elif info.filename.endswith(".npz"):
            if where != "the archive":  # skops' sparse .npz holds arrays: an archive in one
                raise Refused(f"{where} holds another archive, {info.filename}")  # is a bomb
            with zipfile.ZipFile(io.BytesIO(archive.read(info))) as inner:
                _check_entries(inner, f"{where} entry {info.filename}")


def _check_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """A ``.npy`` entry: no object dtype (pickle), and exactly as much data as its header says."""
    import numpy as np
    from numpy.lib import format as npy

    with archive.open(info) as raw:
        head = io.BytesIO(raw.read(65_536 + 16))
    try:
        version = npy.read_magic(head)
        read_header = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
        shape, _, dtype = read_header[version](head)
    except (KeyError, ValueError, OSError) as exc:
        raise Refused(f"array {info.filename} has an unreadable header: {exc}") from exc
    if dtype.hasobject:
        raise Refused(
            f"array {info.filename} holds Python objects, which only pickle can load "
            "(types specops does not trust: numpy object array)"
        )
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if head.tell() + expected != info.file_size:
        raise Refused(f"array {info.filename}'s header does not match its data")


def check_file_size(size: int) -> None:
    """Refuse a model file over ``SPECOPS_MAX_MODEL_FILE_BYTES`` (before it is read, when
    the caller knows its size from the file system)."""
    if size > limit("SPECOPS_MAX_MODEL_FILE_BYTES"):
        raise Refused(
            f"the file is {size} bytes, over the limit of "
            f"{limit('SPECOPS_MAX_MODEL_FILE_BYTES')} (SPECOPS_MAX_MODEL_FILE_BYTES)"
        )


def audit(data: bytes) -> list[str]:
    """The names this skops archive uses that specops does not trust (empty: safe to load).

    Raises ``Refused`` when the archive is damaged or over a limit.
    """
    from skops.io._protocol import PROTOCOL

    check_file_size(len(data))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_entries(archive, "the archive")
            if "schema.json" not in archive.namelist():
                raise Refused("it has no schema.json")
            info = archive.getinfo("schema.json")
            if info.file_size > limit("SPECOPS_MAX_MODEL_SCHEMA_BYTES"):
                raise Refused(
                    f"its schema.json is {info.file_size} bytes, over the limit of "
                    f"{limit('SPECOPS_MAX_MODEL_SCHEMA_BYTES')} (SPECOPS_MAX_MODEL_SCHEMA_BYTES)"
                )
            schema = json.loads(archive.read(info))
            if not isinstance(schema, dict) or schema.get("protocol") != PROTOCOL:
                protocol = schema.get("protocol") if isinstance(schema, dict) else None
                raise Refused(f"skops protocol {protocol!r}; specops loads protocol {PROTOCOL}")
            checker = Audit(archive)
            checker.index(schema)
            checker.node(schema)
            return sorted(checker.untrusted)
    except Refused:
        raise
    except RecursionError as exc:
        raise Refused("it is nested too deeply") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise Refused(f"a node is malformed ({type(exc).__name__}: {exc})") from exc
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise Refused(str(exc)) from exc
