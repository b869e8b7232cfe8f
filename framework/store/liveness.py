"""Is the process that owns this run (or these temp files) still alive? Ask the kernel.

A live process holds an exclusive ``flock`` on a lock file of its own under
``.specops/live/``; the kernel drops the lock the moment the process dies, however it
dies (SIGKILL, OOM, power off of a container). So "is it live?" is "is its lock
held?", which, unlike host and PID, survives PID reuse (a container whose process is
always PID 1 on a stable hostname). Host and PID are still recorded, for display.

Two kinds of lock: ``open-*`` for every process that has the store open for writing
(its temporary files are protected from ``store gc``), and ``run-RUN_ID`` for the
duration of one run (``runs list`` shows a dead one as ``interrupted``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

LIVE_DIR = "live"
"""The directory of lock files inside a store."""


class LiveLock:
    """A lock file this process holds until ``release`` (or until it dies)."""

    def __init__(self, path: Path) -> None:
        # locked under another name first, then renamed: a ``*.lock`` file is held from
        # the moment it exists, so ``store gc`` never takes a lock being made for stale
        self.path = path.with_name(path.name + ".claim")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # a fresh, unique name: granted at once
            line = f"{socket.gethostname()} {os.getpid()} {time.time():.3f}\n"
            os.write(self._fd, line.encode())
            os.replace(self.path, path)
            self.path = path
        except OSError as exc:  # a full disk: name the file, leave no empty lock behind
            self.release()
            if exc.filename is None:
                exc.filename = str(path)
            raise

    @classmethod
    def for_process(cls, root: Path) -> LiveLock:
        return cls(root / LIVE_DIR / f"open-{os.getpid()}-{uuid.uuid4().hex[:8]}.lock")

    @classmethod
    def for_run(cls, root: Path, run_id: str) -> LiveLock:
        return cls(root / LIVE_DIR / f"run-{run_id}.lock")

    def release(self) -> None:
        """Remove the file, then let go: a prober never finds a held lock of a done process."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def held(path: Path | str, *, dir_fd: int | None = None) -> bool | None:
    """True while a live process holds the lock, False once it died, None: no such file.
    ``dir_fd``: ``path`` is a name in that open directory (no path resolved again)."""
    try:
        fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the lock if we took it
    return False


@dataclass(frozen=True)
class LiveProcess:
    """A process holding one of the store's locks: since when (the lock's mtime)."""

    lock: Path
    since: float


def live_processes(
    root: Path, exclude: set[Path] | frozenset[Path] = frozenset()
) -> list[LiveProcess]:
    """Every process holding a lock of the store right now (``exclude``: our own)."""
    directory = root / LIVE_DIR
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.lock")):
        if path in exclude or not held(path):
            continue
        with contextlib.suppress(FileNotFoundError):
            found.append(LiveProcess(path, path.stat().st_mtime))
    return found


def stale_locks(root: Path) -> list[Path]:
    """Lock files whose process died: nothing holds them any more."""
    directory = root / LIVE_DIR
    if not directory.is_dir():
        return []
    return [path for path in sorted(directory.glob("*.lock")) if held(path) is False]


_DEAD_LOCKS: set[tuple[int, int, str, int]] = set()
"""``(device, directory inode, name, inode)`` of lock files this process found unheld.
A lock file is held from the moment it has its name (``LiveLock`` locks it under a
``.claim`` name first), so one found unheld stays dead: it is not probed again."""
_MAX_DEAD_LOCKS = 1_000_000


def held_lock_names(root: Path, prefix: str = "") -> set[str]:
    """The names of the lock files under ``live/`` (those starting with ``prefix``) that a
    live process holds right now.

    One directory listing; a non-blocking ``flock`` for each file not already known dead
    (no stat: the inode comes with the listing). It lists every live run at once, so a
    view over thousands of killed runs (their lock files left behind, unheld) asks the
    kernel once per new file, not the store once per run."""
    try:
        directory = os.open(root / LIVE_DIR, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    found: set[str] = set()
    try:
        where = os.fstat(directory)
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if not (name.startswith(prefix) and name.endswith(".lock")):
                    continue
                key = (where.st_dev, where.st_ino, name, entry.inode())
                if key in _DEAD_LOCKS:
                    continue
                state = held(name, dir_fd=directory)
                if state:
                    found.add(name)
                elif state is False:
                    if len(_DEAD_LOCKS) >= _MAX_DEAD_LOCKS:
                        _DEAD_LOCKS.clear()
                    _DEAD_LOCKS.add(key)
    finally:
        os.close(directory)
    return found
