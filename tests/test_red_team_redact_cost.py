"""Masking credentials costs time linear in the text: a spec value cannot make it hang.

Red-team round: ``hide_credentials`` (every spec value on ``validate``, ``plan`` and
``run``, every message) ran its URL-password pattern from every position of a long word
and from every ``scheme://x:`` to the end of the text: a spec whose description was
40,000 letters and an ``@`` took 19 s to validate (quadratic: a 1 MiB spec, hours). The
password is now found by a linear scan; these tests hold it to the same answers as the
pattern (on random texts) and to linear time.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from framework import redact
from tests.conftest import CliResult

PATTERN = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:@/\s'\"]*):(?P<secret>[^\s?#'\"]*)@", re.IGNORECASE
)
"""The language of a URL password (the pattern the scan replaced)."""

HOSTILE = {
    "a long word, then @": lambda n: "a" * n + "@",
    "scheme://x: repeated": lambda n: "x://x:" * (n // 6) + "=",
    "a key run of secret names": lambda n: " " + "pass" * (n // 4) + "!=",
    "digits before a scheme": lambda n: "1" * n + "a://b:c",
    "a long head and secret": lambda n: "x://" + "b" * (n // 2) + ":" + "c" * (n // 2) + "=",
}


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_masking_is_linear_on_hostile_text(shape: str) -> None:
    text = HOSTILE[shape](200_000)
    started = time.perf_counter()
    redact.hide_credentials(text)
    redact._credentials_in(text)
    assert time.perf_counter() - started < 2.0  # quadratic: minutes; linear: ~0.1 s


def test_the_scan_finds_what_the_pattern_finds() -> None:
    pieces = list("ab1X+.-:/@ ?#'\"=&;,")
    pieces += ["://", "pass", "token=", "p://", "${env:A}", "***", "http://u:p@h", "?password=x"]
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        expected = [
            (m.start(), m.end(), m.group("head"), m.group("secret")) for m in PATTERN.finditer(text)
        ]
        assert list(redact._userinfo(text)) == expected, text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://app:pw@db/sales", "postgresql://app:***@db/sales"),
        ("x 1postgresql://app:p/w@x@db/s?a=1", "x 1postgresql://app:***@db/s?a=1"),
        ("a://u:${env:PW}@h and b://v:s3@h2", "a://u:${env:PW}@h and b://v:***@h2"),
        ("host=db password=hunter2 dbname=x", "host=db password=*** dbname=x"),
    ],
)
def test_credentials_are_masked_as_before(text: str, shown: str) -> None:
    assert redact.hide_credentials(text) == shown


def test_a_spec_value_of_400000_letters_validates_quickly(
    write_spec: Callable[[str], Path], cli: Callable[..., CliResult]
) -> None:
    spec = write_spec(
        f"""
        name: m
        task: binary
        description: "{"a" * 400_000}@"
        data:
          source: {{type: sklearn_dataset, params: {{name: breast_cancer}}}}
          target: target
        model: {{type: lightgbm}}
        """
    )
    started = time.perf_counter()
    result = cli("validate", spec)
    assert result.code == 0, result.err
    assert time.perf_counter() - started < 10  # was about 30 minutes
