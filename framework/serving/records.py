"""Column names a request brings, checked against the model's signature before anything is built.

A request names its columns in the payload: every key of every record
(``dataframe_records``, ``instances``/``inputs`` as records), the ``columns`` of
``dataframe_split``, the keys of a dict of columns, a CSV header. The set of
names a client can send is unbounded, the set a model takes is small, so each
name is looked up in the signature as it is read. An unknown one is counted in
the batch's :class:`~framework.serving.batch.IgnoredColumns` and left out (a
client sending whole records, with an id and the label, is the common case; MLflow
ignores them too), or, with ``--strict-columns``, ends the request with a 400.
Either way nothing is ever built per unknown name: building a column per
distinct key first (then finding it unknown) made a 15 MB body of records with
distinct keys cost minutes and gigabytes; here the work is one dictionary
lookup per key sent, and the columns built are at most the model's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from framework.serving.batch import Batch, IgnoredColumns, listing, shown_name
from framework.serving.errors import bad_request
from framework.suggest import did_you_mean

SHOWN_UNKNOWN = 5
"""How many unknown names a refusal quotes (they are client data: keep it short)."""


def unknown_names(names: Iterable[Any], wanted: Mapping[str, Any]) -> list[str]:
    """The first few names (up to ``SHOWN_UNKNOWN``) that are not the model's, in order."""
    unknown: list[str] = []
    for name in names:
        if name not in wanted:
            unknown.append(shown_name(name))
            if len(unknown) >= SHOWN_UNKNOWN:
                break
    return unknown


def refuse(given: Iterable[Any], wanted: Mapping[str, Any], where: str) -> None:
    """A 400 for names that are not the model's: a missing column first (with the unknown
    name it was probably misspelt as), else the first few unknown names.

    ``given`` is iterated once, and only until ``SHOWN_UNKNOWN`` unknown names are found.
    """
    present = given if isinstance(given, (dict, set, frozenset)) else None
    unknown = unknown_names(given, wanted)
    if not unknown:
        return
    if present is not None:
        missing = [name for name in wanted if name not in present]
        if missing:
            raise bad_request(
                f"missing column(s) the model needs: {listing(missing)}"
                f"{did_you_mean(missing[0], unknown)} (in {where})"
            )
    more = " (and possibly more)" if len(unknown) >= SHOWN_UNKNOWN else ""
    raise bad_request(
        f"unexpected column(s): {', '.join(unknown)}{more} (in {where}); the model takes "
        f"exactly {len(wanted)} column(s): {listing(list(wanted))}"
    )


def check_names(
    names: Sequence[Any], wanted: Mapping[str, Any], where: str, ignored: IgnoredColumns
) -> list[int]:
    """Column names of a table (``dataframe_split``, CSV): none twice, the unknown ones
    ignored (or refused when ``ignored.strict``); returns the positions of the known ones.

    Run before the rows are split into columns, so a header of a million names
    costs one lookup each, and a repeated name is found with a set, not by
    counting each name again. The usual request names exactly the model's columns,
    each once: that is one set comparison (a few µs of a single-row request's ~90).
    """
    if len(names) == len(wanted) and _exactly(names, wanted):
        return list(range(len(names)))  # every name the model's (so text), none twice
    if not all(isinstance(name, str) for name in names):
        raise bad_request(f"column names must be strings, got {list(names[:10])!r}")
    if ignored.strict:
        known = set(names) if len(names) <= len(wanted) else None
        refuse(known if known is not None and len(known) == len(names) else names, wanted, where)
    if len(set(names)) != len(names):
        seen: set[str] = set()
        repeated: list[str] = []
        for name in names:
            if name in seen and name not in repeated:
                repeated.append(name)
            seen.add(name)
        raise bad_request(f"column name(s) repeated: {listing(repeated)}")
    positions = []
    for position, name in enumerate(names):
        if name in wanted:
            positions.append(position)
        else:
            ignored.add(name)
    return positions


def _exactly(names: Sequence[Any], wanted: Mapping[str, Any]) -> bool:
    """Whether ``names`` are the model's columns, each once (a name that cannot be hashed,
    a list say, is not; the full check says what is wrong)."""
    try:
        return wanted.keys() == set(names)
    except TypeError:
        return False


def from_records(
    records: Any,
    wanted: Mapping[str, Any],
    where: str,
    ignored: IgnoredColumns,
    *,
    size: int | None = None,
) -> Batch:
    """A list of ``{column: value}`` objects; a key a record lacks is missing there.

    Every key is looked up in ``wanted`` as it is met; the columns built are the
    model's columns some record names, one value per record. Unknown keys are
    counted in ``ignored`` (or refused when ``ignored.strict``). ``size``: the
    body's, which bounds the values built (see :func:`check_sparse`).
    """
    if not isinstance(records, list):
        raise bad_request(f"{where} must be a list of objects, got {type(records).__name__}")
    if not records:
        return Batch({}, 0)
    present: set[str] = set()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise bad_request(
                f"{where}[{index}] must be an object of column: value, got {type(record).__name__}"
            )
        if record.keys() <= wanted.keys():
            if len(present) < len(wanted):
                present.update(record)
            continue
        if ignored.strict:
            refuse(record, wanted, f"{where}[{index}]")
        for key in record:
            if key in wanted:
                present.add(key)
            else:
                ignored.add(key)
    names = [name for name in wanted if name in present]
    if names and size is not None:
        check_sparse(len(records), len(wanted), size, where)
    batch = Batch({name: [record.get(name) for record in records] for name in names}, len(records))
    batch.ignored = ignored
    return batch


BYTES_PER_VALUE = 2
"""The least a dense JSON body spends on one value of a row (``0,``)."""
SMALL = 64 * 1024
"""A body this small may hold any number of missing values: they cost next to nothing."""


def check_sparse(rows: int, columns: int, size: int, where: str) -> None:
    """Records may not hold more than one value (row x model column) per ``BYTES_PER_VALUE``
    bytes of the body.

    A record that leaves a column out has a missing value there, so
    ``[{...}, {}, {}, ...]`` is three bytes a row however many columns the model
    takes; building, scoring and answering those rows cost over 160 times the body
    (10 GB for a 64 MiB request). Every dense form spends at least two bytes a
    value, so only records that leave out most columns are refused (as V2 refuses a
    shape with more values than its body holds), before any column is built.
    Bodies under ``SMALL`` are not held to it: a few sparse records are cheap.
    """
    if rows * columns * BYTES_PER_VALUE > max(size, SMALL):
        raise bad_request(
            f"{where} has {rows:,} records for the model's {columns} columns: "
            f"{rows * columns:,} values, more than a {size:,}-byte request holds at "
            f"{BYTES_PER_VALUE} bytes a value (a record that leaves a column out has a "
            "missing value there); send the values of each record"
        )


def known_columns(
    columns: Mapping[Any, Any], wanted: Mapping[str, Any], where: str, ignored: IgnoredColumns
) -> Mapping[Any, Any]:
    """An object of ``column: values`` without the keys the model does not take (counted
    in ``ignored``, or refused when ``ignored.strict``)."""
    if columns.keys() <= wanted.keys():
        return columns
    if ignored.strict:
        refuse(columns, wanted, where)
    for key in columns:
        if key not in wanted:
            ignored.add(key)
    return {key: value for key, value in columns.items() if key in wanted}
