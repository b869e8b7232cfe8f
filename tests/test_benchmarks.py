"""The benchmark scripts keep working: their parsing, their data and their specs.

Nothing here times anything: a test that asserts a duration fails on a busy
machine, not on a slow specops. The timings live in ``benchmarks/`` and are run
by hand on a quiet machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

BENCHMARKS = REPO / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> dict[str, ModuleType]:
    """The benchmark modules, imported as the scripts import each other."""
    import importlib

    sys.path.insert(0, str(BENCHMARKS))
    try:
        return {n: importlib.import_module(n) for n in ("_common", "cold_start", "engine_overhead")}
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_percentile_interpolates_and_accepts_one_value(bench: dict[str, ModuleType]) -> None:
    percentile = bench["_common"].percentile
    assert percentile([3.0], 90) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([0.0, 10.0], 90) == pytest.approx(9.0)


def test_rotation_runs_every_command_once_per_round(bench: dict[str, ModuleType]) -> None:
    rotated = bench["_common"].rotated
    assert [rotated("abc", r) for r in range(4)] == [
        list("abc"),
        list("bca"),
        list("cab"),
        list("abc"),
    ]


def test_parse_importtime(bench: dict[str, ModuleType]) -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 |   pandas._libs",
            "import time:       200 |       5000 | pandas",
            "import time:        50 |         50 | json",
            "a warning that is not importtime output",
        ]
    )
    times = bench["cold_start"].parse_importtime(stderr)
    assert times.modules == 3
    assert times.packages == {"pandas": 0.005, "json": 0.00005}
    assert times.total_s == pytest.approx(0.00505)  # outermost imports only


def test_validate_and_plan_import_no_data_library(bench: dict[str, ModuleType]) -> None:
    """What cold_start.py reports, as a regression test (run in a real subprocess).
    ``plan`` reads the source (pandas) unless told ``--no-data``."""
    check = bench["cold_start"].check_imports
    spec = "specs/breast_cancer.yaml"
    for args in (["--help"], ["validate", spec], ["plan", "--no-data", spec]):
        assert check(args, " ".join(args)).heavy == []


def test_synthetic_data_is_seeded_and_shaped(bench: dict[str, ModuleType]) -> None:
    eo = bench["engine_overhead"]
    frame = eo.make_frame(2_000, seed=3)
    assert frame.shape == (2_000, eo.N_NUMERIC + len(eo.CATEGORY_LEVELS) + 1)
    assert frame.equals(eo.make_frame(2_000, seed=3))
    assert [frame[c].nunique() for c in ("cat_a", "cat_b", "cat_c")] == [5, 20, 50]
    assert set(frame[eo.TARGET].unique()) == {0, 1}


def test_overhead_spec_is_valid_and_both_sides_train(
    bench: dict[str, ModuleType], tmp_path: Path
) -> None:
    """The spec the benchmark writes still validates, and the bare script runs."""
    from framework.plugins import get_plugins
    from framework.spec import load_spec

    eo = bench["engine_overhead"]
    data, generated = eo.ensure_dataset(2_000, seed=1, data_dir=tmp_path)
    assert generated and eo.ensure_dataset(2_000, seed=1, data_dir=tmp_path) == (data, False)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(eo.spec_text(data, tmp_path / "store", seed=1), encoding="utf-8")
    spec = load_spec(spec_file, get_plugins())
    assert (spec.model.type, spec.model.kwargs()) == ("lightgbm", eo.MODEL_PARAMS)

    done = subprocess.run(
        eo.bare_argv(data, seed=1), capture_output=True, text=True, check=True, cwd=REPO
    )
    result = json.loads(done.stdout)
    assert result["test_rows"] == 400
    assert 0.5 < result["roc_auc"] <= 1.0


def test_stratified_split_holds_out_the_rows_the_bare_script_does(
    bench: dict[str, ModuleType],
) -> None:
    """What makes both sides' ROC AUCs agree (benchmarks/README.md): the same test rows."""
    from sklearn.model_selection import train_test_split

    from framework import StepContext
    from plugins.splits import StratifiedSplit

    eo = bench["engine_overhead"]
    frame = eo.make_frame(2_000, seed=42)
    assert frame[eo.TARGET].iloc[0] == 1  # codes in order of appearance would swap the classes
    _, bare_test = train_test_split(
        frame, test_size=eo.TEST_SIZE, stratify=frame[eo.TARGET], random_state=42
    )
    ctx = StepContext(spec_name="t", task="binary", target=eo.TARGET, base_dir=REPO, seed=42)

    _, test = StratifiedSplit(test_size=eo.TEST_SIZE).split(frame, ctx)

    assert sorted(frame.index[test]) == sorted(bare_test.index)


def test_predict_throughput_smoke(tmp_path: Path) -> None:
    """Trains, exports the model for the bare side, scores two sizes; nothing timed."""
    argv = [
        "--rows", "300", "600", "--train-rows", "500", "--runs", "1", "--warmups", "0",
        "--data-dir", str(tmp_path / "data"), "--work-dir", str(tmp_path / "work"),
        "--json", "--output", str(tmp_path / "report.md"),
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "predict_throughput.py"), *argv],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert [r["rows"] for r in report["results"]] == [300, 600]
    for result in report["results"]:
        assert result["labels_equal"] and result["max_abs_proba_diff"] == 0.0
    assert report["memory_growth"]["large_rows"] == 600
    assert "## Predict throughput" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "work").exists()  # its scratch store and package are removed
