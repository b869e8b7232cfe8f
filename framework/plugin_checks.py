"""Contract checks a plugin's own tests can run: does the schema tell the truth?

specops builds every component with its params schema's defaults filled in (see
:mod:`framework.param_defaults`), and records them with the run. A factory whose
Python default disagrees with its schema would behave one way when called by hand
and another way under specops, and a Python default the schema does not declare
would be used without ever being recorded. :func:`check_defaults` finds both.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any


def check_defaults(factory: Callable[..., Any], schema: Mapping[str, Any] | None) -> list[str]:
    """Every way ``factory``'s keyword defaults and ``schema``'s ``default`` values disagree.

    Returns one sentence per problem (an empty list when they agree):

    * a schema default that its own property schema refuses;
    * a param whose Python default differs from the schema's default;
    * a param with a Python default the schema does not declare (a run could not
      record the value it used).

    A Python default of ``None`` is taken as "not given" when the schema declares
    a default: specops always passes the schema's value, so the two cannot differ
    in a run. Factories taking only ``**params`` have no Python defaults to compare.
    """
    problems: list[str] = []
    properties = (schema or {}).get("properties") or {}
    problems += _invalid_defaults(properties)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to read
        return problems
    for name, parameter in signature.parameters.items():
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            continue
        if parameter.default is parameter.empty or name not in properties:
            continue
        declared = properties[name]
        python = parameter.default
        if not isinstance(declared, Mapping) or "default" not in declared:
            if python is not None:
                problems.append(
                    f"{name}: the factory defaults to {python!r} but the schema declares no "
                    f'default; add "default": {python!r} to its property so runs record it'
                )
            continue
        schema_value = declared["default"]
        if python is not None and not _same(python, schema_value):
            problems.append(
                f"{name}: the schema's default is {schema_value!r} but the factory's is "
                f"{python!r}; specops passes {schema_value!r}, a direct call gets {python!r}"
            )
    return problems


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind: ``True`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _invalid_defaults(properties: Mapping[str, Any]) -> list[str]:
    from jsonschema import Draft202012Validator

    problems = []
    for name, declared in properties.items():
        if not isinstance(declared, Mapping) or "default" not in declared:
            continue
        errors = list(Draft202012Validator(declared).iter_errors(declared["default"]))
        if errors:
            problems.append(
                f"{name}: the schema's default {declared['default']!r} is not a valid value "
                f"of the param itself ({errors[0].message})"
            )
    return problems
