"""What a shared store (PostgreSQL rows + S3 blobs) costs next to the local one.

Three questions, each answered for the local store (SQLite + a blob folder) and for
PostgreSQL + S3 on this machine (a throwaway PostgreSQL cluster and moto's S3 server,
both started here: moto is slower than a real object store, so S3's share is an
upper bound):

1. **A run.** ``specops run`` of the engine-overhead spec (``engine_overhead.py``'s
   synthetic table, LightGBM), each run a fresh process timed whole, the backends
   alternating. *fresh store*: an empty store each run; *with champion*: one store
   kept across runs, so each run's gate rescores the champion the last one made. The
   target: the shared store adds at most 25 % to the fresh-store run.
2. **A promote.** ``specops models promote NAME/V`` (a fresh process), alternating
   between two versions, on the stores the runs made.
3. **Throughput under concurrency.** 8 ``specops run`` processes started at once on
   one store (a smaller table: 8 training processes share this machine's cores);
   runs per minute, and the version numbers they got (unique and gap-free).

Then where the shared store's time goes: one run more, in a child process that counts
each S3 request (by operation) and each metadata statement and transaction, with the
seconds spent in them and in hashing blobs.

    python benchmarks/store_backends.py                              # 200,000 rows, 3 runs
    python benchmarks/store_backends.py --rows 5000 --runs 1 --concurrent-rows 2000  # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    bench_env,
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
from engine_overhead import DATA_DIR, WORK_DIR, ensure_dataset, spec_text

TARGET_RATIO = 1.25


def say(text: str) -> None:
    """Progress on stderr (the report goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


NAME = "store-bench"
CONCURRENT = 8
CONCURRENT_MODEL = {"n_estimators": 20}
"""The concurrent runs train a small model, one thread each (OMP_NUM_THREADS=1): eight
processes share this machine's cores; what is measured is the store's queueing."""

BREAKDOWN = r"""
import json, sys, time, collections
import plugins.store_s3 as s3
import plugins.store_postgres as pg

counts, seconds = collections.Counter(), collections.Counter()

def timed(key, function):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            counts[key] += 1
            seconds[key] += time.perf_counter() - started
    return wrapper

pg.PostgresMetadata.execute = timed("metadata statement", pg.PostgresMetadata.execute)
pg.PostgresMetadata.executemany = timed("metadata statement", pg.PostgresMetadata.executemany)
s3.sha256_file = timed("hashing a blob (sha256)", s3.sha256_file)
opened = s3.S3Artifacts._open_client

def open_client(self):
    client = opened(self)
    if not getattr(client, "_benchmarked", False):
        client._benchmarked = True
        started = {}
        def before(event_name, **_):
            started[event_name] = time.perf_counter()
        def after(event_name, **_):
            operation = event_name.rsplit(".", 1)[-1]
            counts["S3 " + operation] += 1
            begun = started.pop(event_name.replace("after-call", "before-call"), None)
            if begun is not None:
                seconds["S3 " + operation] += time.perf_counter() - begun
        client.meta.events.register("before-call.s3", before)
        client.meta.events.register("after-call.s3", after)
    return client

s3.S3Artifacts._open_client = open_client
from framework.cli.main import main

started = time.perf_counter()
code = main(["run", sys.argv[1], "--json"])
wall = time.perf_counter() - started
print(json.dumps({"code": code, "wall": wall, "counts": counts, "seconds": seconds}),
      file=sys.stderr)
"""
"""The child that runs once more with every S3 request and metadata statement counted."""


# ----------------------------------------------------------------------------
# the servers
# ----------------------------------------------------------------------------


@dataclass
class Servers:
    """moto's S3 server and a PostgreSQL cluster, started for this benchmark."""

    s3: Any
    s3_env: dict[str, str]
    cluster: Any
    made: list[str] = field(default_factory=list)

    def database(self) -> str:
        """A new empty database's URL (password included: it goes in SPECOPS_STORE)."""
        name = self.cluster.create_database()
        self.made.append(name)
        return str(self.cluster.url(name))

    def prefix(self) -> str:
        return f"s3://{self.s3.bucket}/bench-{uuid.uuid4().hex[:10]}"

    def stop(self) -> None:
        for name in self.made:
            # a database a killed run still holds goes with the cluster
            with contextlib.suppress(Exception):
                self.cluster.drop_database(name)
        self.cluster.stop()


def start_servers() -> Servers:
    """Both servers (the test fixtures' code, outside pytest)."""
    sys.path.insert(0, str(REPO))
    try:
        from tests.team.postgres_server import shared_cluster
        from tests.team.s3_server import shared_server

        s3 = shared_server()  # stopped when this process exits
        cluster = shared_cluster()
    except BaseException as exc:  # pytest.skip/fail outside pytest: say why and stop
        raise SystemExit(f"cannot start the servers: {exc}") from None
    return Servers(s3, dict(s3.env), cluster)


# ----------------------------------------------------------------------------
# runs
# ----------------------------------------------------------------------------


@dataclass
class Backend:
    """One side: its specs (a fresh store's, the kept store's) and what its runs took."""

    name: str
    work: Path
    env: dict[str, str]
    fresh: Any  # () -> dict[str, str]: the store variables of a new, empty store
    kept: dict[str, str] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    steps: list[dict[str, float]] = field(default_factory=list)

    def spec(self, which: str) -> Path:
        """``fresh``/``kept``/``concurrent``: its spec; the store (or, for the shared
        store, the local workdir: scratch and blob cache) is ``work/which``."""
        return self.work / f"{which}.yaml"

    def run(self, which: str, store: dict[str, str], *, reset: bool) -> tuple[float, dict]:
        """One timed ``specops run``; its wall time and step seconds."""
        if reset:
            shutil.rmtree(self.work / which, ignore_errors=True)
        env = {**bench_env(), **self.env, **store}
        argv = [*specops_command(), "run", str(self.spec(which)), "--json"]
        say(f"{self.name}: run ({which} store)")
        seconds, done = timed_run(argv, env=env)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-2000:]
            raise SystemExit(f"{self.name}: specops run failed ({done.returncode}):\n{tail}")
        steps: dict[str, float] = {}
        for step in json.loads(done.stdout)["steps"]:
            steps[step["name"]] = steps.get(step["name"], 0.0) + step["seconds"]
        return seconds, steps

    def store_args(self, which: str, store: dict[str, str]) -> list[str]:
        """``--store`` for a registry command on the local store ``which`` (the shared
        one is named by SPECOPS_STORE in ``store``)."""
        return [] if store else ["--store", str(self.work / which)]


def make_backends(data: Path, small: Path, seed: int, work: Path, servers: Servers) -> list:
    """The local store and the shared one, each with its specs written."""
    backends = []
    for key, name in (("local", "local (SQLite + folder)"), ("shared", "PostgreSQL + S3")):
        home = work / key
        home.mkdir(parents=True, exist_ok=True)
        if key == "local":
            backend = Backend(name, home, {}, dict)
        else:
            backend = Backend(
                name,
                home,
                servers.s3_env,
                lambda: {
                    "SPECOPS_STORE": servers.database(),
                    "SPECOPS_ARTIFACTS": servers.prefix(),
                },
            )
        for which in ("fresh", "kept", "concurrent"):
            table, params = (small, CONCURRENT_MODEL) if which == "concurrent" else (data, None)
            text = spec_text(table, home / which, seed, name=NAME, model_params=params)
            backend.spec(which).write_text(text, encoding="utf-8")
        backends.append(backend)
    return backends


def measure_runs(backends: list[Backend], runs: int, warmups: int) -> dict[str, dict[str, Any]]:
    """Fresh-store and with-champion runs, backends alternating, rotating each round."""
    champion: dict[str, list[float]] = {b.name: [] for b in backends}
    for backend in backends:
        backend.kept = backend.fresh()
        backend.run("kept", backend.kept, reset=True)  # the champion the kept store starts with
        for _ in range(warmups):
            backend.run("fresh", backend.fresh(), reset=True)
    for round_number in range(runs):
        for backend in rotated(backends, round_number):
            seconds, steps = backend.run("fresh", backend.fresh(), reset=True)
            backend.times.append(seconds)
            backend.steps.append(steps)
        for backend in rotated(backends, round_number + 1):
            seconds, _ = backend.run("kept", backend.kept, reset=False)
            champion[backend.name].append(seconds)
    return {
        b.name: {
            "fresh_s": [round(t, 3) for t in b.times],
            "champion_s": [round(t, 3) for t in champion[b.name]],
            "steps_median_s": step_medians(b),
        }
        for b in backends
    }


def step_medians(backend: Backend) -> dict[str, float]:
    """Median seconds per step, and what no step accounts for (start-up, store opening)."""
    if not backend.steps:
        return {}
    names = list(backend.steps[0])
    medians = {n: median([s.get(n, 0.0) for s in backend.steps]) for n in names}
    outside = [t - sum(s.values()) for t, s in zip(backend.times, backend.steps, strict=True)]
    medians["outside steps"] = median(outside)
    return {n: round(v, 3) for n, v in medians.items()}


def measure_promotes(backends: list[Backend], runs: int) -> dict[str, list[float]]:
    """``models promote NAME/1`` and ``NAME/2`` in turn on each kept store."""
    times: dict[str, list[float]] = {b.name: [] for b in backends}
    say("promotes")
    for round_number in range(max(5, runs * 2)):
        for backend in rotated(backends, round_number):
            ref = f"{NAME}/{1 + round_number % 2}"
            env = {**bench_env(), **backend.env, **backend.kept}
            argv = [*specops_command(), "models", "promote", ref, "--json"]
            seconds, done = timed_run([*argv, *backend.store_args("kept", backend.kept)], env=env)
            if done.returncode != 0:
                raise SystemExit(f"{backend.name}: promote failed:\n{done.stderr[-2000:]}")
            times[backend.name].append(round(seconds, 3))
    return times


def measure_concurrent(backends: list[Backend]) -> dict[str, dict[str, Any]]:
    """8 runs started at once on one new store per backend: wall time and versions."""
    results = {}
    for backend in backends:
        shutil.rmtree(backend.work / "concurrent", ignore_errors=True)
        store = backend.fresh()
        env = {**bench_env(), **backend.env, **store, "OMP_NUM_THREADS": "1"}
        say(f"{backend.name}: {CONCURRENT} concurrent runs")
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [*specops_command(), "run", str(backend.spec("concurrent")), "--json"],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(CONCURRENT)
        ]
        errors = [p.communicate()[1] for p in processes]
        wall = time.perf_counter() - started
        codes = [p.returncode for p in processes]
        listing = [*specops_command(), "models", "list", "--json"]
        _, done = timed_run([*listing, *backend.store_args("concurrent", store)], env=env)
        versions = sorted(
            v["version"]
            for m in json.loads(done.stdout or "{}").get("models", [])
            for v in m.get("versions", [])
        )
        results[backend.name] = {
            "wall_s": round(wall, 2),
            "runs_per_minute": round(CONCURRENT * 60 / wall, 1),
            "exit_codes": codes,
            "versions": versions,
            "gap_free": versions == list(range(1, len(versions) + 1)),
            "failures": [e[-500:] for e, c in zip(errors, codes, strict=True) if c != 0][:2],
        }
    return results


def breakdown(backend: Backend) -> dict[str, Any]:
    """One more shared run in a child that counts S3 requests and metadata statements."""
    say(f"{backend.name}: the counted run")
    store = backend.fresh()
    shutil.rmtree(backend.work / "fresh", ignore_errors=True)
    env = {**bench_env(), **backend.env, **store}
    done = subprocess.run(
        [sys.executable, "-c", BREAKDOWN, str(backend.spec("fresh"))],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        found = json.loads(done.stderr.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise SystemExit(f"the counted run failed:\n{done.stderr[-2000:]}") from None
    return {
        "wall_s": round(found["wall"], 3),
        "calls": {
            key: {"count": found["counts"][key], "seconds": round(found["seconds"][key], 3)}
            for key in sorted(found["counts"])
        },
    }


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------


def summary(runs: dict[str, dict[str, Any]], promotes: dict[str, list[float]]) -> list[dict]:
    rows = []
    local = next(iter(runs.values()))
    for name, result in runs.items():
        fresh, champ, promote = result["fresh_s"], result["champion_s"], promotes[name]
        ratio = median(fresh) / median(local["fresh_s"])
        rows.append(
            {
                "backend": name,
                "fresh_median_s": round(median(fresh), 3),
                "fresh_p90_s": round(percentile(fresh, 90), 3),
                "champion_median_s": round(median(champ), 3),
                "promote_median_s": round(median(promote), 3),
                "promote_p90_s": round(percentile(promote, 90), 3),
                "ratio_to_local": round(ratio, 3),
                "champion_ratio_to_local": round(median(champ) / median(local["champion_s"]), 3),
                "promote_ratio_to_local": round(
                    median(promote) / median(next(iter(promotes.values()))), 3
                ),
            }
        )
    return rows


def _verdict(ratio: float) -> str:
    return f"<= {TARGET_RATIO:.2f}: {'met' if ratio <= TARGET_RATIO else 'MISSED'}"


def render(report: dict[str, Any]) -> str:
    rows = report["summary"]
    table = markdown_table(
        [
            "store",
            "run, fresh (s)",
            "ratio",
            "target",
            "run, with champion (s)",
            "ratio",
            "promote (s)",
            "ratio",
        ],
        [
            [
                r["backend"],
                f"{r['fresh_median_s']:.2f} (p90 {r['fresh_p90_s']:.2f})",
                f"{r['ratio_to_local']:.3f}",
                "(baseline)" if i == 0 else _verdict(r["ratio_to_local"]),
                f"{r['champion_median_s']:.2f}",
                f"{r['champion_ratio_to_local']:.3f}",
                f"{r['promote_median_s']:.3f} (p90 {r['promote_p90_s']:.3f})",
                f"{r['promote_ratio_to_local']:.2f}",
            ]
            for i, r in enumerate(rows)
        ],
    )
    runs = report["runs"]
    names = list(next(iter(runs.values()))["steps_median_s"])
    steps = markdown_table(
        ["step", *runs],
        [[n, *(f"{r['steps_median_s'].get(n, 0):.3f}" for r in runs.values())] for n in names],
    )
    concurrent = markdown_table(
        ["store", "wall (s)", "runs/min", "exit codes", "versions", "unique, gap-free"],
        [
            [
                name,
                f"{c['wall_s']:.1f}",
                f"{c['runs_per_minute']:.1f}",
                " ".join(map(str, c["exit_codes"])),
                " ".join(map(str, c["versions"])),
                "yes" if c["gap_free"] and len(c["versions"]) == CONCURRENT else "NO",
            ]
            for name, c in report["concurrent"].items()
        ],
    )
    calls = report["breakdown"]["calls"]
    where = markdown_table(
        ["what (one fresh PostgreSQL + S3 run)", "count", "seconds"],
        [[k, v["count"], f"{v['seconds']:.3f}"] for k, v in calls.items()],
    )
    lines = [
        "## Shared store (PostgreSQL + S3) vs local store",
        "",
        f"{report['rows']:,} rows (engine_overhead.py's table and spec), {report['timed_runs']} "
        f"timed run(s) per backend after {report['warmups']} warm-up(s), alternating; wall "
        "time of a fresh process. PostgreSQL: a throwaway cluster on 127.0.0.1; S3: moto's "
        "server on 127.0.0.1 (slower than a real object store).",
        "",
        *machine_lines(report["machine"]),
        "",
        table,
        "",
        "### Where the time goes (median seconds per step, fresh store)",
        "",
        steps,
        "",
        f"### {CONCURRENT} concurrent runs on one store ({report['concurrent_rows']:,} rows, "
        f"LightGBM {CONCURRENT_MODEL}, one thread each)",
        "",
        concurrent,
        "",
        f"### Round trips of one fresh shared run ({report['breakdown']['wall_s']:.2f} s in "
        "process)",
        "",
        where,
    ]
    lines += notes_lines(report["notes"])
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of a timed run's table")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per backend")
    parser.add_argument("--warmups", type=int, default=1, help="untimed runs per backend first")
    parser.add_argument(
        "--concurrent-rows", type=int, default=20_000, help="rows of each concurrent run's table"
    )
    parser.add_argument("--seed", type=int, default=42, help="data, split and model seed")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="dataset cache")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR / "store_backends")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rows < 100 or args.concurrent_rows < 100:
        parser.error("need --runs >= 1, --rows >= 100 and --concurrent-rows >= 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine()
    data, generated = ensure_dataset(args.rows, args.seed, args.data_dir)
    small, _ = ensure_dataset(args.concurrent_rows, args.seed, args.data_dir)
    notes = [f"data: {data.name} ({'generated by this run' if generated else 'cached'})"]
    notes += env_notes()
    say("starting moto and PostgreSQL")
    servers = start_servers()
    try:
        backends = make_backends(data, small, args.seed, args.work_dir, servers)
        runs = measure_runs(backends, args.runs, args.warmups)
        promotes = measure_promotes(backends, args.runs)
        concurrent = measure_concurrent(backends)
        counted = breakdown(backends[1])
    finally:
        servers.stop()
    report = {
        "machine": facts,
        "rows": args.rows,
        "concurrent_rows": args.concurrent_rows,
        "timed_runs": args.runs,
        "warmups": args.warmups,
        "summary": summary(runs, promotes),
        "runs": runs,
        "promote_s": promotes,
        "concurrent": concurrent,
        "breakdown": counted,
        "notes": notes,
    }
    shutil.rmtree(args.work_dir, ignore_errors=True)
    publish(report, render(report), args.output, args.json)
    return 0


if __name__ == "__main__":
    # timeout's SIGTERM: stop the servers (finally, atexit) rather than die around them
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.pop("SPECOPS_STORE", None)
    os.environ.pop("SPECOPS_ARTIFACTS", None)
    sys.exit(main())
