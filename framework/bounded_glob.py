"""Expanding a data path's glob with a bound on what the walk may look at.

A spec's ``path: "/**/*.csv"`` (or ``--input '/**/*.parquet'``) made ``glob.glob``
walk the whole file system: ``specops validate`` of a one-line spec ran for minutes,
and ``glob`` follows symbolic links to directories, so ``/proc/self/root`` leads
back to ``/`` again and again. Here ``**`` never descends through a symbolic link,
and the walk stops, with a DataError naming the pattern, once it has looked at
:data:`MAX_GLOB_ENTRIES` directory entries or matched :data:`MAX_GLOB_FILES` files.
The matches are glob's: ``*``, ``?`` and ``[...]`` within a name, ``**`` for any
depth, names starting with ``.`` matched only by a part starting with ``.``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator

from framework.data_limits import Limit
from framework.errors import DataError

MAX_GLOB_ENTRIES = Limit("entries", 1_000_000, "SPECOPS_MAX_GLOB_ENTRIES", "directory entries")
MAX_GLOB_FILES = Limit("files", 100_000, "SPECOPS_MAX_GLOB_FILES", "files")

MAGIC = frozenset("*?[")


class _Budget:
    """Directory entries looked at so far, refused past the limit."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.limit = MAX_GLOB_ENTRIES.value()
        self.seen = 0

    def spend(self, entries: int) -> None:
        self.seen += entries
        if self.seen > self.limit:
            raise DataError(
                f"the glob {self.pattern} looks at more than {self.limit:,} directory entries "
                "(a pattern such as /**/*.csv walks the whole file system); name the folder "
                "that holds the data",
                hint=f"or set {MAX_GLOB_ENTRIES.env} (default {MAX_GLOB_ENTRIES.default:,}) "
                "to look further",
            )


def bounded_glob(pattern: str) -> list[str]:
    """What ``glob.glob(pattern, recursive=True)`` matches, sorted, within the bounds."""
    limit = MAX_GLOB_FILES.value()
    budget = _Budget(pattern)
    found: list[str] = []
    absolute = os.path.isabs(pattern)
    given = [p for p in pattern.split(os.sep) if p]
    parts = [  # "**/**" matches what "**" does: walked once, not once per "**"
        p for i, p in enumerate(given) if not (p == "**" and i and given[i - 1] == "**")
    ]
    start = os.sep if absolute else os.curdir
    for match in _match(start, parts, budget):
        found.append(match if absolute else os.path.relpath(match, os.curdir))
        if len(found) > limit:
            raise DataError(
                f"the glob {pattern} matches more than {limit:,} files; name fewer files "
                "(or merge them into bigger ones)",
                hint=f"or set {MAX_GLOB_FILES.env} (default {MAX_GLOB_FILES.default:,}) "
                "to allow more",
            )
    return sorted(set(found))


def _entries(directory: str, budget: _Budget) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as listing:
            entries = list(listing)
    except OSError:  # unreadable or vanished: glob skips it too
        return []
    budget.spend(len(entries))
    return entries


def _is_dir(entry: os.DirEntry[str], *, follow: bool) -> bool:
    try:
        return entry.is_dir(follow_symlinks=follow)
    except OSError:
        return False


def _match(directory: str, parts: list[str], budget: _Budget) -> Iterator[str]:
    if not parts:
        yield directory
        return
    head, rest = parts[0], parts[1:]
    if head == "**" and not rest:  # a trailing **: everything below, files too
        yield os.path.join(directory, "")
        yield from _subdirectories(directory, budget, files=True)
        return
    if head == "**":
        yield from _match(directory, rest, budget)  # ** matches no folder too
        for sub in _subdirectories(directory, budget):
            yield from _match(sub, rest, budget)
        return
    if not MAGIC & set(head):
        path = os.path.join(directory, head)
        if os.path.lexists(path) and (not rest or os.path.isdir(path)):
            yield from _match(path, rest, budget)
        return
    for entry in _entries(directory, budget):
        if entry.name.startswith(".") and not head.startswith("."):
            continue
        if not fnmatch.fnmatchcase(entry.name, head):
            continue
        if rest and not _is_dir(entry, follow=True):
            continue
        yield from _match(os.path.join(directory, entry.name), rest, budget)


def _subdirectories(directory: str, budget: _Budget, *, files: bool = False) -> Iterator[str]:
    """Every folder below ``directory`` (not hidden, never through a symbolic link), and
    with ``files`` every other entry too; a stack, not recursion: depth costs no frames."""
    stack = [directory]
    while stack:
        below = []
        for entry in _entries(stack.pop(), budget):
            if entry.name.startswith("."):
                continue
            if _is_dir(entry, follow=False):
                below.append(entry.path)
            elif files:
                yield entry.path
        yield from below
        stack.extend(reversed(below))
