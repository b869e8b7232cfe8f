"""The typed face the rest of specops uses over pluggy: build components, announce events.

Every call from specops into plugin code goes through here or through the engine's
steps, so every fault can be pinned on the plugin that raised it:

* building a component: a resolver hook or a factory that raises is a
  :class:`PluginError` naming the plugin and the component, never "unknown type";
* lifecycle events: each plugin's implementation is called on its own, so a
  tracker that raises is reported once, recorded in the run's ``observer_errors``
  and the run goes on, unless the plugin says it is required
  (``SPECOPS_REQUIRED = True``);
* anything else: :meth:`Plugins.fault` reads a traceback to find the plugin whose
  code raised, so the CLI can say "error in plugin 'x' 0.3.1 (model 'knn', step
  train)" instead of "internal error".
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterable
from typing import Any

import pluggy

from framework import contracts, hookspecs
from framework.errors import PluginError, PluginFault, UserError
from framework.events import RunInfo, StepInfo
from framework.param_defaults import with_defaults
from framework.redact import scrub_text
from framework.registry import ComponentRegistry, PluginInfo

RESOLVER = "specops.resolver"
REQUIRED_FLAG = "SPECOPS_REQUIRED"

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


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Plugins:
    """The loaded plugins: the component registry plus the lifecycle hooks, typed."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        registry: ComponentRegistry,
        infos: dict[str, PluginInfo] | None = None,
    ) -> None:
        self.pm = pm
        self.registry = registry
        self.infos = dict(infos or {})
        self._warned: set[tuple[str, str]] = set()

    # components -----------------------------------------------------------

    def build(self, kind: str, type_name: str, params: dict[str, Any] | None = None) -> Any:
        """The component that will run a step of this kind and type.

        Resolver hooks are asked first, one plugin at a time, then the registered
        factory is called. A plugin's own :class:`UserError` passes through as it is;
        any other exception is a :class:`PluginError` that names the plugin. Params
        the caller leaves out get their schema's default (:mod:`framework.param_defaults`)."""
        what = f"{kind} '{type_name}'"
        found = self.registry.find(kind, type_name)
        params = with_defaults(params or {}, found.params_schema if found else None)
        hook = "specops_resolve_component"
        for name in self._order(hook):
            if name == RESOLVER:
                continue
            try:
                component = self._call(
                    name, hook, kind=kind, type_name=type_name, params=dict(params)
                )
            except UserError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {self._label(name)} failed in {hook} for {what}: {_described(exc)}"
                ) from exc
            if component is not None:
                if found is not None:
                    raise self._shadowing(name, found, what)
                return contracts.built(self, kind, type_name, component)
        entry = self.registry.get(kind, type_name)  # UnknownComponent names the alternatives
        try:
            component = entry.factory(**params)
        except UserError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin {self._info_label(entry.plugin)} could not build {what}: {_described(exc)}"
            ) from exc
        return contracts.built(self, kind, type_name, component)

    def observes(self, name: str) -> list[str]:
        """The lifecycle hooks plugin ``name`` implements (a tracker has no components,
        so this is how ``specops plugins`` shows it does something)."""
        plugin = self.pm.get_plugin(name)
        if plugin is None:
            return []
        hooks = [caller.name for caller in self.pm.get_hookcallers(plugin) or []]
        lifecycle = ("specops_run_", "specops_step_")
        return sorted(hook for hook in hooks if hook.startswith(lifecycle))

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
        self._announce("specops_run_start", run)

    def step_start(self, run: RunInfo, step: StepInfo) -> None:
        self._announce("specops_step_start", run, step=step)

    def step_end(self, run: RunInfo, step: StepInfo) -> None:
        self._announce("specops_step_end", run, step=step)

    def step_error(self, run: RunInfo, step: StepInfo, error: BaseException) -> None:
        self._announce("specops_step_error", run, step=step, error=error)

    def run_end(self, run: RunInfo) -> None:
        self._announce("specops_run_end", run)

    def _announce(self, hook: str, run: RunInfo, **kwargs: Any) -> None:
        """Call each plugin's implementation on its own: one observer's failure is
        reported and recorded, and the others (and the run) go on."""
        for name in self._order(hook):
            try:
                self._call(name, hook, run=run, **kwargs)
            except Exception as exc:
                if not getattr(self.pm.get_plugin(name), REQUIRED_FLAG, False):
                    self._observer_failed(name, hook, run, exc)
                    continue
                info = self.infos.get(name)
                # specops' own observers (the store's tracker) raise as they are: a full
                # disk is still a StoreError; a loaded plugin's fault is named
                if info is None or isinstance(exc, UserError | PluginFault):
                    raise
                raise PluginFault(info.label, info.version, _described(exc), hook=hook) from exc

    def _observer_failed(self, name: str, hook: str, run: RunInfo, exc: Exception) -> None:
        info = self.infos.get(name)
        error = scrub_text(_described(exc))
        run.outputs.setdefault("observer_errors", []).append(
            {
                "plugin": info.label if info else name,
                "version": info.version if info else "",
                "hook": hook,
                "error": error,
            }
        )
        if (run.run_id, name) in self._warned:
            return
        self._warned.add((run.run_id, name))
        print(
            f"warning: tracker {self._label(name)} failed in {hook}: {error}; the run "
            f"continues (specops runs show {run.run_id} lists its failures)",
            file=sys.stderr,
        )

    # naming the plugin behind a fault ------------------------------------------

    def fault(
        self,
        exc: BaseException,
        *,
        step: str = "",
        components: Iterable[tuple[str, str]] = (),
        fallback: Iterable[tuple[str, str]] = (),
    ) -> PluginFault | None:
        """A :class:`PluginFault` naming the plugin whose code raised ``exc``, or None
        when no plugin's code is in its traceback (a bug in specops itself) or when
        ``exc`` is bad input (a :class:`UserError`) rather than a bug.

        The component named is the plugin's one whose method raised, when a frame
        shows it; else those of ``components`` (the (kind, type) pairs the failing
        step ran) the plugin provides; else those of ``fallback`` (the whole run's)."""
        if not isinstance(exc, Exception) or isinstance(exc, UserError | PluginFault):
            return None
        frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
        for frame in reversed(frames):  # innermost first: the plugin nearest the raise
            owner = self.owner_of(frame.f_globals.get("__name__", ""))
            if owner is None:
                continue
            return PluginFault(
                owner.label,
                owner.version,
                _described(exc),
                component=self._component(owner, frames, [components, fallback]),
                step=step,
            )
        return self._missing_member(exc, step)

    def _missing_member(self, exc: BaseException, step: str) -> PluginFault | None:
        """An AttributeError raised by specops reading a member a plugin's component
        lacks (``fit``, ``bounds``, ...): that plugin's bug, not specops'."""
        component = getattr(exc, "obj", None) if isinstance(exc, AttributeError) else None
        if component is None:
            return None
        for entry in self.registry.entries.values():
            if isinstance(entry.factory, type) and isinstance(component, entry.factory):
                return PluginFault(
                    entry.plugin.label,
                    entry.plugin.version,
                    f"{type(component).__name__} has no '{exc.name}', which a "
                    f"{entry.kind} must have (docs/plugin_reference.md)",
                    component=f"{entry.kind} '{entry.type_name}'",
                    step=step,
                )
        return None

    def owner_of(self, module: str) -> PluginInfo | None:
        """The loaded plugin whose code ``module`` is: the entry point's module or one
        below it, or for a third-party plugin any module of the same top-level package."""
        best: tuple[int, PluginInfo] | None = None
        for info in self.infos.values():
            if not info.module or not module:
                continue
            if module == info.module or module.startswith(info.module + "."):
                rank = 2 * len(info.module)
            elif info.builtin or info.dist.startswith("("):
                continue
            elif module.split(".")[0] == info.module.split(".")[0]:
                rank = 1
            else:
                continue
            if best is None or rank > best[0]:
                best = (rank, info)
        return best[1] if best else None

    def _component(
        self, owner: PluginInfo, frames: list[Any], candidates: list[Iterable[tuple[str, str]]]
    ) -> str:
        mine = [e for e in self.registry.entries.values() if e.plugin == owner]
        classes = [(e, e.factory) for e in mine if isinstance(e.factory, type)]
        for frame in reversed(frames):  # the component whose method raised, if one did
            this = frame.f_locals.get("self")
            for entry, cls in classes:
                if this is not None and isinstance(this, cls):
                    return f"{entry.kind} '{entry.type_name}'"
        for components in candidates:
            named = [
                f"{kind} '{type_name}'"
                for kind, type_name in dict.fromkeys(components)
                if (entry := self.registry.find(kind, type_name)) is not None
                and entry.plugin == owner
            ]
            if named:
                return ", ".join(named)
        return ""

    # pluggy, one plugin at a time ---------------------------------------------

    def _shadowing(self, name: str, found: Any, what: str) -> PluginFault:
        """A resolver built a registered type: ``plan``, lineage and every message would
        name the registering plugin for a component another plugin made, so refused as
        the resolver's bug (a plugin taking over a built-in type was silent)."""
        info = self.infos.get(name)
        return PluginFault(
            info.label if info else name,
            info.version if info else "-",
            f"it built {what} in specops_resolve_component, but {what} is registered by "
            f"plugin {self._info_label(found.plugin)}: a resolver may claim only types no "
            f"plugin registers (return None for the others); SPECOPS_DISABLE_PLUGINS={name} "
            "turns it off",
            hook="specops_resolve_component",
        )

    def _order(self, hook: str) -> list[str]:
        """The plugins implementing ``hook``, in pluggy's call order."""
        impls = getattr(self.pm.hook, hook).get_hookimpls()
        return list(dict.fromkeys(impl.plugin_name for impl in reversed(impls)))

    def _call(self, name: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of ``hook`` (through pluggy, so ``--debug``
        traces it and the plugin's own wrappers apply)."""
        plugin = self.pm.get_plugin(name)
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        return self.pm.subset_hook_caller(hook, others)(**kwargs)

    def _label(self, name: str) -> str:
        info = self.infos.get(name)
        return self._info_label(info) if info else f"'{name}'"

    @staticmethod
    def _info_label(info: PluginInfo) -> str:
        version = f" {info.version}" if info.version and info.version != "-" else ""
        return f"'{info.label}'{version}"
