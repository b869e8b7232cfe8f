"""Which runtimes exist, which a spec allows, and building one by name.

``serve.runtime`` (and ``--runtime``) say ``auto``, ``native`` or a registered name.
``auto`` means: try every registered runtime at registration, then serve the fastest
one that was verified (native included). ``native`` compiles nothing. A name compiles
only that runtime; native stays the fallback whatever is asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.errors import UserError
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    from framework.plugins import Plugins
    from framework.registry import ComponentRegistry
    from framework.runtimes.base import Runtime

KIND = "runtime"
AUTO = "auto"
NATIVE = "native"
DEFAULT = AUTO
"""What a spec without ``serve.runtime`` asks for (unless :data:`ENVIRONMENT` says)."""
ENVIRONMENT = "SPECOPS_RUNTIME"
"""The environment variable naming the runtime for specs that do not say
(``SPECOPS_RUNTIME=native``: a test suite or a CI job that trains many throwaway models
and serves none of them skips compiling); a spec's ``serve.runtime`` always wins."""


def default_runtime() -> str:
    """``$SPECOPS_RUNTIME`` when set (stripped), else ``auto``."""
    import os

    value = os.environ.get(ENVIRONMENT, "").strip()
    return value or DEFAULT


def runtime_names(registry: ComponentRegistry) -> list[str]:
    """The registered runtimes, sorted (``native`` among them when its plugin loaded)."""
    return registry.types(KIND)


def choices(registry: ComponentRegistry) -> list[str]:
    """What ``serve.runtime`` / ``--runtime`` may say."""
    return [AUTO, NATIVE, *[name for name in runtime_names(registry) if name != NATIVE]]


def unknown_message(name: str, registry: ComponentRegistry) -> str | None:
    """Why ``name`` is not a runtime here (did-you-mean, what is available); None if it is."""
    if name in (AUTO, NATIVE) or name in runtime_names(registry):
        return None
    why = registry.unknown_type_message(KIND, name)
    if not why.startswith("unknown "):  # a broken plugin provides it, or two claim it
        return why
    available = choices(registry)
    return (
        f"unknown runtime '{name if len(name) <= 80 else name[:75] + '...' + name[-2:]}'"
        f"{did_you_mean(name, available) or ';'} "
        f"available: {', '.join(available)} (is the plugin installed?)"
    )


def require_known(name: str, plugins: Plugins) -> None:
    """Refuse (exit 2) a runtime name no plugin here provides."""
    why = unknown_message(name, plugins.registry)
    if why:
        raise UserError(why)


def to_compile(requested: str, plugins: Plugins) -> list[str]:
    """The runtimes registration compiles and verifies for ``requested``: every registered
    one but native for ``auto``, none for ``native``, else the one named."""
    if requested == NATIVE:
        return []
    if requested == AUTO:
        return [name for name in runtime_names(plugins.registry) if name != NATIVE]
    return [requested] if requested in runtime_names(plugins.registry) else []


def build(name: str, plugins: Plugins) -> Runtime:
    """A runtime object by name (its factory takes no params); PluginError names a plugin
    whose factory raises."""
    return plugins.build(KIND, name, {})
