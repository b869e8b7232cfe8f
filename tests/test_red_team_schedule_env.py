"""``monitor.schedule`` from ``${env:...}`` is refused at validate, not after registering.

Red-team round: the container target writes the CronJob from the spec as the run stores
it, where ``${env:SCHED}`` stays a placeholder; ``specops validate`` read the filled-in
value and passed, then ``specops run`` registered the version and its deploy failed with
"a schedule has 5 fields ... '${env:SCHED}' has 1" (and the example in that message,
equal to the variable's value, came out redacted as the placeholder).
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
model: {type: lightgbm, params: {n_estimators: 3}}
monitor:
  schedule: "SCHEDULE"
"""


def test_a_schedule_from_the_environment_is_refused_at_validate(
    write_spec: Callable[[str], Path],
    cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCHED", "0 * * * *")
    spec = write_spec(SPEC.replace("SCHEDULE", "${env:SCHED}"))

    result = cli("validate", spec)

    assert result.code == 2
    assert "monitor.schedule cannot come from ${env:...}" in result.out + result.err
    assert "spec.yaml:8:" in result.out + result.err


def test_a_written_schedule_still_validates(
    write_spec: Callable[[str], Path], cli: Callable[..., CliResult]
) -> None:
    spec = write_spec(SPEC.replace("SCHEDULE", "30 2 * * 1-5"))

    assert cli("validate", spec).code == 0
