"""Where the treelite runtime keeps the shared libraries it builds, and how it builds them.

A stored package holds the trees as data (Treelite's checkpoint); native code is made
from it on the machine that loads it and kept in a cache this runtime owns::

    $SPECOPS_RUNTIME_CACHE | $XDG_CACHE_HOME/specops/runtimes | ~/.cache/specops/runtimes
      treelite/<key>/<compiler>/lib.so      the library
                                build.json  compiler, generator and Treelite versions,
                                            build seconds
                                measured.json  its speed here, beside native's (``auto``
                                               ranks it by this, not by registration's
                                               interpreter)

The library is specops' own C for the trees (:mod:`plugins.runtimes.trees_c`), made from
the checkpoint and compiled by a child process (:func:`main`). ``key`` is the sha256 of
the stored runtime files, the generator's version (its ABI), Treelite's version and the
machine (OS and architecture): the same model compiles once per machine, and a different
model or generator can never pick up another's library (a library an older specops
built with TL2cgen lies under another key and is never loaded). ``compiler`` is a hash
of the compiler's ``--version``: a machine with a compiler uses (or builds) its own
compiler's library; a machine without one (a served container image) takes any library
built for the key, which the image's builder stage made. A library is built in a
temporary directory beside its final place and renamed into it, under a lock: concurrent
loaders build it once and never see half a file. Only directories owned by this user or
root and writable by nobody else are trusted, so another local user cannot plant a
library here; a library is never read from the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from framework import RuntimeUnavailable

LIBRARY = "lib.so"
BUILD_RECORD = "build.json"
MEASUREMENT = "measured.json"
MAX_MEASUREMENT_BYTES = 65_536
"""A measurement is a few numbers; a larger file is not one this runtime wrote."""
TREES_FILE = "trees.tl"
BUILD_SECONDS = 600
"""A build taking longer is abandoned (gcc -O3 takes seconds for hundreds of trees;
registration bounds compile + load separately)."""
SOURCE = "lib.c"
COMPILERS = ("gcc", "clang")
"""Compilers the build runs (by name, found on PATH), with the same flags."""
UNSUPPORTED_EXIT = 3
"""The build child's exit code when the generator does not compile these trees."""


def cache_root() -> Path:
    """The cache directory for compiled trees (not created here)."""
    explicit = os.environ.get("SPECOPS_RUNTIME_CACHE")
    if explicit:
        base = Path(explicit)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "specops" / "runtimes"
    return base / "treelite"


@cache
def compiler() -> str | None:
    """The C compiler the build will use here, or None."""
    for name in COMPILERS:
        if shutil.which(name):
            return name
    return None


@cache
def compiler_version(name: str) -> str:
    """The first line of ``NAME --version`` (``gcc (Debian 12.2.0-14) 12.2.0``)."""
    try:
        done = subprocess.run(
            [name, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeUnavailable(f"{name} --version failed: {exc}") from exc
    line = (done.stdout or done.stderr).splitlines()[:1]
    if done.returncode != 0 or not line:
        raise RuntimeUnavailable(f"{name} --version failed (exit {done.returncode})")
    return line[0].strip()


def cache_key(contents: dict[str, bytes]) -> str:
    """The hash that names a model's libraries: its files, the generator's version,
    Treelite's version, the machine. Treelite's version is read from the installed
    package's metadata, not by importing treelite (numpy with it): ``models show`` asks
    whether a library is built here."""
    from importlib.metadata import version

    from plugins.runtimes.trees_c import GENERATOR_VERSION

    digest = hashlib.sha256()
    for name in sorted(contents):
        data = contents[name]
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    made_by = f"specops-trees-c {GENERATOR_VERSION}\0treelite {version('treelite')}"
    digest.update(f"{made_by}\0{platform.system()}\0{platform.machine()}".encode())
    return digest.hexdigest()


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def trusted(path: Path) -> bool:
    """Owned by this user or root, and writable by no one else."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return info.st_uid in (os.getuid(), 0) and not info.st_mode & 0o022


def trusted_above(path: Path) -> bool:
    """Every folder ``path`` sits in, as written and as resolved, is one another local
    user cannot rename entries of: owned by this user or root, and writable by no one
    else unless sticky and root's (``/tmp``). Otherwise someone could swap a folder of
    the cache for one of theirs between the checks and the library's loading."""
    for folder in {*Path(os.path.abspath(path)).parents, *path.resolve().parents}:
        try:
            info = folder.lstat()
        except OSError:
            return False
        if info.st_uid not in (os.getuid(), 0):
            return False
        if stat.S_ISLNK(info.st_mode):  # a link cannot be changed, only replaced
            continue
        if info.st_mode & 0o022 and not (info.st_mode & stat.S_ISVTX and info.st_uid == 0):
            return False
    return True


def _usable(build: Path) -> bool:
    library = build / LIBRARY
    chain = (cache_root(), build.parent, build, library)
    return trusted_above(cache_root()) and all(trusted(p) for p in chain) and library.is_file()


def cached_library(contents: dict[str, bytes]) -> Path | None:
    """The library already built for these stored files, or None. With a compiler here,
    only its own compiler's build; without one, any build for the key (an image's
    builder stage made it)."""
    base = cache_root() / cache_key(contents)
    name = compiler()
    if name is None:
        built = sorted(p for p in base.glob("*") if not p.name.startswith(".") and _usable(p))
        return built[0] / LIBRARY if built else None
    final = base / _short(compiler_version(name))
    return final / LIBRARY if _usable(final) else None


def library_for(contents: dict[str, bytes]) -> Path:
    """The compiled library for these stored files: from the cache, else built into it."""
    found = cached_library(contents)
    if found is not None:
        return found
    base = cache_root() / cache_key(contents)
    name = compiler()
    if name is None:
        raise RuntimeUnavailable(
            f"no C compiler here (gcc or clang) and no compiled trees for this model in "
            f"{base.parent} (build them where a compiler is: specops runtimes prepare "
            "PACKAGE_DIR, with the same SPECOPS_RUNTIME_CACHE)"
        )
    final = base / _short(compiler_version(name))
    _make_dir(base)
    with _locked(base / ".lock"):
        if _usable(final):  # another process built it while this one waited
            return final / LIBRARY
        return _build(contents[TREES_FILE], name, final) / LIBRARY


def _make_dir(path: Path) -> None:
    """``path`` (a key's directory) made, refusing a cache others could plant files in."""
    root = cache_root()
    path.mkdir(parents=True, exist_ok=True, mode=0o755)
    if not trusted_above(root):
        raise RuntimeUnavailable(
            f"the runtime cache {root} is in a folder other users can write to or that "
            "someone else owns; set SPECOPS_RUNTIME_CACHE to a directory of your own"
        )
    for directory in (root, path):
        if not trusted(directory):
            raise RuntimeUnavailable(
                f"the runtime cache {directory} is writable by other users or owned by "
                "someone else; set SPECOPS_RUNTIME_CACHE to a directory of your own"
            )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(trees: bytes, name: str, final: Path) -> Path:
    """Compile ``trees`` with ``name`` into ``final``: built beside it by a child process
    (see :func:`main`), then renamed into place. A child, so that gcc's output is
    captured rather than written over the server's, a crash on a bad file is the
    child's, the generator's memory is given back, and the build is bounded in time."""
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    started = time.perf_counter()
    try:
        (scratch / TREES_FILE).write_bytes(trees)
        source = str(Path(__file__).resolve().parents[2])  # where `plugins` is importable
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": source + (os.pathsep + path if path else "")}
        returncode, said = _run_child([*_child_python(), str(scratch), name], env, scratch)
        if returncode == UNSUPPORTED_EXIT:
            raise RuntimeUnavailable(f"its trees are not compiled: {said}")
        if returncode != 0 or not (scratch / LIBRARY).is_file():
            raise RuntimeError(f"exit {returncode}: {said}")
        for made in scratch.iterdir():  # the checkpoint, the C, the objects
            if made.name != LIBRARY:
                made.unlink()
        from importlib.metadata import version

        from plugins.runtimes.trees_c import GENERATOR_VERSION

        record = {
            "compiler": compiler_version(name),
            "generator": GENERATOR_VERSION,
            "treelite": version("treelite"),
            "seconds": round(time.perf_counter() - started, 3),
        }
        (scratch / BUILD_RECORD).write_text(json.dumps(record), encoding="utf-8")
        os.chmod(scratch, 0o755)  # readable by the user a container serves as
        (scratch / LIBRARY).chmod(0o644)
        try:
            os.rename(scratch, final)
        except OSError:  # built meanwhile by a loader that did not take the lock
            if not _usable(final):
                raise
    except RuntimeUnavailable:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise RuntimeError(f"building the compiled trees failed: {exc}") from exc
    shutil.rmtree(scratch, ignore_errors=True)
    return final


def _run_child(command: list[str], env: dict[str, str], scratch: Path) -> tuple[int, str]:
    """Run the build child in a session of its own: at :data:`BUILD_SECONDS` the whole
    session is killed, the compilers it started with it (killing the child alone left
    them running on, into a folder already removed). Returns its exit code and the tail
    of what it said."""
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=scratch,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=BUILD_SECONDS)
    except subprocess.TimeoutExpired as exc:
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise RuntimeError(f"took longer than {BUILD_SECONDS} s") from exc
    return child.returncode, " ".join((err or out).split())[-400:]


def _child_python() -> list[str]:
    """The build child's command, without its working directory on ``sys.path``: ``python
    -m`` puts it first, so a ``numpy.py`` where specops was started would run in the
    child (it also runs in its own fresh scratch folder)."""
    if sys.version_info >= (3, 11):
        return [sys.executable, "-P", "-m", "plugins.runtimes.treelite_cache"]
    run = (
        "import runpy, sys; sys.path.pop(0); "
        "runpy.run_module('plugins.runtimes.treelite_cache', run_name='__main__')"
    )
    return [sys.executable, "-c", run]


def main(argv: list[str]) -> int:
    """The build child: ``SCRATCH COMPILER`` -> ``SCRATCH/lib.so`` from ``SCRATCH/trees.tl``:
    the trees' C from :func:`plugins.runtimes.trees_c.generate`, compiled with its flags.
    Exit :data:`UNSUPPORTED_EXIT`, saying why, for trees the generator does not compile."""
    import treelite

    from plugins.runtimes.trees_c import CFLAGS, COMPILE_FLAGS, Unsupported, generate_units

    scratch, name = Path(argv[0]), argv[1]
    if name not in COMPILERS:
        print(f"unknown compiler {name!r}", file=sys.stderr)
        return 2
    model = treelite.Model.deserialize_bytes((scratch / TREES_FILE).read_bytes())
    try:
        sources = generate_units(model, _build_cores())
    except Unsupported as exc:
        print(str(exc), file=sys.stderr)
        return UNSUPPORTED_EXIT
    library = str(scratch / LIBRARY)
    if len(sources) == 1:
        (scratch / SOURCE).write_text(sources[0], encoding="ascii")
        command = [name, *CFLAGS, "-o", library, str(scratch / SOURCE), "-lm"]
        return _failed(subprocess.run(command, check=False).returncode)
    objects = []
    compiling = []
    for index, text in enumerate(sources):  # one compiler per file, all at once
        code, obj = scratch / f"unit{index}.c", str(scratch / f"unit{index}.o")
        code.write_text(text, encoding="ascii")
        objects.append(obj)
        compiling.append(subprocess.Popen([name, *COMPILE_FLAGS, "-c", "-o", obj, str(code)]))
    failed = [code for code in (p.wait() for p in compiling) if code != 0]
    if failed:
        return _failed(failed[0])
    linked = subprocess.run([name, "-shared", "-o", library, *objects, "-lm"], check=False)
    return _failed(linked.returncode)


def _failed(code: int) -> int:
    """A compiler's exit code as the child's: 0, or 1 for any failure (a compiler exiting
    with :data:`UNSUPPORTED_EXIT` must not read as "the generator refused the trees")."""
    return 0 if code == 0 else 1


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count),
    at most what ``OMP_NUM_THREADS`` allows (a user's way to cap a process's threads)."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return min(cores, int(limit)) if limit.isdigit() and int(limit) > 0 else cores


def _build_cores() -> int:
    """Files the trees' C is split into: one per core the build may use, at most 8."""
    return min(usable_cores(), 8)


def build_record(library: Path) -> dict[str, object]:
    """What :func:`_build` recorded beside ``library`` (empty when unreadable)."""
    try:
        return json.loads((library.parent / BUILD_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def record_measurement(library: Path, measured: dict[str, object]) -> bool:
    """Keep ``measured`` (the built library's speed here) beside ``library``: written
    whole then renamed, so a reader never sees half of it. False when it cannot be
    written (an image's cache is read-only to the user who serves): the library still
    serves when asked for, and ``auto`` ranks it as registration measured it."""
    build = library.parent
    if not _usable(build):
        return False
    scratch = build / f".measured-{os.getpid()}-{time.monotonic_ns()}"
    try:
        scratch.write_text(json.dumps(measured, sort_keys=True), encoding="utf-8")
        scratch.chmod(0o644)
        os.replace(scratch, build / MEASUREMENT)
    except OSError:
        with contextlib.suppress(OSError):
            scratch.unlink()
        return False
    return True


def read_measurement(library: Path) -> dict[str, object]:
    """What :func:`record_measurement` kept beside ``library`` (empty when there is none,
    or it is not a small JSON object)."""
    path = library.parent / MEASUREMENT
    try:
        if path.stat().st_size > MAX_MEASUREMENT_BYTES:
            return {}
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
