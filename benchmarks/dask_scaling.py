"""``specops run`` and ``predict`` on Dask next to the local path: client memory, a memory
cap, distributed overhead and batch scoring, on Parquet datasets of 2M, 8M and 20M rows.

The data is ``dask_data.py``'s: 23 columns (20 numeric, 2 text, a binary target), a
directory of Parquet files written chunk by chunk. Every run is a fresh process timed
whole, with a fresh store; peaks are read from ``/proc/PID/status`` (``VmHWM``, the
process's own high-water mark of resident memory) every 50 ms, for the ``specops``
process and, separately, for each Dask worker process under it or under the cluster
this script started. Four parts (``--parts``):

* ``memory``: ``specops run`` at each size, local and on a LocalCluster specops starts
  (2 workers x 1 thread). The client's peak (the ``specops`` process alone: with a
  LocalCluster the scheduler lives in it, the workers are child processes measured
  apart) should grow at most 1.2x from the smallest size to the largest; the local
  path's grows with the data. Local runs above ``--local-max`` rows are skipped (the
  report says so): they would take more memory than a shared machine should give.
* ``cap``: both paths under the same address-space cap (``RLIMIT_AS``, what
  ``ulimit -v`` sets) at ``--cap-size`` rows. The local path must fail; the Dask path
  trains with only its client under the cap, on workers of a cluster this script
  starts apart (``dask scheduler`` + ``dask worker`` processes) reached through
  ``address:``.
* ``overhead``: at the smallest size, ``--runs`` rounds of both paths alternating;
  the Dask run's wall time at most 1.5x the local one's (median of per-round ratios).
* ``predict``: ``specops predict --execution dask`` of ``--predict-size`` rows with the
  model the Dask run trained at the smallest size: rows/s, the client's peak and each
  worker's; the local ``specops predict`` of the same rows beside it.

    python benchmarks/dask_scaling.py --output benchmarks/results/dask_scaling.md   # full
    python benchmarks/dask_scaling.py --sizes 2M,8M --parts memory,overhead
    python benchmarks/dask_scaling.py --quick                  # smoke: tiny sizes, seconds
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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
    publish,
    rotated,
    specops_command,
    write_report,
)
from dask_data import (
    CATEGORY_LEVELS,
    DEFAULT_DATA_DIR,
    TARGET,
    check_space,
    dataset_bytes,
    ensure_dataset,
    parse_rows,
    parse_sizes,
    size_label,
)

HERE = Path(__file__).resolve().parent
WORK_DIR = HERE / ".work" / "dask_scaling"  # gitignored; in the repo, so runs record git lineage
NAME = "dask-scaling"
PARTS = ("memory", "cap", "overhead", "predict")
SIDES = ("local", "dask")
WORKERS, THREADS_PER_WORKER = 2, 1
TARGET_CLIENT_GROWTH = 1.2
TARGET_OVERHEAD = 1.5
POLL_SECONDS = 0.05
QUICK: dict[str, Any] = {
    "sizes": "20k,60k",
    "runs": 1,
    "trees": 10,
    "cap_size": "20k",
    "predict_size": "60k",
    "local_max": "60k",
    "worker_memory": "1GiB",
}
"""``--quick``: sizes a smoke run makes in seconds (per run, a LocalCluster start included)."""
GIB = 1024**3


# ----------------------------------------------------------------------------
# the spec
# ----------------------------------------------------------------------------


def execution(side: str, address: str | None = None) -> dict[str, Any] | None:
    """The ``execution:`` block of a side: none for local (the default), a LocalCluster
    specops starts (2 x 1, no dashboard), or the cluster at ``address``."""
    if side == "local":
        return None
    if address:
        return {"type": "dask", "params": {"address": address}}
    params = {"n_workers": WORKERS, "threads_per_worker": THREADS_PER_WORKER}
    return {"type": "dask", "params": {**params, "dashboard_address": None}}


def spec_text(
    data: Path,
    store: Path,
    seed: int,
    trees: int,
    block: dict[str, Any] | None,
    snapshot: bool = True,
) -> str:
    """The benchmark's spec: the same lifecycle on both sides but for ``execution:``.

    Three distributed-capable checks, the content-rule stratified split, LightGBM on
    the raw columns (it encodes the two text columns itself), a gate that passes.
    """
    import yaml

    spec = {
        "name": NAME,
        "task": "binary",
        "seed": seed,
        **({"execution": block} if block else {}),
        "data": {
            "source": {"type": "parquet", "params": {"path": str(data)}},
            "target": TARGET,
            "split": {"type": "stratified", "params": {"test_size": 0.2}},
        },
        "checks": [
            {"type": "row_count", "params": {"min": 100}},
            {"type": "max_null_fraction", "params": {"max": 0.01}},
            {
                "type": "allowed_values",
                "params": {
                    "column": "cat_a",
                    "values": [f"cat_a_{k:02d}" for k in range(CATEGORY_LEVELS["cat_a"])],
                },
            },
        ],
        "model": {"type": "lightgbm", "params": {"n_estimators": trees}},
        "gate": {"roc_auc": {"min": 0.5}},
        "deploy": {"type": "registry"},
        "store": {"path": str(store), **({} if snapshot else {"snapshot_data": False})},
    }
    return yaml.safe_dump(spec, sort_keys=False)


# ----------------------------------------------------------------------------
# measuring one process and its workers
# ----------------------------------------------------------------------------


def high_water_kb(pid: int, field: str = "VmHWM") -> int | None:
    """The process's own peak resident memory so far (``VmHWM``; ``VmPeak``: its peak
    address space, what ``RLIMIT_AS`` bounds), None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def is_worker(command: list[str]) -> bool:
    """A Dask worker process: what a Nanny spawns (``multiprocessing`` spawn), or a
    ``dask worker --no-nanny``; not the resource tracker or the ``dask worker`` CLI
    that holds the nannies."""
    text = " ".join(command)
    return "spawn_main" in text or ("dask" in text and "worker" in text and "--no-nanny" in text)


def worker_pids(roots: list[int]) -> dict[int, str]:
    """The Dask worker processes under ``roots`` (pid -> short command)."""
    import psutil

    found: dict[int, str] = {}
    for root in roots:
        try:
            children = psutil.Process(root).children(recursive=True)
        except psutil.Error:
            continue
        for child in children:
            try:
                command = child.cmdline()
            except psutil.Error:
                continue
            if is_worker(command):
                found[child.pid] = " ".join(command)[:80]
    return found


@dataclass
class Measured:
    """One process: wall time, exit code, output, its own peak and its workers' peaks."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_mb: float
    worker_peaks_mb: list[float]
    address_space_mb: float = 0.0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure(self) -> str:
        """The last lines of what a failed run printed: why it failed."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        reason = " / ".join(line.strip() for line in text[-3:]) or "(nothing printed)"
        head = "timed out" if self.timed_out else f"exit {self.returncode}"
        return f"{head}: {reason[-400:]}"


def measured_run(
    argv: list[str],
    *,
    cap_bytes: int | None = None,
    worker_roots: list[int] | None = None,
    timeout: float = 3600.0,
) -> Measured:
    """Run ``argv`` (its own session) to completion, sampling peaks every 50 ms.

    ``cap_bytes`` sets ``RLIMIT_AS`` in the child before it starts (``ulimit -v``).
    Workers are looked for under the process itself (a LocalCluster it started) and
    under ``worker_roots`` (a cluster started apart). A run past ``timeout`` is
    killed with its whole process group.
    """

    def limit() -> None:
        if cap_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    peaks: dict[int, int] = {}
    workers: dict[int, int] = {}
    space = 0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=bench_env(),
            stdout=out,
            stderr=err,
            preexec_fn=limit,
            start_new_session=True,
        )
        timed_out, status = False, 0
        while True:
            pid, status, _ = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            own = high_water_kb(process.pid)
            if own is not None:
                peaks[process.pid] = max(peaks.get(process.pid, 0), own)
                space = max(space, high_water_kb(process.pid, "VmPeak") or 0)
            for worker in worker_pids([process.pid, *(worker_roots or [])]):
                hwm = high_water_kb(worker)
                if hwm is not None:
                    workers[worker] = max(workers.get(worker, 0), hwm)
            if time.perf_counter() - started > timeout:
                timed_out = True
                os.killpg(process.pid, signal.SIGKILL)
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        # a LocalCluster's workers a failed run left behind: only this run's own process
        # group (its session, started above) is signalled
        _end_group(process.pid)
        out.seek(0)
        err.seek(0)
        return Measured(
            seconds=seconds,
            returncode=process.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            peak_mb=peaks.get(process.pid, 0) / 1024,
            worker_peaks_mb=sorted((kb / 1024 for kb in workers.values()), reverse=True),
            address_space_mb=space / 1024,
            timed_out=timed_out,
        )


def _end_group(group: int) -> None:
    """SIGTERM what is left of a finished run's own process group (started by us)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGTERM)


def run_report(measured: Measured) -> dict[str, Any]:
    """What ``specops run --json`` printed: status, ROC AUC, seconds per step."""
    try:
        report = json.loads(measured.stdout)
    except ValueError:
        return {}
    auc = next((m["value"] for m in report.get("metrics", []) if m["metric"] == "roc_auc"), None)
    steps: dict[str, float] = {}
    for step in report.get("steps", []):
        steps[step["name"]] = steps.get(step["name"], 0.0) + step["seconds"]
    return {"status": report.get("status"), "roc_auc": auc, "steps": steps}


# ----------------------------------------------------------------------------
# runs of specops
# ----------------------------------------------------------------------------


@dataclass
class Job:
    """``specops run`` of one side at one size, with its spec and store."""

    side: str
    rows: int
    spec: Path
    store: Path
    runs: list[Measured] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)

    def run(self, timeout: float, **options: Any) -> Measured:
        shutil.rmtree(self.store, ignore_errors=True)
        argv = [*specops_command(), "run", str(self.spec), "--json"]
        measured = measured_run(argv, timeout=timeout, **options)
        self.runs.append(measured)
        self.reports.append(run_report(measured))
        return measured

    def summary(self) -> dict[str, Any]:
        good = [(m, r) for m, r in zip(self.runs, self.reports, strict=True) if m.ok]
        result: dict[str, Any] = {
            "side": self.side,
            "rows": self.rows,
            "size": size_label(self.rows),
            "runs": len(self.runs),
            "failed": [m.failure() for m in self.runs if not m.ok],
        }
        if not self.runs:
            result["pending"] = True
        if not good:
            return result
        result.update(
            median_s=round(median([m.seconds for m, _ in good]), 2),
            times_s=[round(m.seconds, 2) for m, _ in good],
            client_peak_mb=round(max(m.peak_mb for m, _ in good)),
            worker_peaks_mb=[round(p) for p in max((m.worker_peaks_mb for m, _ in good))],
            roc_auc=good[-1][1].get("roc_auc"),
            steps_s={
                name: round(median([r["steps"].get(name, 0.0) for _, r in good]), 2)
                for name in good[-1][1].get("steps", {})
            },
        )
        return result


SNAPSHOT = True
"""Keep the data snapshot (the default of ``store.snapshot_data``); ``--no-snapshot``."""


def write_spec(
    work: Path, key: str, data: Path, seed: int, trees: int, block: dict[str, Any] | None
) -> Job:
    spec, store = work / f"{key}.yaml", work / f"store-{key}"
    text = spec_text(data, store, seed, trees, block, snapshot=SNAPSHOT)
    spec.write_text(text, encoding="utf-8")
    side = "local" if block is None else "dask"
    return Job(side, 0, spec, store)


def memory_and_overhead(
    data: dict[int, Path],
    args: argparse.Namespace,
    work: Path,
    after_each: Callable[[dict[int, dict[str, Job]]], None] = lambda jobs: None,
) -> dict[int, dict[str, Job]]:
    """``specops run`` on both sides at every size; ``--runs`` rounds at the smallest
    (the overhead comparison), one at the others; sides alternate round by round.
    ``after_each`` sees the jobs after every run (to write a partial report)."""
    jobs: dict[int, dict[str, Job]] = {}
    smallest = min(data)
    for rows, path in sorted(data.items()):
        jobs[rows] = {}
        for side in SIDES:
            if side == "local" and rows > args.local_max:
                continue
            key = f"{side}-{size_label(rows)}"
            job = write_spec(work, key, path, args.seed, args.trees, execution(side))
            job.rows = rows
            jobs[rows][side] = job
    for rows in sorted(data):
        rounds = args.runs if rows == smallest and "overhead" in args.parts else 1
        if rows != smallest and "memory" not in args.parts:
            continue
        for round_number in range(rounds):
            for side in rotated(list(jobs[rows]), round_number):
                job = jobs[rows][side]
                measured = job.run(args.timeout)
                state = "ok" if measured.ok else measured.failure()
                say(
                    f"run {side} {size_label(rows)}: {measured.seconds:.1f} s, "
                    f"client {measured.peak_mb:.0f} MB, workers "
                    f"{[round(p) for p in measured.worker_peaks_mb]} MB ({state})"
                )
                after_each(jobs)
    return jobs


def say(text: str) -> None:
    """Progress on stderr, so ``--json`` output stays clean."""
    print(f"[dask_scaling {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------
# a cluster started apart, for the memory cap
# ----------------------------------------------------------------------------


@dataclass
class Cluster:
    """A scheduler and a ``dask worker`` process (its nannies' workers under it),
    each in its own session so it can be ended by its process group."""

    address: str
    processes: list[subprocess.Popen]

    @property
    def roots(self) -> list[int]:
        return [p.pid for p in self.processes]

    def close(self) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def start_cluster(work: Path, memory_limit: str, timeout: float = 120.0) -> Cluster:
    """``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1`` on 127.0.0.1,
    uncapped; returns once both workers have joined."""
    dask_cli = str(Path(sys.executable).parent / "dask")
    scheduler_file = work / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)
    logs = work / "cluster.log"
    common = {"cwd": REPO, "env": bench_env(), "start_new_session": True}
    with logs.open("ab") as log:
        scheduler = subprocess.Popen(
            [
                dask_cli,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            stdout=log,
            stderr=log,
            **common,
        )
        cluster = Cluster("", [scheduler])
        try:
            deadline = time.monotonic() + timeout
            while not scheduler_file.exists():
                if time.monotonic() > deadline or scheduler.poll() is not None:
                    raise SystemExit(f"the dask scheduler did not start; see {logs}")
                time.sleep(0.2)
            worker = subprocess.Popen(
                [
                    dask_cli,
                    "worker",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--nworkers",
                    str(WORKERS),
                    "--nthreads",
                    str(THREADS_PER_WORKER),
                    "--memory-limit",
                    memory_limit,
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                stdout=log,
                stderr=log,
                **common,
            )
            cluster.processes.append(worker)
            code = (
                "import sys; from distributed import Client;"
                " c = Client(scheduler_file=sys.argv[1], timeout=60);"
                " c.wait_for_workers(int(sys.argv[2]), timeout=float(sys.argv[3]));"
                " print(c.scheduler.address); c.close()"
            )
            argv = [sys.executable, "-c", code, str(scheduler_file), str(WORKERS), str(timeout)]
            done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO)
            if done.returncode != 0:
                raise SystemExit(f"the dask workers did not join: {done.stderr[-1500:]}")
            cluster.address = done.stdout.strip().splitlines()[-1]
            return cluster
        except BaseException:
            cluster.close()
            raise


def memory_cap(data: Path, rows: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Both sides under the same RLIMIT_AS; the Dask side's workers apart and uncapped."""
    cap = args.cap_bytes
    local = write_spec(work, "cap-local", data, args.seed, args.trees, execution("local"))
    result: dict[str, Any] = {"rows": rows, "size": size_label(rows), "cap_gib": cap / GIB}
    result["quick"] = args.quick
    measured = local.run(args.timeout, cap_bytes=cap)
    result["local"] = {
        "ok": measured.ok,
        "seconds": round(measured.seconds, 2),
        "peak_mb": round(measured.peak_mb),
        "address_space_mb": round(measured.address_space_mb),
        "failure": None if measured.ok else measured.failure(),
    }
    say(f"cap local {size_label(rows)}: {result['local']}")
    cluster = start_cluster(work, args.worker_memory)
    try:
        block = execution("dask", cluster.address)
        dask = write_spec(work, "cap-dask", data, args.seed, args.trees, block)
        measured = dask.run(args.timeout, cap_bytes=cap, worker_roots=cluster.roots)
    finally:
        cluster.close()
    report = run_report(measured)
    result["dask"] = {
        "ok": measured.ok,
        "seconds": round(measured.seconds, 2),
        "peak_mb": round(measured.peak_mb),
        "address_space_mb": round(measured.address_space_mb),
        "worker_peaks_mb": [round(p) for p in measured.worker_peaks_mb],
        "worker_memory_limit": args.worker_memory,
        "roc_auc": report.get("roc_auc"),
        "failure": None if measured.ok else measured.failure(),
    }
    say(f"cap dask {size_label(rows)}: {result['dask']}")
    result["met"] = (not result["local"]["ok"]) and result["dask"]["ok"]
    return result


# ----------------------------------------------------------------------------
# batch scoring
# ----------------------------------------------------------------------------


def predict(
    data: Path, rows: int, store: Path, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """``specops predict`` of ``rows`` rows on Dask (and locally unless told not to)."""
    sides = ["dask"] if args.no_predict_local else ["dask", "local"]
    result: dict[str, Any] = {"rows": rows, "size": size_label(rows), "store": str(store)}
    for side in sides:
        output = work / f"predicted-{side}" if side == "dask" else work / "predicted.parquet"
        shutil.rmtree(output, ignore_errors=True) if output.is_dir() else output.unlink(
            missing_ok=True
        )
        argv = [*specops_command(), "predict", NAME, "--input", str(data), "--output", str(output)]
        argv += ["--store", str(store), "--json"]
        if side == "dask":
            argv += ["--execution", "dask", *args.predict_args.split()]
        measured = measured_run(argv, timeout=args.timeout)
        entry: dict[str, Any] = {
            "ok": measured.ok,
            "seconds": round(measured.seconds, 2),
            "rows_per_s": round(rows / measured.seconds) if measured.ok else None,
            "client_peak_mb": round(measured.peak_mb),
            "worker_peaks_mb": [round(p) for p in measured.worker_peaks_mb],
            "failure": None if measured.ok else measured.failure(),
        }
        if measured.ok:
            entry["rows_written"] = rows_written(output)
        result[side] = entry
        say(f"predict {side} {size_label(rows)}: {entry}")
        shutil.rmtree(output, ignore_errors=True) if output.is_dir() else output.unlink(
            missing_ok=True
        )
    return result


def rows_written(output: Path) -> int | None:
    """Rows in the written predictions (a file or a directory of parts), from the footers."""
    import pyarrow.parquet as pq

    files = sorted(output.glob("*.parquet")) if output.is_dir() else [output]
    try:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except OSError:
        return None


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------


def growth(results: list[dict[str, Any]], side: str) -> float | None:
    """Peak at the largest size measured over the peak at the smallest, for one side."""
    peaks = [
        (r["rows"], r["client_peak_mb"])
        for r in results
        if r["side"] == side and r.get("client_peak_mb")
    ]
    if len(peaks) < 2:
        return None
    peaks.sort()
    return round(peaks[-1][1] / peaks[0][1], 3)


def overhead(jobs: dict[str, Job]) -> dict[str, Any] | None:
    """Per-round ratio dask/local at one size, when both sides ran every round."""
    local, dask = jobs.get("local"), jobs.get("dask")
    if not local or not dask:
        return None
    # rounds both sides finished (a partial report may have one side a round ahead)
    pairs = [(d, lo) for d, lo in zip(dask.runs, local.runs, strict=False) if d.ok and lo.ok]
    if not pairs:
        return None
    ratio = median([d.seconds / lo.seconds for d, lo in pairs])
    return {
        "rows": local.rows,
        "size": size_label(local.rows),
        "rounds": len(pairs),
        "local_s": round(median([lo.seconds for _, lo in pairs]), 2),
        "dask_s": round(median([d.seconds for d, _ in pairs]), 2),
        "ratio": round(ratio, 3),
        "met": ratio <= TARGET_OVERHEAD,
    }


def mb(value: Any) -> str:
    return "-" if value in (None, "") else f"{value:,}"


def render_memory(report: dict[str, Any]) -> list[str]:
    rows = []
    for r in report["runs"]:
        if r["side"] == "local" and r.get("skipped"):
            rows.append([r["size"], "local", "skipped", "-", "-", "-", r["skipped"]])
            continue
        if r.get("pending"):
            rows.append([r["size"], r["side"], "not run (yet)", "-", "-", "-", ""])
            continue
        if "median_s" not in r:
            rows.append([r["size"], r["side"], "FAILED", "-", "-", "-", "; ".join(r["failed"])])
            continue
        workers = ", ".join(mb(p) for p in r["worker_peaks_mb"]) or "-"
        auc = "-" if r.get("roc_auc") is None else f"{r['roc_auc']:.5f}"
        rows.append(
            [
                r["size"],
                r["side"],
                f"{r['median_s']:.1f}",
                mb(r["client_peak_mb"]),
                workers,
                auc,
                f"{r['runs']} run(s)",
            ]
        )
    table = markdown_table(
        [
            "rows",
            "path",
            "wall s (median)",
            "specops process peak MB",
            "worker peaks MB",
            "ROC AUC",
            "",
        ],
        rows,
    )
    g = report["growth"]
    lines = ["### Client memory as the data grows (`specops run`)", "", table, ""]
    if g["dask"] is not None:
        verdict = "met" if g["dask"] <= TARGET_CLIENT_GROWTH else "MISSED"
        lines.append(
            f"Dask client peak, largest size / smallest: **{g['dask']:.3f}** "
            f"(target <= {TARGET_CLIENT_GROWTH}: {verdict}); local path: "
            + ("-" if g["local"] is None else f"**{g['local']:.3f}**")
            + f" over the sizes it ran ({g['local_sizes']})."
        )
    return lines


def render_cap(cap: dict[str, Any]) -> list[str]:
    local, dask = cap["local"], cap["dask"]
    rows = [
        [
            "local",
            "trained" if local["ok"] else "failed",
            f"{local['seconds']:.1f}",
            mb(local["peak_mb"]),
            mb(local["address_space_mb"]),
            "-",
            local["failure"] or "",
        ],
        [
            "dask (address:)",
            "trained" if dask["ok"] else "failed",
            f"{dask['seconds']:.1f}",
            mb(dask["peak_mb"]),
            mb(dask["address_space_mb"]),
            ", ".join(mb(p) for p in dask["worker_peaks_mb"]) or "-",
            dask["failure"] or (f"ROC AUC {dask['roc_auc']:.5f}" if dask["roc_auc"] else ""),
        ],
    ]
    verdict = "met" if cap["met"] else "MISSED"
    return [
        f"### Under a memory cap: {cap['size']} rows, address space capped at "
        f"{cap['cap_gib']:.1f} GiB (RLIMIT_AS, as `ulimit -v`)",
        "",
        "The cap applies to the `specops` process (and anything it starts). The Dask "
        f"side's {WORKERS} workers run in a cluster started apart (`dask scheduler`, "
        f"`dask worker --nworkers {WORKERS} --nthreads {THREADS_PER_WORKER} --memory-limit "
        f"{dask['worker_memory_limit']}`), uncapped, reached through `address:`.",
        "",
        markdown_table(
            [
                "path",
                "result",
                "wall s",
                "specops process peak MB (resident)",
                "its peak address space MB",
                "worker peaks MB",
                "",
            ],
            rows,
        ),
        "",
        f"Local fails and Dask trains under the same cap: **{verdict}**."
        + (" (--quick: the data is too small for the local path to fail)" if cap["quick"] else ""),
    ]


def render_overhead(o: dict[str, Any]) -> list[str]:
    verdict = "met" if o["met"] else "MISSED"
    return [
        f"### Distributed overhead at {o['size']} rows ({o['rounds']} round(s))",
        "",
        markdown_table(
            [
                "local s (median)",
                f"dask s (LocalCluster {WORKERS} x {THREADS_PER_WORKER})",
                "ratio dask/local",
                "target",
            ],
            [
                [
                    f"{o['local_s']:.1f}",
                    f"{o['dask_s']:.1f}",
                    f"{o['ratio']:.3f}",
                    f"<= {TARGET_OVERHEAD}: {verdict}",
                ]
            ],
        ),
    ]


def render_steps(report: dict[str, Any]) -> list[str]:
    """Seconds per lifecycle step of each side at the smallest size."""
    runs = report.get("runs", [])
    at = [r for r in runs if r["rows"] == report["smallest"] and r.get("steps_s")]
    if not at:
        return []
    names = list(dict.fromkeys(n for r in at for n in r["steps_s"]))
    table = markdown_table(
        ["step", *(r["side"] for r in at)],
        [[n, *(f"{r['steps_s'].get(n, 0.0):.2f}" for r in at)] for n in names],
    )
    return [f"### Where the time goes at {size_label(report['smallest'])} (median s)", "", table]


def render_predict(p: dict[str, Any]) -> list[str]:
    rows = []
    for side in ("dask", "local"):
        if side not in p:
            continue
        e = p[side]
        if not e["ok"]:
            rows.append([side, "FAILED", "-", "-", "-", e["failure"]])
            continue
        rows.append(
            [
                side,
                f"{e['seconds']:.1f}",
                f"{e['rows_per_s']:,}",
                mb(e["client_peak_mb"]),
                ", ".join(mb(w) for w in e["worker_peaks_mb"]) or "-",
                f"{mb(e.get('rows_written'))} rows written",
            ]
        )
    return [
        f"### Batch scoring: `specops predict` of {p['size']} rows",
        "",
        markdown_table(
            ["path", "wall s", "rows/s", "specops process peak MB", "worker peaks MB", ""], rows
        ),
    ]


def render(report: dict[str, Any]) -> str:
    lines = [
        "## specops on Dask: client memory, a memory cap, overhead, batch scoring",
        "",
        f"Parquet datasets of 23 columns (dask_data.py), LightGBM {report['trees']} trees, "
        f"stratified 80/20 content split, three checks; Dask side: a LocalCluster of "
        f"{WORKERS} workers x {THREADS_PER_WORKER} thread started by specops unless said "
        "otherwise. Each run a fresh process with a fresh store; peak memory is each "
        "process's own `VmHWM`, sampled every 50 ms (with a LocalCluster the scheduler "
        "runs inside the `specops` process; the workers are measured apart).",
        "",
        *machine_lines(report["machine"]),
        "",
    ]
    if report.get("runs"):
        lines += [*render_memory(report), ""]
    if report.get("overhead"):
        lines += [*render_overhead(report["overhead"]), ""]
    lines += [*render_steps(report), ""]
    if report.get("cap"):
        lines += [*render_cap(report["cap"]), ""]
    if report.get("predict"):
        lines += [*render_predict(report["predict"]), ""]
    lines += notes_lines(report["notes"])
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"


# ----------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------


def parse_bytes(text: str) -> int:
    """``"3GiB"`` / ``"1.5GiB"`` / ``"800MiB"`` -> bytes."""
    units = {"gib": GIB, "mib": 1024**2, "gb": 10**9, "mb": 10**6}
    cleaned = text.strip().lower()
    for unit, factor in units.items():
        if cleaned.endswith(unit):
            return int(float(cleaned[: -len(unit)]) * factor)
    return int(cleaned)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2M,8M,20M", help="row counts (memory, overhead)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"any of {','.join(PARTS)}")
    parser.add_argument("--runs", type=int, default=3, help="rounds at the smallest size")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--local-max", default="8M", help="skip local runs above this size")
    parser.add_argument("--cap", default="4GiB", help="RLIMIT_AS for the cap part")
    parser.add_argument("--cap-size", default="8M", help="rows for the cap part")
    parser.add_argument("--worker-memory", default="6GiB", help="per worker, cap part cluster")
    parser.add_argument("--predict-size", default="20M", help="rows for the predict part")
    parser.add_argument("--predict-args", default="", help="more `specops predict` options")
    parser.add_argument("--no-predict-local", action="store_true", help="only predict on Dask")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run at most")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="dataset cache")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR)
    parser.add_argument(
        "--no-snapshot",
        action="store_true",
        help="both sides with store.snapshot_data: false (what the snapshot costs)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke: tiny sizes, 10 trees")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    if args.quick:  # tiny defaults; what the command line gives still wins
        for key, value in QUICK.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    try:
        args.sizes = sorted(parse_sizes(args.sizes))
        args.local_max = parse_rows(args.local_max)
        args.cap_size = parse_rows(args.cap_size)
        args.predict_size = parse_rows(args.predict_size)
        args.cap_bytes = parse_bytes(args.cap)
    except ValueError as error:
        parser.error(str(error))
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown or not args.parts or not args.sizes:
        parser.error(f"--parts takes {','.join(PARTS)}; --sizes at least one size")
    if args.runs < 1:
        parser.error("need --runs >= 1")
    return args


PARTIAL = "PARTIAL: this report is rewritten after every run; the benchmark was still running"


def summarise_runs(
    report: dict[str, Any],
    jobs: dict[int, dict[str, Job]],
    sizes: list[int],
    args: argparse.Namespace,
) -> bool:
    """Put the runs, the growth of the peaks and the overhead into ``report``; True if
    a run failed."""
    failed = False
    runs = []
    for rows in sizes:
        for side in SIDES:
            job = jobs.get(rows, {}).get(side)
            if job is None:
                skipped = f"above --local-max {size_label(args.local_max)}"
                runs.append(
                    {"side": side, "rows": rows, "size": size_label(rows), "skipped": skipped}
                )
                continue
            summary = job.summary()
            failed |= bool(summary["failed"])
            runs.append(summary)
    if "memory" in args.parts:
        report["runs"] = runs
        local_sizes = [r["size"] for r in runs if r["side"] == "local" and "median_s" in r]
        report["growth"] = {
            "dask": growth(runs, "dask"),
            "local": growth(runs, "local"),
            "local_sizes": ", ".join(local_sizes) or "none",
        }
        skipped_note = (
            f"local runs above {size_label(args.local_max)} rows were not made "
            "(--local-max): the local path holds the whole table and its copies in "
            "one process, more memory than this shared machine should give one run"
        )
        if any(r.get("skipped") for r in runs) and skipped_note not in report["notes"]:
            report["notes"].append(skipped_note)
    else:
        report["runs"] = [r for r in runs if r["rows"] == args.sizes[0]]
        report["growth"] = {"dask": None, "local": None, "local_sizes": ""}
    if "overhead" in args.parts:
        report["overhead"] = overhead(jobs.get(args.sizes[0], {}))
    return failed


def main(argv: list[str] | None = None) -> int:
    global SNAPSHOT
    args = parse_args(argv)
    SNAPSHOT = not args.no_snapshot
    facts = machine()
    work = args.work_dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    wanted = set(args.sizes)
    wanted |= {args.cap_size} if "cap" in args.parts else set()
    wanted |= {args.predict_size} if "predict" in args.parts else set()
    check_space(sorted(wanted), args.seed, args.data_dir)
    data = {rows: ensure_dataset(rows, args.seed, args.data_dir)[0] for rows in sorted(wanted)}
    notes = [
        f"data: {args.data_dir}; on disk: "
        + ", ".join(f"{size_label(r)} {dataset_bytes(p) / 1e6:,.0f} MB" for r, p in data.items()),
        *env_notes(),
        *([] if SNAPSHOT else ["both sides ran with store.snapshot_data: false (--no-snapshot)"]),
    ]
    report: dict[str, Any] = {"machine": facts, "trees": args.trees, "notes": notes}
    report["smallest"] = args.sizes[0]
    failed = False

    if {"memory", "overhead", "predict"} & set(args.parts):
        sizes = args.sizes if "memory" in args.parts else args.sizes[:1]

        def partial(jobs: dict[int, dict[str, Job]]) -> None:
            """Write the report so far: a run stopped later still leaves its numbers."""
            if args.output:
                draft = {**report, "notes": [*notes, PARTIAL]}
                summarise_runs(draft, jobs, sizes, args)
                write_report(render(draft), args.output)

        jobs = memory_and_overhead({r: data[r] for r in sizes}, args, work, partial)
        failed |= summarise_runs(report, jobs, sizes, args)
        smallest = jobs[args.sizes[0]]
        trained = next(
            (
                smallest[s].store
                for s in ("dask", "local")
                if s in smallest and smallest[s].runs and smallest[s].runs[-1].ok
            ),
            None,
        )
        if "predict" in args.parts:
            if trained is None:
                notes.append("predict: no run trained a model, so nothing was scored")
                failed = True
            else:
                if args.output:
                    draft = {**report, "notes": [*notes, PARTIAL + " (predict running)"]}
                    write_report(render(draft), args.output)
                p = predict(data[args.predict_size], args.predict_size, trained, args, work)
                notes.append(f"predict: the model of {trained.name} ({size_label(args.sizes[0])})")
                failed |= not all(p[s]["ok"] for s in ("dask", "local") if s in p)
                report["predict"] = p

    if "cap" in args.parts:
        report["cap"] = memory_cap(data[args.cap_size], args.cap_size, args, work)
        failed |= not report["cap"]["dask"]["ok"]

    shutil.rmtree(work, ignore_errors=True)
    publish(report, render(report), args.output, args.json)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
