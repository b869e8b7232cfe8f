"""Stored runtime files are trusted only when they are what this specops compiles now.

A runtime's files come from a package, and a package may come from anyone (``serve
--package DIR``, a store someone else can write to). Its native model is validated
before it loads (LightGBM's text field by field, scikit-learn through the skops trust
list and the tree bounds checks), and everything a built-in runtime stores is derived
from that model. So a loader compiles the package again and compares bytes
(:func:`check_stored`) before any parser, C++ or Python, reads a stored file: what a
runtime then loads is what this specops writes for this model, never what an attacker
wrote (a graph allocating huge tensors per request, a JSON table sized for a denial of
service), whatever a check on a few probe rows would have let through.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from framework import RuntimeUnavailable


def check_stored(
    directory: Path, expected: dict[str, bytes], shown: str, action: str, writer: str
) -> None:
    """RuntimeUnavailable unless every file of ``expected`` is in ``directory`` with exactly
    those bytes: ``{shown}{file} is not what this model compiles to (edited, or written by
    another {writer} version): not {action} ({what differs})``. Reads at most one byte more
    than expected of each file, and nothing of one whose size differs."""
    for name, data in expected.items():
        differs = difference(directory / name, data)
        if differs:
            raise RuntimeUnavailable(
                f"{shown}{name} is not what this model compiles to (edited, or written by "
                f"another {writer} version): not {action} ({differs})"
            )


def difference(path: Path, expected: bytes) -> str | None:
    """How the file at ``path`` differs from ``expected`` (None: it does not)."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return "the file is missing"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file"
    if status.st_size != len(expected):
        return f"{status.st_size:,} bytes stored, {len(expected):,} compiled"
    with path.open("rb") as handle:
        stored = handle.read(len(expected) + 1)
    if stored == expected:
        return None
    if len(stored) != len(expected):  # changed while read
        return f"{len(stored):,} bytes stored, {len(expected):,} compiled"
    return f"from byte {first_difference(stored, expected):,} of {len(expected):,}"


def first_difference(a: bytes, b: bytes, block: int = 1 << 16) -> int:
    """The first offset where two equally long, unequal byte strings differ (compared a
    block at a time: a 200 MB graph is not walked byte by byte in Python)."""
    start = next(i for i in range(0, len(a), block) if a[i : i + block] != b[i : i + block])
    return next(i for i in range(start, min(start + block, len(a))) if a[i] != b[i])
