"""The Open Inference Protocol (KServe V2) REST API, with the binary tensor extension.

Inputs are tensors. Either one per feature column, named after the column with
shape ``[n]`` or ``[n, 1]`` (numbers: ``FP64``/``FP32``/``INT*``/``UINT*``/``BOOL``;
categories: ``BYTES``), or one whole tensor of shape ``[n, columns]`` whose
columns are the model's inputs in the order ``GET /v2/models/{name}`` lists them
(``BYTES`` when the model has categorical columns). Tensor data is JSON
(``"data"``, flat row-major or nested; ``null`` is a missing value) or binary: the
body is the JSON header, ``Inference-Header-Content-Length`` bytes long, then each
binary input's raw little-endian bytes (``BYTES``: 4-byte length, then UTF-8) in
input order, each sized by its ``parameters.binary_data_size``.

Outputs are ``predictions`` (labels or values, shape ``[n]``) and, for
classifiers, ``probabilities`` (``FP64``, ``[n, classes]`` in label order).
Binary outputs are returned when the request asks (``parameters.binary_data_output``
or an output's ``parameters.binary_data``), as tritonclient does by default.
Errors are ``{"error": "..."}``.

An input named after no column of the model's is ignored (its data is never
decoded) and named in the answer's headers; ``--strict-columns`` refuses it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework.serving import jsonio
from framework.serving.batch import Batch, IgnoredColumns, listing
from framework.serving.errors import RequestError, bad_request, too_large, unsupported_media
from framework.serving.fastpath import BOOL_TYPES, NUMBER_TYPES, TEXT_TYPES

if TYPE_CHECKING:
    from framework.package import Predictions
    from framework.serving.served import ServedModel

NUMPY_TYPES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
NUMERIC = frozenset(NUMPY_TYPES)
HEADER_LENGTH = b"inference-header-content-length"
EXTENSIONS = ["binary_tensor_data"]


@dataclass
class InferRequest:
    """What an infer request asked for besides its rows."""

    batch: Batch
    request_id: str | None = None
    outputs: list[str] | None = None
    binary: dict[str, bool] = field(default_factory=dict)
    binary_default: bool = False


def output_names(served: ServedModel) -> list[str]:
    return ["predictions", "probabilities"] if served.labels is not None else ["predictions"]


def server_metadata() -> dict[str, Any]:
    from framework import __version__

    return {"name": "specops", "version": __version__, "extensions": EXTENSIONS}


def model_metadata(served: ServedModel) -> dict[str, Any]:
    """Name, served version, and the inputs from the signature with their datatypes."""
    inputs = [
        {"name": name, "datatype": datatype, "shape": [-1]}
        for name, datatype in served.input_datatypes.items()
    ]
    outputs = [{"name": "predictions", "datatype": served.label_datatype, "shape": [-1]}]
    if served.labels is not None:
        outputs.append(
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(served.labels)]}
        )
    return {
        "name": served.name,
        "versions": [str(served.version)] if served.version is not None else [],
        "platform": f"specops_{served.model_type}",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {
            "task": served.task,
            "labels": served.labels,
            "follows": served.follows_ref,
        },
    }


# ---------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------


def decode_body(body: bytes, headers: dict[bytes, bytes], limit: int) -> bytes:
    """The body, decompressed when tritonclient sent it gzip or deflate (bounded by ``limit``)."""
    encoding = headers.get(b"content-encoding", b"identity").decode("latin-1").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise unsupported_media(f"content encoding {encoding!r} is not supported; use gzip")
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise bad_request(f"the {encoding} body cannot be decompressed: {exc}") from None
    if len(plain) > limit or inflater.unconsumed_tail:
        raise too_large(limit)
    if not inflater.eof:
        raise bad_request(f"the {encoding} body is cut short: its stream does not end")
    if inflater.unused_data:
        raise bad_request(
            f"the {encoding} body has {len(inflater.unused_data):,} bytes after its stream "
            "ends (one stream per body)"
        )
    return plain


def check_content_type(headers: dict[bytes, bytes]) -> None:
    header = headers.get(b"content-type")
    if header is None:
        return
    mime = header.decode("latin-1").split(";")[0].strip().lower()
    if mime not in ("application/json", "application/octet-stream", ""):
        raise unsupported_media(
            f"content type {mime!r} is not supported; send application/json "
            "(or application/octet-stream with Inference-Header-Content-Length)"
        )


def parse(
    body: bytes, headers: dict[bytes, bytes], served: ServedModel, *, strict: bool = False
) -> InferRequest:
    """An infer request: its JSON header, binary tensors if any, as a batch of columns.

    ``strict``: an input the model does not take is a 400 rather than ignored.
    """
    check_content_type(headers)
    header_length = headers.get(HEADER_LENGTH)
    binary = b""
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            raise bad_request("Inference-Header-Content-Length must be a number") from None
        if not 0 <= size <= len(body):
            raise bad_request(
                f"Inference-Header-Content-Length is {size} but the body has {len(body)} bytes"
            )
        body, binary = body[:size], body[size:]
    document = jsonio.loads(body)
    if not isinstance(document, dict):
        raise bad_request("the infer request must be a JSON object with an 'inputs' list")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise bad_request("the infer request needs a non-empty 'inputs' list of tensors")
    columns = served.columns if len(inputs) > 1 else None
    ignored = IgnoredColumns(strict=strict)
    tensors = _tensors(inputs, binary, len(body) + len(binary), columns, ignored)
    request = InferRequest(_batch(tensors, served, ignored))
    request.batch.ignored = ignored
    request.request_id = document.get("id") if isinstance(document.get("id"), str) else None
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise bad_request("'parameters' must be an object")
    request.binary_default = bool(parameters.get("binary_data_output", False))
    _requested_outputs(document.get("outputs"), served, request)
    return request


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: list[int]
    values: Any  # list (JSON) or NumPy array (binary)


def _tensors(
    inputs: list[Any],
    binary: bytes,
    body_size: int,
    columns: Mapping[str, Any] | None,
    ignored: IgnoredColumns,
) -> list[Tensor]:
    """Each input's values, checked against its shape and datatype.

    A shape's element count is bounded by the body's size before anything is
    sized from it (every value takes at least one byte of the body), and with
    several inputs each name is looked up in the model's ``columns`` before its
    data is read: an unknown one is skipped (its binary bytes stepped over) and
    counted in ``ignored``, or refused when ``ignored.strict``.
    """
    import numpy as np

    tensors = []
    offset = 0
    for index, spec in enumerate(inputs):
        if not isinstance(spec, dict):
            raise bad_request(f"inputs[{index}] must be an object")
        name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
        if not isinstance(name, str):
            raise bad_request(f"inputs[{index}] has no name")
        if columns is not None and name not in columns:
            if ignored.strict:
                raise bad_request(
                    f"inputs[{index}] is named '{name[:60]}', which is not one of the model's "
                    f"{len(columns)} columns: {listing(list(columns))}"
                )
            ignored.add(name)
            offset += _binary_size(spec, name[:60], len(binary) - offset) or 0
            continue
        if not isinstance(datatype, str) or (datatype not in NUMERIC and datatype != "BYTES"):
            raise bad_request(
                f"input '{name}' has datatype {datatype!r}; use one of "
                f"{', '.join(sorted(NUMERIC))} or BYTES"
            )
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise bad_request(f"input '{name}' needs a shape: a list of non-negative integers")
        count = 1
        for dimension in shape:
            count *= dimension
            if count > body_size:
                shown = shape if len(shape) <= 8 else f"{shape[:8]}... ({len(shape)} dimensions)"
                raise bad_request(
                    f"input '{name}' has shape {shown}: more values than a "
                    f"{body_size:,}-byte request can hold"
                )
        size = _binary_size(spec, name, len(binary) - offset)
        if size is not None:
            chunk = binary[offset : offset + size]
            offset += size
            if datatype == "BYTES":
                values: Any = _decode_bytes(chunk, name)
            else:
                dtype = np.dtype(NUMPY_TYPES[datatype])
                if size != count * dtype.itemsize:
                    raise bad_request(
                        f"input '{name}' has {size} bytes of {datatype} data; its shape "
                        f"{shape} needs {count * dtype.itemsize}"
                    )
                values = np.frombuffer(chunk, dtype=dtype)
        else:
            if "data" not in spec:
                raise bad_request(f"input '{name}' has neither 'data' nor binary_data_size")
            values = _flat(spec["data"], name)
        if len(values) != count:
            raise bad_request(
                f"input '{name}' has {len(values)} values but its shape {shape} needs {count}"
            )
        tensors.append(Tensor(name, datatype, shape, values))
    if offset != len(binary):
        raise bad_request(
            f"the body has {len(binary) - offset} binary bytes that no input's "
            "binary_data_size accounts for"
        )
    return tensors


def _binary_size(spec: dict[str, Any], name: str, left: int) -> int | None:
    """The input's ``binary_data_size`` (None for JSON data), checked to fit in the ``left``
    binary bytes of the body."""
    parameters = spec.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is not None and (
        not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= left
    ):
        raise bad_request(
            f"input '{name}' says binary_data_size {size!r} but only {left} binary bytes "
            "are left in the body"
        )
    return size


def _flat(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise bad_request(f"input '{name}' data must be a list")
    while data and isinstance(data[0], list):
        if not all(isinstance(item, list) for item in data):
            raise bad_request(f"input '{name}' data mixes nested lists and values")
        data = [value for item in data for value in item]
    return data


LENGTH = struct.Struct("<I")


def _decode_bytes(chunk: bytes, name: str) -> list[str]:
    """BYTES in binary form: each element is a 4-byte little-endian length, then UTF-8."""
    values: list[str] = []
    append, unpack = values.append, LENGTH.unpack_from
    offset, end = 0, len(chunk)
    try:
        while offset < end:
            start = offset + 4
            offset = start + unpack(chunk, offset)[0]
            if offset > end:
                raise ValueError("an element runs past the end of the data")
            append(chunk[start:offset].decode("utf-8"))
    except (struct.error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise bad_request(f"input '{name}' has malformed BYTES data: {exc}") from None
    return values


def _batch(tensors: list[Tensor], served: ServedModel, ignored: IgnoredColumns) -> Batch:
    names = served.input_names
    datatypes = served.input_datatypes
    if len(tensors) == 1 and tensors[0].name not in datatypes and len(tensors[0].shape) == 2:
        return _whole_tensor(tensors[0], served)
    columns: dict[str, Any] = {}
    rows = None
    for tensor in tensors:
        if tensor.name not in datatypes and not ignored.strict:
            ignored.add(tensor.name)  # one input, not the model's: the batch lacks columns
            rows = tensor.shape[0] if rows is None else rows
            continue
        if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise bad_request(
                f"input '{tensor.name}' has shape {tensor.shape}; a column input has shape "
                f"[n] or [n, 1] (or send one tensor of shape [n, {len(names)}])"
            )
        if tensor.name in columns:
            raise bad_request(f"input '{tensor.name}' is given twice")
        if rows is not None and tensor.shape[0] != rows:
            raise bad_request(
                f"input '{tensor.name}' has {tensor.shape[0]} rows but the others have {rows}"
            )
        rows = tensor.shape[0]
        expected = datatypes.get(tensor.name)
        if expected is not None:
            _check_datatype(tensor, expected)
        columns[tensor.name] = tensor.values
    return Batch(columns, rows or 0)


def _check_datatype(tensor: Tensor, expected: str) -> None:
    """A column advertised as BYTES (text categories) needs BYTES, any other a numeric tensor."""
    if expected == "BYTES":
        if tensor.datatype != "BYTES":
            raise bad_request(
                f"input '{tensor.name}' is {tensor.datatype} but the model takes categories "
                "(text) there: send datatype BYTES"
            )
        if isinstance(tensor.values, list) and not set(map(type, tensor.values)) <= TEXT_TYPES:
            raise bad_request(f"input '{tensor.name}' is BYTES but holds values that are not text")
        return
    if tensor.datatype == "BYTES":
        raise bad_request(
            f"input '{tensor.name}' is BYTES but the model takes numbers there: send {expected}"
        )
    if isinstance(tensor.values, list):
        # JSON true/false count as 1/0 in any numeric tensor, as in every other path
        allowed = BOOL_TYPES if tensor.datatype == "BOOL" else NUMBER_TYPES | BOOL_TYPES
        if not set(map(type, tensor.values)) <= allowed:
            raise bad_request(
                f"input '{tensor.name}' is {tensor.datatype} but holds values that are not "
                f"{'booleans' if tensor.datatype == 'BOOL' else 'numbers'}"
            )


def _whole_tensor(tensor: Tensor, served: ServedModel) -> Batch:
    names = served.input_names
    rows, width = tensor.shape
    if width != len(names):
        raise bad_request(
            f"input '{tensor.name}' has {width} columns but the model takes {len(names)}: "
            f"{listing(names)} (in that order)"
        )
    text = [name for name, datatype in served.input_datatypes.items() if datatype == "BYTES"]
    if text and tensor.datatype != "BYTES":
        raise bad_request(
            f"input '{tensor.name}' is {tensor.datatype} but the model takes text in "
            f"{', '.join(text)}: send the tensor as BYTES, or one input per column"
        )
    values = tensor.values
    if hasattr(values, "reshape"):
        matrix = values.reshape(rows, width)
        return Batch({name: matrix[:, j] for j, name in enumerate(names)}, rows)
    if tensor.datatype == "BYTES":  # a text tensor has no null: "" is a missing value
        values = [None if value == "" else value for value in values]
    return Batch({name: values[j::width] for j, name in enumerate(names)}, rows)


def _requested_outputs(outputs: Any, served: ServedModel, request: InferRequest) -> None:
    if outputs is None:
        return
    if not isinstance(outputs, list):
        raise bad_request("'outputs' must be a list of {name: ...} objects")
    available = output_names(served)
    names = []
    for index, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, dict) else None
        if name not in available:
            raise bad_request(
                f"outputs[{index}] asks for {name!r}; this model has: {', '.join(available)}"
            )
        if name in names:  # each repeat would be rendered again: an answer many times the body
            raise bad_request(f"outputs[{index}] asks for {name!r} again; name each output once")
        names.append(name)
        parameters = output.get("parameters") or {}
        if isinstance(parameters, dict) and "binary_data" in parameters:
            request.binary[name] = bool(parameters["binary_data"])
    request.outputs = names


# ---------------------------------------------------------------------------
# responses
# ---------------------------------------------------------------------------


def render(
    predictions: Predictions, served: ServedModel, request: InferRequest
) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary outputs, its JSON header's length."""
    import numpy as np

    rows = request.batch.rows
    tensors: list[tuple[str, str, list[int], Any]] = []
    for name in request.outputs or output_names(served):
        if name == "predictions":
            values = predictions.values
            if served.label_datatype == "BYTES":
                values = np.asarray([str(v) for v in values.tolist()], dtype=object)
            tensors.append((name, served.label_datatype, [rows], values))
        else:
            proba = np.ascontiguousarray(predictions.proba, dtype=np.float64)
            tensors.append((name, "FP64", list(proba.shape), proba))
    outputs = []
    chunks = []
    for name, datatype, shape, values in tensors:
        output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if request.binary.get(name, request.binary_default):
            raw = _encode(values, datatype)
            output["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            output["data"] = values.reshape(-1) if hasattr(values, "reshape") else values
        outputs.append(output)
    header: dict[str, Any] = {
        "model_name": served.name,
        "model_version": str(served.version) if served.version is not None else "",
        "outputs": outputs,
    }
    if request.request_id is not None:
        header["id"] = request.request_id
    encoded = jsonio.dumps(header)
    if not chunks:
        return encoded, None
    return encoded + b"".join(chunks), len(encoded)


def _encode(values: Any, datatype: str) -> bytes:
    import numpy as np

    if datatype == "BYTES":
        parts = []
        for value in values.tolist():
            data = str(value).encode()
            parts.append(LENGTH.pack(len(data)) + data)
        return b"".join(parts)
    return np.ascontiguousarray(values, dtype=np.dtype(NUMPY_TYPES[datatype])).tobytes()


def render_error(error: RequestError) -> bytes:
    return jsonio.dumps({"error": error.message})
