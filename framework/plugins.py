"""Finding plugins and giving the rest of the code a typed face over pluggy.

Built-in plugins are the modules named by this distribution's own ``specops``
entry points; they load first, then third-party entry points, each in its own
try/except so one broken plugin names itself and breaks nothing else.

Switches (environment variables):

* ``SPECOPS_DISABLE_PLUGIN_AUTOLOAD=1``: load only the built-in plugins.
* ``SPECOPS_PLUGINS=a,b``: load only these third-party plugins (by entry-point name).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from functools import partial
from importlib import metadata
from typing import Any

import pluggy

from framework import hookspecs
from framework.errors import PluginError
from framework.events import RunInfo, StepInfo
from framework.param_defaults import with_defaults
from framework.registry import BrokenPlugin, ComponentRegistry, PluginInfo

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
}

hookimpl = hookspecs.hookimpl


class RegistryResolver:
    """The built-in, last-resort resolver: build the registered factory with the params."""

    def __init__(self, registry: ComponentRegistry) -> None:
        self.registry = registry

    @hookimpl(trylast=True)
    def specops_resolve_component(
        self, kind: str, type_name: str, params: dict[str, Any]
    ) -> Any | None:
        entry = self.registry.find(kind, type_name)
        return None if entry is None else entry.factory(**params)


class Plugins:
    """The loaded plugins: the component registry plus the lifecycle hooks, typed."""

    def __init__(self, pm: pluggy.PluginManager, registry: ComponentRegistry) -> None:
        self.pm = pm
        self.registry = registry

    def build(self, kind: str, type_name: str, params: dict[str, Any] | None = None) -> Any:
        """The component that will run a step of this kind and type, built with its
        params schema's defaults for the params left out (:mod:`framework.param_defaults`)."""
        entry = self.registry.find(kind, type_name)
        params = with_defaults(params or {}, entry.params_schema if entry else None)
        component = self.pm.hook.specops_resolve_component(
            kind=kind, type_name=type_name, params=params
        )
        if component is None:
            raise PluginError(self.registry.unknown_type_message(kind, type_name))
        return component

    def register(self, plugin: object, name: str | None = None) -> None:
        """Add an in-process plugin for lifecycle events (progress display, tracking)."""
        self.pm.register(plugin, name=name)

    def unregister(self, plugin: object) -> None:
        self.pm.unregister(plugin)

    def trace(self, write: Any = None) -> None:
        """Print every hook call (``--debug``)."""
        self.pm.trace.root.setwriter(write or (lambda message: sys.stderr.write(message)))
        self.pm.enable_tracing()

    # lifecycle events -------------------------------------------------------

    def run_start(self, run: RunInfo) -> None:
        self.pm.hook.specops_run_start(run=run)

    def step_start(self, run: RunInfo, step: StepInfo) -> None:
        self.pm.hook.specops_step_start(run=run, step=step)

    def step_end(self, run: RunInfo, step: StepInfo) -> None:
        self.pm.hook.specops_step_end(run=run, step=step)

    def step_error(self, run: RunInfo, step: StepInfo, error: BaseException) -> None:
        self.pm.hook.specops_step_error(run=run, step=step, error=error)

    def run_end(self, run: RunInfo) -> None:
        self.pm.hook.specops_run_end(run=run)


def _entry_points() -> list[metadata.EntryPoint]:
    """The group's entry points, built-ins first, each name once."""
    points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    points.sort(key=lambda ep: (not _is_builtin(ep), ep.name))
    return points


def _is_builtin(ep: metadata.EntryPoint) -> bool:
    return ep.dist is not None and ep.dist.name == DISTRIBUTION


def _wanted(ep: metadata.EntryPoint) -> bool:
    if _is_builtin(ep):
        return True
    if os.environ.get("SPECOPS_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("", "0"):
        return False
    allow = os.environ.get("SPECOPS_PLUGINS")
    if allow is not None:
        return ep.name in {name.strip() for name in allow.split(",") if name.strip()}
    return True


def load_plugins(extra: Iterable[tuple[str, object]] = ()) -> Plugins:
    """Load every plugin and fill the component registry. ``extra`` adds in-process plugins."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    registry = ComponentRegistry()
    pm.register(RegistryResolver(registry), name="specops.resolver")
    infos: dict[str, PluginInfo] = {}

    for ep in _entry_points():
        if not _wanted(ep) or pm.has_plugin(ep.name):
            continue
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # one broken plugin must not break the others
            registry.broken.append(BrokenPlugin(ep.name, dist, f"{type(exc).__name__}: {exc}"))
            continue
        infos[ep.name] = PluginInfo(ep.name, dist, version, _is_builtin(ep))

    for name, plugin in extra:
        pm.register(plugin, name=name)
        infos[name] = PluginInfo(name, "(in process)", "-", False)

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(f"plugin '{name}' implements an unknown hook: {exc}") from exc

    registry.plugins.extend(infos.values())
    _collect_registrations(pm, registry, infos)
    return Plugins(pm, registry)


def _collect_registrations(
    pm: pluggy.PluginManager, registry: ComponentRegistry, infos: dict[str, PluginInfo]
) -> None:
    """Call every registration hook once per plugin, so each entry knows its plugin."""
    for kind, hook_name in REGISTRATION_HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():  # registration order
            info = infos.get(impl.plugin_name)
            if info is None:
                continue
            try:
                impl.function(register=partial(registry.add, kind, info))
            except PluginError:
                raise
            except Exception as exc:
                registry.broken.append(
                    BrokenPlugin(info.name, info.dist, f"{type(exc).__name__}: {exc}")
                )


_cached: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugins, loaded once on first use."""
    global _cached
    if _cached is None:
        _cached = load_plugins()
    return _cached
