"""Small, real, seeded tables for the contract checks: what each kind of component
receives in a run, at a size that keeps a check well under a second."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.components import TASKS, StepContext

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TARGET = "target"
"""The target column's name in every sample table."""


def context(
    directory: Path,
    task: str = "binary",
    *,
    target: str = TARGET,
    seed: int = 0,
    **fields: Any,
) -> StepContext:
    """A :class:`StepContext` for a spec in ``directory``, as the engine builds one
    (``run_id`` and ``store_root`` may be given as keywords)."""
    return StepContext(
        spec_name="contract",
        task=task,
        target=target,
        base_dir=Path(directory).resolve(),
        seed=seed,
        **fields,
    )


def classes(task: str) -> int:
    """How many classes the sample target of ``task`` has (0 for regression)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    return {"binary": 2, "multiclass": 3, "regression": 0}[task]


def table(
    task: str = "binary",
    rows: int = 240,
    *,
    seed: int = 0,
    categorical: bool = True,
    missing: bool = True,
) -> pd.DataFrame:
    """Features ``x1``, ``x2``, ``x3`` (numeric, learnable), ``color`` (a category,
    when ``categorical``), some NaN in ``x3`` (when ``missing``) and ``target``:
    codes ``0..k-1`` for classification, floats for regression."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    signal = x[:, 0] + 0.5 * x[:, 1]
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]})
    if categorical:
        frame["color"] = pd.Categorical(rng.choice(["red", "green", "blue"], size=rows))
    if missing:
        frame.loc[rng.random(rows) < 0.1, "x3"] = np.nan
    k = classes(task)
    if k == 0:
        frame[TARGET] = signal + rng.normal(scale=0.1, size=rows)
    else:
        edges = np.quantile(signal, np.linspace(0, 1, k + 1)[1:-1])
        frame[TARGET] = np.searchsorted(edges, signal).astype("int64")
    return frame


def features_and_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """``(X, y)`` as a model's ``fit`` receives them."""
    return frame.drop(columns=TARGET), frame[TARGET].to_numpy()
