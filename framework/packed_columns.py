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
import math
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
        if not isinstance(name, str):
            raise TypeError(f"column names must be strings, not {name!r}")
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
    """The columns of a blob (arrays for packed numbers, lists or values for JSON ones).

    Everything a blob declares is checked against its bytes before anything is
    made of them, so a damaged blob is a :class:`StoreError` saying what is wrong.
    """
    data = bytes(blob)
    if not data.startswith(MAGIC):
        columns = _json(data, "blob")
        if not isinstance(columns, dict):
            raise StoreError(
                f"blob is JSON but not an object of columns ({type(columns).__name__})"
            )
        return columns
    try:
        (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    except struct.error:
        raise StoreError("a packed column blob is malformed: no header length") from None
    start = len(MAGIC) + _LENGTH.size
    header = _json(data[start : start + length], "header")
    if not isinstance(header, list):
        raise StoreError("a packed column blob is malformed: its header is not a list")
    offset = start + length
    columns: dict[str, Any] = {}
    for entry in header:
        name, encoding, shape, size = _header_entry(entry)
        raw = data[offset : offset + size]
        if len(raw) != size:
            raise StoreError(f"column {name!r} is cut short ({len(raw)} of {size} bytes)")
        offset += size
        columns[name] = _column(name, encoding, shape, raw)
    if offset != len(data):
        raise StoreError(f"a packed column blob is malformed: {len(data) - offset} stray bytes")
    return columns


def _header_entry(entry: Any) -> tuple[str, str, list[int] | None, int]:
    """One header entry, checked: ``[name, encoding, shape or null, byte length]``."""
    valid = (
        isinstance(entry, list)
        and len(entry) == 4
        and isinstance(entry[0], str)
        and isinstance(entry[1], str)
        and _is_count(entry[3])
        and (entry[2] is None or (isinstance(entry[2], list) and all(map(_is_count, entry[2]))))
    )
    if not valid:
        raise StoreError(f"a packed column blob is malformed: bad header entry {str(entry)[:80]}")
    return entry[0], entry[1], entry[2], entry[3]


def _column(name: str, encoding: str, shape: list[int] | None, raw: bytes) -> Any:
    import numpy as np

    if encoding == "json":
        return _json(raw, f"column {name!r}")
    if encoding not in ARRAY_DTYPES:
        raise StoreError(f"column {name!r} declares an unknown encoding {encoding!r}")
    dtype = np.dtype(encoding)
    if shape is None or math.prod(shape) * dtype.itemsize != len(raw):
        raise StoreError(
            f"a packed column blob is malformed: column {name!r} has {len(raw)} bytes, "
            f"not the {shape} {encoding} values it declares"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


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
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise StoreError(f"{what} is not valid JSON: {exc}") from None


try:
    from orjson import loads as _loads  # the serve extra; its JSONDecodeError is a ValueError
except ImportError:  # pragma: no cover - the stdlib reads the same documents
    _loads = json.loads
