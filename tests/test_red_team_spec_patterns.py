"""Every ``pattern`` in the composed spec schema costs time linear in the value it checks.

Red-team round: ``execution.params.memory_limit`` (dask) and the csv source's ``blocksize``
were checked with patterns holding two adjacent runs of optional spaces (``\\s*(unit)?\\s*$``):
a value of one digit, 60,000 spaces and a letter took 11 s to validate, and the 1 MiB a
spec may hold, hours. The patterns now put the spaces inside the unit's group; this test
times every pattern of the composed schema against such values, so a new one is held to
it too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult

LONG = 20_000
"""Characters of a hostile value: quadratic patterns take seconds on it, linear ones ms."""


def patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            elif key == "patternProperties" and isinstance(value, dict):
                yield from value
            yield from patterns(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from patterns(value)


def hostile_values() -> Iterator[str]:
    for fill in (" ", "\t", "a", "0", "0.", "a-", "a.", "-", "/"):
        body = fill * (LONG // len(fill))
        for prefix in ("", "1", "a"):
            for suffix in ("!", "x", "$", " "):
                yield prefix + body + suffix


def test_every_schema_pattern_is_linear_on_hostile_values(
    cli: Callable[..., CliResult],
) -> None:
    result = cli("schema")
    assert result.code == 0
    found = sorted(set(patterns(json.loads(result.out))))
    assert len(found) >= 5  # the schema is the composed one
    slow = []
    for pattern in found:
        compiled = re.compile(pattern)
        for value in hostile_values():
            started = time.perf_counter()
            compiled.search(value)
            seconds = time.perf_counter() - started
            if seconds > 0.05:  # quadratic at 20,000 chars: 0.3-1 s; linear: < 5 ms
                slow.append((pattern, value[:3], round(seconds, 3)))
                break
    assert not slow


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("execution.params.memory_limit", "1" + " " * 200_000 + "x"),
        ("data.source.params.blocksize", "1" + " " * 200_000 + "x"),
    ],
)
def test_a_long_run_of_spaces_is_refused_quickly(
    write_spec: Callable[[str], Path], cli: Callable[..., CliResult], key: str, value: str
) -> None:
    spec = write_spec(
        """
        name: m
        task: binary
        data:
          source: {type: csv, params: {path: data.csv}}
          target: y
        model: {type: lightgbm}
        execution: {type: dask}
        """
    )
    started = time.perf_counter()
    result = cli("validate", spec, "--set", f"{key}={value}")
    assert time.perf_counter() - started < 10  # was ~2 min at 200,000 spaces
    assert result.code == 2
    assert key in result.out + result.err


@pytest.mark.parametrize("value", ["4GiB", "512 MB", " 2 gb ", "auto", "1.5GB", "100"])
def test_memory_limits_dask_reads_are_still_accepted(value: str) -> None:
    from plugins.dask_execution import MEMORY

    assert re.search(MEMORY, value)


@pytest.mark.parametrize("value", ["64MB", " 64 MB ", "1.5 GiB", "1024", "10k"])
def test_blocksizes_are_still_accepted(value: str) -> None:
    from plugins.sources import CSV_PARAMS

    assert re.search(CSV_PARAMS["properties"]["blocksize"]["pattern"], value)
