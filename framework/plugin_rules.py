"""What a plugin must satisfy before any of it is used, each rule a plain function.

The plugin manager applies these when a plugin loads, so a plugin that breaks one
is refused whole, by name, before a spec can depend on it: a params schema that is
not a JSON Schema would otherwise break ``specops schema`` for every spec, and a
hook API the plugin was not written for would otherwise fail mid-run. Each function
returns the problems found as sentences (empty when all is well).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from framework.suggest import closest, did_you_mean

TYPE_NAME = re.compile(r"[a-z][a-z0-9_]*")
"""What a registered type name looks like: what a spec writes after ``type:``."""

JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")

_CLAUSE = re.compile(r"\s*(>=|<=|==|!=|>|<)?\s*(\d+(?:\.\d+)*)\s*")


@dataclass(frozen=True)
class Registration:
    """One call of a plugin's ``register`` callback, kept until the plugin is accepted."""

    kind: str
    type_name: str
    factory: Callable[..., Any]
    params_schema: Mapping[str, Any] | None
    summary: str


def recorder(found: list[Registration], kind: str) -> Callable[..., None]:
    """The ``register`` callback a ``kind`` registration hook is called with: it only
    appends to ``found``, so the loader and framework.testing check before anything is kept."""

    def register(
        type_name: str,
        factory: Any,
        params_schema: Any = None,
        *,
        summary: str = "",
    ) -> None:
        found.append(Registration(kind, type_name, factory, params_schema, summary))

    return register


# -------------------------------------------------------------------------
# hook API versions
# -------------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _padded(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def api_supported(declared: str, provided: str) -> bool:
    """Whether ``provided`` (``"1.0"``) satisfies ``declared``: comma-separated clauses
    such as ``">=1.0,<2"``, or a bare major version (``"1"`` means any ``1.x``).

    Raises ValueError for a declaration that is none of these.
    """
    if not isinstance(declared, str) or not declared.strip():
        raise ValueError(f"SPECOPS_HOOK_API must be a string like '>=1.0,<2', not {declared!r}")
    have = _version(provided)
    clauses = [c for c in declared.split(",") if c.strip()]
    for clause in clauses:
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise ValueError(f"cannot read SPECOPS_HOOK_API clause {clause.strip()!r}")
        op, text = match.group(1), match.group(2)
        if op is None:  # a bare version: that major (and at least that minor)
            want = _version(text)
            if have[0] != want[0] or _padded(have, want)[0] < _padded(have, want)[1]:
                return False
            continue
        ours, theirs = _padded(have, _version(text))
        ok = {
            ">=": ours >= theirs,
            "<=": ours <= theirs,
            ">": ours > theirs,
            "<": ours < theirs,
            "==": ours == theirs,
            "!=": ours != theirs,
        }[op]
        if not ok:
            return False
    return True


def api_problem(declared: Any, provided: str) -> str | None:
    """Why a plugin declaring ``SPECOPS_HOOK_API = declared`` cannot load, or None.

    A plugin that declares nothing is assumed to be written for this hook API."""
    if declared is None:
        return None
    try:
        supported = api_supported(declared, provided)
    except ValueError as exc:
        return f"{exc}; this specops provides hook API {provided}"
    if supported:
        return None
    return (
        f"written for specops hook API {declared!r}, but this specops provides hook API "
        f"{provided}; upgrade specops, or install a version of the plugin made for "
        f"hook API {provided}"
    )


# -------------------------------------------------------------------------
# hook names
# -------------------------------------------------------------------------


def unknown_hook_problems(names: Iterable[str], known: Iterable[str]) -> list[str]:
    """One sentence per hook implementation whose name no hook specification has,
    with a suggestion judged on what follows ``specops_`` (every hook shares that)."""
    hooks = sorted(known)
    stems = {hook.removeprefix("specops_"): hook for hook in hooks}
    problems = []
    for name in names:
        near = closest(name.removeprefix("specops_"), stems)
        hint = f"; did you mean '{stems[near]}'?" if near else f" (hooks: {', '.join(hooks)})"
        problems.append(f"implements an unknown hook '{name}'{hint}")
    return problems


def argument_problems(hook: str, implementation: Any, specification: Any) -> list[str]:
    """An implementation may take fewer arguments than its hook passes, never others."""
    import inspect

    try:
        names = [
            p.name
            for p in inspect.signature(implementation).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)
        ]
    except (TypeError, ValueError):
        return []
    passed = list(inspect.signature(specification).parameters)
    extra = [name for name in names if name not in passed]
    return [
        f"{hook}({', '.join(names)}): '{name}' is not an argument of this hook"
        f"{did_you_mean(name, passed)} (it passes: {', '.join(passed)})"
        for name in extra
    ]


# -------------------------------------------------------------------------
# registrations
# -------------------------------------------------------------------------


def registration_problems(found: Registration, check_schema: bool = True) -> list[str]:
    """What is wrong with one registered component: its type name, factory, summary
    and (when ``check_schema``) its params schema."""
    what = f"{found.kind} type {found.type_name!r}"
    problems: list[str] = []
    if not isinstance(found.type_name, str) or not TYPE_NAME.fullmatch(found.type_name):
        problems.append(
            f"{what}: a type name is lower case letters, digits and '_', "
            "starting with a letter (what a spec writes after 'type:')"
        )
    if not callable(found.factory):
        problems.append(f"{what}: the factory must be callable (usually the component class)")
    if not isinstance(found.summary, str):
        problems.append(f"{what}: summary must be text")
    schema = found.params_schema
    if schema is None:
        return problems
    if not isinstance(schema, Mapping):
        problems.append(f"{what}: params_schema must be a JSON Schema object (a dict)")
    elif check_schema:
        problems += [f"{what}: {problem}" for problem in schema_problems(schema)]
    return problems


def schema_problems(schema: Mapping[str, Any]) -> list[str]:
    """Why ``schema`` is not a usable JSON Schema (2020-12) for a component's params."""
    from jsonschema.exceptions import best_match

    error = best_match(_meta_validator().iter_errors(dict(schema)))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "the top level"
        message = f"params_schema is not a valid JSON Schema at {where}: {error.message}"
        if error.absolute_path and error.absolute_path[-1] == "type":
            word = error.instance if isinstance(error.instance, str) else ""
            hint = did_you_mean(word, JSON_TYPES) if word else ""
            message += f"{hint} (JSON Schema types: {', '.join(JSON_TYPES)})"
        return [message]
    declared = schema.get("type")
    if declared is not None and declared != "object":
        return [f"params_schema describes {declared!r}, but params are always an object"]
    return []


_META: Any = None


def _meta_validator() -> Any:
    """One validator of the 2020-12 meta-schema, built once per process (about 3 ms a
    schema instead of building one per call)."""
    global _META
    if _META is None:
        from jsonschema import Draft202012Validator

        _META = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    return _META


def duplicate_problems(registrations: Iterable[Registration]) -> list[str]:
    """A plugin registering one (kind, type) twice is a bug in that plugin."""
    seen: set[tuple[str, str]] = set()
    problems = []
    for found in registrations:
        key = (found.kind, found.type_name)
        if key in seen:
            problems.append(f"registers {found.kind} type {found.type_name!r} twice")
        seen.add(key)
    return problems
