"""The spec page's data: a spec (a path under the UI's directory, or uploaded text)
read, validated and planned exactly as ``specops validate`` / ``specops plan`` do.

Loading is :func:`framework.spec.load_spec` (bounded, safe YAML, every problem
located) and the plan is :func:`framework.plan.make_plan`, so the page and the CLI
cannot disagree. Problems are formatted by the CLI's own
:func:`framework.cli.render.format_problem` (scrubbed of environment values).

Two trust decisions, both here:

- A path is read only when it resolves (symbolic links followed) under the
  directory the UI was started in and names a ``.yaml``/``.yml`` file: the UI is
  not a way to read other files of the machine, not even through a YAML error
  quoting a line.
- An uploaded spec is the uploader's text, not this machine's: it is validated
  without the server's environment (``${env:NAME:-default}`` takes its default; a
  placeholder without one is reported unset), so no upload can make the server
  put one of its environment values into a page, masked or not.
"""

from __future__ import annotations

import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.errors import SpecError, UserError

SPEC_SUFFIXES = (".yaml", ".yml")
MAX_UPLOAD_BYTES = 1024 * 1024
"""The spec loader's own bound (``SPECOPS_MAX_SPEC_BYTES``'s default): larger is refused
before anything is parsed."""
UPLOAD_NAME = "uploaded.yaml"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class PlanView:
    """What ``specops plan --json`` says about a spec (no data preview)."""

    source: str
    """The path as shown (relative to the UI's directory), or the uploaded file's name."""
    name: str
    task: str
    profile: str | None
    steps: list[dict[str, Any]]
    metrics: list[str]
    gate: list[str]
    execution: dict[str, Any]
    store: str


@dataclass(frozen=True)
class SpecProblems:
    """Why there is no plan: the CLI's lines for each problem, and a note for the page."""

    source: str
    lines: list[str]
    note: str = ""
    count: int = 0


class Refused(UserError):
    """A path the UI will not read (outside its directory, not a spec file): 403."""


def resolve_path(root: Path, given: str) -> Path:
    """The spec file ``given`` names, relative to ``root`` (or absolute), refused with
    :class:`Refused` unless it resolves under ``root`` and ends in .yaml/.yml."""
    if not given or "\x00" in given or len(given) > 4096:
        raise Refused("give the path of a spec file under the UI's directory")
    base = root.resolve()
    candidate = Path(given)
    target = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if not target.is_relative_to(base):
        raise Refused(
            f"{given} is outside the directory the UI was started in ({base}): "
            "only specs under it can be shown; upload the file instead"
        )
    if target.suffix.lower() not in SPEC_SUFFIXES:
        raise Refused(f"{given} is not a spec file: its name must end in .yaml or .yml")
    return target


def plan_path(root: Path, given: str, profile: str | None = None) -> PlanView | SpecProblems:
    """The plan of the spec at ``given`` (see :func:`resolve_path`), read with this
    process's environment as ``specops plan`` would be in that directory."""
    target = resolve_path(root, given)
    shown = str(target.relative_to(root.resolve()))
    return _plan(target, shown, profile, env=None, hide=str(root.resolve()) + "/")


def plan_upload(
    text: bytes, filename: str = "", profile: str | None = None
) -> PlanView | SpecProblems:
    """The plan of an uploaded spec, validated without the server's environment."""
    if len(text) > MAX_UPLOAD_BYTES:
        raise UserError(f"the spec is {len(text):,} bytes; at most {MAX_UPLOAD_BYTES:,} are read")
    name = _SAFE_NAME.sub("_", Path(filename or UPLOAD_NAME).name)[:100].lstrip(".")
    if not name.lower().endswith(SPEC_SUFFIXES):
        name = (name or "uploaded") + ".yaml"
    with tempfile.TemporaryDirectory(prefix="specops-ui-spec-") as folder:
        path = Path(folder) / name
        path.write_bytes(text)
        return _plan(path, name, profile, env={}, hide=str(Path(folder).resolve()) + "/")


def _plan(
    path: Path, shown: str, profile: str | None, *, env: dict[str, str] | None, hide: str
) -> PlanView | SpecProblems:
    """Load and plan ``path`` in a fresh secrets registry: every text leaving here is
    scrubbed of the environment values this load read, and ``hide`` (the directory
    prefix) is cut from locations so they read as the user wrote the path."""
    from framework import redact
    from framework.plugins import get_plugins
    from framework.spec import load_spec

    plugins = get_plugins()
    with redact.scope():
        try:
            spec = load_spec(path, plugins, profile=profile or None, env=env)
        except SpecError as exc:
            return _problems(exc, shown, hide, uploaded=env is not None)
        except UserError as exc:
            return SpecProblems(shown, [_cut(redact.scrub_text(str(exc)), hide)], count=1)
        return _view(spec, plugins, shown)


def _problems(exc: SpecError, shown: str, hide: str, *, uploaded: bool) -> SpecProblems:
    from framework.cli.render import MAX_SHOWN_PROBLEMS, format_problem

    problems = exc.problems
    lines = [_cut(format_problem(p, io.StringIO()), hide) for p in problems[:MAX_SHOWN_PROBLEMS]]
    note = ""
    if uploaded and any("environment variable" in p.message for p in problems):
        note = (
            "an uploaded spec is read without this server's environment: a ${env:NAME} "
            "without a default is not filled in (point at the spec's path instead)"
        )
    return SpecProblems(shown, lines, note=note, count=len(problems))


def _cut(text: str, prefix: str) -> str:
    return text.replace(prefix, "")


def _view(spec: Any, plugins: Any, shown: str) -> PlanView:
    from framework.plan import make_plan, metrics_for, planned_execution
    from framework.redact import scrub, scrub_text

    rules = []
    for rule in spec.gate:
        parts = [
            f"{label} {value}"
            for label, value in (("min", rule.min), ("max", rule.max), ("max_drop", rule.max_drop))
            if value is not None
        ]
        rules.append(f"{rule.metric}: {', '.join(parts)}")
    return PlanView(
        source=shown,
        name=spec.name,
        task=spec.task,
        profile=spec.profile,
        steps=scrub([step.to_dict() for step in make_plan(spec, plugins)]),
        metrics=metrics_for(spec, plugins),
        gate=scrub(rules),
        execution=scrub(planned_execution(spec, plugins).to_dict()),
        store=scrub_text(str(spec.store_path)),
    )
