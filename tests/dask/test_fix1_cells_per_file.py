"""The Parquet source's cells limit on Dask bounds each file, not the table (F4).

``max_cells`` (default 250M, ``$SPECOPS_MAX_CELLS``) refuses data whose footers declare
more values than can be read into memory. Locally the table is read whole, so it bounds
the table; on Dask each worker reads a file at a time and nothing holds the table, so it
bounds each file (a small file may still declare gigabytes: refused by name). Before,
the whole-table limit refused Dask runs at validate (20M rows x 23 columns = 460M values:
the issue's own benchmark), with a message saying the table is read whole.
"""

from __future__ import annotations

import textwrap
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import DataError, StepContext
from plugins.sources import ParquetSource

ROWS = 100  # x 5 columns = 500 values a file; 3 files = 1,500; the limit below: 1,000


def _context(tmp_path: Path, execution: str) -> StepContext:
    """A context saying which executor runs the spec (when the engine's StepContext has
    the field; without it a source judges as for Dask, see plugins.sources._reads_whole)."""
    told = {"execution": execution} if "execution" in {f.name for f in fields(StepContext)} else {}
    return StepContext(spec_name="t", task="binary", target="churn", base_dir=tmp_path, **told)


def _frame(start: int) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    return pd.DataFrame(
        {
            "id": np.arange(start, start + ROWS),
            "calls": rng.integers(0, 9, ROWS),
            "fee": rng.normal(50, 9, ROWS).round(2),
            "plan": rng.choice(["basic", "pro"], ROWS),
            "churn": rng.choice([0, 1], ROWS),
        }
    )


def _dataset(directory: Path, files: int = 3) -> Path:
    directory.mkdir()
    for number in range(files):
        _frame(number * ROWS).to_parquet(directory / f"part-{number}.parquet", index=False)
    return directory


def test_on_dask_the_limit_bounds_each_file_not_the_table(dask_client: Any, tmp_path: Path) -> None:
    _dataset(tmp_path / "data")
    source = ParquetSource(path="data", max_cells=1_000)
    dask_ctx = _context(tmp_path, "dask")

    assert source.validate(dask_ctx) == []
    ddf = source.load_distributed(dask_ctx)
    assert len(ddf.compute()) == 3 * ROWS

    # the local path reads the table whole: 1,500 values are refused before a page is read
    with pytest.raises(DataError, match=r"declares 1,500 values .* reading a table whole"):
        source.load(_context(tmp_path, "local"))


def test_on_dask_a_file_over_the_limit_is_refused_by_name(dask_client: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _dataset(data, files=1)
    pd.concat([_frame(1000), _frame(2000), _frame(3000)]).to_parquet(
        data / "part-9.parquet", index=False
    )
    source = ParquetSource(path="data", max_cells=1_000)
    dask_ctx = _context(tmp_path, "dask")
    expected = (
        f"Parquet file {data / 'part-9.parquet'} declares 1,500 values (rows x columns), "
        "more than the limit of 1,000 for one file"
    )

    findings = source.validate(dask_ctx)
    assert [f.message for f in findings] and expected in findings[0].message
    assert findings[0].key == "path" and "max_cells" in (findings[0].hint or "")
    with pytest.raises(DataError) as raised:
        source.load_distributed(dask_ctx)
    assert expected in raised.value.message
    assert "by one worker" in raised.value.message
    # reading fewer columns counts fewer values, per file too
    narrow = ParquetSource(path="data", max_cells=1_000, columns=["fee", "churn"])
    assert narrow.validate(dask_ctx) == []


def test_plan_of_a_dask_spec_over_the_table_limit_passes_and_local_is_refused(
    cli: Any, dask_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the benchmark hit: no max_cells in the spec, the table over the limit
    ($SPECOPS_MAX_CELLS here, 250M there), every file under it."""
    monkeypatch.setenv("SPECOPS_MAX_CELLS", "1000")
    _dataset(tmp_path / "data")
    spec = tmp_path / "spec.yaml"
    body = """
        name: cells
        task: binary
        {execution}
        data:
          source: {{type: parquet, params: {{path: data}}}}
          target: churn
          exclude: [id]
        model: {{type: lightgbm, params: {{n_estimators: 5}}}}
        """
    execution = f"execution: {{type: dask, params: {{address: '{dask_address}'}}}}"
    spec.write_text(textwrap.dedent(body.format(execution=execution)).lstrip())
    for command in ("validate", "plan"):
        result = cli(command, spec)
        assert result.code == 0, result.err

    spec.write_text(textwrap.dedent(body.format(execution="")).lstrip())
    refused = cli("validate", spec)  # locally the table is read whole: known at validate
    assert refused.code == 2 and "reading a table whole into memory" in refused.err
    result = cli("run", spec)
    assert result.code == 2, result.err
    assert "declares 1,500 values (rows x columns), more than the limit of 1,000" in result.err
    assert "reading a table whole into memory" in result.err
