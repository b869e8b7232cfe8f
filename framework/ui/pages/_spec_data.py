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
  put one of its environment values into a page, masked or not. Nor what files
  the machine has: validating a spec asks its components whether their files exist
  (a glob matches, a CSV's header is readable), so an upload whose values, read as
  paths, leave both its own temporary folder and the UI's directory (``/etc/...``,
  ``~/...``, ``../..``) is refused before anything is validated.
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
    text: bytes, filename: str = "", profile: str | None = None, *, root: Path | None = None
) -> PlanView | SpecProblems:
    """The plan of an uploaded spec, validated without the server's environment; its
    paths may name files beside the upload or under ``root`` (the UI's directory),
    nothing else of this machine."""
    if len(text) > MAX_UPLOAD_BYTES:
        raise UserError(f"the spec is {len(text):,} bytes; at most {MAX_UPLOAD_BYTES:,} are read")
    name = _SAFE_NAME.sub("_", Path(filename or UPLOAD_NAME).name)[:100].lstrip(".")
    if not name.lower().endswith(SPEC_SUFFIXES):
        name = (name or "uploaded") + ".yaml"
    with tempfile.TemporaryDirectory(prefix="specops-ui-spec-") as folder:
        path = Path(folder) / name
        path.write_bytes(text)
        hide = str(Path(folder).resolve()) + "/"
        allowed = [Path(folder).resolve()] + ([root.resolve()] if root is not None else [])
        outside = _local_files(path, name, hide, allowed)
        if outside is not None:
            return outside
        return _plan(path, name, profile, env={}, hide=hide)


_ENV_DEFAULT = re.compile(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*(?::-([^}]*))?\}")
_GLOB = re.compile(r"[*?\[]")
_SEGMENTS = re.compile(r"[/\\]")
FREE_TEXT_KEYS = frozenset({"description"})
"""Keys whose values are prose, never read as paths."""


def _local_files(path: Path, shown: str, hide: str, allowed: list[Path]) -> SpecProblems | None:
    """Problems for each value of an uploaded spec that, read as a path from the
    upload's folder (as its components will: ``~`` expanded, ``..`` followed,
    ``${env:NAME:-default}`` taking its default), names a file outside ``allowed``.
    None when there is none (or the text does not parse: validation then says why)."""
    from framework.cli.render import MAX_SHOWN_PROBLEMS, format_problem
    from framework.errors import Problem
    from framework.spec.source import read_spec_text

    text = read_spec_text(path)
    if not isinstance(text.data, dict):
        return None
    shown_dirs = " or ".join(str(a) for a in allowed[1:]) or "none"
    problems = [
        Problem(
            f"an uploaded spec may not name this machine's files outside the UI's "
            f"directory ({shown_dirs}): {value!r}",
            path=".".join(str(k) for k in where),
            location=text.positions.of_value(where),
            hint="relative paths resolve beside the upload; point the page at the spec's "
            "path (?path=) to plan it as `specops plan` would here",
        )
        for where, value in _strings(text.data, ())
        if where[-1] not in FREE_TEXT_KEYS and leaves(value, path.parent, allowed)
    ]
    if not problems:
        return None
    problems.sort(key=lambda p: (p.location.line, p.location.column) if p.location else (0, 0))
    lines = [_cut(format_problem(p, io.StringIO()), hide) for p in problems[:MAX_SHOWN_PROBLEMS]]
    return SpecProblems(shown, lines, count=len(problems))


def leaves(value: str, base: Path, allowed: list[Path]) -> bool:
    """Whether ``value``, read as a path from ``base`` as a component reads it, names
    a file outside every folder of ``allowed``: checked on the path as written (``..``
    steps, also after a glob) and with the symbolic links of its fixed part followed."""
    import os

    filled = _ENV_DEFAULT.sub(lambda m: m.group(1) or "", value).strip()
    if not filled or "\x00" in filled or len(filled) > 4096:
        return False  # not a path any component can open
    if not filled.startswith(("/", "~", "\\")) and ".." not in _SEGMENTS.split(filled):
        return False  # beside the upload, in a fresh folder holding nothing but it
    try:
        given = Path(filled).expanduser()
    except RuntimeError:  # ~user of nobody: no file is named
        return False
    written = Path(os.path.normpath(given if given.is_absolute() else base / given))
    parts = written.parts
    fixed = next((i for i, part in enumerate(parts) if _GLOB.search(part)), len(parts))
    try:
        real = Path(*parts[:fixed]).resolve()
    except (OSError, RuntimeError):
        return True
    return not any(
        written.is_relative_to(folder) and real.is_relative_to(folder) for folder in allowed
    )


def _strings(node: Any, where: tuple[Any, ...]) -> Any:
    """(key path, value) for every string value in a parsed spec, depth first."""
    stack = [(where, node)]
    while stack:
        at, value = stack.pop()
        if isinstance(value, str):
            if at:
                yield at, value
        elif isinstance(value, dict):
            stack.extend((at + (k,), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((at + (i,), v) for i, v in enumerate(value))


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
