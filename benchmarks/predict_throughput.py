"""What ``specops predict`` costs over a hand-written scoring script, and whether its
memory stays flat as the file grows.

One LightGBM model (200 trees) is trained once with ``specops run`` into a scratch
store. Then, for each size (1,000,000 and 5,000,000 rows by default; the same
23-column synthetic table as ``engine_overhead.py``, as Parquet), the two sides
score the same file, alternating, each as a fresh process timed whole:

* ``bare_predict.py``: pandas reads the file, text becomes ``category``,
  ``Booster.predict`` with the same ``model.txt`` (copied out of the store),
  predictions written to Parquet;
* ``specops predict NAME --input DATA --output OUT.parquet``: the stored version,
  hash-checked, the signature enforced, scored in chunks by the runtime the version's
  ``serve.runtime`` picks (``auto``: the verified one with the most rows/s, e.g. Treelite's
  compiled trees), written atomically;
* ``specops predict ... --runtime NAME`` for each of ``--runtimes`` (none by default;
  ``all``: every registered runtime, ``native`` included), side by side.

Each child's peak memory comes from ``os.wait4`` (its own ``ru_maxrss``). Targets (issue
14): ``specops predict`` at most 0.6x the bare wall time at 1,000,000 rows, and its peak
at the largest size at most 1.2x its peak at the smallest (memory must not grow with the
file).

    python benchmarks/predict_throughput.py --runtimes all          # 1M and 5M rows, 3 runs
    python benchmarks/predict_throughput.py --rows 50000 100000 --runs 1 --warmups 0 \\
        --train-rows 20000                                           # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    bench_env,
    env_notes,
    export_package,
    machine,
    machine_lines,
    markdown_table,
    median,
    notes_lines,
    prepare_runtimes,
    publish,
    rotated,
    specops_command,
    train_with_specops,
)
from engine_overhead import (
    CATEGORY_LEVELS,
    DATA_DIR,
    MODEL_PARAMS,
    N_NUMERIC,
    WORK_DIR,
    ensure_dataset,
    spec_text,
)

HERE = Path(__file__).resolve().parent
BARE_SCRIPT = HERE / "bare_predict.py"
MODEL_NAME = "predict-throughput"
DEFAULT_SIZES = (1_000_000, 5_000_000)
TARGET_RATIO = 0.6
TARGET_MEMORY = 1.20


# ----------------------------------------------------------------------------
# setup: data, a trained model, its model.txt
# ----------------------------------------------------------------------------


def train(data: Path, work: Path, seed: int) -> Path:
    """Train engine_overhead's model and register it as the champion, once (not timed);
    returns the store."""
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    spec = work / "train.yaml"
    gate = {"roc_auc": {"min": 0.5}}
    spec.write_text(spec_text(data, store, seed, name=MODEL_NAME, gate=gate), encoding="utf-8")
    train_with_specops(spec)
    return store


def model_file(store: Path, work: Path) -> Path:
    """The champion's ``model.txt``, copied out of the store (hash-checked) for the bare side."""
    return export_package(store, MODEL_NAME, work / "package") / "model" / "model.txt"


# ----------------------------------------------------------------------------
# measuring one process
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One child process: wall time, its own peak RSS and what it printed."""

    seconds: float
    peak_kb: int
    stdout: str


def measured_run(argv: list[str]) -> Measured:
    """Run ``argv`` to completion; wall time and its ``ru_maxrss`` from ``os.wait4``.

    ``wait4`` reports this child's own peak, where ``RUSAGE_CHILDREN`` would give
    the largest of every child so far.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=REPO, env=bench_env(), stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            tail = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{argv[0]} ... failed with exit {process.returncode}:\n{tail}")
        return Measured(seconds, usage.ru_maxrss, out.read().decode())


@dataclass
class Side:
    """One side of the comparison at one size: its command and what each run measured."""

    name: str
    argv: list[str]
    output: Path
    runs: list[Measured] = field(default_factory=list)

    @property
    def runtime(self) -> str | None:
        """The runtime specops said it scored with (None for the bare script)."""
        if not self.runs or self.name == "bare script":
            return None
        return _reported(self.runs[-1].stdout).get("runtime")

    def run_once(self) -> Measured:
        self.output.unlink(missing_ok=True)
        return measured_run(self.argv)

    @property
    def times(self) -> list[float]:
        return [r.seconds for r in self.runs]

    @property
    def peak_mb(self) -> float:
        return max(r.peak_kb for r in self.runs) / 1024

    @property
    def inner_seconds(self) -> float:
        """The median time the process itself reports for its work (start-up excluded)."""
        return median([_reported(r.stdout)["seconds"] for r in self.runs])


def _reported(stdout: str) -> dict[str, Any]:
    """The JSON a side printed: specops' whole (indented) stdout, the bare script's last line."""
    try:
        return json.loads(stdout)
    except ValueError:
        return json.loads(stdout.strip().splitlines()[-1])


def sides(
    data: Path,
    store: Path,
    model: Path,
    work: Path,
    chunk_rows: int | None,
    runtimes: list[str] | None = None,
) -> list[Side]:
    """The bare script, ``specops predict`` as a user runs it, then one per ``--runtime``."""
    bare_out = work / "bare.parquet"
    found = [
        Side(
            "bare script",
            [sys.executable, str(BARE_SCRIPT), str(data), str(model), str(bare_out)],
            bare_out,
        )
    ]
    for runtime in [None, *(runtimes or [])]:
        output = work / f"specops_{runtime or 'default'}.parquet"
        specops = [*specops_command(), "predict", MODEL_NAME, "--input", str(data)]
        specops += ["--output", str(output), "--store", str(store), "--json"]
        if chunk_rows:
            specops += ["--chunk-rows", str(chunk_rows)]
        name = "specops predict"
        if runtime is not None:
            specops += ["--runtime", runtime]
            name += f" --runtime {runtime}"
        found.append(Side(name, specops, output))
    return found


def measure(pair: list[Side], runs: int, warmups: int) -> None:
    """Warm up, then ``runs`` rounds of both sides, starting with a different one each round."""
    for _ in range(warmups):
        for side in pair:
            side.run_once()
    for round_number in range(runs):
        for side in rotated(pair, round_number):
            side.runs.append(side.run_once())


def agreement(pair: list[Side]) -> dict[str, Any]:
    """Both sides' last outputs hold the same predictions: the same work was done."""
    import numpy as np
    import pyarrow.parquet as pq

    bare, specops = (pq.read_table(s.output, columns=["prediction", "proba_1"]) for s in pair)
    delta = np.abs(bare["proba_1"].to_numpy() - specops["proba_1"].to_numpy())
    same = bare["prediction"].to_numpy() == specops["prediction"].to_numpy()
    return {"max_abs_proba_diff": float(delta.max()), "labels_equal": bool(same.all())}


def side_summary(rows: int, bare: Side, side: Side) -> dict[str, Any]:
    """One specops side against the bare script: times, the per-round ratio, peak, agreement."""
    ratios = [s / b for s, b in zip(side.times, bare.times, strict=True)]
    return {
        "side": side.name,
        "runtime": side.runtime,
        "specops_s": round(median(side.times), 3),
        "specops_rows_per_s": round(rows / median(side.times)),
        "ratio": round(median(ratios), 3),
        "met": median(ratios) <= TARGET_RATIO,
        "specops_inner_s": round(side.inner_seconds, 3),
        "specops_peak_mb": round(side.peak_mb, 1),
        "specops_times_s": [round(t, 3) for t in side.times],
        **agreement([bare, side]),
    }


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------


def summarise(rows: int, measured: list[Side]) -> dict[str, Any]:
    """The bare script and ``specops predict`` (its keys at the top level, as before),
    and every specops side under ``sides``."""
    bare = measured[0]
    found = [side_summary(rows, bare, side) for side in measured[1:]]
    return {
        "rows": rows,
        "bare_s": round(median(bare.times), 3),
        "bare_rows_per_s": round(rows / median(bare.times)),
        "bare_inner_s": round(bare.inner_seconds, 3),
        "bare_peak_mb": round(bare.peak_mb, 1),
        "bare_times_s": [round(t, 3) for t in bare.times],
        **{key: value for key, value in found[0].items() if key != "side"},
        "sides": found,
    }


def memory_growth(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """specops' peak at the largest size over its peak at the smallest."""
    if len(results) < 2:
        return None
    small = min(results, key=lambda r: r["rows"])
    large = max(results, key=lambda r: r["rows"])
    ratio = large["specops_peak_mb"] / small["specops_peak_mb"]
    bare = large["bare_peak_mb"] / small["bare_peak_mb"]
    return {
        "small_rows": small["rows"],
        "large_rows": large["rows"],
        "specops_ratio": round(ratio, 3),
        "bare_ratio": round(bare, 3),
        "met": ratio <= TARGET_MEMORY,
    }


def render(report: dict[str, Any]) -> str:
    results = report["results"]
    speed = markdown_table(
        [
            "rows",
            "side (runtime used)",
            "bare s",
            "specops s",
            "bare rows/s",
            "specops rows/s",
            "ratio",
            "target",
            "in-process s (bare / specops)",
            "max |Δ proba|",
        ],
        [
            [
                f"{r['rows']:,}",
                f"{s['side']} ({s['runtime'] or 'not said'})",
                f"{r['bare_s']:.2f}",
                f"{s['specops_s']:.2f}",
                f"{r['bare_rows_per_s']:,}",
                f"{s['specops_rows_per_s']:,}",
                f"{s['ratio']:.3f}",
                f"<= {TARGET_RATIO:.2f}: {'met' if s['met'] else 'MISSED'}"
                if s["side"] == "specops predict"
                else "-",
                f"{r['bare_inner_s']:.2f} / {s['specops_inner_s']:.2f}",
                f"{s['max_abs_proba_diff']:.1e}"
                + ("" if s["labels_equal"] else " (labels differ!)"),
            ]
            for r in results
            for s in r["sides"]
        ],
    )
    memory = markdown_table(
        ["rows", "bare peak MB", *(s["side"] + " peak MB" for s in results[0]["sides"])],
        [
            [f"{r['rows']:,}", f"{r['bare_peak_mb']:.0f}"]
            + [f"{s['specops_peak_mb']:.0f}" for s in r["sides"]]
            for r in results
        ],
    )
    lines = [
        "## Predict throughput",
        "",
        f"Scoring the synthetic table ({N_NUMERIC} numeric, {len(CATEGORY_LEVELS)} text features, "
        f"Parquet) with LightGBM {MODEL_PARAMS} trained on {report['train_rows']:,} rows; "
        f"{report['runs']} timed run(s) per side after {report['warmups']} warm-up(s), "
        "alternating; wall time of a fresh process. Ratio: median of the per-round ratios "
        "specops / bare. In-process: the time each process reports for its own work "
        "(interpreter start-up and imports excluded).",
        "",
        *machine_lines(report["machine"]),
        "",
        speed,
        "",
        "### Peak memory (ru_maxrss of each process, largest over its runs)",
        "",
        memory,
    ]
    growth = report["memory_growth"]
    if growth:
        verdict = "met" if growth["met"] else "MISSED"
        lines += [
            "",
            f"specops peak at {growth['large_rows']:,} rows / at {growth['small_rows']:,} rows: "
            f"**{growth['specops_ratio']:.3f}** (target <= {TARGET_MEMORY:.2f}: {verdict}); "
            f"bare script: {growth['bare_ratio']:.3f}.",
        ]
    lines += notes_lines(report["notes"])
    return "\n".join(lines) + "\n"


def chosen_runtimes(option: str) -> list[str]:
    """``--runtimes``: none, all (the registered ones, native first) or a list of names."""
    if option == "none":
        return []
    if option != "all":
        return [name.strip() for name in option.split(",") if name.strip()]
    try:
        from framework.plugins import get_plugins

        names = list(get_plugins().registry.types("runtime"))
    except Exception:  # an older specops: no runtime kind
        return []
    return sorted(names, key=lambda name: (name != "native", name))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=list(DEFAULT_SIZES), help="sizes to score"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side and size")
    parser.add_argument("--warmups", type=int, default=1, help="untimed runs per side first")
    parser.add_argument("--train-rows", type=int, default=200_000, help="rows to train on")
    parser.add_argument("--chunk-rows", type=int, help="specops --chunk-rows (default: its own)")
    parser.add_argument(
        "--runtimes",
        default="none",
        help="also run `specops predict --runtime NAME` for these: none, all (every registered "
        "runtime) or a comma-separated list",
    )
    parser.add_argument("--seed", type=int, default=42, help="data, split and model seed")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="dataset cache")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR / "predict_throughput")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    if args.runs < 1 or min(args.rows) < 100 or args.train_rows < 100:
        parser.error("need --runs >= 1, --rows >= 100 and --train-rows >= 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    notes = env_notes()
    runtimes = chosen_runtimes(args.runtimes)
    train_data, _ = ensure_dataset(args.train_rows, args.seed, args.data_dir)
    store = train(train_data, args.work_dir, args.seed)
    model = model_file(store, args.work_dir)
    notes.append(prepare_runtimes(store, MODEL_NAME, args.work_dir))  # as a deploy does
    results = []
    for rows in sorted(set(args.rows)):
        data, generated = ensure_dataset(rows, args.seed + 1, args.data_dir)
        notes.append(f"data: {data.name} ({'generated by this run' if generated else 'cached'})")
        measured = sides(data, store, model, args.work_dir, args.chunk_rows, runtimes)
        measure(measured, args.runs, args.warmups)
        results.append(summarise(rows, measured))
    report = {
        "machine": facts,
        "train_rows": args.train_rows,
        "runs": args.runs,
        "warmups": args.warmups,
        "chunk_rows": args.chunk_rows,
        "runtimes": runtimes,
        "results": results,
        "memory_growth": memory_growth(results),
        "notes": notes,
    }
    shutil.rmtree(args.work_dir, ignore_errors=True)
    publish(report, render(report), args.output, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
