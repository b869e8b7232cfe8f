"""Live progress for ``specops run``: an ordinary lifecycle-event plugin.

It writes to stderr so stdout carries only the result (a table or JSON).
"""

from __future__ import annotations

from typing import Any

from framework.events import RunInfo, StepInfo
from framework.plugins import hookimpl

MARKS = {
    "passed": "[green]✓[/]",
    "failed": "[red]✗[/]",
    "skipped": "[dim]–[/]",
    "error": "[red]![/]",
}


class Progress:
    """A spinner while a step runs, one line when it ends."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.console: Any = None
        self.status: Any = None

    def _console(self) -> Any:
        if self.console is None:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)
        return self.console

    @hookimpl
    def specops_run_start(self, run: RunInfo) -> None:
        if self.enabled:
            self._console().print(
                f"[bold]specops run[/] {run.spec_name} ({run.task}) run {run.run_id}"
            )

    @hookimpl
    def specops_step_start(self, run: RunInfo, step: StepInfo) -> None:
        if self.enabled and self._console().is_terminal:
            self.status = self._console().status(f"{step.name} {step.component}".strip())
            self.status.start()

    def _stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    @hookimpl
    def specops_step_end(self, run: RunInfo, step: StepInfo) -> None:
        self._stop()
        if self.enabled:
            from rich.markup import escape

            mark = MARKS.get(step.status, "?")
            shown = step.component if len(step.component) <= 16 else step.component[:15] + "…"
            component = f"[cyan]{shown:<16}[/]"
            timing = f"[dim]{step.seconds:6.2f}s[/]"
            self._console().print(
                f" {mark} {step.name:<9} {component} {timing}  {escape(step.detail)}",
                markup=True,
                soft_wrap=True,
            )

    @hookimpl
    def specops_step_error(self, run: RunInfo, step: StepInfo, error: BaseException) -> None:
        self._stop()
        if self.enabled:
            self._console().print(f" {MARKS['error']} {step.name:<9} failed", markup=True)
