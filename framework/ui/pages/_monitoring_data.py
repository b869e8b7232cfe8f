"""The monitoring pages' data: what ``specops monitor history`` reports, one monitor
run's verdicts, and its stored HTML report read safely.

History is :func:`framework.monitoring.history.history` itself, so a chart and the
CLI's trend column come from the same numbers. The report is a blob the store names;
it is read bounded, and its bytes are hashed as read (not only checked before), so
what the page serves is exactly what the monitor wrote, or a notice saying why not.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from framework.errors import StoreError
from framework.store import Store

HISTORY_RUNS = 30
"""Monitor runs charted by default (``monitor history`` shows 20); ``?runs=`` up to
:data:`MAX_HISTORY_RUNS`."""
MAX_HISTORY_RUNS = 500
MAX_REPORT_BYTES = 32 * 1024 * 1024
"""A report is a few hundred KB (one small SVG per column); a blob larger than this
is not served, whatever the store says."""
DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class MonitoredModel:
    name: str
    runs: int
    last_at: str
    last_decision: str


def monitored_models(store: Store) -> list[MonitoredModel]:
    """Every monitored model: how many monitor runs, the last one's time and decision."""
    rows = store.db.execute(
        "SELECT m.model, COUNT(*), MAX(m.started_at),"
        " (SELECT l.decision FROM monitor_runs l WHERE l.model = m.model"
        "  ORDER BY l.started_at DESC, l.id DESC LIMIT 1)"
        " FROM monitor_runs m GROUP BY m.model ORDER BY m.model"
    ).fetchall()
    return [MonitoredModel(row[0], int(row[1]), row[2], row[3] or "") for row in rows]


def model_history(store: Store, model: str, runs: int = HISTORY_RUNS) -> dict[str, Any] | None:
    """``monitor history --json``'s report for the last ``runs`` monitor runs, each
    run's id kept for links; None when the model was never monitored."""
    from framework.monitoring.history import history

    try:
        return history(store, model, max(1, min(runs, MAX_HISTORY_RUNS)))
    except StoreError:
        return None


@dataclass(frozen=True)
class MonitorRunView:
    run: dict[str, Any]
    """The ``monitor_runs`` row, JSON columns decoded (``summary``, ``gate``)."""
    columns: list[dict[str, Any]]
    report_problem: str | None
    """Why the HTML report cannot be shown (none written, missing, damaged), or None."""


def monitor_run_view(store: Store, monitor_id: str) -> MonitorRunView | None:
    """One monitor run, its per-column statistics and whether its report is servable
    (checked without reading it: the report page reads and verifies it)."""
    from framework.redact import scrub

    run = store.monitor_run(monitor_id)
    if run is None:
        return None
    columns = store.monitor_columns([monitor_id])[monitor_id]
    digest = run.get("html_blob")
    problem = None
    if not digest:
        problem = "this monitor run wrote no HTML report (it ran without --report)"
    elif not DIGEST.match(str(digest)):
        problem = "damaged: the record names no valid blob for the report"
    else:
        try:
            present = store.artifacts.exists(digest)
        except (StoreError, OSError) as exc:
            present, problem = False, f"damaged: {exc}"
        if not present and problem is None:
            problem = (
                "damaged: the report's blob is missing from the store (see specops store verify)"
            )
    return MonitorRunView(scrub(run), scrub(columns), problem)


def report_html(store: Store, monitor_id: str) -> tuple[bytes | None, str | None]:
    """(the stored HTML report, None), or (None, why it cannot be shown).

    The bytes are verified against the blob's name as they are read: a blob that
    changed (or was truncated) after the store's own check is refused too.
    """
    run = store.monitor_run(monitor_id)
    if run is None:
        return None, f"no monitor run {monitor_id}"
    digest = run.get("html_blob")
    if not digest:
        return None, "this monitor run wrote no HTML report (it ran without --report)"
    if not DIGEST.match(str(digest)):
        return None, "damaged: the record names no valid blob for the report"
    try:
        path = store.artifacts.verified(digest, f"report.html of monitor run {monitor_id}")
        with path.open("rb") as handle:
            data = handle.read(MAX_REPORT_BYTES + 1)
    except StoreError as exc:
        return None, f"damaged: {exc}"
    except OSError as exc:
        return None, f"damaged: cannot read the report's blob: {exc.strerror or exc}"
    if len(data) > MAX_REPORT_BYTES:
        return None, f"the report is larger than {MAX_REPORT_BYTES // 2**20} MiB: not served"
    if hashlib.sha256(data).hexdigest() != digest:
        return None, "damaged: the report's blob changed while it was read"
    return data, None
