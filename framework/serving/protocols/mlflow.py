"""MLflow's scoring protocol, as ``mlflow models serve`` speaks it.

``POST /invocations`` takes ``application/json`` in any of MLflow's four forms —
``dataframe_split`` (``{"columns": [...], "data": [[...], ...]}``),
``dataframe_records`` (``[{"col": value}, ...]``), ``instances`` and ``inputs``
(records, a dict of columns, or rows in the model's column order) — optionally
with ``params`` (accepted and ignored: specops models take none), or
``text/csv`` with a header row. The answer is ``{"predictions": [...]}`` with the
label (or value) of each row; classifiers add ``"probabilities"``, one list per
row in the order of the model's labels (``GET /version`` lists them). Errors are
``{"error_code": ..., "message": ...}`` with a 4xx status, as MLflow's.

Columns the model does not take are ignored in every form, and named in the
answer's headers (``--strict-columns``: refused with a 400), as MLflow ignores them.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from framework.serving import jsonio, records
from framework.serving.batch import (
    MAX_NAMES,
    Batch,
    IgnoredColumns,
    from_columns,
    from_rows,
    listing,
)
from framework.serving.errors import RequestError, bad_request, unsupported_media

if TYPE_CHECKING:
    from framework.package import Predictions
    from framework.serving.served import ServedModel

FORMS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON = "application/json"
CSV = "text/csv"
WIDE_HEADER = 1_000
"""A CSV header wider than this is read in the model's columns only (see parse_csv)."""


def parse(
    body: bytes, content_type: str | None, served: ServedModel, *, strict: bool = False
) -> Batch:
    """The batch a request carries; 415 for a content type MLflow does not take either.

    ``strict``: a column the model does not take is a 400 rather than ignored.
    """
    mime = _content_type(content_type)
    ignored = IgnoredColumns(strict=strict)
    if mime == JSON:
        document = jsonio.loads(body)
        batch = parse_json(document, served, ignored, size=len(body))
        batch.ignored = ignored
        if served.target is not None and ignored.count:
            from framework.serving import labels

            form = next((key for key in FORMS if key in document), "")
            labels.attach(batch, form, document.get(form), served.target)
    elif mime == CSV:
        batch = parse_csv(body, served, ignored)
    else:
        batch = None
    if batch is not None:
        batch.ignored = ignored
        return batch
    raise unsupported_media(
        f"content type {content_type or '(none)'!r} is not supported; "
        f"send {JSON} (dataframe_split, dataframe_records, instances or inputs) or {CSV}"
    )


def _content_type(header: str | None) -> str:
    parts = [part.strip() for part in (header or "").split(";")]
    parameters = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        parameters[key.strip().lower()] = value.strip().strip('"').lower()
    charset = parameters.pop("charset", "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise unsupported_media(f"charset {charset!r} is not supported; send UTF-8")
    if parameters:
        raise unsupported_media(f"unknown content type parameter(s): {', '.join(parameters)}")
    return parts[0].lower()


def parse_json(
    document: Any, served: ServedModel, ignored: IgnoredColumns, *, size: int | None = None
) -> Batch:
    """One of MLflow's four JSON forms; ``size``: the body's, which bounds sparse records."""
    if not isinstance(document, dict):
        raise bad_request(
            "the body must be a JSON object with one of the keys "
            f"{', '.join(FORMS)}; got a {type(document).__name__}"
        )
    forms = [key for key in FORMS if key in document]
    if len(forms) != 1 or len(document) > 1 + ("params" in document):
        keys = list(itertools.islice(document, MAX_NAMES + 1))
        found = listing(sorted(map(str, keys))[:MAX_NAMES]) if keys else "none"
        if len(keys) > MAX_NAMES:
            found += f" ... ({len(document)} in all)"
        raise bad_request(
            f"the body must have exactly one of the keys {', '.join(FORMS)} "
            f"(and optionally params); found keys: {found}"
        )
    form = forms[0]
    value = document[form]
    if form == "dataframe_split":
        return _split(value, served, ignored)
    if form == "dataframe_records":
        return records.from_records(value, served.columns, form, ignored, size=size)
    if isinstance(value, dict):
        known = records.known_columns(value, served.columns, form, ignored)
        if not known:
            return Batch({}, 1)  # every column unknown: refused as missing the model's
        return from_columns(known, form)
    if isinstance(value, list):
        if not value:
            return Batch({}, 0)
        if isinstance(value[0], dict):
            return records.from_records(value, served.columns, form, ignored, size=size)
        if isinstance(value[0], list):
            return from_rows(served.input_names, value, form)
    raise bad_request(
        f"{form} must be a list of records ({{column: value}}), a list of rows in the model's "
        f"column order, or an object of column: list of values; got {type(value).__name__}"
    )


def _split(value: Any, served: ServedModel, ignored: IgnoredColumns) -> Batch:
    if not isinstance(value, dict):
        raise bad_request(
            'dataframe_split must be an object {"columns": [...], "data": [[...], ...]}'
        )
    if "data" not in value:
        raise bad_request('dataframe_split has no "data"')
    columns = value.get("columns", served.input_names)
    if not isinstance(columns, list):
        raise bad_request('dataframe_split "columns" must be a list of column names')
    keep = records.check_names(columns, served.columns, "dataframe_split.columns", ignored)
    return from_rows(columns, value["data"], "dataframe_split.data", keep)


def parse_csv(body: bytes, served: ServedModel, ignored: IgnoredColumns) -> Batch:
    """CSV with a header row, read by pandas as ``specops predict`` reads a CSV file.

    The header is read first, with the standard library, and its names checked
    against the model's before pandas sees the body: a header of a million
    columns is one refusal, not a million-column table.
    """
    import csv
    import io

    import pandas as pd

    if not body.strip():
        return Batch({}, 0)
    try:  # the header only: the text wrapper decodes as far as the csv reader reads
        text = io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", newline="")
        header = next(csv.reader(text), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise bad_request(f"the CSV body cannot be read: {exc}") from None
    keep = records.check_names(header, served.columns, "the CSV header", ignored)
    if not keep:
        return Batch({}, 1)  # no column of the model's: refused as missing them, by name
    # A header of up to WIDE_HEADER names is read whole (pandas then refuses a row wider
    # than the header); a wider one only in the model's columns, never a huge table.
    target = served.target if served.target is not None and ignored.saw(served.target) else None
    usecols = [header[j] for j in keep] if len(header) > WIDE_HEADER else None
    if usecols is not None and target is not None:
        usecols.append(target)
    try:
        frame = pd.read_csv(io.BytesIO(body), usecols=usecols)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise bad_request(f"the CSV body cannot be read: {exc}") from None
    frame.columns = [str(c) for c in frame.columns]
    label = frame[target] if target is not None and target in frame.columns else None
    if len(keep) < len(frame.columns):
        frame = frame[[name for name in frame.columns if name in served.columns]]
    batch = Batch({}, len(frame), frame=frame)
    if label is not None:
        from framework.serving import labels

        labels.keep(batch, label.astype(object).where(label.notna(), None).to_numpy())
    return batch


def render(predictions: Predictions, served: ServedModel) -> bytes:
    """``{"predictions": [...]}``, plus ``probabilities`` for classifiers."""
    answer: dict[str, Any] = {"predictions": _labels(predictions)}
    if predictions.proba is not None:
        answer["probabilities"] = predictions.proba
    return jsonio.dumps(answer)


INT64 = range(-(2**63), 2**63)
_int_labels: tuple[Any, Any] = (None, None)
"""The labels list last answered with, and its int64 array (None: not all integers): one
identity check a request instead of a look at every label (a swap brings another list)."""


def _labels(predictions: Predictions) -> Any:
    """The predicted labels as the answer writes them. Integer labels (the usual 0/1)
    go as an int64 array, which the JSON writer turns into the same bytes as a list
    of Python ints at half the cost for 10,000 rows; anything else as a list."""
    import numpy as np

    global _int_labels
    labels = predictions.labels
    last, table = _int_labels  # one tuple, replaced whole: never one list's table with another
    if labels is not last:
        table = None
        if labels and all(type(label) is int and label in INT64 for label in labels):
            table = np.asarray(labels, dtype=np.int64)
        _int_labels = (labels, table)
    if table is not None:
        return table[predictions.codes.astype(np.intp)]
    return predictions.values.tolist()


def render_error(error: RequestError) -> bytes:
    return jsonio.dumps({"error_code": error.code, "message": error.message})
