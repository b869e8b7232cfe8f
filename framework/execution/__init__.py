"""Where a run's data-heavy work happens: the public API for executor plugins.

An executor is a component of kind ``execution``, registered through
``specops_register_executors(register)`` like any other kind and named by the
spec's ``execution: {type, params}`` (default ``local``). Its methods
(:class:`Executor`) do everything that reads rows; the engine only sequences the
steps and records what they report. A third party adds an engine (Ray, say) by
registering a factory whose objects implement :class:`Executor`; see
docs/plugins.md, "Execution engines".

Nothing here imports pandas or dask: importing this module is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.errors import DataError
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

SCORING_NAMES = (
    "DEFAULT_CHUNK_ROWS",
    "PIECE_ROWS",
    "PartResult",
    "PartsJob",
    "Piece",
    "ScoreResult",
    "score_part",
    "score_to_parts",
)
"""Batch-scoring pieces an executor's ``score`` builds on, from :mod:`framework.scoring`
(imported on first use: ``validate`` never pays for them)."""

__all__ = [
    "DEFAULT",
    "KIND",
    "ROWS_LINEAGE_KEY",
    "ROWS_METHOD",
    "ContentRule",
    "check_counts",
    "class_test_counts",
    "content_rule",
    "content_split",
    "holdout_count",
    "kth_smallest",
    "mix",
    *SCORING_NAMES,
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
    if name in SCORING_NAMES:
        from framework import scoring

        return getattr(scoring, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
