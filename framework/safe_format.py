"""Safe persistence for scikit-learn objects: skops instead of pickle.

Loading a pickle runs whatever code it names. skops stores objects as data and,
on load, refuses types it was not told to trust. Which types we trust is decided
by ``framework.model_trust`` from the archive itself (where each class is defined,
never where it is reachable; no stored callables), so a crafted file cannot run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framework.errors import StoreError


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
    """Read a skops file, refusing anything ``model_trust`` does not accept, before building it.

    The file is read once: the bytes that were checked are the bytes that are loaded.
    """
    import skops.io as sio

    from framework.model_trust import Refused, audit, check_file_size

    try:
        check_file_size(path.stat().st_size)  # before reading it into memory
        data = path.read_bytes()
        refused = audit(data)
    except (Refused, OSError) as exc:  # a truncated, foreign or oversized file: never load it
        raise StoreError(f"{path.name} is not a readable skops file: {exc}") from exc
    if refused:
        raise StoreError(f"{path.name} contains types specops does not trust: {', '.join(refused)}")
    try:
        loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    except Exception as exc:
        raise StoreError(f"{path.name} could not be loaded: {exc}") from exc
    from framework.tree_checks import check_trees

    check_trees(loaded, path.name)  # compiled tree code trusts its indices: check them once
    return loaded
