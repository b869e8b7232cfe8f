"""One working, minimal component per kind: the code ``specops new-plugin`` writes.

Each is a module of the generated package (``src/PKG/KIND.py``) with its params schema
beside the class, defaults that agree with the class, heavy imports inside methods, and
the pieces the package's ``__init__``, example spec and tests need to use it. ``__STEM__``
stands for the plugin's short name (type names start with it, so they cannot collide
with the built-in ones).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    """What the scaffold writes for one kind of component."""

    kind: str
    module: str
    """The module's name inside the package (``source`` -> ``src/PKG/source.py``)."""
    cls: str
    type_suffix: str
    """The type name is ``STEM_SUFFIX``."""
    hook: str
    schema: str
    """The name of the params schema constant, or ``None``."""
    summary: str
    code: str
    test: str
    """Test functions for the generated tests file (``plugin``, ``tmp_path`` available)."""


SOURCE = Template(
    "source",
    "source",
    "SyntheticSource",
    "synthetic",
    "specops_register_sources",
    "SYNTHETIC_PARAMS",
    "A generated table with a learnable binary target",
    '''"""A data source: a seeded synthetic table (replace ``load`` with your own reader)."""

from __future__ import annotations

from typing import Any

from framework import Finding, StepContext

SYNTHETIC_PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "rows": {"type": "integer", "minimum": 10, "default": 500},
        "noise": {"type": "number", "minimum": 0, "default": 1.0},
    },
}


class SyntheticSource:
    """Columns x1, x2, x3 and a 0/1 ``target`` that depends on x1 and x2."""

    def __init__(self, rows: int = 500, noise: float = 1.0) -> None:
        self.rows, self.noise = rows, noise

    def validate(self, ctx: StepContext) -> list[Finding]:
        if ctx.target != "target":
            return [Finding(f"this source's target column is 'target', not {ctx.target!r}")]
        return []

    def load(self, ctx: StepContext) -> Any:
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng(ctx.seed)
        x = rng.normal(size=(self.rows, 3))
        signal = x[:, 0] + x[:, 1] + rng.normal(scale=self.noise * 0.5, size=self.rows)
        frame = pd.DataFrame(x, columns=["x1", "x2", "x3"])
        frame["target"] = (signal > 0).astype("int64")
        return frame
''',
    """

def test_source_loads_a_table(tmp_path: Path) -> None:
    frame = check_source(SyntheticSource(rows=200), context(tmp_path))
    assert len(frame) == 200
""",
)

CHECK = Template(
    "check",
    "check",
    "MinRows",
    "min_rows",
    "specops_register_checks",
    "MIN_ROWS_PARAMS",
    "The table has at least min_rows rows",
    '''"""A data check: the table has enough rows to learn from."""

from __future__ import annotations

from typing import Any

from framework import CheckOutcome, StepContext

MIN_ROWS_PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"min_rows": {"type": "integer", "minimum": 1, "default": 100}},
}


class MinRows:
    """Fails when the table has fewer than ``min_rows`` rows."""

    def __init__(self, min_rows: int = 100) -> None:
        self.min_rows = min_rows

    def run(self, frame: Any, ctx: StepContext) -> list[CheckOutcome]:
        rows = len(frame)
        return [
            CheckOutcome(
                "__STEM___min_rows",
                rows >= self.min_rows,
                observed=rows,
                expected=f">= {self.min_rows}",
                detail="" if rows >= self.min_rows else f"only {rows} rows",
            )
        ]
''',
    """

def test_check_judges_the_row_count(tmp_path: Path) -> None:
    frame = table(rows=120)
    [passed] = check_check(MinRows(min_rows=100), frame, context(tmp_path))
    [failed] = check_check(MinRows(min_rows=1000), frame, context(tmp_path))
    assert passed.passed and not failed.passed
""",
)

SPLIT = Template(
    "split",
    "split",
    "EveryNth",
    "every_nth",
    "specops_register_splits",
    "EVERY_NTH_PARAMS",
    "Every n-th row (from a seeded offset) is a test row",
    '''"""A splitter: every n-th row is a test row, from an offset chosen by the seed."""

from __future__ import annotations

from typing import Any

from framework import DataError, StepContext

EVERY_NTH_PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"every": {"type": "integer", "minimum": 2, "default": 4}},
}


class EveryNth:
    """Row positions ``offset, offset + every, ...`` are the test set."""

    def __init__(self, every: int = 4) -> None:
        self.every = every

    def split(self, frame: Any, ctx: StepContext) -> tuple[Any, Any]:
        import numpy as np

        rows = len(frame)
        if rows < self.every:
            raise DataError(f"cannot take every {self.every}th row of {rows} rows")
        positions = np.arange(rows)
        test = (positions % self.every) == ctx.seed % self.every
        return positions[~test], positions[test]
''',
    """

def test_split_is_disjoint_and_repeatable(tmp_path: Path) -> None:
    train, test = check_split(EveryNth(every=4), table(rows=100), context(tmp_path))
    assert (len(train), len(test)) == (75, 25)
""",
)

TRANSFORM = Template(
    "transform",
    "transform",
    "Scale",
    "scale",
    "specops_register_transforms",
    "SCALE_PARAMS",
    "Standardize numeric columns",
    '''"""A transform: standardize numeric columns (mean 0, sd 1) with scikit-learn."""

from __future__ import annotations

from typing import Any

from framework import DataError, StepContext, columns_with_role

SCALE_PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "columns": {
            "type": ["array", "null"],
            "items": {"type": "string"},
            "default": None,
            "description": "Columns to scale; null means every numeric column.",
        },
    },
}


class Scale:
    """scikit-learn's StandardScaler on the chosen numeric columns."""

    def __init__(self, columns: list[str] | None = None) -> None:
        self.columns = columns

    def build(self, frame: Any, ctx: StepContext) -> tuple[Any, list[str]]:
        from sklearn.preprocessing import StandardScaler

        columns = self.columns or columns_with_role(frame, "numeric")
        missing = [name for name in columns if name not in frame.columns]
        if missing:
            raise DataError(f"__STEM___scale: no column {', '.join(missing)}")
        return StandardScaler(), list(columns)
''',
    """

def test_transform_builds_a_storable_transformer() -> None:
    assert check_transform(Scale()) is not None
""",
)

MODEL = Template(
    "model",
    "model",
    "CentroidModel",
    "centroid",
    "specops_register_models",
    "CENTROID_PARAMS",
    "Nearest-centroid classifier",
    '''"""A model: nearest centroid, stored as JSON (never pickle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framework import DataError, StepContext

CENTROID_PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"temperature": {"type": "number", "exclusiveMinimum": 0, "default": 1.0}},
}


class CentroidModel:
    """Predicts the class whose mean is nearest; probabilities from the distances."""

    tasks = frozenset({"binary", "multiclass"})
    native_categorical = False
    handles_missing = False

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = temperature
        self.centroids: Any = None

    def fit(self, X: Any, y: Any, ctx: StepContext) -> None:
        import numpy as np

        values = X.to_numpy(dtype=float)
        classes = int(y.max()) + 1
        self.centroids = np.stack([values[y == k].mean(axis=0) for k in range(classes)])

    def predict_proba(self, X: Any) -> Any:
        import numpy as np

        if self.centroids is None:
            raise DataError("the __STEM___centroid model has not been fitted")
        values = X.to_numpy(dtype=float)
        distance = ((values[:, None, :] - self.centroids) ** 2).sum(axis=2)
        logits = -distance / self.temperature
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        return weights / weights.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> Any:
        return self.predict_proba(X).argmax(axis=1)

    def save(self, directory: Path) -> None:
        state = {"temperature": self.temperature, "centroids": self.centroids.tolist()}
        (directory / "centroids.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, directory: Path) -> CentroidModel:
        import numpy as np

        state = json.loads((directory / "centroids.json").read_text())
        model = cls(state["temperature"])
        model.centroids = np.asarray(state["centroids"])
        return model
''',
    """

@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_model_predicts_the_same_after_save_and_load(task: str, tmp_path: Path) -> None:
    check_model(CentroidModel, task, {"temperature": 0.5}, directory=tmp_path)
""",
)

METRIC = Template(
    "metric",
    "metric",
    "BalancedAccuracy",
    "balanced_accuracy",
    "specops_register_metrics",
    "None",
    "Mean recall over the classes",
    '''"""A metric: balanced accuracy, the mean of each class's recall."""

from __future__ import annotations

from typing import Any


class BalancedAccuracy:
    """Mean recall over the classes present in ``y_true``: 1 is perfect."""

    tasks = frozenset({"binary", "multiclass"})
    higher_is_better = True
    bounds = (0.0, 1.0)

    def compute(self, y_true: Any, y_pred: Any, y_score: Any) -> float:
        import numpy as np

        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        recalls = [float((y_pred[y_true == k] == k).mean()) for k in np.unique(y_true)]
        return float(np.mean(recalls)) if recalls else 0.0
''',
    """

def test_metric_respects_its_bounds() -> None:
    assert check_metric(BalancedAccuracy()) == 1.0
""",
)

DEPLOY = Template(
    "deploy",
    "deploy",
    "ManifestTarget",
    "manifest",
    "specops_register_deploy_targets",
    "MANIFEST_PARAMS",
    "Write a JSON manifest of the released version",
    '''"""A deploy target: a JSON manifest of the released version; replaces only its own file."""

from __future__ import annotations

import json

from framework import (
    DeployOutcome,
    Finding,
    Release,
    StepContext,
    UserError,
    deploy_file_findings,
    file_refusal,
    mark_file,
    protected_refusal,
)

MANIFEST_PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {"path": {"type": "string", "minLength": 1}},
}


class ManifestTarget:
    """Writes name, version and metrics to ``path`` (relative to the spec)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def validate(self, ctx: StepContext) -> list[Finding]:
        return deploy_file_findings(ctx.path(self.path), ctx, key="path")

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome:
        target = ctx.path(self.path)
        refusal = protected_refusal(target, ctx) or file_refusal(target, ctx.run_id)
        if refusal:
            raise UserError(refusal)
        manifest = {"model": release.name, "version": release.version, "metrics": release.metrics}
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(manifest, indent=2) + "\\n")
        owner = {"target": "__STEM___manifest", "model": release.name, "version": release.version}
        mark_file(target, {**owner, "run_id": ctx.run_id})
        return DeployOutcome(f"manifest written to {target}", location=str(target))
''',
    """

def test_deploy_target_writes_only_its_own_file(tmp_path: Path) -> None:
    outcome = check_deploy_target(lambda path: ManifestTarget(path=path), tmp_path)
    assert outcome.location
""",
)

DRIFT = Template(
    "drift_test",
    "drift",
    "MeanShift",
    "mean_shift",
    "specops_register_drift_tests",
    "MEAN_SHIFT_PARAMS",
    "Shift of the mean, in reference standard deviations",
    '''"""A drift test: how far the mean moved, in reference standard deviations."""

from __future__ import annotations

from typing import Any

from framework import ColumnProfile, DriftResult

MEAN_SHIFT_PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"limit": {"type": "number", "exclusiveMinimum": 0, "default": 0.5}},
}


class MeanShift:
    """Drift when the mean moved by ``limit`` reference standard deviations or more."""

    roles = frozenset({"numeric"})

    def __init__(self, limit: float = 0.5) -> None:
        self.limit = limit

    def statistic(self, reference: ColumnProfile, current: Any) -> DriftResult:
        spread = reference.std or 1.0  # a constant column: measure in its own units
        shift = abs(float(current.mean()) - reference.mean) / spread
        return DriftResult(
            shift,
            self.limit,
            shift >= self.limit,
            f"mean moved {shift:.2f} sd",
            drift_if=">=",
            measure="mean shift (sd)",
        )
''',
    """

def test_drift_test_sees_no_drift_in_identical_data() -> None:
    [same] = check_drift_test(MeanShift(limit=0.5))
    assert not same.drifted
""",
)

TEMPLATES: dict[str, Template] = {
    t.kind: t for t in (SOURCE, CHECK, SPLIT, TRANSFORM, MODEL, METRIC, DEPLOY, DRIFT)
}
"""Every kind ``specops new-plugin --kinds`` accepts, in lifecycle order."""
