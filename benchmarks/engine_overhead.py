"""What ``specops run`` costs over a hand-written script doing the same training.

Both sides read the same Parquet file (200,000 rows: 20 numeric and 3 text
features, a binary target), split it 80/20 stratified with the same seed, train
the same LightGBM model, score ROC AUC on the test rows and save the model.
The bare side is ``bare_lightgbm.py``; the specops side is ``specops run`` on a
spec with the same data and params. Each run is a fresh process timed whole
(start-up and imports included), runs alternate between the sides, so both see
the same machine state. Variants of the specops side:

* ``fresh store``: an empty store each run: nothing to compare with;
* ``with champion``: a store that already has a champion, which the gate rescores
  on this run's test split, as on any real second run;
* ``runtimes compiled``: a fresh store with ``serve.runtime: auto`` (the default), so
  registration also compiles and verifies the model's fast runtimes (ONNX, NumPy,
  ...): work the bare script does not do, shown apart. The first two variants say
  ``serve.runtime: native`` so they compare the same work.

The ROC AUCs show both sides did the same work.

    python benchmarks/engine_overhead.py                       # 200,000 rows, 5 runs
    python benchmarks/engine_overhead.py --rows 20000 --runs 1 --warmups 0   # smoke
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    env_notes,
    machine,
    machine_lines,
    markdown_table,
    median,
    notes_lines,
    percentile,
    publish,
    rotated,
    specops_command,
    timed_run,
)

HERE = Path(__file__).resolve().parent
BARE_SCRIPT = HERE / "bare_lightgbm.py"
DATA_DIR = HERE / ".data"  # gitignored
WORK_DIR = HERE / ".work"  # gitignored; inside the repo, so specops records git lineage as usual

N_NUMERIC = 20
CATEGORY_LEVELS = (5, 20, 50)
TARGET = "target"
TEST_SIZE = 0.2
MODEL_PARAMS: dict[str, Any] = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31}
TARGET_RATIO = 1.10


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------


def dataset_path(rows: int, seed: int, data_dir: Path = DATA_DIR) -> Path:
    """The cache file for one size and seed: generated once, reused by every run."""
    return data_dir / f"synthetic_{rows}_{seed}.parquet"


def make_frame(rows: int, seed: int) -> Any:
    """A seeded binary-classification table whose target depends on several columns.

    The signal mixes linear, interaction and non-linear terms and the three text
    columns, so the model has real work to do and a mistake on either side (a
    dropped column, a shuffled target) shows in the ROC AUC.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    numeric = rng.standard_normal((rows, N_NUMERIC))
    frame = pd.DataFrame(numeric, columns=[f"num_{i:02d}" for i in range(N_NUMERIC)])
    logit = (
        0.9 * numeric[:, 0]
        - 0.7 * numeric[:, 1]
        + 0.5 * numeric[:, 2] * numeric[:, 3]
        + 0.6 * np.sin(2 * numeric[:, 4])
        + 0.3 * numeric[:, 5] ** 2
        - 0.5
    )
    for name, levels in zip(("cat_a", "cat_b", "cat_c"), CATEGORY_LEVELS, strict=True):
        codes = rng.integers(0, levels, rows)
        logit += rng.normal(0.0, 0.6, levels)[codes]
        frame[name] = np.array([f"{name}_{k:02d}" for k in range(levels)], dtype=object)[codes]
    probability = 1.0 / (1.0 + np.exp(-logit))
    frame[TARGET] = (rng.random(rows) < probability).astype("int64")
    return frame


def ensure_dataset(rows: int, seed: int, data_dir: Path = DATA_DIR) -> tuple[Path, bool]:
    """The dataset's path, generating it first if it is not cached; True if generated."""
    path = dataset_path(rows, seed, data_dir)
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    # In a child process: on Linux a child's ru_maxrss starts from its parent's memory
    # at fork, so a parent that had held the frame would inflate every peak measured.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from engine_overhead import write_dataset;"
        " write_dataset(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])"
    )
    here = str(Path(__file__).resolve().parent)
    subprocess.run([sys.executable, "-c", code, here, str(rows), str(seed), str(path)], check=True)
    return path, True


def write_dataset(rows: int, seed: int, path: str) -> None:
    """Generate and write the dataset (run in a child process by ensure_dataset)."""
    target = Path(path)
    partial = target.with_suffix(".parquet.partial")
    make_frame(rows, seed).to_parquet(partial, engine="pyarrow", index=False)
    partial.replace(target)  # atomic: an interrupted run never leaves a half-written cache


# ----------------------------------------------------------------------------
# the two sides
# ----------------------------------------------------------------------------


LENIENT_GATE: dict[str, Any] = {"roc_auc": {"min": 0.5, "max_drop": 0.05}}
"""Must pass, so both variants also register and deploy; its ``max_drop`` makes the
champion variant really compare against its champion."""


def spec_text(
    data: Path,
    store: Path,
    seed: int,
    *,
    name: str = "engine-overhead",
    gate: dict[str, Any] | None = None,
    model_params: dict[str, Any] | None = None,
    runtime: str | None = None,
) -> str:
    """The spec for the specops side: the bare script's work, declared.

    The other benchmarks train this same model with it, under their own ``name``
    and ``gate`` (default: :data:`LENIENT_GATE`), with ``model_params`` overriding
    :data:`MODEL_PARAMS` where they vary the model. ``runtime`` is ``serve.runtime``
    (None: the default, ``auto``); ``native`` compiles nothing at registration, as the
    bare script does not.
    """
    import yaml

    spec = {
        "name": name,
        "task": "binary",
        "seed": seed,
        "data": {
            "source": {"type": "parquet", "params": {"path": str(data)}},
            "target": TARGET,
            # shuffle: scikit-learn's permutation, the bare script's rows (the default content
            # split picks other rows, and costs less: this measurement is conservative)
            "split": {
                "type": "stratified",
                "params": {"test_size": TEST_SIZE, "method": "shuffle"},
            },
        },
        "model": {"type": "lightgbm", "params": {**MODEL_PARAMS, **(model_params or {})}},
        "gate": LENIENT_GATE if gate is None else gate,
        "deploy": {"type": "registry"},
        "store": {"path": str(store)},
    }
    if runtime is not None:
        spec["serve"] = {"runtime": runtime}
    return yaml.safe_dump(spec, sort_keys=False)


def bare_argv(data: Path, seed: int) -> list[str]:
    """The bare script's command line, with the spec's params spelt out."""
    return [
        sys.executable,
        str(BARE_SCRIPT),
        str(data),
        "--target",
        TARGET,
        "--test-size",
        str(TEST_SIZE),
        "--seed",
        str(seed),
        "--n-estimators",
        str(MODEL_PARAMS["n_estimators"]),
        "--learning-rate",
        str(MODEL_PARAMS["learning_rate"]),
        "--num-leaves",
        str(MODEL_PARAMS["num_leaves"]),
    ]


def specops_argv(spec: Path) -> list[str]:
    """``specops run --json`` with the venv's own console script, never one from PATH."""
    return [*specops_command(), "run", str(spec), "--json"]


@dataclass
class Variant:
    """One side of the comparison: how to prepare a run, run it, and what it measured."""

    name: str
    argv: list[str]
    store: Path | None = None  # specops: reset before every run
    seed_store: Path | None = None  # specops with champion: copied into ``store`` first
    judged: bool = True  # held to TARGET_RATIO: false for work the bare script does not do
    times: list[float] = field(default_factory=list)
    aucs: list[float] = field(default_factory=list)
    steps: list[dict[str, float]] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)

    def prepare(self) -> None:
        """Put the store in its starting state; not timed."""
        if self.store is None:
            return
        shutil.rmtree(self.store, ignore_errors=True)
        if self.seed_store is not None:
            shutil.copytree(self.seed_store, self.store)

    def run_once(self) -> tuple[float, dict[str, Any]]:
        """One timed run; its parsed result, or SystemExit if it failed."""
        self.prepare()
        seconds, done = timed_run(self.argv)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-2000:]
            raise SystemExit(f"{self.name} failed with exit {done.returncode}:\n{tail}")
        return seconds, parse_result(self.store is not None, done.stdout)

    def record(self, seconds: float, result: dict[str, Any]) -> None:
        self.times.append(seconds)
        self.aucs.append(result["roc_auc"])
        self.steps.append(result.get("steps", {}))
        if result.get("gate"):
            self.notes.add(result["gate"])


def parse_result(is_specops: bool, stdout: str) -> dict[str, Any]:
    """ROC AUC (both sides) and step times and gate note (specops) from a run's stdout."""
    if not is_specops:
        return json.loads(stdout.strip().splitlines()[-1])
    report = json.loads(stdout)
    if report["status"] != "passed":
        raise SystemExit(f"specops run ended '{report['status']}', expected 'passed'")
    auc = next(m["value"] for m in report["metrics"] if m["metric"] == "roc_auc")
    steps: dict[str, float] = {}
    for step in report["steps"]:
        steps[step["name"]] = steps.get(step["name"], 0.0) + step["seconds"]
    gate = next((s["detail"] for s in report["steps"] if s["name"] == "gate"), "")
    return {"roc_auc": auc, "steps": steps, "gate": gate[gate.rfind("(") :]}


def make_variants(data: Path, seed: int, work: Path) -> list[Variant]:
    """The bare script and the three specops variants, with their spec files written."""
    work.mkdir(parents=True, exist_ok=True)
    variants = [Variant("bare script", bare_argv(data, seed))]
    for name, key in (
        ("specops run, fresh store", "fresh"),
        ("specops run, with champion", "champ"),
        ("specops run, runtimes compiled", "compiled"),
    ):
        spec = work / f"{key}.yaml"
        store = work / f"store-{key}"
        runtime = "auto" if key == "compiled" else "native"
        spec.write_text(spec_text(data, store, seed, runtime=runtime), encoding="utf-8")
        seed_store = work / "store-seed" if key == "champ" else None
        variants.append(
            Variant(
                name,
                specops_argv(spec),
                store=store,
                seed_store=seed_store,
                judged=key != "compiled",
            )
        )
    return variants


def seed_champion(variants: list[Variant]) -> None:
    """Make the store the champion variant starts from: one untimed specops run."""
    fresh, champ = variants[1], variants[2]
    if champ.seed_store is None or fresh.store is None:
        raise RuntimeError("the specops variants need a store each")
    fresh.run_once()
    shutil.rmtree(champ.seed_store, ignore_errors=True)
    shutil.copytree(fresh.store, champ.seed_store)


def measure(variants: list[Variant], runs: int, warmups: int) -> None:
    """Warm up, then time ``runs`` rounds, each running every variant once, rotating order."""
    for _ in range(warmups):
        for variant in variants:
            variant.run_once()
    for round_number in range(runs):
        for variant in rotated(variants, round_number):
            variant.record(*variant.run_once())


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------


def summarise(variants: list[Variant]) -> list[dict[str, Any]]:
    """Per variant: times, the median of its per-round ratios to the bare run, its AUC."""
    bare = variants[0]
    rows = []
    for v in variants:
        ratios = [t / b for t, b in zip(v.times, bare.times, strict=True)]
        rows.append(
            {
                "variant": v.name,
                "median_s": round(median(v.times), 3),
                "min_s": round(min(v.times), 3),
                "p90_s": round(percentile(v.times, 90), 3),
                "ratio_to_bare": round(median(ratios), 3),
                "met": median(ratios) <= TARGET_RATIO if v.judged and v is not bare else None,
                "roc_auc": round(median(v.aucs), 6),
                "auc_minus_bare": round(median(v.aucs) - median(bare.aucs), 6),
                "times_s": [round(t, 3) for t in v.times],
                "steps_median_s": step_medians(v),
                "gate": sorted(v.notes),
            }
        )
    return rows


def step_medians(variant: Variant) -> dict[str, float]:
    """Median seconds of each lifecycle step, plus what no step accounts for.

    ``outside steps`` is the process's wall time minus its steps: interpreter
    start, imports, spec loading, opening the store, printing the result.
    """
    if not variant.steps or not variant.steps[0]:
        return {}
    medians = {name: median([s[name] for s in variant.steps]) for name in variant.steps[0]}
    outside = [t - sum(s.values()) for t, s in zip(variant.times, variant.steps, strict=True)]
    medians["outside steps"] = median(outside)
    return {name: round(seconds, 3) for name, seconds in medians.items()}


def render(report: dict[str, Any]) -> str:
    """The report as Markdown: the comparison, then where the specops time went."""
    results = report["results"]
    table = markdown_table(
        [
            "variant",
            "median s",
            "min s",
            "p90 s",
            "ratio to bare",
            "target",
            "ROC AUC",
            "AUC - bare",
        ],
        [
            [
                r["variant"],
                f"{r['median_s']:.2f}",
                f"{r['min_s']:.2f}",
                f"{r['p90_s']:.2f}",
                f"{r['ratio_to_bare']:.3f}",
                ("(baseline)" if r is results[0] else "not held: work the bare script skips")
                if r["met"] is None
                else f"<= {TARGET_RATIO:.2f}: {'met' if r['met'] else 'MISSED'}",
                f"{r['roc_auc']:.5f}",
                f"{r['auc_minus_bare']:+.5f}",
            ]
            for r in results
        ],
    )
    specops = [r for r in results if r["steps_median_s"]]
    names = list(specops[0]["steps_median_s"]) if specops else []
    steps = markdown_table(
        ["step", *(r["variant"] for r in specops)],
        [[name, *(f"{r['steps_median_s'].get(name, 0):.3f}" for r in specops)] for name in names],
    )
    lines = [
        "## Engine overhead",
        "",
        f"{report['rows']:,} rows x {N_NUMERIC + len(CATEGORY_LEVELS)} features "
        f"({N_NUMERIC} numeric, {len(CATEGORY_LEVELS)} text), LightGBM {MODEL_PARAMS}; "
        f"{report['runs']} timed run(s) per variant after {report['warmups']} warm-up(s), "
        "alternating; wall time of a fresh process. Ratio: median of the per-round "
        "ratios to the bare script's run.",
        "",
        *machine_lines(report["machine"]),
        "",
        table,
        "",
        "### Where specops spends its time (median seconds per step)",
        "",
        steps,
    ]
    gates = [f"{r['variant']}: {', '.join(r['gate'])}" for r in specops]
    lines += notes_lines([*report["notes"], *(f"gate {g}" for g in gates)])
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the dataset")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per variant")
    parser.add_argument("--warmups", type=int, default=1, help="untimed runs per variant first")
    parser.add_argument("--seed", type=int, default=42, help="data, split and model seed")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="dataset cache")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR / "engine_overhead")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rows < 100:
        parser.error("need --runs >= 1 and --rows >= 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine()
    data, generated = ensure_dataset(args.rows, args.seed, args.data_dir)
    notes = [f"data: {data.relative_to(REPO) if data.is_relative_to(REPO) else data}"]
    notes[0] += " (generated by this run)" if generated else " (cached)"
    notes += env_notes()
    variants = make_variants(data, args.seed, args.work_dir)
    seed_champion(variants)
    measure(variants, args.runs, args.warmups)
    report = {
        "machine": facts,
        "rows": args.rows,
        "runs": args.runs,
        "warmups": args.warmups,
        "params": MODEL_PARAMS,
        "results": summarise(variants),
        "notes": notes,
    }
    shutil.rmtree(args.work_dir, ignore_errors=True)
    publish(report, render(report), args.output, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
