"""Where a run's data-heavy work happens: the public API for executor plugins.

An executor is a component of kind ``execution``, registered through
``specops_register_executors(register)`` like any other kind and named by the
spec's ``execution: {type, params}`` (default ``local``). Its methods
(:class:`Executor`) do everything that reads rows; the engine only sequences the
steps and records what they report. A third party adds an engine (Ray, say) by
registering a factory whose objects implement :class:`Executor`; see
docs/plugins.md, "Execution engines".

Besides the protocol and its data classes, this module is the one place an executor
plugin imports framework pieces from: the row rule, the column rules, and (by name in
:data:`LAZY_EXPORTS`, imported on first use) what every executor must do alike:
signatures, data limits, contracts, snapshots, preprocessing, training rows, the
champion gate, monitoring statistics. The modules behind those names are internal
and may move; ``tests/test_execution_api.py`` fails when a plugin imports them.

Nothing here imports pandas or dask: importing this module is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.errors import DataError
from framework.execution.columns import (
    choose_features,
    require_classes,
    require_column_names,
    require_target,
)
from framework.execution.protocol import (
    Evaluation,
    Executor,
    Prepared,
    RowsRecord,
    Say,
    Scope,
    Split,
    Table,
)
from framework.execution.rows import LINEAGE_KEY as ROWS_LINEAGE_KEY
from framework.execution.rows import METHOD as ROWS_METHOD
from framework.execution.rows import (
    ContentRule,
    check_counts,
    class_test_counts,
    content_split,
    holdout_count,
    kth_smallest,
    mix,
)

if TYPE_CHECKING:
    from framework.components import StepContext
    from framework.plugins import Plugins
    from framework.spec.model import Spec

LAZY_EXPORTS: dict[str, str] = {
    # batch scoring (``specops predict``): the pieces an executor's ``score`` builds on
    "DEFAULT_CHUNK_ROWS": "framework.scoring:DEFAULT_CHUNK_ROWS",
    "PIECE_ROWS": "framework.scoring:PIECE_ROWS",
    "PartResult": "framework.scoring:PartResult",
    "PartsJob": "framework.scoring:PartsJob",
    "Piece": "framework.scoring:Piece",
    "ScoreResult": "framework.scoring:ScoreResult",
    "score_part": "framework.scoring:score_part",
    "score_to_parts": "framework.scoring:score_to_parts",
    # what the engine hands an executor
    "ComponentSpec": "framework.spec.model:ComponentSpec",
    "Plugins": "framework.plugins:Plugins",
    "Spec": "framework.spec.model:Spec",
    "Store": "framework.store:Store",
    "sha256_file": "framework.store.artifacts:sha256_file",
    "hide_credentials": "framework.redact:hide_credentials",
    "redact": "framework.redact:redact",
    # who chose a value: the spec file, the command line or the environment (what a spec
    # alone may not choose, such as a cluster on another machine)
    "SPEC_FILE": "framework.execution.origin:SPEC_FILE",
    "allowed_by_env": "framework.execution.origin:allowed_by_env",
    "value_origin": "framework.execution.origin:value_origin",
    # component contracts: a component that breaks one is named as the culprit
    "PluginFault": "framework.errors:PluginFault",
    "contract_broken": "framework.contracts:broken",
    "check_probabilities": "framework.contracts:probabilities",
    "check_regression_values": "framework.contracts:regression_values",
    # ingest: the table's signature and the limits every executor enforces
    "ColumnSignature": "framework.signature:ColumnSignature",
    "Signature": "framework.signature:Signature",
    "FALSE_WORDS": "framework.signature:FALSE_WORDS",
    "TRUE_WORDS": "framework.signature:TRUE_WORDS",
    "as_boolean": "framework.signature:as_boolean",
    "as_numeric": "framework.signature:as_numeric",
    "as_training_categories": "framework.signature:as_training_categories",
    "infer_signature": "framework.signature:infer_signature",
    "INT64_MIN": "framework.data_limits:INT64_MIN",
    "UINT64_MAX": "framework.data_limits:UINT64_MAX",
    "MAX_CLASSES": "framework.data_limits:MAX_CLASSES",
    "UNUSABLE_HINT": "framework.data_limits:UNUSABLE_HINT",
    "PREDICTION": "framework.columns:PREDICTION",
    # data checks: the same verdicts and messages on every executor
    "run_checks_distributed": "framework.checking:run_checks_distributed",
    # snapshots: the table a run ingested, kept partitioned
    "EncodedPart": "framework.snapshots:EncodedPart",
    "SnapshotLayout": "framework.snapshots:SnapshotLayout",
    "encode_part": "framework.snapshots:encode_part",
    "keep_partitioned_snapshot": "framework.snapshots:keep_partitioned_snapshot",
    "read_part": "framework.snapshots:read_part",
    "snapshot_layout": "framework.snapshots:snapshot_layout",
    # transforms: the same fitted sklearn objects as a local fit
    "FittedPreprocess": "framework.preprocess:FittedPreprocess",
    "checked_build": "framework.preprocess:checked_build",
    "fit_steps": "framework.preprocess:fit_steps",
    "wrap_step": "framework.preprocess:wrap_step",
    # training rows and the gate against the champion
    "TrainingRows": "framework.training_rows:TrainingRows",
    "in_training": "framework.training_rows:in_training",
    "load_training_rows": "framework.training_rows:load",
    "row_hashes": "framework.training_rows:row_hashes",
    "training_rows_rule": "framework.training_rows:content_rule",
    "Comparison": "framework.champion:Comparison",
    "RowChoice": "framework.champion:RowChoice",
    "cannot_score": "framework.champion:cannot_score",
    "champion_for": "framework.champion:champion_for",
    "metric_undefined": "framework.champion:metric_undefined",
    "recorded": "framework.champion:recorded",
    "rescored": "framework.champion:rescored",
    "too_few": "framework.champion:too_few",
    "unknown_rows": "framework.champion:unknown_rows",
    "unmatched_columns": "framework.champion:unmatched_columns",
    # the stored model package and its reload check
    "ModelPackage": "framework.package:ModelPackage",
    "Predictions": "framework.package:Predictions",
    "check_reload": "framework.execution.local:check_reload",
    # monitoring: reference profile, batch statistics, labelled rows, retraining window
    "ATOMS_MAX": "framework.monitoring.profile:ATOMS_MAX",
    "DECILES": "framework.monitoring.profile:DECILES",
    "SHOWN_QUANTILES": "framework.monitoring.profile:SHOWN_QUANTILES",
    "Profile": "framework.monitoring.profile:Profile",
    "categorical_from_counts": "framework.monitoring.profile:categorical_from_counts",
    "grid_levels": "framework.monitoring.profile:grid_levels",
    "numeric_from_counts": "framework.monitoring.profile:numeric_from_counts",
    "numeric_from_summary": "framework.monitoring.profile:numeric_from_summary",
    "prediction_role": "framework.monitoring.profile:prediction_role",
    "prediction_series": "framework.monitoring.profile:prediction_series",
    "profile_roles": "framework.monitoring.profile:profile_roles",
    "save_profile": "framework.monitoring.profile:save_profile",
    "ColumnProblem": "framework.monitoring.batch:ColumnProblem",
    "NumericPart": "framework.monitoring.batch:NumericPart",
    "PreparedColumn": "framework.monitoring.batch:PreparedColumn",
    "batch_source": "framework.monitoring.batch:batch_source",
    "conform_file": "framework.monitoring.batch:conform_file",
    "numeric_from_parts": "framework.monitoring.batch:numeric_from_parts",
    "numeric_part": "framework.monitoring.batch:numeric_part",
    "prepare_categorical": "framework.monitoring.batch:prepare_categorical",
    "read_file": "framework.monitoring.batch:read_file",
    "refuse_numbers_for_categories": "framework.monitoring.batch:refuse_numbers_for_categories",
    "refuse_unusable": "framework.monitoring.batch:refuse_unusable",
    "unify_dtypes": "framework.monitoring.batch:unify_dtypes",
    "Labelled": "framework.monitoring.performance:Labelled",
    "labelled_rows": "framework.monitoring.performance:labelled_rows",
    "Window": "framework.monitoring.retrain:Window",
}
"""The framework pieces executors share, by public name -> ``module:attribute``.

They are imported on first use (module ``__getattr__``), so ``import
framework.execution`` stays cheap: ``specops validate`` never pays for pandas. An
executor plugin imports them from here, never from the modules named, which may move."""

__all__ = [
    "DEFAULT",
    "KIND",
    "ROWS_LINEAGE_KEY",
    "ROWS_METHOD",
    "ContentRule",
    "check_counts",
    "choose_features",
    "class_test_counts",
    "content_rule",
    "content_split",
    "holdout_count",
    "kth_smallest",
    "mix",
    *LAZY_EXPORTS,
    "Evaluation",
    "Executor",
    "Prepared",
    "RowsRecord",
    "Say",
    "Scope",
    "Split",
    "Table",
    "build_executor",
    "executor_for",
    "require_both_sides",
    "require_classes",
    "require_column_names",
    "require_target",
    "require_two_classes",
]

KIND = "execution"
DEFAULT = "local"
"""The executor of a spec with no ``execution:`` key: pandas in this process."""


def build_executor(
    plugins: Plugins, type_name: str = DEFAULT, params: dict[str, Any] | None = None
) -> Executor:
    """The executor registered as ``type_name``, built with ``params`` (the schema's
    defaults fill the rest), as every component is built: an unknown name is a
    UserError listing the available ones (``specops predict --execution dask``)."""
    return plugins.build(KIND, type_name, dict(params or {}))


def executor_for(spec: Spec, plugins: Plugins) -> Executor:
    """The executor the spec's ``execution:`` names (``local`` when it has none)."""
    return build_executor(plugins, spec.execution.type, spec.execution.kwargs())


def require_both_sides(train_rows: int, test_rows: int) -> None:
    """Refuse a split that left no training or no test rows (every executor's message)."""
    if train_rows == 0 or test_rows == 0:
        raise DataError(
            f"the split left {train_rows} training and {test_rows} test rows",
            hint="use more data or another test_size",
        )


def require_two_classes(train_classes: int | None) -> None:
    """Refuse a classification training split with a single class (None: regression)."""
    if train_classes is not None and train_classes < 2:
        raise DataError("the training split has a single class; the model cannot learn")


def content_rule(splitter: Any, ctx: StepContext) -> ContentRule | None:
    """The rule a splitter declares (``content_rule(ctx)``, optional), None when it
    chooses rows itself (``split(frame, ctx)`` on the whole table)."""
    declare = getattr(splitter, "content_rule", None)
    return declare(ctx) if callable(declare) else None


def __getattr__(name: str) -> Any:
    """Import a shared piece (:data:`LAZY_EXPORTS`) the first time it is asked for."""
    target = LAZY_EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    module_name, attribute = target.split(":")
    value = getattr(import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
