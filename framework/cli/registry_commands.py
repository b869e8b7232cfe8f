"""The registry commands: read the store, build one plain report, print it or its JSON.

Every report is a JSON-ready dict: ``--json`` prints it as is and the rich tables
in :mod:`framework.cli.registry_tables` render the same dict, so people and
machines see the same facts. Nothing here imports pandas, scikit-learn or LightGBM.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from framework.errors import StoreError, UserError
from framework.refs import (
    ALIAS_PATTERN,
    ModelRef,
    find_run,
    parse_ref,
    resolve,
    store_address,
)
from framework.store.store import (
    AliasMove,
    ModelVersion,
    RunRecord,
    Store,
    undo_stack,
)

KEY_METRICS = 3  # shown per version when the spec's gate names none

Report = dict[str, Any]


@contextmanager
def _store(args: argparse.Namespace, *, write: bool = False) -> Iterator[Store]:
    """The existing store named by --store / $SPECOPS_STORE / ./.specops, closed after.

    Only commands that change it ask to ``write``: the others work on a read-only store.
    """
    where = store_address(args.store, getattr(args, "artifacts", None))
    store = Store.open_existing(where, write=write)
    try:
        yield store
    finally:
        store.close()


def _emit(args: argparse.Namespace, report: Report, printer: str) -> None:
    """The report as JSON, or as tables by ``registry_tables.<printer>`` (rich is loaded
    only then: ``--json`` callers never pay for it)."""
    if args.json:
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        from framework.cli import registry_tables

        getattr(registry_tables, printer)(report)


def _actor() -> str:
    """Who moved an alias by hand: the login name, as the CLI saw it."""
    import getpass

    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        user = os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
    return f"{user} (cli)"


def _alias_name(alias: str) -> str:
    if not ALIAS_PATTERN.match(alias):
        raise UserError(
            f"not an alias name: {alias!r}; use lowercase letters, digits, '-' and '_', "
            "starting with a letter (e.g. champion)"
        )
    return alias


# models -----------------------------------------------------------------------


def cmd_models_list(args: argparse.Namespace) -> int:
    """Every model with its versions and aliases: what is there, and what serves."""
    with _store(args) as store:
        report = {
            "store": store.display_url,
            "models": [_model_summary(store, name) for name in store.model_names()],
        }
    _emit(args, report, "print_models")
    return 0


def _model_summary(store: Store, name: str) -> Report:
    aliases = store.aliases(name)
    versions = []
    for version in store.versions(name):
        run = store.run(version.run_id)
        versions.append(
            {
                "version": version.version,
                "status": version.status,
                "created_at": version.created_at,
                "model_type": version.model_type,
                "run_id": version.run_id,
                "aliases": _aliases_of(aliases, version),
                "metrics": version.metrics,
                "key_metrics": _key_metrics(version, run),
            }
        )
    return {"name": name, "aliases": dict(sorted(aliases.items())), "versions": versions}


def _aliases_of(aliases: dict[str, int], version: ModelVersion) -> list[str]:
    """The aliases (of the model's ``alias -> version`` map) that point at ``version``."""
    return sorted(a for a, v in aliases.items() if v == version.version)


def _key_metrics(version: ModelVersion, run: RunRecord | None) -> list[str]:
    """The metrics the spec's gate judged; else the first few by name."""
    gate = (run.spec.get("gate") if run else None) or {}
    named = [m for m in gate if m in version.metrics] if isinstance(gate, dict) else []
    return named or sorted(version.metrics)[:KEY_METRICS]


def cmd_models_show(args: argparse.Namespace) -> int:
    """One version in full: enough to judge it, reproduce it, and see how it got here."""
    with _store(args) as store:
        version = resolve(store, args.ref)
        report = _model_report(store, version)
    _emit(args, report, "print_model")
    return 0


def _blob_facts(store: Store, digest: str) -> Report:
    """Where a blob is and its size when that costs nothing (a local file's); a remote
    store's blob is named by its URL, unread."""
    from framework.store.integrity import blob_location

    path_of = getattr(store.artifacts, "path_of", None)
    if path_of is None:
        return {"size": None, "blob": blob_location(store, digest)}
    path = path_of(digest)
    return {"size": path.stat().st_size if path.is_file() else None, "blob": str(path)}


def _model_report(store: Store, version: ModelVersion) -> Report:
    """Everything stored about one version; files are listed, not read (no hashing)."""
    run = store.run(version.run_id)
    aliases = store.aliases(version.name)
    files = []
    for relative, digest in sorted(version.files.items()):
        files.append({"path": relative, "sha256": digest, **_blob_facts(store, digest)})
    lineage = dict(version.lineage)
    lineage.setdefault("run_id", version.run_id)
    return {
        "store": store.display_url,
        "name": version.name,
        "version": version.version,
        "ref": version.ref,
        "status": version.status,
        "created_at": version.created_at,
        "model_type": version.model_type,
        "run_id": version.run_id,
        "run_status": run.status if run else None,
        "aliases": _aliases_of(aliases, version),
        "metrics": version.metrics,
        "params": store.params(version.run_id),
        "signature": version.signature,
        "lineage": lineage,
        "files": files,
        "runtimes": _runtimes(store, version),
        "alias_history": [asdict(move) for move in store.alias_history(version.name)],
    }


def _runtimes(store: Store, version: ModelVersion) -> Report:
    """Each runtime's verdict from the version's ``model.json``, and which one serves and
    scores by default with the runtimes installed here."""
    from framework.runtimes.lookup import build
    from framework.runtimes.report import version_runtimes

    installed: list[str] | None = None
    built_here: list[str] = []
    plugins = None
    try:
        from framework.plugins import get_plugins

        plugins = get_plugins()
        installed = plugins.registry.types("runtime")
        built_here = [n for n in installed if hasattr(build(n, plugins), "ready")]
    except UserError:  # a plugin switch names no plugin: judge by the verdicts alone
        pass
    return version_runtimes(store, version, installed, built_here, plugins)


def cmd_models_promote(args: argparse.Namespace) -> int:
    """Point an alias at a registered version by hand; the move is recorded with who and why."""
    alias = _alias_name(args.alias)
    reason = f"manual promote: {args.reason}" if args.reason else "manual promote"
    with _store(args, write=True) as store:
        version = resolve(store, parse_ref(args.ref))
        if version.status != "registered":
            registered = [
                v.version for v in store.versions(version.name) if v.status == "registered"
            ]
            raise StoreError(
                f"{version.ref} was {version.status} (run {version.run_id}); only a registered "
                f"version can be {version.name}@{alias}; registered versions of {version.name}: "
                f"{', '.join(map(str, registered)) or 'none'}"
            )
        current = store.alias(version.name, alias)
        if current == version.version:
            report = _unmoved(version.name, alias, current, f"already points at {version.ref}")
        else:
            move = store.set_alias(
                version.name, alias, version.version, actor=_actor(), reason=reason
            )
            report = _moved(move)
    _emit(args, report, "print_move")
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    """Undo the alias's latest move still on its undo stack (see ``undo_stack``)."""
    name, alias = _rollback_target(args.name, _alias_name(args.alias))
    with _store(args, write=True) as store:
        resolve(store, ModelRef(name, alias=alias))  # the model and alias exist
        move = store.rollback(name, alias, actor=_actor(), note=args.reason)
        history = store.alias_history(name, alias)
    before = undo_stack([m for m in history if m.id < move.id])
    after = undo_stack([m for m in history if m.id <= move.id])
    report = _moved(move)
    report["undid"] = asdict(before[-1]) if before else None
    report["next_rollback_to"] = after[-1].from_version if after else None
    _emit(args, report, "print_move")
    return 0


def _rollback_target(text: str, alias: str) -> tuple[str, str]:
    """``NAME`` (with --alias) or ``NAME@ALIAS``; a version is not something to roll back."""
    ref = parse_ref(text)
    if ref.version is not None:
        raise UserError(
            f"rollback takes a model name, not a version ({text}): it returns an alias to "
            f"where it pointed before; to point it at {text}, use `specops models promote {text}`"
        )
    return ref.name, alias if "@" not in text else (ref.alias or alias)


def _moved(move: AliasMove) -> Report:
    return {"moved": True, **asdict(move)}


def _unmoved(name: str, alias: str, version: int | None, why: str) -> Report:
    return {
        "moved": False,
        "name": name,
        "alias": alias,
        "from_version": version,
        "to_version": version,
        "why": why,
    }


# runs -------------------------------------------------------------------------


def _produced(store: Store) -> dict[str, list[ModelVersion]]:
    by_run: dict[str, list[ModelVersion]] = {}
    for version in store.versions():
        by_run.setdefault(version.run_id, []).append(version)
    return by_run


def _version_briefs(versions: list[ModelVersion]) -> list[Report]:
    return [
        {"name": v.name, "version": v.version, "ref": v.ref, "status": v.status} for v in versions
    ]


def cmd_runs_list(args: argparse.Namespace) -> int:
    """Recent runs, newest first, each with its outcome, data version and model."""
    if args.limit < 0:
        raise UserError(f"--limit must be 0 (all) or more, not {args.limit}")
    with _store(args) as store:
        produced = _produced(store)
        runs = [
            {
                "run_id": run.id,
                "spec": run.spec_name,
                "status": run.status,
                "started_at": run.started_at,
                "ended_at": run.ended_at,
                "seconds": run.seconds,
                "data_hash": run.data_hash,
                "trigger": run.trigger,
                "models": _version_briefs(produced.get(run.id, [])),
            }
            for run in store.runs(limit=args.limit or None, spec_name=args.spec)
        ]
        report = {"store": store.display_url, "runs": runs}
    _emit(args, report, "print_runs")
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    """One run as recorded: its steps, metrics, gate verdicts, data and model."""
    with _store(args) as store:
        run = find_run(store, args.run_id)
        report = run_report(store, run)
    _emit(args, report, "print_run_record")
    return 0


def run_report(store: Store, run: RunRecord) -> Report:
    return {
        "store": store.display_url,
        "run_id": run.id,
        "spec": run.spec_name,
        "spec_path": run.spec_path,
        "spec_hash": run.spec_hash,
        "profile": run.profile,
        "trigger": run.trigger,
        "chain": store.monitor_chain(run.id),
        "status": run.status,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "seconds": run.seconds,
        "error": run.outputs.get("error"),
        "data": {"hash": run.data_hash, **(store.dataset(run.data_hash or "") or {})},
        "steps": [asdict(step) for step in store.steps(run.id)],
        "metrics": store.metrics(run.id),
        "verdicts": run.outputs.get("verdicts", []),
        "champion_note": run.outputs.get("champion_note"),
        "warnings": run.outputs.get("warnings") or {},
        # trackers that failed while the run went on: recorded, so shown here
        "observer_errors": run.outputs.get("observer_errors") or [],
        "models": _version_briefs(store.versions_of_run(run.id)),
        "params": store.params(run.id),
        "plugins": recorded_plugins(run.lineage),
        "lineage": run.lineage,
    }


def recorded_plugins(lineage: dict[str, Any]) -> list[Report] | None:
    """Each component the run used with its plugin, distribution and version; None for a
    run made before specops recorded them."""
    recorded = lineage.get("plugins")
    if not isinstance(recorded, dict):
        return None
    return [
        {"component": key, **entry} for key, entry in recorded.items() if isinstance(entry, dict)
    ]


def _plugin_versions(run: RunRecord) -> dict[str, str]:
    """``{"model knn": "specops-contrib-demo 0.3.1"}``: a diff row per component."""
    from framework.lineage import described

    return {row["component"]: described(row) for row in recorded_plugins(run.lineage) or []}


def cmd_runs_diff(args: argparse.Namespace) -> int:
    """Two runs side by side: which input changed, and what it did to the metrics."""
    with _store(args) as store:
        a, b = find_run(store, args.run_a), find_run(store, args.run_b)
        rows = diff_rows(store, a, b)
    if args.changed:
        rows = [row for row in rows if row["changed"]]
    report = {
        "run_a": a.id,
        "run_b": b.id,
        "changed": sum(row["changed"] for row in rows),
        "rows": rows,
    }
    _emit(args, report, "print_diff")
    return 0


def diff_rows(store: Store, a: RunRecord, b: RunRecord) -> list[Report]:
    """Side-by-side rows (section, key, a, b, changed) of two runs' inputs and results."""
    params_a, params_b = store.params(a.id), store.params(b.id)
    covered = params_a.keys() | params_b.keys()  # spec keys params already show
    spec_a = {k: v for k, v in _flatten(a.spec).items() if k not in covered}
    spec_b = {k: v for k, v in _flatten(b.spec).items() if k not in covered}
    packages_a, packages_b = a.lineage.get("packages") or {}, b.lineage.get("packages") or {}
    models_a = ", ".join(v.ref for v in store.versions_of_run(a.id))
    models_b = ", ".join(v.ref for v in store.versions_of_run(b.id))
    rows = [
        _row("run", "spec name", a.spec_name, b.spec_name),
        _row("run", "status", a.status, b.status),
        _row("run", "profile", a.profile, b.profile),
        _row("spec", "spec hash", a.spec_hash, b.spec_hash),
        *_section("spec", spec_a, spec_b),
        *_section("params", params_a, params_b),
        _row("data", "data hash", a.data_hash, b.data_hash),
        *_section("packages", packages_a, packages_b),
        *_section("plugins", _plugin_versions(a), _plugin_versions(b)),
        _row("packages", "git", _commit(a), _commit(b)),
        *_section("metrics", store.metrics(a.id), store.metrics(b.id)),
        _row("model", "version", models_a or None, models_b or None),
    ]
    return rows


def _row(section: str, key: str, a: Any, b: Any) -> Report:
    return {"section": section, "key": key, "a": a, "b": b, "changed": not _same(a, b)}


def _same(a: Any, b: Any) -> bool:
    """Equal, or two floats apart only by rounding noise (``1`` vs ``1 - 1.1e-16``)."""
    if isinstance(a, float) or isinstance(b, float):
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
        if numbers:
            return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _section(section: str, a: dict[str, Any], b: dict[str, Any]) -> list[Report]:
    return [_row(section, key, a.get(key), b.get(key)) for key in sorted(a.keys() | b.keys())]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A spec document as dotted keys: ``gate.roc_auc.min``, ``preprocess.0.type``."""
    if isinstance(value, dict) and value:
        items: Any = value.items()
    elif isinstance(value, list) and value:
        items = enumerate(value)
    else:
        return {prefix: value} if prefix else {}
    flat: dict[str, Any] = {}
    for key, inner in items:
        flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _commit(run: RunRecord) -> str | None:
    git = run.lineage.get("git")
    if not isinstance(git, dict):
        return None
    return f"{git.get('commit', '')[:12]}{' (dirty)' if git.get('dirty') else ''}"


# store ------------------------------------------------------------------------


def cmd_store_verify(args: argparse.Namespace) -> int:
    """Exit 0 when every blob hashes right and every row points somewhere; else 1."""
    from framework.store.integrity import verify

    with _store(args) as store:
        result = verify(store, full=args.full)
        report = {
            "store": store.display_url,
            "ok": result.ok,
            "checked": {
                "database": result.database_check,
                "blobs": result.blobs,
                "versions": result.versions,
                "aliases": result.aliases,
                "schema_version": result.schema_version,
            },
            "problems": [asdict(problem) for problem in result.problems],
        }
    _emit(args, report, "print_verify")
    return 0 if result.ok else 1


def cmd_store_gc(args: argparse.Namespace) -> int:
    """List (or with --apply delete) what nothing references; referenced blobs never."""
    from framework.store.integrity import DEFAULT_MIN_AGE, collect, find_garbage

    min_age = DEFAULT_MIN_AGE if args.min_age is None else args.min_age
    if min_age < 0:
        raise UserError(f"--min-age must be 0 or more seconds, not {min_age}")
    with _store(args, write=bool(args.apply)) as store:
        found = find_garbage(store)
        live = [g for g in found if g.owner]  # a live process's: never, whatever the age
        eligible = [g for g in found if not g.owner and g.age >= min_age]
        young = [g for g in found if not g.owner and g.age < min_age]
        deleted = collect(store, eligible) if args.apply else []
        report = {
            "store": store.display_url,
            "apply": bool(args.apply),
            "min_age": min_age,
            "garbage": [_garbage(g) for g in eligible],
            "bytes": sum(g.size for g in eligible),
            "deleted": [str(g.path) for g in deleted],
            "kept_young": [_garbage(g) for g in young],
            "kept_live": [_garbage(g) for g in live],
        }
    _emit(args, report, "print_gc")
    return 0


def _garbage(item: Any) -> Report:
    return {
        "kind": item.kind,
        "path": str(item.path),
        "size": item.size,
        "age_seconds": round(item.age, 1),
        "owner": item.owner or None,
    }
