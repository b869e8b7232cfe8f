"""The new batch's rows as judging needs them, wherever they are held.

``specops monitor`` judges a batch only through :class:`BatchRows`: its size and
content hash, each watched column prepared for its drift test
(:class:`~framework.monitoring.batch.PreparedColumn`), the champion's predictions
prepared as the ``prediction`` column, the spec's data checks and, with labels, the
labelled rows. The verdicts (which test, thresholds, decisions) are computed from
those alone, in :mod:`framework.monitoring.monitor`.

:class:`Batch` holds a pandas frame in this process (a file, a partitioned batch
read whole, a window of the prediction log). The Dask executor's batch
(``plugins/dask_execution/monitoring.py``) keeps the rows in partitions on its
workers and computes the same things with per-partition aggregations put together
on the client, so the same rows get the same verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from framework.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

    from framework.components import CheckOutcome, StepContext
    from framework.monitoring.batch import PreparedColumn
    from framework.monitoring.performance import Labelled
    from framework.monitoring.profile import ColumnProfile
    from framework.monitoring.retrain import Window
    from framework.package import ModelPackage, Predictions
    from framework.plugins import Plugins
    from framework.spec.model import ComponentSpec, Spec
    from framework.training_rows import TrainingRows


class PredictionProblem(Exception):
    """The champion cannot score the batch (the message says why, as its DataError did)."""


class BatchRows(Protocol):
    """What judging a batch needs from its rows (see the module docstring)."""

    description: str
    """Where the rows came from, for the report: a path, or a window of the log."""

    @property
    def rows(self) -> int: ...

    @property
    def columns(self) -> list[str]: ...

    def data_hash(self) -> str:
        """A content hash of the rows, recorded with the monitor run."""
        ...

    def prepare(self, name: str, reference: ColumnProfile) -> PreparedColumn:
        """Column ``name`` in its training role (``batch.prepare_column``'s result);
        ``ColumnProblem`` when it is absent or holds what that role cannot take."""
        ...

    def prediction_problem(self, package: ModelPackage) -> str | None:
        """Why the champion cannot score the batch (its DataError's message), or None;
        the predictions are made here, once, and kept for the calls below."""
        ...

    def prepare_prediction(self, package: ModelPackage, reference: ColumnProfile) -> PreparedColumn:
        """The champion's predictions as monitoring calls them
        (``profile.prediction_series``), prepared against their reference;
        PredictionProblem when the champion cannot score the batch."""
        ...

    def run_checks(
        self, plugins: Plugins, checks: Iterable[ComponentSpec], ctx: StepContext
    ) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
        """The spec's ``monitor.checks``: (every outcome, those that fail the batch)."""
        ...

    def labelled(
        self, column: str, package: ModelPackage, trained_on: TrainingRows | None
    ) -> Labelled:
        """The rows with a label in ``column`` (which the batch holds) that the champion
        did not train on, with its predictions; PredictionProblem when it cannot score."""
        ...

    def retraining_window(self, spec: Spec, plugins: Plugins) -> Window:
        """The rows a challenger retrains on (``monitor.retrain``: this batch, or the
        spec's source then this batch, the last ``rows`` of it), as a source the spec's
        executor loads; UserError (DataError) when they cannot be (no target column)."""
        ...


@dataclass
class Batch:
    """A batch held here as a pandas frame: the local :class:`BatchRows`."""

    frame: pd.DataFrame
    description: str
    _predictions: Any = field(default=None, init=False, repr=False)

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def data_hash(self) -> str:
        from framework.lineage import frame_hash

        return frame_hash(self.frame)

    def prepare(self, name: str, reference: ColumnProfile) -> PreparedColumn:
        from framework.monitoring.batch import prepare_column

        return prepare_column(self.frame, name, reference)

    def predictions(self, package: ModelPackage) -> Predictions:
        """The champion's predictions for every row, made once."""
        if self._predictions is None:
            try:
                self._predictions, _ = package.predict(self.frame)
            except DataError as exc:
                self._predictions = PredictionProblem(exc.message)
        if isinstance(self._predictions, PredictionProblem):
            raise self._predictions
        return self._predictions

    def prediction_problem(self, package: ModelPackage) -> str | None:
        try:
            self.predictions(package)
        except PredictionProblem as problem:
            return str(problem)
        return None

    def prepare_prediction(self, package: ModelPackage, reference: ColumnProfile) -> PreparedColumn:
        import pandas as pd

        from framework.monitoring.batch import prepare_column
        from framework.monitoring.profile import prediction_series

        predictions = self.predictions(package)
        series = prediction_series(predictions, package.task, predictions.labels)
        frame = pd.DataFrame({reference.name: series.to_numpy()})
        return prepare_column(frame, reference.name, reference)

    def run_checks(
        self, plugins: Plugins, checks: Iterable[ComponentSpec], ctx: StepContext
    ) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
        from framework.checking import run_checks

        return run_checks(plugins, checks, self.frame, ctx)

    def labelled(
        self, column: str, package: ModelPackage, trained_on: TrainingRows | None
    ) -> Labelled:
        from framework.monitoring.performance import labelled_rows

        predictions = self.predictions(package)
        return labelled_rows(self.frame, column, predictions, package.task, trained_on)

    def retraining_window(self, spec: Spec, plugins: Plugins) -> Window:
        from framework.monitoring.retrain import frame_window

        return frame_window(spec, plugins, self.frame)


def read_local(path: Path) -> Batch:
    """``specops monitor --data PATH`` in this process: the file, Parquet directory or
    glob read whole (``batch.read_batch``)."""
    from framework.monitoring.batch import read_batch

    return Batch(read_batch(Path(path)), str(path))
