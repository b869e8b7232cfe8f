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

Staging directories (``.OUT-new-specops-PID-HEX``) are the same for a whole output
directory: ``predict --execution dask`` and the ``directory``/``container`` deploy
targets fill one beside their output and rename it into place
(:func:`framework.export.replace_directory`). The lock cannot live inside (it would
become part of the output, and a release lists its files), so it is a sibling,
``.OUT-new-specops-PID-HEX.lock``, holding the writer's host and pid: created and
locked before the directory, removed after it is renamed or deleted. The next write
of the same output removes a staging directory whose lock file exists, is specops'
(its first line) and is no longer held, and that one's ``.OUT-old-...`` twin (the
previous output, when the writer died in the middle of the swap). A directory
without its lock file is never removed: it is not known to be specops'.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import shutil
import socket
from collections.abc import Iterator
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


def leftovers(output: Path) -> list[Path]:
    """The partial files of ``output`` that specops made and that are still there."""
    ours = _ours(output)
    found = output.parent.glob(f".{glob.escape(output.name)}.{MARK}-*")
    return sorted(partial for partial in found if ours.fullmatch(partial.name))


# --- staging directories ------------------------------------------------------------

STAGING_OWNER = "specops staging directory"
"""The first words of a staging lock file: what the sweep takes as proof it is specops'."""

STAGING_ADDED = len(f".-new-{MARK}-") + 7 + 1 + 6 + len(".lock.claim")
"""Characters a staging lock's name adds to the output's name (pids have at most 7
digits on Linux): what a deploy path's length check allows for."""


def _staging(target: Path, kind: str = "new") -> re.Pattern[str]:
    """Exactly the names :func:`staging_directory` gives (its lock: ``.lock``)."""
    return re.compile(rf"\.{re.escape(target.name)}-{kind}-{MARK}-\d+-[0-9a-f]{{6}}")


@contextlib.contextmanager
def staging_directory(target: Path) -> Iterator[tuple[Path, Path]]:
    """A fresh, empty staging directory beside ``target`` and the name to retire the old
    ``target`` to, both specops' for as long as this process lives: dead ones of
    ``target`` are swept first. On leaving, the staging directory (unless renamed away)
    and the retired name are removed, then the lock."""
    sweep_staging(target)
    name = f".{target.name}-new-{MARK}-{os.getpid()}-{os.urandom(3).hex()}"
    staging = target.parent / name
    retired = target.parent / name.replace("-new-", "-old-", 1)
    lock = staging.with_name(name + ".lock")
    claiming = lock.with_name(lock.name + ".claim")
    # locked under another name first: a sweeper never sees the lock file unlocked
    descriptor = os.open(claiming, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    made = False  # only a staging directory this call made is removed on leaving
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.write(descriptor, f"{STAGING_OWNER}: {socket.gethostname()} {os.getpid()}\n".encode())
        os.replace(claiming, lock)
        os.mkdir(staging, 0o700)
        made = True
        yield staging, retired
    finally:
        for leftover in (staging, retired) if made else ():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
        for name_left in (lock, claiming):
            with contextlib.suppress(FileNotFoundError):
                name_left.unlink()
        release(descriptor)


def sweep_staging(target: Path) -> list[Path]:
    """Remove ``target``'s staging directories (and retired twins) whose writer died;
    returns the directories removed."""
    ours = _staging(target)
    removed = []
    pattern = f".{glob.escape(target.name)}-new-{MARK}-*.lock*"
    for lock in sorted(target.parent.glob(pattern)):
        name, dot, rest = lock.name.rpartition(".lock")
        if not dot or rest not in ("", ".claim") or not ours.fullmatch(name):
            continue
        if lock.is_symlink() or not _staging_lock(lock) or held(lock) is not False:
            continue
        for directory in (lock.with_name(name), lock.with_name(name.replace("-new-", "-old-", 1))):
            if directory.is_dir() and not directory.is_symlink():
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
    return removed


def _staging_lock(lock: Path) -> bool:
    """Whether ``lock`` is a staging lock specops wrote: its first line says so (an empty
    claim, its writer killed between creating and locking it, is left alone: it may be
    a live writer's a moment before its lock)."""
    try:
        with open(lock, "rb") as stream:
            first = stream.read(len(STAGING_OWNER))
    except OSError:
        return False
    return first == STAGING_OWNER.encode()
