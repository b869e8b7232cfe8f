"""Finding plugins and admitting them, each whole or not at all.

Built-in plugins are the modules named by this distribution's own ``specops``
entry points; they load first, then third-party entry points. Each plugin is
admitted in its own try/except, so one broken plugin names itself and breaks
nothing else, and only whole: a plugin is refused (listed as failed to load, none
of its components registered, none of its hooks called) when

* importing it raises;
* it declares a hook API this specops does not provide (``SPECOPS_HOOK_API``);
* it implements a hook that does not exist (a did-you-mean names the right one);
* one of its registration hooks raises, even after registering some components;
* one of its components breaks the rules in :mod:`framework.plugin_rules` (a type
  name a spec cannot write, a params schema that is not a JSON Schema, ...).

Plugins given in process (``load_plugins(extra=...)``, what tests and the testing
helpers use) are not isolated: their author is right there, so they raise.

Switches (environment variables, comma-separated entry-point names):

* ``SPECOPS_DISABLE_PLUGIN_AUTOLOAD=1``: load only the built-in plugins.
* ``SPECOPS_PLUGINS=a,b``: load only these third-party plugins.
* ``SPECOPS_DISABLE_PLUGINS=a,b``: do not load these plugins (built-in ones too):
  how to choose between two plugins that claim one type.

A name in either list that no installed plugin has is an error, not ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import metadata
from types import ModuleType

import pluggy

from framework import hookspecs
from framework.errors import PluginError
from framework.plugin_host import RESOLVER, Plugins, RegistryResolver, hookimpl
from framework.plugin_rules import (
    Registration,
    api_problem,
    argument_problems,
    duplicate_problems,
    recorder,
    registration_problems,
    unknown_hook_problems,
)
from framework.registry import BrokenPlugin, ComponentRegistry, PluginInfo
from framework.suggest import did_you_mean

__all__ = ["ENTRY_POINT_GROUP", "Plugins", "get_plugins", "hookimpl", "load_plugins"]

ENTRY_POINT_GROUP = "specops"
DISTRIBUTION = "specops"

REGISTRATION_HOOKS: dict[str, str] = {
    "source": "specops_register_sources",
    "check": "specops_register_checks",
    "split": "specops_register_splits",
    "transform": "specops_register_transforms",
    "model": "specops_register_models",
    "metric": "specops_register_metrics",
    "deploy": "specops_register_deploy_targets",
    "drift_test": "specops_register_drift_tests",
    "execution": "specops_register_executors",
    "metadata_store": "specops_register_metadata_stores",
    "artifact_store": "specops_register_artifact_stores",
    "tracker": "specops_register_trackers",
    "runtime": "specops_register_runtimes",
}


class Refused(Exception):
    """Why one plugin cannot be admitted; becomes its "failed to load" line.

    ``provides`` lists the (kind, type) pairs it registered before it was refused, so a
    spec naming one of them is told which plugin failed, not just "unknown type"."""

    def __init__(self, message: str, provides: Iterable[Registration] = ()) -> None:
        super().__init__(message)
        self.provides = [(r.kind, r.type_name) for r in provides if isinstance(r.type_name, str)]


# -------------------------------------------------------------------------
# which entry points: the switches
# -------------------------------------------------------------------------


def _entry_points() -> list[metadata.EntryPoint]:
    """The group's entry points, built-ins first, each name once."""
    points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    points.sort(key=lambda ep: (not _is_builtin(ep), ep.name))
    return points


def _is_builtin(ep: metadata.EntryPoint) -> bool:
    return _distribution(ep)[0] == DISTRIBUTION


_distributions: dict[int, tuple[metadata.Distribution, tuple[str, str]]] = {}


def _distribution(ep: metadata.EntryPoint) -> tuple[str, str]:
    """``(name, version)`` of the distribution behind ``ep``, ``("?", "?")`` if none.
    Each lookup parses the distribution's METADATA file; a start asks ~4 times per entry
    point, so the answer is kept per distribution object for the process."""
    dist = ep.dist
    if dist is None:
        return ("?", "?")
    found = _distributions.get(id(dist))
    if found is None or found[0] is not dist:
        meta = dist.metadata
        _distributions[id(dist)] = found = (dist, (meta["Name"], meta["Version"]))
    return found[1]


def _names(variable: str) -> list[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


def _check_names(variable: str, names: list[str], available: list[str]) -> None:
    unknown = [name for name in names if name not in available]
    if unknown:
        first = unknown[0]
        raise PluginError(
            f"{variable} names {', '.join(repr(n) for n in unknown)}, which "
            f"{'is not an installed plugin' if len(unknown) == 1 else 'are not installed plugins'}"
            f"{did_you_mean(first, available)} installed: {', '.join(available) or 'none'}"
        )


def selected_entry_points() -> list[metadata.EntryPoint]:
    """The entry points the switches let load; a switch naming no plugin is an error."""
    points = _entry_points()
    third_party = [ep.name for ep in points if not _is_builtin(ep)]
    only = _names("SPECOPS_PLUGINS")
    disabled = _names("SPECOPS_DISABLE_PLUGINS") or []
    if only is not None:
        _check_names("SPECOPS_PLUGINS", only, third_party)
    _check_names("SPECOPS_DISABLE_PLUGINS", disabled, [ep.name for ep in points])
    autoload = os.environ.get("SPECOPS_DISABLE_PLUGIN_AUTOLOAD", "").strip() in ("", "0")
    chosen = []
    for ep in points:
        if ep.name in disabled:
            continue
        if not _is_builtin(ep) and (not autoload or (only is not None and ep.name not in only)):
            continue
        chosen.append(ep)
    return chosen


# -------------------------------------------------------------------------
# admitting one plugin
# -------------------------------------------------------------------------


def _admit(pm: pluggy.PluginManager, plugin: object, info: PluginInfo) -> None:
    """Register ``plugin`` with pluggy if its hook API and hook names are right."""
    problem = api_problem(getattr(plugin, "SPECOPS_HOOK_API", None), hookspecs.HOOK_API_VERSION)
    if problem:
        raise Refused(problem)
    known = [h for h in dir(hookspecs) if h.startswith("specops_")]
    unmarked = [
        hook
        for hook in known
        if callable(getattr(plugin, hook, None))
        and not hasattr(getattr(plugin, hook), f"{ENTRY_POINT_GROUP}_impl")
    ]
    wrong = []  # every problem at once, so an author fixes them in one go
    if unmarked:  # pluggy would skip it silently: the plugin would do nothing
        wrong.append(
            f"defines {', '.join(unmarked)} without @hookimpl, so specops would never "
            "call it; decorate it with framework.hookimpl"
        )
    wrong += [
        problem
        for hook in known
        if callable(getattr(plugin, hook, None))
        for problem in argument_problems(hook, getattr(plugin, hook), getattr(hookspecs, hook))
    ]
    marked = f"{ENTRY_POINT_GROUP}_impl"
    misnamed = [
        name
        for name in dir(plugin)
        if name not in known
        and isinstance(getattr(getattr(plugin, name, None), marked, None), dict)
        and not getattr(getattr(plugin, name), marked).get("optionalhook")
    ]
    if misnamed:
        wrong += unknown_hook_problems(misnamed, known)
    if wrong:
        raise Refused("; ".join(wrong))
    try:
        pm.register(plugin, name=info.name)
    except pluggy.PluginValidationError as exc:  # a hook's arguments do not match
        raise Refused(" ".join(str(exc).split())) from exc
    unknown = [
        caller.name
        for caller in pm.get_hookcallers(plugin) or []
        if caller.spec is None
        and not any(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin)
    ]
    if unknown:
        pm.unregister(plugin)
        raise Refused("; ".join(unknown_hook_problems(unknown, known)))


def _registrations(pm: pluggy.PluginManager, info: PluginInfo) -> list[Registration]:
    """Everything ``info``'s registration hooks register, checked, or Refused: nothing
    reaches the registry until all of the plugin's hooks returned. After a hook raised
    the others are still called, into the same buffer, so the refusal lists every
    failure and every type the plugin would have provided."""
    found: list[Registration] = []
    raised: list[str] = []
    for kind, hook_name in REGISTRATION_HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name != info.name:
                continue
            register = recorder(found, kind)
            try:
                impl.function(*[{"register": register}[arg] for arg in impl.argnames])
            except Exception as exc:
                raised.append(f"{hook_name} raised {type(exc).__name__}: {exc}")
    if raised:
        raise Refused("; ".join(raised), found)
    check_schema = not info.builtin  # built-in schemas are checked by the test suite
    problems = duplicate_problems(found)
    for registration in found:
        problems += registration_problems(registration, check_schema=check_schema)
    if problems:
        raise Refused("; ".join(problems), found)
    return found


def _module_of(plugin: object) -> str:
    return plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__


def load_plugins(extra: Iterable[tuple[str, object]] = ()) -> Plugins:
    """Load every plugin and fill the component registry. ``extra`` adds in-process plugins."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    registry = ComponentRegistry()
    pm.register(RegistryResolver(registry), name=RESOLVER)
    admitted: list[tuple[PluginInfo, object]] = []

    for ep in selected_entry_points():
        if pm.has_plugin(ep.name):
            continue
        dist, version = _distribution(ep)
        info = PluginInfo(ep.name, dist, version, _is_builtin(ep), ep.module)
        try:
            plugin = ep.load()
            _admit(pm, plugin, info)
        except Exception as exc:  # one broken plugin must not break the others
            error = str(exc) if isinstance(exc, Refused) else f"{type(exc).__name__}: {exc}"
            registry.broken.append(BrokenPlugin(ep.name, dist, error, version))
            continue
        admitted.append((info, plugin))

    for name, plugin in extra:
        info = PluginInfo(name, "(in process)", "-", False, _module_of(plugin))
        try:
            _admit(pm, plugin, info)
        except Refused as exc:
            raise PluginError(f"plugin '{name}': {exc}") from exc
        admitted.append((info, plugin))

    infos: dict[str, PluginInfo] = {}
    for info, plugin in admitted:
        try:
            found = _registrations(pm, info)
        except Refused as exc:
            if info.dist == "(in process)":
                raise PluginError(f"plugin '{info.name}': {exc}") from exc
            pm.unregister(plugin)  # refused whole: none of its hooks will be called
            registry.broken.append(
                BrokenPlugin(info.name, info.dist, str(exc), info.version, exc.provides)
            )
            continue
        registry.commit(info, found)
        infos[info.name] = info
    registry.plugins.extend(infos.values())
    return Plugins(pm, registry, infos)


_cached: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugins, loaded once on first use."""
    global _cached
    if _cached is None:
        _cached = load_plugins()
    return _cached


def loaded_plugins() -> Plugins | None:
    """The process-wide plugins if something loaded them already (for error reports)."""
    return _cached
