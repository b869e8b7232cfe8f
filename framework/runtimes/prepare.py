"""Building what a package's runtimes need where they will run, before they serve.

A runtime stores data only; one that runs native code (compiled trees) builds it at
``load`` into a cache of its own. A container image has no compiler at run time, so its
builder stage runs ``specops runtimes prepare /model``: each verified runtime that
defines the optional ``prepare(package, directory) -> str | None`` builds its cache
there (the image then copies the cache), and a failure stops the build rather than ship
an image that would quietly serve natively.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from framework.runtimes.choose import recorded_verdicts
from framework.runtimes.compile import RUNTIMES_DIR
from framework.runtimes.lookup import KIND, NATIVE, build

if TYPE_CHECKING:
    from framework.plugins import Plugins


@dataclass
class Prepared:
    """What preparing one runtime did: ``ok``, and a one-line note (its cache, or why not)."""

    runtime: str
    ok: bool
    note: str


def prepare_package(directory: Path, plugins: Plugins) -> list[Prepared]:
    """Prepare every runtime the package in ``directory`` verified (native excluded)."""
    from framework.package import ModelPackage

    package = ModelPackage(directory, plugins)
    installed = set(plugins.registry.types(KIND))
    done: list[Prepared] = []
    for name, verdict in recorded_verdicts(package).items():
        if name == NATIVE or not verdict.get("verified"):
            continue
        if name not in installed:
            done.append(Prepared(name, False, "its plugin is not installed here"))
            continue
        try:
            runtime = build(name, plugins)
            prepare = getattr(runtime, "prepare", None)
            if prepare is None:
                done.append(Prepared(name, True, "nothing to prepare"))
                continue
            note = prepare(package, Path(directory) / RUNTIMES_DIR / name)
        except Exception as exc:  # said per runtime; the command's exit code says no
            text = " ".join(str(exc).split())
            done.append(Prepared(name, False, f"{type(exc).__name__}: {text}"[:400]))
            continue
        done.append(Prepared(name, True, str(note) if note else "prepared"))
    return done
