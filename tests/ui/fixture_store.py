"""A store the size the UI must stay fast on: 5,000 runs, 500 versions, a quarter of monitoring.

Built in two parts, both through the store's own API:

- **Real records.** The subscriptions example (specs/subscriptions_monitor.yaml, a few
  trees) is trained, monitored on the July batch (drift found, a retraining promoted
  ``subscriptions/2``: the whole loop), trained again under a gate it cannot pass
  (``subscriptions/3`` rejected) and once with a check that fails. So a version page has
  a real package, a run page a real timeline and the monitoring page a real report.
- **The bulk**, modelled on those real records: clones of the example's spec under other
  model names, each run with the steps, params, metrics, verdicts and lineage a real run
  of that spec records, spread over the 90 days before now; champions moved as the gate
  would, a few hand promotions and rollbacks; monitor runs with drift statistics whose
  drifted batches triggered the retraining runs that made some versions.

The bulk is written in one transaction of the store's metadata backend
(``Store.transaction``), not with ``begin_run``/``record_step``/``add_version``: those
stamp ``now()`` and commit one by one, and a quarter of history in 60,000 commits would
take a minute. Monitor runs do go through ``record_monitor_run``/``update_monitor_run``.
``specops store verify`` passes on the result (tests/ui/browser/test_fixture_store.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import random
import shutil
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "specs"
REAL_MODEL = "subscriptions"
SYNTHETIC_MODELS = ("churn-eu", "churn-us", "upsell", "winback")
QUARTER = timedelta(days=90)


@dataclass(frozen=True)
class UiStore:
    """Where the fixture is and which records a test or benchmark can point at."""

    root: Path
    """The directory with spec.yaml, its data and the ``.specops`` store."""
    store: Path
    spec: Path
    runs: int
    versions: int
    models: tuple[str, ...]
    first_run: str
    """The real run that made ``subscriptions/1`` (the first champion)."""
    retrain_run: str
    """The real retraining a drifted batch triggered: ``subscriptions/2``, the champion."""
    rejected_run: str
    """The real run the gate refused: ``subscriptions/3``, rejected."""
    failed_run: str
    """A real run stopped by a failing data check (no version)."""
    monitor_run: str
    """The real monitor run that found the drift and retrained."""
    error_run: str
    """A bulk run that ended in an error at its train step."""
    busiest_model: str
    """A bulk model with many versions and monitor runs (for the heavy pages)."""


def build_ui_store(
    directory: Path,
    *,
    runs: int = 5000,
    versions: int = 500,
    monitors_per_model: int = 60,
    seed: int = 7,
    stale_runs: int = 0,
) -> UiStore:
    """Make the fixture in ``directory`` (which must not hold a store yet).

    ``stale_runs``: about that many of the runs that made no version were killed (a CI
    machine whose jobs died): still marked running, each leaving its unheld lock file in
    ``live/`` as a killed process does. The interrupted filter's cost must not grow
    with them. Without it, a few runs are interrupted and their lock files are gone."""
    root = directory
    spec = _copy_example(root)
    real = _real_runs(root, spec)
    from framework.store import Store

    store = Store(root / ".specops")
    try:
        template = _Template.read(store, real)
        extra_runs = max(runs - template.real_runs, 0)
        extra_versions = max(min(versions - template.real_versions, extra_runs), 0)
        bulk = _Bulk(store, template, random.Random(seed), root)
        bulk.stale_share = min(stale_runs / max(extra_runs - extra_versions, 1), 1.0)
        error_run, busiest = bulk.write(extra_runs, extra_versions, monitors_per_model)
        counted_runs = store.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        counted_versions = store.db.execute("SELECT COUNT(*) FROM model_versions").fetchone()[0]
    finally:
        store.close()
    return UiStore(
        root=root,
        store=root / ".specops",
        spec=spec,
        runs=int(counted_runs),
        versions=int(counted_versions),
        models=(REAL_MODEL, *SYNTHETIC_MODELS),
        first_run=real["first"],
        retrain_run=real["retrain"],
        rejected_run=real["rejected"],
        failed_run=real["failed"],
        monitor_run=real["monitor"],
        error_run=error_run,
        busiest_model=busiest,
    )


# ---------------------------------------------------------------------------
# the real part
# ---------------------------------------------------------------------------


def _copy_example(root: Path) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    for name in ("subscriptions_jan_jun.csv", "subscriptions_jul_sep.csv"):
        shutil.copy(SPECS / "data" / name, root / "data" / name)
    text = (SPECS / "subscriptions_monitor.yaml").read_text()
    spec = root / "spec.yaml"
    spec.write_text(text.replace("n_estimators: 120", "n_estimators: 20"))
    return spec


def _cli(*args: str | Path) -> tuple[int, dict[str, Any]]:
    """Run ``specops ARGS --json`` in this process, its output kept off the terminal."""
    from framework.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*map(str, args), "--json"])
    try:
        return code, json.loads(out.getvalue())
    except json.JSONDecodeError as exc:
        raise AssertionError(f"specops {args} printed no JSON: {err.getvalue()[-2000:]}") from exc


def _real_runs(root: Path, spec: Path) -> dict[str, str]:
    """Train, monitor (drift, retrain, promote), reject, fail a check: real records.

    The store is named (``--store``): inside a git checkout, or with $SPECOPS_STORE
    set, a spec's default store would be somewhere else."""
    store = ("--store", root / ".specops")
    code, first = _cli("run", spec, *store)
    assert code == 0, first
    batch = root / "data" / "subscriptions_jul_sep.csv"
    report = root / "drift.html"
    code, monitor = _cli(
        "monitor", spec, "--data", batch, "--labels", "churned", "--report", report, *store
    )
    assert code == 0 and monitor["retrain"]["promoted_version"] == 2, monitor
    code, rejected = _cli("run", spec, "--set", "gate.roc_auc.min=0.99", *store)
    assert code == 1 and rejected["status"] == "rejected", rejected
    code, failed = _cli("run", spec, "--set", 'checks[0].params.columns=["plan"]', *store)
    assert code == 1 and failed["status"] == "failed_checks", failed
    return {
        "first": first["run_id"],
        "monitor": monitor["monitor_id"],
        "retrain": monitor["retrain"]["run_id"],
        "rejected": rejected["run_id"],
        "failed": failed["run_id"],
    }


@dataclass
class _Template:
    """The real records the bulk is modelled on."""

    run: Any  # RunRecord of the first real run
    steps: list[Any]
    params: dict[str, Any]
    failed: Any  # RunRecord of the failed_checks run
    failed_steps: list[Any]
    version: Any  # ModelVersion subscriptions/2 (the real retrained champion)
    monitor: dict[str, Any]
    monitor_columns: list[dict[str, Any]]
    real_runs: int
    real_versions: int

    @classmethod
    def read(cls, store: Any, real: dict[str, str]) -> _Template:
        monitor = store.monitor_run(real["monitor"])
        return cls(
            run=store.run(real["first"]),
            steps=store.steps(real["first"]),
            params=store.params(real["first"]),
            failed=store.run(real["failed"]),
            failed_steps=store.steps(real["failed"]),
            version=store.version(REAL_MODEL, 2),
            monitor=monitor,
            monitor_columns=store.monitor_columns([real["monitor"]])[real["monitor"]],
            real_runs=len(store.run_ids()),
            real_versions=len(store.versions()),
        )


# ---------------------------------------------------------------------------
# the bulk
# ---------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


Step = tuple[str, str, str, str, float | None, str]
"""A step row: name, component, plugin, status, seconds, detail."""


@dataclass
class _Model:
    """One bulk model's state while its history is written, oldest first."""

    name: str
    base_auc: float
    champion: int | None = None
    next_version: int = 1
    scores: dict[int, float] = field(default_factory=dict)
    moves: list[tuple[str, int, str, str, str]] = field(default_factory=list)
    """Alias moves in order: alias, to version, at, actor, reason."""


@dataclass
class _Run:
    """A bulk run being written: what its start recorded."""

    id: str
    spec: dict[str, Any]
    spec_hash: str
    moment: datetime
    data: str
    lineage: dict[str, Any]
    knobs: dict[str, Any]
    trigger: str | None


class _Bulk:
    """Writes the bulk runs, versions, aliases and monitor runs."""

    def __init__(self, store: Any, template: _Template, rng: random.Random, root: Path) -> None:
        self.store = store
        self.t = template
        self.rng = rng
        self.root = root
        self.host = socket.gethostname()
        self.ids: set[str] = set(store.run_ids())
        self.end = datetime.now(timezone.utc) - timedelta(hours=2)
        self.start = self.end - QUARTER
        self.runs: list[tuple] = []
        self.steps: list[tuple] = []
        self.params: list[tuple] = []
        self.metrics: list[tuple] = []
        self.versions: list[tuple] = []
        self.datasets: list[tuple] = []
        self.monitors: list[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]] = []
        self.error_run = ""
        self.drifts: list[datetime] = []
        """When the model being written gets its drifted batches (retrainings)."""
        self.stale_share = 0.0
        """The share of runs without a version killed with their lock file left behind."""

    def write(self, runs: int, versions: int, monitors_per_model: int) -> tuple[str, str]:
        models = [
            _Model(name, base_auc=0.72 + 0.015 * i) for i, name in enumerate(SYNTHETIC_MODELS)
        ]
        plain = runs - versions
        for index, model in enumerate(models):
            share_v = versions // len(models) + (index < versions % len(models))
            share_p = plain // len(models) + (index < plain % len(models))
            self._model_history(model, share_v, share_p, monitors_per_model)
        with self.store.transaction() as db:
            db.executemany(
                "INSERT INTO runs (id, spec_name, spec_path, spec_hash, spec_json, profile,"
                " status, started_at, ended_at, data_hash, lineage_json, outputs_json, trigger,"
                " owner, lock) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self.runs,
            )
            db.executemany(
                "INSERT INTO steps (run_id, position, name, component, plugin, status,"
                " seconds, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                self.steps,
            )
            db.executemany("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", self.params)
            db.executemany(
                "INSERT INTO metrics (run_id, name, value) VALUES (?, ?, ?)", self.metrics
            )
            db.executemany(
                "INSERT INTO datasets (hash, rows, columns, first_seen, blob)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING",
                self.datasets,
            )
            db.executemany(
                "INSERT INTO model_versions (name, version, run_id, status, created_at,"
                " model_type, files_json, signature_json, metrics_json, lineage_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self.versions,
            )
            for model in models:
                self._write_aliases(db, model)
        for row, columns, after in self.monitors:
            self.store.record_monitor_run(row, columns)
            if after:
                self.store.update_monitor_run(row["id"], **after)
        busiest = max(models, key=lambda m: m.next_version).name
        return self.error_run, busiest

    # -- the timeline ---------------------------------------------------------

    def _model_history(self, model: _Model, versions: int, plain: int, monitors: int) -> None:
        """Lay the model's runs and monitor runs on the quarter, then write them oldest
        first, so the champion moves as the gate decides at each point in time. Every
        tenth versioned run is a retraining that a drifted monitor batch triggered."""
        span = (self.end - self.start).total_seconds()
        slot = span / max(versions, 1)  # one version every `slot` seconds, give or take
        events: list[tuple[datetime, str]] = [
            (self.start + timedelta(seconds=slot * (i + 0.5 + self.rng.uniform(-0.4, 0.4))),
             "version")
            for i in range(versions)
        ]  # fmt: skip
        events += [
            (self.start + timedelta(seconds=self.rng.uniform(0, span)), "plain")
            for _ in range(plain)
        ]
        retrains = set(range(1, versions, 10))
        quiet = max(monitors - len(retrains), 0)
        events += [
            (self.start + timedelta(seconds=span * (i + 0.2) / quiet), "monitor")
            for i in range(quiet)
        ]
        events.sort()
        versioned = [moment for moment, kind in events if kind == "version"]
        self.drifts = [versioned[i] for i in sorted(retrains)]
        datasets = [self._dataset(model, i) for i in range(6)]
        position = 0
        for moment, kind in events:
            data = datasets[min(int((moment - self.start) / QUARTER * 6), 5)]
            if kind == "version":
                if position in retrains:
                    self._retraining(model, moment, data)
                else:
                    self._versioned_run(model, moment, data)
                position += 1
            elif kind == "plain":
                self._plain_run(model, moment, data)
            else:
                self._monitor(model, moment, drift=False)

    # -- shared pieces ------------------------------------------------------------

    def _run_id(self, moment: datetime) -> str:
        """``new_run_id``'s format at ``moment``: sortable by time."""
        while True:
            run_id = moment.strftime("%Y%m%d-%H%M%S-") + f"{self.rng.getrandbits(24):06x}"
            if run_id not in self.ids:
                self.ids.add(run_id)
                return run_id

    def _dataset(self, model: _Model, index: int) -> str:
        """One of the six monthly datasets a model trains on (rows recorded, no snapshot)."""
        digest = _digest(model.name, "data", index)
        first = self.start + QUARTER * index / 6
        features = [c["name"] for c in self.t.version.signature.get("columns", [])]
        columns = ["customer_id", "month", *features, "churned"]
        self.datasets.append((digest, 2400 + 200 * index, json.dumps(columns), _iso(first), None))
        return digest

    def _start(
        self, model: _Model, moment: datetime, data: str, trigger: str | None = None
    ) -> _Run:
        """What every run records at its start: its spec (the example's, other knobs),
        params and lineage."""
        run_id = self._run_id(moment)
        knobs = {
            "n_estimators": self.rng.choice([20, 40, 80, 120, 200]),
            "learning_rate": self.rng.choice([0.03, 0.05, 0.1]),
            "num_leaves": self.rng.choice([7, 15, 31]),
        }
        spec = json.loads(json.dumps(self.t.run.spec))
        spec["name"] = model.name
        spec["model"]["params"].update(knobs)
        spec_hash = _digest(spec)
        lineage = json.loads(json.dumps(self.t.run.lineage))
        lineage.update(spec_hash=spec_hash, config_hash=_digest("config", spec), data_hash=data)
        params = {**self.t.params, **{f"model.params.{k}": v for k, v in knobs.items()}}
        self.params += [(run_id, k, json.dumps(v)) for k, v in params.items()]
        return _Run(run_id, spec, spec_hash, moment, data, lineage, knobs, trigger)

    def _finish(
        self, run: _Run, status: str, outputs: dict[str, Any], steps: list[Step]
    ) -> datetime:
        """The run's steps and row as ``end_run`` leaves them (an interrupted run: as a
        killed process left it, still 'running' with its liveness lock gone)."""
        self.steps += [(run.id, i, *row) for i, row in enumerate(steps)]
        seconds = sum(row[4] or 0.0 for row in steps) + 0.05
        ended = run.moment + timedelta(seconds=seconds)
        interrupted = status == "interrupted"
        self.runs.append(
            (
                run.id,
                run.spec["name"],
                str(self.root / f"{run.spec['name']}.yaml"),
                run.spec_hash,
                json.dumps(run.spec),
                "running" if interrupted else status,
                _iso(run.moment),
                None if interrupted else _iso(ended),
                run.data,
                json.dumps(run.lineage),
                json.dumps({"lineage": run.lineage, **outputs}),
                run.trigger,
                f"{self.host}:{4000 + len(self.runs) % 900}",
                f"live/run-{run.id}.lock" if interrupted else None,
            )
        )
        return ended

    def _copied(self, name: str, seconds: float) -> Step:
        """A step of the real run, as recorded, with another duration."""
        real = next(s for s in self.t.steps if s.name == name)
        return (real.name, real.component, real.plugin, real.status, seconds, real.detail)

    def _metrics(self, model: _Model, moment: datetime) -> dict[str, float]:
        """The real version's metrics, moved together with a roc_auc that wanders over
        the quarter; one candidate in eight is worse than the champion by far."""
        days = (moment - self.start).total_seconds() / 86400
        auc = model.base_auc + 0.012 * math.sin(days / 9) + self.rng.gauss(0, 0.012)
        if self.rng.random() < 0.12:
            auc -= 0.05
        real = self.t.version.metrics
        scale = auc / real["roc_auc"]
        found = {
            k: min(max(v * (scale + self.rng.gauss(0, 0.01)), 0.0), 1.0) for k, v in real.items()
        }
        found["roc_auc"] = auc
        found["log_loss"] = real["log_loss"] / scale
        return found

    # -- runs ---------------------------------------------------------------------

    def _versioned_run(
        self, model: _Model, moment: datetime, data: str, trigger: str | None = None
    ) -> tuple[str, int, bool, list[dict[str, Any]]]:
        """A run that registered a version: promoted when the gate passed, else rejected.
        Returns its id, the version, whether it passed and the gate's verdicts."""
        run = self._start(model, moment, data, trigger)
        metrics = self._metrics(model, moment)
        auc = metrics["roc_auc"]
        champion = model.scores.get(model.champion) if model.champion else None
        passed = auc >= 0.65 and (champion is None or auc >= champion - 0.02)
        version = model.next_version
        model.next_version += 1
        status = "registered" if passed else "rejected"
        self.metrics += [(run.id, k, v) for k, v in sorted(metrics.items())]
        if champion is None:
            note = "no champion yet"
        else:
            note = (
                f"champion {model.name}/{model.champion} and candidate scored on all 601 "
                "test rows; neither trained on any of them"
            )
        verdicts = [
            {
                "metric": k,
                "value": v,
                "higher_is_better": k != "log_loss",
                "rule": "",
                "champion": None,
                "passed": None,
                "detail": "",
                "compared": None,
            }
            for k, v in sorted(metrics.items())
        ]
        gate = next(v for v in verdicts if v["metric"] == "roc_auc")
        gate.update(rule=">= 0.65, drop <= 0.02", champion=champion, passed=passed)
        if not passed:
            gate["detail"] = (
                f"roc_auc {auc:.4f} fell more than 0.02 below the champion's {champion:.4f}"
            )
        gate_detail = f"{gate['detail'] or '1 threshold(s) met'}; {note}"
        train = 0.02 + run.knobs["n_estimators"] * 0.004 * self.rng.uniform(0.8, 1.3)
        evaluate = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())[:4])
        deploy = (
            f"{model.name}@champion -> version {version} (moved once every deploy target "
            "has succeeded)"
        )
        steps: list[Step] = [
            self._copied("ingest", self.rng.uniform(0.1, 0.3)),
            self._copied("check", self.rng.uniform(0.001, 0.004)),
            self._copied("split", self.rng.uniform(0.001, 0.004)),
            self._copied("transform", 0.0005),
            ("train", "lightgbm", "lightgbm", "passed", train, "lightgbm on 7 columns"),
            ("evaluate", "", "specops", "passed", self.rng.uniform(0.005, 0.02), evaluate),
            ("gate", "", "specops", "passed" if passed else "failed", 0.002, gate_detail),
            (
                "register",
                "",
                "specops",
                "passed",
                self.rng.uniform(0.01, 0.03),
                f"{model.name}/{version} ({status})",
            ),
            ("deploy", "registry", "deploy", "passed", 0.0001, deploy)
            if passed
            else (
                "deploy",
                "",
                "specops",
                "skipped",
                0.0,
                "the gate said no: nothing deployed or promoted",
            ),
        ]
        outputs: dict[str, Any] = {
            "data": self.t.run.outputs.get("data"),
            "checks": self.t.run.outputs.get("checks"),
            "metrics": metrics,
            "verdicts": verdicts,
            "champion_note": note,
            "model": {"name": model.name, "version": version, "status": status},
        }
        if passed:
            outputs["deploy"] = [
                {"type": "registry", "summary": deploy, "location": f"{model.name}/{version}"}
            ]
        ended = self._finish(run, "passed" if passed else "rejected", outputs, steps)
        lineage = dict(run.lineage)
        if self.t.version.lineage.get("training_rows"):
            lineage["training_rows"] = self.t.version.lineage["training_rows"]
        self.versions.append(
            (
                model.name,
                version,
                run.id,
                status,
                _iso(ended),
                "lightgbm",
                json.dumps(self.t.version.files),
                json.dumps(self.t.version.signature),
                json.dumps(metrics),
                json.dumps(lineage),
            )
        )
        model.scores[version] = auc
        if passed:
            model.moves.append(("champion", version, _iso(ended), f"run {run.id}", "gate passed"))
            model.champion = version
            self._hand_moves(model, ended)
        return run.id, version, passed, verdicts

    def _retraining(self, model: _Model, moment: datetime, data: str) -> None:
        """A drifted batch: the monitor run, the retraining it triggered, and the chain
        recorded on the monitor run (as ``record_outcome`` does)."""
        monitor_id = self._monitor(model, moment - timedelta(minutes=4), drift=True)
        run_id, version, passed, verdicts = self._versioned_run(model, moment, data, monitor_id)
        row, _, after = self.monitors[-1]
        summary = json.loads(row["summary_json"])
        summary["decision_text"] += (
            f"; retrained on recent (run {run_id}): challenger {model.name}/{version} passed "
            "the gate and is the champion"
            if passed
            else f"; retrained (run {run_id}) but the challenger was rejected by the gate: "
            "the champion stays"
        )
        after.update(
            retrain_run_id=run_id,
            retrain_status="passed" if passed else "rejected",
            promoted_version=version if passed else None,
            gate=verdicts,
            summary_json=json.dumps(summary),
            exit_code=0 if passed else 1,
        )

    def _hand_moves(self, model: _Model, ended: datetime) -> None:
        """Now and then a person steps in: a rollback, or a challenger named by hand."""
        roll = self.rng.random()
        champions = [m for m in model.moves if m[0] == "champion"]
        if roll < 0.04 and len(champions) >= 2:
            previous = champions[-2][1]
            at = _iso(ended + timedelta(hours=3))
            model.moves.append(
                ("champion", previous, at, "maria (cli)", "rollback: latency regression")
            )
            model.champion = previous
        elif roll < 0.08:
            at = _iso(ended + timedelta(hours=1))
            model.moves.append(
                (
                    "challenger",
                    model.champion or 1,
                    at,
                    "sam (cli)",
                    "manual promote: shadow traffic for a week",
                )
            )

    def _plain_run(self, model: _Model, moment: datetime, data: str) -> None:
        """A run that never reached register: a failed data check, an error, a kill."""
        roll = self.rng.random()
        status = "failed_checks" if roll < 0.55 else "error" if roll < 0.95 else "interrupted"
        killed = bool(self.stale_share) and self.rng.random() < self.stale_share
        status = "interrupted" if killed else status
        run = self._start(model, moment, data)
        if killed:  # the lock file a killed process leaves: there, held by nobody
            lock = self.root / ".specops" / "live" / f"run-{run.id}.lock"
            lock.parent.mkdir(exist_ok=True)
            lock.write_text(f"{self.host} {4000 + len(self.runs) % 900} {moment.timestamp():.3f}\n")
        if status == "failed_checks":
            steps: list[Step] = [
                (s.name, s.component, s.plugin, s.status, s.seconds, s.detail)
                for s in self.t.failed_steps
            ]
            outputs = {k: v for k, v in self.t.failed.outputs.items() if k != "lineage"}
        elif status == "error":
            error = (
                "DataError: lightgbm could not train: every value of the target column "
                "'churned' is 0 in the training rows"
            )
            steps = [
                *(
                    self._copied(n, self.rng.uniform(0.001, 0.2))
                    for n in ("ingest", "check", "split", "transform")
                ),
                ("train", "lightgbm", "lightgbm", "error", self.rng.uniform(0.01, 0.1), error),
            ]
            outputs = {
                "data": self.t.run.outputs.get("data"),
                "checks": self.t.run.outputs.get("checks"),
                "error": error,
            }
            self.error_run = self.error_run or run.id
        else:
            steps = [self._copied(n, self.rng.uniform(0.001, 0.2)) for n in ("ingest", "check")]
            outputs = {}
        self._finish(run, status, outputs, steps)

    # -- monitoring and aliases ---------------------------------------------------

    def _monitor(self, model: _Model, moment: datetime, *, drift: bool) -> str:
        """A monitor run on a day of the prediction log. Each column's statistic follows
        a slow wave under its threshold; the columns that drifted in the real monitor
        run creep up in the days before a drifted batch, which pushes most of them over
        (the retraining resets them: the new champion saw the new data)."""
        monitor_id = "mon-" + self._run_id(moment)
        days = (moment - self.start).total_seconds() / 86400
        ahead = [(d - moment).total_seconds() / 3600 for d in self.drifts if d >= moment]
        pressure = math.exp(-min(ahead) / 60) if ahead else 0.0
        prone = set(self.t.monitor.get("summary", {}).get("drifted_columns", []))
        columns = []
        for position, real in enumerate(self.t.monitor_columns):
            threshold = real["threshold"]
            wave = 0.3 + 0.15 * math.sin(days / 11 + position)
            level = wave + (0.55 * pressure if real["column_name"] in prone else 0.0)
            statistic = threshold * max(level + self.rng.gauss(0, 0.05), 0.01)
            if drift and real["column_name"] in prone and self.rng.random() < 0.8:
                statistic = threshold * self.rng.uniform(1.1, 2.2)
            elif drift:
                statistic = min(statistic, threshold * 0.95)
            columns.append(
                {
                    "column": real["column_name"],
                    "role": real["role"],
                    "source": real["source"],
                    "test": real["test"],
                    "statistic": statistic,
                    "threshold": threshold,
                    "drift_if": real["drift_if"],
                    "status": "drift" if statistic >= threshold else "ok",
                    "null_share": real["null_share"],
                }
            )
        if drift:  # a drifted batch: at least the dataset-drift share of columns
            for column in [c for c in columns if c["column"] in prone][:3]:
                if column["status"] != "drift":
                    column["statistic"] = column["threshold"] * self.rng.uniform(1.05, 1.5)
                    column["status"] = "drift"
        drifted = [c["column"] for c in columns if c["status"] == "drift"]
        share = len(drifted) / len(columns)
        decision = "drift" if share >= 0.3 else "no_drift"
        text = (
            f"{len(drifted)} of {len(columns)} watched columns drifted "
            f"({share:.0%}; dataset drift at 30%)"
        )
        report = {
            "monitor_id": monitor_id,
            "model": model.name,
            "decision": decision,
            "decision_text": text,
            "columns": columns,
        }
        blob = self.store.artifacts.put_written(
            lambda path: path.write_text(json.dumps(report), encoding="utf-8")
        )
        row = {
            "id": monitor_id,
            "model": model.name,
            "version": model.champion,
            "spec_path": str(self.root / f"{model.name}.yaml"),
            "started_at": _iso(moment),
            "ended_at": _iso(moment + timedelta(seconds=2)),
            "data": f"prediction log of {model.name}, {moment:%Y-%m-%d} (24h)",
            "data_hash": _digest(monitor_id),
            "rows": 1200 + self.rng.randrange(800),
            "decision": decision,
            "exit_code": 1 if decision == "drift" else 0,
            "policy": "retrain",
            "dataset_drift": int(decision == "drift"),
            "drift_share": share,
            "summary_json": json.dumps(
                {"decision_text": text, "problems": [], "drifted_columns": drifted}
            ),
            "report_blob": blob,
            "html_blob": None,
            "report_path": None,
        }
        self.monitors.append((row, columns, {}))
        return monitor_id

    def _write_aliases(self, db: Any, model: _Model) -> None:
        """The alias history in order, each move from where the alias was, and the
        aliases where the history ends (what ``store verify`` compares)."""
        current: dict[str, tuple[int, str]] = {}
        for alias, version, at, actor, reason in model.moves:
            previous = current[alias][0] if alias in current else None
            db.execute(
                "INSERT INTO alias_history (name, alias, from_version, to_version, at, actor,"
                " reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (model.name, alias, previous, version, at, actor, reason),
            )
            current[alias] = (version, at)
        for alias, (version, at) in current.items():
            db.execute(
                "INSERT INTO aliases (name, alias, version, updated_at) VALUES (?, ?, ?, ?)",
                (model.name, alias, version, at),
            )
