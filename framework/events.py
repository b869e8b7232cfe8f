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
    """One step of a run, filled in as it goes.

    Lifecycle hooks receive the engine's own object: read it, do not change it. The
    same step object is passed to ``specops_step_start`` and ``specops_step_end``.
    """

    name: str
    """The step: one of :data:`STEPS` (``ingest``, ``check``, ... ``deploy``). ``deploy``
    is announced once per deploy target; ``check`` and ``transform`` once for all."""
    component: str = ""
    """The component's type name as the spec writes it (``"csv"``, ``"lightgbm"``);
    comma-separated for ``check`` and ``transform``; ``""`` for steps the engine does
    itself (``evaluate``, ``gate``, ``register``)."""
    plugin: str = ""
    """Who provides the component, as the run table shows it: a third-party plugin's
    distribution (``"specops-contrib-demo"``), a built-in plugin's entry-point name
    (``"csv"``, ``"deploy"``); comma-separated like ``component``; ``"specops"`` for the
    engine's own steps. The entry-point name and version of each are in
    ``run.outputs["lineage"]["plugins"]``."""
    status: str = "pending"
    """``running`` during ``specops_step_start``; then ``passed``, ``failed`` (a check or the
    gate said no), ``skipped`` or ``error`` (the step raised)."""
    seconds: float = 0.0
    """Wall time the step took, set before ``specops_step_end``."""
    detail: str = ""
    """One line for people (``"455 train / 114 test"``), with secrets hidden."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """What the step produced, JSON-serialisable (``ingest``: ``rows``, ``columns``,
    ``data_hash``; a failure: ``plugin_error``; ``warnings``), with secrets hidden."""

    def scrub(self) -> StepInfo:
        """Hide environment values and credentials in what the step reports, before any
        tracker sees it (see :mod:`framework.redact`)."""
        self.detail = scrub_text(self.detail)
        self.outputs = scrub(self.outputs)
        return self


@dataclass
class RunInfo:
    """One ``specops run``: the spec it runs and how it is going.

    Every lifecycle hook receives the same object for one run; read it, do not change it.
    """

    run_id: str
    """The run's id in the store (``specops runs show RUN_ID``); unique, sortable by time."""
    spec_name: str
    """The spec's ``name:``, also the registered model's name."""
    spec_path: str
    """The spec file, as given on the command line."""
    task: str
    """The spec's task: ``binary``, ``multiclass`` or ``regression``."""
    status: str = "running"
    """``running`` until the end; in ``specops_run_end`` one of ``passed``, ``rejected``
    (the gate said no), ``failed_checks``, ``error`` or ``interrupted``."""
    steps: list[StepInfo] = field(default_factory=list)
    """The steps so far, in order, the current one last."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """What the run produced so far, JSON-serialisable: ``lineage``, ``data``, ``checks``,
    ``metrics``, ``verdicts``, ``model`` (``name``, ``version``, ...), ``deploy``, and
    ``error`` when it failed; secrets hidden."""

    def scrub(self) -> RunInfo:
        """Hide environment values and credentials in the run's outputs and steps."""
        self.outputs = scrub(self.outputs)
        for step in self.steps:
            step.scrub()
        return self
