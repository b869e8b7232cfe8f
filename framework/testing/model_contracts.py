"""The contracts of a model and a metric, checked on small real data.

What the engine relies on and cannot check for itself until a run goes wrong:
a model that predicts differently after ``save``/``load`` serves different answers
than the ones its gate judged; a model that ignores ``ctx.seed`` cannot be
reproduced; a metric that leaves its ``bounds`` makes ``specops validate`` refuse
(or accept) thresholds wrongly.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from framework.components import TASKS
from framework.testing.samples import classes, context, features_and_target, table

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth")


def _name(factory: Any) -> str:
    return getattr(factory, "__name__", type(factory).__name__)


def check_model(
    factory: Callable[..., Any],
    task: str = "binary",
    params: Mapping[str, Any] | None = None,
    *,
    rows: int = 240,
    directory: Path | None = None,
) -> Any:
    """Assert that ``factory(**params)`` is a model specops can train, store and serve for
    ``task``: it declares ``tasks``/``native_categorical``/``handles_missing``, fits a
    small real table (categories and NaN only if it says it takes them), predicts one
    valid value per row (class codes ``0..k-1``, probabilities of shape ``(n, k)`` summing
    to 1), gives the same predictions when fitted again with the same seed, saves into a
    directory in safe files (no pickle) and, loaded back by its class's ``load``,
    predicts exactly the same. Returns the fitted model.
    """
    import numpy as np

    name = _name(factory)
    model = factory(**dict(params or {}))
    _declares(model, name, task)
    frame = table(
        task,
        rows,
        categorical=bool(model.native_categorical),
        missing=bool(model.handles_missing),
    )
    X, y = features_and_target(frame)
    with _folder(directory) as folder:
        ctx = context(folder, task)
        model.fit(X, y, ctx)
        predicted, proba = _predictions(model, X, task, name)

        again = factory(**dict(params or {}))
        again.fit(X, y, ctx)
        if not np.array_equal(predicted, np.asarray(again.predict(X))):
            raise AssertionError(
                f"{name}: two fits on the same data with seed {ctx.seed} predict differently; "
                "seed every random choice with ctx.seed so a rerun gives the same model"
            )

        saved = folder / "model"
        saved.mkdir()
        model.save(saved)
        _safe_files(saved, name)
        loaded = type(model).load(saved)
        reloaded, reloaded_proba = _predictions(loaded, X, task, f"{name} (after load)")
        if not np.array_equal(predicted, reloaded):
            changed = int((np.asarray(predicted) != np.asarray(reloaded)).sum())
            raise AssertionError(
                f"{name}: predictions differ after save and load ({changed} of {len(X)} "
                "rows); save must keep everything predict uses, at full precision"
            )
        if proba is not None and not np.allclose(proba, reloaded_proba, rtol=0, atol=1e-12):
            gap = float(np.abs(proba - reloaded_proba).max())
            raise AssertionError(
                f"{name}: predict_proba differs after save and load (by up to {gap:.3g}); "
                "save must keep everything predict_proba uses, at full precision"
            )
    return model


def _declares(model: Any, name: str, task: str) -> None:
    missing = [
        attribute
        for attribute in ("tasks", "native_categorical", "handles_missing")
        if not hasattr(model, attribute)
    ]
    missing += [
        method
        for method in ("fit", "predict", "predict_proba", "save", "load")
        if not callable(getattr(model, method, None))
    ]
    if missing:
        raise AssertionError(f"{name}: a model needs {', '.join(missing)} (framework.Model)")
    tasks = set(model.tasks)
    if not tasks or not tasks <= set(TASKS):
        raise AssertionError(
            f"{name}: tasks must be a non-empty subset of {', '.join(TASKS)}, not {sorted(tasks)}"
        )
    if task not in tasks:
        raise AssertionError(
            f"{name}: checked for task {task!r}, but its tasks are {', '.join(sorted(tasks))}"
        )
    if not _is_classmethod(type(model), "load"):
        raise AssertionError(
            f"{name}: load must be a @classmethod (specops calls Class.load(directory) "
            "with no instance)"
        )


def _is_classmethod(cls: type, attribute: str) -> bool:
    for klass in cls.__mro__:
        if attribute in klass.__dict__:
            return isinstance(klass.__dict__[attribute], classmethod)
    return False


def _predictions(model: Any, X: Any, task: str, name: str) -> tuple[Any, Any]:
    import numpy as np

    predicted = np.asarray(model.predict(X))
    if predicted.shape != (len(X),):
        raise AssertionError(
            f"{name}: predict returned shape {predicted.shape}; expected ({len(X)},), "
            "one value per row"
        )
    k = classes(task)
    if k == 0:
        if not np.issubdtype(predicted.dtype, np.number) or not np.isfinite(predicted).all():
            raise AssertionError(f"{name}: regression predictions must be finite numbers")
        return predicted, None
    if not np.isin(predicted, np.arange(k)).all():
        odd = sorted({str(v) for v in predicted[~np.isin(predicted, np.arange(k))]})[:3]
        raise AssertionError(
            f"{name}: {task} predictions must be the class codes 0..{k - 1}, found {odd}"
        )
    proba = np.asarray(model.predict_proba(X), dtype=float)
    if proba.shape != (len(X), k):
        raise AssertionError(
            f"{name}: predict_proba returned shape {proba.shape}; expected ({len(X)}, {k}), "
            "one column per class, even for binary tasks"
        )
    if (proba < 0).any() or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-6):
        raise AssertionError(
            f"{name}: predict_proba rows must be non-negative and sum to 1 (a row sums to "
            f"{float(proba.sum(axis=1)[0]):.6g})"
        )
    return predicted, proba


def _safe_files(saved: Path, name: str) -> None:
    files = [path for path in saved.rglob("*") if path.is_file()]
    if not files:
        raise AssertionError(f"{name}: save wrote nothing into the directory it was given")
    for path in files:
        with path.open("rb") as handle:
            head = handle.read(2)
        if path.suffix in PICKLE_SUFFIXES or (
            head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05"
        ):
            raise AssertionError(
                f"{name}: save wrote {path.name}, a pickle, which would run code when loaded; "
                "use JSON, the library's own format or framework.save_skops"
            )


class _folder:
    """The given directory, or a temporary one removed afterwards."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.temporary: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        if self.directory is not None:
            path = Path(tempfile.mkdtemp(dir=self.directory))
            return path
        self.temporary = tempfile.TemporaryDirectory(prefix="specops-check-")
        return Path(self.temporary.name)

    def __exit__(self, *exc: object) -> None:
        if self.temporary is not None:
            self.temporary.cleanup()


# ---------------------------------------------------------------------------
# metric
# ---------------------------------------------------------------------------


def check_metric(metric: Any, *, perfect_is_best: bool = True) -> float:
    """Assert that ``metric`` declares ``tasks``, ``higher_is_better`` and ``bounds``, and
    for each of its tasks returns a finite float within ``bounds`` for good and bad
    predictions; with ``perfect_is_best``, perfect predictions score the best bound
    (the upper one when higher is better) and nothing scores better. Returns the
    perfect score of its first task.
    """
    import numpy as np

    name = type(metric).__name__
    _metric_declares(metric, name)
    low, high = metric.bounds
    first: float | None = None
    for task in sorted(metric.tasks):
        y_true = table(task, 120, categorical=False, missing=False)["target"].to_numpy()
        perfect = _score(metric, name, task, y_true, y_true, _scores(task, y_true, exact=True))
        rng = np.random.default_rng(1)
        if task == "regression":
            noisy = y_true + rng.normal(size=len(y_true))
        else:
            noisy = np.where(rng.random(len(y_true)) < 0.4, (y_true + 1) % classes(task), y_true)
        worse = _score(metric, name, task, y_true, noisy, _scores(task, noisy, exact=False))
        if perfect_is_best:
            best = high if metric.higher_is_better else low
            if best is not None and not math.isclose(perfect, best, abs_tol=1e-9):
                raise AssertionError(
                    f"{name} ({task}): perfect predictions score {perfect!r}, not its best "
                    f"bound {best!r}; fix bounds or higher_is_better (or pass "
                    "perfect_is_best=False if perfect predictions cannot reach it)"
                )
            better = worse > perfect if metric.higher_is_better else worse < perfect
            if better:
                raise AssertionError(
                    f"{name} ({task}): noisy predictions score {worse!r}, better than perfect "
                    f"ones ({perfect!r}); is higher_is_better right?"
                )
        first = perfect if first is None else first
    assert first is not None
    return first


def _metric_declares(metric: Any, name: str) -> None:
    if not callable(getattr(metric, "compute", None)):
        raise AssertionError(f"{name}: a metric needs compute(y_true, y_pred, y_score)")
    tasks = set(getattr(metric, "tasks", ()) or ())
    if not tasks or not tasks <= set(TASKS):
        raise AssertionError(
            f"{name}: tasks must be a non-empty subset of {', '.join(TASKS)}, not {sorted(tasks)}"
        )
    if not isinstance(getattr(metric, "higher_is_better", None), bool):
        raise AssertionError(f"{name}: higher_is_better must be True or False")
    bounds = getattr(metric, "bounds", None)
    ok = (
        isinstance(bounds, tuple | list)
        and len(bounds) == 2
        and all(b is None or (isinstance(b, int | float) and math.isfinite(b)) for b in bounds)
    )
    if not ok or (bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]):
        raise AssertionError(
            f"{name}: bounds must be (lowest, highest), numbers or None for an open end, "
            f"lowest <= highest; found {bounds!r}"
        )


def _scores(task: str, predicted: Any, exact: bool) -> Any:
    """``y_score`` as the engine passes it: positive-class probability (binary),
    ``(n, k)`` probabilities (multiclass), None (regression)."""
    import numpy as np

    if task == "regression":
        return None
    k = classes(task)
    proba = np.eye(k)[predicted.astype(int)]
    if not exact:
        proba = 0.7 * proba + 0.3 / k
    return proba[:, 1] if task == "binary" else proba


def _score(metric: Any, name: str, task: str, y_true: Any, y_pred: Any, y_score: Any) -> float:
    value = metric.compute(y_true, y_pred, y_score)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} ({task}): compute returned {value!r}, not a number") from None
    if not math.isfinite(number):
        raise AssertionError(f"{name} ({task}): compute returned {number!r}; it must be finite")
    low, high = metric.bounds
    if (low is not None and number < low - 1e-12) or (high is not None and number > high + 1e-12):
        raise AssertionError(
            f"{name} ({task}): compute returned {number!r}, outside its bounds {metric.bounds!r}"
        )
    return number
