"""Every built-in check on Dask gives the outcome its local run gives, word for word.

The same Parquet dataset (four files: four partitions) is read by the parquet source's
local ``load`` and by its ``load_distributed``; each check judges both, passing and
failing, and the outcomes (verdict, observed, expected, detail) must be equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import StepContext
from framework.checking import run_checks
from framework.plugins import get_plugins
from framework.spec.model import ComponentSpec
from plugins.checks import (
    AllowedValues,
    Dtypes,
    MaxNullFraction,
    Range,
    RequiredColumns,
    RowCount,
    Unique,
)
from plugins.dask_execution.checks import run_checks_distributed
from plugins.sources import ParquetSource

ROWS = 4_000


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    plan = rng.choice(["basic", "plus", "pro", "gold", "x1", "x2", "x3", "x4"], ROWS)
    score = rng.integers(0, 100, ROWS).astype("float64")
    score[rng.choice(ROWS, 40, replace=False)] = np.nan  # whole numbers stored as float
    fee = rng.normal(50, 10, ROWS)
    fee[[7, 2500, 3999]] = [-5.0, -1.5, 900.0]
    code = np.arange(ROWS)
    code[[10, 20, 30, 3000, 3500, 3600, 3700, 3800, 3900]] = [1, 2, 2, 5, 5, 6, 7, 8, 9]
    return pd.DataFrame(
        {
            "id": np.arange(ROWS),
            "age": rng.integers(16, 70, ROWS),
            "fee": fee,
            "score": score,
            "plan": plan,
            "region": rng.choice(["north", "south"], ROWS),
            "code": code,
            "joined": pd.date_range("2021-01-01", periods=ROWS, freq="h"),
            "empty": np.full(ROWS, np.nan),
            "note": np.where(rng.random(ROWS) < 0.3, None, "ok"),
        }
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any, StepContext]:
    folder = tmp_path_factory.mktemp("checks")
    frame = _frame()
    (folder / "data").mkdir()
    for number, start in enumerate(range(0, ROWS, ROWS // 4)):
        frame.iloc[start : start + ROWS // 4].to_parquet(folder / "data" / f"p{number}.parquet")
    ctx = StepContext(spec_name="t", task="binary", target="region", base_dir=folder)
    source = ParquetSource(path="data")
    return source.load(ctx), source, ctx


CTX = StepContext(spec_name="t", task="binary", target="region", base_dir=Path())

CHECKS: list[tuple[str, Any]] = [
    ("required columns", RequiredColumns(columns=["age", "plann", "joined"])),
    (
        "dtypes",
        Dtypes(
            columns={
                "age": "integer",
                "score": "integer",
                "fee": "float",
                "plan": "string",
                "note": "string",
                "region": "numeric",
                "joined": "datetime",
                "id": "boolean",
                "agee": "integer",
            }
        ),
    ),
    ("range failing", Range(columns=["age", "fee", "score"], min=18, max=65)),
    ("range passing exclusive", Range(column="fee", min=-100, max=1000, inclusive=False)),
    ("range of datetimes", Range(column="joined", min="2021-02-01", max="2021-03-01")),
    ("range of text", Range(column="plan", min=0)),
    ("range with a word for a number", Range(column="age", min="ten")),
    ("range of nothing", Range(column="empty", max=1)),
    ("allowed values failing", AllowedValues(column="plan", values=["basic", "plus"])),
    ("allowed values passing", AllowedValues(column="region", values=["north", "south"])),
    ("allowed values of numbers", AllowedValues(column="age", values=list(range(16, 60)))),
    ("allowed values, missing column", AllowedValues(column="plna", values=["a"])),
    ("null fraction of all", MaxNullFraction(max=0.05)),
    ("null fraction of some", MaxNullFraction(max=0.5, columns=["note", "nope", "fee"])),
    ("unique values", Unique(columns=["id", "code", "region"])),
    ("unique keys", Unique(columns=["plan", "region"], together=True)),
    ("unique keys passing", Unique(columns=["id", "plan"], together=True)),
    ("unique, missing column", Unique(columns=["id", "cdoe"], together=True)),
    ("row count failing", RowCount(min=10, max=100)),
    ("row count passing", RowCount(min=ROWS)),
]


@pytest.mark.parametrize(("label", "check"), CHECKS, ids=[label for label, _ in CHECKS])
def test_same_outcomes_as_the_local_run(
    dask_client: Any, data: tuple[pd.DataFrame, Any, StepContext], label: str, check: Any
) -> None:
    frame, source, ctx = data
    ddf = source.load_distributed(ctx)
    local = check.run(frame, CTX)
    distributed = check.run_distributed(ddf, CTX)
    assert distributed == local


def test_the_fixture_data_fails_and_passes(
    dask_client: Any, data: tuple[pd.DataFrame, Any, StepContext]
) -> None:
    """The table above exercises both verdicts of every check (a test that cannot fail
    is no test): at least one failed and one passed outcome per check type."""
    frame, _, _ = data
    verdicts: dict[str, set[bool]] = {}
    for _, check in CHECKS:
        for outcome in check.run(frame, CTX):
            verdicts.setdefault(outcome.check, set()).add(outcome.passed)
    assert all(seen == {True, False} for seen in verdicts.values()), verdicts
    unique = Unique(columns=["code"]).run(frame, CTX)[0]
    assert unique.detail.endswith("and 2 more")  # seven repeated values: five shown


def test_the_runner_keeps_severity_and_order(
    dask_client: Any, data: tuple[pd.DataFrame, Any, StepContext]
) -> None:
    frame, source, ctx = data
    ddf = source.load_distributed(ctx)
    plugins = get_plugins()
    specs = [
        ComponentSpec("check", "row_count", {"min": 10}, "checks[0]"),
        ComponentSpec("check", "unique", {"columns": ["code"]}, "checks[1]", severity="warn"),
        ComponentSpec("check", "range", {"column": "age", "min": 18}, "checks[2]"),
    ]
    local = run_checks(plugins, specs, frame, CTX)
    distributed = run_checks_distributed(plugins, specs, ddf, CTX)
    assert distributed == local
    outcomes, failed = distributed
    assert [o.check for o in outcomes] == ["row_count", "unique", "range"]
    assert outcomes[1].detail.startswith("(warning only) ")
    assert [o.check for o in failed] == ["range"]


def test_a_hive_partition_key_is_judged_as_locally(dask_client: Any, tmp_path: Path) -> None:
    """The partition key is a categorical column: value_counts orders its ties by
    category, not by first appearance, and the distributed counts must too."""
    frame = _frame().assign(tier=lambda f: np.where(f["id"] % 3 == 0, "a", "b"))
    frame.loc[frame.index % 7 == 0, "tier"] = "c"
    frame.to_parquet(tmp_path / "hive", partition_cols=["tier"], index=False)
    ctx = StepContext(spec_name="t", task="binary", target="region", base_dir=tmp_path)
    source = ParquetSource(path="hive")
    local, ddf = source.load(ctx), source.load_distributed(ctx)
    assert isinstance(local["tier"].dtype, pd.CategoricalDtype)
    for check in (
        AllowedValues(column="tier", values=["a"]),
        Unique(columns=["tier"]),
        Unique(columns=["tier", "region"], together=True),
        Dtypes(columns={"tier": "categorical"}),
        MaxNullFraction(max=0.0, columns=["tier"]),
    ):
        assert check.run_distributed(ddf, CTX) == check.run(local, CTX)
