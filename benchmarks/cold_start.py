"""Cold-start latency of the ``specops`` CLI, beside the Python floor and peer tools.

Every command runs as a fresh process (what a user or CI pays each time), after
warm-ups so the OS file cache is hot for all of them alike. Runs are interleaved
round-robin so a machine that slows down mid-benchmark slows every command.

It also checks that ``validate``, ``plan --no-data`` and ``--help`` import none of
the heavy data libraries: they must stay fast however large pandas & co. grow.
(``plan`` without ``--no-data`` reads the source to show each column's role, which
needs pandas; it costs what reading the data costs.)

    python benchmarks/cold_start.py                      # 15 runs each
    python benchmarks/cold_start.py --peer-bin /tmp/peers/bin --output cold.md
    python benchmarks/cold_start.py --runs 3 --warmups 1 --json
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import (
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

HEAVY = ("pandas", "sklearn", "lightgbm", "pyarrow")
"""Top-level packages a command that runs no lifecycle step has no reason to import."""

OWN_PACKAGES = ("framework", "plugins")
"""specops' own packages: their cumulative import time includes everyone else's."""

DEFAULT_SPEC = "specs/breast_cancer.yaml"


@dataclass
class Command:
    """One command line to time, and what it is held to."""

    name: str
    argv: list[str]
    kind: str  # floor, specops or peer
    times: list[float] = field(default_factory=list)


@dataclass
class ImportCheck:
    """Which heavy packages one specops command imported, from ``-X importtime``."""

    command: str
    modules: int
    import_s: float  # seconds spent importing, all modules
    heavy: list[str]
    slowest: list[tuple[str, float]]  # top-level packages by cumulative import seconds


# ----------------------------------------------------------------------------
# what to run
# ----------------------------------------------------------------------------


def find_peer(name: str, peer_bin: Path | None) -> Path | None:
    """A peer's executable in ``--peer-bin`` if given, else on PATH."""
    if peer_bin is not None:
        candidate = peer_bin / name
        return candidate if candidate.exists() else None
    found = shutil.which(name)
    return Path(found) if found else None


def build_commands(spec: str, peer_bin: Path | None) -> tuple[list[Command], list[str]]:
    """The commands to time and, for each peer left out, a note saying why."""
    specops = specops_command()
    commands = [
        Command("python -c pass", [sys.executable, "-c", "pass"], "floor"),
        Command("specops --help", [*specops, "--help"], "specops"),
        Command(f"specops validate {spec}", [*specops, "validate", spec], "specops"),
        Command(f"specops plan --no-data {spec}", [*specops, "plan", "--no-data", spec], "specops"),
    ]
    notes = []
    for peer, args in (("mlflow", ["--help"]), ("kedro", ["--version"])):
        path = find_peer(peer, peer_bin)
        if path is None:
            where = f"in {peer_bin}" if peer_bin else "on PATH"
            notes.append(f"{peer}: not found {where}; skipped (see --peer-bin)")
            continue
        commands.append(Command(f"{peer} {' '.join(args)}", [str(path), *args], "peer"))
    return commands, notes


# ----------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------


def warm_up(commands: list[Command], rounds: int) -> tuple[list[Command], list[str]]:
    """Run each command ``rounds`` times untimed; drop (with a note) any that fails.

    A failing command would be timed on its error path, which measures nothing.
    """
    kept, notes = list(commands), []
    for _ in range(max(rounds, 1)):
        for command in list(kept):
            _, done = timed_run(command.argv)
            if done.returncode != 0:
                kept.remove(command)
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                notes.append(f"{command.name}: exit {done.returncode} ({last}); skipped")
    return kept, notes


def measure(commands: list[Command], runs: int) -> None:
    """Time every command ``runs`` times, one round-robin round at a time."""
    for round_number in range(runs):
        for command in rotated(commands, round_number):
            seconds, _ = timed_run(command.argv)
            command.times.append(seconds)


# ----------------------------------------------------------------------------
# import check
# ----------------------------------------------------------------------------


@dataclass
class ImportTimes:
    """What ``-X importtime`` says about one process."""

    modules: int  # modules imported
    total_s: float  # all imports, summed over the outermost ones
    packages: dict[str, float]  # top-level package -> its largest cumulative time (s)


def parse_importtime(stderr: str) -> ImportTimes:
    """Parse ``-X importtime`` output; the header and any other stderr lines are ignored.

    Lines look like ``import time:  self [us] | cumulative [us] | <indent>module``;
    one space of indent marks an outermost import, whose cumulative time includes
    everything imported beneath it, so those add up to the total.
    """
    modules, total, packages = 0, 0.0, {}
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header
        seconds = int(parts[1]) / 1e6
        name = parts[2]
        top = name.strip().split(".")[0]
        modules += 1
        packages[top] = max(packages.get(top, 0.0), seconds)
        if len(name) - len(name.lstrip(" ")) == 1:
            total += seconds
    return ImportTimes(modules, total, packages)


def check_imports(args: list[str], name: str) -> ImportCheck:
    """Run one specops command under ``-X importtime`` and list what it pulled in."""
    argv = [sys.executable, "-X", "importtime", "-m", "framework.cli.main", *args]
    _, done = timed_run(argv)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed under -X importtime: {done.stderr[-500:]}")
    times = parse_importtime(done.stderr)
    others = {p: s for p, s in times.packages.items() if p not in OWN_PACKAGES}
    slowest = sorted(others.items(), key=lambda kv: kv[1], reverse=True)[:5]
    return ImportCheck(
        command=name,
        modules=times.modules,
        import_s=round(times.total_s, 4),
        heavy=[p for p in HEAVY if p in times.packages],
        slowest=[(p, round(s, 4)) for p, s in slowest],
    )


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------


def result_rows(commands: list[Command], target: float) -> list[dict[str, Any]]:
    """Per-command statistics, each relative to the ``python -c pass`` floor."""
    floor = median(next(c for c in commands if c.kind == "floor").times)
    rows = []
    for c in commands:
        mid = median(c.times)
        rows.append(
            {
                "command": c.name,
                "kind": c.kind,
                "median_s": round(mid, 4),
                "p90_s": round(percentile(c.times, 90), 4),
                "ratio_to_floor": round(mid / floor, 2) if floor > 0 else None,
                "target_s": target if c.kind == "specops" else None,
                "met": (mid < target) if c.kind == "specops" else None,
                "times_s": [round(t, 4) for t in c.times],
            }
        )
    return rows


def target_cell(row: dict[str, Any]) -> str:
    """The target column: the limit and whether the median met it; peers have none."""
    if row["kind"] == "floor":
        return "(floor)"
    if row["kind"] == "peer":
        return "(peer)"
    return f"< {row['target_s']:g} s: {'met' if row['met'] else 'MISSED'}"


def render(report: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    table = markdown_table(
        ["command", "median s", "p90 s", "x python -c pass", "target"],
        [
            [
                f"`{r['command']}`",
                f"{r['median_s']:.3f}",
                f"{r['p90_s']:.3f}",
                f"{r['ratio_to_floor']:.2f}",
                target_cell(r),
            ]
            for r in report["results"]
        ],
    )
    imports = markdown_table(
        [
            "command",
            "modules",
            "import s",
            "heavy imports",
            "slowest dependencies (cumulative s)",
        ],
        [
            [
                f"`{c['command']}`",
                c["modules"],
                f"{c['import_s']:.3f}",
                ", ".join(c["heavy"]) or "none",
                ", ".join(f"{p} {s:.3f}" for p, s in c["slowest"]),
            ]
            for c in report["imports"]
        ],
    )
    lines = [
        "## Cold start",
        "",
        f"{report['runs']} timed runs per command after {report['warmups']} warm-up(s), "
        "interleaved round-robin; wall time of a fresh process.",
        "",
        *machine_lines(report["machine"]),
        "",
        table,
        "",
        f"### Imports ({', '.join(HEAVY)} must not be imported)",
        "",
        imports,
    ]
    lines += notes_lines(report["notes"])
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command")
    parser.add_argument(
        "--warmups",
        type=int,
        default=2,
        help="untimed runs per command first (at least 1 runs, to check each works)",
    )
    parser.add_argument("--spec", default=DEFAULT_SPEC, help="spec for validate/plan")
    parser.add_argument("--peer-bin", type=Path, help="directory holding mlflow and kedro")
    parser.add_argument("--target", type=float, default=0.25, help="seconds, specops commands")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine()
    commands, notes = build_commands(args.spec, args.peer_bin)
    notes += env_notes()
    commands, failed = warm_up(commands, args.warmups)
    notes += failed
    if not any(c.kind == "floor" for c in commands):
        raise SystemExit("python -c pass failed: nothing to compare with")
    measure(commands, args.runs)
    checks = [
        check_imports(["--help"], "specops --help"),
        check_imports(["validate", args.spec], f"specops validate {args.spec}"),
        check_imports(["plan", "--no-data", args.spec], f"specops plan --no-data {args.spec}"),
    ]
    report = {
        "machine": facts,
        "runs": args.runs,
        "warmups": args.warmups,
        "results": result_rows(commands, args.target),
        "imports": [asdict(c) for c in checks],
        "notes": notes,
    }
    publish(report, render(report), args.output, args.json)
    heavy = any(c.heavy for c in checks)
    broken = any(n.startswith("specops") for n in failed)
    return 1 if heavy or broken else 0


if __name__ == "__main__":
    sys.exit(main())
