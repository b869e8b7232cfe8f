"""What each kind of component must provide.

A plugin registers a *factory* per component type (usually the component class);
the engine calls ``factory(**params)`` with the spec's validated ``params`` and then
the methods below. Factories and constructors must stay cheap: import pandas,
scikit-learn, LightGBM, ... inside the methods, so ``specops validate`` and
``specops plan`` stay fast.

The protocols are structural (:class:`typing.Protocol`): a component needs the
methods, not a base class. Every kind may also implement ``validate(ctx)`` which
returns :class:`Finding` objects for problems visible without running anything
(a data file that does not exist, say); ``specops validate`` reports them with the
spec location of the offending key.

Distributed execution (``execution: {type: dask}``) is opt-in per component, through
OPTIONAL methods next to the required ones below; a component without them runs
only locally, and the dask executor's ``validate`` refuses a spec naming it (exit
2, at its spec line, saying what to use instead). The executor protocol itself
(kind ``execution``) is in :mod:`framework.execution`.

============  ==============================================================  ==========
kind          optional members                                                called by
============  ==============================================================  ==========
source        ``load_distributed(ctx) -> dask.dataframe.DataFrame``;           ingest,
              ``partitions(ctx) -> int`` (cheap, no data read)                plan
check         ``run_distributed(ddf, ctx) -> list[CheckOutcome]``              check
split         ``distributed = True`` and ``content_rule(ctx) -> ContentRule``  split
transform     ``distributed = True`` (``build`` then sees a summary frame);    transform
              ``distributed_refusal``: why not, when False
model         ``fit_distributed(X, y, ctx, client)``;                          train
              ``distributed_instead``: what to use instead, without it
============  ==============================================================  ==========

Each protocol's docstring says what its method must return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

KINDS: tuple[str, ...] = (
    "source",
    "check",
    "split",
    "transform",
    "model",
    "metric",
    "deploy",
    "drift_test",
    "execution",
    "metadata_store",
    "artifact_store",
    "tracker",
    "runtime",
)
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")


class Register(Protocol):
    """The callback passed to every ``specops_register_*`` hook."""

    def __call__(
        self,
        type_name: str,
        factory: Callable[..., Any],
        params_schema: Mapping[str, Any] | None = None,
        *,
        summary: str = "",
    ) -> None: ...


@dataclass(frozen=True)
class Finding:
    """A problem a component sees in its own params, found without running.

    ``key`` names the offending param (``"path"``) so the spec location can be shown.
    """

    message: str
    """What is wrong, in the user's words: ``"file data/train.csv does not exist"``."""
    key: str | None = None
    """The param at fault, a dotted path inside the component's ``params``
    (``"path"``, ``"columns.0"``); None points at the component itself."""
    hint: str | None = None
    """What to do about it, shown under the message."""


@dataclass(frozen=True)
class StepContext:
    """What a component may know about the run it is part of.

    The engine builds one per run and passes the same object to every component;
    it is frozen, so a component cannot change what the next one sees. Outside
    ``specops run`` (``validate``, ``plan``, ``monitor``) ``run_id`` and
    ``store_root`` may be None.
    """

    spec_name: str
    """The spec's ``name:``, also the model's name in the registry."""
    task: str
    """The spec's ``task:``, one of :data:`TASKS` (``binary``, ``multiclass``, ``regression``)."""
    target: str
    """The spec's ``data.target``: the name of the column to predict."""
    base_dir: Path
    """The folder of the spec file, absolute; relative paths in a spec are relative to it.
    Use :meth:`path` rather than joining by hand."""
    seed: int = 0
    """The spec's ``seed:`` (default 0). Use it for anything random so reruns match."""
    run_id: str | None = None
    """The id of the run being executed (``specops runs show RUN_ID``); None outside a run."""
    store_root: Path | None = None
    """The folder of the store this run records into (``.specops/`` beside the spec by
    default); None outside a run. Deploy targets use it to refuse writing into the store."""
    execution: str = "local"
    """The spec's ``execution.type`` (``local``, ``dask``, ...): a source may judge its
    limits by how the table will be read (whole into this process, or partition by
    partition on workers)."""

    def path(self, value: str | Path) -> Path:
        """Resolve a path written in the spec: ``~`` is expanded, a relative path is taken
        from the spec's folder (:attr:`base_dir`), never from the current directory, so a
        spec runs the same from anywhere; the result is absolute with symlinks resolved."""
        path = Path(value).expanduser()
        return (path if path.is_absolute() else self.base_dir / path).resolve()


# ---------------------------------------------------------------------------
# source, check, split
# ---------------------------------------------------------------------------


@runtime_checkable
class Source(Protocol):
    """Loads the table named by ``data.source``.

    Optional, for ``execution: dask``: ``load_distributed(ctx)`` returns the same
    table as a lazy ``dask.dataframe.DataFrame`` (same columns, same dtypes as
    ``load`` gives; read on the workers, never materialised in this process), and
    ``partitions(ctx) -> int`` says how many partitions it would yield, cheaply (file
    listing, footers), for ``specops plan``.
    """

    def load(self, ctx: StepContext) -> pd.DataFrame:
        """The whole table, target column included; column names become text.

        Resolve file names with ``ctx.path(...)``. Raise :class:`framework.DataError` for
        data that cannot be read (exit code 2, no traceback)."""
        ...


@dataclass(frozen=True)
class CheckOutcome:
    """One verdict of a data check: shown in the run's table, recorded in the store."""

    check: str
    """The check's type name as the spec writes it (``"max_null_fraction"``)."""
    passed: bool
    """False stops the run after the check step (status ``failed_checks``, exit code 1)."""
    column: str | None = None
    """The column judged, or None for a verdict on the whole table."""
    observed: Any = None
    """What was measured (a number, a count, a list): JSON-serialisable, it is stored."""
    expected: Any = None
    """What the check required (``"<= 0.05"``), shown beside ``observed``."""
    detail: str = ""
    """One line for people: why it failed, or what was looked at."""


@runtime_checkable
class Check(Protocol):
    """Judges the ingested table; a failed outcome stops the run with exit code 1.

    Optional, for ``execution: dask``: ``run_distributed(ddf, ctx)`` judges a
    ``dask.dataframe.DataFrame`` with distributed aggregations and returns the SAME
    outcomes (verdicts, observed values, messages) as ``run`` on the same rows.
    """

    def run(self, frame: pd.DataFrame, ctx: StepContext) -> list[CheckOutcome]:
        """One outcome per thing judged (per column, say), passed or not. ``frame`` is the
        ingested table (target included) under ``checks:``, or a new batch under
        ``monitor.checks`` (where the target may be absent); do not modify it."""
        ...


@runtime_checkable
class Splitter(Protocol):
    """Cuts the table into (train, test); must be deterministic for ``ctx.seed``.

    Returns two DataFrames holding the rows, or two integer arrays of row
    positions (cheaper: nothing is copied until a step needs the rows).

    Optional, for ``execution: dask`` (and used locally too): a splitter that decides
    each row by its content and the seed, never by its position, declares the rule with
    ``content_rule(ctx) -> framework.execution.ContentRule | None`` ("test rows are the
    ``ceil(n * test_size)`` rows with the smallest ``mix(fingerprint, seed)``, per class
    when ``stratify``"); the executor applies it, so every executor and every
    partitioning gives the same rows and a duplicated row never sits on both sides.
    None means the splitter needs the whole table (``split`` is called, locally only).
    The class attribute ``distributed = True`` says the rule may run on a cluster; the
    dask executor refuses a splitter without it.
    """

    def split(self, frame: pd.DataFrame, ctx: StepContext) -> tuple[Any, Any]:
        """``(train, test)``: two integer arrays of row positions into ``frame`` (or two
        DataFrames). Both sides must be non-empty; the same seed gives the same rows."""
        ...


# ---------------------------------------------------------------------------
# transform, model, metric
# ---------------------------------------------------------------------------


@runtime_checkable
class Transform(Protocol):
    """One preprocessing step, compiled into the scikit-learn pipeline stored with the model.

    ``build`` sees the training features as they are at this point of the pipeline
    and returns an *unfitted* scikit-learn transformer plus the columns it applies
    to (other columns pass through untouched). The transformer must support
    ``set_output(transform="pandas")`` and be storable by skops.

    Optional, for ``execution: dask``: the class attribute ``distributed = True`` says
    the step can be fitted from distributed statistics. On a cluster ``build`` then
    receives a small pandas *summary frame* (the current columns and dtypes, every
    distinct value of each categorical column) and must return estimators the dask
    executor knows how to fit (``SimpleImputer``, ``MissingIndicator``, the scalers,
    ``OneHotEncoder``, ``OrdinalEncoder``, a ``ColumnTransformer`` of those, ``"drop"``,
    ``"passthrough"``); the fitted step is the SAME scikit-learn object the local fit
    stores. ``distributed_refusal`` (text) says why a step cannot, when its params
    prevent it; the dask executor shows it.
    """

    def build(self, frame: pd.DataFrame, ctx: StepContext) -> tuple[Any, list[str]]:
        """``(unfitted transformer, columns)``; the engine fits it on the training rows.
        An empty column list skips the step."""
        ...


@runtime_checkable
class Model(Protocol):
    """A trainable model.

    Class attributes tell the engine what the model accepts:

    * ``tasks``: the tasks it can learn (a subset of :data:`TASKS`);
    * ``native_categorical``: it takes pandas ``category`` columns as they are;
    * ``handles_missing``: it takes NaN in numeric columns.

    When a model lacks one of the last two the engine adds a one-hot encoding or
    an imputation step itself, and ``specops plan`` says so.

    Classification targets arrive encoded as integers ``0..k-1``; ``predict``
    returns those codes (or floats for regression) and ``predict_proba`` an
    ``(n, k)`` array. ``save`` writes safe files (no pickle) into a directory and
    the classmethod ``load`` reads them back.

    Optional, for ``execution: dask``: ``fit_distributed(X, y, ctx, client)`` learns
    from a ``dask.dataframe.DataFrame`` ``X`` and a dask series ``y`` on the cluster of
    ``client`` (a ``distributed.Client``), e.g. with ``lightgbm.dask``; afterwards the
    component is a plain local model: ``save``, ``predict`` and ``predict_proba`` work as
    after ``fit``. A model without it may say what to use instead in the class
    attribute ``distributed_instead`` (``"use type: lightgbm, or execution: local"``).
    """

    tasks: frozenset[str]
    """The tasks it can learn, a subset of :data:`TASKS`; ``validate`` refuses the others."""
    native_categorical: bool
    """True if ``fit`` takes pandas ``category`` columns as they are; else the engine
    one-hot encodes them first."""
    handles_missing: bool
    """True if ``fit`` and ``predict`` take NaN in numeric columns; else the engine imputes."""

    def fit(self, X: pd.DataFrame, y: np.ndarray, ctx: StepContext) -> None:
        """Learn from the training features ``X`` (after preprocessing, target removed)
        and targets ``y`` (codes ``0..k-1``, or floats for regression)."""
        ...

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """One prediction per row: class codes, or floats for regression."""
        ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, shape ``(n, k)``, rows summing to 1; for classification
        tasks only (never called for regression)."""
        ...

    def save(self, directory: Path) -> None:
        """Write the fitted model into ``directory`` (it exists and is empty), in safe files
        only: JSON, a library's own text format, or :func:`framework.save_skops`."""
        ...

    @classmethod
    def load(cls, directory: Path) -> Model:
        """Read back what :meth:`save` wrote; predictions must be identical. Use
        :func:`framework.load_skops` for skops files: it refuses untrusted types."""
        ...


@runtime_checkable
class Metric(Protocol):
    """A score of predictions on the test split, named by a key of ``gate:``.

    ``tasks`` lists the tasks it applies to, ``higher_is_better`` its direction and
    ``bounds`` the range of possible values (``None`` for an open end), which lets
    ``specops validate`` refuse thresholds that can never be met. ``y_score`` is
    the positive-class probability for binary tasks, the ``(n, k)`` probabilities
    for multiclass and None for regression.
    """

    tasks: frozenset[str]
    """The tasks it applies to; a gate naming it for another task is refused by ``validate``."""
    higher_is_better: bool
    """Its direction: a gate's ``min`` then means "at least" and the champion comparison
    prefers the larger value (False: ``max``, smaller is better)."""
    bounds: tuple[float | None, float | None]
    """``(lowest, highest)`` possible values, None for an open end (``(0.0, 1.0)`` for
    accuracy, ``(0.0, None)`` for RMSE); ``validate`` refuses a threshold outside them."""

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray, y_score: Any) -> float:
        """The score: ``y_true`` and ``y_pred`` hold class codes (floats for regression).
        The value must lie within ``bounds``."""
        ...


# ---------------------------------------------------------------------------
# deploy
# ---------------------------------------------------------------------------


@dataclass
class Release:
    """A model version that passed its gate, handed to each deploy target.

    ``package_dir`` holds the self-contained model package (model files,
    ``transform.skops``, ``signature.json``, ``model.json``); ``set_alias`` asks
    for a registry alias (``champion``, ...) to point at this version, with a
    reason: the engine moves it once every deploy target has succeeded;
    ``load()`` returns the package ready to predict (``framework.package.ModelPackage``).
    """

    name: str
    """The model's name in the registry (the spec's ``name:``)."""
    version: int
    """The new version number, 1 for a name's first model."""
    task: str
    """The spec's task: ``binary``, ``multiclass`` or ``regression``."""
    package_dir: Path
    """The stored model package; read it, never write into it (it is hash-checked).
    It is a temporary copy, removed once the deploy step ends: copy what you need during
    ``deploy()`` (``framework.write_release_package(release, directory)`` does), never
    keep the path for later (an upload started in the background, say)."""
    metrics: dict[str, float]
    """The test-split metrics the gate judged, by metric name."""
    set_alias: Callable[[str, str], None]
    """``set_alias(alias, reason)``: ask for ``alias`` (``"champion"``) to point at this
    version. Aliases move together once every deploy target has succeeded, so a failed
    target leaves the registry as it was. ``alias`` is what ``NAME@ALIAS`` can name
    (lower case letters, digits, ``_`` and ``-``, starting with a letter) and ``reason``
    text; anything else raises."""
    load: Callable[[], Any]
    """``load()`` returns the package ready to predict: ``package.predict(frame)`` returns
    ``(predictions, ignored_columns)``; use it to smoke-test a version before publishing
    it, or pass it to :func:`framework.score_file`."""
    store_root: Path | None = None
    """The store the version was registered in (its local working directory when the
    store is shared: see ``store_url``)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Reserved for future use; the engine passes it empty."""
    spec_document: Mapping[str, Any] | None = None
    """The effective spec as the run stored it (``${env:...}`` values still placeholders),
    safe to write into a build context: a container that runs ``specops monitor`` needs it."""
    spec_path: Path | None = None
    """The spec file the run was started from."""
    store_url: str | None = None
    """The shared store's metadata URL, safe to show (no password), when the run's store is
    not a local directory; None for a local store. A deploy target that starts servers
    elsewhere points them at it (credentials come from the environment there)."""


@dataclass(frozen=True)
class DeployOutcome:
    """What a deploy target did, for the run's summary."""

    summary: str
    """One line for the run's summary table (``"package written to /srv/models/churn"``)."""
    location: str | None = None
    """Where the model now is (a path, a URL, ``name/version``), recorded with the run."""


@runtime_checkable
class DeployTarget(Protocol):
    """Puts a released model version somewhere it can be used."""

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome:
        """Publish ``release``; raise :class:`framework.UserError` for a place it must not
        write (the aliases then stay where they were)."""
        ...


# ---------------------------------------------------------------------------
# drift_test
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftResult:
    """One column's drift verdict: the number compared with the threshold, and why.

    ``drift_if`` says which side of the threshold is drift: ``">="`` for distances
    (PSI, Jensen-Shannon, Wasserstein), ``"<"`` for p-values (KS, chi-square).
    ``measure`` names the number (``"p_value"``, ``"distance"``, ``"psi"``).
    """

    statistic: float
    """The measured number (a distance, a p-value), compared with ``threshold``."""
    threshold: float
    """The limit the statistic was compared with, shown beside it in every report."""
    drifted: bool
    """The verdict; it must agree with ``statistic``, ``drift_if`` and ``threshold``."""
    detail: str = ""
    """One line for people (``"mean moved 0.42 sd"``), shown in the report."""
    drift_if: str = ">="
    """Which side of ``threshold`` is drift: ``">="`` (distances) or ``"<"`` (p-values)."""
    measure: str = "distance"
    """What ``statistic`` is: ``"distance"``, ``"p_value"``, ``"psi"``, ...; reports label it."""


@runtime_checkable
class DriftTest(Protocol):
    """Compares one column of new data with the same column's reference profile.

    ``roles`` lists the column roles it applies to (``numeric``, ``categorical``).
    ``statistic`` receives the column's stored profile
    (:class:`framework.ColumnProfile`: counts, quantiles, the
    ECDF on 1,001 quantile points, decile bins, category counts) and the new
    batch's non-null values of that column: float64 for numeric columns, text
    for categorical ones. It must be vectorised: batches have millions of rows.
    """

    roles: frozenset[str]
    """The column roles it can judge: ``{"numeric"}``, ``{"categorical"}`` or both;
    ``validate`` refuses it for a column of another role."""

    def statistic(self, reference: Any, current: pd.Series) -> DriftResult:
        """The verdict for one column: ``reference`` is its
        :class:`framework.ColumnProfile`, ``current`` the batch's non-missing values
        (sorted float64 for numeric columns, a text category for categorical ones)."""
        ...


def check_findings(component: object, ctx: StepContext) -> Iterable[Finding]:
    """The component's own static findings, if it implements ``validate``."""
    validate = getattr(component, "validate", None)
    return validate(ctx) if callable(validate) else ()
