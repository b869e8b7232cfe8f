"""What a stored version says about its runtimes, for ``models show`` (and the UI).

Read from the version's ``model.json`` (one small blob, hash-checked, size-bounded),
never by loading the package: the verdicts registration recorded, the runtime the spec
asked for, and which one serves and scores by default with the plugins installed here
(the same ranking :func:`framework.runtimes.choose.choose_runtime` loads by).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import StoreError
from framework.package_check import check_runtimes
from framework.runtimes.compile import METADATA_KEY, REQUESTED_KEY
from framework.runtimes.lookup import AUTO, DEFAULT, NATIVE

if TYPE_CHECKING:
    from framework.store import ModelVersion, Store

MAX_MODEL_JSON = 16 * 2**20
"""``model.json`` read for the report, at most (metrics, lineage and verdicts)."""


def read_model_json(store: Store, version: ModelVersion) -> dict[str, Any]:
    """The version's ``model.json``, hash-checked as it is copied out, bounded."""
    digest = version.files.get("model.json")
    if digest is None:
        raise StoreError(f"{version.ref} has no model.json")
    with tempfile.TemporaryDirectory(prefix="specops-show-") as tmp:
        target = Path(tmp) / "model.json"
        store.artifacts.copy_out(digest, f"model.json of {version.ref}", target)
        if target.stat().st_size > MAX_MODEL_JSON:
            raise StoreError(f"model.json of {version.ref} is larger than 16 MB")
        data = json.loads(target.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise StoreError(f"model.json of {version.ref} is not a JSON object")
    return data


def runtime_report(
    metadata: dict[str, Any], installed: list[str] | None, built_here: list[str] | None = None
) -> dict[str, Any]:
    """``{requested, recorded, serves, scores, verdicts, reasons, once_built}``: the
    spec's ``serve.runtime`` when the version was made (``recorded`` False for a version
    made before runtimes existed), the runtime that serves single rows and the one that
    scores batches by default here (``installed``: the registered runtimes; None: any),
    each recorded verdict, and why each other runtime does not serve. ``built_here``:
    the installed runtimes that build native code where they load (``ready``); ``auto``
    uses one only once built on the machine, so ``serves`` / ``scores`` name what serves
    until then and ``once_built`` what serves after (``specops runtimes prepare``)."""
    from framework.runtimes.choose import ranking, slower

    requested = metadata.get(REQUESTED_KEY) or DEFAULT
    verdicts = metadata.get(METADATA_KEY) or {}
    needs_build = set(built_here or ()) if requested == AUTO else set()
    once_built: dict[str, str] = {}

    def first(purpose: str) -> tuple[str, dict[str, str]]:
        order, reasons = ranking(verdicts, requested, purpose)
        for name in order:
            if installed is not None and name not in installed:
                reasons[name] = "verified, but its plugin is not installed here"
            elif name in needs_build:
                once_built.setdefault(purpose, name)
                reasons[name] = (
                    "verified; serves once built on the machine (specops runtimes prepare), "
                    "as auto never waits for a build"
                )
            else:
                return name, {**reasons, **slower(order, name, verdicts, purpose)}
        return NATIVE, reasons

    serves, reasons = first("serve")
    scores, _ = first("batch")
    return {
        "requested": requested,
        "recorded": REQUESTED_KEY in metadata,
        "serves": serves,
        "scores": scores,
        "once_built": once_built,
        "verdicts": verdicts,
        "reasons": reasons,
    }


def version_runtimes(
    store: Store,
    version: ModelVersion,
    installed: list[str] | None,
    built_here: list[str] | None = None,
    plugins: Any = None,
) -> dict[str, Any]:
    """:func:`runtime_report` of a stored version; ``{"error": ...}`` when its
    ``model.json`` cannot be read (the rest of ``models show`` still prints). With
    ``plugins``, the runtimes of ``built_here`` are judged as built on this machine
    or not (:func:`as_built_here`)."""
    try:
        metadata = read_model_json(store, version)
        check_runtimes(metadata, version.ref)
    except (StoreError, OSError, ValueError) as exc:
        return {"error": str(exc)}
    if plugins is not None and built_here:
        metadata, built_here = as_built_here(store, version, metadata, plugins, built_here)
    return runtime_report(metadata, installed, built_here)


def as_built_here(
    store: Store,
    version: ModelVersion,
    metadata: dict[str, Any],
    plugins: Any,
    built_here: list[str],
) -> tuple[dict[str, Any], list[str]]:
    """``metadata`` with each runtime that builds where it loads judged as this machine
    has it, and those of ``built_here`` still to be built: what ``auto`` does when a
    server or ``predict`` starts here (:func:`framework.runtimes.choose.choose_runtime`).
    A runtime whose form is built here is no longer "to be built", and one that timed
    that form beside native (``measured``) is ranked by it, so ``models show`` names
    the runtime a server started now would use. Reads only the runtime's own files
    (hash-checked, bounded); never builds anything, never loads the model."""
    from types import SimpleNamespace

    from framework.runtimes.choose import is_ready, measured_here

    verdicts = metadata.get(METADATA_KEY) or {}
    files: dict[str, dict[str, bytes]] = {}
    for name in built_here:
        if (verdicts.get(name) or {}).get("verified"):
            with contextlib.suppress(StoreError, OSError):
                files[name] = _runtime_files(store, version, name)
    # what choose_runtime is given for a stored version: the model.json and the files
    light = SimpleNamespace(metadata=metadata, runtime_files=files)
    still = [name for name in built_here if not _ready(light, plugins, name, is_ready)]
    ranked = measured_here(light, plugins, verdicts)  # type: ignore[arg-type]
    return {**metadata, METADATA_KEY: ranked}, still


def _ready(package: Any, plugins: Any, name: str, is_ready: Any) -> bool:
    """Whether runtime ``name`` loads here without a build; False when its files could
    not be read or it cannot tell without the model (as before it was asked)."""
    if name not in package.runtime_files:
        return False
    try:
        return bool(is_ready(package, plugins, name))
    except Exception:
        return False


MAX_RUNTIME_FILES = 256 * 2**20
"""Bytes of one runtime's files read for the report, at most (the registration limit)."""


def _runtime_files(store: Store, version: ModelVersion, name: str) -> dict[str, bytes]:
    """Runtime ``name``'s files of a stored version, each hash-checked as copied out."""
    prefix = f"runtimes/{name}/"
    read: dict[str, bytes] = {}
    total = 0
    with tempfile.TemporaryDirectory(prefix="specops-show-") as tmp:
        for path, digest in sorted(version.files.items()):
            if not path.startswith(prefix):
                continue
            target = Path(tmp) / "file"
            store.artifacts.copy_out(digest, f"{path} of {version.ref}", target)
            total += target.stat().st_size
            if total > MAX_RUNTIME_FILES:
                raise StoreError(f"runtime {name}'s files of {version.ref} exceed 256 MB")
            read[path[len(prefix) :]] = target.read_bytes()
    return read
