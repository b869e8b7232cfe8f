"""Where the treelite runtime keeps the shared libraries it builds, and how it builds them.

A stored package holds the trees as data (Treelite's checkpoint); native code is made
from it on the machine that loads it and kept in a cache this runtime owns::

    $SPECOPS_RUNTIME_CACHE | $XDG_CACHE_HOME/specops/runtimes | ~/.cache/specops/runtimes
      treelite/<key>/<compiler>/lib.so      the library
                                build.json  compiler, tl2cgen version, build seconds
                                measured.json  its speed here, beside native's (``auto``
                                               ranks it by this, not by registration's
                                               interpreter)

``key`` is the sha256 of the stored runtime files, the tl2cgen version and the machine
(OS and architecture): the same model compiles once per machine, and a different model
or tl2cgen can never pick up another's library. ``compiler`` is a hash of the compiler's
``--version``: a machine with a compiler uses (or builds) its own compiler's library; a
machine without one (a served container image) takes any library built for the key,
which the image's builder stage made. A library is built in a temporary directory beside
its final place and renamed into it, under a lock: concurrent loaders build it once and
never see half a file. Only directories owned by this user or root and writable by
nobody else are trusted, so another local user cannot plant a library here; a library
is never read from the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
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
"""A build taking longer is abandoned (TL2cgen with gcc -O3 takes seconds for hundreds of
trees; registration bounds compile + load separately)."""
COMPILERS = ("gcc", "clang")
"""Toolchains TL2cgen drives (it runs them by name)."""


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
    """The C compiler TL2cgen will use here, or None."""
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
    """The hash that names a model's libraries: its files, tl2cgen's version, the machine.
    The version is read from the installed package's metadata, not by importing tl2cgen
    (numpy with it): ``models show`` asks whether a library is built here."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for name in sorted(contents):
        data = contents[name]
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    digest.update(
        f"tl2cgen {version('tl2cgen')}\0{platform.system()}\0{platform.machine()}".encode()
    )
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


def _usable(build: Path) -> bool:
    library = build / LIBRARY
    chain = (cache_root(), build.parent, build, library)
    return all(trusted(p) for p in chain) and library.is_file()


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
    path.mkdir(parents=True, exist_ok=True, mode=0o755)
    for directory in (cache_root(), path):
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
    (see :func:`main`), then renamed into place. A child, so that TL2cgen's and gcc's
    output is captured rather than written over the server's, a crash on a bad file is
    the child's, and the build is bounded in time."""
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    started = time.perf_counter()
    try:
        (scratch / TREES_FILE).write_bytes(trees)
        source = str(Path(__file__).resolve().parents[2])  # where `plugins` is importable
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": source + (os.pathsep + path if path else "")}
        try:
            done = subprocess.run(
                [sys.executable, "-m", "plugins.runtimes.treelite_cache", str(scratch), name],
                capture_output=True,
                text=True,
                timeout=BUILD_SECONDS,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"took longer than {BUILD_SECONDS} s") from exc
        if done.returncode != 0 or not (scratch / LIBRARY).is_file():
            said = " ".join((done.stderr or done.stdout).split())[-400:]
            raise RuntimeError(f"exit {done.returncode}: {said}")
        (scratch / TREES_FILE).unlink()
        import tl2cgen

        record = {
            "compiler": compiler_version(name),
            "tl2cgen": tl2cgen.__version__,
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
    except Exception as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise RuntimeError(f"building the compiled trees failed: {exc}") from exc
    shutil.rmtree(scratch, ignore_errors=True)
    return final


def main(argv: list[str]) -> int:
    """The build child: ``SCRATCH COMPILER`` -> ``SCRATCH/lib.so`` from ``SCRATCH/trees.tl``."""
    import tl2cgen
    import treelite

    scratch, name = Path(argv[0]), argv[1]
    if name not in COMPILERS:
        print(f"unknown compiler {name!r}", file=sys.stderr)
        return 2
    threads = max(1, min(os.cpu_count() or 1, 8))
    model = treelite.Model.deserialize_bytes((scratch / TREES_FILE).read_bytes())
    tl2cgen.export_lib(
        model,
        toolchain=name,
        libpath=str(scratch / LIBRARY),
        params={"parallel_comp": threads},
        nthread=threads,
    )
    return 0


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
