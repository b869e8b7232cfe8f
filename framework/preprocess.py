"""Compiling ``preprocess:`` into one scikit-learn pipeline, fitted on training data only.

Each transform sees the training features as they are at its point in the
pipeline and names the columns it applies to; the others pass through. The
fitted pipeline is stored with the model, so every prediction applies exactly
the transform the model was trained behind. When the model cannot take
categorical columns or missing values and ``preprocess`` does not deal with
them, an ``auto`` one-hot or impute step is added and reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework import contracts
from framework.columns import columns_with_role
from framework.components import StepContext
from framework.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from framework.plugins import Plugins
    from framework.spec.model import ComponentSpec


@dataclass
class FittedPreprocess:
    """The fitted pipeline (None when there is nothing to do) and what each step did."""

    pipeline: Any | None
    train: Any
    """The training features after the pipeline: a pandas frame locally, a lazy dask
    frame when fitted on a cluster (plugins/dask_execution/transforms.py)."""
    steps: list[str]


def wrap_step(name: str, estimator: Any, columns: list[str]) -> Any:
    """One step as it is stored: the estimator on its columns, the others passed through,
    pandas out (so the next step sees column names and dtypes)."""
    from sklearn.compose import ColumnTransformer

    wrapped = ColumnTransformer(
        [(name, estimator, columns)], remainder="passthrough", verbose_feature_names_out=False
    )
    return wrapped.set_output(transform="pandas")


SKLEARN_WORDS = ("drop", "passthrough")
"""What ColumnTransformer accepts in place of a transformer (``drop`` uses it)."""


class _Word:
    """Stands for "drop"/"passthrough" in the contract check, which wants fit/transform."""

    def fit(self) -> None: ...

    def transform(self) -> None: ...


def checked_build(
    plugins: Plugins, type_name: str, built: Any, columns: Any
) -> tuple[Any, list[str]]:
    """A transform's (unfitted transformer, columns), checked by its contract; scikit-learn's
    words "drop" and "passthrough" are transformers too."""
    if isinstance(built, tuple | list) and len(built) == 2 and _is_word(built[0]):
        _, chosen = contracts.transform_built(plugins, type_name, (_Word(), built[1]), columns)
        return built[0], chosen
    return contracts.transform_built(plugins, type_name, built, columns)


def _is_word(value: Any) -> bool:
    return isinstance(value, str) and value in SKLEARN_WORDS


FitStep = Callable[[str, str, Any, Any], tuple[Any | None, Any, list[str]]]
"""``fit_step(name, type_name, component, current) -> (fitted step | None, current after it,
columns)``: how one executor fits one step (None and no columns: nothing to do)."""


def fit_preprocess(
    train: pd.DataFrame,
    transforms: tuple[ComponentSpec, ...],
    model: Any,
    plugins: Plugins,
    ctx: StepContext,
) -> FittedPreprocess:
    """Fit every transform in order on ``train``; add auto steps the model needs."""

    def fit_here(name: str, type_name: str, component: Any, current: Any) -> Any:
        built = component.build(current, ctx)
        estimator, columns = checked_build(plugins, type_name, built, current.columns)
        if not columns:
            return None, current, columns
        step = wrap_step(name, estimator, columns)
        return step, step.fit_transform(current), columns

    return fit_steps(train, transforms, model, plugins, fit_here, lambda current: current)


def fit_steps(
    train: Any,
    transforms: tuple[ComponentSpec, ...],
    model: Any,
    plugins: Plugins,
    fit_step: FitStep,
    columns_of: Callable[[Any], pd.DataFrame],
) -> FittedPreprocess:
    """The spec's steps, then the auto steps the model needs, each fitted by ``fit_step``
    on the data as the previous steps left it: the one sequence every executor follows.
    ``columns_of(current)`` is a pandas frame with the current columns and dtypes (the
    data itself locally, an empty frame on a cluster): roles are read from dtypes."""
    fitted: list[tuple[str, Any]] = []
    described: list[str] = []
    current = train

    def apply(name: str, type_name: str, component: Any) -> None:
        nonlocal current
        step, current, columns = fit_step(name, type_name, component, current)
        if step is None:
            described.append(f"{name}: no matching columns, skipped")
            return
        fitted.append((name, step))
        described.append(f"{name}: {', '.join(columns[:6])}{' ...' if len(columns) > 6 else ''}")
        if len(columns_of(current).columns) == 0:  # a model fitted on nothing fails obscurely
            raise DataError(
                f"preprocess step {name} leaves the model no columns (it removes "
                f"{', '.join(map(repr, columns[:6]))}{' ...' if len(columns) > 6 else ''}, "
                "the last ones)",
                hint="keep at least one feature: remove a column from the step's columns",
            )

    for index, spec in enumerate(transforms):
        component = plugins.build("transform", spec.type, spec.kwargs())
        apply(f"{index}_{spec.type}", spec.type, component)

    if not getattr(model, "native_categorical", True) and columns_with_role(
        columns_of(current), "categorical"
    ):
        apply("auto_one_hot", "one_hot", plugins.build("transform", "one_hot", {}))
    if not getattr(model, "handles_missing", True) and columns_with_role(
        columns_of(current), "numeric", "boolean"
    ):
        # always, not only when training has gaps: the test split and served rows may
        apply("auto_impute", "impute", plugins.build("transform", "impute", {}))

    if not fitted:
        return FittedPreprocess(None, current, described)
    from sklearn.pipeline import Pipeline

    return FittedPreprocess(Pipeline(fitted), current, described)
