"""Refusing, before opening, a path that is not a regular file or a directory.

Opening a FIFO (named pipe) for reading waits for a writer, forever if none
comes; a character device such as ``/dev/zero`` or ``/dev/urandom`` never ends,
so a reader that looks for the end of a line reads on without bound. A spec,
a data file or a report path given by a careless or hostile user can name
either, so every reader asks here first: ``os.stat`` neither opens nor blocks.
A symbolic link is judged by what it points to.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from framework.errors import DataError

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)

HINT = (
    "specops reads and writes regular files only (a pipe or device could wait or "
    "run forever); write the data to a file and name that"
)


def special_kind(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is when it is neither a regular file nor a directory, else None
    (None too when it does not exist: the caller's own check names that better)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None


def special_file_problem(path: str | os.PathLike[str]) -> str | None:
    """``"<path> is a FIFO (named pipe), not a regular file"``, or None when it is fine."""
    kind = special_kind(path)
    return None if kind is None else f"{Path(path)} is {kind}, not a regular file"


def require_regular(path: str | os.PathLike[str], what: str = "") -> None:
    """Raise a :class:`DataError` when ``path`` is a FIFO, device or socket.

    ``what`` names the role in the message ("input", "data file"), when useful.
    """
    problem = special_file_problem(path)
    if problem is not None:
        raise DataError(f"{what} {problem}" if what else problem, hint=HINT)
