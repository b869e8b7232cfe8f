"""What ``specops plan`` shows of the data: each column and the role training gives it.

A role decided wrongly (an id read as a number, prices with decimal commas read
as categories) is cheap to fix in the spec and expensive to find in a trained
model, so ``plan`` reads the source the way the ingest step does and shows it.
Only reading happens: nothing is stored, split or trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from framework.components import StepContext
from framework.plugins import Plugins
from framework.spec.model import Spec


@dataclass(frozen=True)
class ColumnPreview:
    """One column of the source: its role, and how the run uses it."""

    name: str
    role: str  # numeric, categorical, boolean, datetime
    dtype: str
    use: str  # feature, target, excluded, not used (dates)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DataPreview:
    rows: int
    columns: list[ColumnPreview]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": [c.to_dict() for c in self.columns]}


def preview_data(spec: Spec, plugins: Plugins) -> DataPreview:
    """Read the source as ``specops run`` would and say each column's role and use.

    Raises the same :class:`~framework.errors.DataError` a run would on data that
    does not fit the spec (a missing target, a wrong column), so ``plan`` finds it.
    """
    from framework.columns import role_of
    from framework.execution.local import as_table, feature_frame, target_values
    from framework.signature import infer_signature

    ctx = StepContext(
        spec_name=spec.name,
        task=spec.task,
        target=spec.target,
        base_dir=spec.base_dir,
        seed=spec.seed,
        execution=spec.execution.type,
    )
    source = plugins.build("source", spec.source.type, spec.source.kwargs())
    frame = as_table(source.load(ctx), spec.source.type, plugins)
    target_values(frame, spec)
    features, unused_dates = feature_frame(frame, spec)
    signature, _ = infer_signature(features, dict(spec.features or {}))
    roles = {c.name: c.role for c in signature.columns}
    excluded = set(spec.exclude)
    columns = []
    for name in frame.columns:
        series = frame[name]
        if name in roles:
            use, role = "feature", roles[name]
        elif name == spec.target:
            use, role = "target", role_of(series)
        elif name in unused_dates:
            use, role = "not used (dates)", "datetime"
        else:
            use = "excluded" if name in excluded else "not a feature"
            role = role_of(series)
        columns.append(ColumnPreview(str(name), role, str(series.dtype), use))
    return DataPreview(len(frame), columns)
