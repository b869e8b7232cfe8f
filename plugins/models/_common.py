"""What the built-in model plugins share: their ``model.json`` and their class count.

Plain helpers, not a plugin: nothing is registered here, and nothing heavy imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import StoreError

if TYPE_CHECKING:
    import numpy as np

META_FILE = "model.json"


def class_count(task: str, y: np.ndarray) -> int:
    """Classes the model scores: codes run 0..k-1, even if the top one is rare."""
    if task == "regression":
        return 0
    return 2 if task == "binary" else int(y.max()) + 1


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    """Write ``model.json``: the model's type and what it was trained for."""
    (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def read_meta(directory: Path, type_name: str) -> dict[str, Any]:
    """``model.json``'s content, refusing a directory some other model type wrote."""
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {directory / META_FILE}: {exc}") from exc
    if meta.get("type") != type_name:
        raise StoreError(f"{directory} holds a '{meta.get('type')}' model, not '{type_name}'")
    return meta
