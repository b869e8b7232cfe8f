"""Where a model came from: spec, data, code and packages, recorded with every version."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from framework.registry import ComponentRegistry

PACKAGES = ("specops", "pandas", "numpy", "scikit-learn", "lightgbm", "pyarrow", "skops")


ROWS_AT_ONCE = 1 << 15
"""Rows :func:`frame_hash` hashes together: small enough that each column's temporary
arrays are reused by the allocator, not mapped and faulted in afresh per column."""


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a table: its column names, dtypes and every value (vectorised).

    Where every row's hash depends on that row alone (see :func:`_hashed_row_by_row`),
    the rows are hashed a block at a time: the same digest as for the whole table at
    once, without its whole-column temporaries.
    """
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    step = ROWS_AT_ONCE if all(map(_hashed_row_by_row, frame.dtypes)) else max(len(frame), 1)
    for start in range(0, len(frame), step):
        rows = pd.util.hash_pandas_object(frame.iloc[start : start + step], index=False)
        digest.update(rows.to_numpy().tobytes())
    return digest.hexdigest()


def _hashed_row_by_row(dtype: Any) -> bool:
    """Whether ``hash_pandas_object`` hashes each value of this dtype on its own: numbers,
    booleans, times, categories and text do. Object columns are factorised first and
    values equal to each other (``1``, ``1.0``, ``True``) all get the hash of the first
    one seen, so their hashes depend on which rows are hashed together."""
    import numpy as np
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype | pd.StringDtype):
        return True
    return isinstance(dtype, np.dtype) and dtype.kind in "biufmM"


def package_versions(extra: Iterable[str] = ()) -> dict[str, str]:
    """Python's version and each installed distribution's, core libraries first."""
    versions = {"python": platform.python_version()}
    for name in dict.fromkeys((*PACKAGES, *extra)):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(directory: Path) -> dict[str, Any] | None:
    """The commit of the repository holding the spec, and whether it had local changes.

    One ``git status`` says both (its ``branch.oid`` header is ``HEAD``): a second git
    process for ``rev-parse`` cost as much again on every run. Where that status
    fails (a git older than 2.11), ``rev-parse`` alone names the commit, as before.
    """
    status = _git(directory, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return None
    if status.returncode != 0:
        commit = _git(directory, "rev-parse", "HEAD")
        if commit is None or commit.returncode != 0:
            return None
        return {"commit": commit.stdout.strip(), "dirty": False}
    commit, dirty = None, False
    for line in status.stdout.splitlines():
        if line.startswith("# branch.oid "):
            commit = line.removeprefix("# branch.oid ").strip()
        elif not line.startswith("#"):
            dirty = True
    if commit is None or commit == "(initial)":  # no commit yet: rev-parse HEAD fails too
        return None
    return {"commit": commit, "dirty": dirty}


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    """``git ARGS`` in ``directory``; None when git cannot be run (absent, too slow)."""
    try:
        return subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None


def plugin_versions(
    registry: ComponentRegistry, components: Iterable[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """``"model knn" -> {kind, type, plugin, dist, version}`` for every component a run
    uses: a plugin upgrade that changes results then shows in ``runs diff`` and is named
    by ``reproduce``. A type a resolver hook claims has no registered plugin to name."""
    found: dict[str, dict[str, Any]] = {}
    for kind, type_name in components:
        entry = registry.find(kind, type_name)
        plugin = entry.plugin if entry else None
        found[component_key(kind, type_name)] = {
            "kind": kind,
            "type": type_name,
            "plugin": plugin.name if plugin else "resolver hook",
            "dist": plugin.dist if plugin else None,
            "version": plugin.version if plugin else None,
        }
    return found


def component_key(kind: str, type_name: str) -> str:
    """How lineage, ``runs diff`` and ``reproduce`` name a component: ``model knn``."""
    return f"{kind} {type_name}"


def plugin_distributions(plugins: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The installed distributions behind recorded plugins (not in-process ones)."""
    return [
        str(p["dist"])
        for p in plugins.values()
        if p.get("dist") and not str(p["dist"]).startswith("(")
    ]


def described(plugin: Mapping[str, Any] | None) -> str:
    """``specops-contrib-demo 0.3.1``: a recorded plugin as people name it."""
    if not plugin:
        return "not installed"
    if not plugin.get("dist"):
        return str(plugin.get("plugin") or "?")
    return f"{plugin['dist']} {plugin.get('version') or '?'}"
