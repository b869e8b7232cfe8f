"""A model file's sparse-matrix archive (.npz) may hold arrays, not further archives."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from framework.errors import StoreError
from framework.safe_format import load_skops


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_an_archive_inside_a_sparse_matrix_archive_is_refused(tmp_path: Path) -> None:
    from skops.io._protocol import PROTOCOL

    schema = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode"}
    schema |= {"content": [], "protocol": PROTOCOL}
    inner = _zip({"b.npz": _zip({"c.npz": _zip({})})})
    path = tmp_path / "model.skops"
    path.write_bytes(_zip({"schema.json": json.dumps(schema).encode(), "a.npz": inner}))

    with pytest.raises(StoreError, match=r"model\.skops is not a readable skops file: .*a\.npz"):
        load_skops(path)
    assert path.exists()
