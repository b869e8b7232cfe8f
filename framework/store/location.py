"""Where a store is when nobody says: found the way git finds ``.git``.

A spec's runs go to ``.specops`` at its project root (the nearest folder above the
spec holding ``.git`` or ``pyproject.toml``), so ``specops run specs/x.yaml``
followed by ``specops models list`` from that root finds what was just made. A
spec outside any project keeps its store beside it, and a ``.specops`` that already
sits beside the spec (made by an older specops) stays in use, so no store is
abandoned by an upgrade.

Commands that read a store without a spec (``models``, ``runs``, ``predict``,
``serve``, ...) look for ``.specops`` from the working directory upward.
"""

from __future__ import annotations

from pathlib import Path

STORE_DIR = ".specops"
PROJECT_MARKERS: tuple[str, ...] = (".git", "pyproject.toml")


def default_store_dir(spec_path: Path) -> Path:
    """The store a spec writes to when ``store.path`` is not given."""
    spec_dir = spec_path.resolve().parent
    beside = spec_dir / STORE_DIR
    if beside.is_dir():
        return beside
    for folder in (spec_dir, *spec_dir.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder / STORE_DIR
    return beside


def find_store_dir(start: Path | None = None) -> Path:
    """The nearest ``.specops`` from ``start`` (the working directory) upward.

    With none found, ``./.specops``: the error that follows names it.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / STORE_DIR
        if candidate.is_dir():
            return candidate
    return here / STORE_DIR
