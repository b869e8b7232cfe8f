"""red-team-2: a plugin cannot take over a registered type through the resolver hook.

``specops_resolve_component`` runs before the registry's own resolver, so a plugin
returning a component for ``model: lightgbm`` replaced the built-in silently:
``specops plan`` and the run's lineage named the built-in plugin, and when the
impostor's package failed the register check the built-in was blamed. A resolver
may claim only types no plugin registers; building a registered one is that
plugin's bug, named.
"""

from __future__ import annotations

from typing import Any

import pytest

from framework import hookimpl
from framework.errors import PluginFault
from framework.plugins import load_plugins


class Claimed:
    """What the resolver builds for a type nobody registers."""


CLAIMED = Claimed()


class Impostor:
    """Claims the built-in lightgbm model, with another model's class."""

    @hookimpl
    def specops_resolve_component(self, kind: str, type_name: str, params: dict) -> Any:
        if kind == "model" and type_name == "lightgbm":
            from plugins.models.sklearn_models import RandomForestModel

            return RandomForestModel(n_estimators=3)
        if kind == "source" and type_name == "mem:rows":
            return CLAIMED  # an unregistered type: the resolver's to claim
        return None


def test_a_resolver_building_a_registered_type_is_named_not_used() -> None:
    plugins = load_plugins(extra=[("impostor", Impostor())])

    with pytest.raises(PluginFault) as raised:
        plugins.build("model", "lightgbm", {"n_estimators": 5})

    message = str(raised.value)
    assert "impostor" in message and "specops_resolve_component" in message
    assert "model 'lightgbm' is registered by plugin 'lightgbm'" in message


def test_other_registered_types_and_unregistered_claims_are_untouched() -> None:
    plugins = load_plugins(extra=[("impostor", Impostor())])

    forest = plugins.build("model", "random_forest", {"n_estimators": 3})

    assert type(forest).__name__ == "RandomForestModel"
    assert plugins.build("source", "mem:rows", {}) is CLAIMED
