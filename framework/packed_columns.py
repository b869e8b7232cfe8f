"""Named columns packed into one blob: raw little-endian numbers for arrays, JSON for the rest.

The prediction log stores every served request's inputs and outputs. As JSON, a
10,000-row request of 20 float columns is 4.3 MB of digits that take 5 ms to
write and as long again to parse; as raw float64 it is 1.6 MB and a copy. So a
blob is a small JSON header followed by the columns' bytes::

    b"SPC1"  uint32 little-endian header length  header JSON  column bytes...

The header is a list of ``[name, encoding, shape, byte length]``, one per column
in order. ``encoding`` is a NumPy dtype string from :data:`ARRAY_DTYPES` (the
column is that many raw values in C order, with ``shape``), or ``"json"`` (the
column is the UTF-8 JSON of a list, ``shape`` is null). Anything that is not a
numeric or boolean NumPy array — lists as a client sent them, text, labels — is
JSON, so values keep the types they arrived with. Nothing here can name code to
run: decoding only ever makes numbers, strings, lists and dicts.

A mapping whose arrays are all small (fewer than :data:`RAW_MIN_VALUES` values,
as in single-row requests) is written as one plain JSON object instead: there
the header would cost more than the digits it saves. :func:`unpack` reads both,
and so also reads the JSON blobs written before this format existed.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from framework.errors import StoreError
from framework.serving.jsonio import dumps

if TYPE_CHECKING:
    import numpy as np

MAGIC = b"SPC1"
RAW_MIN_VALUES = 64
_LENGTH = struct.Struct("<I")
ARRAY_DTYPES = frozenset(
    {"<f8", "<f4", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1"}
)
"""The only dtypes a blob may declare: numbers and booleans, never objects."""


def pack(columns: Mapping[str, Any]) -> bytes:
    """One blob holding every column; NumPy numeric arrays are stored as raw values."""
    if not any(getattr(values, "size", 0) >= RAW_MIN_VALUES for values in columns.values()):
        return dumps(columns)
    header: list[list[Any]] = []
    chunks: list[bytes] = []
    for name, values in columns.items():
        array = _numeric_array(values)
        if array is not None:
            raw = array.tobytes()
            header.append([name, array.dtype.str, list(array.shape), len(raw)])
        else:
            raw = dumps(values)
            header.append([name, "json", None, len(raw)])
        chunks.append(raw)
    encoded = dumps(header)
    return b"".join([MAGIC, _LENGTH.pack(len(encoded)), encoded, *chunks])


def unpack(blob: bytes) -> dict[str, Any]:
    """The columns of a blob (arrays for packed numbers, lists or values for JSON ones)."""
    import numpy as np

    data = bytes(blob)
    if not data.startswith(MAGIC):
        return _json(data, "blob")
    try:
        (length,) = _LENGTH.unpack_from(data, len(MAGIC))
        start = len(MAGIC) + _LENGTH.size
        header = _json(data[start : start + length], "header")
        offset = start + length
        columns: dict[str, Any] = {}
        for name, encoding, shape, size in header:
            raw = data[offset : offset + size]
            if len(raw) != size:
                raise StoreError(f"column {name!r} is cut short ({len(raw)} of {size} bytes)")
            offset += size
            if encoding == "json":
                columns[name] = _json(raw, f"column {name!r}")
            elif encoding in ARRAY_DTYPES:
                columns[name] = np.frombuffer(raw, dtype=encoding).reshape(shape)
            else:
                raise StoreError(f"column {name!r} declares an unknown encoding {encoding!r}")
    except (struct.error, TypeError, ValueError) as exc:
        raise StoreError(f"a packed column blob is malformed: {exc}") from None
    return columns


def _numeric_array(values: Any) -> np.ndarray | None:
    dtype = getattr(values, "dtype", None)
    if dtype is None or not hasattr(values, "tobytes"):
        return None
    import numpy as np

    little = np.ascontiguousarray(values, dtype=dtype.newbyteorder("<"))
    return little if little.dtype.str in ARRAY_DTYPES else None


def _json(raw: bytes, what: str) -> Any:
    try:
        return _loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"{what} is not valid JSON: {exc}") from None


try:
    from orjson import loads as _loads  # the serve extra; its JSONDecodeError is a ValueError
except ImportError:  # pragma: no cover - the stdlib reads the same documents
    _loads = json.loads
