"""The engine: run a validated spec through its lifecycle, one hook-announced step at a time.

ingest -> check -> split -> transform -> train -> evaluate -> gate -> register -> deploy

The engine knows no concrete backend: every step calls a component the plugins
registered. Outcomes: ``passed`` (deployed, exit 0), ``failed_checks`` or
``rejected`` (the lifecycle said no, exit 1, nothing promoted), ``error`` (bad
input, exit 2, nothing promoted).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import contracts, training_rows
from framework.champion import CandidateTest, compare
from framework.checking import run_checks
from framework.components import CheckOutcome, Release, StepContext
from framework.data_limits import MAX_CLASSES, UNUSABLE_HINT, unusable_column
from framework.errors import DataError, PluginFault, StoreError, UserError
from framework.events import STEPS, RunInfo, StepInfo
from framework.gate import MetricVerdict, gate_passed, judge
from framework.lineage import (
    frame_hash,
    git_commit,
    package_versions,
    plugin_distributions,
    plugin_versions,
)
from framework.package import ModelPackage, Predictions, predict_transformed, write_package
from framework.plan import PlannedStep, components_taking_part, make_plan, metrics_for
from framework.plugins import Plugins
from framework.preprocess import fit_preprocess
from framework.redact import scrub_exception
from framework.refs import ALIAS_PATTERN
from framework.signature import infer_signature, training_categories
from framework.spec.model import Spec, spec_hash
from framework.step_warnings import caught_warnings, summarize
from framework.store import Store, new_run_id
from framework.suggest import did_you_mean
from framework.tracking import StoreTracker

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

EXIT_CODES = {"passed": 0, "failed_checks": 1, "rejected": 1, "error": 2}


@dataclass
class RunResult:
    """What ``specops run`` reports: the run, its checks, metric verdicts and model."""

    run: RunInfo
    checks: list[CheckOutcome] = field(default_factory=list)
    verdicts: list[MetricVerdict] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.run.status, 2)


class Engine:
    """Runs one spec; create one per run."""

    def __init__(
        self,
        spec: Spec,
        plugins: Plugins,
        *,
        source: Any = None,
        store_root: Path | None = None,
        deploy: bool = True,
        trigger: str | None = None,
    ) -> None:
        """``source`` replaces the spec's source (a data snapshot, a retraining window);
        ``store_root`` another store (a reproduction); ``deploy=False`` stops after
        register; ``trigger`` records why the run happened (e.g. a monitor run id)."""
        self.spec = spec
        self.plugins = plugins
        self.source_override = source
        self.store_root = store_root or spec.store_path
        self.deploy_enabled = deploy
        self.trigger = trigger
        self.plan = {(p.step, p.path): p for p in make_plan(spec, plugins)}
        self.ctx = StepContext(
            spec_name=spec.name,
            task=spec.task,
            target=spec.target,
            base_dir=spec.base_dir,
            seed=spec.seed,
        )

    # ------------------------------------------------------------------

    def run(self) -> RunResult:
        spec = self.spec
        store = Store(self.store_root)
        run = RunInfo(new_run_id(), spec.name, str(spec.path), spec.task)
        self.ctx = replace(self.ctx, run_id=run.run_id, store_root=store.root)
        result = RunResult(run)
        tracker = StoreTracker(store)
        self.plugins.register(tracker, name=f"specops.tracker.{run.run_id}")
        try:
            used = plugin_versions(
                self.plugins.registry, components_taking_part(spec, self.plugins)
            )
            lineage = {
                "spec_hash": spec.spec_hash,
                "config_hash": spec.config_hash,
                "split_hash": _split_hash(spec),
                "packages": package_versions(plugin_distributions(used)),
                "plugins": used,  # component -> plugin, distribution, version
                "git": git_commit(spec.base_dir),
            }
            store.begin_run(run.run_id, spec, lineage, self._params(), trigger=self.trigger)
            run.outputs["lineage"] = lineage
            self.plugins.run_start(run)
            self._lifecycle(store, run, result, lineage)
        except KeyboardInterrupt:
            run.status = "interrupted"
            raise
        except Exception as exc:  # bad input (exit 2) or a bug (exit 3): never left "running"
            run.status = "error"
            run.outputs["error"] = f"{type(exc).__name__}: {exc}"
            # whose bug: a plugin's, named in the record (a step names it; code between
            # steps, like a deploy target's checks, is named here)
            fault = exc if isinstance(exc, PluginFault) else self._plugin_fault(exc, "", "")
            if fault is None:
                raise
            run.outputs["error"] = str(fault)
            run.outputs["plugin_error"] = fault.to_dict()
            if fault is not exc:
                raise fault from exc
            raise
        finally:
            try:
                self.plugins.run_end(run.scrub())
            finally:
                self.plugins.unregister(tracker)
                store.close()
        return result

    def _params(self) -> dict[str, Any]:
        flat: dict[str, Any] = {
            "task": self.spec.task,
            "seed": self.spec.seed,
            "target": self.spec.target,
        }
        for planned in self.plan.values():
            flat[f"{planned.path}.type"] = planned.type
            for key, value in planned.params.items():
                flat[f"{planned.path}.params.{key}"] = value
        return flat

    @contextmanager
    def _step(
        self, run: RunInfo, name: str, planned: PlannedStep | None = None, *, group: str = ""
    ) -> Iterator[StepInfo]:
        """Announce, time and record one step. ``group`` names a step run by several
        components (checks, transforms): it shows their types and plugins together."""
        if group:
            members = [p for p in self.plan.values() if p.step == group]
            component = ", ".join(dict.fromkeys(p.type for p in members))
            plugin = ", ".join(dict.fromkeys(p.plugin for p in members)) or "specops"
        else:
            component = planned.type if planned else ""
            plugin = planned.plugin if planned else "specops"
        step = StepInfo(name, component=component, plugin=plugin, status="running")
        run.steps.append(step)
        self.plugins.step_start(run, step)
        started = time.perf_counter()
        try:
            with caught_warnings() as caught:
                yield step
        except BaseException as exc:
            step.status = "error"
            step.seconds = time.perf_counter() - started
            scrub_exception(exc)  # trackers may print the error too
            fault = (
                exc
                if isinstance(exc, PluginFault)
                else self._plugin_fault(exc, name, [planned] if planned else group)
            )
            step.detail = str(fault or exc)
            if fault is not None:
                step.outputs["plugin_error"] = fault.to_dict()
            self.plugins.step_error(run, step.scrub(), fault or exc)
            if fault is not None and fault is not exc:
                raise fault from exc
            raise
        step.seconds = time.perf_counter() - started
        if said := summarize(caught):
            step.outputs["warnings"] = said
            run.outputs.setdefault("warnings", {})[name] = said
            step.detail = "; ".join(filter(None, [step.detail, f"warning: {said[0]}"]))
            if len(said) > 1:
                step.detail += f" (+{len(said) - 1} more: specops runs show)"
        if step.status == "running":
            step.status = "passed"
        self.plugins.step_end(run, step.scrub())  # trackers never see an ${env:...} value

    def _plugin_fault(
        self, exc: BaseException, step: str, own: list[PlannedStep] | str
    ) -> PluginFault | None:
        """``exc`` as a bug of the plugin whose code raised it, naming the plugin, its
        version, the component and the step (exit 3); None for bad input (exit 2) or
        when no plugin code raised (a bug of specops)."""
        if isinstance(own, str):
            own = [p for p in self.plan.values() if p.step == own] if own else []
        everything = [(p.kind, p.type) for p in self.plan.values()]
        everything += [("metric", name) for name in self.plugins.registry.types("metric")]
        return self.plugins.fault(
            exc, step=step, components=[(p.kind, p.type) for p in own], fallback=everything
        )

    def _skip(self, run: RunInfo, name: str, why: str) -> None:
        with self._step(run, name) as step:
            step.status = "skipped"
            step.detail = why

    # ------------------------------------------------------------------

    def _lifecycle(
        self, store: Store, run: RunInfo, result: RunResult, lineage: dict[str, Any]
    ) -> None:
        spec, plugins, ctx = self.spec, self.plugins, self.ctx

        with self._step(run, "ingest", self.plan[("ingest", spec.source.path)]) as step:
            source = self.source_override or plugins.build(
                "source", spec.source.type, spec.source.kwargs()
            )
            frame = _as_table(source.load(ctx), spec.source.type, plugins)
            y, labels = _target(frame, spec)
            features, excluded = _feature_frame(frame, spec)
            signature, features = infer_signature(features, dict(spec.features or {}))
            data_hash = frame_hash(frame)
            store.record_dataset(run.run_id, data_hash, len(frame), [str(c) for c in frame.columns])
            lineage["data_hash"] = data_hash
            snapshot_problem = None
            if spec.snapshot_data:
                lineage["data_snapshot"], snapshot_problem = _snapshot(store, data_hash, frame)
            step.detail = (
                f"{len(frame):,} rows x {frame.shape[1]} columns, {len(signature.columns)} "
                f"features: {signature.roles_summary()}"
            )
            if excluded:
                step.detail += f"; datetime columns not used: {', '.join(excluded)}"
            if snapshot_problem:
                step.detail += f"; {snapshot_problem}"
            step.outputs = {
                "rows": len(frame),
                "columns": frame.shape[1],
                "data_hash": data_hash,
                "roles": {c.name: c.role for c in signature.columns},
            }
            run.outputs["data"] = step.outputs

        if spec.checks:
            with self._step(run, "check", group="check") as step:
                failed = self._checks(frame, result)
                passed_count = sum(1 for c in result.checks if c.passed)
                warnings = len(result.checks) - passed_count - len(failed)
                step.detail = f"{passed_count} of {len(result.checks)} passed"
                if warnings:
                    step.detail += f", {warnings} warning(s)"
                if failed:
                    step.status = "failed"
        else:
            failed = []
            self._skip(run, "check", "no checks in the spec")
        run.outputs["checks"] = [c.__dict__ for c in result.checks]
        if failed:
            run.status = "failed_checks"
            for name in STEPS[STEPS.index("split") :]:
                self._skip(run, name, "data checks failed")
            return

        with self._step(run, "split", self.plan[("split", spec.split.path)]) as step:
            splitter = plugins.build("split", spec.split.type, spec.split.kwargs())
            positions_train, positions_test = contracts.split_positions(
                plugins,
                spec.split.type,
                splitter.split(frame, ctx),
                len(frame),
                lambda part: _positions(frame, part, spec.split.type),
            )
            if len(positions_train) == 0 or len(positions_test) == 0:
                raise DataError(
                    f"the split left {len(positions_train)} training and "
                    f"{len(positions_test)} test rows",
                    hint="use more data or another test_size",
                )
            signature, x_train, x_test = training_categories(
                signature, features.iloc[positions_train], features.iloc[positions_test]
            )
            y_train, y_test = y[positions_train], y[positions_test]
            # each row's content fingerprint: what this version trained on, recorded so a
            # later gate leaves those rows out when it scores this version as champion
            hashed = list(dict.fromkeys([*map(str, features.columns), spec.target]))
            fingerprints = training_rows.row_hashes(frame, hashed)
            trained_on = training_rows.TrainingRows.of(fingerprints[positions_train], hashed)
            if labels is not None and len(set(y_train.tolist())) < 2:
                raise DataError("the training split has a single class; the model cannot learn")
            step.detail = f"{len(x_train):,} train / {len(x_test):,} test"

        model = plugins.build("model", spec.model.type, spec.model.kwargs())
        with self._step(run, "transform", group="transform") as step:
            prep = fit_preprocess(x_train, spec.preprocess, model, plugins, ctx)
            x_train_t = prep.train
            x_test_t = prep.pipeline.transform(x_test) if prep.pipeline is not None else x_test
            step.detail = "; ".join(prep.steps) or "no preprocessing"
            if prep.pipeline is None:
                step.status = "skipped"

        with self._step(run, "train", self.plan[("train", spec.model.path)]) as step:
            model.fit(x_train_t, y_train, ctx)
            step.detail = f"{spec.model.type} on {x_train_t.shape[1]} columns"

        with self._step(run, "evaluate") as step:
            if spec.task == "regression":
                predictions = predict_transformed(model, x_test_t, spec.task)
                contracts.regression_values(
                    plugins, spec.model.type, predictions.codes, len(x_test_t)
                )
            else:  # checked before argmax and the metrics read it
                proba = contracts.probabilities(
                    plugins,
                    spec.model.type,
                    model.predict_proba(x_test_t),
                    len(x_test_t),
                    len(labels or ()),
                )
                predictions = Predictions(proba.argmax(axis=1), None, proba)
            metrics, directions = self._metrics(
                y_test, predictions.codes, predictions.score(spec.task)
            )
            step.outputs = {"metrics": metrics}
            step.detail = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())[:4])
        store.record_metrics(run.run_id, metrics)
        run.outputs["metrics"] = metrics

        with self._step(run, "gate") as step:
            candidate = CandidateTest(
                spec.name,
                spec.task,
                lineage,
                labels,
                frame,
                positions_test,
                y_test,
                predictions,
                trained_on,
                fingerprints[positions_test],
            )
            comparison = compare(store, plugins, candidate, self._scores)
            note = comparison.note
            result.verdicts = judge(
                metrics,
                directions,
                spec.gate,
                comparison.champion,
                compared=comparison.candidate,
            )
            passed = gate_passed(result.verdicts)
            failures = [v for v in result.verdicts if v.passed is False]
            step.status = "passed" if passed else "failed"
            judged = [v for v in result.verdicts if v.passed is not None]
            summary = "; ".join(v.detail for v in failures) or (
                f"{len(judged)} threshold(s) met" if judged else "no thresholds"
            )
            step.detail = f"{summary}; {note}"
            step.outputs = {"comparison": comparison.to_dict()}
        run.outputs["verdicts"] = [v.to_dict() for v in result.verdicts]
        run.outputs["champion_note"] = note
        run.outputs["comparison"] = comparison.to_dict()

        if passed and self.deploy_enabled:
            self._recheck_deploy_targets()
        with tempfile.TemporaryDirectory(dir=store.root, prefix=".package-") as tmp:
            package_dir = Path(tmp) / "package"
            with self._step(run, "register") as step:
                lineage[training_rows.LINEAGE_KEY], fingerprint_bytes = training_rows.record(
                    store, trained_on
                )
                write_package(
                    package_dir,
                    model=model,
                    transform=prep.pipeline,
                    signature=signature,
                    metadata={
                        "name": spec.name,
                        "task": spec.task,
                        "model_type": spec.model.type,
                        "labels": labels,
                        "target": spec.target,
                        "metrics": metrics,
                        "run_id": run.run_id,
                        "lineage": lineage,
                    },
                )
                from framework.monitoring.profile import write_profile  # for `specops monitor`

                write_profile(package_dir, x_train, signature, predictions, spec.task, labels)
                self._reloads(package_dir, x_test, predictions)
                version = store.add_version(
                    name=spec.name,
                    run_id=run.run_id,
                    status="registered" if passed else "rejected",
                    model_type=spec.model.type,
                    package_dir=package_dir,
                    signature=signature.to_dict(),
                    metrics=metrics,
                    lineage=lineage,
                )
                training_rows.ensure_stored(
                    store, lineage[training_rows.LINEAGE_KEY], fingerprint_bytes
                )
                step.detail = f"{version.ref} ({version.status})"
                run.outputs["model"] = {
                    "name": version.name,
                    "version": version.version,
                    "status": version.status,
                }
            if not passed:
                run.status = "rejected"
                self._skip(run, "deploy", "the gate said no: nothing deployed or promoted")
                return
            if not self.deploy_enabled:
                run.status = "passed"
                self._skip(run, "deploy", "deploy disabled for this run")
                return
            self._deploy(store, run, version.version, metrics, package_dir)
        run.status = "passed"

    # ------------------------------------------------------------------

    def _reloads(self, package_dir: Path, x_test: pd.DataFrame, made: Predictions) -> None:
        """Load the package as ``predict`` and ``serve`` will, and predict a few test rows
        again, before anything is registered: a model whose ``save`` loses state, whose
        ``load`` fails, or a pipeline specops will not load (a function in a transform)
        was promoted, and failed only where it was to be used."""
        import numpy as np

        spec = self.spec
        transforms = [t.type for t in spec.preprocess]
        try:
            package = ModelPackage(package_dir, self.plugins)
            again, _ = package.predict(x_test.iloc[:100])
        except StoreError as exc:
            if "transform.skops" in str(exc) and transforms:
                custom = [t for t in transforms if not _builtin(self.plugins, "transform", t)]
                kind, type_name = "transform", (custom or transforms)[0]
            else:
                kind, type_name = "model", spec.model.type
            raise contracts.broken(
                self.plugins,
                kind,
                type_name,
                "the model package it made cannot be loaded back: "
                + str(exc).replace(f"{package_dir}/", ""),
                step="register",
            ) from exc
        made_values = made.proba if made.proba is not None else made.codes
        new_values = again.proba if again.proba is not None else again.codes
        rows = min(len(x_test), 100)
        if not np.allclose(
            np.asarray(new_values, dtype=float),
            np.asarray(made_values[:rows], dtype=float),
            rtol=1e-6,
            atol=1e-9,
            equal_nan=True,
        ):
            raise contracts.broken(
                self.plugins,
                "model",
                spec.model.type,
                "predictions differ after save and load; save must keep everything "
                "predict uses, at full precision",
                step="register",
            )

    def _checks(self, frame: pd.DataFrame, result: RunResult) -> list[CheckOutcome]:
        outcomes, failed = run_checks(self.plugins, self.spec.checks, frame, self.ctx)
        result.checks.extend(outcomes)
        return failed

    def _metrics(
        self, y_true: np.ndarray, y_pred: np.ndarray, y_score: Any
    ) -> tuple[dict[str, float], dict[str, bool]]:
        metrics, directions = {}, {}
        for name in metrics_for(self.spec, self.plugins):
            metric = self.plugins.build("metric", name)
            value = metric.compute(y_true, y_pred, y_score)
            metrics[name] = contracts.metric_value(self.plugins, name, metric, value)
            directions[name] = bool(metric.higher_is_better)
        return metrics, directions

    def _scores(self, y_true: np.ndarray, y_pred: np.ndarray, y_score: Any) -> dict[str, float]:
        """The run's metrics on some rows (the gate's comparison with the champion)."""
        return self._metrics(y_true, y_pred, y_score)[0]

    def _recheck_deploy_targets(self) -> None:
        """The deploy targets' own checks again, before anything is registered: the disk
        may have changed while the model trained (a user's folder now at a deploy path),
        and a refusal only at deploy time would leave a version registered, never deployed."""
        problems = [
            f"{target.path}.params.{finding.key}: {finding.message}"
            if finding.key
            else f"{target.path}: {finding.message}"
            for target in self.spec.deploy
            for finding in contracts.findings(
                self.plugins,
                "deploy",
                target.type,
                self.plugins.build("deploy", target.type, target.kwargs()),
                self.ctx,
            )
        ]
        if problems:
            raise UserError("nothing registered: " + "; ".join(problems))

    def _deploy(
        self, store: Store, run: RunInfo, version: int, metrics: dict[str, float], package: Path
    ) -> None:
        """Run every deploy target; alias moves they ask for (promotion) happen only
        after all of them succeeded, together, so a failed export never leaves a new
        champion behind."""
        spec = self.spec
        if not spec.deploy:
            self._skip(run, "deploy", "no deploy targets in the spec")
            return
        moves: list[tuple[str, str]] = []

        def set_alias(alias: str, reason: str) -> None:
            # what NAME@ALIAS and `models promote --alias` accept, so it can be used
            if not isinstance(alias, str) or not ALIAS_PATTERN.match(alias):
                raise ValueError(
                    f"set_alias({alias!r}): an alias is lower case letters, digits, '_' "
                    "and '-', starting with a letter"
                )
            if not isinstance(reason, str):
                raise TypeError(f"set_alias reason must be text, not {type(reason).__name__}")
            moves.append((alias, reason))

        release = Release(
            spec.name,
            version,
            spec.task,
            package,
            metrics,
            set_alias,
            load=lambda: ModelPackage(package, self.plugins),
            store_root=store.root,
        )
        outcomes = []
        for target in spec.deploy:
            with self._step(run, "deploy", self.plan[("deploy", target.path)]) as step:
                deployer = self.plugins.build("deploy", target.type, target.kwargs())
                outcome = contracts.deploy_outcome(
                    self.plugins, target.type, deployer.deploy(release, self.ctx)
                )
                step.detail = outcome.summary
                outcomes.append({"type": target.type, **outcome.__dict__})
        store.set_aliases(spec.name, version, moves, actor=f"run {run.run_id}")
        run.outputs["deploy"] = outcomes


def _snapshot(store: Store, data_hash: str, frame: pd.DataFrame) -> tuple[str | None, str | None]:
    """Keep the ingested data for ``specops reproduce``: (blob, None), or (None, why not).
    A table Arrow cannot hold is noted, not fatal: the run does not depend on the snapshot."""
    try:
        return store.keep_snapshot(data_hash, frame), None
    except (ValueError, TypeError, OSError) as exc:
        return None, f"data snapshot not kept ({type(exc).__name__}: {exc})"


def _positions(frame: pd.DataFrame, part: Any, split_type: str) -> np.ndarray:
    """Row positions from what a splitter returned: a frame of rows or positions."""
    import numpy as np
    import pandas as pd

    if isinstance(part, pd.DataFrame):
        positions = frame.index.get_indexer(part.index)
        if (positions < 0).any():
            raise DataError(f"split '{split_type}' returned rows that are not in the data")
        return positions
    positions = np.asarray(part)
    if positions.dtype.kind not in "iu":
        raise DataError(f"split '{split_type}' returned {positions.dtype} positions, not integers")
    return positions


def _builtin(plugins: Plugins, kind: str, type_name: str) -> bool:
    entry = plugins.registry.find(kind, type_name)
    return entry is None or entry.plugin.builtin


def _split_hash(spec: Spec) -> str:
    """What decides which rows are the test split, given the data."""
    return spec_hash(
        {
            "split": {"type": spec.split.type, "params": spec.split.kwargs()},
            "seed": spec.seed,
            "target": spec.target,
            "task": spec.task,
        }
    )


def _as_table(frame: Any, source_type: str, plugins: Plugins | None = None) -> pd.DataFrame:
    """The source's table with text column names. Something else than a DataFrame is
    a bug of the source's plugin (named when ``plugins`` is given); duplicate names
    are refused here, before a later step fails on them without saying why."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        what = f"load returned {type(frame).__name__}, not a pandas DataFrame"
        if plugins is not None:
            raise contracts.broken(plugins, "source", source_type, what, step="ingest")
        raise DataError(f"source '{source_type}' returned {type(frame).__name__}, not a table")
    if frame.empty:
        raise DataError(f"source '{source_type}' returned no rows: the dataset is empty")
    names = [str(c) for c in frame.columns]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise DataError(
            f"source '{source_type}' returned more than one column named "
            f"{', '.join(repr(name) for name in repeated[:5])}",
            hint="every column needs its own name (names are compared as text)",
        )
    blank = [position + 1 for position, name in enumerate(names) if not name.strip()]
    if blank:  # the stored signature, the model and every message need a name
        raise DataError(
            f"source '{source_type}' returned a column with no name (column {blank[0]} of "
            f"{len(names)})",
            hint="give every column a name (in a query: SELECT ... AS name)",
        )
    unusable = unusable_column(frame)
    if unusable is not None:  # no model, profile or signature takes them (was exit 3)
        raise DataError(
            f"source '{source_type}' returned column '{unusable[0]}' of {unusable[1]}",
            column=unusable[0],
            hint=UNUSABLE_HINT,
        )
    frame.columns = names
    return frame.reset_index(drop=True)


def _target(frame: pd.DataFrame, spec: Spec) -> tuple[np.ndarray, list[Any] | None]:
    """The target as model-ready values; classification labels are encoded 0..k-1."""
    import numpy as np
    import pandas as pd

    if spec.target not in frame.columns:
        available = [str(c) for c in frame.columns]
        raise DataError(
            f"target column '{spec.target}' is not in the data"
            f"{did_you_mean(spec.target, available)}",
            column=spec.target,
            hint=f"columns: {', '.join(available[:20])}{' ...' if len(available) > 20 else ''}",
        )
    target = frame[spec.target]
    missing = target.isna()
    if missing.any():
        rows = ", ".join(map(str, frame.index[missing][:5]))
        raise DataError(
            f"target '{spec.target}' has {int(missing.sum())} missing value(s) (rows {rows})",
            column=spec.target,
            hint="drop those rows or fill the target before training",
        )
    if spec.task == "regression":
        from framework.signature import as_numeric

        values = as_numeric(frame, spec.target, "is a regression target")
        return values.to_numpy(dtype="float64"), None
    codes, uniques = pd.factorize(target, sort=True)
    labels = [v.item() if hasattr(v, "item") else v for v in uniques]
    if len(labels) < 2:
        raise DataError(
            f"target '{spec.target}' has a single class ({labels[0]!r}); "
            f"a {spec.task} task needs at least two",
            column=spec.target,
        )
    if spec.task == "binary" and len(labels) > 2:
        raise DataError(
            f"target '{spec.target}' has {len(labels)} classes but the task is binary",
            column=spec.target,
            hint="use task: multiclass",
        )
    most = MAX_CLASSES.value()
    if len(labels) > most:  # scores are rows x classes: 10^5 labels in a 2 MB CSV is 80 GB
        raise DataError(
            f"target '{spec.target}' has {len(labels):,} classes, more than the limit of {most:,}",
            column=spec.target,
            hint="is it an identifier or a measured value (task: regression)? "
            f"{MAX_CLASSES.env} raises the limit",
        )
    return np.asarray(codes, dtype="int64"), labels


def _feature_frame(frame: pd.DataFrame, spec: Spec) -> tuple[pd.DataFrame, list[str]]:
    """The feature columns: declared, or all but target and ``exclude`` (datetimes aside)."""
    from framework.columns import role_of

    available = [str(c) for c in frame.columns]
    if spec.features:
        wanted = list(spec.features)
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise DataError(
                f"feature column '{missing[0]}' is not in the data"
                f"{did_you_mean(missing[0], available)}",
                column=missing[0],
            )
        return frame[wanted], []
    unknown = [c for c in spec.exclude if c not in frame.columns]
    if unknown:
        raise DataError(
            f"excluded column '{unknown[0]}' is not in the data"
            f"{did_you_mean(unknown[0], available)}",
            column=unknown[0],
        )
    skip = {spec.target, *spec.exclude}
    candidates = [c for c in available if c not in skip]
    dates = [c for c in candidates if role_of(frame[c]) == "datetime"]
    chosen = [c for c in candidates if c not in dates]
    if not chosen:
        raise DataError("no feature columns left after removing the target and exclude")
    return frame[chosen], dates
