"""``specops new-plugin``: write a plugin package that installs, and whose tests pass, as
written.

The package is what docs/plugins.md describes, ready to edit: a ``pyproject.toml``
(hatchling, a dependency on specops, the ``specops`` entry point), one module per
chosen kind of component under ``src/PKG/``, the hooks registering them in
``src/PKG/__init__.py``, a tests file using :mod:`framework.testing`, an example
spec using every generated component, and a README. Nothing existing is ever
overwritten: the package is written into a temporary folder beside the target and
renamed into place, so a refusal or a failure leaves nothing behind.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from framework.errors import UserError
from framework.scaffold.components import TEMPLATES, Template
from framework.scaffold.files import (
    example_spec,
    init_module,
    pyproject,
    readme,
    tests_module,
)
from framework.suggest import did_you_mean

DEFAULT_KINDS = ("source", "model")

DIST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
"""A distribution name as packaging (PEP 508) accepts it."""

MAX_NAME = 100
"""The longest plugin name accepted: it names a folder, a package and a distribution."""

RESERVED = {"specops", "framework", "plugins", "tests"}
"""Package names that would shadow specops itself (or a project's tests) when installed."""


@dataclass(frozen=True)
class PluginNames:
    """Every name the generated package uses, derived from the one the user gave."""

    dist: str
    """The distribution name (``specops-acme``), as given."""
    package: str
    """The import name (``specops_acme``)."""
    stem: str
    """The entry point's name and the prefix of every type name (``acme``)."""


def plugin_names(name: str) -> PluginNames:
    """The names for ``name``, or a UserError saying what a valid name looks like."""
    if len(name) > MAX_NAME:
        raise _refusal(
            f"plugin name {name[:20]!r}... is {len(name)} characters long",
            hint=f"use at most {MAX_NAME}",
        )
    if not DIST_NAME.fullmatch(name):
        raise _refusal(
            f"plugin name {name!r} is not a valid package name",
            hint="use letters, digits, '-', '_' and '.', starting and ending with a letter "
            "or digit, e.g. specops-acme",
        )
    package = re.sub(r"[-_.]+", "_", name).lower()
    if not package.isidentifier() or keyword.iskeyword(package):
        raise _refusal(
            f"plugin name {name!r} gives the import name {package!r}, which Python cannot import",
            hint="start the name with a letter, e.g. specops-acme",
        )
    if package in RESERVED:
        raise _refusal(
            f"plugin name {name!r} would shadow the {package!r} package once installed",
            hint="choose a name of your own, e.g. specops-acme",
        )
    stem = re.sub(r"^specops_", "", package)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", stem):
        stem = package
    return PluginNames(name, package, stem)


def chosen_kinds(text: str | None) -> list[str]:
    """The kinds named by ``--kinds`` (comma-separated, or ``all``), in lifecycle order."""
    if text is None:
        return list(DEFAULT_KINDS)
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names == ["all"]:
        return list(TEMPLATES)
    aliases = {"drift": "drift_test", "deploy_target": "deploy", "splitter": "split"}
    names = [aliases.get(name, name) for name in names]
    unknown = [name for name in names if name not in TEMPLATES]
    if {"tracker", "observer", "lifecycle"} & set(unknown):
        raise _refusal(
            "--kinds: a tracker is not a component kind: it implements the lifecycle hooks "
            "(specops_run_start, specops_step_end, specops_run_end, ...) and no spec names it",
            hint="add a module with those hooks by hand, as docs/plugins.md shows under "
            f"'Tracker (lifecycle events)'; kinds: {', '.join(TEMPLATES)}",
        )
    if unknown:
        raise _refusal(
            f"--kinds: unknown kind {unknown[0]!r}{did_you_mean(unknown[0], TEMPLATES)}",
            hint=f"kinds: {', '.join(TEMPLATES)} (comma-separated), or all",
        )
    if not names:
        raise _refusal("--kinds names no kind", hint=f"kinds: {', '.join(TEMPLATES)}, or all")
    return [kind for kind in TEMPLATES if kind in names]


def new_plugin(name: str, parent: Path, kinds: Iterable[str]) -> tuple[Path, list[Path]]:
    """Write the package for plugin ``name`` into ``parent/name``; returns the package's
    folder and the files written (relative to it). Refuses (UserError) a name that is
    not a valid package name and a target that exists and is not an empty folder."""
    names = plugin_names(name)
    templates = [TEMPLATES[kind] for kind in kinds]
    target = Path(parent).expanduser().absolute() / name
    try:
        _refuse_existing(target)
        if not target.parent.is_dir():
            raise UserError(f"cannot create {target}: {target.parent} is not a directory")
    except OSError as exc:
        raise UserError(f"cannot create {target}: {exc.strerror or exc}") from exc
    files = _contents(names, templates)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    except OSError as exc:
        raise UserError(f"cannot write the plugin package at {target}: {exc}") from exc
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.chmod(0o777 & ~_umask())
        _refuse_existing(target)  # again: something may have appeared meanwhile
        os.replace(staging, target)  # atomic; onto an empty folder at most
    except OSError as exc:
        raise UserError(f"cannot write the plugin package at {target}: {exc}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target, [Path(relative) for relative in files]


def _refuse_existing(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise _refusal(
            f"{target} already exists and is not a folder; nothing was written",
            hint="choose another name, or another folder with --dir",
        )
    if target.is_dir() and any(target.iterdir()):
        raise _refusal(
            f"{target} already exists and is not empty; new-plugin never overwrites",
            hint="choose another name, or another folder with --dir",
        )


def _refusal(message: str, hint: str) -> UserError:
    return UserError(f"{message}{' ' if message.endswith('?') else '; '}{hint}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _contents(names: PluginNames, templates: list[Template]) -> dict[str, str]:
    """Every file of the package, by path relative to its folder."""
    package = f"src/{names.package}"
    files = {
        "pyproject.toml": pyproject(names),
        "README.md": readme(names, templates),
        "example.yaml": example_spec(names, templates),
        f"{package}/__init__.py": init_module(names, templates),
        f"tests/test_{names.package}.py": tests_module(names, templates),
    }
    for template in templates:
        files[f"{package}/{template.module}.py"] = template.code.replace("__STEM__", names.stem)
    return files
