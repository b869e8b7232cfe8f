"""The engine: run a validated spec through its lifecycle, one hook-announced step at a time.

ingest -> check -> split -> transform -> train -> evaluate -> gate -> register -> deploy

The engine knows no concrete backend: every step calls a component the plugins
registered, and it never touches the data itself: each step is a small function that
hands the data-heavy part to the executor the spec's ``execution:`` names
(:mod:`framework.execution`; ``local`` by default) and records what it reports. The
whole run happens inside the executor's session (a Dask cluster is started or
reached there, and closed after). Outcomes: ``passed`` (deployed, exit 0), ``failed_checks`` or
``rejected`` (the lifecycle said no, exit 1, nothing promoted), ``error`` (bad
input, exit 2, nothing promoted).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from framework import contracts, training_rows
from framework.components import CheckOutcome, Release, StepContext
from framework.errors import PluginFault, UserError
from framework.events import STEPS, RunInfo, StepInfo
from framework.execution import (
    DEFAULT,
    ROWS_LINEAGE_KEY,
    ROWS_METHOD,
    Evaluation,
    Executor,
    Prepared,
    Say,
    Scope,
    Split,
    Table,
    executor_for,
    require_both_sides,
    require_two_classes,
)
from framework.gate import MetricVerdict, gate_passed, judge
from framework.lineage import (
    git_commit,
    package_versions,
    plugin_distributions,
    plugin_versions,
)
from framework.package import ModelPackage, write_package
from framework.param_defaults import with_defaults
from framework.plan import PlannedStep, components_taking_part, make_plan, masked_params
from framework.plugins import Plugins
from framework.redact import hide_credentials, scrub_exception, scrub_text
from framework.refs import ALIAS_PATTERN
from framework.spec.model import Spec, spec_hash, thawed
from framework.step_warnings import caught_warnings, summarize
from framework.store import Store, new_run_id
from framework.trackers import tracker_name, trackers_for
from framework.tracking import StoreTracker

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


@dataclass
class _State:
    """What the steps of one run hand each other, filled in step by step."""

    store: Store
    run: RunInfo
    result: RunResult
    lineage: dict[str, Any]
    executor: Executor
    scope: Scope
    resources: ExitStack = field(default_factory=ExitStack)  # closed when the run ends
    table: Table | None = None
    split: Split | None = None
    model: Any = None
    prepared: Prepared | None = None
    evaluation: Evaluation | None = None
    snapshot: Callable[[], tuple[str | None, str | None]] | None = None  # being written
    passed: bool = False
    package_dir: Path | None = None
    version: int | None = None


def say_on_stderr(text: str) -> None:
    """The default ``say``: one line on stderr, secrets masked."""
    print(scrub_text(text), file=sys.stderr, flush=True)


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
        say: Say | None = None,
    ) -> None:
        """``source`` replaces the spec's source (a data snapshot, a retraining window);
        ``store_root`` another store (a reproduction); ``deploy=False`` stops after
        register; ``trigger`` records why the run happened (e.g. a monitor run id);
        ``say`` prints the executor's lines for the user (a cluster's dashboard)."""
        self.spec = spec
        self.plugins = plugins
        self.source_override = source
        self.store_root = store_root or spec.store_path
        self.deploy_enabled = deploy
        self.trigger = trigger
        self.say = say or say_on_stderr
        self.plan = {(p.step, p.path): p for p in make_plan(spec, plugins)}
        self.ctx = StepContext(
            spec_name=spec.name,
            task=spec.task,
            target=spec.target,
            base_dir=spec.base_dir,
            seed=spec.seed,
            execution=spec.execution.type,
        )

    # ------------------------------------------------------------------

    def run(self) -> RunResult:
        spec = self.spec
        from framework.store.addressing import spec_address  # --store, SPECOPS_STORE, store:

        store = Store(spec_address(spec, self.store_root))
        run = RunInfo(new_run_id(), spec.name, str(spec.path), spec.task)
        self.ctx = replace(self.ctx, run_id=run.run_id, store_root=store.root)
        result = RunResult(run)
        tracker = StoreTracker(store)
        self.plugins.register(tracker, name=f"specops.tracker.{run.run_id}")
        observers: list[object] = []
        try:
            for position, observer in enumerate(trackers_for(spec, self.plugins, store)):
                self.plugins.register(
                    observer, name=tracker_name(position, spec.tracking[position].type)
                )
                observers.append(observer)
            registry = self.plugins.registry
            executor = executor_for(spec, self.plugins)  # cheap: nothing starts before session
            used = plugin_versions(registry, components_taking_part(spec, self.plugins))
            execution = spec.execution
            executor_plugin = plugin_versions(registry, [(execution.kind, execution.type)])
            distributions = plugin_distributions({**used, **executor_plugin})
            distributions += [str(name) for name in getattr(executor, "packages", ())]
            lineage = {
                "spec_hash": spec.spec_hash,
                "config_hash": spec.config_hash,
                "split_hash": _split_hash(spec, self.plugins),
                ROWS_LINEAGE_KEY: ROWS_METHOD,  # rows chosen by content (reproduce reads it)
                "packages": package_versions(distributions),
                "plugins": used,  # component -> plugin, distribution, version
                "execution": next(iter(executor_plugin.values())),  # where it ran
                "git": git_commit(spec.base_dir),
            }
            store.begin_run(run.run_id, spec, lineage, self._params(), trigger=self.trigger)
            run.outputs["lineage"] = lineage
            self.plugins.run_start(run)
            state = _State(
                store, run, result, lineage, executor, Scope(spec, self.plugins, self.ctx)
            )
            with executor.session(self.say):
                self._lifecycle(state)
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
                for observer in observers:
                    self.plugins.unregister(observer)
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
        execution = self.spec.execution
        if execution.type != DEFAULT or execution.params:  # runs diff shows where it ran
            flat["execution.type"] = execution.type
            for key, value in masked_params(self.spec, execution).items():
                flat[f"execution.params.{key}"] = value
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
        everything.append((self.spec.execution.kind, self.spec.execution.type))
        everything += [("metric", name) for name in self.plugins.registry.types("metric")]
        return self.plugins.fault(
            exc, step=step, components=[(p.kind, p.type) for p in own], fallback=everything
        )

    def _skip(self, run: RunInfo, name: str, why: str) -> None:
        with self._step(run, name) as step:
            step.status = "skipped"
            step.detail = why

    # ------------------------------------------------------------------

    def _lifecycle(self, state: _State) -> None:
        """The steps in order; each returns False when the run ends there."""
        steps = (
            self._ingest,
            self._check,
            self._split,
            self._transform,
            self._train,
            self._evaluate,
            self._gate,
            self._register,
            self._deploy_step,
        )
        with state.resources:
            try:
                completed = all(step(state) for step in steps)  # stops at the first False
            except BaseException:
                self._snapshot_settled(state, quiet=True)
                raise
            # a run that ended early still records its snapshot, as ingest used to
            self._snapshot_settled(state)
        if completed:
            state.run.status = "passed"

    def _ingest(self, state: _State) -> bool:
        spec, run, store = self.spec, state.run, state.store
        with self._step(run, "ingest", self.plan[("ingest", spec.source.path)]) as step:
            source = self.source_override or self.plugins.build(
                "source", spec.source.type, spec.source.kwargs()
            )
            table = state.executor.ingest(state.scope, source)
            store.record_dataset(run.run_id, table.data_hash, table.rows, table.columns)
            state.lineage["data_hash"] = table.data_hash
            snapshot_problem = None
            if spec.snapshot_data:
                start = getattr(state.executor, "start_snapshot", None)
                if start is not None:  # written while the next steps run; split waits
                    state.snapshot = start(state.scope, store, table)
                else:
                    state.lineage["data_snapshot"], snapshot_problem = state.executor.keep_snapshot(
                        state.scope, store, table
                    )
            signature = table.signature
            step.detail = (
                f"{table.rows:,} rows x {len(table.columns)} columns, {len(signature.columns)} "
                f"features: {signature.roles_summary()}"
            )
            if table.excluded:
                step.detail += f"; datetime columns not used: {', '.join(table.excluded)}"
            if snapshot_problem:
                step.detail += f"; {snapshot_problem}"
            step.outputs = {
                "rows": table.rows,
                "columns": len(table.columns),
                "data_hash": table.data_hash,
                "roles": {c.name: c.role for c in signature.columns},
            }
            run.outputs["data"] = step.outputs
        state.table = table
        return True

    def _check(self, state: _State) -> bool:
        run, result = state.run, state.result
        if self.spec.checks:
            with self._step(run, "check", group="check") as step:
                outcomes, failed = state.executor.check(state.scope, state.table)
                result.checks.extend(outcomes)
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
            return False
        return True

    def _split(self, state: _State) -> bool:
        spec = self.spec
        with self._step(state.run, "split", self.plan[("split", spec.split.path)]) as step:
            splitter = self.plugins.build("split", spec.split.type, spec.split.kwargs())
            split = state.executor.split(state.scope, state.table, splitter)
            require_both_sides(split.train_rows, split.test_rows)
            require_two_classes(split.train_classes)
            step.detail = f"{split.train_rows:,} train / {split.test_rows:,} test"
            if problem := self._snapshot_settled(state):
                step.detail += f"; {problem}"
        state.split = split
        return True

    def _snapshot_settled(self, state: _State, *, quiet: bool = False) -> str | None:
        """Wait for the data snapshot ingest started (if still pending) and put it in the
        lineage before anything records the lineage again (the gate, register, the
        run's end); returns why it was not kept, if so. It is written beside the split,
        whose first run imports scikit-learn (~0.5 s on one core): the wait is short.
        ``quiet``: the run is already failing; an error here must not hide that one."""
        finish, state.snapshot = state.snapshot, None
        if finish is None:
            return None
        try:
            blob, problem = finish()
        except Exception:
            if quiet:
                return None
            raise
        state.lineage["data_snapshot"] = blob
        if problem:
            state.run.outputs.setdefault("data", {})["snapshot"] = problem
        return problem

    def _transform(self, state: _State) -> bool:
        spec = self.spec
        state.model = self.plugins.build("model", spec.model.type, spec.model.kwargs())
        with self._step(state.run, "transform", group="transform") as step:
            prepared = state.executor.fit_transform(state.scope, state.split, state.model)
            step.detail = "; ".join(prepared.steps) or "no preprocessing"
            if prepared.pipeline is None:
                step.status = "skipped"
        state.prepared = prepared
        return True

    def _train(self, state: _State) -> bool:
        spec = self.spec
        with self._step(state.run, "train", self.plan[("train", spec.model.path)]) as step:
            state.executor.train(state.scope, state.model, state.split, state.prepared)
            step.detail = f"{spec.model.type} on {state.prepared.columns} columns"
        return True

    def _evaluate(self, state: _State) -> bool:
        run = state.run
        with self._step(run, "evaluate") as step:
            evaluation = state.executor.evaluate(
                state.scope, state.model, state.split, state.prepared
            )
            metrics = evaluation.metrics
            step.outputs = {"metrics": metrics}
            step.detail = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())[:4])
        state.store.record_metrics(run.run_id, metrics)
        run.outputs["metrics"] = metrics
        state.evaluation = evaluation
        return True

    def _gate(self, state: _State) -> bool:
        run, result, evaluation = state.run, state.result, state.evaluation
        with self._step(run, "gate") as step:
            comparison = state.executor.compare(
                state.scope, state.store, state.split, evaluation, state.lineage
            )
            note = comparison.note
            result.verdicts = judge(
                evaluation.metrics,
                evaluation.directions,
                self.spec.gate,
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
        state.passed = passed
        return True

    def _register(self, state: _State) -> bool:
        """Register the version (``rejected`` when the gate said no: kept for the record,
        never promoted). The package stays in a temporary folder until deploy is over."""
        spec, run, store, lineage = self.spec, state.run, state.store, state.lineage
        executor, scope, split = state.executor, state.scope, state.split
        evaluation = state.evaluation
        if state.passed and self.deploy_enabled:
            self._recheck_deploy_targets()
        tmp = state.resources.enter_context(
            tempfile.TemporaryDirectory(dir=store.root, prefix=".package-")
        )
        package_dir = state.package_dir = Path(tmp) / "package"
        with self._step(run, "register") as step:
            rows = executor.training_rows(scope, store, split)
            lineage[training_rows.LINEAGE_KEY] = rows.entry
            write_package(
                package_dir,
                model=state.model,
                transform=state.prepared.pipeline,
                signature=split.signature,
                metadata={
                    "name": spec.name,
                    "task": spec.task,
                    "model_type": spec.model.type,
                    "labels": state.table.labels,
                    "target": spec.target,
                    "metrics": evaluation.metrics,
                    "run_id": run.run_id,
                    "lineage": lineage,
                    "serve_runtime": spec.serve_runtime,
                },
            )
            executor.write_profile(scope, package_dir, split, evaluation)  # for `monitor`
            executor.check_reload(scope, package_dir, split, evaluation)
            runtimes = self._runtimes(package_dir, split) if state.passed else ""
            version = store.add_version(
                name=spec.name,
                run_id=run.run_id,
                status="registered" if state.passed else "rejected",
                model_type=spec.model.type,
                package_dir=package_dir,
                signature=split.signature.to_dict(),
                metrics=evaluation.metrics,
                lineage=lineage,
            )
            rows.ensure()
            step.detail = f"{version.ref} ({version.status})"
            if runtimes:
                step.detail += f"; {runtimes}"
            run.outputs["model"] = {
                "name": version.name,
                "version": version.version,
                "status": version.status,
            }
        state.version = version.version
        if not state.passed:
            run.status = "rejected"
            self._skip(run, "deploy", "the gate said no: nothing deployed or promoted")
            return False
        if not self.deploy_enabled:
            run.status = "passed"
            self._skip(run, "deploy", "deploy disabled for this run")
            return False
        return True

    def _runtimes(self, package_dir: Path, split: Any) -> str:
        """Compile, verify and measure the runtimes ``serve.runtime`` allows, recorded in
        the package before it is stored (see :mod:`framework.runtimes.compile`); nothing
        to do, and nothing imported, when only native is allowed or registered. A
        rejected version never serves: the caller skips it."""
        from framework.runtimes.lookup import to_compile

        if not to_compile(self.spec.serve_runtime, self.plugins):
            return ""
        from framework.runtimes.compile import compile_runtimes, summary

        verdicts = compile_runtimes(
            package_dir, self.plugins, split.data.x_test, requested=self.spec.serve_runtime
        )
        return summary(verdicts)

    def _deploy_step(self, state: _State) -> bool:
        self._deploy(
            state.store, state.run, state.version, state.evaluation.metrics, state.package_dir
        )
        return True

    # ------------------------------------------------------------------

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
            spec_document=hide_credentials(thawed(spec.document)),  # as the run stored it
            spec_path=spec.path,
            store_url=None if store.address.is_local else store.display_url,
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


def _split_hash(spec: Spec, plugins: Plugins) -> str:
    """What decides which rows are the test split, given the data: the splitter, its
    params as written, and how it selects rows (``method``, with its default), so a
    version split by position (``shuffle``, before content splits) is never taken for
    one that trained on the same rows as a content split."""
    hashed: dict[str, Any] = {
        "split": {"type": spec.split.type, "params": spec.split.kwargs()},
        "seed": spec.seed,
        "target": spec.target,
        "task": spec.task,
    }
    entry = plugins.registry.find("split", spec.split.type)
    schema = entry.params_schema if entry is not None else None
    if schema and "method" in (schema.get("properties") or {}):
        hashed["rows"] = with_defaults(spec.split.kwargs(), schema).get("method")
    return spec_hash(hashed)
