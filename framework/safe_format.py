"""Safe persistence for scikit-learn objects: skops instead of pickle.

Loading a pickle runs whatever code it names. skops stores objects as data and,
on load, refuses types it was not told to trust; we trust only types from the
libraries a specops pipeline is made of, so a crafted file cannot run code.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from framework.errors import StoreError

TRUSTED_LIBRARIES: frozenset[str] = frozenset({"sklearn", "numpy", "scipy"})

# Callables a fitted scikit-learn object legitimately holds (HistGradientBoosting keeps
# ``partial(check_array, ...)``). Anything else callable is refused: a crafted
# ``FunctionTransformer(func=exec)`` must never load.
TRUSTED_NAMES: frozenset[str] = frozenset(
    {"functools.partial", "sklearn.utils.validation.check_array"}
)


def _trusted(name: str) -> bool:
    """Exact allow-listed names, or classes (not functions) of the libraries we build on."""
    if name in TRUSTED_NAMES:
        return True
    module_name, _, attribute = name.rpartition(".")
    if module_name.split(".")[0] not in TRUSTED_LIBRARIES:
        return False
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    return isinstance(getattr(module, attribute, None), type)


def save_skops(obj: Any, path: Path) -> None:
    """Write ``obj`` to ``path`` in skops format, byte for byte the same for the same object.

    skops names its entries by ``id()`` and stamps them with the time, so two saves
    of equal objects differ; renumbering the ids by first appearance and fixing the
    timestamps makes a rerun's artifact comparable with the original by hash.
    """
    import skops.io as sio

    path.write_bytes(canonical_skops(sio.dumps(obj)))


FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def canonical_skops(raw: bytes) -> bytes:
    """The same skops archive with ids numbered in order of appearance and fixed times."""
    import io
    import json
    import zipfile

    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    schema = json.loads(entries.pop("schema.json"))
    numbering: dict[int, int] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = numbering.setdefault(value, len(numbering) + 1)
                elif key == "file" and isinstance(value, str) and value.endswith(".npy"):
                    number = int(value.removesuffix(".npy"))
                    out[key] = f"{numbering.setdefault(number, len(numbering) + 1)}.npy"
                else:
                    out[key] = renumber(value)
            return out
        if isinstance(node, list):
            return [renumber(item) for item in node]
        return node

    schema = renumber(schema)
    renamed = {"schema.json": json.dumps(schema, indent=2).encode()}
    for name, data in entries.items():
        stem = name.removesuffix(".npy")
        if name.endswith(".npy") and stem.isdigit() and int(stem) in numbering:
            name = f"{numbering[int(stem)]}.npy"
        renamed[name] = data
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(renamed):
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, renamed[name])
    return buffer.getvalue()


def load_skops(path: Path) -> Any:
    """Read a skops file, refusing any type outside the trusted libraries."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a truncated or foreign file: never half-load it
        raise StoreError(f"{path.name} is not a readable skops file: {exc}") from exc
    refused = [t for t in untrusted if not _trusted(t)]
    if refused:
        raise StoreError(
            f"{path.name} contains types specops does not trust: {', '.join(sorted(refused))}"
        )
    try:
        return sio.load(path, trusted=list(untrusted))
    except Exception as exc:
        raise StoreError(f"{path.name} could not be loaded: {exc}") from exc
