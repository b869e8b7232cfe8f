"""Running a spec's data checks: the same rules at training time and on every new batch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from framework import contracts
from framework.components import CheckOutcome, StepContext
from framework.redact import scrub_fields

if TYPE_CHECKING:
    import pandas as pd

    from framework.plugins import Plugins
    from framework.spec.model import ComponentSpec


def run_checks(
    plugins: Plugins, checks: Iterable[ComponentSpec], frame: pd.DataFrame, ctx: StepContext
) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
    """Every outcome, and those that stop the run. A failed ``severity: warn`` check is
    reported, marked as a warning, and stops nothing."""
    outcomes: list[CheckOutcome] = []
    failed: list[CheckOutcome] = []
    for check_spec in checks:
        check = plugins.build("check", check_spec.type, check_spec.kwargs())
        for outcome in contracts.check_outcomes(plugins, check_spec.type, check.run(frame, ctx)):
            # what a check quotes of its params may have come from ${env:...}
            outcome = scrub_fields(outcome, "column", "observed", "expected", "detail")
            if not outcome.passed and check_spec.severity == "warn":
                outcome = replace(outcome, detail=f"(warning only) {outcome.detail}")
            outcomes.append(outcome)
            if not outcome.passed and check_spec.severity == "error":
                failed.append(outcome)
    return outcomes, failed
