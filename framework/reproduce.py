"""Rerunning a recorded run on its recorded data, and saying whether it came out the same.

The rerun uses the run's stored spec (after its profile and overrides) with the
source replaced by the run's data snapshot, into a temporary store, without
deploying: reproducing never touches the registry. Model files are compared by
sha256; ``model.json`` is left out because it names the run that made it.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from framework.errors import Location, SpecError, StoreError, UserError
from framework.plugins import Plugins
from framework.refs import find_run
from framework.store import ModelVersion, Store

DIFFERS_BY_DESIGN = {"model.json": "names the run and time that made it"}


@dataclass(frozen=True)
class Comparison:
    """One thing compared: a metric or a package file."""

    kind: str  # metric | file
    item: str
    original: Any
    reproduced: Any
    match: bool | None  # None: not compared, see note
    note: str = ""


@dataclass
class Reproduction:
    run_id: str
    rerun_id: str
    data_hash: str
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return all(c.match is not False for c in self.comparisons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "rerun_id": self.rerun_id,
            "data_hash": self.data_hash,
            "matched": self.matched,
            "comparisons": [asdict(c) for c in self.comparisons],
        }


def reproduce(store_root: Path, run_prefix: str, plugins: Plugins) -> Reproduction:
    """Rerun a run on its snapshot in a scratch store; compare metrics and model files."""
    from framework.engine import Engine
    from framework.spec import load_spec

    store = Store.open_existing(store_root)
    try:
        record = find_run(store, run_prefix)
        run_id = record.id
        versions = store.versions_of_run(run_id)
        if not versions or not record.data_hash:
            raise StoreError(
                f"run {run_id} ended '{record.status}' without a model version: "
                "nothing to reproduce"
            )
        original = versions[0]
        if store.snapshot_blob(record.data_hash) is None:
            raise StoreError(
                f"run {run_id} kept no data snapshot (store.snapshot_data was false); "
                "it cannot be rerun on exactly its data"
            )
        original_metrics = store.metrics(run_id)
        document = _rerun_document(record.spec, record.data_hash, store.root.resolve())
    finally:
        store.close()

    _require_environment(document, run_id)
    with tempfile.TemporaryDirectory(prefix="specops-reproduce-") as tmp:
        spec_file = Path(tmp) / "spec.yaml"
        spec_file.write_text(yaml.safe_dump(document, sort_keys=False))
        scratch = Path(tmp) / "store"
        try:
            spec = load_spec(spec_file, plugins)
            result = Engine(spec, plugins, store_root=scratch, deploy=False).run()
        except SpecError as exc:
            raise _pointing_at_run(exc, run_id) from exc
        rerun = Store(scratch)
        try:
            copies = rerun.versions_of_run(result.run.run_id)
        finally:
            rerun.close()
    copy_version = copies[0] if copies else None
    outcome = Reproduction(run_id, result.run.run_id, record.data_hash)
    outcome.comparisons.append(_compare_config(record.lineage.get("config_hash"), spec.config_hash))
    outcome.comparisons += _compare_metrics(original_metrics, result.run.outputs.get("metrics", {}))
    outcome.comparisons += _compare_files(original, copy_version)
    return outcome


def _pointing_at_run(error: SpecError, run_id: str) -> SpecError:
    """The same problems, located in the run's stored spec rather than a scratch file.

    The rerun reads a temporary copy of the stored spec; naming that copy (deleted by
    the time the message is read) would send the user looking for a file that is gone.
    """
    where = Location(f"the stored spec of run {run_id}", 0, 0)
    see = f"see it with: specops runs show {run_id} --json"
    return SpecError(
        [
            replace(problem, location=where, hint=f"{problem.hint}; {see}" if problem.hint else see)
            for problem in error.problems
        ]
    )


def _rerun_document(spec: dict[str, Any], data_hash: str, store_root: Path) -> dict[str, Any]:
    document = copy.deepcopy(spec)
    document["data"]["source"] = {
        "type": "snapshot",
        "params": {"data": data_hash, "store": str(store_root)},
    }
    document["deploy"] = []
    document.pop("store", None)
    return document


def _require_environment(document: dict[str, Any], run_id: str) -> None:
    """The rerun fills ``${env:...}`` from this environment: say up front what is missing."""
    import os

    from framework.spec.compose import ENV_PATTERN

    missing: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            for match in ENV_PATTERN.finditer(node):
                if match.group(1) not in os.environ and match.group(2) is None:
                    missing[match.group(1)] = None

    walk(document)
    if missing:
        raise UserError(
            f"run {run_id}'s spec reads environment variables that are not set: "
            f"{', '.join(missing)}; set them to the values the run used"
        )


def _compare_config(original: str | None, rerun: str) -> Comparison:
    """The effective spec (env values filled in) against the run's, by hash."""
    if not original:
        return Comparison("config", "effective spec", None, rerun, None, "not recorded by that run")
    same = original == rerun
    note = "" if same else "the effective spec differs: are the environment values the run's?"
    return Comparison("config", "effective spec", original, rerun, same, note)


def _compare_metrics(original: dict[str, float], rerun: dict[str, float]) -> list[Comparison]:
    return [
        Comparison(
            "metric",
            name,
            original.get(name),
            rerun.get(name),
            original.get(name) == rerun.get(name),
            "" if original.get(name) == rerun.get(name) else "the value changed",
        )
        for name in sorted(set(original) | set(rerun))
    ]


def _compare_files(original: ModelVersion, rerun: ModelVersion | None) -> list[Comparison]:
    files = rerun.files if rerun else {}
    comparisons = []
    for name in sorted(set(original.files) | set(files)):
        before, after = original.files.get(name), files.get(name)
        if name in DIFFERS_BY_DESIGN:
            comparisons.append(
                Comparison("file", name, before, after, None, DIFFERS_BY_DESIGN[name])
            )
            continue
        same = before == after
        comparisons.append(
            Comparison("file", name, before, after, same, "" if same else "different bytes")
        )
    return comparisons
