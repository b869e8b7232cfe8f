"""The benchmark scripts keep working: their parsing, their data and their specs.

Nothing here times anything: a test that asserts a duration fails on a busy
machine, not on a slow specops. The timings live in ``benchmarks/`` and are run
by hand on a quiet machine.
"""

from __future__ import annotations

import json
import os
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

    _, test = StratifiedSplit(test_size=eo.TEST_SIZE, method="shuffle").split(frame, ctx)

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
    for result in report["results"]:  # a runtime verified exact: within 1e-9 (issue 14)
        assert result["labels_equal"] and result["max_abs_proba_diff"] <= 1e-9
        assert result["sides"][0]["side"] == "specops predict" and result["sides"][0]["runtime"]
    assert report["memory_growth"]["large_rows"] == 600
    assert "## Predict throughput" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "work").exists()  # its scratch store and package are removed


# ----------------------------------------------------------------------------
# the Dask benchmarks (dask_data.py, dask_training.py, dask_scaling.py)
# ----------------------------------------------------------------------------


def _bench_module(name: str) -> ModuleType:
    """A benchmark module, imported as the scripts import each other."""
    import importlib

    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_dask_data_is_chunked_seeded_and_a_prefix_of_larger_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks keyed by their index: the same rows however the files fall, and the
    smaller dataset is the start of the larger one (what makes sizes comparable)."""
    import pandas as pd

    data = _bench_module("dask_data")
    monkeypatch.setattr(data, "CHUNK_ROWS", 100)
    monkeypatch.setattr(data, "FILE_ROWS", 150)  # files cut chunks in two
    data.write_dataset(300, 5, tmp_path / "small")
    data.write_dataset(500, 5, tmp_path / "large")
    data.write_dataset(500, 6, tmp_path / "other")

    small, large = pd.read_parquet(tmp_path / "small"), pd.read_parquet(tmp_path / "large")
    assert list(small.columns) == data.COLUMNS and len(data.COLUMNS) == 23
    assert len(list((tmp_path / "large").glob("part-*.parquet"))) == 4
    assert small.equals(large.iloc[:300].reset_index(drop=True))
    assert len(large.drop_duplicates()) == 500  # no two pieces share a generator draw
    assert not large.equals(pd.read_parquet(tmp_path / "other"))
    assert set(large["target"]) == {0, 1} and large["cat_b"].nunique() > 20
    assert not list(tmp_path.glob("*.partial-*"))


def test_dask_data_sizes_and_space_check(tmp_path: Path) -> None:
    data = _bench_module("dask_data")
    assert data.parse_sizes("2M, 500k,1500") == [2_000_000, 500_000, 1500]
    assert [data.size_label(n) for n in (2_000_000, 20_000, 1500)] == ["2M", "20k", "1500"]
    with pytest.raises(ValueError, match="not a row count"):
        data.parse_rows("lots")
    with pytest.raises(SystemExit, match="needs more than"):
        data.check_space([10**15], 1, tmp_path)


def test_dask_scaling_helpers(tmp_path: Path) -> None:
    scaling = _bench_module("dask_scaling")
    assert scaling.parse_bytes("3GiB") == 3 * 1024**3 and scaling.parse_bytes("1500") == 1500
    spawn = [
        "python",
        "-c",
        "from multiprocessing.spawn import spawn_main; spawn_main(pipe_handle=5)",
    ]
    tracker = ["python", "-c", "from multiprocessing.resource_tracker import main;main(5)"]
    assert scaling.is_worker(spawn) and not scaling.is_worker(tracker)
    runs = [
        {"side": "dask", "rows": 8, "client_peak_mb": 330},
        {"side": "dask", "rows": 2, "client_peak_mb": 300},
        {"side": "local", "rows": 2, "client_peak_mb": 1000},
    ]
    assert scaling.growth(runs, "dask") == 1.1 and scaling.growth(runs, "local") is None
    spec = scaling.spec_text(tmp_path / "d", tmp_path / "s", 1, 10, scaling.execution("dask"))
    assert "type: dask" in spec and "n_workers: 2" in spec
    assert "execution" not in scaling.spec_text(tmp_path, tmp_path, 1, 10, None)


def test_dask_scaling_measures_a_process_own_peak(tmp_path: Path) -> None:
    """The peak is the child's own VmHWM, and a cap (RLIMIT_AS) makes a big allocation fail."""
    scaling = _bench_module("dask_scaling")
    code = "import time; b = bytearray(300 * 1024 * 1024); time.sleep(0.3)"
    measured = scaling.measured_run([sys.executable, "-c", code])
    assert measured.ok and 300 <= measured.peak_mb < 400
    capped = scaling.measured_run([sys.executable, "-c", code], cap_bytes=200 * 1024**2)
    assert not capped.ok and "MemoryError" in capped.failure()


@pytest.mark.dask
def test_dask_training_quick(tmp_path: Path) -> None:
    """Both sides train on the same rows (a LocalCluster under the __main__ guard).

    Nothing is timed: the ratios are only checked to be there."""
    pytest.importorskip("distributed")
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "dask_training.py"), "--quick", "--json",
         "--data-dir", str(tmp_path / "data"), "--output", str(tmp_path / "report.md")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    sides = report["summary"]["sides"]
    assert sides["local"]["rows"] == sides["dask"]["rows"] == 20_000
    assert sides["dask"]["partitions"] == 2
    assert abs(sides["local"]["roc_auc"] - sides["dask"]["roc_auc"]) < 0.02
    assert set(report["summary"]["ratios"]) == {"fit_s", "load_fit_s", "process_s"}
    assert "lightgbm.dask training" in (tmp_path / "report.md").read_text()


@pytest.mark.dask
def test_dask_scaling_cluster_started_apart_is_reachable_and_ends(tmp_path: Path) -> None:
    """The cap part's cluster: a scheduler and two workers that join, ended with their
    process groups (nothing of it left running)."""
    pytest.importorskip("distributed")
    import psutil

    scaling = _bench_module("dask_scaling")
    cluster = scaling.start_cluster(tmp_path, "1GiB", timeout=120)
    try:
        assert cluster.address.startswith("tcp://127.0.0.1:")
        assert len(scaling.worker_pids(cluster.roots)) == 2
    finally:
        cluster.close()
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
                   for pid in cluster.roots)  # fmt: skip


@pytest.mark.dask
def test_dask_scaling_quick(tmp_path: Path) -> None:
    """One local and one Dask ``specops run`` (a LocalCluster specops starts) and
    ``predict --execution dask`` with the model it trained; nothing timed."""
    pytest.importorskip("distributed")
    argv = [
        "--quick", "--sizes", "20k", "--parts", "memory,predict", "--no-predict-local",
        "--data-dir", str(tmp_path / "data"), "--work-dir", str(tmp_path / "work"),
        "--json", "--output", str(tmp_path / "report.md"),
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "dask_scaling.py"), *argv],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    runs = {r["side"]: r for r in report["runs"]}
    assert runs["local"]["client_peak_mb"] > 0 and runs["local"]["worker_peaks_mb"] == []
    assert len(runs["dask"]["worker_peaks_mb"]) == 2  # its LocalCluster's workers, apart
    assert abs(runs["local"]["roc_auc"] - runs["dask"]["roc_auc"]) < 0.02
    assert report["predict"]["dask"]["rows_written"] == 60_000
    # predict with no spec starts Dask's own shape for this machine's cores (CI's may differ)
    from plugins.dask_execution.cluster import ClusterSettings

    workers, _ = ClusterSettings().local_shape
    assert len(report["predict"]["dask"]["worker_peaks_mb"]) == workers
    assert "### Batch scoring" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "work").exists()


def test_ui_pages_quick(tmp_path: Path) -> None:
    """Every page type answers 200 on the fixture store through `specops ui` (a small
    one here). Nothing is timed against the target: only that each page was timed."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "ui_pages.py"), "--quick", "--json",
         "--store-dir", str(tmp_path / "store"), "--output", str(tmp_path / "report.md")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    pages = report["pages"]
    assert {p["page"] for p in pages} == {
        "models", "model", "version", "runs", "run", "compare", "monitoring",
        "monitor run", "monitor report", "spec plan",
    }  # fmt: skip
    assert all(p["statuses"] == [200] for p in pages), [
        (p["path"], p["statuses"]) for p in pages if p["statuses"] != [200]
    ]
    assert all(p["requests"] == 2 and p["median_ms"] > 0 for p in pages)
    assert "| spec plan |" in (tmp_path / "report.md").read_text()
    # a second run reuses the store built in --store-dir
    second = subprocess.run(
        [sys.executable, str(BENCHMARKS / "ui_pages.py"), "--quick", "--json",
         "--store-dir", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    reused = json.loads(second.stdout)["store"]
    assert reused["reused"] is True and reused["runs"] == report["store"]["runs"]


# ----------------------------------------------------------------------------
# serve_latency.py: specops serve next to mlflow models serve
# ----------------------------------------------------------------------------


def test_serve_latency_quick(tmp_path: Path) -> None:
    """Two cases served for real (LightGBM with big batches in both bodies, and a
    preprocessing spec), every server's answers checked against the first; nothing timed.
    Without a peer the ratios and verdicts are absent, never invented."""
    argv = [
        "--quick", "--cases", "lightgbm,logistic", "--runtimes", "native",
        "--data-dir", str(tmp_path / "data"), "--work-dir", str(tmp_path / "work"),
        "--json", "--output", str(tmp_path / "report.md"),
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "serve_latency.py"), *argv],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    lightgbm, logistic = report["cases"]
    assert [lightgbm["case"], logistic["case"]] == ["lightgbm", "logistic"]
    default = lightgbm["rows"][0]
    assert default["variant"] == "specops serve" and default["rps"] > 0
    assert default["json_rows_per_s"] > 0 and default["binary_rows_per_s"] > 0
    assert default["model_big_ms"] > 0 and "rps_ratio" not in default
    assert "json_rows_per_s" not in logistic["rows"][0]  # big batches: the LightGBM case only
    assert logistic["model_ms"]["native"]["single_ms"] > 0
    met = {v["target"]: v["met"] for v in report["verdicts"]}
    assert met.pop("LightGBM single rows: median ms") in (True, False)  # needs no peer
    assert set(met.values()) == {None}  # every ratio needs MLflow's numbers
    assert any("MLflow peer skipped" in note for note in lightgbm["notes"])
    text = (tmp_path / "report.md").read_text()
    assert "## scale + one_hot + logistic_regression" in text and "1,000-row requests" in text


def test_serve_latency_ratios_and_verdicts() -> None:
    """The summary's arithmetic: ratios to the peer, time beyond each variant's own model."""
    serve = _bench_module("serve_latency")
    single = [{"median_ms": 0.4, "p99_ms": 1.0, "rps": 2400.0}]
    ours = serve.Variant("specops serve", big=True, serving="treelite", single=single,
                         big_json=[200_000.0], big_v2=[400_000.0])  # fmt: skip
    peer = serve.Variant("mlflow models serve", peer=True, big=True,
                         single=[{"median_ms": 4.0, "p99_ms": 9.0, "rps": 200.0}],
                         big_json=[50_000.0])  # fmt: skip
    model_ms = [{"native": {"single_ms": 0.02, "big_ms": 40.0},
                 "treelite": {"single_ms": 0.01, "big_ms": 15.0}}]  # fmt: skip
    case = serve.make_cases(serve.parse_args(["--cases", "lightgbm"]))[0]

    summary = serve.summarise_case(case, [ours, peer], model_ms, [], 10_000)

    row, mlflow = summary["rows"]
    assert row["rps_ratio"] == 12.0 and row["model_big_ms"] == 15.0  # its own runtime's time
    assert row["json_ms"] == 50.0 and row["json_beyond_ms"] == 35.0
    assert mlflow["json_ms"] == 200.0 and mlflow["json_beyond_ms"] == 160.0  # native model
    assert row["binary_rows_ratio"] == 8.0 and row["binary_beyond_ratio"] == 10.0 / 160.0
    verdicts = {v["target"]: v["met"] for v in serve.verdicts([summary])}
    assert verdicts["LightGBM single rows: requests/s vs MLflow"] is True
    assert verdicts["10k rows, json: time beyond the model vs MLflow's"] is True  # 35/160
    assert verdicts["10k rows, json: rows/s vs MLflow"] is True  # 4x


@pytest.mark.team
def test_ui_pages_quick_on_postgres(tmp_path: Path) -> None:
    """The same pages served from a PostgreSQL copy of the store (real server)."""
    from tests.team.postgres_server import postgres_bin

    if postgres_bin() is None:  # as the team tests: CI must run it, a laptop may not
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: PostgreSQL server binaries not found (install postgresql)")
        pytest.skip("PostgreSQL server binaries not found")
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "ui_pages.py"), "--quick", "--postgres", "--json",
         "--store-dir", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert "PostgreSQL" in report["store"]["backend"]
    assert all(p["statuses"] == [200] for p in report["pages"]), [
        (p["path"], p["statuses"]) for p in report["pages"] if p["statuses"] != [200]
    ]


def test_serve_latency_leaves_out_a_ratio_of_noise() -> None:
    """A server faster than its model alone measured (a busy machine): no ratio, a note."""
    serve = _bench_module("serve_latency")
    single = [{"median_ms": 1.0, "p99_ms": 2.0, "rps": 100.0}]
    ours = serve.Variant("specops serve", big=True, single=single, big_json=[400_000.0])
    peer = serve.Variant("mlflow models serve", peer=True, big=True, single=single,
                         big_json=[400_000.0])  # fmt: skip
    case = serve.make_cases(serve.parse_args(["--cases", "lightgbm"]))[0]
    model_ms = [{"native": {"single_ms": 0.02, "big_ms": 40.0}}]  # 25 ms per request in all

    summary = serve.summarise_case(case, [ours, peer], model_ms, [], 10_000)

    assert summary["rows"][0]["json_beyond_ms"] == -15.0
    assert "json_beyond_ratio" not in summary["rows"][0]
    assert any("faster than its model" in note for note in summary["notes"])
    met = {v["target"]: v["met"] for v in serve.verdicts([summary])}
    assert met["10k rows, json: time beyond the model vs MLflow's"] is None
