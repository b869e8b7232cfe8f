"""One run's page data: what ``specops runs show`` reports, plus the effective spec.

The report is the CLI's own (:func:`framework.cli.registry_commands.run_report` is
what ``runs show --json`` prints), so the page shows the same facts. Added here: the
steps laid out on a time line (each step's start is the sum of the durations before
it: the store records durations, not start times) and the spec as stored.

Secrets: the stored spec keeps ``${env:...}`` placeholders where the user wrote them
and has literal URL passwords masked (``Store.begin_run``); the page masks again with
the same function (:func:`framework.redact.hide_credentials`), so a store written by
an older specops shows no more than the CLI would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework.redact import hide_credentials, scrub
from framework.store import Store

MAX_SPEC_CHARS = 200_000
"""A stored spec is bounded when it is read (1 MiB of YAML); its text on a page is too."""


@dataclass(frozen=True)
class TimedStep:
    """A step on the time line: offset and length in seconds from the run's first step."""

    position: int
    name: str
    component: str
    plugin: str
    status: str
    seconds: float | None
    detail: str
    start: float


@dataclass(frozen=True)
class RunView:
    report: dict[str, Any]
    """What ``runs show --json`` prints for this run."""
    steps: list[TimedStep]
    total_seconds: float
    checks: list[dict[str, Any]]
    spec_text: str
    plugin_error: dict[str, Any] | None
    previous: str | None = None
    """The run of the same spec just before this one: what "compare" pairs it with."""


def run_view(store: Store, run_id: str) -> RunView | None:
    """The run of that id (or unique id prefix); None when there is none."""
    from framework.cli.registry_commands import run_report
    from framework.ui.pages._compare_data import find

    run = find(store, run_id)
    if run is None:
        return None
    report = scrub(run_report(store, run))
    steps, clock = [], 0.0
    for step in report["steps"]:
        seconds = step.get("seconds")
        steps.append(
            TimedStep(
                position=int(step["position"]),
                name=str(step["name"]),
                component=str(step.get("component") or ""),
                plugin=str(step.get("plugin") or ""),
                status=str(step["status"]),
                seconds=seconds,
                detail=str(step.get("detail") or ""),
                start=clock,
            )
        )
        clock += seconds or 0.0
    checks = run.outputs.get("checks")
    checks = [c for c in checks if isinstance(c, dict)] if isinstance(checks, list) else []
    error = run.outputs.get("plugin_error")
    return RunView(
        report=report,
        steps=steps,
        total_seconds=clock,
        checks=scrub(checks),
        spec_text=spec_text(run.spec),
        plugin_error=scrub(error) if isinstance(error, dict) else None,
        previous=previous_run(store, run.id, run.spec_name, run.started_at),
    )


def previous_run(store: Store, run_id: str, spec_name: str, started_at: str) -> str | None:
    """The id of the run of ``spec_name`` that started last before this one (the
    ``runs_by_spec`` index answers it), or None for a spec's first run."""
    row = store.db.execute(
        "SELECT id FROM runs WHERE spec_name = ? AND (started_at < ? OR"
        " (started_at = ? AND id < ?)) ORDER BY started_at DESC, id DESC LIMIT 1",
        (spec_name, started_at, started_at, run_id),
    ).fetchone()
    return str(row[0]) if row else None


def spec_text(document: Any) -> str:
    """The stored spec as YAML, in the order it was written, credentials masked."""
    import yaml

    shown = hide_credentials(document)
    try:
        text = yaml.safe_dump(shown, sort_keys=False, allow_unicode=True, width=100)
    except yaml.YAMLError:
        import json

        text = json.dumps(shown, indent=2, default=str)
    if len(text) > MAX_SPEC_CHARS:
        text = text[:MAX_SPEC_CHARS] + "\n# ... (cut: the spec is longer than a page shows)\n"
    return text
