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


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a table: its column names, dtypes and every value (vectorised)."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    rows = pd.util.hash_pandas_object(frame, index=False)
    digest.update(rows.to_numpy().tobytes())
    return digest.hexdigest()


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
    """The commit of the repository holding the spec, and whether it had local changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


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
