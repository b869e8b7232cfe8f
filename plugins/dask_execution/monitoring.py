"""``specops monitor`` on Dask: a batch's statistics computed where its rows are.

Public functions (the DaskExecutor's ``read_batch`` calls the first inside its
session)::

    read_batch(client: distributed.Client, path: Path) -> DaskBatch
        # a CSV/Parquet file, a Parquet directory or a glob of CSV/Parquet files:
        # one partition per file, each read on a worker by the local reader
        # (framework.monitoring.batch.read_file) and cast to the batch's common
        # dtypes (unify_dtypes): the local table, cut into partitions
    DaskBatch(client, ddf: dask.dataframe.DataFrame, description: str)
        # framework.monitoring.batch_rows.BatchRows over any Dask DataFrame

Every statistic is a per-partition reduction put together on the client, built from
the local path's own pieces (``numeric_part``/``numeric_from_parts``,
``prepare_categorical``, ``labelled_rows``), with rows numbered through the whole
batch (partition offsets added), so the verdicts and messages are the local ones:

- a numeric column: each partition's finite values sorted and its missing count
  (or the values that are not numbers, the first three with their rows); the sorted
  runs are merged on the client, because the drift tests (plugins) take the column's
  sorted values. The client holds one watched column's values at a time (8 bytes a
  row), never the batch;
- a categorical column: each partition's value counts; the column is rebuilt on the
  client as category codes (1 or 2 bytes a row) for the local preparation;
- the champion's predictions: made per partition on the workers (the package is
  broadcast once) and kept there for the ``prediction`` column and performance;
- data checks: each check's ``run_distributed(ddf, ctx)``
  (``framework.checking.run_checks_distributed``); a check without one is refused by
  name (exit 2) rather than run on gathered rows;
- performance (``--labels``): the labelled rows' label, prediction and score
  gathered (three columns of the labelled rows), then the local metrics.

The batch is persisted on the workers for the run (every column is one more pass
over it), and released when the DaskBatch is. Retraining on drift reads the window
again, lazily, on the retraining run's own cluster (``retraining.py``): the
spec's source by its ``load_distributed``, then the batch's files, the last
``monitor.retrain.rows`` rows; nothing of it passes through the client.
The data hash is the Dask ingest's order-independent one
(``plugins.dask_execution.ingest.data_hash``), not the local ``frame_hash``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import DataError, UserError

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd
    from distributed import Client

    from framework import CheckOutcome, ColumnProfile, StepContext
    from framework.execution import (
        ComponentSpec,
        Labelled,
        ModelPackage,
        NumericPart,
        Plugins,
        PreparedColumn,
        Spec,
        TrainingRows,
        Window,
    )


def read_batch(client: Client, path: Path) -> DaskBatch:
    """The batch at ``path`` on the cluster: one partition per file (see the module
    docstring); DataError naming the file for what the local reader refuses."""
    import dask.dataframe as dd
    import pandas as pd

    from framework.execution import batch_source, unify_dtypes

    kind, files = batch_source(Path(path))
    raw = client.map(_read_file, [kind] * len(files), files, pure=False)
    schemas = client.gather(client.map(_schema, raw))
    dtypes = unify_dtypes(schemas)
    parts = client.map(_conform, raw, dtypes=dtypes, pure=False)
    del raw
    meta = pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in dtypes.items()})
    ddf = dd.from_delayed(parts, meta=meta, verify_meta=True)
    return DaskBatch(client, ddf, str(path), BatchFiles(kind, files, dtypes))


@dataclass(frozen=True)
class BatchFiles:
    """Where a batch's rows are read from, so a later run can read them again lazily."""

    kind: str
    files: list[Path]
    dtypes: dict[str, Any]

    def frame(self) -> Any:
        """The batch as a lazy Dask DataFrame (one partition per file), on whatever
        cluster computes it."""
        import dask.dataframe as dd
        import pandas as pd

        meta = pd.DataFrame({n: pd.Series([], dtype=d) for n, d in self.dtypes.items()})
        return dd.from_map(
            _read_conformed, self.files, kind=self.kind, dtypes=self.dtypes, meta=meta
        )


def _read_conformed(file: Path, kind: str, dtypes: dict[str, Any]) -> pd.DataFrame:
    return _conform(_read_file(kind, file), dtypes)


def _read_file(kind: str, file: Path) -> pd.DataFrame:
    from framework.execution import read_file, refuse_unusable

    frame = read_file(kind, file)
    refuse_unusable(frame, str(file))
    return frame


def _schema(frame: pd.DataFrame) -> dict[str, Any]:
    return dict(frame.dtypes.items())


def _conform(frame: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
    from framework.execution import conform_file

    return conform_file(frame, dtypes)


@dataclass(frozen=True)
class _Predicted:
    """One partition's predictions, kept on its worker: or why it could not be scored."""

    predictions: Any
    problem: str | None


class DaskBatch:
    """:class:`framework.monitoring.batch_rows.BatchRows` over a Dask DataFrame."""

    def __init__(
        self, client: Client, ddf: Any, description: str, files: BatchFiles | None = None
    ) -> None:
        self.client = client
        self.description = description
        self.files = files
        self.ddf = client.persist(ddf)
        lengths = client.compute(self.ddf.map_partitions(len), sync=True)
        self.lengths = [int(n) for n in lengths]
        offsets = [sum(self.lengths[:i]) for i in range(len(self.lengths))]
        # per-partition work (statistics, predictions, labels) skips empty partitions,
        # a 0-row file's: a model cannot predict no rows, and they add nothing
        kept = [i for i, n in enumerate(self.lengths) if n > 0] or list(range(len(lengths)))
        parts = self.ddf.to_delayed()
        self.offsets = [offsets[i] for i in kept]
        self._parts = [parts[i] for i in kept]
        self._package: Any = None
        self._predicted: list[Any] | None = None

    # sizes --------------------------------------------------------------------

    @property
    def rows(self) -> int:
        return sum(self.lengths)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.ddf.columns]

    def data_hash(self) -> str:
        from plugins.dask_execution.ingest import data_hash

        return data_hash(self.ddf)

    # columns ------------------------------------------------------------------

    def prepare(self, name: str, reference: ColumnProfile) -> PreparedColumn:
        from framework import did_you_mean
        from framework.execution import (
            ColumnProblem,
            numeric_from_parts,
            refuse_numbers_for_categories,
        )

        if name not in self.columns:
            raise ColumnProblem(f"missing from the new data{did_you_mean(name, self.columns)}")
        if reference.role == "numeric":
            parts = self._each(_numeric_of_column, name)
            return numeric_from_parts(parts, name)
        refuse_numbers_for_categories(self.ddf._meta[name], reference)
        return _categorical_from_counts(self._each(_counts_of_column, name), reference)

    def _each(self, function: Any, *args: Any) -> list[Any]:
        """``function(partition, offset, *args)`` on every partition, results in order."""
        from dask import delayed

        tasks = [
            delayed(function, pure=True)(part, offset, *args)
            for part, offset in zip(self._parts, self.offsets, strict=True)
        ]
        return list(self.client.compute(tasks, sync=True))

    # predictions --------------------------------------------------------------

    def _predictions(self, package: ModelPackage) -> list[Any]:
        """Futures of each partition's :class:`_Predicted`, made once, kept on the workers."""
        from dask import delayed

        if self._predicted is None:
            [self._package] = self.client.scatter([package], broadcast=True, hash=False)
            tasks = [
                delayed(_predict, pure=True)(part, offset, self._package)
                for part, offset in zip(self._parts, self.offsets, strict=True)
            ]
            self._predicted = self.client.compute(tasks)
        return self._predicted

    def prediction_problem(self, package: ModelPackage) -> str | None:
        futures = self._predictions(package)
        problems = self.client.gather(self.client.map(_problem_of, futures))
        first = next((p for p in problems if p is not None), None)
        if first is None:
            return None
        return self._whole_column_problem(package) or first

    def _whole_column_problem(self, package: ModelPackage) -> str | None:
        """The message the local path gives for the whole batch: each partition's says
        what it holds only, so the first failing column (in the signature's order) is
        checked again over every partition, gathered alone (this is the error path)."""
        import pandas as pd

        from framework.execution import as_boolean, as_numeric

        for column in package.signature.columns:
            if column.role not in ("numeric", "boolean") or column.name not in self.columns:
                continue
            pieces = self._each(_column_of, column.name)
            frame = pd.concat(pieces).to_frame(column.name)
            try:
                if column.role == "numeric":
                    as_numeric(frame, column.name, "must be numeric", booleans=True)
                else:
                    as_boolean(frame, column.name)
            except DataError as exc:
                return exc.message
        return None

    def prepare_prediction(self, package: ModelPackage, reference: ColumnProfile) -> PreparedColumn:
        from framework.execution import numeric_from_parts

        futures = self._predictions(package)
        if reference.role == "numeric":
            parts = self.client.map(_prediction_numeric, futures, task=package.task, pure=False)
            return numeric_from_parts(self.client.gather(parts), reference.name)
        parts = self.client.map(_prediction_counts, futures, task=package.task, pure=False)
        return _categorical_from_counts(self.client.gather(parts), reference)

    # checks and labels --------------------------------------------------------

    def run_checks(
        self, plugins: Plugins, checks: Iterable[ComponentSpec], ctx: StepContext
    ) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
        """The spec's checks, each by its ``run_distributed``, judged as locally; a check
        without one is refused by name before any runs."""
        from framework.execution import run_checks_distributed

        checks = list(checks)
        for check_spec in checks:
            check = plugins.build("check", check_spec.type, check_spec.kwargs())
            if getattr(check, "run_distributed", None) is None:
                raise UserError(
                    f"check '{check_spec.type}' ({check_spec.path}) cannot run on Dask: it "
                    "has no run_distributed; monitor with --execution local, or drop the check"
                )
        return run_checks_distributed(plugins, checks, self.ddf, ctx)

    def labelled(
        self, column: str, package: ModelPackage, trained_on: TrainingRows | None
    ) -> Labelled:
        import numpy as np
        import pandas as pd

        from framework.execution import Labelled

        futures = self._predictions(package)
        [known] = self.client.scatter([trained_on], broadcast=True, hash=False)
        tasks = [
            self.client.submit(
                _labelled, part, offset, predicted, column, package.task, known, pure=False
            )
            for part, offset, predicted in zip(
                self.client.compute(self._parts), self.offsets, futures, strict=True
            )
        ]
        parts: list[Labelled] = self.client.gather(tasks)
        scores = [p.score for p in parts]
        return Labelled(
            column,
            sum(p.rows for p in parts),
            sum(p.labelled for p in parts),
            sum(p.seen for p in parts),
            pd.concat([p.target for p in parts], ignore_index=True),
            np.concatenate([p.codes for p in parts]),
            None if any(s is None for s in scores) else np.concatenate(scores),
        )

    def retraining_window(self, spec: Spec, plugins: Plugins) -> Window:
        """The window as a source a Dask run loads lazily (:mod:`.retraining`)."""
        from plugins.dask_execution.retraining import batch_window

        if self.files is None:
            raise UserError(
                "retraining on a batch read on Dask needs a batch read from files "
                "(specops monitor --data)"
            )
        return batch_window(spec, plugins, self._files_with_rows(), self.rows, self.columns)

    def _files_with_rows(self) -> BatchFiles:
        """The batch's files but those with no rows (one partition per file): an empty
        partition carries no categories, and training's category coding refuses to
        mix its empty categories with the others' (the rows are the same without it)."""
        from dataclasses import replace

        assert self.files is not None
        kept = [f for f, n in zip(self.files.files, self.lengths, strict=True) if n > 0]
        return replace(self.files, files=kept) if kept else self.files


# ---------------------------------------------------------------------------
# what runs on the workers, per partition
# ---------------------------------------------------------------------------


def _numbered(frame: pd.DataFrame, offset: int) -> pd.DataFrame:
    """The partition with its rows numbered through the whole batch."""
    import pandas as pd

    frame = frame.copy(deep=False)
    frame.index = pd.RangeIndex(offset, offset + len(frame))
    return frame


def _numeric_of_column(frame: pd.DataFrame, offset: int, name: str) -> NumericPart:
    from framework.execution import numeric_part

    return numeric_part(_numbered(frame[[name]], offset)[name])


def _column_of(frame: pd.DataFrame, offset: int, name: str) -> pd.Series:
    return _numbered(frame[[name]], offset)[name]


def _counts_of_column(frame: pd.DataFrame, offset: int, name: str) -> tuple[dict[Any, int], int]:
    return _counts(frame[name])


def _counts(series: pd.Series) -> tuple[dict[Any, int], int]:
    """(count per non-missing value, missing values) of one partition's column."""
    present = series.dropna()
    counts = present.value_counts(sort=False)
    return {key: int(n) for key, n in counts.items() if n > 0}, int(len(series) - len(present))


def _categorical_from_counts(
    parts: list[tuple[dict[Any, int], int]], reference: ColumnProfile
) -> PreparedColumn:
    """The column rebuilt from its partitions' counts as category codes (missing as -1),
    then prepared as the local path prepares it: the same categories, counts and unseen.

    Categories are ordered as ``astype("category")`` orders a column's values (sorted,
    when they sort), so ties in the counts come out in the local order too."""
    import numpy as np
    import pandas as pd

    from framework.execution import prepare_categorical

    totals: dict[Any, int] = {}
    for counts, _ in parts:
        for key, n in counts.items():
            totals[key] = totals.get(key, 0) + n
    nulls = sum(missing for _, missing in parts)
    try:
        keys = sorted(totals)
    except TypeError:  # values of several types: in the order met
        keys = list(totals)
    size = np.int8 if len(keys) < 127 else np.int16 if len(keys) < 32_000 else np.int32
    codes = np.repeat(np.arange(len(keys), dtype=size), [totals[k] for k in keys])
    codes = np.concatenate([codes, np.full(nulls, -1, dtype=size)])
    categories = pd.Index(keys, dtype=object if keys else None)
    series = pd.Series(pd.Categorical.from_codes(codes, categories=categories))
    return prepare_categorical(series, reference)


def _predict(frame: pd.DataFrame, offset: int, package: ModelPackage) -> _Predicted:
    try:
        predictions, _ = package.predict(_numbered(frame, offset))
    except DataError as exc:
        return _Predicted(None, exc.message)
    return _Predicted(predictions, None)


def _problem_of(predicted: _Predicted) -> str | None:
    return predicted.problem


def _prediction_series(predicted: _Predicted, task: str) -> pd.Series:
    from framework.execution import prediction_series

    predictions = predicted.predictions
    return prediction_series(predictions, task, predictions.labels)


def _prediction_numeric(predicted: _Predicted, task: str) -> NumericPart:
    from framework.execution import numeric_part

    return numeric_part(_prediction_series(predicted, task))


def _prediction_counts(predicted: _Predicted, task: str) -> tuple[dict[Any, int], int]:
    return _counts(_prediction_series(predicted, task))


def _labelled(
    frame: pd.DataFrame,
    offset: int,
    predicted: _Predicted,
    column: str,
    task: str,
    trained_on: TrainingRows | None,
) -> Labelled:
    from framework.execution import labelled_rows

    return labelled_rows(_numbered(frame, offset), column, predicted.predictions, task, trained_on)
