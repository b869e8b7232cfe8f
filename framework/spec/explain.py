"""Turning jsonschema's errors into problems a spec author can act on.

Each error walks its ``absolute_path`` back to the line and column where the
value (or, for an unknown key, the key itself) was written, and says what was
expected, what was found and, for misspellings, what was probably meant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from framework.errors import Problem
from framework.spec.limits import Limits, number_problem
from framework.spec.source import KeyPath, Positions, dotted, parse
from framework.suggest import did_you_mean

YAML_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "nothing (null)",
}


def found_text(value: Any) -> str:
    kind = YAML_TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, dict | list) or value is None:
        return kind
    return f"{kind} {shown(value)}"


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message quotes a value, not a file."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def schema_problems(
    instance: Any,
    schema: dict[str, Any],
    positions: Positions,
    prefix: KeyPath = (),
    from_env: set[str] | frozenset[str] = frozenset(),
) -> list[Problem]:
    """Every way ``instance`` breaks ``schema``, as located problems.

    Values at ``from_env`` paths came from environment variables, which are text:
    where the schema wants a number, an integer or a boolean and the text reads as
    one, it is converted in place (in ``instance``) instead of being reported.
    """
    validator = SpecValidator(schema)
    errors = list(validator.iter_errors(instance))
    # every error gets its chance to coerce (any() over a generator stopped at the
    # first: a second number from the environment was then refused as text)
    if from_env and any([_coerce(error, prefix, from_env, instance) for error in errors]):
        errors = list(validator.iter_errors(instance))
    problems: list[Problem] = []
    for error in errors:
        problems.extend(_explain(error, prefix, positions))
    return problems


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """``uniqueItems`` in linear time.

    jsonschema compares every pair when the items do not sort (``[a, 1, 2, ...]``):
    30,000 of them took over 100 s. Hashing a canonical form of each item is linear;
    True stays apart from 1, as JSON Schema wants, and 1 equals 1.0.
    """
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for item in instance:
        key = _canonical(item)
        if key in seen:
            yield ValidationError(f"has a repeated item: {shown(item)}")
            return
        seen.add(key)


def _canonical(item: Any) -> Any:
    if isinstance(item, bool) or item is None:
        return ("literal", item)
    if isinstance(item, int | float):
        return ("number", item)
    if isinstance(item, str):
        return ("text", item)
    return ("json", json.dumps(item, sort_keys=True, default=repr))


SpecValidator = validators.extend(Draft202012Validator, {"uniqueItems": _unique_items})


SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _coerce(error: ValidationError, prefix: KeyPath, from_env: Any, root: Any) -> bool:
    """Read an environment value as the scalar the schema wants; True when it did."""
    path = tuple(error.absolute_path)
    if error.validator != "type" or not path or not isinstance(error.instance, str):
        return False
    if dotted(prefix + path) not in from_env:
        return False
    wanted = (
        error.validator_value
        if isinstance(error.validator_value, list)
        else [error.validator_value]
    )
    _, value, problem = parse(error.instance, "environment", Limits.from_env())
    if problem is not None or number_problem(value):
        return False  # not YAML, a bomb, NaN or a huge integer: reported as the text it is
    if not any(
        isinstance(value, SCALAR_TYPES.get(kind, ()))
        and not (kind != "boolean" and isinstance(value, bool))
        for kind in wanted
    ):
        return False
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return True


def _explain(error: ValidationError, prefix: KeyPath, positions: Positions) -> Iterator[Problem]:
    path: KeyPath = prefix + tuple(error.absolute_path)
    where = dotted(path) or "the spec"
    kind, value, instance = error.validator, error.validator_value, error.instance

    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        for key in sorted(set(instance) - set(allowed), key=str):
            yield Problem(
                f"unknown key '{key}' in {where}{did_you_mean(key, allowed)}",
                path=dotted(path + (key,)),
                location=positions.of_key(path + (key,)),
                expected=f"one of: {', '.join(allowed)}" if allowed else "no keys",
                found=key,
            )
        return
    if kind == "required" and isinstance(instance, dict):
        for key in value:
            if key not in instance:
                yield Problem(
                    f"missing required key '{key}' in {where}",
                    path=dotted(path + (key,)),
                    location=positions.of_key(path),
                    expected=key,
                )
        return
    if kind in ("oneOf", "anyOf") and error.context:
        yield from _explain(best_match(error.context), prefix, positions)
        return

    yield Problem(
        f"{where}: {_message(kind, value, instance, error)}",
        path=dotted(path),
        location=positions.of_value(path),
        expected=_expected(kind, value),
        found=found_text(instance),
        hint=_hint(kind, value, instance),
    )


def _expected(kind: str, value: Any) -> str | None:
    if kind == "type":
        names = value if isinstance(value, list) else [value]
        return " or ".join(names)
    if kind == "enum":
        return "one of: " + ", ".join(str(v) for v in value)
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        return f"{sign[kind]} {value}"
    if kind == "pattern":
        return f"text matching {value}"
    return None


def _message(kind: str, value: Any, instance: Any, error: ValidationError) -> str:
    if kind == "type":
        return f"expected {_expected(kind, value)}, found {found_text(instance)}"
    if kind == "enum":
        return f"{shown(instance)} is not one of: {', '.join(str(v) for v in value)}"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        return f"must be {_expected(kind, value)}, found {shown(instance)}"
    if kind == "pattern":
        return f"{shown(instance)} does not match {value}"
    if kind == "maxLength" and isinstance(instance, str):
        return f"{len(instance):,} characters long, at most {value} allowed"
    # jsonschema's own messages quote the whole value, which may be a 100,000-item list
    return error.message if len(error.message) <= 200 else error.message[:195] + " ..."


def _hint(kind: str, value: Any, instance: Any) -> str | None:
    if kind == "enum" and isinstance(instance, str):
        suggestion = did_you_mean(instance, [str(v) for v in value])
        return suggestion.removeprefix("; ").capitalize() or None
    if kind == "type" and isinstance(instance, str):
        return _exponent_hint(instance, value if isinstance(value, list) else [value])
    return None


# YAML 1.1, which PyYAML reads, wants a dot in a number with an exponent: 5e-2 is text.
_EXPONENT_WITHOUT_DOT = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")


def _exponent_hint(text: str, wanted: list[str]) -> str | None:
    """``5e-2`` where a number is wanted: YAML read it as text; say how to write it."""
    if len(text) > 80:  # a message quotes a value, not a file (and no typo is that long)
        return None
    if not ({"number", "integer"} & set(wanted)) or not _EXPONENT_WITHOUT_DOT.fullmatch(text):
        return None
    mantissa, exponent = re.split("[eE]", text)
    number = float(text)
    if "number" not in wanted and number.is_integer() and abs(number) < 1e18:
        written = str(int(number))
    else:
        written = f"{mantissa}.0e{exponent}"
    return f"YAML reads {text} as text (an exponent needs a dot); write {written}"
