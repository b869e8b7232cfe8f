"""Compiling ``preprocess:`` into one scikit-learn pipeline, fitted on training data only.

Each transform sees the training features as they are at its point in the
pipeline and names the columns it applies to; the others pass through. The
fitted pipeline is stored with the model, so every prediction applies exactly
the transform the model was trained behind. When the model cannot take
categorical columns or missing values and ``preprocess`` does not deal with
them, an ``auto`` one-hot or impute step is added and reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework import contracts
from framework.columns import columns_with_role
from framework.components import StepContext

if TYPE_CHECKING:
    import pandas as pd

    from framework.plugins import Plugins
    from framework.spec.model import ComponentSpec


@dataclass
class FittedPreprocess:
    """The fitted pipeline (None when there is nothing to do) and what each step did."""

    pipeline: Any | None
    train: pd.DataFrame
    steps: list[str]


def _wrap(name: str, estimator: Any, columns: list[str]) -> Any:
    from sklearn.compose import ColumnTransformer

    wrapped = ColumnTransformer(
        [(name, estimator, columns)], remainder="passthrough", verbose_feature_names_out=False
    )
    return wrapped.set_output(transform="pandas")


def fit_preprocess(
    train: pd.DataFrame,
    transforms: tuple[ComponentSpec, ...],
    model: Any,
    plugins: Plugins,
    ctx: StepContext,
) -> FittedPreprocess:
    """Fit every transform in order on ``train``; add auto steps the model needs."""
    fitted: list[tuple[str, Any]] = []
    described: list[str] = []
    current = train

    def apply(name: str, type_name: str, component: Any) -> None:
        nonlocal current
        built = component.build(current, ctx)
        estimator, columns = contracts.transform_built(plugins, type_name, built, current.columns)
        if not columns:
            described.append(f"{name}: no matching columns, skipped")
            return
        step = _wrap(name, estimator, columns)
        current = step.fit_transform(current)
        fitted.append((name, step))
        described.append(f"{name}: {', '.join(columns[:6])}{' ...' if len(columns) > 6 else ''}")

    for index, spec in enumerate(transforms):
        component = plugins.build("transform", spec.type, spec.kwargs())
        apply(f"{index}_{spec.type}", spec.type, component)

    if not getattr(model, "native_categorical", True) and columns_with_role(current, "categorical"):
        apply("auto_one_hot", "one_hot", plugins.build("transform", "one_hot", {}))
    if not getattr(model, "handles_missing", True) and columns_with_role(
        current, "numeric", "boolean"
    ):
        # always, not only when training has gaps: the test split and served rows may
        apply("auto_impute", "impute", plugins.build("transform", "impute", {}))

    if not fitted:
        return FittedPreprocess(None, current, described)
    from sklearn.pipeline import Pipeline

    return FittedPreprocess(Pipeline(fitted), current, described)
