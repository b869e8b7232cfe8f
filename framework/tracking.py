"""The local store as a tracker: an ordinary lifecycle-event plugin.

The engine never writes step records itself; it announces steps, and this plugin
(registered for the length of a run) records them. A tracker for another system
(MLflow, say) implements the same hooks and needs no change to the engine.
"""

from __future__ import annotations

from framework.events import RunInfo, StepInfo
from framework.plugins import hookimpl
from framework.store import Store


class StoreTracker:
    """Records each step's outcome and the run's end in the local store.

    Required: a run whose record cannot be written must stop, not go on unrecorded
    (other observers' failures are only reported). It ends the run last, so what
    other observers did at the run's end (their failures too) is in the record."""

    SPECOPS_REQUIRED = True

    def __init__(self, store: Store) -> None:
        self.store = store

    @hookimpl
    def specops_step_end(self, run: RunInfo, step: StepInfo) -> None:
        self.store.record_step(run.run_id, run.steps.index(step), step)

    @hookimpl
    def specops_step_error(self, run: RunInfo, step: StepInfo, error: BaseException) -> None:
        self.store.record_step(run.run_id, run.steps.index(step), step)

    @hookimpl(trylast=True)
    def specops_run_end(self, run: RunInfo) -> None:
        self.store.end_run(run.run_id, run.status, run.outputs)
