"""A message quotes at most about 80 characters of a spec value, however long the value.

Red-team round: an unknown component type (480,000 characters) was quoted whole, twice
(the message and ``found``): ``specops validate`` printed 480 KB, ``--json`` 960 KB; an
unknown ``serve.runtime`` and a 3,000-digit number written with an exponent (the hint
quoted it twice) likewise. docs/security.md promises 80 characters.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

SPEC = """
name: m
task: binary
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
  split: {type: random, params: {test_size: 0.25}}
model: {type: lightgbm}
"""


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model.type", "lightgbn" * 25_000),
        ("serve.runtime", "x" * 50_000),
        ("data.split.params.test_size", "1" * 3_000 + "e5"),
    ],
)
def test_a_long_value_is_quoted_short(
    write_spec: Callable[[str], Path], cli: Callable[..., CliResult], key: str, value: str
) -> None:
    spec = write_spec(SPEC)

    text = cli("validate", spec, "--set", f"{key}={value}")
    as_json = cli("validate", spec, "--json", "--set", f"{key}={value}")

    assert text.code == 2 and as_json.code == 2
    assert key in text.out + text.err
    assert len(text.out + text.err) < 2_000
    assert len(as_json.out + as_json.err) < 4_000


def test_a_count_too_large_for_any_reader_is_refused_as_an_argument(
    tmp_path: Path, cli_process: Callable[..., CliResult]
) -> None:
    """``--chunk-rows 99999999999999999999`` reached pandas' C reader: OverflowError,
    exit 3. Counts and sizes are now at most 2**53 (a float holds them exactly)."""
    rows = tmp_path / "rows.csv"
    rows.write_text("a\n1\n")
    huge = "9" * 20

    result = cli_process(
        "predict", "m/1", "-i", rows, "-o", tmp_path / "o.csv", "--chunk-rows", huge
    )

    assert result.code == 2
    assert "--chunk-rows: expected at most 9,007,199,254,740,992" in result.err
    assert "internal error" not in result.err


def test_counts_keep_their_lower_bound_message() -> None:
    import argparse

    from framework.cli.options import positive_int

    assert positive_int("9007199254740992") == 2**53
    with pytest.raises(argparse.ArgumentTypeError, match="expected a whole number >= 1"):
        positive_int("0")
    with pytest.raises(argparse.ArgumentTypeError, match="expected at most"):
        positive_int(str(2**53 + 1))
