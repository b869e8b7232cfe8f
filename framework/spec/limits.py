"""What reading a spec may cost, bounded before anything is built.

A spec is untrusted input: its cost must follow from its size. YAML breaks that in
two ways. Aliases let 1 KB describe a billion values ("billion laughs"): PyYAML
composes an alias as a shared node, so the node graph stays small while the data
built from it, and every later walk of that data, is huge. Nesting is unbounded,
and the passes after reading (merging profiles, copying, validating) recurse.

So the parser's event stream is walked first, flat and building nothing, counting
the values the document would have once every alias is expanded and the depth of
nesting, and reading stops at the first bound crossed, naming its line. Numbers are
bounded too: NaN and infinity are not numbers a spec can mean, and integers must
fit the 64 bits that SQLite and every consumer of a stored spec can hold.

Each bound has a default and an environment variable to raise it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from framework.errors import Location, Problem, UserError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
DEPTH_CEILING = 256  # the passes after reading recurse: ~450 levels overflow Python's stack
MAX_VALUES = 100_000
LARGEST_INTEGER = 2**63 - 1

ENV_VARS = {
    "max_bytes": "SPECOPS_MAX_SPEC_BYTES",
    "max_depth": "SPECOPS_MAX_SPEC_DEPTH",
    "max_values": "SPECOPS_MAX_SPEC_VALUES",
}

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPENS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSES = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


@dataclass(frozen=True)
class Limits:
    """The bounds on one spec: file size, nesting depth, values after alias expansion."""

    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH
    max_values: int = MAX_VALUES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """The defaults, each raised or lowered by its ``SPECOPS_MAX_SPEC_*`` variable."""
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for field_name, var in ENV_VARS.items():
            text = env.get(var)
            if text is None or not text.strip():
                continue
            try:
                values[field_name] = int(text)
            except ValueError:
                values[field_name] = 0
            if values[field_name] < 1:
                raise UserError(f"{var} must be a whole number >= 1, found {text!r}")
            if field_name == "max_depth" and values[field_name] > DEPTH_CEILING:
                raise UserError(f"{var} must be at most {DEPTH_CEILING}, found {text!r}")
        return cls(**values)


def location(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def scan(text: str, file: str, limits: Limits) -> Problem | None:
    """The first bound ``text`` crosses (depth, values, a self-referencing alias), or None.

    Walks parser events only: no node or value is built, so a bomb costs what its
    text costs. YAML syntax errors propagate as :class:`yaml.MarkedYAMLError`.
    """
    loader = _Loader(text)
    try:
        return _scan_events(_events(loader), file, limits)
    finally:
        loader.dispose()


def _events(loader: Any) -> Iterator[Any]:
    while True:
        event = loader.get_event()
        if event is None or isinstance(event, yaml.StreamEndEvent):
            return
        yield event


def _scan_events(events: Iterator[Any], file: str, limits: Limits) -> Problem | None:
    open_: list[list[Any]] = []  # [anchor, values so far] per open list or mapping
    sizes: dict[str, int] = {}  # anchor -> values its node expands to
    total = 0
    aliased = False
    for event in events:
        if isinstance(event, _CLOSES):
            anchor, count = open_.pop()
            if anchor is not None:
                sizes[anchor] = count
            if open_:
                open_[-1][1] += count
            continue
        if isinstance(event, _OPENS):
            if len(open_) >= limits.max_depth:
                return Problem(
                    f"the spec is nested deeper than {limits.max_depth} levels "
                    f"(line {event.start_mark.line + 1})",
                    location=location(file, event.start_mark),
                    hint=f"a spec needs a few levels; {ENV_VARS['max_depth']} raises the bound",
                )
            open_.append([event.anchor, 1])
            added = 1
        elif isinstance(event, yaml.ScalarEvent):
            added = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in sizes and any(a == event.anchor for a, _ in open_):
                return Problem(
                    f"YAML alias *{event.anchor} refers to a value that contains it "
                    f"(line {event.start_mark.line + 1})",
                    location=location(file, event.start_mark),
                    hint="a spec is a tree: an alias may repeat a finished value only",
                )
            aliased = True
            added = sizes.get(event.anchor, 1)  # an undefined alias: the composer says so
        else:
            continue  # stream and document boundaries
        total += added
        if open_ and not isinstance(event, _OPENS):
            open_[-1][1] += added
        if total > limits.max_values:
            what = "YAML aliases expand to" if aliased else "the spec has"
            return Problem(
                f"{what} more than {limits.max_values:,} values (line {event.start_mark.line + 1})",
                location=location(file, event.start_mark),
                hint=f"{ENV_VARS['max_values']} raises the bound",
            )
    return None


def read_bounded(path: Any, limits: Limits) -> str | Problem:
    """The file's text, or a problem when it is larger than ``limits.max_bytes``.

    Reads at most one byte more than the bound, so a huge file (or /dev/zero) is
    refused without being read into memory.
    """
    with open(path, "rb") as handle:
        raw = handle.read(limits.max_bytes + 1)
    if len(raw) > limits.max_bytes:
        return Problem(
            f"spec file {path} is larger than {limits.max_bytes:,} bytes",
            location=Location(str(path), 1, 1),
            hint=f"{ENV_VARS['max_bytes']} raises the bound",
        )
    return raw.decode("utf-8")


def number_problem(value: Any) -> str | None:
    """Why ``value`` is not a number a spec can hold, or None when it is fine."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > LARGEST_INTEGER:
        digits = len(str(abs(value)))
        return f"an integer of {digits} digits is too large (at most {LARGEST_INTEGER:,})"
    return None


def numbers(data: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple, str]]:
    """(key path, reason) for every NaN, infinity or out-of-range integer in ``data``."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(path, data)]
    while stack:
        here, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((here + (k,), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((here + (i,), v) for i, v in reversed(list(enumerate(value))))
        else:
            reason = number_problem(value)
            if reason:
                yield here, reason
