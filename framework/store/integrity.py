"""Store integrity: ``store verify`` finds what is broken, ``store gc`` what is left over.

Verify reads every blob a row names (``BLOB_REFERENCES``) and checks its sha256,
and checks that aliases and versions point at rows that exist. Gc lists blobs no row
names and temporary files a killed process left behind; it deletes only when asked,
and only while holding the store's write lock (see ``Store._restore_missing_blobs``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from framework.errors import StoreError
from framework.package_paths import SHA256, path_problem
from framework.store.backends import BlobInfo, Row
from framework.store.liveness import live_processes, stale_locks
from framework.store.store import BlobReference, Store, run_record_json

TEMP_PREFIXES: tuple[str, ...] = (".incoming-", ".package-", ".load-", ".champion-")
"""Names of the temporary files and directories specops writes inside a store."""

log = logging.getLogger("specops.store")

DEFAULT_MIN_AGE = 3600.0
"""Seconds: younger temp files and blobs may belong to a run still in progress."""


@dataclass(frozen=True)
class IntegrityProblem:
    """One thing wrong in a store: what, which model/version/file, and the path."""

    kind: str
    what: str
    where: str
    path: str = ""


@dataclass(frozen=True)
class VerifyReport:
    """What verify found, and how much it looked at (so "ok" is not "checked nothing")."""

    problems: list[IntegrityProblem]
    blobs: int
    versions: int
    aliases: int
    database_check: str = "quick_check"
    schema_version: int | None = None
    """The store's schema version (``framework.store.migrations``) when it was read."""

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Garbage:
    """A blob nothing references, or a temp file or directory left behind."""

    kind: str  # "blob" | "temp" | "lock"
    path: Path | str  # a blob: its file, or (a remote artifact store) its URL
    size: int
    age: float  # seconds since last modified
    owner: str = ""  # the lock of a live process that may own it: never deleted
    blob: str = ""  # a blob's sha256

    @property
    def digest(self) -> str | None:
        return self.blob or None if self.kind == "blob" else None


# verify ---------------------------------------------------------------------


def verify(store: Store, *, full: bool = False) -> VerifyReport:
    """Every problem in the store; an empty list means it is consistent.

    First the database's own check (SQLite's of its pages: ``quick_check``, or
    ``integrity_check`` when ``full``): a damaged page is found here even if no
    query below happens to read it. The rows are then read in one read
    transaction, a snapshot: a run or promote that commits meanwhile is either
    wholly seen or not at all, never half. Every named blob is read and hashed.
    """
    pragma = "integrity_check" if full else "quick_check"
    if store.db.dialect != "sqlite":
        pragma = f"{store.db.dialect} check"
    problems = _database_problems(store, full)
    if problems:
        # rows of a damaged file mislead
        return VerifyReport(problems, 0, 0, 0, pragma, store.schema_version)
    with store.db.snapshot():
        references = store.blob_references()
        # the rows themselves, not ModelVersions: a damaged row is a finding here, where
        # every other command refuses it
        versions = store.db.execute(
            "SELECT name, version, run_id, status, files_json FROM model_versions"
            " ORDER BY name, version"
        ).fetchall()
        aliases = store.alias_table()
        problems = (
            _blob_problems(store, references)
            + _alias_problems(store, aliases, versions)
            + _version_problems(store, versions)
            + _run_problems(store)
        )
        blobs = len({ref.digest for ref in references})
    return VerifyReport(problems, blobs, len(versions), len(aliases), pragma, store.schema_version)


def _database_problems(store: Store, full: bool) -> list[IntegrityProblem]:
    """What the database's own check finds wrong (SQLite: at most 20 lines)."""
    lines = store.db.integrity_problems(full=full)
    if not lines:
        return []
    if store.db.dialect == "sqlite":
        where, path = f"database {store.database.name}", str(store.database)
        hint = f"restore it from a backup, or move {store.root} away to start a new store"
    else:
        where, path = f"database {store.display_url}", ""
        hint = "restore it from a backup"
    return [IntegrityProblem("damaged_database", f"{line} ({hint})", where, path) for line in lines]


def _blob_problems(store: Store, references: list[BlobReference]) -> list[IntegrityProblem]:
    """Each reference to a blob that is missing or no longer hashes to its name."""
    states: dict[str, str | None] = {}  # digest -> what is wrong with it, None: nothing
    problems = []
    for ref in references:
        if not SHA256.fullmatch(ref.digest):  # never a path nor a key: not looked up
            what = (
                f"names the blob {ref.digest[:80]!r}, which is not a sha256: the row is "
                "damaged or crafted"
            )
            problems.append(IntegrityProblem("bad_reference", what, f"{ref.owner} file {ref.item}"))
            continue
        if ref.digest not in states:
            states[ref.digest] = store.artifacts.problem(ref.digest, full=True)
        what = states[ref.digest]
        if what is None:
            continue
        kind = "missing_blob" if "missing" in what else "corrupt_blob"
        where = f"{ref.owner} file {ref.item}"
        problems.append(IntegrityProblem(kind, what, where, blob_location(store, ref.digest)))
    return problems


def blob_location(store: Store, digest: str) -> str:
    """Where a blob is, to show: its file in a local store, else the backend's URL."""
    path_of = getattr(store.artifacts, "path_of", None)
    if path_of is not None:
        return str(path_of(digest))
    url_of = getattr(store.artifacts, "url_of", None)  # a remote backend may say where
    if url_of is not None:
        return str(url_of(digest))
    return f"{store.artifacts.display_url} blob {digest}"


def _alias_problems(
    store: Store, aliases: list[tuple[str, str, int]], versions: list[Row]
) -> list[IntegrityProblem]:
    """Aliases at a missing or rejected version, or disagreeing with their history."""
    statuses = {(row[0], int(row[1])): row[3] for row in versions}
    problems = []
    for name, alias, number in aliases:
        where = f"alias {name}@{alias}"
        status = statuses.get((name, number))
        if status is None:
            what = f"points at version {number}, which does not exist"
            problems.append(IntegrityProblem("dangling_alias", what, where))
        elif status != "registered":
            what = f"points at version {number}, which was {status}"
            problems.append(IntegrityProblem("alias_to_unregistered", what, where))
        history = store.alias_history(name, alias)
        if not history or history[-1].to_version != number:
            last = history[-1].to_version if history else "nothing"
            what = f"points at version {number} but its history ends at {last}"
            problems.append(IntegrityProblem("alias_history_mismatch", what, where))
    return problems


def _version_problems(store: Store, versions: list[Row]) -> list[IntegrityProblem]:
    """Versions whose run is not recorded (their lineage would lead nowhere), and file
    lists naming a path outside the package (a damaged or crafted row: every other
    command refuses the version)."""
    recorded = set(store.run_ids())
    problems = []
    for name, number, run_id, _status, files_json in versions:
        ref = f"{name}/{int(number)}"
        if run_id not in recorded:
            what = f"its run {run_id} is not in the store"
            problems.append(IntegrityProblem("orphan_version", what, ref))
        what = _files_problem(files_json)
        if what is not None:
            problems.append(IntegrityProblem("damaged_version", what, ref))
    return problems


def _run_problems(store: Store) -> list[IntegrityProblem]:
    """Runs whose record every other command refuses to read (an edited JSON column)."""
    problems = []
    rows = store.db.execute("SELECT id, spec_json, lineage_json, outputs_json FROM runs")
    names = ("spec_json", "lineage_json", "outputs_json")
    for run_id, *columns in rows:
        for column, text in zip(names, columns, strict=True):
            try:
                run_record_json(run_id, column, text)
            except StoreError as exc:
                what = str(exc).split(": `specops store verify`")[0]
                problems.append(IntegrityProblem("damaged_run", what, f"run {run_id}"))
                break
    return problems


def _files_problem(files_json: str) -> str | None:
    """What is wrong with a version's file list (paths only: digests are checked with
    the blobs), or None."""
    try:
        files = json.loads(files_json)
    except (TypeError, ValueError, RecursionError):
        return "its file list is not JSON"
    if not isinstance(files, dict):
        return "its file list is not a mapping"
    for relative in files:
        problem = path_problem(relative)
        if problem is not None:
            return (
                f"its file {str(relative)[:120]!r} {problem}: a path outside its package; "
                "the version is refused by every command (damaged or crafted row)"
            )
    return None


# gc -------------------------------------------------------------------------


def find_garbage(store: Store) -> list[Garbage]:
    """Unreferenced blobs, leftover temp files and dead processes' lock files, oldest
    first; deletes nothing.

    A live specops process (one holding a lock under ``live/``, see
    :mod:`framework.store.liveness`) may own any temp file or blob made since it
    opened the store: those are marked with its lock as ``owner`` and never deleted,
    whatever ``--min-age`` says.
    """
    referenced = {ref.digest for ref in store.blob_references()}
    found = [_blob(store, b) for b in store.artifacts.blobs() if b.digest not in referenced]
    for folder in getattr(store.artifacts, "linked_folders", ()):
        log.warning(
            "store gc: blob folder %s is a symbolic link (to %s): its files are not the "
            "store's to delete and are left alone; replace the link by a folder",
            folder,
            os.path.realpath(folder),
        )
    found += _temp_entries(store.root)
    found = _mark_live(store, found)
    found += [_garbage("lock", path) for path in stale_locks(store.root)]
    return sorted(found, key=lambda g: (-g.age, str(g.path)))


def _mark_live(store: Store, found: list[Garbage]) -> list[Garbage]:
    """Give each entry made since the oldest live process opened the store that owner."""
    live = live_processes(store.root, exclude=frozenset(store.own_locks()))
    if not live:
        return found
    oldest = min(live, key=lambda p: p.since)
    since = oldest.since - 2.0  # mtime granularity and clock steps: err on keeping
    now = time.time()
    return [replace(g, owner=str(oldest.lock)) if now - g.age >= since else g for g in found]


def collect(store: Store, garbage: list[Garbage]) -> list[Garbage]:
    """Delete ``garbage`` under the write lock; returns what was deleted.

    References are read again inside the lock: a blob a version started naming
    since ``find_garbage`` ran is kept. Writers re-check their blobs under the same
    lock, so a blob deleted here is stored again before any row names it.
    """
    deleted = []
    with store.transaction():
        referenced = {ref.digest for ref in store.blob_references()}
        for item in garbage:
            if item.owner or (item.kind == "blob" and item.digest in referenced):
                continue
            if item.kind == "blob":
                if store.artifacts.delete(item.blob):
                    deleted.append(item)
            elif _remove(Path(item.path)):
                deleted.append(item)
    return deleted


def _blob(store: Store, info: BlobInfo) -> Garbage:
    """A blob no row names, as garbage: its size and age from the backend's listing."""
    age = max(0.0, time.time() - info.modified)
    path_of = getattr(store.artifacts, "path_of", None)
    path = path_of(info.digest) if path_of is not None else blob_location(store, info.digest)
    return Garbage("blob", path, info.size, age, blob=info.digest)


def _temp_entries(root: Path) -> list[Garbage]:
    """Files and directories named like specops temp files, anywhere in the store."""
    found = []
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        for name in files:
            if name.startswith(TEMP_PREFIXES):
                found.append(_garbage("temp", here / name))
        for name in list(subdirectories):
            if name.startswith(TEMP_PREFIXES):
                found.append(_garbage("temp", here / name))
                subdirectories.remove(name)  # counted as a whole, not walked
    return found


def _garbage(kind: str, path: Path) -> Garbage:
    """Size (a directory's whole content) and age of one entry."""
    try:
        age = max(0.0, time.time() - path.lstat().st_mtime)
    except FileNotFoundError:
        age = 0.0
    return Garbage(kind, path, _size(path), age)


def _size(path: Path) -> int:
    if not path.is_dir():
        try:
            return path.lstat().st_size
        except FileNotFoundError:
            return 0
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(directory) / name).lstat().st_size
            except FileNotFoundError:
                continue
    return total


def _remove(path: Path) -> bool:
    """Delete a file or directory; False when it was already gone."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    return True
