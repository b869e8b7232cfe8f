"""How errors and problems read on a terminal: what, where, expected, found, hint.

Plain text on purpose: the error path must not pay for importing rich.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from framework.errors import DataError, PluginFault, Problem, SpecError, UserError
from framework.redact import scrub, scrub_text


def _color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _paint(text: str, code: str, stream: TextIO) -> str:
    return f"\033[{code}m{text}\033[0m" if _color(stream) else text


def location_of(problem: Problem) -> str:
    loc = problem.location
    if loc is None:
        return ""
    return loc.file if loc.line == 0 else str(loc)


def format_problem(problem: Problem, stream: TextIO | None = None) -> str:
    stream = stream or sys.stderr
    problem = scrub_problem(problem)
    where = location_of(problem)
    head = f"{_paint(where, '1', stream)}: " if where else ""
    lines = [f"{head}{_paint('error', '31', stream)}: {problem.message}"]
    if problem.path and problem.path not in problem.message:
        lines.append(f"    key: {problem.path}")
    if problem.expected:
        lines.append(f"    expected: {problem.expected}")
    found = None if problem.found is None else str(problem.found)
    if found and found not in problem.message:
        lines.append(f"    found: {found}")
    if problem.hint:
        lines.append(f"    hint: {problem.hint}")
    return "\n".join(lines)


MAX_SHOWN_PROBLEMS = 50
"""A spec with 20,000 bad keys is fixed from its first few problems; --json lists all."""


def print_problems(problems: list[Problem], stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    for problem in problems[:MAX_SHOWN_PROBLEMS]:
        print(format_problem(problem, stream), file=stream)
    hidden = len(problems) - MAX_SHOWN_PROBLEMS
    if hidden > 0:
        print(f"... and {hidden} more (--json lists every one)", file=stream)
    print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found", file=stream)


def scrub_problem(problem: Problem) -> Problem:
    """The problem with ``${env:...}`` values and URL passwords hidden: a message may
    quote the value it refuses."""
    from dataclasses import replace

    return replace(
        problem, **scrub({k: getattr(problem, k) for k in ("message", "expected", "found", "hint")})
    )


def report_error(exc: BaseException, stream: TextIO | None = None) -> int:
    """Print an error without a traceback; return the exit code it means."""
    stream = stream or sys.stderr
    text = scrub_text(str(exc))
    if isinstance(exc, SpecError):
        print_problems(exc.problems, stream)
        return 2
    if isinstance(exc, DataError):
        label = "data error"
        print(f"{_paint(label, '31', stream)}: {text}", file=stream)
        return 2
    if isinstance(exc, UserError):
        print(f"{_paint('error', '31', stream)}: {text}", file=stream)
        return 2
    if isinstance(exc, PluginFault):  # a bug in a plugin, named: its authors can fix it
        print(
            f"{_paint('error', '31', stream)}: {text}\n  a bug in that plugin, not in your "
            "spec or data: report it to its authors (--debug shows the traceback)",
            file=stream,
        )
        return 3
    print(
        f"{_paint('internal error', '31', stream)} (a bug in specops or a plugin): "
        f"{type(exc).__name__}: {text}\n  run again with --debug for the traceback",
        file=stream,
    )
    return 3


def error_json(exc: BaseException, code: int) -> dict[str, object]:
    """The error as JSON for ``--json`` callers, who read stdout, not stderr."""
    report: dict[str, object] = {"status": "error", "exit_code": code, "error": str(exc)}
    if isinstance(exc, SpecError):
        report["problems"] = [p.to_dict() for p in exc.problems]
    if isinstance(exc, DataError):
        report["column"] = exc.column
        report["hint"] = exc.hint
    if isinstance(exc, PluginFault):
        report["plugin_error"] = exc.to_dict()
    return scrub(report)
