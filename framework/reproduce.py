"""Rerunning a recorded run on its recorded data, and saying whether it came out the same.

The rerun uses the run's stored spec (after its profile and overrides) with the
source replaced by the run's data snapshot, into a temporary store, without
deploying: reproducing never touches the registry. Model files are compared by
sha256; ``model.json`` is left out because it names the run that made it.

The run recorded which plugin (distribution and version) ran each component and
the versions of the core packages; the rerun uses what is installed now. Each
difference is listed, and a result that changed names them as its likely cause
("model knn: specops-contrib-demo 0.3.1 then, 0.4.0 now"), so an upgrade that
changed behaviour is not a mystery.

A run recorded before specops chose rows by content (its lineage has no
``rows_method``) reruns its ``random``/``stratified`` split with ``method: shuffle``,
the permutation it used then, so it still reproduces exactly; the effective spec is
compared as the run stored it.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from framework.errors import Location, SpecError, StoreError, UserError
from framework.lineage import component_key, described, package_versions, plugin_versions
from framework.plugins import Plugins
from framework.refs import find_run
from framework.store import ModelVersion, Store

DIFFERS_BY_DESIGN = {"model.json": "names the run and time that made it"}
RUNTIMES_PREFIX = "runtimes/"
RUNTIMES_NOTE = (
    "a compiled runtime's file: which runtimes a version has depends on those installed "
    "(and the time they took) where it ran, not on the training"
)
NOT_RERUN = ("source", "deploy")
"""Kinds whose plugin cannot change a rerun: it reads the snapshot and deploys nothing."""


@dataclass(frozen=True)
class Comparison:
    """One thing compared: a metric or a package file."""

    kind: str  # config | plugin | package | metric | file
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
    changed_since_run: list[str] = field(default_factory=list)
    """Plugins and packages installed now at another version than the run's."""

    @property
    def matched(self) -> bool:
        return all(c.match is not False for c in self.comparisons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "rerun_id": self.rerun_id,
            "data_hash": self.data_hash,
            "matched": self.matched,
            "changed_since_run": self.changed_since_run,
            "comparisons": [asdict(c) for c in self.comparisons],
        }


def reproduce(
    store_root: Path, run_prefix: str, plugins: Plugins, *, overrides: Sequence[str] = ()
) -> Reproduction:
    """Rerun a run on its snapshot in a scratch store; compare metrics and model files.

    ``overrides`` (``--set``) may only say where the rerun executes (``execution.*``):
    a cluster address or another executor; anything else would not be a reproduction."""
    from framework.engine import Engine
    from framework.spec import load_spec

    _require_execution_only(overrides)
    store = Store.open_existing(store_root, write=False)
    try:
        record = find_run(store, run_prefix)
        run_id = record.id
        _require_intact(record.spec, record.lineage, run_id)
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
    recorded_plugins = record.lineage.get("plugins")
    if isinstance(recorded_plugins, dict):
        _require_plugins(recorded_plugins, plugins, run_id)
    rerun_document = with_rows_method_of(document, record.lineage)
    with tempfile.TemporaryDirectory(prefix="specops-reproduce-") as tmp:
        spec_file = Path(tmp) / "spec.yaml"
        spec_file.write_text(yaml.safe_dump(rerun_document, sort_keys=False))
        scratch = Path(tmp) / "store"
        try:
            spec = load_spec(spec_file, plugins, overrides=list(overrides))
            config_hash = spec.config_hash
            if rerun_document is not document:  # compare the spec as the run stored it
                stored_file = Path(tmp) / "stored-spec.yaml"
                stored_file.write_text(yaml.safe_dump(document, sort_keys=False))
                config_hash = load_spec(stored_file, plugins).config_hash
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
    outcome.comparisons.append(_compare_config(record.lineage.get("config_hash"), config_hash))
    environment = _compare_plugins(recorded_plugins, plugins)
    environment += _compare_packages(record.lineage.get("packages"), recorded_plugins)
    outcome.comparisons += environment
    outcome.changed_since_run = [
        c.note for c in environment if c.match is None and c.original != c.reproduced
    ]
    results = _compare_metrics(original_metrics, result.run.outputs.get("metrics", {}))
    results += _compare_files(original, copy_version)
    outcome.comparisons += [_with_cause(c, outcome.changed_since_run) for c in results]
    return outcome


def _require_intact(spec: Any, lineage: Any, run_id: str) -> None:
    """The run's stored spec and lineage are what specops writes (objects, a data
    section): a row edited in the store, or written by something else, is named as
    damaged instead of failing inside the rerun with a TypeError (exit 3)."""
    problem = None
    if not isinstance(spec, dict):
        problem = f"its stored spec is {type(spec).__name__}, not a mapping"
    elif not isinstance(spec.get("data"), dict):
        problem = "its stored spec has no data section (a mapping)"
    elif not isinstance(lineage, dict):
        problem = f"its lineage is {type(lineage).__name__}, not a mapping"
    if problem is not None:
        raise StoreError(
            f"run {run_id} cannot be reproduced: {problem}; the store's record of it "
            "is damaged (run `specops store verify`)"
        )


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


SHUFFLED_BEFORE = ("random", "stratified")
"""Splits that shuffled positions before rows were chosen by content."""


def with_rows_method_of(document: dict[str, Any], lineage: dict[str, Any]) -> dict[str, Any]:
    """The rerun's spec: ``document`` itself, or for a run recorded before the content
    split (no ``rows_method`` in its lineage) a copy whose random/stratified split
    says ``method: shuffle``, how that run chose its rows."""
    from framework.execution.rows import LINEAGE_KEY
    from framework.spec.validate import default_split

    if lineage.get(LINEAGE_KEY):
        return document
    data = document.get("data")
    if not isinstance(data, dict):
        return document
    split = data.get("split") or default_split(str(document.get("task")))
    params = split.get("params") or {}
    if split.get("type") not in SHUFFLED_BEFORE or "method" in params:
        return document
    rerun = copy.deepcopy(document)
    rerun["data"]["split"] = {**split, "params": {**params, "method": "shuffle"}}
    return rerun


def _require_execution_only(overrides: Sequence[str]) -> None:
    for override in overrides:
        key = override.split("=", 1)[0].strip()
        if key != "execution" and not key.startswith("execution."):
            raise UserError(
                f"reproduce --set {key}: only where the rerun executes may change "
                "(execution.type, execution.params.*); a changed spec is a new run, "
                "not a reproduction (use `specops run SPEC --set ...` for that)"
            )


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


def _require_plugins(recorded: dict[str, Any], plugins: Plugins, run_id: str) -> None:
    """Every component the rerun builds is installed: else say which distribution the
    run used, rather than an "unknown type" about a spec the user never wrote."""
    missing = [
        f"{key} ({described(entry)})"
        for key, entry in recorded.items()
        if isinstance(entry, dict)
        and entry.get("kind") not in NOT_RERUN
        and entry.get("dist")
        and plugins.registry.find(str(entry.get("kind")), str(entry.get("type"))) is None
    ]
    if missing:
        raise UserError(
            f"run {run_id} used components that no installed plugin provides now: "
            f"{', '.join(missing)}; install that version to reproduce the run"
        )


def _compare_plugins(recorded: Any, plugins: Plugins) -> list[Comparison]:
    """Each component's plugin then and now (not the source's nor the deploy targets':
    the rerun reads the snapshot and deploys nothing)."""
    if not isinstance(recorded, dict):
        return [
            Comparison(
                "plugin",
                "plugin versions",
                None,
                None,
                None,
                "not recorded by that run (made before specops recorded them)",
            )
        ]
    comparisons = []
    for key, then in recorded.items():
        if not isinstance(then, dict) or then.get("kind") in NOT_RERUN:
            continue
        kind, type_name = str(then.get("kind")), str(then.get("type"))
        now = plugin_versions(plugins.registry, [(kind, type_name)])[component_key(kind, type_name)]
        same = (then.get("dist"), then.get("version")) == (now["dist"], now["version"])
        note = "" if same else f"{key}: {_then_now(then, now)}"
        comparisons.append(
            Comparison("plugin", key, described(then), described(now), True if same else None, note)
        )
    return comparisons


def _then_now(then: dict[str, Any], now: dict[str, Any]) -> str:
    """``specops-contrib-demo 0.3.1 then, 0.4.0 now`` (both names when the dist changed)."""
    if then.get("dist") and then.get("dist") == now.get("dist"):
        return f"{then['dist']} {then.get('version')} then, {now.get('version')} now"
    return f"{described(then)} then, {described(now) if now.get('dist') else 'none'} now"


def _compare_packages(recorded: Any, recorded_plugins: Any) -> list[Comparison]:
    """Python and the packages the run recorded, then and now: only the ones that
    changed are listed (a plugin's distribution already has its row as a plugin)."""
    if not isinstance(recorded, dict) or not recorded:
        return []
    named = {p.get("dist") for p in (recorded_plugins or {}).values() if isinstance(p, dict)}
    now = package_versions(recorded)
    changed = [
        Comparison(
            "package",
            name,
            version,
            now.get(name),
            None,
            f"{name} {version} then, {now.get(name) or 'not installed'} now",
        )
        for name, version in recorded.items()
        if now.get(name) != version and name not in named
    ]
    if changed:
        return changed
    return [
        Comparison(
            "package", "python and packages", None, None, True, f"{len(recorded)} as recorded"
        )
    ]


def _with_cause(comparison: Comparison, changes: list[str]) -> Comparison:
    """A result that differs names what changed since the run: its likely cause."""
    if comparison.match is not False or not changes:
        return comparison
    more = f" (+{len(changes) - 1} more)" if len(changes) > 1 else ""
    return replace(comparison, note=f"{comparison.note}; changed since the run: {changes[0]}{more}")


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
        if name.startswith(RUNTIMES_PREFIX) and before != after:  # not the model: its
            # compiled forms, which depend on the runtimes installed where each run was
            comparisons.append(Comparison("file", name, before, after, None, RUNTIMES_NOTE))
            continue
        same = before == after
        comparisons.append(
            Comparison("file", name, before, after, same, "" if same else "different bytes")
        )
    return comparisons
