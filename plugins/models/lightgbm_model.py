"""The ``lightgbm`` model: gradient-boosted trees with native categoricals and missing values.

Trained with ``lightgbm.train`` rather than the scikit-learn wrapper so the
objective and number of classes follow the spec's task exactly (the wrapper would
re-encode labels and lose a class missing from the training split). The model is
stored in LightGBM's own text format, which carries the training categories of
every ``category`` column: at predict time LightGBM maps categories by value, so
a different category order or an unseen category (treated as missing) is safe.
Text columns (an impute step returns categories as strings) are read as categories.

On ``execution: dask`` the model trains with ``lightgbm.dask`` (see
:meth:`LightGBMModel.fit_distributed`) and is kept as the same plain booster
afterwards, so saving, loading, predicting, the package and serving are unchanged::

    LightGBMModel.fit_distributed(X: dask DataFrame, y: dask Series, ctx, client,
                                  *, workers: int | None = None) -> None
    model.fit_info  # {"workers": n} after a Dask fit: the same data on n workers
                    # gives the same model, byte for byte
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import (
    DataError,
    Finding,
    StepContext,
    StoreError,
    hookimpl,
    text_as_categories,
)
from plugins.models._common import class_count, read_meta, write_meta
from plugins.models.lightgbm_file import check_model_text

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework import Register

MODEL_FILE = "model.txt"
TYPE_NAME = "lightgbm"

OBJECTIVES: dict[str, str] = {
    "binary": "binary",
    "multiclass": "multiclass",
    "regression": "regression",
}

PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "n_estimators": {
            "type": "integer",
            "minimum": 1,
            "maximum": 100000,
            "default": 100,
            "description": "Number of boosting rounds (trees per class).",
        },
        "learning_rate": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "default": 0.1,
            "description": "Shrinkage of each tree; lower needs more trees but generalises better.",
        },
        "num_leaves": {
            "type": "integer",
            "minimum": 2,
            "maximum": 131072,
            "default": 31,
            "description": "Maximum leaves per tree, the main complexity control.",
        },
        "max_depth": {
            "type": "integer",
            "minimum": -1,
            "default": -1,
            "description": "Maximum tree depth; -1 or 0 means no limit.",
        },
        "min_child_samples": {
            "type": "integer",
            "minimum": 1,
            "default": 20,
            "description": "Minimum rows in a leaf; raise it against overfitting small data.",
        },
        "subsample": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "default": 1.0,
            "description": "Fraction of rows sampled per bagging round (needs subsample_freq > 0).",
        },
        "subsample_freq": {
            "type": "integer",
            "minimum": 0,
            "default": 0,
            "description": "Resample rows every this many rounds; 0 disables bagging.",
        },
        "colsample_bytree": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "default": 1.0,
            "description": "Fraction of columns sampled for each tree.",
        },
        "reg_alpha": {
            "type": "number",
            "minimum": 0,
            "default": 0.0,
            "description": "L1 regularisation of leaf values.",
        },
        "reg_lambda": {
            "type": "number",
            "minimum": 0,
            "default": 0.0,
            "description": "L2 regularisation of leaf values.",
        },
        "class_weight": {
            "enum": [None, "balanced"],
            "default": None,
            "description": "'balanced' weighs classes inversely to their frequency "
            "(classification only).",
        },
        "n_jobs": {
            "type": ["integer", "null"],
            "minimum": -1,
            "default": None,
            "description": "Threads to use; null, 0 or -1 use every core.",
        },
        "seed": {
            "type": ["integer", "null"],
            "minimum": 0,
            "maximum": 2147483647,
            "default": None,
            "description": "Random seed for bagging and column sampling; null uses the run's seed.",
        },
        "deterministic": {
            "type": "boolean",
            "default": True,
            "description": "Same data and seed give a byte-identical model, at a small speed cost.",
        },
    },
}

BOOSTER_PARAMS: frozenset[str] = frozenset(PARAMS_SCHEMA["properties"]) - {
    "n_estimators",
    "class_weight",
    "seed",
    "n_jobs",
}
"""Params passed to LightGBM under their own name (LightGBM accepts these aliases)."""


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Per-row weights ``n / (classes * count)``: scikit-learn's 'balanced' rule."""
    import numpy as np

    counts = np.bincount(y)
    return len(y) / (np.count_nonzero(counts) * counts[y])


LIGHTGBM_REFUSES = frozenset('",:[]{}')
"""Characters LightGBM refuses in a feature name (it writes the names as JSON)."""


def positional(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` as LightGBM can take it: its own column names where LightGBM accepts them,
    else every column named by position (``column_0``, ...).

    LightGBM refuses a feature name holding a JSON character (``"``, ``,``, ``:``,
    ``[``, ``]``, ``{``, ``}``) and two names that are equal, and pandas gives
    such names freely: an empty CSV header is ``Unnamed: 3``, a one-hot column
    carries its category (``city_Paris, TX``). LightGBM matches columns by
    position anyway; the real names are kept in ``features`` (model.json). Names
    LightGBM accepts are kept, so a model file is byte for byte what earlier
    specops versions wrote for the same data (``reproduce`` of their runs matches).
    """
    names = [str(name) for name in X.columns]
    refused = len(set(names)) != len(names) or any(
        LIGHTGBM_REFUSES.intersection(name) or not name for name in names
    )
    if not refused:
        return X
    return X.set_axis([f"column_{i}" for i in range(X.shape[1])], axis=1)


def _known_categories(X: Any) -> Any:
    """``X`` with every text or category column as a category dtype whose categories
    are the whole frame's (sorted, as ``astype("category")`` sorts them locally), so
    every partition encodes a category with the same code. One distributed pass over
    those columns finds their values; a known category dtype is kept as it is."""
    import dask
    import pandas as pd
    from pandas.api import types

    from framework.columns import role_of

    meta = X._meta
    wanted = [
        name
        for name in meta.columns
        if role_of(meta[name]) == "categorical"
        and not (isinstance(meta[name].dtype, types.CategoricalDtype) and X[name].cat.known)
    ]
    if not wanted:
        return X
    # each partition's distinct values (few), not drop_duplicates on the frame (a shuffle)
    found = dask.compute(*[X[name].map_partitions(_distinct) for name in wanted])
    # pd.Categorical orders its categories as astype("category") does in fit
    dtypes = {
        name: pd.CategoricalDtype(pd.Categorical(values.to_numpy(dtype=object)).categories)
        for name, values in zip(wanted, found, strict=True)
    }
    return X.astype(dtypes)


def _distinct(values: pd.Series) -> pd.Series:
    return values.dropna().drop_duplicates()


def _nonempty_partitions(X: Any, y: Any) -> tuple[Any, Any]:
    """``X`` and ``y`` without their empty partitions (a split leaves some): a worker
    holding only empty ones would join LightGBM's network with no rows and fail."""
    if X.npartitions != y.npartitions:
        raise ValueError(
            f"X has {X.npartitions} partitions and y {y.npartitions}: "
            "they must be partitioned alike"
        )
    lengths = X.map_partitions(len).compute().tolist()
    keep = [i for i, rows in enumerate(lengths) if rows]
    if not keep:
        raise DataError("lightgbm: no training rows")
    if len(keep) == len(lengths):
        return X, y
    return X.partitions[keep], y.partitions[keep]


def _top(y: Any) -> Any:
    """The largest code, as a one-element array (what :func:`class_count` reads)."""
    import numpy as np

    return np.asarray([int(y.max().compute())])


def _balanced_weights_distributed(y: Any) -> Any:
    """Per-row weights ``n / (classes * count)`` from the whole training split's class
    counts (the wrapper's own ``class_weight`` would count each worker's rows apart)."""
    import numpy as np

    counts = y.value_counts().compute()
    table = np.zeros(int(counts.index.max()) + 1)
    table[counts.index.to_numpy(dtype="int64")] = counts.to_numpy()
    weights = np.zeros_like(table)
    present = table > 0
    weights[present] = table.sum() / (np.count_nonzero(present) * table[present])
    return y.map_partitions(_weights_of, weights, meta=(y.name, "float64"))


def _weights_of(codes: pd.Series, weights: np.ndarray) -> pd.Series:
    import pandas as pd

    return pd.Series(weights[codes.to_numpy(dtype="int64")], index=codes.index, name=codes.name)


NETWORK_TIME_OUT = 5
"""Minutes LightGBM's network waits for a peer (its default is 120): a worker lost
mid-fit frees the survivors' threads after this long, not two hours later."""

LOCAL_NETWORK = {
    "num_machines": "1",
    "local_listen_port": "12400",
    "machines": "",
    "time_out": "120",
}
"""What a local fit writes for LightGBM's network params (LightGBM's defaults)."""


def _without_cluster(booster: Any, local_params: dict[str, Any]) -> Any:
    """``booster`` rebuilt from its model text with the cluster's network params (hosts,
    ports, machine count, time-out) and thread count set to what :meth:`LightGBMModel.fit`
    writes: the stored model names no host, and its bytes depend on the trees alone.
    Only the parameters section changes; the trees are LightGBM's text as it was.
    ``tree_learner: data`` stays: it says how the trees were learnt and names no host."""
    import re

    import lightgbm as lgb

    text = booster.model_to_string()
    start = text.index("\nparameters:\n")
    end = text.index("\nend of parameters", start)
    local = {**LOCAL_NETWORK, "num_threads": str(local_params.get("num_threads", 0))}

    def reset(match: re.Match[str]) -> str:
        return f"[{match[1]}: {local[match[1]]}]"

    pattern = re.compile(rf"^\[({'|'.join(local)}): [^\n]*\]$", re.MULTILINE)
    section = pattern.sub(reset, text[start:end])
    return lgb.Booster(model_str=text[:start] + section + text[end:])


class LightGBMModel:
    """Gradient-boosted trees for binary, multiclass and regression tasks."""

    tasks = frozenset(OBJECTIVES)
    native_categorical = True
    handles_missing = True

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(PARAMS_SCHEMA["properties"]))
        if unknown:
            raise TypeError(f"lightgbm got unknown params: {', '.join(unknown)}")
        self.params = params
        self.task: str | None = None
        self.n_classes = 0
        self.features: list[str] = []
        self._built: Any = None
        self._text: str | None = None
        """A loaded model's checked ``model.txt``, until its booster is first needed."""
        self._categories: list[list[Any]] | None = None
        self.fit_info: dict[str, Any] = {}
        """How the last fit ran where that matters to reproduce it (Dask: ``workers``)."""

    @property
    def _booster(self) -> Any:
        """The LightGBM ``Booster``. A loaded model builds it on first use: importing
        LightGBM (which imports scikit-learn and scipy) costs ~0.6 s of CPU that a
        compiled runtime, which reads the trees from :attr:`model_text`, never needs."""
        if self._built is None and self._text is not None:
            with _BUILDING:
                if self._built is None and self._text is not None:
                    self._built = _booster_from_text(self._text)
                    self._text = None
        return self._built

    @_booster.setter
    def _booster(self, booster: Any) -> None:
        self._built, self._text, self._categories = booster, None, None

    @property
    def model_text(self) -> str:
        """``model.txt`` as LightGBM writes it: a loaded model's checked text as stored
        (before its booster is built), else the booster's own."""
        if self._text is not None:
            return self._text
        if self._built is None:
            raise RuntimeError("the lightgbm model is not fitted")
        return str(self._built.model_to_string())

    @property
    def pandas_categorical(self) -> list[list[Any]] | None:
        """The training categories of each ``category`` column, in column order, as
        LightGBM's ``Booster.pandas_categorical`` holds them (read from the text's last
        line, as LightGBM reads it, while the booster is not built)."""
        if self._text is not None:
            return self._categories
        return getattr(self._built, "pandas_categorical", None)

    def validate(self, ctx: StepContext) -> list[Finding]:
        if ctx.task == "regression" and self.params.get("class_weight"):
            return [Finding("class_weight applies to classification only", key="class_weight")]
        return []

    def fit(self, X: pd.DataFrame, y: np.ndarray, ctx: StepContext) -> None:
        import lightgbm as lgb
        import numpy as np

        X = text_as_categories(X)
        y = np.asarray(y)
        self.task = ctx.task
        self.n_classes = class_count(ctx.task, y)
        self.features = [str(name) for name in X.columns]
        weights = balanced_weights(y) if self.params.get("class_weight") == "balanced" else None
        dataset = lgb.Dataset(positional(X), label=y, weight=weights, categorical_feature="auto")
        self._booster = lgb.train(
            self.booster_params(ctx),
            dataset,
            num_boost_round=self.params.get("n_estimators", 100),
        )

    def fit_distributed(
        self, X: Any, y: Any, ctx: StepContext, client: Any, *, workers: int | None = None
    ) -> None:
        """Learn on the cluster of ``client`` with ``lightgbm.dask``: each worker builds
        its histograms from the partitions it holds and LightGBM's own network merges
        them into one model, with the same params as :meth:`fit`. ``X`` is a dask
        DataFrame, ``y`` a dask Series of codes (or values) partitioned like ``X``.
        ``workers``: train on the first that many workers (sorted by address), e.g. the
        count a run recorded (``fit_info["workers"]``); default every worker.

        LightGBM's scikit-learn wrappers are only the vehicle: the regressor one is used
        for every task, with the task's objective and class count set explicitly,
        because the classifier re-encodes the labels each worker holds, so a class
        absent from one worker's partitions would shift its codes (:meth:`fit` avoids
        the wrapper for the same reason). Categories must have the same codes on
        every partition: text and category columns get one category list for the whole
        frame (a category dtype already known is kept as it is).

        Reproducible: which rows a worker holds decides its histogram bins, so the rows
        are placed by rule (partition ``i`` on worker ``i mod n``, see
        :mod:`plugins.dask_execution.training`), not where the scheduler put them, and
        training is ``deterministic``: the same data on the same number of workers gives
        the same model, byte for byte. Afterwards the model is the plain booster
        :meth:`fit` makes, its text free of this cluster's hosts and ports, and the
        cluster is not needed to predict.
        """
        from lightgbm.dask import DaskLGBMRegressor

        from plugins.dask_execution.training import RankedClient, place, sorted_workers

        self.task = ctx.task
        # computed once: the passes below and LightGBM's own would each reread the source
        X, y = client.persist([X, y])
        X, y = _nonempty_partitions(_known_categories(X), y)
        self.features = [str(name) for name in X.columns]
        self.n_classes = 0 if ctx.task == "regression" else class_count(ctx.task, _top(y))
        local_params = self.booster_params(ctx)
        params = dict(local_params)
        params.pop("num_threads", None)  # lightgbm.dask uses each worker's own threads
        params["random_state"] = params.pop("seed")
        params["time_out"] = NETWORK_TIME_OUT
        collections = [X.map_partitions(positional), y]
        if self.params.get("class_weight") == "balanced":
            collections.append(_balanced_weights_distributed(y))
        addresses = sorted_workers(client)
        placed = place(client, collections, addresses[:workers] if workers else addresses)
        del X, y, collections  # the placed copies are what LightGBM reads from here on
        x_placed, y_placed, *weights = placed.collections
        estimator = DaskLGBMRegressor(
            client=RankedClient(client, placed.workers),
            n_estimators=self.params.get("n_estimators", 100),
            **params,
        )
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            # lightgbm.dask prints its port search and warns that it sets threads itself
            warnings.filterwarnings("ignore", "Parameter (n_jobs|num_threads) will be ignored")
            estimator.fit(x_placed, y_placed, sample_weight=weights[0] if weights else None)
        self._booster = _without_cluster(estimator.to_local().booster_, local_params)
        self.fit_info = {"workers": len(placed.workers)}

    def booster_params(self, ctx: StepContext) -> dict[str, Any]:
        """LightGBM's params for this task: the spec's, plus quiet and reproducible defaults."""
        params: dict[str, Any] = {
            "objective": OBJECTIVES[ctx.task],
            "verbosity": -1,
            "deterministic": True,
            **{key: value for key, value in self.params.items() if key in BOOSTER_PARAMS},
            "seed": ctx.seed if self.params.get("seed") is None else self.params["seed"],
        }
        if self.params.get("n_jobs") is not None:
            params["num_threads"] = self.params["n_jobs"]
        if params["deterministic"]:
            params["force_col_wise"] = True  # LightGBM's condition for determinism
        if ctx.task == "multiclass":
            params["num_class"] = self.n_classes
        return params

    def _raw_predict(self, X: pd.DataFrame) -> np.ndarray:
        if self._booster is None:
            raise RuntimeError("the lightgbm model is not fitted")
        missing = [name for name in self.features if name not in X.columns]
        if missing:
            raise DataError(
                f"lightgbm: the data lacks columns the model was trained on: {', '.join(missing)}",
                column=missing[0],
            )
        # LightGBM matches columns by position: put them in training order.
        return self._booster.predict(positional(text_as_categories(X[self.features])))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        if self.task == "regression":
            raise TypeError("predict_proba needs a classification task; this model is a regressor")
        scores = self._raw_predict(X)
        if self.task == "binary":
            return np.column_stack([1.0 - scores, scores])
        return scores

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.task == "regression":
            return self._raw_predict(X)
        return self.predict_proba(X).argmax(axis=1)

    def save(self, directory: Path) -> None:
        """Write ``model.txt`` (LightGBM's text format) and ``model.json`` (task, classes)."""
        if self._booster is None:
            raise RuntimeError("the lightgbm model is not fitted")
        directory.mkdir(parents=True, exist_ok=True)
        self._booster.save_model(str(directory / MODEL_FILE))
        meta = {
            "type": TYPE_NAME,
            "task": self.task,
            "n_classes": self.n_classes,
            "features": self.features,
        }
        write_meta(directory, meta)

    @classmethod
    def load(cls, directory: Path) -> LightGBMModel:
        """Rebuild from the two files ``save`` wrote: no pickle, no code from the files.

        The text is checked here, its categories line parsed (by json, never eval); the
        booster is built from it on first use (:attr:`_booster`), by LightGBM's C++
        reader, which then refuses what it cannot read with the same StoreError."""
        meta = read_meta(directory, TYPE_NAME)
        model = cls()
        model.task = meta["task"]
        model.n_classes = meta["n_classes"]
        model.features = meta["features"]
        try:
            text = (directory / MODEL_FILE).read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise StoreError(f"{MODEL_FILE} is not a readable LightGBM model: {exc}") from exc
        check_model_text(text, meta)  # LightGBM's reader crashes on a crafted file
        model._categories = categories_of(text)
        model._text = text
        return model


_BUILDING = threading.Lock()
"""One booster built at a time (a server's threads may ask for it at once)."""
PANDAS_KEY = "pandas_categorical:"


def categories_of(text: str) -> list[list[Any]] | None:
    """The ``pandas_categorical:`` line of a model text, found and parsed exactly as
    LightGBM's ``Booster(model_str=...)`` finds and parses it (the last line, by json);
    a line that is not JSON is a StoreError, as LightGBM's reader failing on it was."""
    import json

    last_line = text[text.rfind("\n", 0, -len(PANDAS_KEY)) :].strip()
    if not last_line.startswith(PANDAS_KEY):
        return None
    try:
        found = json.loads(last_line[len(PANDAS_KEY) :])
    except (ValueError, RecursionError) as exc:
        raise StoreError(f"{MODEL_FILE} is not a readable LightGBM model: {exc}") from exc
    if found is not None and not (
        isinstance(found, list) and all(isinstance(values, list) for values in found)
    ):
        raise StoreError(
            f"{MODEL_FILE} is not a readable LightGBM model: its pandas_categorical line "
            "is not a list of category lists"
        )
    return found


def _booster_from_text(text: str) -> Any:
    """LightGBM's booster from a checked model text (its C++ reader; categories by json)."""
    import lightgbm as lgb

    try:
        return lgb.Booster(model_str=text)
    except (lgb.basic.LightGBMError, ValueError, OSError) as exc:
        raise StoreError(f"{MODEL_FILE} is not a readable LightGBM model: {exc}") from exc


@hookimpl
def specops_register_models(register: Register) -> None:
    """Register the ``lightgbm`` model type."""
    register(
        TYPE_NAME,
        LightGBMModel,
        PARAMS_SCHEMA,
        summary="LightGBM gradient-boosted trees (native categoricals and missing values)",
    )
