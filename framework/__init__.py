"""specops: declarative MLOps driven by one schema-checked YAML spec.

This module is the public API for plugins: everything a plugin needs is importable
from ``framework`` directly, and nothing here imports a heavy library.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.bounded_glob import bounded_glob
from framework.columns import columns_with_role, role_of, text_as_categories
from framework.components import (
    KINDS,
    TASKS,
    Check,
    CheckOutcome,
    DeployOutcome,
    DeployTarget,
    DriftResult,
    DriftTest,
    Finding,
    Metric,
    Model,
    Register,
    Release,
    Source,
    Splitter,
    StepContext,
    Transform,
)
from framework.data_limits import (
    check_csv_header,
    check_parquet_text,
    check_parquet_whole,
    decimals_as_floats,
    parquet_files,
    refuse_huge_integers,
    rows_as_frame,
)
from framework.errors import DataError, Problem, SpecError, StoreError, UserError
from framework.events import STEPS, RunInfo, StepInfo
from framework.export import replace_directory, write_release_package
from framework.file_kind import require_regular
from framework.hookspecs import HOOK_API_VERSION, hookimpl
from framework.monitoring.profile import ColumnProfile
from framework.monitoring.schedule import cron_problem
from framework.ownership import MARKER as DEPLOY_MARKER
from framework.ownership import (
    deploy_file_findings,
    deploy_path_findings,
    file_refusal,
    mark_file,
    protected_refusal,
)
from framework.redact import hide_credentials
from framework.runtimes.base import (
    EXACT,
    FLOAT32,
    RawColumns,
    Runtime,
    RuntimeUnavailable,
    Scorer,
    Tolerance,
    Verdict,
)
from framework.runtimes.columns import category_coder
from framework.runtimes.native import native_scorer
from framework.safe_format import load_skops, save_skops
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

    from framework.package import ModelPackage, Predictions
    from framework.scoring import ScoreResult

__version__ = "0.1.0"

_LAZY = {"ModelPackage": "framework.package", "Predictions": "framework.package"}
"""Public names loaded on first use: a package's loading code is not needed to start."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'framework' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def read_snapshot(store_root: Path, data_hash: str) -> pd.DataFrame:
    """The table a run ingested (by data hash or a unique prefix), hash-checked."""
    from framework.snapshots import read_snapshot as read

    return read(store_root, data_hash)


def output_inside_input(output: str | Path, source: str | Path) -> str | None:
    """Why a scoring output may not go where it is (inside the input directory, or
    matched by the input glob), judged from the paths alone; None when it may."""
    from framework.scoring.files import output_inside_input as judge

    return judge(Path(output), Path(source))


def score_file(
    package: Any,
    input_path: str | Path,
    output_path: str | Path,
    *,
    id_column: str | None = None,
    chunk_rows: int = 100_000,
    runtime: str | None = None,
) -> ScoreResult:
    """Score a CSV or Parquet file with a loaded model package (``Release.load()``), in
    chunks, and write the predictions to a CSV or Parquet file, all or nothing.

    ``runtime`` says what computes the predictions: None (the version's own
    ``serve.runtime``, ``auto`` when its spec did not say), ``auto`` (the verified runtime
    with the most rows per second), ``native`` or a runtime's name; one that cannot load
    here falls back to native (logged). An unknown name is a UserError."""
    from framework.scoring import score_file as score
    from framework.serving.runtime_scoring import batch_scorer

    scorer, _, _ = batch_scorer(package, runtime)
    return score(
        package,
        input_path,
        output_path,
        id_column=id_column,
        chunk_rows=chunk_rows,
        scorer=scorer,
    )


__all__ = [
    "DEPLOY_MARKER",
    "EXACT",
    "FLOAT32",
    "HOOK_API_VERSION",
    "KINDS",
    "STEPS",
    "TASKS",
    "Check",
    "CheckOutcome",
    "ColumnProfile",
    "DataError",
    "DeployOutcome",
    "DeployTarget",
    "DriftResult",
    "DriftTest",
    "Finding",
    "Metric",
    "Model",
    "ModelPackage",
    "Predictions",
    "Problem",
    "RawColumns",
    "Register",
    "Release",
    "RunInfo",
    "Runtime",
    "RuntimeUnavailable",
    "Scorer",
    "Source",
    "SpecError",
    "Splitter",
    "StepContext",
    "StepInfo",
    "StoreError",
    "Tolerance",
    "Transform",
    "UserError",
    "Verdict",
    "__version__",
    "bounded_glob",
    "category_coder",
    "check_csv_header",
    "check_parquet_text",
    "check_parquet_whole",
    "columns_with_role",
    "cron_problem",
    "decimals_as_floats",
    "deploy_file_findings",
    "deploy_path_findings",
    "did_you_mean",
    "file_refusal",
    "hide_credentials",
    "hookimpl",
    "load_skops",
    "mark_file",
    "native_scorer",
    "output_inside_input",
    "parquet_files",
    "protected_refusal",
    "read_snapshot",
    "refuse_huge_integers",
    "replace_directory",
    "require_regular",
    "role_of",
    "rows_as_frame",
    "save_skops",
    "score_file",
    "text_as_categories",
    "write_release_package",
]
