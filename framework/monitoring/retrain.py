"""Drift-triggered retraining: the ordinary lifecycle, on the window the spec names.

The challenger is trained by the same :class:`framework.engine.Engine` as any run,
through its ``source`` seam, so it is checked, split, gated against the champion
(scored on the new test rows it did not train on: the window often overlaps its
training data, see :mod:`framework.champion`) and promoted only if it passes.
The run records the monitor run that triggered it (``runs.trigger``) and says in
its params where its data came from (``data.source.type: monitor_window``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework.errors import DataError, UserError
from framework.spec.model import ComponentSpec, Spec, frozen, thawed

if TYPE_CHECKING:
    import pandas as pd

    from framework.plugins import Plugins

WINDOW_SOURCE = "monitor_window"


@dataclass
class RetrainOutcome:
    """What the retraining run did, for the monitor's verdict and the store's chain."""

    run_id: str | None
    status: str  # passed | rejected | failed_checks | error
    window: str
    rows: int = 0
    promoted_version: int | None = None
    version: int | None = None
    gate: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    champion_note: str = ""  # what the gate compared the champion on (rows, or recorded)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ROWS_PER_PARTITION = 500_000
"""Rows per partition when a window held here is handed to a Dask run."""


class FrameSource:
    """A source that hands the engine a table already in memory: the retraining window.
    On a Dask run (the spec's ``execution: dask``) it is cut into partitions."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def load(self, ctx: Any) -> pd.DataFrame:
        return self.frame.copy()

    def partitions(self, ctx: Any) -> int:
        return max(1, -(-len(self.frame) // ROWS_PER_PARTITION))

    def load_distributed(self, ctx: Any) -> Any:
        import dask.dataframe as dd

        return dd.from_pandas(self.frame, npartitions=self.partitions(ctx), sort=False)


@dataclass
class Window:
    """The rows a challenger retrains on: a source the engine loads (here, or on Dask),
    how many rows, and a sentence saying which they are."""

    source: Any
    rows: int
    description: str


def frame_window(spec: Spec, plugins: Plugins, batch: pd.DataFrame) -> Window:
    """The window of a batch held here (:func:`window_frame`), as a source."""
    frame, description = window_frame(spec, plugins, batch)
    return Window(FrameSource(frame), len(frame), description)


def window_frame(spec: Spec, plugins: Plugins, batch: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows to retrain on, and a sentence saying which they are."""
    import pandas as pd

    from framework.components import StepContext

    policy = spec.monitor.retrain
    if spec.target not in batch.columns:
        raise DataError(
            f"retraining needs labels, but the new data has no target column '{spec.target}'",
            column=spec.target,
            hint="add the labels to the batch, or use on_drift: fail until they arrive",
        )
    if policy.data == "new_only":
        frame, what = batch, f"the new batch ({len(batch):,} rows)"
    else:
        # the store too: a snapshot source reads the run's data from it (a CronJob's
        # spec on a shared store has no other copy of the data)
        ctx = StepContext(
            spec.name, spec.task, spec.target, spec.base_dir, spec.seed, store_root=spec.store_path
        )
        source = plugins.build("source", spec.source.type, spec.source.kwargs())
        reference = source.load(ctx)
        reference.columns = [str(c) for c in reference.columns]
        columns = list(reference.columns)
        extra = [c for c in batch.columns if c not in set(columns)]
        aligned = batch.reindex(columns=columns)
        frame = pd.concat([reference, aligned], ignore_index=True)
        what = f"the spec's source ({len(reference):,} rows) then the new batch ({len(batch):,})"
        if extra:
            what += f"; batch columns not in the source ignored: {', '.join(extra)}"
    if policy.rows is not None and len(frame) > policy.rows:
        frame = frame.iloc[-policy.rows :]
        what = f"the last {policy.rows:,} rows of {what}"
    return frame.reset_index(drop=True), what


def window_spec(spec: Spec, description: str) -> Spec:
    """The spec with its source replaced by the window, so the run's params say so."""
    params = {"window": spec.monitor.retrain.data, "rows": spec.monitor.retrain.rows}
    params["description"] = description
    document = thawed(spec.document)
    document.setdefault("data", {})["source"] = {"type": WINDOW_SOURCE, "params": params}
    source = ComponentSpec("source", WINDOW_SOURCE, frozen(params), spec.source.path)
    return dataclasses.replace(spec, source=source, document=frozen(document))


def retrain(spec: Spec, plugins: Plugins, batch: pd.DataFrame, monitor_id: str) -> RetrainOutcome:
    """Train a challenger on the window of a batch held here, gate it, promote it only
    if it passes."""
    try:
        window = frame_window(spec, plugins, batch)
    except UserError as exc:
        return RetrainOutcome(None, "error", spec.monitor.retrain.data, note=str(exc))
    return retrain_window(spec, plugins, window, monitor_id)


def retrain_window(spec: Spec, plugins: Plugins, window: Window, monitor_id: str) -> RetrainOutcome:
    """Train a challenger on ``window`` (by the spec's executor), gate it, promote it
    only if it passes."""
    from framework.engine import Engine
    from framework.store import CHAMPION, Store

    kind = spec.monitor.retrain.data
    description = window.description
    engine = Engine(
        window_spec(spec, description), plugins, source=window.source, trigger=monitor_id
    )
    try:
        result = engine.run()
    except UserError as exc:
        run_id = engine.ctx.run_id
        return RetrainOutcome(run_id, "error", kind, window.rows, note=f"{description}: {exc}")
    run = result.run
    model = run.outputs.get("model") or {}
    outcome = RetrainOutcome(
        run.run_id,
        run.status,
        kind,
        window.rows,
        version=model.get("version"),
        gate=[v.to_dict() for v in result.verdicts],
        note=description,
        champion_note=str(run.outputs.get("champion_note") or ""),
    )
    if run.status == "passed" and outcome.version is not None:
        store = Store(spec.store_path)
        try:
            if store.alias(spec.name, CHAMPION) == outcome.version:
                outcome.promoted_version = outcome.version
        finally:
            store.close()
    return outcome
