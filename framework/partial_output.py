"""Partial output files (``.OUTPUT.XXXX.partial``): locked while written, swept once dead.

``predict`` writes beside its output and renames into place at the end, so a killed
run leaves its partial file behind (no ``finally`` runs on SIGKILL). The writer holds
an exclusive ``flock`` on the partial file for as long as it writes; the kernel drops
it when the process dies. The next write to the same output removes every partial
file of that output nobody holds: those of dead writers, never a live one's.
``store gc`` does not know where outputs were written, so this is where they go.

Only files specops named are ever removed: the name carries its mark
(``.OUTPUT.specops-PID-HEX.partial``, matched exactly), since the folder is the
user's and a file of theirs may happen to end in ``.partial``.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
from pathlib import Path

from framework.store.liveness import held


def partial_name(output: Path) -> Path:
    """A fresh partial file name beside ``output`` (pid for people, random for uniqueness)."""
    return output.parent / f".{output.name}.{MARK}-{os.getpid()}-{os.urandom(3).hex()}.partial"


MARK = "specops"
"""In every partial file's name: what the sweep recognises as its own."""


def _ours(output: Path) -> re.Pattern[str]:
    """Exactly the names ``partial_name`` (and ``claim``, while locking) give."""
    return re.compile(rf"\.{re.escape(output.name)}\.{MARK}-\d+-[0-9a-f]{{6}}\.partial(\.claim)?")


def claim(partial: Path, output: Path) -> int:
    """Sweep ``output``'s dead partial files, then create and lock ``partial``; returns
    the descriptor holding the lock (``release`` it once the file is renamed or gone)."""
    sweep(output)
    # locked under another name first: a sweeper never sees it unlocked
    claiming = partial.with_name(partial.name + ".claim")
    descriptor = os.open(claiming, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    os.replace(claiming, partial)
    return descriptor


def release(descriptor: int | None) -> None:
    if descriptor is not None:
        with contextlib.suppress(OSError):
            os.close(descriptor)


def sweep(output: Path) -> list[Path]:
    """Remove the partial files of ``output`` whose writer died; returns them."""
    ours = _ours(output)
    removed = []
    for partial in sorted(output.parent.glob(f".{glob.escape(output.name)}.{MARK}-*")):
        if ours.fullmatch(partial.name) and held(partial) is False:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
                removed.append(partial)
    return removed
