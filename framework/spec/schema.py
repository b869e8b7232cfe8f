"""The spec's JSON Schema: the core file in schemas/, and its composition with plugins.

The core schema checks the envelope (sections, keys, types); each component's
``params`` is checked against the schema its plugin registered. ``specops schema``
prints the two composed, so editors can complete type names and params.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from framework.registry import ComponentRegistry

SCHEMA_FILE = "spec.schema.json"

# Which $defs entry of the core schema holds each kind of component.
KIND_DEFS: dict[str, str] = {
    "source": "source",
    "check": "check",
    "split": "split",
    "transform": "transform",
    "model": "model",
    "deploy": "deploy",
    "drift_test": "drift_test",
    "execution": "execution",
    "tracker": "tracker",
}


def schema_path() -> Path:
    """The core schema: shipped inside the wheel, or in schemas/ of a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "schemas" / SCHEMA_FILE, here.parent / "schemas" / SCHEMA_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{SCHEMA_FILE} is missing from the specops installation")


@cache
def core_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def composed_schema(registry: ComponentRegistry) -> dict[str, Any]:
    """The core schema with each kind's ``type`` an enum of the registered names and
    each type's ``params`` checked by its own schema (``if type == x then params``)."""
    schema = copy.deepcopy(core_schema())
    defs = schema["$defs"]
    for kind, def_name in KIND_DEFS.items():
        types = registry.types(kind)
        base = copy.deepcopy(defs["check" if kind == "check" else "component"])
        base["properties"]["type"] = {
            "description": f"A registered {kind} type.",
            "enum": types,
        }
        rules = [
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"properties": {"params": _described(registry, kind, name)}},
            }
            for name in types
        ]
        if rules:  # JSON Schema wants a non-empty allOf
            base["allOf"] = rules
        defs[def_name] = base
    from framework.runtimes.lookup import choices

    serve = schema["properties"]["serve"]["properties"]["runtime"]
    serve["enum"] = choices(registry)  # checked against the registry, with a did-you-mean
    serve.pop("pattern", None)
    metrics = registry.types("metric")
    schema["properties"]["gate"]["propertyNames"] = {"enum": metrics}
    return schema


def _described(registry: ComponentRegistry, kind: str, name: str) -> dict[str, Any]:
    entry = registry.get(kind, name)
    params = copy.deepcopy(dict(entry.params_schema))
    if entry.summary and "description" not in params:
        params["description"] = entry.summary
    return params
