"""The ``local`` executor: every data-heavy step on a pandas frame in this process.

This is the default (no ``execution:`` key) and the reference for other executors:
its messages are the ones users know, and an executor that can give the same ones
for the same data should. The table is read whole, so the data must fit in memory;
``execution: dask`` is for data that does not.

The module-level functions (:func:`as_table`, :func:`target_values`,
:func:`feature_frame`, :func:`split_positions`) are public so ``specops plan``'s
data preview reads a source exactly as ``ingest`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import contracts
from framework.data_limits import UNUSABLE_HINT, unusable_column
from framework.errors import DataError, StoreError
from framework.execution.columns import (
    choose_features,
    require_classes,
    require_column_names,
    require_target,
)
from framework.execution.protocol import (
    Evaluation,
    Prepared,
    RowsRecord,
    Say,
    Scope,
    Split,
    Table,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework.champion import Comparison
    from framework.components import CheckOutcome, Finding, StepContext
    from framework.package import Predictions
    from framework.plugins import Plugins
    from framework.spec.model import Spec
    from framework.store import Store
    from framework.training_rows import TrainingRows

RELOAD_ROWS = 100
"""Test rows predicted again after the package is reloaded, before registering it."""


@dataclass
class _Ingested:
    frame: pd.DataFrame  # the whole table, text column names, index 0..n-1
    y: np.ndarray  # target codes 0..k-1 (floats for regression)
    features: pd.DataFrame  # the feature columns, typed by their signature


@dataclass
class _Rows:
    frame: pd.DataFrame
    labels: list[Any] | None
    positions_test: np.ndarray
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    trained_on: TrainingRows
    test_hashes: np.ndarray  # fingerprints of the test rows, in test order


@dataclass
class _Transformed:
    x_train: pd.DataFrame
    x_test: pd.DataFrame


class LocalExecutor:
    """pandas in this process; nothing to start or connect to."""

    def validate(self, spec: Spec, plugins: Plugins) -> list[tuple[str, Finding]]:
        return []  # every component runs locally

    def describe(self, spec: Spec, plugins: Plugins, ctx: StepContext) -> list[str]:
        return ["pandas in this process (the whole table in memory)"]

    def session(self, say: Say) -> AbstractContextManager[None]:
        return _long_lived_frozen()

    # ingest, check ------------------------------------------------------------

    def ingest(self, scope: Scope, source: Any) -> Table:
        from framework.lineage import frame_hash
        from framework.signature import infer_signature

        spec = scope.spec
        frame = as_table(source.load(scope.ctx), spec.source.type, scope.plugins)
        y, labels = target_values(frame, spec)
        features, excluded = feature_frame(frame, spec)
        signature, features = infer_signature(features, dict(spec.features or {}))
        return Table(
            data=_Ingested(frame, y, features),
            rows=len(frame),
            columns=[str(c) for c in frame.columns],
            data_hash=frame_hash(frame),
            signature=signature,
            labels=labels,
            excluded=excluded,
        )

    def keep_snapshot(
        self, scope: Scope, store: Store, table: Table
    ) -> tuple[str | None, str | None]:
        """A table Arrow cannot hold is noted, not fatal: the run does not depend on it."""
        return self.start_snapshot(scope, store, table)()

    def start_snapshot(
        self, scope: Scope, store: Store, table: Table
    ) -> Callable[[], tuple[str | None, str | None]]:
        """:meth:`keep_snapshot` written on a thread while the next steps run (see
        ``Store.start_snapshot``); the returned function waits for it."""
        try:
            kept = store.start_snapshot(table.data_hash, table.data.frame)
        except (ValueError, TypeError, OSError) as exc:
            problem = _not_kept(exc)
            return lambda: (None, problem)

        def finish() -> tuple[str | None, str | None]:
            try:
                return kept(), None
            except (ValueError, TypeError, OSError) as exc:
                return None, _not_kept(exc)

        return finish

    def check(self, scope: Scope, table: Table) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
        from framework.checking import run_checks

        return run_checks(scope.plugins, scope.spec.checks, table.data.frame, scope.ctx)

    # split, transform, train --------------------------------------------------

    def split(self, scope: Scope, table: Table, splitter: Any) -> Split:
        from framework import training_rows
        from framework.execution import content_rule, require_both_sides
        from framework.execution.rows import content_split
        from framework.signature import training_categories

        spec, plugins = scope.spec, scope.plugins
        ingested: _Ingested = table.data
        frame, features, y = ingested.frame, ingested.features, ingested.y
        # each row's content fingerprint, computed once: a content rule chooses the rows
        # by it, and it records what this version trained on, so a later gate leaves
        # those rows out when it scores this version as champion
        hashed = list(dict.fromkeys([*map(str, features.columns), spec.target]))
        fingerprints = training_rows.row_hashes(frame, hashed)
        rule = content_rule(splitter, scope.ctx)
        if rule is not None:  # disjoint, in range, by construction: no contract to check
            classes = frame[spec.target].to_numpy() if rule.stratify else None
            positions_train, positions_test = content_split(
                fingerprints, rule, classes, column=spec.target
            )
        else:  # a splitter that needs the whole table (time, custom, method: shuffle)
            positions_train, positions_test = contracts.split_positions(
                plugins,
                spec.split.type,
                splitter.split(frame, scope.ctx),
                len(frame),
                lambda part: split_positions(frame, part, spec.split.type),
            )
        require_both_sides(len(positions_train), len(positions_test))
        signature, x_train, x_test = training_categories(
            table.signature, features.iloc[positions_train], features.iloc[positions_test]
        )
        y_train, y_test = y[positions_train], y[positions_test]
        trained_on = training_rows.TrainingRows.of(fingerprints[positions_train], hashed)
        rows = _Rows(
            frame,
            table.labels,
            positions_test,
            x_train,
            x_test,
            y_train,
            y_test,
            trained_on,
            fingerprints[positions_test],
        )
        return Split(
            data=rows,
            train_rows=len(x_train),
            test_rows=len(x_test),
            signature=signature,
            train_classes=None if table.labels is None else _classes_present(y_train),
        )

    def fit_transform(self, scope: Scope, split: Split, model: Any) -> Prepared:
        from framework.preprocess import fit_preprocess

        rows: _Rows = split.data
        prep = fit_preprocess(rows.x_train, scope.spec.preprocess, model, scope.plugins, scope.ctx)
        x_test = prep.pipeline.transform(rows.x_test) if prep.pipeline is not None else rows.x_test
        return Prepared(
            pipeline=prep.pipeline,
            steps=prep.steps,
            columns=prep.train.shape[1],
            data=_Transformed(prep.train, x_test),
        )

    def train(self, scope: Scope, model: Any, split: Split, prepared: Prepared) -> None:
        model.fit(prepared.data.x_train, split.data.y_train, scope.ctx)

    # evaluate, gate -------------------------------------------------------------

    def evaluate(self, scope: Scope, model: Any, split: Split, prepared: Prepared) -> Evaluation:
        from framework.package import Predictions, predict_transformed

        spec, plugins = scope.spec, scope.plugins
        rows: _Rows = split.data
        x_test = prepared.data.x_test
        if spec.task == "regression":
            predictions = predict_transformed(model, x_test, spec.task)
            contracts.regression_values(plugins, spec.model.type, predictions.codes, len(x_test))
        else:  # checked before argmax and the metrics read it
            proba = contracts.probabilities(
                plugins,
                spec.model.type,
                model.predict_proba(x_test),
                len(x_test),
                len(rows.labels or ()),
            )
            predictions = Predictions(proba.argmax(axis=1), None, proba)
        metrics, directions = scope.metrics(
            rows.y_test, predictions.codes, predictions.score(spec.task)
        )
        return Evaluation(metrics, directions, predictions)

    def compare(
        self,
        scope: Scope,
        store: Store,
        split: Split,
        evaluation: Evaluation,
        lineage: dict[str, Any],
    ) -> Comparison:
        from framework.champion import CandidateTest, compare

        spec = scope.spec
        rows: _Rows = split.data
        candidate = CandidateTest(
            spec.name,
            spec.task,
            lineage,
            rows.labels,
            rows.frame,
            rows.positions_test,
            rows.y_test,
            evaluation.data,
            rows.trained_on,
            rows.test_hashes,
        )
        return compare(store, scope.plugins, candidate, lambda *scored: scope.metrics(*scored)[0])

    # register -------------------------------------------------------------------

    def training_rows(self, scope: Scope, store: Store, split: Split) -> RowsRecord:
        from framework import training_rows

        entry, data = training_rows.record(store, split.data.trained_on)
        return RowsRecord(entry, lambda: training_rows.ensure_stored(store, entry, data))

    def write_profile(
        self, scope: Scope, package_dir: Path, split: Split, evaluation: Evaluation
    ) -> None:
        from framework.monitoring.profile import write_profile

        rows: _Rows = split.data
        task = scope.spec.task
        write_profile(
            package_dir, rows.x_train, split.signature, evaluation.data, task, rows.labels
        )

    def check_reload(
        self, scope: Scope, package_dir: Path, split: Split, evaluation: Evaluation
    ) -> None:
        check_reload(scope, package_dir, split.data.x_test, evaluation.data)

    # predict, monitor -----------------------------------------------------------

    def score(self, package: Any, input_path: Path, output_path: Path, **options: Any) -> Any:
        from framework.scoring import score_file

        return score_file(package, input_path, output_path, **options)

    def read_batch(self, path: Path) -> Any:
        from framework.monitoring.batch_rows import read_local

        return read_local(Path(path))


def _not_kept(exc: BaseException) -> str:
    return f"data snapshot not kept ({type(exc).__name__}: {exc})"


@contextmanager
def _long_lived_frozen() -> Iterator[None]:
    """The session (a run, a prediction, a monitoring pass) with every object made before
    it (imports, plugins, the spec) left out of Python's full garbage collections: none
    of them becomes garbage meanwhile, and each full collection (the imports of pandas
    and scikit-learn trigger them) rescanned them all, some 60 ms a run at 200,000 rows.
    Afterwards they are collected as usual again. A process that froze objects itself
    (as ``framework.serving.heap`` does) is left as it is."""
    import gc

    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# ---------------------------------------------------------------------------
# the table: what ingest and plan's data preview share
# ---------------------------------------------------------------------------


def as_table(frame: Any, source_type: str, plugins: Plugins | None = None) -> pd.DataFrame:
    """The source's table with text column names. Something else than a DataFrame is
    a bug of the source's plugin (named when ``plugins`` is given); duplicate names
    are refused here, before a later step fails on them without saying why."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        what = f"load returned {type(frame).__name__}, not a pandas DataFrame"
        if plugins is not None:
            raise contracts.broken(plugins, "source", source_type, what, step="ingest")
        raise DataError(f"source '{source_type}' returned {type(frame).__name__}, not a table")
    if frame.empty:
        raise DataError(f"source '{source_type}' returned no rows: the dataset is empty")
    names = [str(c) for c in frame.columns]
    require_column_names(names, source_type)
    unusable = unusable_column(frame)
    if unusable is not None:  # no model, profile or signature takes them (was exit 3)
        raise DataError(
            f"source '{source_type}' returned column '{unusable[0]}' of {unusable[1]}",
            column=unusable[0],
            hint=UNUSABLE_HINT,
        )
    frame.columns = names
    return frame.reset_index(drop=True)


def target_values(frame: pd.DataFrame, spec: Spec) -> tuple[np.ndarray, list[Any] | None]:
    """The target as model-ready values; classification labels are encoded 0..k-1."""
    import numpy as np
    import pandas as pd

    require_target([str(c) for c in frame.columns], spec.target)
    target = frame[spec.target]
    missing = target.isna()
    if missing.any():
        rows = ", ".join(map(str, frame.index[missing][:5]))
        raise DataError(
            f"target '{spec.target}' has {int(missing.sum())} missing value(s) (rows {rows})",
            column=spec.target,
            hint="drop those rows or fill the target before training",
        )
    if spec.task == "regression":
        from framework.signature import as_numeric

        values = as_numeric(frame, spec.target, "is a regression target")
        return values.to_numpy(dtype="float64"), None
    codes, uniques = pd.factorize(target, sort=True)
    labels = [v.item() if hasattr(v, "item") else v for v in uniques]
    require_classes(spec.target, spec.task, len(labels), labels[0] if labels else None)
    return np.asarray(codes, dtype="int64"), labels


def feature_frame(frame: pd.DataFrame, spec: Spec) -> tuple[pd.DataFrame, list[str]]:
    """The feature columns: declared, or all but target and ``exclude`` (datetimes aside)."""
    chosen, dates = choose_features(frame, spec.target, spec.features, spec.exclude)
    return frame[chosen], dates


def _classes_present(codes: np.ndarray) -> int:
    """How many classes ``codes`` (0..k-1, as :func:`target_values` encodes them) hold:
    by counting, not through a set of Python ints (7 ms at 160,000 rows)."""
    import numpy as np

    return int(np.count_nonzero(np.bincount(codes))) if len(codes) else 0


def split_positions(frame: pd.DataFrame, part: Any, split_type: str) -> np.ndarray:
    """Row positions from what a splitter returned: a frame of rows or positions."""
    import numpy as np
    import pandas as pd

    if isinstance(part, pd.DataFrame):
        positions = frame.index.get_indexer(part.index)
        if (positions < 0).any():
            raise DataError(f"split '{split_type}' returned rows that are not in the data")
        return positions
    positions = np.asarray(part)
    if positions.dtype.kind not in "iu":
        raise DataError(f"split '{split_type}' returned {positions.dtype} positions, not integers")
    return positions


# ---------------------------------------------------------------------------
# register: the package predicts as it did before it was saved
# ---------------------------------------------------------------------------


def check_reload(scope: Scope, package_dir: Path, x_test: pd.DataFrame, made: Predictions) -> None:
    """Load the package as ``predict`` and ``serve`` will, and predict a few test rows
    again, before anything is registered: a model whose ``save`` loses state, whose
    ``load`` fails, or a pipeline specops will not load (a function in a transform)
    was promoted, and failed only where it was to be used. ``x_test``: raw test rows
    (at least the first :data:`RELOAD_ROWS`), ``made``: their predictions."""
    import numpy as np

    from framework.package import ModelPackage

    spec, plugins = scope.spec, scope.plugins
    transforms = [t.type for t in spec.preprocess]
    try:
        package = ModelPackage(package_dir, plugins)
        again, _ = package.predict(x_test.iloc[:RELOAD_ROWS])
    except StoreError as exc:
        if "transform.skops" in str(exc) and transforms:
            custom = [t for t in transforms if not _builtin(plugins, "transform", t)]
            kind, type_name = "transform", (custom or transforms)[0]
        else:
            kind, type_name = "model", spec.model.type
        raise contracts.broken(
            plugins,
            kind,
            type_name,
            "the model package it made cannot be loaded back: "
            + str(exc).replace(f"{package_dir}/", ""),
            step="register",
        ) from exc
    made_values = made.proba if made.proba is not None else made.codes
    new_values = again.proba if again.proba is not None else again.codes
    rows = min(len(x_test), RELOAD_ROWS)
    if not np.allclose(
        np.asarray(new_values, dtype=float),
        np.asarray(made_values[:rows], dtype=float),
        rtol=1e-6,
        atol=1e-9,
        equal_nan=True,
    ):
        raise contracts.broken(
            plugins,
            "model",
            spec.model.type,
            "predictions differ after save and load; save must keep everything "
            "predict uses, at full precision",
            step="register",
        )


def _builtin(plugins: Plugins, kind: str, type_name: str) -> bool:
    entry = plugins.registry.find(kind, type_name)
    return entry is None or entry.plugin.builtin
