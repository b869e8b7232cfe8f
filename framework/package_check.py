"""What a model package's JSON files must hold before anything is built from them.

A package directory is input from outside (``serve --package``, a copied export,
a blob in a store someone edited): ``model.json``, ``signature.json`` and
``release.json`` are read as data, and every field that later code indexes,
hashes, sorts or sends in a response header is checked here first. A hand-made
or damaged file is then one message naming the file and the field (exit 2),
never a TypeError deep in loading (exit 3), nor a server that starts and then
answers 500 (a task it does not know, duplicate column names, a name with a line
break sent as a header). Hashes (``framework.manifest``) say a file is as
exported; this says what it holds makes sense.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from framework.components import TASKS
from framework.errors import StoreError

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A model name as the spec's schema allows it (``name``)."""
ROLES = ("numeric", "categorical", "boolean")
COLUMN_KEYS = frozenset({"name", "role", "dtype", "categories"})
SCALARS = (str, int, float, bool)


def _refuse(where: str, file: str, problem: str) -> StoreError:
    return StoreError(f"model package {where}: {file}: {problem}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_name(name: Any, where: str, file: str) -> None:
    """A model name: it is sent in every answer's ``specops-model`` header."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise _refuse(
            where,
            file,
            f"'name' is {_shown(name)}; a model name is 1 to 128 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit",
        )


def check_metadata(metadata: Any, where: str) -> None:
    """``model.json``: an object with a known task, a model type, and labels that fit it."""
    file = "model.json"
    if not isinstance(metadata, dict):
        raise _refuse(where, file, f"must be a JSON object, not {type(metadata).__name__}")
    task = metadata.get("task")
    if task not in TASKS:
        raise _refuse(where, file, f"'task' is {_shown(task)}; expected one of {', '.join(TASKS)}")
    model_type = metadata.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise _refuse(where, file, f"'model_type' is {_shown(model_type)}; expected a type name")
    if "name" in metadata:
        check_name(metadata["name"], where, file)
    check_runtimes(metadata, where)
    labels = metadata.get("labels")
    if labels is None:
        return
    if task == "regression":
        raise _refuse(where, file, "a regression model has no 'labels'")
    _check_values(labels, where, file, "'labels'", minimum=2)
    if task == "binary" and len(labels) != 2:
        raise _refuse(where, file, f"a binary model has 2 'labels', not {len(labels)}")


RUNTIME_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
"""A runtime's name, as ``serve.runtime`` writes it."""
MAX_RUNTIMES = 32
VERDICT_TYPES: dict[str, tuple[type, ...]] = {
    "runtime": (str,),
    "verified": (bool,),
    "why": (str,),
    "rows": (int,),
    "max_proba_error": (int, float),
    "max_value_error": (int, float),
    "single_row_us": (int, float),
    "rows_per_second": (int, float),
    "compile_seconds": (int, float),
    "files": (list,),
    "note": (str,),
}
"""The fields of a recorded runtime verdict (:class:`framework.runtimes.base.Verdict`)."""
MAX_WHY = 2000
MAX_RUNTIME_FILES = 1000


def check_runtimes(metadata: dict[str, Any], where: str) -> None:
    """``serve_runtime`` and ``runtimes`` (one verdict per runtime, what ``models show``
    prints and serving chooses by): names a spec could write, each field of its type,
    bounded, so a hand-edited verdict is one message, not a crash while serving."""
    file = "model.json"
    requested = metadata.get("serve_runtime")
    if requested is not None and (
        not isinstance(requested, str) or not RUNTIME_NAME.fullmatch(requested)
    ):
        raise _refuse(where, file, f"'serve_runtime' is {_shown(requested)}; expected a name")
    verdicts = metadata.get("runtimes")
    if verdicts is None:
        return
    if not isinstance(verdicts, dict) or len(verdicts) > MAX_RUNTIMES:
        raise _refuse(
            where, file, f"'runtimes' must be an object of at most {MAX_RUNTIMES} verdicts"
        )
    for name, verdict in verdicts.items():
        at = f"runtimes.{_shown(name)}"
        if not isinstance(name, str) or not RUNTIME_NAME.fullmatch(name):
            raise _refuse(where, file, f"{at}: a runtime name is lower case letters, digits, '_'")
        if not isinstance(verdict, dict) or not isinstance(verdict.get("verified"), bool):
            raise _refuse(where, file, f"{at} must be an object with a boolean 'verified'")
        for key, value in verdict.items():
            types = VERDICT_TYPES.get(key)
            if types is None:
                raise _refuse(where, file, f"{at} has an unknown key {_shown(key)}")
            if value is None:
                continue
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise _refuse(where, file, f"{at}.{key} is {_shown(value)}; wrong type")
            if isinstance(value, float) and not (value == value and abs(value) < 1e300):
                raise _refuse(where, file, f"{at}.{key} is {_shown(value)}; not a number")
        if verdict.get("runtime", name) != name:
            raise _refuse(where, file, f"{at}.runtime says {_shown(verdict['runtime'])}")
        for text in ("why", "note"):
            if len(verdict.get(text) or "") > MAX_WHY:
                raise _refuse(where, file, f"{at}.{text} is longer than {MAX_WHY} characters")
        files = verdict.get("files") or []
        if len(files) > MAX_RUNTIME_FILES or not all(
            isinstance(f, str) and f.startswith(f"runtimes/{name}/") and ".." not in f.split("/")
            for f in files
        ):
            raise _refuse(
                where,
                file,
                f"{at}.files must list at most {MAX_RUNTIME_FILES} files under runtimes/{name}/",
            )


def check_signature(data: Any, where: str) -> None:
    """``signature.json``: a non-empty list of columns, each named once, with a known role."""
    file = "signature.json"
    columns = data.get("columns") if isinstance(data, dict) else None
    if not isinstance(columns, list) or not columns:
        raise _refuse(where, file, "must be an object whose 'columns' is a non-empty list")
    seen: set[str] = set()
    for index, column in enumerate(columns):
        at = f"columns[{index}]"
        if not isinstance(column, dict):
            raise _refuse(where, file, f"{at} must be an object, not {type(column).__name__}")
        unknown = sorted(map(str, column.keys() - COLUMN_KEYS))
        if unknown:
            raise _refuse(where, file, f"{at} has unknown key(s): {', '.join(unknown[:5])}")
        name = column.get("name")
        if not isinstance(name, str) or not name:
            raise _refuse(where, file, f"{at}.name is {_shown(name)}; expected a column name")
        if name in seen:
            raise _refuse(where, file, f"{at}: column '{name[:60]}' is listed twice")
        seen.add(name)
        role = column.get("role")
        if role not in ROLES:
            raise _refuse(
                where, file, f"{at}.role is {_shown(role)}; expected one of {', '.join(ROLES)}"
            )
        if not isinstance(column.get("dtype"), str):
            raise _refuse(
                where, file, f"{at}.dtype is {_shown(column.get('dtype'))}; expected text"
            )
        categories = column.get("categories")
        if role == "categorical":
            _check_values(categories, where, file, f"{at}.categories", minimum=0)
        elif categories is not None:
            raise _refuse(where, file, f"{at} is {role}: its categories must be null")


def check_release(info: Any, where: str) -> None:
    """``release.json``: which version this is (a positive integer) of which model."""
    file = "release.json"
    if not isinstance(info, dict):
        raise _refuse(where, file, f"must be a JSON object, not {type(info).__name__}")
    if "name" in info:
        check_name(info["name"], where, file)
    version = info.get("version")
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or not 1 <= version < 2**63
    ):
        raise _refuse(where, file, f"'version' is {_shown(version)}; expected a positive integer")


def _check_values(values: Any, where: str, file: str, what: str, *, minimum: int) -> None:
    """A list of distinct plain values (text, numbers, booleans), at least ``minimum``."""
    if not isinstance(values, list):
        raise _refuse(where, file, f"{what} must be a list, not {type(values).__name__}")
    if len(values) < minimum:
        raise _refuse(where, file, f"{what} must list at least {minimum} values")
    for index, value in enumerate(values):
        if (
            not isinstance(value, SCALARS)
            or value != value  # NaN
            or (isinstance(value, int) and not -(2**63) <= value < 2**63)  # JSON cannot echo it
        ):
            raise _refuse(
                where, file, f"{what}[{index}] is {_shown(value)}; expected text or a number"
            )
    if len(set(values)) != len(values):
        raise _refuse(where, file, f"{what} lists a value more than once")


def check_label_count(labels: list[Any] | None, proba: Any, where: str) -> None:
    """A classifier's probabilities have one column per label in ``model.json``; else a
    prediction would index past the labels (found at the server's warm-up, before it listens)."""
    if labels is not None and proba is not None and proba.shape[-1] != len(labels):
        raise _refuse(
            where,
            "model.json",
            f"lists {len(labels)} labels but the model predicts {proba.shape[-1]} classes",
        )


RUNTIME_CODE_SUFFIXES = (
    ".so",
    ".dylib",
    ".dll",
    ".pyd",
    ".py",
    ".pyc",
    ".pkl",
    ".pickle",
    ".joblib",
)
"""Files a package's ``runtimes/`` may not hold: code a loader would execute. A runtime
stores data (an ONNX graph, a model text) and builds native code where it runs."""
MAX_RUNTIME_BYTES = 256 * 2**20
"""One runtime's stored files, at most (what compiling refuses to write beyond)."""


def runtime_folders(directory: Path, where: str) -> dict[str, list[Path]]:
    """The files under ``directory/runtimes/<name>/``, by runtime name, refused when one
    is code, when a runtime's files exceed :data:`MAX_RUNTIME_BYTES` or when there are
    more than :data:`MAX_RUNTIME_FILES` of them."""
    root = directory / "runtimes"
    if not root.is_dir():
        return {}
    found: dict[str, list[Path]] = {}
    sizes: dict[str, int] = {}
    count = 0
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_dir():
            continue
        count += 1
        parts = path.relative_to(root).parts
        if count > MAX_RUNTIME_FILES * MAX_RUNTIMES or len(parts) < 2:
            raise _refuse(where, relative, "is not a runtime's file (runtimes/<name>/...)")
        if path.suffix.lower() in RUNTIME_CODE_SUFFIXES:
            raise _refuse(
                where,
                relative,
                "a runtime's stored file may not be code; specops never loads code from a "
                "package (a runtime builds native code where it runs)",
            )
        name = parts[0]
        sizes[name] = sizes.get(name, 0) + path.stat().st_size
        if sizes[name] > MAX_RUNTIME_BYTES:
            raise _refuse(
                where, f"runtimes/{name}", f"holds more than {MAX_RUNTIME_BYTES // 2**20} MB"
            )
        found.setdefault(name, []).append(path)
    return found
