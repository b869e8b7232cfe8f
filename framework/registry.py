"""The table of components, keyed by (kind, type), that plugins fill in.

Plugins never see this class: they call the ``register`` callback handed to their
``specops_register_*`` hook. The registry answers the questions users ask about
it: what is installed, which plugin provides a type, and "did you mean" when a
spec names a type nobody provides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from framework.errors import PluginError
from framework.suggest import did_you_mean


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its entry-point name, distribution and version."""

    name: str
    dist: str
    version: str
    builtin: bool


@dataclass(frozen=True)
class ComponentEntry:
    """A registered component type and where it came from."""

    kind: str
    type_name: str
    factory: Callable[..., Any]
    params_schema: Mapping[str, Any]
    summary: str
    plugin: PluginInfo


@dataclass
class BrokenPlugin:
    """An entry point that failed to load: named, so specs that need it can say why."""

    name: str
    dist: str
    error: str


EMPTY_PARAMS_SCHEMA: Mapping[str, Any] = {"type": "object", "additionalProperties": False}


@dataclass
class ComponentRegistry:
    """Every component type the installed plugins provide."""

    entries: dict[tuple[str, str], ComponentEntry] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    broken: list[BrokenPlugin] = field(default_factory=list)

    def add(
        self,
        kind: str,
        plugin: PluginInfo,
        type_name: str,
        factory: Callable[..., Any],
        params_schema: Mapping[str, Any] | None = None,
        *,
        summary: str = "",
    ) -> None:
        """Record one component; a second plugin claiming the same type is an error."""
        key = (kind, type_name)
        if key in self.entries:
            first = self.entries[key].plugin
            raise PluginError(
                f"two plugins claim {kind} type '{type_name}': "
                f"'{first.name}' ({first.dist}) and '{plugin.name}' ({plugin.dist}); "
                "uninstall one, or limit plugins with SPECOPS_PLUGINS"
            )
        schema = params_schema if params_schema is not None else EMPTY_PARAMS_SCHEMA
        self.entries[key] = ComponentEntry(kind, type_name, factory, schema, summary, plugin)

    def types(self, kind: str) -> list[str]:
        """The registered type names of one kind, sorted."""
        return sorted(name for k, name in self.entries if k == kind)

    def find(self, kind: str, type_name: str) -> ComponentEntry | None:
        return self.entries.get((kind, type_name))

    def get(self, kind: str, type_name: str) -> ComponentEntry:
        """The entry for a type, or a PluginError that suggests and lists alternatives."""
        entry = self.find(kind, type_name)
        if entry is None:
            raise PluginError(self.unknown_type_message(kind, type_name))
        return entry

    def unknown_type_message(self, kind: str, type_name: str) -> str:
        available = self.types(kind)
        message = f"unknown {kind} type '{type_name}'{did_you_mean(type_name, available)}"
        message += f" available: {', '.join(available) or 'none'}"
        if self.broken:
            names = ", ".join(f"'{b.name}' ({b.error})" for b in self.broken)
            message += f"; plugins that failed to load: {names}"
        else:
            message += " (is the plugin installed?)"
        return message

    def by_plugin(self) -> Iterator[tuple[PluginInfo, list[ComponentEntry]]]:
        """Each loaded plugin with the components it registered."""
        for plugin in self.plugins:
            yield plugin, [e for e in self.entries.values() if e.plugin == plugin]
