"""Exact versions for every Python package the container image installs.

A model is only known to behave as it was gated with the libraries it was trained
with, so the image pins them to the versions recorded in its ``model.json``
(``lineage.packages``: pandas, numpy, scikit-learn, LightGBM, pyarrow, skops). The
rest of what ``specops[serve]`` pulls in (uvicorn, orjson, scipy, ...) is pinned to
the versions installed where the deploy ran: the versions this specops was tested
with. pip reads the result as a constraints file, so a package the resolver does not
need is ignored rather than installed.
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = "specops"
ROOT_EXTRAS = frozenset({"serve"})
NOT_PACKAGES = frozenset({"python"})
IMAGE_PLATFORM = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
"""The marker values of the image (Linux), whatever system writes the build context."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*")
"""A distribution name and a PEP 440 version: nothing else reaches ``constraints.txt``,
so a model.json cannot add a line (``--index-url ...``) to it."""


@dataclass
class Pins:
    """``versions`` by canonical name; ``recorded`` the names model.json fixed;
    ``unpinned`` requirements no version could be found for (not installed here)."""

    versions: dict[str, str] = field(default_factory=dict)
    recorded: set[str] = field(default_factory=set)
    unpinned: list[str] = field(default_factory=list)
    python: str | None = None

    def constraints(self) -> str:
        lines = [
            "# Written by specops' container target: exact versions for the image.",
            "# From the model's model.json (lineage.packages): "
            + (", ".join(sorted(self.recorded)) or "none recorded"),
            "# The others: as installed where the model was deployed.",
        ]
        lines += [f"{name}=={version}" for name, version in sorted(self.versions.items())]
        if self.unpinned:
            lines.append("# not installed where the deploy ran, so not pinned: ")
            lines[-1] += ", ".join(sorted(self.unpinned))
        return "\n".join(lines) + "\n"


def recorded_packages(package_dir: Path) -> dict[str, str]:
    """``lineage.packages`` of a model package's model.json ({} when absent)."""
    try:
        meta = json.loads((package_dir / "model.json").read_text(encoding="utf-8"))
        packages = meta.get("lineage", {}).get("packages", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(packages, dict):
        return {}
    return {
        k: v
        for k, v in packages.items()
        if isinstance(k, str) and isinstance(v, str) and NAME.fullmatch(k) and VERSION.fullmatch(v)
    }


def image_pins(recorded: Mapping[str, str]) -> Pins:
    """Every distribution ``specops[serve]`` needs on Linux, at an exact version:
    ``recorded`` (the model's) first, else the installed one. specops itself is left
    out: the image installs it from its bundled source or by an explicit requirement."""
    from packaging.utils import canonicalize_name

    pins = Pins(python=recorded.get("python"))
    for name, version in recorded.items():
        if name not in NOT_PACKAGES and canonicalize_name(name) != ROOT:
            pins.versions[canonicalize_name(name)] = version
            pins.recorded.add(canonicalize_name(name))
    installed, missing = _installed_closure()
    for name, version in installed.items():
        if name != ROOT:
            pins.versions.setdefault(name, version)
    pins.unpinned = sorted(missing - pins.versions.keys())
    return pins


def _installed_closure() -> tuple[dict[str, str], set[str]]:
    """Installed versions of specops[serve] and everything it requires, recursively,
    with markers evaluated for a Linux image of this Python version; and the names
    required but not installed here."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    environment = {
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        **IMAGE_PLATFORM,
    }
    found: dict[str, str] = {}
    missing: set[str] = set()
    queue: list[tuple[str, frozenset[str]]] = [(ROOT, ROOT_EXTRAS)]
    seen: set[tuple[str, frozenset[str]]] = set()
    while queue:
        name, extras = queue.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        found[canonicalize_name(name)] = distribution.version
        for line in distribution.requires or []:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({**environment, "extra": extra}) for extra in {"", *extras}
            ):
                continue
            queue.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return found, missing
