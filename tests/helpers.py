"""Helpers several test modules share: the small spec they train, a store's rows, imports.

Plain functions, not fixtures: tests call them with the store or module they mean.
"""

from __future__ import annotations

import ast
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from string import Template
from typing import Any

LIFECYCLE_STEPS = [
    "ingest",
    "check",
    "split",
    "transform",
    "train",
    "evaluate",
    "gate",
    "register",
    "deploy",
]
"""Every step of ``specops run``, in the order its report lists them."""

_BREAST_CANCER = Template("""
name: bc
task: binary
seed: 1
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
model:
  type: lightgbm
  params: {n_estimators: $n_estimators, num_leaves: 7}
gate:
  roc_auc: {min: 0.9, max_drop: 0.01}
""")


def breast_cancer_spec(n_estimators: int) -> str:
    """A small, fast binary spec (model ``bc``) on scikit-learn's bundled data."""
    return _BREAST_CANCER.substitute(n_estimators=n_estimators)


def build_store(directory: Path) -> Path:
    """Three real runs: bc/1 the first champion, bc/2 rejected, bc/3 the new champion."""
    from framework.cli.main import main

    spec = directory / "spec.yaml"
    spec.write_text(breast_cancer_spec(n_estimators=10).lstrip())
    assert main(["run", str(spec), "--json"]) == 0
    assert main(["run", str(spec), "--json", "--set", "gate.roc_auc.min=0.9999"]) == 1
    assert main(["run", str(spec), "--json", "--set", "model.params.n_estimators=12"]) == 0
    return directory / ".specops"


def store_rows(store: Path, query: str) -> list[tuple]:
    """What ``query`` finds in the store in directory ``store``, read straight from SQLite."""
    with sqlite3.connect(store / "store.db") as db:
        return db.execute(query).fetchall()


def store_execute(store: Path, statement: str) -> None:
    """Change the store behind specops' back, as a damaged or tampered one would be."""
    with sqlite3.connect(store / "store.db") as db:
        db.execute(statement)


def champion(store: Path, name: str = "bc") -> int | None:
    """The version ``name@champion`` points at, or None when it has no champion."""
    found = store_rows(
        store, f"SELECT version FROM aliases WHERE name='{name}' AND alias='champion'"
    )
    return found[0][0] if found else None


def aliases_and_history(store: Path) -> tuple[list[tuple], list[tuple]]:
    """Every alias and every recorded move: what a refused or killed command must leave
    exactly as it was."""
    return (
        store_rows(store, "SELECT * FROM aliases ORDER BY name, alias"),
        store_rows(store, "SELECT * FROM alias_history ORDER BY id"),
    )


def stored_package(store_root: Path, ref: str) -> Any:
    """The model package ``ref`` names in a store, loaded as any caller would load it."""
    from framework.package import ModelPackage
    from framework.plugins import get_plugins
    from framework.refs import resolve
    from framework.store import Store

    store = Store.open_existing(store_root)
    try:
        return ModelPackage.from_store(store, resolve(store, ref), get_plugins())
    finally:
        store.close()


def heavy_imports(modules: Sequence[str], heavy: Sequence[str]) -> list[str]:
    """Which of ``heavy`` a fresh interpreter has imported once it imported ``modules``.

    A fresh process, because this one has long imported everything.
    """
    imports = ", ".join(modules)
    code = f"import sys, {imports}; print([m for m in {tuple(heavy)!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip())


def install_plugin(site: Path, dist: str, module: str, code: str, entry_name: str) -> None:
    """Lay out a plugin module and its dist-info in ``site`` exactly as pip would leave them:
    on ``PYTHONPATH``, specops finds it by its ``specops`` entry point ``entry_name``."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(code)
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[specops]\n{entry_name} = {module}\n")


def materialized(store_root: Path, ref: str, folder: Path) -> Path:
    """The version ``ref`` names, written out of the store as a package folder (what
    ``serve --package``, ``runtimes prepare`` and a container read); returns ``folder``."""
    from framework.refs import resolve
    from framework.store import Store

    store = Store.open_existing(store_root)
    try:
        store.materialize(resolve(store, ref), folder)
    finally:
        store.close()
    return folder


def crafted_version(built: Path, store: Path, key: str, digest: str | None = None) -> Path:
    """A copy of the store ``built`` at ``store`` whose first version also lists ``key`` in
    its file list (naming a real blob, or ``digest``): what someone who can write a store's
    database can hand over."""
    shutil.copytree(built, store, ignore=shutil.ignore_patterns("live"))
    (files_json,) = store_rows(store, "SELECT files_json FROM model_versions")[0]
    files = json.loads(files_json)
    files[key] = digest or files["signature.json"]
    text = json.dumps(files).replace("'", "''")
    store_execute(store, f"UPDATE model_versions SET files_json = '{text}'")
    return store


def escape_to(target: Path) -> str:
    """A relative path that leads from any temporary folder to ``target``."""
    return "../" * 30 + str(target).lstrip("/")
