"""``specops monitor``: judge a new batch against the champion, decide, record, act.

One monitor run: load the champion (every file hash-checked) and its reference
profile, prepare the batch, run the drift test of every watched column, the data
checks and (with labels) the performance thresholds, decide, and record it all.
On drift with ``on_drift: retrain`` a challenger is trained and gated
(:mod:`framework.monitoring.retrain`). Nothing here writes a profile or moves an
alias: only a retraining run that passes its gate changes the champion.

Decisions and exit codes: ``no_drift`` 0; ``drift`` 1 (0 with ``on_drift: report``,
0 when a retrained challenger was promoted); ``failed_checks`` 1 (a data check
failed or a column arrived empty: never retrained on); ``degraded`` 1 (a
performance threshold failed); ``error`` 2 (the batch does not fit the model).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from framework.components import CheckOutcome, StepContext
from framework.monitoring.batch_rows import Batch as Batch  # where callers import it
from framework.monitoring.batch_rows import BatchRows
from framework.monitoring.drift import (
    ColumnVerdict,
    DatasetDrift,
    dataset_drift,
    judge_prepared,
    watched_columns,
)
from framework.monitoring.performance import Performance
from framework.monitoring.spec import PREDICTION
from framework.redact import redact_stored
from framework.store.store import new_run_id, now

if TYPE_CHECKING:
    from framework.monitoring.profile import ColumnProfile
    from framework.monitoring.retrain import RetrainOutcome
    from framework.package import ModelPackage
    from framework.plugins import Plugins
    from framework.spec.model import Spec
    from framework.store import Store

EXIT = {"no_drift": 0, "drift": 1, "failed_checks": 1, "degraded": 1, "error": 2}


def new_monitor_id() -> str:
    return "mon-" + new_run_id()


@dataclass
class MonitorResult:
    """Everything one monitor run found and decided; ``to_dict`` is the JSON report."""

    monitor_id: str
    model: str
    version: int
    spec_path: str
    data: str
    data_hash: str
    rows: int
    started_at: str
    policy: str
    columns: list[ColumnVerdict] = field(default_factory=list)
    drift: DatasetDrift = field(default_factory=lambda: DatasetDrift(0, 0, 0.5))
    checks: list[CheckOutcome] = field(default_factory=list)
    failed_checks: list[CheckOutcome] = field(default_factory=list)
    performance: Performance | None = None
    problems: list[str] = field(default_factory=list)
    decision: str = "no_drift"
    decision_text: str = ""
    exit_code: int = 0
    retrain: RetrainOutcome | None = None
    report_path: str | None = None
    seconds: float = 0.0

    def to_dict(self, plot: bool = True) -> dict[str, Any]:
        return {
            "monitor_id": self.monitor_id,
            "model": self.model,
            "version": self.version,
            "spec": self.spec_path,
            "data": self.data,
            "data_hash": self.data_hash,
            "rows": self.rows,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 4),
            "policy": self.policy,
            "decision": self.decision,
            "decision_text": self.decision_text,
            "exit_code": self.exit_code,
            "dataset_drift": self.drift.to_dict(),
            "columns": [c.to_dict(plot) for c in self.columns],
            "checks": [c.__dict__ for c in self.checks],
            "performance": self.performance.to_dict() if self.performance else None,
            "problems": self.problems,
            "retrain": self.retrain.to_dict() if self.retrain else None,
            "report": self.report_path,
        }


def judge_batch(
    spec: Spec,
    plugins: Plugins,
    store: Store,
    batch: BatchRows,
    labels: str | None = None,
) -> MonitorResult:
    """Compare a batch with the champion's profile; no side effects. ``batch`` is a
    :class:`Batch` (a frame here) or an executor's batch with the rows elsewhere."""
    from framework.monitoring.profile import load_profile
    from framework.package import ModelPackage
    from framework.refs import resolve

    started = time.perf_counter()
    champion = resolve(store, spec.name)
    profile = load_profile(store, champion)
    package = ModelPackage.from_store(store, champion, plugins)
    rows = batch.rows
    result = MonitorResult(
        new_monitor_id(),
        spec.name,
        champion.version,
        str(spec.path),
        batch.description,
        batch.data_hash(),
        rows,
        now(),
        spec.monitor.on_drift,
    )
    if rows == 0:
        result.problems.append(f"the batch has no rows ({batch.description})")

    watched = watched_columns(profile, spec.monitor.columns)
    predicted = [
        n for n in watched if n == PREDICTION and profile.columns[n].source == "prediction"
    ]
    prediction_note = ""
    if rows and (predicted or labels is not None):  # else no one needs the predictions
        problem = batch.prediction_problem(package)
        if problem is not None:
            prediction_note = f"the champion cannot score this batch: {problem}"
    for name in watched:
        reference = profile.columns[name]
        if name == PREDICTION and reference.source == "prediction":
            verdict = _judge_prediction(spec, plugins, batch, package, reference, prediction_note)
        else:
            verdict, _ = judge_prepared(
                name,
                reference,
                partial(batch.prepare, name, reference),
                rows,
                spec.monitor.drift,
                plugins,
            )
        if verdict.status == "not computed" and rows:
            result.problems.append(f"column '{name}': {verdict.note}")
        result.columns.append(verdict)
    result.drift = dataset_drift(result.columns, spec.monitor.drift.share)

    ctx = StepContext(spec.name, spec.task, spec.target, spec.base_dir, spec.seed)
    if rows:
        result.checks, result.failed_checks = batch.run_checks(plugins, spec.monitor.checks, ctx)

    if labels is not None:
        from framework.training_rows import load

        trained_on = load(store, champion.lineage, champion.ref)  # its rows are left out
        result.performance = _performance(
            spec, plugins, batch, labels, package, prediction_note, champion.metrics, trained_on
        )
        if result.performance.problem:
            result.problems.append(result.performance.problem)
    _decide(result)
    result.seconds = time.perf_counter() - started
    return result


def _judge_prediction(
    spec: Spec,
    plugins: Plugins,
    batch: BatchRows,
    package: ModelPackage,
    reference: ColumnProfile,
    note: str,
) -> ColumnVerdict:
    from framework.monitoring.batch import describe

    if note or batch.rows == 0:
        verdict = ColumnVerdict(PREDICTION, reference.role, "prediction", "not computed")
        verdict.note = note or "no predictions"
        verdict.summary = describe(reference, None)
        return verdict
    prepare = partial(batch.prepare_prediction, package, reference)
    verdict, _ = judge_prepared(
        PREDICTION, reference, prepare, batch.rows, spec.monitor.drift, plugins
    )
    return verdict


def _performance(
    spec: Spec,
    plugins: Plugins,
    batch: BatchRows,
    labels: str,
    package: ModelPackage,
    prediction_note: str,
    recorded: dict[str, float],
    trained_on: Any = None,
) -> Performance:
    from framework.monitoring.performance import judge_labelled, missing_labels
    from framework.plan import metrics_for

    if batch.rows == 0 or prediction_note:
        result = Performance(labels)
        if batch.rows:
            result.note = "performance not computed: the champion could not score the batch"
        return result
    if labels not in batch.columns:
        return missing_labels(labels, batch.columns)
    return judge_labelled(
        batch.labelled(labels, package, trained_on),
        spec.task,
        package.labels,
        spec.monitor.performance,
        recorded,
        metrics_for(spec, plugins),
        plugins,
    )


def _decide(result: MonitorResult) -> None:
    drift = result.drift
    share = (
        f"{drift.drifted} of {drift.judged} watched columns drifted ({drift.observed:.0%}; "
        f"dataset drift at {drift.share:.0%})"
    )
    empty = [c.column for c in result.columns if c.status == "no data"]
    degraded = result.performance is not None and result.performance.failed
    if result.problems:
        result.decision = "error"
        result.decision_text = (
            f"{len(result.problems)} problem(s), so the verdict is incomplete; {result.problems[0]}"
        )
    elif result.failed_checks or empty:
        result.decision = "failed_checks"
        parts = []
        if result.failed_checks:
            parts.append(f"{len(result.failed_checks)} data check(s) failed")
        if empty:
            parts.append(f"column(s) with no values: {', '.join(empty)}")
        result.decision_text = f"{'; '.join(parts)}; no retraining on such data"
    elif degraded:
        assert result.performance is not None
        failing = [v.metric for v in result.performance.verdicts if v.passed is False]
        result.decision = "degraded"
        result.decision_text = f"below threshold: {', '.join(failing)}; {share}"
    else:
        result.decision = "drift" if drift.detected else "no_drift"
        result.decision_text = share
    result.exit_code = EXIT[result.decision]
    if result.decision == "drift" and result.policy == "report":
        result.exit_code = 0
        result.decision_text += "; reported only (on_drift: report)"


def wants_retrain(result: MonitorResult, forced: bool) -> bool:
    """Retrain on drift or degraded performance, never on bad input or failed checks."""
    return (forced or result.policy == "retrain") and result.decision in ("drift", "degraded")


def apply_retrain(result: MonitorResult, outcome: RetrainOutcome) -> None:
    """Fold the retraining's outcome into the decision and the exit code."""
    result.retrain = outcome
    if outcome.promoted_version is not None:
        result.exit_code = 0
        result.decision_text += (
            f"; retrained on {outcome.window} (run {outcome.run_id}): "
            f"challenger {result.model}/{outcome.version} passed the gate and is the champion"
        )
    elif outcome.status == "error":
        result.exit_code = 2
        result.decision_text += f"; retraining failed: {outcome.note}"
    else:
        what = {"rejected": "rejected by the gate", "failed_checks": "stopped by data checks"}
        result.exit_code = 1
        result.decision_text += (
            f"; retrained (run {outcome.run_id}) but the challenger was "
            f"{what.get(outcome.status, outcome.status)}: the champion stays"
        )


# ---------------------------------------------------------------------------
# recording
# ---------------------------------------------------------------------------


def _blob(store: Store, text: str) -> str:
    return store.artifacts.put_written(lambda path: path.write_text(text, encoding="utf-8"))


def _summary(result: MonitorResult) -> dict[str, Any]:
    return {
        "decision_text": result.decision_text,
        "problems": result.problems,
        "drifted_columns": [c.column for c in result.columns if c.status == "drift"],
        "dataset_drift": result.drift.to_dict(),
        "checks": {
            "run": len(result.checks),
            "failed": [
                {"check": c.check, "column": c.column, "detail": c.detail}
                for c in result.failed_checks
            ],
        },
        "performance": result.performance.to_dict() if result.performance else None,
        "retrain": result.retrain.to_dict() if result.retrain else None,
    }


def _outcome(store: Store, result: MonitorResult) -> dict[str, Any]:
    """What a monitor run decided so far: written at the verdict, rewritten after acting."""
    return {
        "ended_at": now(),
        "decision": result.decision,
        "exit_code": result.exit_code,
        "summary_json": json.dumps(_summary(result), default=str),
        "report_blob": _blob(store, json.dumps(redact_stored(result.to_dict()), default=str)),
        "report_path": result.report_path,
    }


def record(store: Store, result: MonitorResult) -> None:
    """Store the monitor run, its column statistics and its JSON report (a blob)."""
    judged = result.drift.judged > 0
    store.record_monitor_run(
        {
            "id": result.monitor_id,
            "model": result.model,
            "version": result.version,
            "spec_path": result.spec_path,
            "started_at": result.started_at,
            "data": result.data,
            "data_hash": result.data_hash,
            "rows": result.rows,
            "policy": result.policy,
            "dataset_drift": int(result.drift.detected) if judged else None,
            "drift_share": result.drift.observed if judged else None,
            **_outcome(store, result),
        },
        [
            {**c.to_dict(plot=False), "null_share": c.summary.get("current", {}).get("null_share")}
            for c in result.columns
        ],
    )


def record_outcome(store: Store, result: MonitorResult, html: str | None) -> None:
    """After retraining or a report: the final decision, the chain and the blobs."""
    fields = _outcome(store, result)
    if html is not None:
        fields["html_blob"] = _blob(store, redact_stored(html))
    if result.retrain is not None:
        fields.update(
            retrain_run_id=result.retrain.run_id,
            retrain_status=result.retrain.status,
            promoted_version=result.retrain.promoted_version,
            gate=result.retrain.gate,
        )
    store.update_monitor_run(result.monitor_id, **fields)
