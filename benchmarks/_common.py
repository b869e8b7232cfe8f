"""Helpers shared by the benchmark scripts: statistics, machine facts, Markdown tables.

Stdlib only, so a benchmark script can start (and report the machine it ran on)
without importing anything it is trying to measure.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
"""The repository root: commands run from here so relative spec paths resolve."""


def median(values: Sequence[float]) -> float:
    """The median; robust to the odd slow run a busy machine produces."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; defined for a single value too.

    ``statistics.quantiles`` needs at least two points on older Pythons, and a
    smoke run may have only one.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rotated(items: Sequence[Any], round_number: int) -> list[Any]:
    """``items`` starting at a different one each round.

    Round-robin interleaving spreads slow machine drift over every command; the
    rotation also stops one command from always running right after another.
    """
    if not items:
        return []
    shift = round_number % len(items)
    return [*items[shift:], *items[:shift]]


NO_BYTECODE = "PYTHONDONTWRITEBYTECODE"


def specops_command() -> list[str]:
    """The venv's own ``specops`` script, next to this interpreter, never one from PATH."""
    script = Path(sys.executable).parent / "specops"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "framework.cli.main"]


def bench_env() -> dict[str, str]:
    """The environment for timed processes: ours, but with bytecode caching on.

    With PYTHONDONTWRITEBYTECODE set (some CI and sandbox images set it), every
    run recompiles the editable install's modules from source: tens of ms a user
    with an ordinary install never pays.
    """
    env = dict(os.environ)
    env.pop(NO_BYTECODE, None)
    return env


def env_notes() -> list[str]:
    """Report notes about the environment this process was started with."""
    if os.environ.get(NO_BYTECODE):
        return [f"{NO_BYTECODE} was set here; the timed processes ran without it"]
    return []


def timed_run(
    argv: Sequence[str], cwd: Path | None = REPO, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall time of a whole fresh process, start to exit, with its captured output.

    ``cwd`` None runs it in this process's working directory.
    """
    env = bench_env() if env is None else env
    started = time.perf_counter()
    done = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done


def train_with_specops(spec: Path, cwd: Path | None = REPO) -> None:
    """``specops run SPEC --json``, untimed: the setup that trains the model a benchmark uses.

    A failed run ends the benchmark with the tail of what it printed.
    """
    _, done = timed_run([*specops_command(), "run", str(spec), "--json"], cwd=cwd)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-2000:]
        raise SystemExit(f"training failed ({done.returncode}):\n{tail}")


def prepare_runtimes(store: Path, ref: str, work: Path) -> str:
    """Run ``specops runtimes prepare`` on the package ``ref`` names, as a deploy does
    before serving (the container target's builder stage, or an operator): runtimes that
    build native code where they load (compiled trees) are built, checked and timed on
    this machine, so ``auto`` may choose them. Returns what it said, for the notes."""
    package = export_package(store, ref, work / "prepared-package")
    _, done = timed_run([*specops_command(), "runtimes", "prepare", str(package)], cwd=None)
    said = " ".join((done.stdout + done.stderr).split())
    said = said if len(said) <= 400 else said[:400] + " ..."
    return f"specops runtimes prepare (exit {done.returncode}): {said}"


def export_package(store: Path, ref: str, directory: Path) -> Path:
    """Write the model package ``ref`` names in ``store`` (hash-checked) to ``directory``,
    replacing it; returns ``directory``. A child process does it, so this module stays
    stdlib only. A failure ends the benchmark with the tail of what the child printed.
    """
    code = (
        "import sys; from pathlib import Path; from framework.refs import resolve;"
        " from framework.store import Store; store = Store.open_existing(Path(sys.argv[1]));"
        " store.materialize(resolve(store, sys.argv[2]), Path(sys.argv[3])); store.close()"
    )
    shutil.rmtree(directory, ignore_errors=True)
    _, done = timed_run([sys.executable, "-c", code, str(store), ref, str(directory)], cwd=None)
    if done.returncode != 0:
        raise SystemExit(f"exporting {ref} from {store} failed:\n{done.stderr[-2000:]}")
    return directory


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or what ``platform`` knows elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> str:
    """The 1/5/15-minute load: a busy machine explains noisy numbers."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def machine() -> dict[str, Any]:
    """Facts a reader needs to compare these numbers with their own."""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": load_average(),
    }


def machine_lines(facts: dict[str, Any]) -> list[str]:
    """The machine facts as Markdown bullet points."""
    return [
        f"- date: {facts['date']}",
        f"- CPU: {facts['cpu']} ({facts['nproc']} logical cores)",
        f"- Python {facts['python']} on {facts['platform']}",
        f"- load average at start (1/5/15 min): {facts['load_average']}",
    ]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; numbers are expected pre-formatted as strings."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def notes_lines(notes: Sequence[str]) -> list[str]:
    """A report's closing "Notes:" list as Markdown lines; nothing when there are none."""
    if not notes:
        return []
    return ["", "Notes:", "", *(f"- {n}" for n in notes)]


def write_report(text: str, output: str | None) -> None:
    """Write the Markdown report to ``output`` (parents created) when asked."""
    if output:
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def publish(report: dict[str, Any], text: str, output: str | None, as_json: bool) -> None:
    """Write the Markdown ``text`` to ``output`` when asked; print it, or with ``--json``
    the ``report`` it was rendered from."""
    write_report(text, output)
    print(json.dumps(report, indent=2, default=str) if as_json else text.rstrip("\n"))
