"""Does a plugin register what it means to, by the rules specops applies at load?

specops refuses a plugin whole when it loads if a rule is broken; an author should
learn that from their own test suite, with every problem listed at once, rather
than from a "failed to load" line after installing it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from framework.plugin_checks import check_defaults
from framework.plugin_rules import Registration, recorder, registration_problems


def registrations(plugin: object) -> list[Registration]:
    """Everything ``plugin``'s registration hooks register, in order, without loading it."""
    from framework.plugins import REGISTRATION_HOOKS

    found: list[Registration] = []
    for kind, hook in REGISTRATION_HOOKS.items():
        implementation = getattr(plugin, hook, None)
        if not callable(implementation):
            continue
        implementation(recorder(found, kind))
    return found


def check_registration(plugin: object, name: str | None = None) -> dict[tuple[str, str], Any]:
    """Assert that ``plugin`` (a module or an object with ``@hookimpl`` methods) loads:
    its hooks exist and are marked, every type name is one a spec can write, every
    params schema is a valid JSON Schema (2020-12) of an object, every component has a
    summary, and each factory's Python defaults agree with its schema's defaults.

    Returns ``{(kind, type_name): factory}`` for further checks.
    """
    from framework.errors import PluginError
    from framework.plugins import load_plugins
    from framework.testing.project import _environment

    label = name or (
        plugin.__name__.rsplit(".", 1)[-1] if isinstance(plugin, ModuleType) else "plugin"
    )
    problems: list[str] = []
    try:  # the loader's own rules: hooks, markers, arguments, API version, names, schemas
        with _environment(SPECOPS_DISABLE_PLUGIN_AUTOLOAD="1"):
            load_plugins(extra=[(label, plugin)])
    except PluginError as exc:
        problems.append(str(exc))
    try:
        found = registrations(plugin)
    except Exception as exc:
        found = []
        if not problems:
            problems.append(f"a registration hook raised {type(exc).__name__}: {exc}")
    for registration in found:
        what = f"{registration.kind} type {registration.type_name!r}"
        if isinstance(registration.summary, str) and not registration.summary.strip():
            problems.append(
                f"{what}: no summary; pass summary='...' to register() (`specops plugins` shows it)"
            )
        if callable(registration.factory) and not registration_problems(registration):
            problems += [
                f"{what}: {problem}"
                for problem in check_defaults(registration.factory, registration.params_schema)
            ]
    hooks = [h for h in dir(plugin) if h.startswith("specops_") and callable(getattr(plugin, h))]
    if not found and not hooks and not problems:
        problems.append(
            "implements no hook: a component needs a specops_register_* hook, a tracker a "
            "lifecycle hook (specops_run_end, ...), decorated with framework.hookimpl"
        )
    if problems:
        raise AssertionError(
            f"plugin {label!r} would be refused by specops or misbehave:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )
    return {(r.kind, r.type_name): r.factory for r in found}
