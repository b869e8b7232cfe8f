"""Reading a spec file into plain data plus the position of every key and value.

PyYAML's safe loader builds the values; walking its node tree alongside records,
for each key path, where the key and the value were written, so that every later
error can point at ``file:line:column``. Duplicate keys, which YAML silently
accepts, are reported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from framework.errors import Location, Problem

KeyPath = tuple[str | int, ...]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Positions:
    """Where each key path was written: the key itself and its value."""

    keys: dict[KeyPath, Location] = field(default_factory=dict)
    values: dict[KeyPath, Location] = field(default_factory=dict)

    def of_value(self, path: KeyPath) -> Location | None:
        """The closest written position for a path (walking up to a parent if needed)."""
        while True:
            if path in self.values:
                return self.values[path]
            if not path:
                return None
            path = path[:-1]

    def of_key(self, path: KeyPath) -> Location | None:
        return self.keys.get(path) or self.of_value(path)

    def rebase(self, old: KeyPath, new: KeyPath, source: Positions | None = None) -> None:
        """Make the positions under ``old`` (in ``source``) describe path ``new`` here."""
        source = source or self
        for table, source_table in ((self.keys, source.keys), (self.values, source.values)):
            moved = {
                new + p[len(old) :]: loc for p, loc in source_table.items() if p[: len(old)] == old
            }
            for p in [p for p in table if p[: len(new)] == new]:
                del table[p]
            table.update(moved)


@dataclass
class SpecText:
    """A parsed spec file: its data, positions and the problems found while reading."""

    path: Path
    data: Any
    positions: Positions
    problems: list[Problem]


def _location(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def read_spec_text(path: Path) -> SpecText:
    """Parse ``path``; YAML syntax errors and duplicate keys become located problems."""
    file = str(path)
    positions = Positions()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SpecText(path, None, positions, [Problem(f"spec file not found: {file}")])
    except (OSError, UnicodeDecodeError) as exc:
        return SpecText(path, None, positions, [Problem(f"cannot read spec file {file}: {exc}")])

    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _location(file, mark) if mark else None
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        return SpecText(path, None, positions, [Problem(f"malformed YAML: {what}", location=where)])
    except yaml.YAMLError as exc:
        return SpecText(path, None, positions, [Problem(f"malformed YAML: {exc}")])
    finally:
        loader.dispose()

    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), file, positions, problems)
    if not isinstance(data, dict):
        found = "an empty file" if data is None else type(data).__name__
        problems.append(
            Problem(
                "a spec must be a mapping of keys (name, task, data, model, ...)",
                location=positions.of_value(()) or Location(file, 1, 1),
                expected="mapping",
                found=found,
            )
        )
    return SpecText(path, data, positions, problems)


def _walk(
    node: Any, path: KeyPath, file: str, positions: Positions, problems: list[Problem]
) -> None:
    positions.values[path] = _location(file, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            here = _location(file, key_node.start_mark)
            if key in seen:
                problems.append(
                    Problem(
                        f"duplicate key '{key}' (first written at line {seen[key].line})",
                        path=dotted(path + (key,)),
                        location=here,
                    )
                )
            seen[key] = here
            positions.keys[path + (key,)] = here
            _walk(value_node, path + (key,), file, positions, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), file, positions, problems)


def dotted(path: KeyPath) -> str:
    """``("model", "params", "lr")`` -> ``model.params.lr``; list indexes as ``[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
