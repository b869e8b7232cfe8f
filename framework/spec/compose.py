"""Turning the spec as written into the spec in effect.

Order: the chosen profiles are merged over the base, in the order given (a later
profile wins where two set the same key), then ``--set`` overrides, then
``${env:NAME}`` placeholders are filled in. Positions follow the values, so an
error in a value that came from a profile points at the profile.

Merging rules (profiles): mappings merge key by key; lists and scalars replace.
A component that changes its ``type`` *and* gives ``params`` replaces the old one
whole, so switching ``source`` from csv to parquet with its own params never
inherits the csv's ``sep``; one that changes only its ``type`` keeps the old
params (the one-key swap).

Environment values are text. Where the schema wants a number or a boolean and a
value came from the environment (``min: ${env:MIN_ROWS}``), validation reads the
text as one (see :func:`framework.spec.explain.schema_problems`), so ``TABLE=2024``
stays the string a table name needs and ``MIN_ROWS=500`` becomes the number 500.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from typing import Any

from framework.errors import Location, Problem
from framework.redact import remember
from framework.spec.limits import Limits
from framework.spec.source import KeyPath, Positions, dotted, node_problems, parse
from framework.suggest import did_you_mean

ENV_PATTERN = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def apply_profiles(
    data: dict[str, Any], positions: Positions, names: Sequence[str]
) -> tuple[dict[str, Any], list[Problem]]:
    """The spec with each of ``profiles.<name>`` merged in, in order (a later profile
    wins where two set the same key), and ``profiles`` removed."""
    profiles = data.get("profiles") or {}
    merged = {k: copy.deepcopy(v) for k, v in data.items() if k != "profiles"}
    problems: list[Problem] = []
    for profile in names:
        if not isinstance(profiles, dict) or profile not in profiles:
            known = sorted(map(str, profiles)) if isinstance(profiles, dict) else []
            problems.append(
                Problem(
                    f"unknown profile '{profile}'{did_you_mean(profile, known)}",
                    path="profiles",
                    location=positions.of_key(("profiles",)),
                    hint=f"profiles in this spec: {', '.join(known) or 'none'}",
                )
            )
            continue
        override = profiles[profile]
        if not isinstance(override, dict):
            where = positions.of_value(("profiles", profile))
            problems.append(Problem("a profile must be a mapping of sections", location=where))
            continue
        moves: list[tuple[KeyPath, KeyPath]] = []
        _merge(merged, override, (), ("profiles", profile), moves)
        positions.rebase_many(moves)
    return merged, problems


def _merge(
    base: dict[str, Any],
    over: dict[str, Any],
    at: KeyPath,
    src: KeyPath,
    moves: list[tuple[KeyPath, KeyPath]],
) -> None:
    """Merge ``over`` into ``base``; ``moves`` collects (profile path, spec path) for
    every value taken from the profile, so its positions follow it in one pass."""
    for key, value in over.items():
        old = base.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and not _replaces(old, value):
            _merge(old, value, at + (key,), src + (key,), moves)
            continue
        base[key] = copy.deepcopy(value)
        moves.append((src + (key,), at + (key,)))


def _replaces(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """A new component type with its own params replaces the old component whole."""
    return "type" in new and new.get("type") != old.get("type") and "params" in new


def apply_overrides(
    data: dict[str, Any], positions: Positions, overrides: list[str]
) -> list[Problem]:
    """Apply ``--set a.b.c=value`` in order; values are parsed as YAML scalars."""
    problems: list[Problem] = []
    for text in overrides:
        origin = Location(_origin(text), 0, 0)
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            problems.append(Problem("--set needs KEY.PATH=VALUE", location=origin, found=text))
            continue
        value, problem = _override_value(raw, text)
        if problem is not None:
            problems.append(problem)
            continue
        path = override_path(key)
        if len(path) > Limits.from_env().max_depth:
            problems.append(
                Problem("--set key path is deeper than a spec may nest", location=origin)
            )
            continue
        problem = _set_path(data, path, value)
        if problem:
            problems.append(Problem(problem, path=dotted(path), location=origin))
            continue
        positions.rebase(path, path, Positions())
        positions.values[path] = origin
        positions.keys[path] = origin
    return problems


def override_path(key: str) -> KeyPath:
    """The key path a ``--set KEY=...`` names: ``checks[0].type``, as messages print
    key paths, is ``checks.0.type``."""
    key = re.sub(r"\[(\d+)\](?=\.|$)", r".\1", key.strip())
    return tuple(int(p) if p.isdigit() else p for p in key.split("."))


def overridden_paths(overrides: Sequence[str]) -> frozenset[str]:
    """The dotted key paths ``--set`` gave a value (``execution.params.address``):
    what the person running the command chose, not what the spec file says."""
    return frozenset(
        dotted(override_path(key))
        for key, sep, _ in (text.partition("=") for text in overrides)
        if sep and key.strip()
    )


def _set_path(data: Any, path: KeyPath, value: Any) -> str | None:
    node = data
    for depth, part in enumerate(path[:-1]):
        if isinstance(node, list) and isinstance(part, int):
            if part >= len(node):
                return f"index {part} is past the end of {dotted(path[:depth]) or 'the spec'}"
            node = node[part]
        elif isinstance(node, dict):
            node = node.setdefault(str(part), {})
            if not isinstance(node, (dict, list)):
                return f"{dotted(path[: depth + 1])} is a value, not a section"
        else:
            return f"{dotted(path[:depth]) or 'the spec'} is a value, not a section"
    last = path[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            return f"{dotted(path)} is not an item of the list {dotted(path[:-1])}"
        node[last] = value
    else:
        node[str(last)] = value
    return None


def _origin(text: str) -> str:
    """Where a ``--set`` value came from, as messages name it: the setting, cut to about
    120 characters (a message quotes a value, not a file)."""
    shown = f"--set {text}"
    return shown if len(shown) <= 120 else f"{shown[:112]}...{shown[-5:]}"


def _override_value(raw: str, text: str) -> tuple[Any, Problem | None]:
    """A ``--set`` value read as YAML within the spec's bounds; text when it is not YAML."""
    if not raw.strip():
        return "", None
    origin = _origin(text)
    node, value, problem = parse(raw, origin, Limits.from_env())
    if problem is not None and problem.message.startswith("malformed YAML"):
        return raw, None
    if problem is None and node is not None:
        found = node_problems(node, origin)
        problem = found[0] if found else None
    if problem is not None:
        return None, Problem(problem.message, location=Location(origin, 0, 0), hint=problem.hint)
    return value, None


def interpolate_env(
    data: Any, positions: Positions, env: dict[str, str] | None = None
) -> tuple[Any, set[str], list[Problem]]:
    """Fill ``${env:NAME}`` and ``${env:NAME:-default}`` in every string value.

    Returns the new data, the dotted paths that came from the environment (so
    plan output and stored specs can show the placeholder, not a secret), and
    problems for unset variables without a default. Each value filled in is
    remembered (:func:`framework.redact.remember`) so that no message, stored
    record or console line of this command shows it.
    """
    env = dict(os.environ) if env is None else env
    from_env: set[str] = set()
    problems: list[Problem] = []

    def fill(value: Any, path: KeyPath) -> Any:
        if isinstance(value, dict):
            return {k: fill(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v, path + (i,)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${env:" not in value:
            return value

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                # from here on, every text this command writes shows ${env:NAME} instead
                remember(name, env[name], key=_last_key(path))
                return env[name]
            if default is not None:
                return default
            problems.append(
                Problem(
                    f"environment variable {name} is not set",
                    path=dotted(path),
                    location=positions.of_value(path),
                    hint=f"export {name}=... or write ${{env:{name}:-default}}",
                )
            )
            return match.group(0)

        from_env.add(dotted(path))
        return ENV_PATTERN.sub(substitute, value)

    return fill(data, ()), from_env, problems


def _last_key(path: KeyPath) -> str:
    """The key a value sits under (``password`` in ``...params.password``; a list item's
    key is its list's): what decides whether a short value is still a secret."""
    return next((k for k in reversed(path) if isinstance(k, str)), "")
