"""What a stored version says about its runtimes, for ``models show`` (and the UI).

Read from the version's ``model.json`` (one small blob, hash-checked, size-bounded),
never by loading the package: the verdicts registration recorded, the runtime the spec
asked for, and which one serves and scores by default with the plugins installed here
(the same ranking :func:`framework.runtimes.choose.choose_runtime` loads by).
"""

from __future__ import annotations

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
) -> dict[str, Any]:
    """:func:`runtime_report` of a stored version; ``{"error": ...}`` when its
    ``model.json`` cannot be read (the rest of ``models show`` still prints)."""
    try:
        metadata = read_model_json(store, version)
        check_runtimes(metadata, version.ref)
    except (StoreError, OSError, ValueError) as exc:
        return {"error": str(exc)}
    return runtime_report(metadata, installed, built_here)
