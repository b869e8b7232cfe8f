"""Through the CLI: a candidate trained locally is gated against a champion trained on
Dask (its training rows recorded as a content rule), and the other way round (the
champion's fingerprint blob broadcast to the workers). Either way the rows left out
are exactly the candidate's test rows the champion trained on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framework import training_rows
from framework.execution.rows import ContentRule, content_split
from tests.dask.test_run import _table, spec_text, write_parts

CANDIDATE_SEED = 8


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_parts(tmp_path / "parts")
    return tmp_path


def _run(cli: Any, spec: Path, *extra: str) -> dict:
    result = cli("run", spec, "--json", *extra)
    assert result.code in (0, 1), result.err + result.out  # the gate may say no
    return json.loads(result.out)


def _expected_left_out(project: Path, champion_entry: dict) -> tuple[int, int]:
    """(test rows of the candidate's split, those the champion trained on), computed
    here from the data, the candidate's seed and the champion's own record."""
    from framework.store import Store

    table = _table(project)
    hashed = [c for c in table.columns if c != "target"] + ["target"]
    hashes = training_rows.row_hashes(table, hashed)
    rule = ContentRule(0.25, CANDIDATE_SEED, stratify=True)
    _, test = content_split(hashes, rule, table["target"])
    store = Store(project / ".specops")
    try:
        trained = training_rows.members(store, champion_entry, table)
    finally:
        store.close()
    return len(test), int(np.isin(hashes[test], trained).sum())


def _left_out(report: dict) -> int:
    gate = next(s for s in report["steps"] if s["name"] == "gate")
    found = re.search(
        r"champion bc/1 and candidate scored on (\d+) rows neither trained on "
        r"\((\d+) test rows were in the champion's training data\)",
        gate["detail"],
    )
    assert found, gate["detail"]
    return int(found[2])


@pytest.mark.parametrize("champion_on", ["dask", "local"])
def test_the_champion_trained_elsewhere_is_rescored_without_its_training_rows(
    cli: Any, project: Path, dask_address: str, champion_on: str
) -> None:
    on_dask = f"{{type: dask, params: {{address: '{dask_address}'}}}}"
    spec = project / "spec.yaml"
    spec.write_text(spec_text(on_dask if champion_on == "dask" else "{type: local}"))
    first = _run(cli, spec)
    assert first["status"] == "passed"
    entry = first["lineage"]["training_rows"]
    scheme = "content-split/1" if champion_on == "dask" else "pandas-hash-uint64/1"
    assert entry["scheme"] == scheme

    switch = "local" if champion_on == "dask" else "dask"
    execution = on_dask if switch == "dask" else "{type: local}"
    extra = ["--set", f"seed={CANDIDATE_SEED}", "--set", f"execution={execution}"]
    second = _run(cli, spec, *extra)
    comparison = second["comparison"]
    test_rows, in_champion = _expected_left_out(project, entry)
    assert comparison["basis"] == "rescored"
    assert comparison["test_rows"] == test_rows
    assert 0 < in_champion < test_rows  # another seed: an overlap to leave out
    assert comparison["in_champion_training"] == in_champion == _left_out(second)
    assert comparison["rows"] == test_rows - in_champion
