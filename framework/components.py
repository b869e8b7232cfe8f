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
    key: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class StepContext:
    """What a component may know about the run it is part of."""

    spec_name: str
    task: str
    target: str
    base_dir: Path
    seed: int = 0
    run_id: str | None = None
    store_root: Path | None = None  # the store this run records into

    def path(self, value: str | Path) -> Path:
        """Resolve a path written in the spec: relative paths are relative to the spec."""
        path = Path(value).expanduser()
        return (path if path.is_absolute() else self.base_dir / path).resolve()


# ---------------------------------------------------------------------------
# source, check, split
# ---------------------------------------------------------------------------


@runtime_checkable
class Source(Protocol):
    """Loads the table named by ``data.source``."""

    def load(self, ctx: StepContext) -> pd.DataFrame: ...


@dataclass(frozen=True)
class CheckOutcome:
    """One verdict of a data check: shown in the run's table, recorded in the store."""

    check: str
    passed: bool
    column: str | None = None
    observed: Any = None
    expected: Any = None
    detail: str = ""


@runtime_checkable
class Check(Protocol):
    """Judges the ingested table; a failed outcome stops the run with exit code 1."""

    def run(self, frame: pd.DataFrame, ctx: StepContext) -> list[CheckOutcome]: ...


@runtime_checkable
class Splitter(Protocol):
    """Cuts the table into (train, test); must be deterministic for ``ctx.seed``.

    Returns two DataFrames holding the rows, or two integer arrays of row
    positions (cheaper: nothing is copied until a step needs the rows).
    """

    def split(self, frame: pd.DataFrame, ctx: StepContext) -> tuple[Any, Any]: ...


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
    """

    def build(self, frame: pd.DataFrame, ctx: StepContext) -> tuple[Any, list[str]]: ...


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
    """

    tasks: frozenset[str]
    native_categorical: bool
    handles_missing: bool

    def fit(self, X: pd.DataFrame, y: np.ndarray, ctx: StepContext) -> None: ...

    def predict(self, X: pd.DataFrame) -> np.ndarray: ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...

    def save(self, directory: Path) -> None: ...

    @classmethod
    def load(cls, directory: Path) -> Model: ...


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
    higher_is_better: bool
    bounds: tuple[float | None, float | None]

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray, y_score: Any) -> float: ...


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
    version: int
    task: str
    package_dir: Path
    metrics: dict[str, float]
    set_alias: Callable[[str, str], None]
    load: Callable[[], Any]
    store_root: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeployOutcome:
    """What a deploy target did, for the run's summary."""

    summary: str
    location: str | None = None


@runtime_checkable
class DeployTarget(Protocol):
    """Puts a released model version somewhere it can be used."""

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome: ...


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
    threshold: float
    drifted: bool
    detail: str = ""
    drift_if: str = ">="
    measure: str = "distance"


@runtime_checkable
class DriftTest(Protocol):
    """Compares one column of new data with the same column's reference profile.

    ``roles`` lists the column roles it applies to (``numeric``, ``categorical``).
    ``statistic`` receives the column's stored profile
    (:class:`framework.monitoring.profile.ColumnProfile`: counts, quantiles, the
    ECDF on 1,001 quantile points, decile bins, category counts) and the new
    batch's non-null values of that column: float64 for numeric columns, text
    for categorical ones. It must be vectorised: batches have millions of rows.
    """

    roles: frozenset[str]

    def statistic(self, reference: Any, current: pd.Series) -> DriftResult: ...


def check_findings(component: object, ctx: StepContext) -> Iterable[Finding]:
    """The component's own static findings, if it implements ``validate``."""
    validate = getattr(component, "validate", None)
    return validate(ctx) if callable(validate) else ()
