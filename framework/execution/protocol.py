"""The contract between the engine and an executor (component kind ``execution``).

The engine (:mod:`framework.engine`) runs the lifecycle as a list of small step
functions: it announces each step, records what happened and decides what comes
next, but never touches the data. Everything that reads rows (the source's
table, the target, fingerprints, the split, fitting, predicting, metrics, the
champion's rescoring, the monitoring profile) is a method of the executor the
spec's ``execution:`` names: ``local`` (pandas in this process, the default) or
``dask`` (a ``distributed`` cluster), or a third party's (Ray, say).

Values flow from one method to the next in the data classes below. Each carries
the plain facts the engine reports and records (row counts, hashes, the
signature, metric values) and an opaque ``data`` that only the executor that made
it reads: a pandas frame locally, dask collections on a cluster. The engine never
looks inside ``data``.

Order of calls in ``specops run`` (an executor is built once per run)::

    with executor.session(say):
        table = executor.ingest(scope, source)
        executor.keep_snapshot(scope, store, table)        # if store.snapshot_data
        executor.check(scope, table)                       # if the spec has checks
        split = executor.split(scope, table, splitter)
        prepared = executor.fit_transform(scope, split, model)
        executor.train(scope, model, split, prepared)
        evaluation = executor.evaluate(scope, model, split, prepared)
        executor.compare(scope, store, split, evaluation, lineage)    # the gate
        executor.training_rows(scope, store, split)                   # register
        executor.write_profile(scope, package_dir, split, evaluation)
        executor.check_reload(scope, package_dir, split, evaluation)

``validate`` and ``describe`` are called without a session, by ``specops validate``
and ``specops plan``: they must not connect to anything or read data.

Errors: bad data is a :class:`framework.DataError` (exit 2), with the same message
the local executor gives for the same data where it can. A component that breaks
its contract is ``framework.contracts.broken(...)``, as the local executor does.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from framework.champion import Comparison
    from framework.components import CheckOutcome, Finding, StepContext
    from framework.plugins import Plugins
    from framework.signature import Signature
    from framework.spec.model import Spec
    from framework.store import Store

Say = Callable[[str], None]
"""``say(text)``: print one line for the user on stderr (the CLI's console), e.g. the
dashboard address of a cluster just started. Never print secrets through it."""


@dataclass(frozen=True)
class Scope:
    """What every executor call may use: the validated spec, the loaded plugins and
    the run's :class:`framework.StepContext` (the same object components receive)."""

    spec: Spec
    plugins: Plugins
    ctx: StepContext

    def metric_names(self) -> list[str]:
        """Every registered metric that fits the spec's task, in report order."""
        from framework.plan import metrics_for

        return metrics_for(self.spec, self.plugins)

    def metrics(
        self, y_true: Any, y_pred: Any, y_score: Any
    ) -> tuple[dict[str, float], dict[str, bool]]:
        """Compute every metric here (in this process) on exact arrays, each value
        checked against the metric's contract: ``(values, higher_is_better)`` by name.
        Executors that compute metrics elsewhere (on a worker) pass what they got to
        :meth:`checked_metrics` instead."""
        metrics, directions = {}, {}
        for name in self.metric_names():
            metric = self.plugins.build("metric", name)
            value = metric.compute(y_true, y_pred, y_score)
            metrics[name], directions[name] = self._checked(name, metric, value)
        return metrics, directions

    def checked_metrics(self, values: dict[str, Any]) -> tuple[dict[str, float], dict[str, bool]]:
        """Metric values computed elsewhere (``{name: value}`` for every name of
        :meth:`metric_names`), checked like :meth:`metrics` checks its own."""
        metrics, directions = {}, {}
        for name, value in values.items():
            metric = self.plugins.build("metric", name)
            metrics[name], directions[name] = self._checked(name, metric, value)
        return metrics, directions

    def _checked(self, name: str, metric: Any, value: Any) -> tuple[float, bool]:
        from framework import contracts

        return contracts.metric_value(self.plugins, name, metric, value), bool(
            metric.higher_is_better
        )


@dataclass
class Table:
    """The ingested table: validated, target encoded, features chosen, hashed."""

    data: Any
    """The executor's own handle (local: the pandas frame; dask: the dask frame)."""
    rows: int
    """Number of rows (exact)."""
    columns: list[str]
    """Every column name of the source's table, as text, in order (target included)."""
    data_hash: str
    """The table's content hash (``framework.lineage.frame_hash`` locally): recorded as
    the dataset's identity, and decides whether a champion trained on the same data."""
    signature: Signature
    """The features' input signature (roles, dtypes); categories are filled at split."""
    labels: list[Any] | None
    """Class labels in code order (codes ``0..k-1``); None for regression."""
    excluded: list[str] = field(default_factory=list)
    """Datetime columns left out of the features (reported in the ingest line)."""


@dataclass
class Split:
    """The train and test rows, decided by the spec's splitter."""

    data: Any
    """The executor's own handle (train/test rows, targets, fingerprints)."""
    train_rows: int
    test_rows: int
    signature: Signature
    """The signature with training categories (what is stored with the model)."""
    train_classes: int | None = None
    """Distinct classes among the training targets; None for regression. The engine
    refuses a training split with a single class."""


@dataclass
class Prepared:
    """The fitted preprocessing: the scikit-learn pipeline stored with the model."""

    pipeline: Any | None
    """The fitted pipeline (the same objects whatever the executor), None for none."""
    steps: list[str]
    """One line per step (``impute (median): 3 columns``), shown in the transform line."""
    columns: int
    """Number of columns the model receives (after preprocessing)."""
    data: Any = None
    """The executor's own handle (transformed train/test rows)."""


@dataclass
class Evaluation:
    """The candidate's exact metrics on its test split."""

    metrics: dict[str, float]
    """Metric values by name, checked (:meth:`Scope.metrics`)."""
    directions: dict[str, bool]
    """``higher_is_better`` by metric name."""
    data: Any = None
    """The executor's own handle (the test predictions, for the gate and the profile)."""


@dataclass
class RowsRecord:
    """What this version trained on, for a later gate that scores it as champion."""

    entry: dict[str, Any]
    """``lineage["training_rows"]``: ``{"scheme": ..., ...}``; a scheme
    :mod:`framework.champion` understands (a fingerprint blob, or a content rule)."""
    ensure: Callable[[], None] = lambda: None
    """Called once the version is committed: put back a blob a concurrent ``store gc``
    may have removed between writing it and the commit (nothing to do for a rule)."""


@runtime_checkable
class Executor(Protocol):
    """Where the data-heavy work of a run happens. Built per run from
    ``execution: {type, params}`` by its plugin's factory (``factory(**params)``, cheap:
    no connection, no heavy import).

    Optional attribute ``packages: tuple[str, ...]``: distributions whose installed
    versions the run's lineage records besides the core ones (``("dask",
    "distributed")``), so ``reproduce`` names them when they changed.
    """

    def validate(self, spec: Spec, plugins: Plugins) -> list[tuple[str, Finding]]:
        """Called by ``specops validate``, ``plan`` and before a run: every component of
        ``spec`` that cannot run here, as ``(component path, finding)`` (``("model",
        Finding("scikit-learn models do not train on dask", hint="use lightgbm or
        execution: local"))``); the path is a :attr:`ComponentSpec.path` or
        ``"execution"``. Nothing may connect or read data. Empty: all can run."""
        ...

    def describe(self, spec: Spec, plugins: Plugins, ctx: StepContext) -> list[str]:
        """Called by ``specops plan``: lines saying where the run would happen (the
        cluster's address or the LocalCluster it would start, how many partitions the
        source yields). Cheap; no connection to a cluster; no secret in a line."""
        ...

    def session(self, say: Say) -> AbstractContextManager[None]:
        """Called around a whole run (``with executor.session(say): ...``): connect to
        or start what the executor needs and release it on exit, whatever happened
        (close only what it started). ``say`` prints a line for the user."""
        ...

    def ingest(self, scope: Scope, source: Any) -> Table:
        """The ``ingest`` step: load ``source`` (a built source component, or a data
        snapshot), refuse an unusable table (no rows, duplicate or blank column names,
        a missing target, missing target values, too many classes: DataError), encode
        the target, choose the features and infer their signature, hash the content."""
        ...

    def keep_snapshot(
        self, scope: Scope, store: Store, table: Table
    ) -> tuple[str | None, str | None]:
        """At ingest when ``store.snapshot_data``: keep the table in the store for
        ``specops reproduce``; ``(snapshot id, None)`` or ``(None, why not)`` (a table
        that cannot be kept is noted, not fatal).

        Optional instead: ``start_snapshot(scope, store, table)`` returning a function
        that gives the same pair. The engine calls it at ingest and the function at the
        end of the split step (or when the run ends sooner), so the snapshot can be
        written while the check and split steps run (``local`` does)."""
        ...

    def check(self, scope: Scope, table: Table) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
        """The ``check`` step: run ``spec.checks`` on the table; ``(every outcome,
        the failed ones of severity error)``, the same verdicts and messages whatever
        the executor."""
        ...

    def split(self, scope: Scope, table: Table, splitter: Any) -> Split:
        """The ``split`` step: train and test rows by ``splitter`` (built from
        ``data.split``), the training categories, and each row's fingerprint (kept in
        ``Split.data`` for :meth:`training_rows` and :meth:`compare`)."""
        ...

    def fit_transform(self, scope: Scope, split: Split, model: Any) -> Prepared:
        """The ``transform`` step: fit ``spec.preprocess`` (plus the steps ``model``
        needs: one-hot, impute) on the training rows; transform train and test."""
        ...

    def train(self, scope: Scope, model: Any, split: Split, prepared: Prepared) -> None:
        """The ``train`` step: fit ``model`` on the prepared training rows. Afterwards
        ``model`` is a plain fitted component (``save``/``predict`` work locally)."""
        ...

    def evaluate(self, scope: Scope, model: Any, split: Split, prepared: Prepared) -> Evaluation:
        """The ``evaluate`` step: predict the test rows (outputs checked with
        ``framework.contracts``) and compute every metric exactly."""
        ...

    def compare(
        self,
        scope: Scope,
        store: Store,
        split: Split,
        evaluation: Evaluation,
        lineage: dict[str, Any],
    ) -> Comparison:
        """The ``gate`` step: the champion's metrics on test rows neither model trained
        on (``framework.champion``), or its recorded ones, and why."""
        ...

    def training_rows(self, scope: Scope, store: Store, split: Split) -> RowsRecord:
        """At ``register``: record what the candidate trained on (a blob of row
        fingerprints in ``store``, or a content rule) for a later gate."""
        ...

    def write_profile(
        self, scope: Scope, package_dir: Path, split: Split, evaluation: Evaluation
    ) -> None:
        """At ``register``: write the monitoring reference profile of the training
        rows and test predictions into ``package_dir`` (the format of
        ``framework.monitoring.profile``)."""
        ...

    def check_reload(
        self, scope: Scope, package_dir: Path, split: Split, evaluation: Evaluation
    ) -> None:
        """At ``register``: load ``package_dir`` as ``predict`` will and predict a few
        test rows again; raise ``contracts.broken`` when they differ or it cannot load."""
        ...

    def score(self, package: Any, input_path: Path, output_path: Path, **options: Any) -> Any:
        """``specops predict``: score ``input_path`` with ``package`` into
        ``output_path``; returns a ``framework.scoring.ScoreResult``. ``options`` are
        ``score_file``'s keywords (``id_column``, ``chunk_rows``, ``strict_columns``,
        ``progress``). Called inside :meth:`session`."""
        ...

    def read_batch(self, path: Path) -> Any:
        """``specops monitor --data PATH``: the new batch (a CSV or Parquet file, a
        Parquet directory, a glob of either) as a
        ``framework.monitoring.batch_rows.BatchRows``, its rows held where this
        executor computes; the monitor judges it there. Called inside :meth:`session`.
        Optional: without it, ``monitor`` on this executor says to use ``local``."""
        ...
