"""A component's params as they take effect: what the spec gives, else the schema's ``default``.

A ``default`` in a params schema is a promise to the user ("``p`` is 2 unless you
say otherwise"). Keeping it means applying it: every component is built with the
schema's defaults for the params the spec leaves out, and the run records those
values with its params, so a recorded run shows every value its components used.
Only the top level of the params object is filled: a nested object's defaults
are the component's own business.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def schema_defaults(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{param: default}`` for every top-level property of ``schema`` that declares one."""
    properties = (schema or {}).get("properties")
    if not isinstance(properties, Mapping):
        return {}
    return {
        name: copy.deepcopy(prop["default"])  # a component may change a list it was given
        for name, prop in properties.items()
        if isinstance(prop, Mapping) and "default" in prop
    }


def with_defaults(params: Mapping[str, Any], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` with the schema's default filled in for every param they leave out."""
    return {**schema_defaults(schema), **params}
