"""``DaskExecutor``: the lifecycle's data plane on a Dask cluster (``execution: dask``).

It implements :class:`framework.execution.Executor` by wiring the step modules of
this package (each owned by its step's engineers) around one ``distributed.Client``:
the engine sequences the steps, this class hands each the dask collections the
previous one made, and only small results (counts, statistics, metrics, the fitted
scikit-learn pipeline and LightGBM model) reach this process.

Components opt in to distributed work with optional methods
(:mod:`framework.components`); :meth:`DaskExecutor.validate` refuses a spec naming
one without them, at its spec line, before anything runs.

The ingested table is persisted on the workers (``persist``, default true): the
source is read once, and every later step reads the workers' copy.

Worker failures: reading, checking, splitting and transforming are pure Dask graphs,
so a lost worker's tasks are recomputed elsewhere by Dask itself (a task that keeps
killing workers, Dask's ``KilledWorker``, and a lost scheduler are exit 2 with what
happened). LightGBM's distributed training is not: its workers form one network for
the whole fit, so a worker lost mid-fit ends the run with a clear error (exit 2,
:class:`WorkerLost`, see :func:`_watched`) and no version is registered
(registration comes after training; the store is untouched).

Importing this module is cheap: dask, distributed and pandas are imported inside
the methods.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from framework import Finding, UserError
from framework.execution import Evaluation, Prepared, RowsRecord, Split, Table
from plugins.dask_execution.cluster import (
    DEFAULT_DASHBOARD,
    DEFAULT_TIMEOUT,
    ClusterSettings,
    size_findings,
    trust_findings,
)

if TYPE_CHECKING:
    from distributed import Client

    from framework import CheckOutcome, StepContext
    from framework.execution import (
        Comparison,
        ComponentSpec,
        Plugins,
        Say,
        Scope,
        Spec,
        Store,
    )
    from plugins.dask_execution.evaluation import TestPredictions
    from plugins.dask_execution.ingest import Ingested

Method = TypeVar("Method", bound=Callable[..., Any])

CODES = "__specops_target_code__"
"""Column of the split frame holding the target as model-ready codes (or values)."""
FINGERPRINT = "__specops_fingerprint__"
"""Column of the split frame holding each row's content fingerprint (uint64)."""
TYPED = "__specops_feature__:"
"""Prefix of the split frame's typed feature columns (the raw table's columns keep
their names: the gate rescores the champion on them)."""
RELOAD_ROWS = 100
"""Test rows predicted again after the package is reloaded, as the local executor."""

# what a source, check or model needs to run here, and what to use instead (splitters
# and transforms are judged by the split and transforms modules' own rules)
NEEDS: dict[str, tuple[str, str]] = {
    "source": (
        "load_distributed",
        "use a csv, parquet or sql source (they load as Dask dataframes), or execution: local",
    ),
    "check": ("run_distributed", "remove the check, or use execution: local"),
    "model": ("fit_distributed", "use lightgbm (lightgbm.dask), or execution: local"),
}
WHAT: dict[str, str] = {
    "source": "cannot load its data as a Dask dataframe (it has no load_distributed)",
    "check": "cannot run as a distributed aggregation (it has no run_distributed)",
    "model": "does not train on a Dask cluster (it has no fit_distributed)",
}
STOPPED = "stopped here: nothing registered, no partial output kept"


def _cluster_errors(method: Method) -> Method:
    """A cluster that fails under a step is the user's to fix, not a bug: the scheduler
    gone, workers that kept dying on a task (out of memory, killed). Exit 2, naming what
    happened; Dask's own retries have already been spent."""

    @functools.wraps(method)
    def guarded(self: DaskExecutor, *args: Any, **kwargs: Any) -> Any:
        from distributed import KilledWorker
        from distributed.comm.core import CommClosedError

        try:
            return method(self, *args, **kwargs)
        except KilledWorker as exc:
            raise UserError(
                f"Dask workers died running {_task_of(exc)} (each retry's worker was lost: "
                f"out of memory, or killed); {STOPPED}\n  "
                "hint: give workers more memory (execution.params.memory_limit), use more "
                "partitions, or check the workers' logs"
            ) from None
        except (CommClosedError, ConnectionError) as exc:
            raise UserError(
                f"lost the connection to the Dask cluster ({self.settings.where()}): "
                f"{type(exc).__name__}; {STOPPED}"
            ) from None

    return guarded  # type: ignore[return-value]


def _task_of(exc: BaseException) -> str:
    key = getattr(exc, "task", None) or (exc.args[0] if exc.args else "a task")
    return f"task {str(key)[:80]}"


class DaskExecutor:
    """Runs a spec's data-heavy steps on a Dask cluster; built from ``execution.params``."""

    packages = ("dask", "distributed")
    """Recorded in each run's lineage with their versions, beside the plugins' own."""

    def __init__(
        self,
        address: str | None = None,
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        memory_limit: str | int | None = None,
        dashboard_address: str | None = DEFAULT_DASHBOARD,
        timeout: float = DEFAULT_TIMEOUT,
        persist: bool = True,
    ) -> None:
        self.settings = ClusterSettings(
            address=address,
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            memory_limit=memory_limit,
            dashboard_address=dashboard_address,
            timeout=float(timeout),
        )
        self.persist = persist
        self._client: Client | None = None

    # ------------------------------------------------------------------
    # no data, no connection: validate, plan

    def validate(self, spec: Spec, plugins: Plugins) -> list[tuple[str, Finding]]:
        """Every component of ``spec`` that cannot run on Dask, at its spec path, with
        what to use instead; and cluster params that contradict each other."""
        found: list[tuple[str, Finding]] = []
        for component in [spec.source, *spec.checks, spec.split, *spec.preprocess, spec.model]:
            finding = _refusal(spec, plugins, component)
            if finding is not None:
                found.append((component.path, finding))
        if self.settings.address:
            for key in ("n_workers", "threads_per_worker", "memory_limit"):
                if getattr(self.settings, key) is not None:
                    found.append(
                        (
                            "execution",
                            Finding(
                                f"{key} shapes a LocalCluster; with address the "
                                "cluster's own workers are used",
                                key=key,
                                hint=f"remove {key}, or remove address to start a LocalCluster",
                            ),
                        )
                    )
        found += [("execution", finding) for finding in trust_findings(spec, self.settings)]
        found += [("execution", finding) for finding in size_findings(self.settings)]
        return found

    def describe(self, spec: Spec, plugins: Plugins, ctx: StepContext) -> list[str]:
        """Where the run happens and how many partitions the source yields."""
        lines = [f"runs on {self.settings.where()}"]
        lines.append(
            "the table is read once and held in the workers' memory for the run"
            if self.persist
            else "the table is reread from the source by each step (persist: false)"
        )
        if self.settings.address:
            lines.append(
                "the cluster's workers need specops and the spec's plugins installed, "
                "in this process's versions"
            )
        source = plugins.build("source", spec.source.type, spec.source.kwargs())
        count = getattr(source, "partitions", None)
        if callable(count):
            partitions = count(ctx)
            lines.append(f"source '{spec.source.type}' yields {partitions:,} partition(s)")
        return lines

    # ------------------------------------------------------------------
    # the cluster

    @contextmanager
    def session(self, say: Say) -> Iterator[None]:
        """Connect to ``address`` or start a LocalCluster for the run; close what was
        started (never an existing cluster), whatever happened."""
        from plugins.dask_execution.cluster import open_cluster

        with open_cluster(self.settings, say) as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    @property
    def client(self) -> Client:
        """The session's client; a step called outside ``session`` is a bug of the caller."""
        if self._client is None:
            raise RuntimeError("DaskExecutor used outside its session()")
        return self._client

    # ------------------------------------------------------------------
    # ingest, check

    @_cluster_errors
    def ingest(self, scope: Scope, source: Any) -> Table:
        from plugins.dask_execution.ingest import ingest

        spec = scope.spec
        load = getattr(source, "load_distributed", None)
        if not callable(load):  # validate refuses it first; a source given by code may not
            raise UserError(
                f"source '{spec.source.type}' cannot load its data on Dask (it has no "
                "load_distributed); use csv, parquet or sql, or execution: local"
            )
        table = load(scope.ctx)
        if self.persist and hasattr(table, "__dask_graph__"):
            # read once: every later step (checks, split, transforms, the gate) reads the
            # workers' copy, not the files. The whole table, never a column projection
            # of the read (dask/dask#12488: a persisted projected read loses its parts)
            table = self.client.persist(table)
        ingested = ingest(
            table,
            source_type=spec.source.type,
            target=spec.target,
            task=spec.task,
            features=dict(spec.features) if spec.features else None,
            exclude=spec.exclude,
        )
        return Table(
            data=ingested,
            rows=ingested.rows,
            columns=[str(c) for c in ingested.frame.columns],
            data_hash=ingested.data_hash,
            signature=ingested.signature,
            labels=ingested.labels,
            excluded=ingested.excluded,
        )

    @_cluster_errors
    def keep_snapshot(
        self, scope: Scope, store: Store, table: Table
    ) -> tuple[str | None, str | None]:
        from plugins.dask_execution.snapshot import keep_snapshot

        return keep_snapshot(store, table.data_hash, table.data.frame)

    @_cluster_errors
    def check(self, scope: Scope, table: Table) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
        from plugins.dask_execution.checks import run_checks_distributed

        return run_checks_distributed(scope.plugins, scope.spec.checks, table.data.frame, scope.ctx)

    # ------------------------------------------------------------------
    # split, transform, train

    @_cluster_errors
    def split(self, scope: Scope, table: Table, splitter: Any) -> Split:
        from framework.execution import content_rule, training_rows_rule
        from plugins.dask_execution.split import refusal, split_distributed, time_split_distributed

        spec = scope.spec
        ingested: Ingested = table.data
        rule = content_rule(splitter, scope.ctx)
        why = refusal(splitter, spec.split.type, scope.ctx)
        if why:
            raise UserError(why)
        hashed = list(dict.fromkeys([*ingested.features, spec.target]))
        frame = ingested.frame
        joined = frame.assign(
            **{TYPED + name: ingested.x[name] for name in ingested.features},
            **{
                CODES: ingested.y,
                FINGERPRINT: frame.map_partitions(
                    _fingerprints, hashed, meta=(FINGERPRINT, "uint64")
                ),
            },
        )
        if self.persist:
            # computed once, held on the workers while the split needs it: every row's
            # fingerprint (hashing the features and target is the costliest part of a
            # pass), the typed features, the target codes. The split's rounds and both
            # sides read it; before, each pass over a side hashed every row again.
            joined = self.client.persist(joined)
        if rule is None:
            sides = time_split_distributed(joined, splitter)
            entry = sides.entry
        else:
            sides = split_distributed(
                joined, rule, fingerprint=FINGERPRINT, target=spec.target if rule.stratify else None
            )
            entry = training_rows_rule(
                columns=hashed,
                seed=rule.seed,
                test_size=rule.test_size,
                stratify=rule.stratify,
                target=spec.target if rule.stratify else None,
                train_rows=sides.train_rows,
                threshold=sides.threshold,
                thresholds=sides.thresholds,
            )
        train, test = sides.train, sides.test
        columns = [str(c) for c in frame.columns]
        if self.persist:
            # each side filtered once and held on the workers; the table (and the copy
            # above) let go: no step after the split reads it, and every pass from here
            # on (categories, training, evaluation, the gate, the profile) reads a side
            train, test = self.client.persist([train, test])
            del frame, joined
            ingested.release()
        rows = _Rows(
            train=train,
            test=test,
            features=list(ingested.features),
            columns=columns,
            labels=table.labels,
            entry=entry,
            by_content=rule is not None,
        )
        signature, classes = _with_training_categories(table.signature, rows)
        return Split(
            data=rows,
            train_rows=sides.train_rows,
            test_rows=sides.test_rows,
            signature=signature,
            train_classes=classes,
        )

    @_cluster_errors
    def fit_transform(self, scope: Scope, split: Split, model: Any) -> Prepared:
        from plugins.dask_execution.transforms import fit_preprocess_distributed

        rows: _Rows = split.data
        fitted = fit_preprocess_distributed(
            rows.x_train, scope.spec.preprocess, model, scope.plugins, scope.ctx
        )
        return Prepared(
            pipeline=fitted.pipeline,
            steps=list(fitted.steps),
            columns=len(fitted.train.columns),
            data=fitted.train,
        )

    @_cluster_errors
    def train(self, scope: Scope, model: Any, split: Split, prepared: Prepared) -> None:
        fit = getattr(model, "fit_distributed", None)
        if not callable(fit):  # validate refuses it first
            raise UserError(
                f"model '{scope.spec.model.type}' does not train on a Dask cluster; "
                "use lightgbm, or execution: local"
            )
        rows: _Rows = split.data
        _watched(self.client, lambda: fit(prepared.data, rows.y_train, scope.ctx, self.client))

    # ------------------------------------------------------------------
    # evaluate, gate

    @_cluster_errors
    def evaluate(self, scope: Scope, model: Any, split: Split, prepared: Prepared) -> Evaluation:
        from framework.execution import contract_broken
        from plugins.dask_execution.evaluation import evaluate

        spec, plugins = scope.spec, scope.plugins
        rows: _Rows = split.data
        predictions = evaluate(
            self.client,
            model,
            prepared.pipeline,
            rows.x_test,
            rows.y_test,
            spec.task,
            len(rows.labels or ()),
            _metric_components(scope),
            broken=lambda what: contract_broken(
                plugins, "model", spec.model.type, what, step="evaluate"
            ),
        )
        metrics, directions = scope.checked_metrics(predictions.values)
        return Evaluation(metrics, directions, predictions)

    @_cluster_errors
    def compare(
        self,
        scope: Scope,
        store: Store,
        split: Split,
        evaluation: Evaluation,
        lineage: dict[str, Any],
    ) -> Comparison:
        from plugins.dask_execution.gate import compare_distributed

        spec = scope.spec
        rows: _Rows = split.data
        return compare_distributed(
            self.client,
            store,
            scope.plugins,
            name=spec.name,
            task=spec.task,
            lineage=lineage,
            labels=rows.labels,
            test_rows=rows.test[rows.columns],
            predictions=evaluation.data,
            metrics=_metric_components(scope),
            checked=lambda values: scope.checked_metrics(values)[0],
            repeats=None if rows.by_content else (rows.test[FINGERPRINT], rows.train[FINGERPRINT]),
        )

    # ------------------------------------------------------------------
    # register

    def training_rows(self, scope: Scope, store: Store, split: Split) -> RowsRecord:
        """A content rule: a few numbers, no blob of fingerprints gathered here."""
        return RowsRecord(dict(split.data.entry))

    @_cluster_errors
    def write_profile(
        self, scope: Scope, package_dir: Path, split: Split, evaluation: Evaluation
    ) -> None:
        from plugins.dask_execution.profile import write_profile_distributed

        rows: _Rows = split.data
        write_profile_distributed(
            package_dir, rows.x_train, split.signature, evaluation.data, rows.labels
        )

    @_cluster_errors
    def check_reload(
        self, scope: Scope, package_dir: Path, split: Split, evaluation: Evaluation
    ) -> None:
        from framework.execution import Predictions, check_reload
        from plugins.dask_execution.evaluation import first_rows, head

        rows: _Rows = split.data
        predictions: TestPredictions = evaluation.data
        x_test = first_rows(rows.x_test, RELOAD_ROWS)
        _, codes, proba = head(predictions, RELOAD_ROWS)
        check_reload(scope, package_dir, x_test, Predictions(codes, rows.labels, proba))

    # ------------------------------------------------------------------
    # predict, monitor

    @_cluster_errors
    def score(self, package: Any, input_path: Path, output_path: Path, **options: Any) -> Any:
        from plugins.dask_execution.scoring import score_partitioned

        return score_partitioned(self.client, package, input_path, output_path, **options)

    @_cluster_errors
    def read_batch(self, path: Path) -> Any:
        """``specops monitor --data PATH``: the batch, read and judged on the cluster."""
        from plugins.dask_execution.monitoring import read_batch

        return read_batch(self.client, path)


@dataclass
class _Rows:
    """``Split.data``: both sides of the table, lazy on the cluster. Each side holds the
    raw table's columns (the gate rescores the champion on them), the typed features
    (prefixed :data:`TYPED`), the target codes and the row fingerprints."""

    train: Any
    test: Any
    features: list[str]
    columns: list[str]
    labels: list[Any] | None
    entry: dict[str, Any]
    """The lineage's ``training_rows`` entry: the content rule that chose the rows."""
    signature: Any = None
    """The signature with training categories (set after the split): both sides'
    categorical features are coded against it, unseen values missing."""
    by_content: bool = True
    """Split by a content rule (identical rows share a side), not by time (the time
    column is not hashed: identical rows may fall on both sides, repeats the gate
    leaves out)."""

    def _x(self, side: Any) -> Any:
        x = side[[TYPED + name for name in self.features]]
        x = x.rename(columns={TYPED + name: name for name in self.features})
        if self.signature is None:
            return x
        from plugins.dask_execution.categories import apply_categories

        return apply_categories(x, self.signature)

    @property
    def x_train(self) -> Any:
        return self._x(self.train)

    @property
    def x_test(self) -> Any:
        return self._x(self.test)

    @property
    def y_train(self) -> Any:
        return self.train[CODES]

    @property
    def y_test(self) -> Any:
        return self.test[CODES]


def _fingerprints(part: Any, columns: list[str]) -> Any:
    """Each row's content fingerprint, as the local executor computes them."""
    import pandas as pd

    from framework.execution import row_hashes

    return pd.Series(row_hashes(part, columns), index=part.index, name=FINGERPRINT, dtype="uint64")


def _with_training_categories(signature: Any, rows: _Rows) -> tuple[Any, int | None]:
    """The signature with the categories the training split holds (the local
    executor's ``training_categories``, computed by the split's categories module),
    and the number of classes among the training targets (None for regression);
    ``rows`` codes both sides against those categories from now on."""
    from plugins.dask_execution.categories import training_categories_distributed

    classes = None
    if rows.labels is not None:
        classes = len(_distinct(rows.train, [CODES])[CODES])
    if any(c.role == "categorical" for c in signature.columns):
        signature = training_categories_distributed(signature, rows.x_train)
    rows.signature = signature
    return signature, classes


def _distinct(frame: Any, columns: list[str]) -> dict[str, Any]:
    """Each column's distinct non-missing values: per partition on the workers, merged
    here (a per-partition reduction, not Dask's shuffle-based ``unique``)."""
    import dask
    import numpy as np
    import pandas as pd

    parts = dask.compute(
        *[dask.delayed(_partition_distinct)(p, columns) for p in frame.to_delayed()]
    )
    return {
        name: pd.unique(np.concatenate([np.asarray(part[name], dtype=object) for part in parts]))
        if parts
        else np.array([], dtype=object)
        for name in columns
    }


def _partition_distinct(part: Any, columns: list[str]) -> dict[str, Any]:
    import numpy as np

    return {name: np.asarray(part[name].dropna().unique(), dtype=object) for name in columns}


def _metric_components(scope: Scope) -> dict[str, Any]:
    return {name: scope.plugins.build("metric", name) for name in scope.metric_names()}


class WorkerLost(UserError):
    """A worker left the cluster while LightGBM trained: its network cannot go on."""


TRAINING_TASK = "_train_part"
"""The key prefix of lightgbm.dask's per-worker training tasks."""


def _watched(
    client: Client, fit: Callable[[], Any], poll: float = 0.5, grace: float = 10.0
) -> None:
    """Run ``fit`` (LightGBM's distributed training) while watching the cluster's
    workers. LightGBM's workers form one network for the whole fit and pin their
    tasks to their workers, so a worker lost mid-fit is not recovered by Dask: the
    survivors fail on a closed socket, or the fit waits forever for the lost worker's
    task. So, once a worker has left: the fit ends at once when the lost worker was
    seen running a training task, or when a training task can no longer run anywhere
    (pinned to a worker that is gone); a worker never seen training (an idle one an
    adaptive cluster retires) does not end it, unless no training task was seen at
    all within ``grace`` seconds. Ending the fit cancels this process's tasks and
    raises :class:`WorkerLost` (exit 2), before anything is registered."""
    import threading
    import time

    before = set(_workers(client))
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            fit()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="specops-dask-fit", daemon=True)
    thread.start()
    lost: set[str] = set()
    trainers: set[str] = set()
    lost_since: float | None = None
    while thread.is_alive():
        thread.join(poll)
        trainers |= _training_workers(client)
        lost |= before - set(_workers(client))
        stranded = _stranded_training(client)
        if not (lost or stranded) or not thread.is_alive():
            continue
        lost_since = lost_since or time.monotonic()
        unknown = not trainers and time.monotonic() - lost_since > grace
        if lost & trainers or unknown or stranded:
            _cancel_own(client)
            gone = lost or set(stranded)
            raise _worker_lost(gone, "its training task cannot run on another worker")
    error = outcome.get("error")
    if error is None:
        return
    lost |= before - set(_workers(client))
    if lost:
        raise _worker_lost(lost, f"{type(error).__name__}: {str(error)[:200]}") from None
    raise error


def _stranded_training(client: Client) -> list[str]:
    """The gone workers that training tasks are pinned to (those tasks can never run)."""
    try:
        return list(client.run_on_scheduler(_unrunnable_training))
    except (OSError, TimeoutError, ValueError):
        return []


def _unrunnable_training(dask_scheduler: Any) -> list[str]:
    """(Run on the scheduler.) The workers, all gone, that LightGBM's unfinished training
    tasks are pinned to: those tasks wait forever (their data was on the lost worker
    too, so they may sit in ``waiting`` rather than ``no-worker``)."""
    alive = set(dask_scheduler.workers)
    done = ("memory", "erred", "released", "forgotten")
    return sorted(
        {
            str(worker)
            for key, task in dask_scheduler.tasks.items()
            if str(key).startswith(TRAINING_TASK)
            and task.state not in done
            and task.worker_restrictions
            and not task.loose_restrictions
            and not set(task.worker_restrictions) & alive
            for worker in task.worker_restrictions
        }
    )


def _training_workers(client: Client) -> set[str]:
    """Workers running one of LightGBM's training tasks now."""
    try:
        processing = client.processing()
    except (OSError, TimeoutError):
        return set()
    return {
        worker
        for worker, keys in processing.items()
        if any(str(key).startswith(TRAINING_TASK) for key in keys)
    }


def _workers(client: Client) -> list[str]:
    """The addresses of the cluster's workers now (a restarted worker has a new one)."""
    return list(client.scheduler_info(n_workers=-1).get("workers", {}))


def _cancel_own(client: Client) -> None:
    """Cancel what this process submitted (LightGBM's training tasks among them), so
    nothing keeps a worker of a shared cluster busy for a run that has ended."""
    from distributed import Future

    keys = list(client.futures)
    if keys:
        client.cancel([Future(key, client) for key in keys], force=True)


def _worker_lost(lost: set[str], what: str) -> WorkerLost:
    names = ", ".join(sorted(lost)[:3])
    return WorkerLost(
        f"a Dask worker was lost during training ({names}; {what}): LightGBM's distributed "
        "training cannot continue without it, so the run stops here, nothing registered"
        "\n  hint: run again (a LocalCluster or a nanny restarts the worker); if "
        "workers are killed for memory, raise execution.params.memory_limit"
    )


def _refusal(spec: Spec, plugins: Plugins, component: ComponentSpec) -> Finding | None:
    """None when the component can run on Dask, else why not and what to use instead.

    Splitters and transforms are judged by their step modules' own rules (a splitter
    must declare a content rule, a transform a distributed fit); the other kinds must
    have their distributed method (read on the class when the factory is one, else on
    a built component: factories are cheap). A component's ``distributed_instead``
    text, when it has one, is the advice given."""
    entry = plugins.registry.find(component.kind, component.type)
    if entry is None:
        return None  # an unknown type is validate's own finding, not ours
    subject: Any = entry.factory
    if not isinstance(subject, type) or component.kind in ("split", "transform"):
        try:
            subject = plugins.build(component.kind, component.type, component.kwargs())
        except Exception:  # bad params: reported by validate's schema pass
            return None
    if component.kind in ("split", "transform"):
        why = _step_refusal(spec, component, subject)
        if why is None:
            return None
        message, _, rest = why.partition("; use ")
        return Finding(message, hint=f"use {rest}" if rest else None)
    method, advice = NEEDS[component.kind]
    if callable(getattr(subject, method, None)):
        return None
    instead = getattr(subject, "distributed_instead", None)
    return Finding(
        f"{_kind_name(component.kind)} '{component.type}' {WHAT[component.kind]}: "
        "it cannot run with execution type dask",
        hint=instead if isinstance(instead, str) and instead else advice,
    )


def _step_refusal(spec: Spec, component: ComponentSpec, built: Any) -> str | None:
    if component.kind == "transform":
        from plugins.dask_execution.transforms import refusal

        return refusal(built, component.type)
    from framework import StepContext
    from plugins.dask_execution.split import refusal

    ctx = StepContext(spec.name, spec.task, spec.target, spec.base_dir, spec.seed, execution="dask")
    return refusal(built, component.type, ctx)


def _kind_name(kind: str) -> str:
    return {"split": "splitter"}.get(kind, kind)
