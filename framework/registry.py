"""The table of components, keyed by (kind, type), that plugins fill in.

Plugins never see this class: they call the ``register`` callback handed to their
``specops_register_*`` hook, and the plugin manager commits a plugin's components
here only once all its registration hooks returned and every component passed the
rules in :mod:`framework.plugin_rules` (all or nothing per plugin). The registry
answers the questions users ask about it: what is installed, which plugin provides
a type, "did you mean" when a spec names a type nobody provides, and which types two
plugins both claim.

Two plugins claiming one type is not fatal to every command: that type is withheld
(neither plugin's component is used, so nothing depends on load order) and named
with both plugins; specs that do not use it keep working, and a spec that does is
told how to choose (``SPECOPS_DISABLE_PLUGINS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from framework.errors import PluginError
from framework.plugin_rules import Registration
from framework.suggest import did_you_mean


class UnknownComponent(PluginError):
    """No loaded plugin provides this (kind, type), and no resolver claimed it."""


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its entry-point name, distribution and version."""

    name: str
    dist: str
    version: str
    builtin: bool
    module: str = ""  # the module the entry point names: which code is this plugin's

    @property
    def label(self) -> str:
        """How messages name the plugin: its distribution, or the entry point of a built-in."""
        return self.name if self.builtin or self.dist.startswith("(") else self.dist


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
    version: str = ""
    provides: list[tuple[str, str]] = field(default_factory=list)  # known when it registered


EMPTY_PARAMS_SCHEMA: Mapping[str, Any] = {"type": "object", "additionalProperties": False}


@dataclass
class ComponentRegistry:
    """Every component type the installed plugins provide."""

    entries: dict[tuple[str, str], ComponentEntry] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    broken: list[BrokenPlugin] = field(default_factory=list)
    contested: dict[tuple[str, str], list[ComponentEntry]] = field(default_factory=dict)

    def commit(self, plugin: PluginInfo, registrations: Iterable[Registration]) -> None:
        """Record one accepted plugin's components; a type another plugin already
        claims is withheld from both and kept in :attr:`contested`."""
        for found in registrations:
            key = (found.kind, found.type_name)
            schema = found.params_schema
            entry = ComponentEntry(
                found.kind,
                found.type_name,
                found.factory,
                schema if schema is not None else EMPTY_PARAMS_SCHEMA,
                found.summary,
                plugin,
            )
            if key in self.contested:
                self.contested[key].append(entry)
            elif key in self.entries:
                self.contested[key] = [self.entries.pop(key), entry]
            else:
                self.entries[key] = entry

    def conflict_message(self, kind: str, type_name: str) -> str:
        """Two or more plugins claim this type: name them all and how to choose."""
        claimants = self.contested[(kind, type_name)]
        names = " and ".join(
            f"'{e.plugin.name}' ({e.plugin.dist} {e.plugin.version})" for e in claimants
        )
        choices = "; ".join(
            f"SPECOPS_DISABLE_PLUGINS={','.join(o.plugin.name for o in claimants if o is not e)}"
            f" keeps '{e.plugin.name}'"
            for e in claimants
        )
        return (
            f"{kind} type '{type_name}' is claimed by {len(claimants)} plugins: {names}, "
            f"so {'neither' if len(claimants) == 2 else 'none'} is used; "
            f"choose one: {choices} (or uninstall one)"
        )

    def conflicts(self) -> list[str]:
        """Every contested type, named with its claimants, in a stable order."""
        return [self.conflict_message(kind, name) for kind, name in sorted(self.contested)]

    def types(self, kind: str) -> list[str]:
        """The registered type names of one kind, sorted."""
        return sorted(name for k, name in self.entries if k == kind)

    def find(self, kind: str, type_name: str) -> ComponentEntry | None:
        return self.entries.get((kind, type_name))

    def get(self, kind: str, type_name: str) -> ComponentEntry:
        """The entry for a type, or a PluginError that suggests and lists alternatives."""
        entry = self.find(kind, type_name)
        if entry is None:
            raise UnknownComponent(self.unknown_type_message(kind, type_name))
        return entry

    def unknown_type_message(self, kind: str, type_name: str) -> str:
        if (kind, type_name) in self.contested:
            return self.conflict_message(kind, type_name)
        for broken in self.broken:
            if (kind, type_name) in broken.provides:
                return (
                    f"{kind} type '{type_name}' is provided by plugin '{broken.name}' "
                    f"({broken.dist} {broken.version}), which failed to load: {broken.error}"
                )
        available = self.types(kind)
        suggestion = did_you_mean(type_name, available)
        shown = type_name if len(type_name) <= 80 else f"{type_name[:75]}...{type_name[-2:]}"
        message = f"unknown {kind} type '{shown}'{suggestion or ';'}"
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
