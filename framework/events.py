"""What lifecycle event hooks receive: a run and its steps, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from framework.redact import scrub, scrub_text

STEPS: tuple[str, ...] = (
    "ingest",
    "check",
    "split",
    "transform",
    "train",
    "evaluate",
    "gate",
    "register",
    "deploy",
)


@dataclass
class StepInfo:
    """One step of a run, filled in as it goes."""

    name: str
    component: str = ""
    plugin: str = ""
    status: str = "pending"  # pending, running, passed, failed, skipped, error
    seconds: float = 0.0
    detail: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)

    def scrub(self) -> StepInfo:
        """Hide environment values and credentials in what the step reports, before any
        tracker sees it (see :mod:`framework.redact`)."""
        self.detail = scrub_text(self.detail)
        self.outputs = scrub(self.outputs)
        return self


@dataclass
class RunInfo:
    """One ``specops run``: the spec it runs and how it is going."""

    run_id: str
    spec_name: str
    spec_path: str
    task: str
    status: str = "running"  # running, passed, rejected, failed_checks, error
    steps: list[StepInfo] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def scrub(self) -> RunInfo:
        """Hide environment values and credentials in the run's outputs and steps."""
        self.outputs = scrub(self.outputs)
        for step in self.steps:
            step.scrub()
        return self
