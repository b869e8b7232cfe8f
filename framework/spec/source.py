"""Reading a spec file into plain data plus the position of every key and value.

PyYAML's safe loader builds the values; walking its node tree alongside records,
for each key path, where the key and the value were written, so that every later
error can point at ``file:line:column``. Duplicate keys, which YAML silently
accepts, and keys that are not text (``0:``, ``true:``, ``~:``), which JSON Schema,
sorting and the store cannot hold, are reported here. Nothing is built before the
bounds of :mod:`framework.spec.limits` (size, nesting, alias expansion) are checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from framework.errors import Location, Problem
from framework.file_kind import special_file_problem
from framework.spec.limits import Limits, location, read_bounded, scan

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
        self.rebase_many([(old, new)], source)

    def rebase_many(
        self, moves: list[tuple[KeyPath, KeyPath]], source: Positions | None = None
    ) -> None:
        """Several :meth:`rebase` moves in one pass over the tables.

        One pass, not one per move: a profile of 20,000 keys merged one rebase at a
        time was 20,000 passes over every position (minutes, for a 300 KB spec).
        """
        source = source or self
        by_old = dict(moves)
        targets = {new for _, new in moves}
        for table, source_table in ((self.keys, source.keys), (self.values, source.values)):
            moved: dict[KeyPath, Location] = {}
            for path, loc in source_table.items():
                for cut in range(len(path) + 1):
                    new = by_old.get(path[:cut])
                    if new is not None:
                        moved[new + path[cut:]] = loc
                        break
            for path in [p for p in table if _under_any(p, targets)]:
                del table[path]
            table.update(moved)


def _under_any(path: KeyPath, prefixes: set[KeyPath]) -> bool:
    return any(path[:cut] in prefixes for cut in range(len(path) + 1))


@dataclass
class SpecText:
    """A parsed spec file: its data, positions and the problems found while reading."""

    path: Path
    data: Any
    positions: Positions
    problems: list[Problem]


def read_spec_text(path: Path, limits: Limits | None = None) -> SpecText:
    """Parse ``path`` within ``limits``; YAML syntax errors, duplicate keys, keys that
    are not text and crossed bounds become located problems.

    When a bound is crossed nothing is built: ``data`` is None and the one problem
    says which bound, where.
    """
    file = str(path)
    positions = Positions()
    special = special_file_problem(path)
    if special is not None:  # opening a FIFO waits for a writer: never open one
        return SpecText(path, None, positions, [Problem(f"cannot read spec file: {special}")])
    try:
        limits = limits or Limits.from_env()
        text = read_bounded(path, limits)
    except FileNotFoundError:
        return SpecText(path, None, positions, [Problem(f"spec file not found: {file}")])
    except (OSError, UnicodeDecodeError) as exc:
        return SpecText(path, None, positions, [Problem(f"cannot read spec file {file}: {exc}")])
    if isinstance(text, Problem):
        return SpecText(path, None, positions, [text])

    node, data, problem = parse(text, file, limits)
    if problem is not None:
        return SpecText(path, None, positions, [problem])

    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), file, positions, problems)
    if any(p.message.startswith(KEYS_MUST_BE_TEXT) for p in problems):
        data = _text_keys_only(data)
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


def parse(text: str, file: str, limits: Limits) -> tuple[Any, Any, Problem | None]:
    """(node, data, None), or (None, None, problem) for bad YAML or a crossed bound."""
    loader = None
    try:
        problem = scan(text, file, limits)
        if problem is not None:
            return None, None, problem
        loader = _Loader(text)
        node = loader.get_single_node()
        try:
            data = loader.construct_document(node) if node is not None else None
        except yaml.YAMLError:
            raise
        except Exception as exc:  # a tag its text does not fit: `!!int x`, `!!int ''`
            return None, None, _tagged_value_problem(node, file, exc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = location(file, mark) if mark else None
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        hint = _tab_hint(text, mark)
        if hint:
            what += " (a tab character)"
        return None, None, Problem(f"malformed YAML: {what}", location=where, hint=hint)
    except yaml.YAMLError as exc:
        return None, None, Problem(f"malformed YAML: {exc}")
    finally:
        if loader is not None:
            loader.dispose()
    return node, data, None


def _tagged_value_problem(root: Any, file: str, exc: Exception) -> Problem:
    """The scalar whose explicit tag its text does not fit (``!!int directory``)."""
    constructor = yaml.SafeLoader.__new__(yaml.SafeLoader)
    yaml.constructor.SafeConstructor.__init__(constructor)
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            build = yaml.SafeLoader.yaml_constructors.get(node.tag)
            try:
                if build is not None:
                    build(constructor, node)
            except Exception:
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                return Problem(
                    f"malformed YAML: {node.value!r} cannot be read as {tag}",
                    location=location(file, node.start_mark),
                )
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in reversed(node.value) for n in reversed(pair))
    return Problem(f"malformed YAML: {exc}", location=Location(file, 1, 1))


def _tab_hint(text: str, mark: Any) -> str | None:
    """Name the tab on (or just before) the line YAML stumbled on: it is invisible."""
    if mark is None:
        return None
    lines = text.splitlines()
    for number in (mark.line, mark.line - 1):
        if 0 <= number < len(lines) and "\t" in lines[number]:
            column = lines[number].index("\t") + 1
            return (
                f"line {number + 1} has a tab character at column {column}: "
                "YAML indents with spaces only; replace the tab with spaces"
            )
    return None


KEYS_MUST_BE_TEXT = "keys must be text"
_KEY_KINDS = {
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:binary": "binary data (!!binary)",
    "tag:yaml.org,2002:timestamp": "a date",
}
_TEXT_TAGS = ("tag:yaml.org,2002:str", "tag:yaml.org,2002:merge")


def _key_problem(key_node: Any, path: KeyPath, file: str) -> Problem | None:
    """A key that is not text (``0:``, ``true:``, ``~:``, ``!!binary``): say so, at the key."""
    if isinstance(key_node, yaml.ScalarNode) and key_node.tag in _TEXT_TAGS:
        return None
    kind = _KEY_KINDS.get(key_node.tag, "a list or mapping")
    written = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
    quotable = written and key_node.tag != "tag:yaml.org,2002:binary"
    return Problem(
        f"{KEYS_MUST_BE_TEXT}; {written!r} is read as {kind}"
        if quotable
        else f"{KEYS_MUST_BE_TEXT}; found {kind}",
        path=dotted(path),
        location=location(file, key_node.start_mark),
        hint=f"quote it ('{written}':) if you mean the text" if quotable else None,
    )


def _text_keys_only(data: Any) -> Any:
    """``data`` without entries whose key is not text (each has been reported), so the
    later passes, which sort and format keys, see only text."""
    done: set[int] = set()
    stack = [data]
    while stack:
        value = stack.pop()
        if id(value) in done:
            continue  # an alias: the same object again
        done.add(id(value))
        if isinstance(value, dict):
            for key in [k for k in value if not isinstance(k, str)]:
                del value[key]
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return data


def node_problems(node: Any, file: str) -> list[Problem]:
    """Duplicate keys and keys that are not text in a parsed value (a ``--set`` value)."""
    problems: list[Problem] = []
    _walk(node, (), file, Positions(), problems)
    return problems


def _walk(
    node: Any, path: KeyPath, file: str, positions: Positions, problems: list[Problem]
) -> None:
    positions.values[path] = location(file, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            bad_key = _key_problem(key_node, path, file)
            if bad_key is not None:
                problems.append(bad_key)
                continue
            key = str(key_node.value)
            here = location(file, key_node.start_mark)
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
