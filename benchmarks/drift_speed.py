"""Drift detection speed: specops against Evidently's data drift preset and a bare floor.

The same two frames for every side: a reference and a current table of 20 numeric
columns (5 of them shifted in the current one) and 3 text columns, at each size
asked for (default 1,000,000 and 100,000 rows). Each side runs in a fresh process
and reports the time of its drift computation (after reading the Parquet files),
its whole wall time and its peak memory (``ru_maxrss`` of that process):

* ``specops, stored profile``: what ``specops monitor`` does: compare the current
  table with a reference profile built beforehand (at training time; not timed);
* ``specops, profile + drift``: the same, building the profile from the raw
  reference first, for a like-for-like comparison with the two below;
* ``floor``: per column ``scipy.stats.ks_2samp`` plus PSI on reference deciles
  (numeric), PSI on category shares (text): the least any tool must do;
* ``evidently``: ``Report([DataDriftPreset()])`` (needs pandas < 3, so it runs in
  its own venv: ``--peer-python /tmp/evidently/bin/python``; skipped with a note if
  absent).

Targets: specops >= 20x faster than Evidently, within 1.5x of the floor's time,
peak memory under the floor's. Per-column verdicts are compared with Evidently's
where both chose the same test (at these sizes both choose Wasserstein and
Jensen-Shannon).

    /work/venv/bin/python benchmarks/drift_speed.py --peer-python /tmp/evidently/bin/python
    /work/venv/bin/python benchmarks/drift_speed.py --rows 20000 --runs 1   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    REPO,
    bench_env,
    machine,
    machine_lines,
    markdown_table,
    median,
    publish,
    rotated,
)

DATA = REPO / "benchmarks" / ".data"
SEED = 42
NUMERIC, SHIFTED, LEVELS = 20, 5, (5, 20, 50)
EVIDENTLY_TESTS = {
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensen_shannon",
    "K-S p_value": "ks",
    "chi-square p_value": "chi_square",
    "PSI": "psi",
}


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------


def frame_paths(rows: int, seed: int = SEED) -> tuple[Path, Path]:
    """Where the reference and current Parquet files of one size are cached."""
    return (
        DATA / f"drift_{rows}_{seed}_reference.parquet",
        DATA / f"drift_{rows}_{seed}_current.parquet",
    )


def frames(rows: int) -> tuple[Path, Path]:
    """Reference and current Parquet files, generated once and cached."""
    ref_path, cur_path = frame_paths(rows)
    if ref_path.exists() and cur_path.exists():
        return ref_path, cur_path
    # In a child process: on Linux a child's ru_maxrss starts from its parent's memory
    # at fork, so a parent that had held the frames would inflate every peak measured.
    run_child(sys.executable, ["--child", "generate", "--rows", str(rows)])
    return ref_path, cur_path


def write_frames(rows: int, seed: int = SEED) -> dict[str, Any]:
    """Generate and write the reference and current files (a child's job)."""
    ref_path, cur_path = frame_paths(rows, seed)
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    DATA.mkdir(parents=True, exist_ok=True)
    for path, shifted in ((ref_path, False), (cur_path, True)):
        data: dict[str, Any] = {}
        for i in range(NUMERIC):
            values = rng.normal(10 + i, 1 + i / 10, rows)
            if shifted and i < SHIFTED:
                values = values + (0.15 + 0.1 * i) * (1 + i / 10)  # 0.15 to 0.55 sd
            data[f"num_{i:02d}"] = values
        for name, levels in zip("abc", LEVELS, strict=True):
            weights = np.linspace(1, 3, levels)
            data[f"cat_{name}"] = rng.choice(
                [f"{name}{k}" for k in range(levels)], rows, p=weights / weights.sum()
            )
        pd.DataFrame(data).to_parquet(path, index=False)
    return {}


# ---------------------------------------------------------------------------
# the sides, each run as a child process
# ---------------------------------------------------------------------------


def _read(path: str) -> Any:
    import pandas as pd

    return pd.read_parquet(path)


def _read_both(ref: str, cur: str) -> tuple[Any, Any, float]:
    """The reference and current tables, and the seconds reading them took: a side
    reports its read time apart from its drift computation."""
    started = time.perf_counter()
    reference, current = _read(ref), _read(cur)
    return reference, current, time.perf_counter() - started


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_profile(ref: str, out: str) -> dict[str, Any]:
    """Build and save the reference profile (setup for the stored-profile side)."""
    from framework.monitoring.profile import Profile, column_profile

    reference = _read(ref)
    columns = {
        name: column_profile(name, reference[name], _role(reference[name]), "feature")
        for name in reference.columns
    }
    Path(out).write_text(Profile(columns, len(reference), 0, "binary").to_json())
    return {}


def _role(series: Any) -> str:
    from framework.columns import role_of

    return "numeric" if role_of(series) == "numeric" else "categorical"


def child_specops(ref: str, cur: str, profile: str | None) -> dict[str, Any]:
    import scipy.spatial.distance
    import scipy.stats  # noqa: F401

    from framework.monitoring.drift import judge_column
    from framework.monitoring.profile import Profile, column_profile
    from framework.plugins import load_plugins
    from framework.spec.model import DriftSpec

    plugins = load_plugins()
    started = time.perf_counter()
    current = _read(cur)
    reference = None if profile else _read(ref)
    read = time.perf_counter() - started
    started = time.perf_counter()
    if profile:
        columns = Profile.from_json(Path(profile).read_text()).columns
    else:
        assert reference is not None
        columns = {
            name: column_profile(name, reference[name], _role(reference[name]), "feature")
            for name in reference.columns
        }
        del reference
    verdicts = {}
    config = DriftSpec()
    for name, column in columns.items():
        verdict, _ = judge_column(name, column, current, config, plugins)
        verdicts[name] = {
            "test": verdict.test,
            "statistic": verdict.statistic,
            "drifted": verdict.status == "drift",
        }
    return {"read": read, "seconds": time.perf_counter() - started, "verdicts": verdicts}


def child_floor(ref: str, cur: str) -> dict[str, Any]:
    import numpy as np
    from scipy import stats

    reference, current, read = _read_both(ref, cur)
    started = time.perf_counter()
    verdicts = {}
    for name in reference.columns:
        r, c = reference[name], current[name]
        if r.dtype.kind == "f":
            a, b = r.to_numpy(), c.to_numpy()
            ks = stats.ks_2samp(a, b)
            edges = np.quantile(a, np.linspace(0, 1, 11))[1:-1]
            p = np.bincount(np.searchsorted(edges, a), minlength=10) / len(a)
            q = np.bincount(np.searchsorted(edges, b), minlength=10) / len(b)
            statistic = float(ks.pvalue)
            drifted = statistic < 0.05
        else:
            keys = sorted(set(r.unique()) | set(c.unique()))
            p = r.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
            q = c.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
            statistic = None
            drifted = None
        p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
        psi = float(((q - p) * np.log(q / p)).sum())
        verdicts[name] = {"ks_p": statistic, "psi": psi, "drifted": drifted}
    return {"read": read, "seconds": time.perf_counter() - started, "verdicts": verdicts}


def child_evidently(ref: str, cur: str) -> dict[str, Any]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference, current, read = _read_both(ref, cur)
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    seconds = time.perf_counter() - started
    verdicts = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        test = EVIDENTLY_TESTS.get(config["method"], config["method"])
        value = float(metric["value"])
        p_value = test in ("ks", "chi_square")
        drifted = value < config["threshold"] if p_value else value >= config["threshold"]
        verdicts[config["column"]] = {"test": test, "statistic": value, "drifted": drifted}
    return {"read": read, "seconds": seconds, "verdicts": verdicts}


def run_child(python: str, args: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    env = bench_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [python, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------


def agreement(specops: dict[str, Any], peer: dict[str, Any]) -> tuple[int, int, list[str]]:
    same, compared, differ = 0, 0, []
    for name, ours in specops.items():
        theirs = peer.get(name)
        if theirs is None or theirs["test"] != ours["test"]:
            continue
        compared += 1
        if theirs["drifted"] == ours["drifted"]:
            same += 1
        else:
            differ.append(
                f"{name} ({ours['test']}: specops {ours['statistic']:.4g}, "
                f"evidently {theirs['statistic']:.4g})"
            )
    return same, compared, differ


def measure(rows: int, runs: int, peer: str | None) -> dict[str, Any]:
    ref, cur = frames(rows)
    profile = DATA / f"drift_{rows}_profile.json"
    run_child(sys.executable, ["--child", "profile", "--ref", str(ref), "--out", str(profile)])
    sides = {
        "specops, stored profile": (sys.executable, ["--profile", str(profile)]),
        "specops, profile + drift": (sys.executable, []),
        "floor (ks_2samp + PSI)": (sys.executable, []),
    }
    if peer:
        sides["evidently DataDriftPreset"] = (peer, [])
    names = {
        "specops, stored profile": "specops",
        "specops, profile + drift": "specops",
        "floor (ks_2samp + PSI)": "floor",
        "evidently DataDriftPreset": "evidently",
    }
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for round_number in range(runs):
        for side in rotated(list(sides), round_number):
            python, extra = sides[side]
            args = ["--child", names[side], "--ref", str(ref), "--cur", str(cur), *extra]
            results[side].append(run_child(python, args))
    summary = {}
    for side, samples in results.items():
        summary[side] = {
            "seconds": median([s["seconds"] for s in samples]),
            "read": median([s["read"] for s in samples]),
            "wall": median([s["wall"] for s in samples]),
            "maxrss_mb": max(s["maxrss_kb"] for s in samples) / 1024,
            "verdicts": samples[-1]["verdicts"],
        }
    return {"rows": rows, "sides": summary}


def report(measured: list[dict[str, Any]], facts: dict[str, Any], peer_note: str) -> str:
    lines = ["# Drift detection speed", "", *machine_lines(facts), ""]
    if peer_note:
        lines += [f"> {peer_note}", ""]
    for block in measured:
        sides = block["sides"]
        floor = sides["floor (ks_2samp + PSI)"]
        peer = sides.get("evidently DataDriftPreset")
        rows = []
        for side, s in sides.items():
            vs_floor = s["seconds"] / floor["seconds"]
            vs_peer = peer["seconds"] / s["seconds"] if peer else None
            rows.append(
                [
                    side,
                    f"{s['seconds']:.3f}",
                    f"{s['read']:.2f}",
                    f"{s['wall']:.2f}",
                    f"{s['maxrss_mb']:.0f}",
                    f"{vs_floor:.2f}",
                    "-" if vs_peer is None else f"{vs_peer:.1f}x",
                ]
            )
        lines += [
            f"## {block['rows']:,} rows x 23 columns "
            f"({NUMERIC} numeric, {SHIFTED} shifted, 3 text)",
            "",
            markdown_table(
                [
                    "side",
                    "drift s",
                    "read s",
                    "process s",
                    "peak MB",
                    "time / floor",
                    "evidently / side",
                ],
                rows,
            ),
            "",
        ]
        ours = sides["specops, stored profile"]
        checks = [
            ("time within 1.5x of the floor", ours["seconds"] <= 1.5 * floor["seconds"]),
            ("peak memory under the floor's", ours["maxrss_mb"] < floor["maxrss_mb"]),
        ]
        if peer:
            checks.append(
                ("at least 20x faster than Evidently", peer["seconds"] >= 20 * ours["seconds"])
            )
            same, compared, differ = agreement(ours["verdicts"], peer["verdicts"])
            lines.append(
                f"Verdicts agree with Evidently on {same} of {compared} columns where both "
                "chose the same test" + (f"; differ: {', '.join(differ)}" if differ else ".")
            )
        drifted = sorted(n for n, v in ours["verdicts"].items() if v["drifted"])
        lines += [
            f"specops flags: {', '.join(drifted) or 'nothing'} "
            f"(tests: {', '.join(sorted({v['test'] for v in ours['verdicts'].values()}))}).",
            "",
            *[f"- {'met' if ok else 'NOT met'}: {what} (stored profile)" for what, ok in checks],
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-python", help="a Python with evidently installed")
    parser.add_argument("--output", help="also write the Markdown report here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--ref", help=argparse.SUPPRESS)
    parser.add_argument("--cur", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        work = {
            "profile": lambda: child_profile(args.ref, args.out),
            "specops": lambda: child_specops(args.ref, args.cur, args.profile),
            "floor": lambda: child_floor(args.ref, args.cur),
            "evidently": lambda: child_evidently(args.ref, args.cur),
            "generate": lambda: write_frames(args.rows[0]),
        }[args.child]
        result = work()
        result["maxrss_kb"] = _rss_kb()
        print(json.dumps(result, default=str))
        return 0

    peer, note = args.peer_python, ""
    if peer and not Path(peer).exists():
        peer, note = None, f"Evidently skipped: {args.peer_python} does not exist."
    elif not peer:
        note = "Evidently skipped: pass --peer-python PATH (a venv with evidently and pandas<3)."
    facts = machine()
    measured = [measure(rows, args.runs, peer) for rows in args.rows]
    result = {"machine": facts, "note": note, "results": measured}
    publish(result, report(measured, facts, note), args.output, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
