"""A CSV source cannot be cut into more partitions than a bound (RED finding F13).

`blocksize: 1024` (the schema's minimum) cut a 268 KB file into 262 partitions and the
run took 105 s instead of about 6 s; a 1 GB file would have been a million tasks held in
the `specops` process. Refused before the graph is built, naming blocksize; the bound
(100,000, as the SQL source's npartitions) is lowered here to keep the file small.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SPEC = """\
name: blocks
task: binary
execution:
  type: dask
data:
  source:
    type: csv
    params: {path: rows.csv, blocksize: 1024}
  target: target
model:
  type: lightgbm
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    lines = ["x,target"] + [f"{i}.5,{'ab'[i % 2]}" for i in range(4000)]
    (tmp_path / "rows.csv").write_text("\n".join(lines) + "\n")  # about 30 KB: ~30 blocks
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


def test_too_many_csv_partitions_are_refused_naming_blocksize(
    cli, spec: Path, dask_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECOPS_MAX_PARTITIONS", "10")
    result = cli("run", spec, "--set", f"execution.params.address={dask_address}")
    said = result.out + result.err
    assert result.code == 2, said
    assert "would be cut into" in said and "partitions of blocksize 1024" in said
    assert "more than 10" in said and "raise blocksize" in said
    monkeypatch.setenv("SPECOPS_MAX_PARTITIONS", "many")
    result = cli("run", spec, "--set", f"execution.params.address={dask_address}")
    assert result.code == 2
    assert "SPECOPS_MAX_PARTITIONS must be a whole number" in result.out + result.err
