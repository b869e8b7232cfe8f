"""``lightgbm.dask`` training alone next to LightGBM's own local fit on the same rows.

The question: what does distributing the training itself cost on one machine, before
any of specops is involved? Both sides read the same Parquet dataset (2,000,000 rows by
default, the 20 numeric columns of ``dask_data.py`` and its binary target) and train the
same ``LGBMClassifier`` params (100 trees), each in a fresh process, alternating:

* ``local``: ``pandas.read_parquet`` then ``LGBMClassifier(n_jobs=2).fit``;
* ``dask``: a ``distributed.LocalCluster`` of 2 worker processes x 1 thread (started
  under the ``__main__`` guard, as worker processes must be), ``dask.dataframe
  .read_parquet`` persisted on the workers, then ``DaskLGBMClassifier.fit``.

Each child reports the seconds it spent loading the rows and fitting, and the ROC AUC
of its model on a held-out dataset (another seed), so both sides are seen to learn the
same thing. Target (issue 12): the Dask fit at most 1.3x the local fit (median of the
per-round ratios). The report also gives load + fit and the whole process.

    python benchmarks/dask_training.py                       # 2M rows, 100 trees, 3 rounds
    python benchmarks/dask_training.py --output benchmarks/results/dask_training.md
    python benchmarks/dask_training.py --quick               # smoke: 20k rows, 10 trees, 1 round
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    env_notes,
    machine,
    machine_lines,
    markdown_table,
    median,
    notes_lines,
    publish,
    rotated,
    timed_run,
)
from dask_data import (
    DEFAULT_DATA_DIR,
    NUMERIC,
    TARGET,
    ensure_dataset,
    parse_rows,
    size_label,
)

HERE = Path(__file__).resolve().parent
TARGET_RATIO = 1.3
HOLDOUT_ROWS = 200_000
SIDES = ("local", "dask")
WORKERS, THREADS_PER_WORKER, LOCAL_THREADS = 2, 1, 2


def model_params(trees: int, seed: int) -> dict[str, Any]:
    """The params both sides train with (LightGBM's defaults otherwise)."""
    return {"n_estimators": trees, "random_state": seed, "verbose": -1}


# ----------------------------------------------------------------------------
# the two sides, each run as a child process of this script
# ----------------------------------------------------------------------------


def holdout_auc(model: Any, holdout: Path) -> float:
    """ROC AUC of a fitted local model on the held-out rows."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    frame = pd.read_parquet(holdout, columns=[*NUMERIC, TARGET])
    return float(roc_auc_score(frame[TARGET], model.predict_proba(frame[NUMERIC])[:, 1]))


def run_local(data: Path, holdout: Path, trees: int, seed: int) -> dict[str, Any]:
    """pandas reads the rows, LightGBM fits them on ``LOCAL_THREADS`` threads."""
    import pandas as pd
    from lightgbm import LGBMClassifier

    started = time.perf_counter()
    frame = pd.read_parquet(data)  # every column, as the Dask side reads (see run_dask)
    x, y = frame[NUMERIC], frame[TARGET]
    loaded = time.perf_counter()
    model = LGBMClassifier(n_jobs=LOCAL_THREADS, **model_params(trees, seed)).fit(x, y)
    fitted = time.perf_counter()
    return {
        "rows": len(frame),
        "load_s": loaded - started,
        "fit_s": fitted - loaded,
        "roc_auc": holdout_auc(model, holdout),
    }


def run_dask(data: Path, holdout: Path, trees: int, seed: int) -> dict[str, Any]:
    """A LocalCluster of ``WORKERS`` x ``THREADS_PER_WORKER``: the rows are read and
    persisted on the workers, then ``DaskLGBMClassifier`` fits them there."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster, wait
    from lightgbm import DaskLGBMClassifier

    started = time.perf_counter()
    with (
        LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=THREADS_PER_WORKER,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        up = time.perf_counter()
        # Every column, then the selection: persisting a column-projected read_parquet
        # returns a collection whose partitions were fused behind its back, and any later
        # compute fails with "lost dependencies" (dask/dask#12488, open in dask 2026.8).
        frame = client.persist(dd.read_parquet(str(data)))
        wait(frame)
        x, y = frame[NUMERIC], frame[TARGET]
        rows = len(y)
        loaded = time.perf_counter()
        model = DaskLGBMClassifier(client=client, **model_params(trees, seed)).fit(x, y)
        fitted = time.perf_counter()
        partitions = x.npartitions
        local = model.to_local()
    return {
        "rows": rows,
        "partitions": partitions,
        "cluster_start_s": up - started,
        "load_s": loaded - up,
        "fit_s": fitted - loaded,
        "roc_auc": holdout_auc(local, holdout),
    }


def child_main(side: str, data: Path, holdout: Path, trees: int, seed: int) -> int:
    """Run one side and print its measurements as one JSON line."""
    runner = run_local if side == "local" else run_dask
    print(json.dumps(runner(data, holdout, trees, seed)))
    return 0


# ----------------------------------------------------------------------------
# the comparison
# ----------------------------------------------------------------------------


def child_argv(side: str, data: Path, holdout: Path, trees: int, seed: int) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        side,
        "--trees",
        str(trees),
        "--seed",
        str(seed),
        str(data),
        str(holdout),
    ]


def measure(
    data: Path, holdout: Path, trees: int, seed: int, runs: int, warmups: int
) -> dict[str, list[dict[str, Any]]]:
    """Warm up, then ``runs`` rounds running both sides once each, alternating first."""
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for round_number in range(-warmups, runs):
        for side in rotated(SIDES, round_number):
            seconds, done = timed_run(child_argv(side, data, holdout, trees, seed), cwd=HERE)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip()[-2500:]
                raise SystemExit(f"the {side} side failed with exit {done.returncode}:\n{tail}")
            if round_number >= 0:
                result = json.loads(done.stdout.strip().splitlines()[-1])
                results[side].append({**result, "process_s": seconds})
    return results


def summarise(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per side the medians; the per-round ratios dask/local, medians of them."""
    local, dask = results["local"], results["dask"]

    def ratio(key: str) -> float:
        values = [d[key] / lo[key] for d, lo in zip(dask, local, strict=True)]
        return round(median(values), 3)

    for rounds in (local, dask):
        for r in rounds:
            r["load_fit_s"] = r["load_s"] + r["fit_s"]
    sides = {}
    for side, rounds in results.items():
        sides[side] = {
            key: round(median([r[key] for r in rounds]), 3)
            for key in ("load_s", "fit_s", "load_fit_s", "process_s", "cluster_start_s")
            if key in rounds[0]
        }
        sides[side]["roc_auc"] = round(median([r["roc_auc"] for r in rounds]), 5)
        sides[side]["fit_times_s"] = [round(r["fit_s"], 3) for r in rounds]
        sides[side]["rows"] = rounds[0]["rows"]
        if "partitions" in rounds[0]:
            sides[side]["partitions"] = rounds[0]["partitions"]
    ratios = {key: ratio(key) for key in ("fit_s", "load_fit_s", "process_s")}
    return {"sides": sides, "ratios": ratios, "met": ratios["fit_s"] <= TARGET_RATIO}


def render(report: dict[str, Any]) -> str:
    s, ratios = report["summary"]["sides"], report["summary"]["ratios"]
    verdict = "met" if report["summary"]["met"] else "MISSED"
    rows = []
    for label, key in (
        ("fit (training alone)", "fit_s"),
        ("load + fit", "load_fit_s"),
        ("whole process", "process_s"),
    ):
        target = f"<= {TARGET_RATIO}: {verdict}" if key == "fit_s" else ""
        rows.append(
            [label, f"{s['local'][key]:.2f}", f"{s['dask'][key]:.2f}", f"{ratios[key]:.3f}", target]
        )
    table = markdown_table(
        ["median seconds", f"local ({LOCAL_THREADS} threads)",
         f"dask ({WORKERS} workers x {THREADS_PER_WORKER} thread)", "ratio dask/local", "target"],
        rows,
    )  # fmt: skip
    local, dask = s["local"], s["dask"]
    details = markdown_table(
        ["", "local", "dask"],
        [
            ["ROC AUC on the held-out rows", f"{local['roc_auc']:.5f}", f"{dask['roc_auc']:.5f}"],
            [
                "fit seconds per round",
                ", ".join(map(str, local["fit_times_s"])),
                ", ".join(map(str, dask["fit_times_s"])),
            ],
            ["LocalCluster start (s, not in the fit)", "", f"{dask['cluster_start_s']:.2f}"],
        ],
    )
    lines = [
        "## lightgbm.dask training vs LightGBM's local fit",
        "",
        f"{report['rows']:,} rows x {len(NUMERIC)} numeric features read from a Parquet "
        f"dataset ({report['partitions']} partitions on the Dask side), binary target, "
        f"LightGBM {report['params']}; {report['runs']} round(s) after "
        f"{report['warmups']} warm-up(s), sides alternating, each a fresh process. "
        "Ratio: median of the per-round ratios.",
        "",
        *machine_lines(report["machine"]),
        "",
        table,
        "",
        details,
    ]
    lines += notes_lines(report["notes"])
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="2M", help="rows to train on (e.g. 2M, 500k)")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="timed rounds")
    parser.add_argument("--warmups", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="dataset cache")
    parser.add_argument("--quick", action="store_true", help="smoke: 20k rows, 10 trees, 1 run")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.trees, args.runs, args.warmups = "20k", 10, 1, 0
    try:
        args.rows = parse_rows(args.rows)
    except ValueError as error:
        parser.error(str(error))
    if args.runs < 1 or args.trees < 1:
        parser.error("need --runs >= 1 and --trees >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child, *args.paths, args.trees, args.seed)
    facts = machine()
    data, generated = ensure_dataset(args.rows, args.seed, args.data_dir)
    holdout, _ = ensure_dataset(min(HOLDOUT_ROWS, args.rows), args.seed + 1, args.data_dir)
    results = measure(data, holdout, args.trees, args.seed, args.runs, args.warmups)
    summary = summarise(results)
    notes = [
        f"data: {data} ({'generated by this run' if generated else 'cached'}); "
        f"held out: {holdout} (seed {args.seed + 1})",
        "the Dask side's load persists the rows on the workers (read + persist); its fit "
        "is DaskLGBMClassifier.fit on the persisted partitions",
        *env_notes(),
    ]
    report = {
        "machine": facts,
        "rows": args.rows,
        "size": size_label(args.rows),
        "partitions": summary["sides"]["dask"].get("partitions"),
        "params": model_params(args.trees, args.seed),
        "runs": args.runs,
        "warmups": args.warmups,
        "summary": summary,
        "rounds": results,
        "notes": notes,
    }
    publish(report, render(report), args.output, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
