"""Running a spec's data checks: the same rules at training time and on every new batch.

``run_checks`` judges a pandas frame (``check.run``); ``run_checks_distributed`` a
``dask.dataframe`` (``check.run_distributed``, the same verdicts computed as
distributed aggregates). Both treat the outcomes alike: contract-checked, scrubbed
of secrets, ``severity: warn`` failures reported but stopping nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

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
    return _run(plugins, checks, lambda check: check.run(frame, ctx))


def run_checks_distributed(
    plugins: Plugins, checks: Iterable[ComponentSpec], ddf: Any, ctx: StepContext
) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
    """:func:`run_checks` on a ``dask.dataframe.DataFrame``: each check's
    ``run_distributed(ddf, ctx)`` (the executor's ``validate`` refused a spec whose
    check lacks it, before anything ran)."""
    return _run(plugins, checks, lambda check: check.run_distributed(ddf, ctx))


def _run(
    plugins: Plugins, checks: Iterable[ComponentSpec], judge: Callable[[Any], Any]
) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
    outcomes: list[CheckOutcome] = []
    failed: list[CheckOutcome] = []
    for check_spec in checks:
        check = plugins.build("check", check_spec.type, check_spec.kwargs())
        for outcome in contracts.check_outcomes(plugins, check_spec.type, judge(check)):
            # what a check quotes of its params may have come from ${env:...}
            outcome = scrub_fields(outcome, "column", "observed", "expected", "detail")
            if not outcome.passed and check_spec.severity == "warn":
                outcome = replace(outcome, detail=f"(warning only) {outcome.detail}")
            outcomes.append(outcome)
            if not outcome.passed and check_spec.severity == "error":
                failed.append(outcome)
    return outcomes, failed
