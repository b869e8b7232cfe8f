"""Small real trainings for the numpy and treelite runtime tests.

A package is trained the way the engine trains it (signature, training categories,
``preprocess:`` fitted by framework.preprocess with its auto steps, the model plugin's
own fit, ``write_package``), minus the store, so each takes a fraction of a second.
Raw columns are built the way the server and ``predict`` hand them to a scorer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from framework.components import StepContext
from framework.package import ModelPackage, write_package
from framework.plugins import get_plugins
from framework.preprocess import fit_preprocess
from framework.signature import infer_signature, training_categories
from framework.spec.model import ComponentSpec, frozen


def table(rows: int = 300, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    """Numbers (some missing), text categories (some missing), a boolean and a target."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, rows).round(1)
    fee = rng.gamma(2.0, 30.0, rows)
    visits = rng.integers(0, 20, rows).astype("float64")
    plan = rng.choice(["basic", "plus", "pro", "team"], rows, p=[0.4, 0.3, 0.2, 0.1])
    city = rng.choice(["Oslo", "Lima", "Pune", "Kyiv", "Quito", "Accra"], rows)
    active = rng.random(rows) < 0.5
    rating = rng.integers(1, 6, rows)
    age[rng.random(rows) < 0.1] = np.nan
    fee[rng.random(rows) < 0.05] = np.nan
    plan = plan.astype(object)
    plan[rng.random(rows) < 0.08] = None
    signal = (
        np.nan_to_num(age - 40) / 12
        + (plan == "pro") * 1.5
        + (city == "Oslo") * 0.8
        + active * 0.5
        - np.nan_to_num(fee) / 80
        + rng.normal(0, 0.5, rows)
    )
    if task == "binary":
        target: Any = np.where(signal > 0, "yes", "no")
    elif task == "multiclass":
        target = np.digitize(signal, [-0.7, 0.4]).astype(object)
        target = np.array(["low", "mid", "high"], dtype=object)[target.astype(int)]
    else:
        target = signal * 10 + 100
    return pd.DataFrame(
        {
            "age": age,
            "fee": fee,
            "visits": visits,
            "plan": plan,
            "city": city,
            "active": active,
            "rating": rating,
            "target": target,
        }
    )


def transforms(*steps: tuple[str, dict[str, Any]]) -> tuple[ComponentSpec, ...]:
    return tuple(
        ComponentSpec("transform", kind, frozen(params), f"preprocess[{i}]")
        for i, (kind, params) in enumerate(steps)
    )


def train(
    directory: Path,
    frame: pd.DataFrame,
    task: str,
    model_type: str,
    params: dict[str, Any] | None = None,
    preprocess: tuple[tuple[str, dict[str, Any]], ...] = (),
    declared: dict[str, str] | None = None,
) -> tuple[ModelPackage, pd.DataFrame]:
    """A trained, written and reloaded package, and its raw test rows. ``declared``:
    roles as ``data.features`` declares them (e.g. integers as categories)."""
    plugins = get_plugins()
    features = frame.drop(columns=["target"])
    signature, prepared = infer_signature(features, declared or {})
    cut = int(len(frame) * 0.75)
    train_x, test_x = prepared.iloc[:cut], prepared.iloc[cut:]
    signature, train_x, test_x = training_categories(signature, train_x, test_x)
    target = frame["target"]
    labels = None
    if task == "regression":
        y = target.to_numpy(dtype="float64")
    else:
        labels = sorted(target.unique().tolist())
        y = target.map({label: code for code, label in enumerate(labels)}).to_numpy()
    model = plugins.build("model", model_type, params or {})
    ctx = StepContext("runtime-test", task, "target", directory, 0)
    fitted = fit_preprocess(train_x, transforms(*preprocess), model, plugins, ctx)
    model.fit(fitted.train, y[:cut], ctx)
    package_dir = write_package(
        directory / "package",
        model=model,
        transform=fitted.pipeline,
        signature=signature,
        metadata={
            "name": "runtime-test",
            "task": task,
            "model_type": model_type,
            "labels": labels,
            "target": "target",
        },
    )
    return ModelPackage(package_dir, plugins), features.iloc[cut:].reset_index(drop=True)


def raw_columns(frame: pd.DataFrame, package: ModelPackage) -> dict[str, np.ndarray]:
    """Raw columns as base.RawColumns describes them: numbers and booleans float64 with
    NaN, categories as sent (object, None missing; an unseen value kept as it is)."""
    from framework.signature import as_boolean, as_numeric

    columns: dict[str, np.ndarray] = {}
    for column in package.signature.columns:
        if column.role == "numeric":
            values = as_numeric(frame, column.name, "must be numeric", booleans=True)
            columns[column.name] = values.to_numpy(dtype="float64", na_value=np.nan)
        elif column.role == "boolean":
            columns[column.name] = as_boolean(frame, column.name).to_numpy(dtype="float64")
        else:
            series = frame[column.name].astype(object)
            columns[column.name] = np.asarray(
                [None if pd.isna(v) else v for v in series], dtype=object
            )
    return columns


def with_probes(test: pd.DataFrame) -> pd.DataFrame:
    """The test rows plus rows that make every column missing in turn, every categorical
    column unseen in turn, and one row missing everywhere."""
    base = test.head(3)
    probes = [test]
    for name in test.columns:
        missing = base.copy()
        missing[name] = None if test[name].dtype == object else np.nan
        probes.append(missing)
        if test[name].dtype == object:
            unseen = base.copy()
            unseen[name] = "never-seen-in-training"
            probes.append(unseen)
    empty = base.head(1).copy()
    for name in test.columns:
        empty[name] = None if test[name].dtype == object else np.nan
    probes.append(empty)
    return pd.concat(probes, ignore_index=True)


def native_predictions(package: ModelPackage, rows: Any) -> Any:
    """The reference predictions for verification rows: the raw columns as a DataFrame
    through ``ModelPackage.predict`` (signature, transform, model), as the native runtime."""
    frame = pd.DataFrame({name: rows.columns[name] for name in package.signature.names})
    return package.predict(frame)[0]
