"""scikit-learn models: logistic/linear/ridge regression, random forest, extra trees,
histogram gradient boosting.

One generic :class:`SklearnModel` does the work; each model type is a subclass
that only declares which estimator classes it uses (imported lazily, by name),
the tasks it learns, what it accepts and its params schema. Fitted estimators
are stored with skops (never pickle) and read back through the framework's
trusted loader, which refuses files naming foreign types.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from framework import (
    Finding,
    StepContext,
    hookimpl,
    load_skops,
    save_skops,
    text_as_categories,
)
from plugins.models._common import class_count, read_meta, write_meta

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework import Register

MODEL_FILE = "model.skops"

ALL_TASKS = frozenset({"binary", "multiclass", "regression"})
CLASSIFICATION = frozenset({"binary", "multiclass"})
REGRESSION = frozenset({"regression"})


@dataclass(frozen=True)
class Estimators:
    """Where a model type's scikit-learn classes live, imported only when training."""

    module: str
    classifier: str | None = None
    regressor: str | None = None

    def for_task(self, task: str) -> type:
        name = self.regressor if task == "regression" else self.classifier
        if name is None:
            raise ValueError(f"{self.module} offers no estimator for task '{task}'")
        return getattr(importlib.import_module(self.module), name)


def _schema(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False}


MAX_ROUNDS = 100_000
"""Trees, boosting rounds or solver iterations: a spec's typo (1e9) must not train for days
(LightGBM's n_estimators has the same bound)."""


def _integer(minimum: int, default: int | None, description: str, nullable: bool = False) -> dict:
    kind: Any = ["integer", "null"] if nullable else "integer"
    return {"type": kind, "minimum": minimum, "default": default, "description": description}


def _number(default: float, description: str, **bounds: float) -> dict[str, Any]:
    return {"type": "number", **bounds, "default": default, "description": description}


def _boolean(default: bool, description: str) -> dict[str, Any]:
    return {"type": "boolean", "default": default, "description": description}


CLASS_WEIGHT = {
    "enum": [None, "balanced"],
    "default": None,
    "description": "'balanced' weighs classes inversely to their frequency (classification only).",
}
RANDOM_STATE = {
    **_integer(0, None, "Random seed; null uses the run's seed.", nullable=True),
    "maximum": 2**32 - 1,  # what scikit-learn accepts: refused at validate, not at fit
}
N_JOBS = {
    "type": ["integer", "null"],
    "minimum": -1,
    "default": None,
    "description": "Parallel jobs; null means 1, -1 every core.",
}
FIT_INTERCEPT = _boolean(True, "Learn an intercept (turn off only for centred data).")
MAX_DEPTH = _integer(
    1, None, "Maximum tree depth; null grows until leaves are pure.", nullable=True
)


def forest_schema(bootstrap: bool) -> dict[str, Any]:
    """Random forest and extra trees share their hyperparameters, not their bootstrap default."""
    return _schema(
        n_estimators={**_integer(1, 100, "Number of trees."), "maximum": MAX_ROUNDS},
        max_depth=MAX_DEPTH,
        min_samples_split=_integer(2, 2, "Minimum rows to split a node."),
        min_samples_leaf=_integer(1, 1, "Minimum rows in a leaf; raise it to smooth predictions."),
        max_features={
            "anyOf": [
                {"enum": ["sqrt", "log2", None]},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            ],
            "description": "Features tried per split: 'sqrt', 'log2', a fraction, or null "
            "for all. Default: 'sqrt' for classification, all for regression.",
        },
        bootstrap=_boolean(bootstrap, "Train each tree on a bootstrap sample of the rows."),
        class_weight={
            **CLASS_WEIGHT,
            "enum": [None, "balanced", "balanced_subsample"],
            "description": CLASS_WEIGHT["description"]
            + " 'balanced_subsample' recomputes weights per bootstrap sample.",
        },
        n_jobs=N_JOBS,
        random_state=RANDOM_STATE,
    )


class SklearnModel:
    """A scikit-learn estimator picked by task, trained with the spec's params."""

    type_name: ClassVar[str]
    summary: ClassVar[str]
    estimators: ClassVar[Estimators]
    params_schema: ClassVar[dict[str, Any]]
    tasks: ClassVar[frozenset[str]]
    native_categorical: ClassVar[bool] = False
    handles_missing: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = {}
    """Params specops sets differently from scikit-learn; the spec may override them."""
    classifier_only: ClassVar[frozenset[str]] = frozenset({"class_weight"})
    distributed_instead: ClassVar[str] = "use type: lightgbm, or execution: local"
    """There is no ``fit_distributed``: scikit-learn fits in one process on data in its
    memory. What ``execution: dask``'s validate tells the user to use instead."""

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.params_schema["properties"]))
        if unknown:
            raise TypeError(f"{self.type_name} got unknown params: {', '.join(unknown)}")
        self.params = params
        self.task: str | None = None
        self.n_classes = 0
        self.estimator: Any = None

    def validate(self, ctx: StepContext) -> list[Finding]:
        if ctx.task != "regression":
            return []
        return [
            Finding(f"{key} applies to classification only", key=key)
            for key in sorted(self.classifier_only & set(self.params))
            if self.params[key] is not None
        ]

    def fit(self, X: pd.DataFrame, y: np.ndarray, ctx: StepContext) -> None:
        import numpy as np

        params = {**self.defaults, **self.params}
        if ctx.task == "regression":  # validate refused values; an explicit null is dropped
            params = {k: v for k, v in params.items() if k not in self.classifier_only}
        estimator = self.estimators.for_task(ctx.task)(**params)
        if "random_state" in estimator.get_params() and self.params.get("random_state") is None:
            estimator.set_params(random_state=ctx.seed)
        y = np.asarray(y)
        self.estimator = estimator.fit(self._readable(X), y)
        self.task = ctx.task
        self.n_classes = class_count(ctx.task, y)

    def _readable(self, X: pd.DataFrame) -> pd.DataFrame:
        return text_as_categories(X) if self.native_categorical else X

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._fitted().predict(self._readable(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, k)`` probabilities, with a zero column for a class absent from training."""
        import numpy as np

        if self.task == "regression":
            raise TypeError("predict_proba needs a classification task; this model is a regressor")
        estimator = self._fitted()
        seen = estimator.predict_proba(self._readable(X))
        proba = np.zeros((len(seen), self.n_classes))
        proba[:, estimator.classes_.astype(int)] = seen
        return proba

    def _fitted(self) -> Any:
        if self.estimator is None:
            raise RuntimeError(f"the {self.type_name} model is not fitted")
        return self.estimator

    def save(self, directory: Path) -> None:
        """Write ``model.skops`` and ``model.json`` (type, task, number of classes)."""
        directory.mkdir(parents=True, exist_ok=True)
        save_skops(self._fitted(), directory / MODEL_FILE)
        meta = {"type": self.type_name, "task": self.task, "n_classes": self.n_classes}
        write_meta(directory, meta)

    @classmethod
    def load(cls, directory: Path) -> SklearnModel:
        """Rebuild from ``save``'s files; a file naming untrusted types raises StoreError."""
        meta = read_meta(directory, cls.type_name)
        model = cls()
        model.task, model.n_classes = meta["task"], meta["n_classes"]
        model.estimator = load_skops(directory / MODEL_FILE)
        return model


class LogisticRegressionModel(SklearnModel):
    type_name = "logistic_regression"
    summary = "Logistic regression (L2-regularised linear classifier)"
    estimators = Estimators("sklearn.linear_model", classifier="LogisticRegression")
    tasks = CLASSIFICATION
    defaults = {"max_iter": 1000}
    params_schema = _schema(
        C=_number(1.0, "Inverse regularisation strength: smaller is simpler.", exclusiveMinimum=0),
        max_iter={
            **_integer(1, 1000, "Solver iterations (scikit-learn's 100 is often too few)."),
            "maximum": MAX_ROUNDS,
        },
        fit_intercept=FIT_INTERCEPT,
        class_weight=CLASS_WEIGHT,
    )


class LinearRegressionModel(SklearnModel):
    type_name = "linear_regression"
    summary = "Ordinary least squares linear regression"
    estimators = Estimators("sklearn.linear_model", regressor="LinearRegression")
    tasks = REGRESSION
    params_schema = _schema(
        fit_intercept=FIT_INTERCEPT,
        positive=_boolean(False, "Force every coefficient to be non-negative."),
    )


class RidgeModel(SklearnModel):
    type_name = "ridge"
    summary = "Ridge regression (L2-regularised least squares)"
    estimators = Estimators("sklearn.linear_model", regressor="Ridge")
    tasks = REGRESSION
    params_schema = _schema(
        alpha=_number(1.0, "Regularisation strength: larger is simpler.", minimum=0),
        fit_intercept=FIT_INTERCEPT,
    )


class RandomForestModel(SklearnModel):
    type_name = "random_forest"
    summary = "Random forest (bagged decision trees)"
    estimators = Estimators("sklearn.ensemble", "RandomForestClassifier", "RandomForestRegressor")
    tasks = ALL_TASKS
    handles_missing = True  # scikit-learn >= 1.4
    params_schema = forest_schema(bootstrap=True)


class ExtraTreesModel(SklearnModel):
    type_name = "extra_trees"
    summary = "Extremely randomised trees (random split thresholds)"
    estimators = Estimators("sklearn.ensemble", "ExtraTreesClassifier", "ExtraTreesRegressor")
    tasks = ALL_TASKS
    handles_missing = True  # scikit-learn >= 1.6
    params_schema = forest_schema(bootstrap=False)


class HistGradientBoostingModel(SklearnModel):
    type_name = "hist_gradient_boosting"
    summary = "Histogram gradient boosting (native categoricals and missing values)"
    estimators = Estimators(
        "sklearn.ensemble", "HistGradientBoostingClassifier", "HistGradientBoostingRegressor"
    )
    tasks = ALL_TASKS
    native_categorical = True  # 'category' columns, at most max_bins categories each
    handles_missing = True
    defaults = {"categorical_features": "from_dtype"}
    params_schema = _schema(
        learning_rate=_number(0.1, "Shrinkage of each tree.", exclusiveMinimum=0, maximum=1),
        max_iter={**_integer(1, 100, "Boosting rounds (trees per class)."), "maximum": MAX_ROUNDS},
        max_leaf_nodes=_integer(
            2, 31, "Maximum leaves per tree; null for no limit.", nullable=True
        ),
        max_depth=MAX_DEPTH,
        min_samples_leaf=_integer(1, 20, "Minimum rows in a leaf."),
        l2_regularization=_number(0.0, "L2 regularisation of leaf values.", minimum=0),
        max_bins={**_integer(2, 255, "Bins per numeric feature."), "maximum": 255},
        early_stopping={
            "enum": ["auto", True, False],
            "default": "auto",
            "description": "Stop when a held-out 10% stops improving; 'auto' does so "
            "above 10000 rows.",
        },
        class_weight=CLASS_WEIGHT,
        random_state=RANDOM_STATE,
    )


MODELS: tuple[type[SklearnModel], ...] = (
    LogisticRegressionModel,
    LinearRegressionModel,
    RidgeModel,
    RandomForestModel,
    HistGradientBoostingModel,
    ExtraTreesModel,
)


@hookimpl
def specops_register_models(register: Register) -> None:
    """Register the scikit-learn model types."""
    for model in MODELS:
        register(model.type_name, model, model.params_schema, summary=model.summary)
