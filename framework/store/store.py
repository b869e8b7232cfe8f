"""The store: rows for what happened, content-addressed blobs for what was made.

Rows live in a metadata backend (``store.db``, SQLite, by default; PostgreSQL for a
team), blobs in an artifact backend (the ``artifacts/`` folder; S3): see
:mod:`framework.store.backends`. The queries here are portable SQL. Every write that
must be all-or-nothing (a model version and its alias move) is one transaction, and
writers of every process (and machine) queue for it; blobs are written before the row
that names them, so a crash leaves at worst an unreferenced blob, never a row pointing
at nothing.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from framework.errors import StoreError
from framework.package_paths import check_version_files, inside
from framework.store.addressing import (
    address_for,
    display_url,
    local_directory,
    normalized_artifacts,
    open_artifacts,
    open_metadata,
)
from framework.store.artifacts import ArtifactStore
from framework.store.backends import (
    ArtifactBackend,
    Liveness,
    MetadataBackend,
    Row,
    StoreAddress,
)
from framework.store.failures import as_user_error
from framework.store.liveness import LiveLock
from framework.store.migrations import (
    BASELINE,
    LATEST,
    SCHEMA_TABLE,
    migrate,
    newer_error,
    recorded_version,
)
from framework.store.monitoring import MONITOR_BLOB_REFERENCES, MonitoringRecords
from framework.store.opening import DATABASE, check_database_file

CHAMPION = "champion"

ARTIFACTS_SETTING = "artifacts"
"""The ``store_settings`` key recording where a store's blobs are (a display URL)."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """Sortable by time, unique across processes."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class ModelVersion:
    """One registered (or rejected) model version, as stored."""

    name: str
    version: int
    run_id: str
    status: str
    created_at: str
    model_type: str
    files: dict[str, str]
    signature: dict[str, Any]
    metrics: dict[str, float]
    lineage: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


ROLLBACK = "rollback"
"""The reason of an alias move made by ``Store.rollback`` (``rollback: why`` with a note)."""


def _package_files(row: Row) -> Iterable[tuple[str, str, str]]:
    owner = f"model {row[0]}/{row[1]}"
    files = _json(row[2], "{}")
    if not isinstance(files, dict):  # a damaged row names no blob (verify reports it)
        return []
    return [(str(digest), owner, str(relative)) for relative, digest in files.items()]


def _json(text: str | None, empty: str) -> Any:
    """A JSON column's value; None for one that is not JSON (a damaged row names no
    blob here: what reads the row reports it)."""
    try:
        return json.loads(text or empty)
    except (TypeError, ValueError, RecursionError):  # nested past the recursion limit too
        return None


def _training_rows(row: Row) -> Iterable[tuple[str, str, str]]:
    lineage = _json(row[2], "{}")
    rows = lineage.get("training_rows") if isinstance(lineage, dict) else None
    blob = rows.get("blob") if isinstance(rows, dict) else None
    return [(str(blob), f"model {row[0]}/{row[1]}", "training rows")] if blob else []


def _snapshot_parts(row: Row) -> Iterable[tuple[str, str, str]]:
    owner = f"dataset {row[0][:12]}"
    parts = _json(row[1], "[]")
    if isinstance(parts, dict):
        items: Iterable[tuple[Any, Any]] = parts.items()
    elif isinstance(parts, list):
        items = enumerate(parts)
    else:
        return []
    return [(str(digest), owner, f"snapshot part {key}") for key, digest in items]


ReferenceQuery = str | tuple[str, Callable[[Row], Iterable[tuple[str, str, str]]]]

BLOB_REFERENCES: list[ReferenceQuery] = [
    # model package files: one per file of every version (files_json: file -> sha256)
    ("SELECT name, version, files_json FROM model_versions", _package_files),
    # fingerprints of each version's training rows, for the gate (framework.training_rows)
    ("SELECT name, version, lineage_json FROM model_versions", _training_rows),
    # snapshots of ingested data, kept for reproduction
    "SELECT blob, 'dataset ' || substr(hash, 1, 12), 'snapshot'"
    " FROM datasets WHERE blob IS NOT NULL",
    # the parts of a snapshot kept partition by partition (a Dask run)
    ("SELECT hash, parts_json FROM datasets WHERE parts_json IS NOT NULL", _snapshot_parts),
    # monitor runs' drift reports (JSON and HTML)
    *MONITOR_BLOB_REFERENCES,
]
"""Every place a row names a blob: SQL returning ``(sha256, owner, item)``, or SQL and
a function reading those from each row (blobs named inside a JSON column: decoded
here, so the SQL stays what every backend's dialect speaks).

``store verify`` checks each named blob and ``store gc`` keeps them, so a table
that starts naming blobs appends its query here. ``gc`` deletes unreferenced blobs
while holding the write lock; a writer therefore checks, inside the transaction
that records a blob, that it still exists (see ``add_version``).
"""


@dataclass(frozen=True)
class BlobReference:
    """One row naming one blob: which blob, whose it is, and which part of it."""

    digest: str
    owner: str
    item: str


@dataclass(frozen=True)
class AliasMove:
    """One row of an alias's history: where it went, from where, who moved it and why."""

    id: int
    name: str
    alias: str
    from_version: int | None
    to_version: int
    at: str
    actor: str
    reason: str

    @property
    def is_rollback(self) -> bool:
        return self.reason == ROLLBACK or self.reason.startswith(f"{ROLLBACK}: ")


@dataclass(frozen=True)
class RunRecord:
    """One stored run, its JSON columns decoded."""

    id: str
    spec_name: str
    spec_path: str
    spec_hash: str
    spec: dict[str, Any]
    profile: str | None
    status: str
    started_at: str
    ended_at: str | None
    data_hash: str | None
    lineage: dict[str, Any]
    outputs: dict[str, Any]
    trigger: str | None = None
    damaged: str | None = None
    """Why its record cannot be read (a JSON column that is not what specops writes);
    set only in a listing (``Store.runs``), whose status then says ``damaged``."""

    @property
    def seconds(self) -> float | None:
        """Wall time from start to end; None while running (or if the process died)."""
        if not self.ended_at:
            return None
        delta = datetime.fromisoformat(self.ended_at) - datetime.fromisoformat(self.started_at)
        return delta.total_seconds()


@dataclass(frozen=True)
class StepRecord:
    """One recorded step of a run."""

    position: int
    name: str
    component: str
    plugin: str
    status: str
    seconds: float | None
    detail: str


def undo_stack(moves: list[AliasMove]) -> list[AliasMove]:
    """The alias moves a rollback can still undo, oldest first.

    Replays the history in order: a rollback pops the latest move still on the
    stack; any other move pushes (one that left the alias where it was is ignored).
    The top of the stack is the move the next rollback undoes, so repeated rollbacks
    walk back one move at a time, and a new promotion after a rollback is undone first.
    """
    stack: list[AliasMove] = []
    for move in moves:
        if move.is_rollback:
            if stack:
                stack.pop()
        elif move.from_version != move.to_version:
            stack.append(move)
    return stack


class Store(MonitoringRecords):
    """Runs, datasets, model versions and aliases of one store: rows in a metadata
    backend (``store.db`` in a ``.specops`` directory, or a shared database) and blobs
    in an artifact backend (its ``artifacts/`` folder, or an object store)."""

    def __init__(self, where: Path | StoreAddress, *, write: bool = True) -> None:
        """Open (for ``write``, creating) the store ``where`` names: a local store's
        directory (or the workdir of the remote store this command chose, see
        :func:`framework.store.addressing.address_for`), or an address.

        A damaged or lost local database is refused before SQLite sees it (see
        :mod:`framework.store.opening`). Without ``write``, a store this process
        cannot write is opened read-only: reading commands work on a read-only copy.
        """
        address = where if isinstance(where, StoreAddress) else address_for(where)
        self.address = address
        self.root = address.workdir
        """The local directory: the store itself when local, scratch and caches if not."""
        self._process_lock: LiveLock | None = None
        self._run_locks: dict[str, Liveness] = {}
        self.db: MetadataBackend = None  # type: ignore[assignment]
        try:
            self.db = open_metadata(address, write=write)
            self.read_only = self.db.read_only
            self._missing: list[tuple[str, str]] = []
            self.schema_version = recorded_version(self.db)
            newer = self.schema_version is not None and self.schema_version > LATEST
            if newer and write:
                raise newer_error(self.display_url, self.schema_version or 0)
            if self.read_only or newer:
                self.read_only = True  # a newer store is read, never written
                self._missing = _refuse_old_schema(
                    self.db, self.display_url, newer=self.schema_version if newer else None
                )
                if self.schema_version is None:
                    self.schema_version = BASELINE  # made before schema versions
            else:
                self.db.ensure_schema(_schema_statements())
                if self.schema_version != LATEST:
                    migrate(self.db, self.display_url)
                    self.schema_version = recorded_version(self.db)
            self.artifacts: ArtifactBackend = self._open_artifacts()
            if not self.read_only and address.is_local:
                self._process_lock = LiveLock.for_process(self.root)
            elif write:
                self._process_lock = _workdir_lock(self.root)
        except BaseException as exc:
            self.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise as_user_error(exc) or exc from exc
            raise

    @classmethod
    def open(cls, address: StoreAddress, *, write: bool = True) -> Store:
        """Open (for ``write``, creating) the store at ``address``."""
        return cls(address, write=write)

    @classmethod
    def open_existing(cls, where: Path | StoreAddress, *, write: bool = True) -> Store:
        """Open a store that must already exist: registry commands never create one."""
        address = where if isinstance(where, StoreAddress) else address_for(where)
        if address.is_local:
            root = local_directory(address.metadata)
            if not (root / DATABASE).is_file():
                check_database_file(root)  # blobs without a database: lost, not "no store"
                raise StoreError(
                    f"no specops store at {root}; run `specops run SPEC` first, "
                    "or point --store (or SPECOPS_STORE) at the .specops directory"
                )
            return cls(address, write=write)
        store = cls(address, write=write)
        if store.read_only and ("runs", "id") in store.db.missing_columns(_schema_statements()):
            where_ = store.display_url
            store.close()
            raise StoreError(
                f"no specops store at {where_}; run `specops run SPEC --store ...` first"
            )
        return store

    @property
    def display_url(self) -> str:
        """Where the store's metadata is, safe to show (no password)."""
        db = getattr(self, "db", None)
        return db.display_url if db is not None else display_url(self.address.metadata)

    @property
    def database(self) -> Path:
        """A local store's database file."""
        return self.root / DATABASE

    def _open_artifacts(self) -> ArtifactBackend:
        """The artifact backend: the one given, else the one recorded, else (local) the
        folder beside the metadata. A location given that differs from the recorded one
        is refused; a first one given is recorded (its display URL: no credentials)."""
        address = self.address
        recorded = self.setting(ARTIFACTS_SETTING)
        given = address.artifacts
        if given is None:
            if recorded is not None:
                return open_artifacts(recorded, address)
            if address.is_local:
                return ArtifactStore(local_directory(address.metadata) / "artifacts")
            raise StoreError(
                f"the store {self.display_url} has no artifacts location recorded: say where "
                "its blobs go with --artifacts URL, SPECOPS_ARTIFACTS or store.artifacts in "
                "the spec (e.g. s3://bucket/prefix)"
            )
        wanted = normalized_artifacts(given)
        if recorded is not None and recorded != wanted:
            raise StoreError(
                f"the store {self.display_url} keeps its artifacts at {recorded}, but "
                f"{wanted} was given: drop --artifacts / SPECOPS_ARTIFACTS / "
                "store.artifacts, or name the recorded location"
            )
        folder = (local_directory(address.metadata) / "artifacts").absolute()
        beside = address.is_local and wanted == str(folder)
        if address.is_local and recorded is None and not beside and self._has_records(folder):
            raise StoreError(
                f"the store {self.display_url} keeps its artifacts beside it ({folder}), but "
                f"{wanted} was given: a store's blobs stay where its rows expect them; to move "
                f"the store, copy it: `specops store copy {self.display_url} NEW_STORE "
                f"--artifacts {wanted}`"
            )
        backend = open_artifacts(given, address)
        if recorded is None and not beside and not self.read_only:
            with self.transaction() as db:
                db.execute(
                    "INSERT INTO store_settings (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (ARTIFACTS_SETTING, wanted),
                )
            if self.setting(ARTIFACTS_SETTING) != wanted:  # another process recorded first
                backend_url = self.setting(ARTIFACTS_SETTING)
                raise StoreError(
                    f"the store {self.display_url} keeps its artifacts at {backend_url}, "
                    f"but {wanted} was given"
                )
        return backend

    def _has_records(self, folder: Path) -> bool:
        """Whether the store holds anything: a run recorded, or blobs in ``folder``."""
        if self.db.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is not None:
            return True
        return folder.is_dir() and any(True for _ in ArtifactStore(folder).blobs())

    def setting(self, key: str) -> str | None:
        """A value of ``store_settings`` (None: not recorded, or an old read-only store)."""
        if ("store_settings", "key") in self._missing:
            return None
        row = self.db.execute("SELECT value FROM store_settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        for liveness in self._run_locks.values():
            liveness.release()
        self._run_locks.clear()
        if self._process_lock is not None:
            self._process_lock.release()
            self._process_lock = None
        db = getattr(self, "db", None)  # None: opening failed
        if db is not None:
            db.close()
            self.db = None  # type: ignore[assignment]

    def own_locks(self) -> set[Path]:
        """The lock files this store object holds (``store gc`` ignores its own)."""
        locks = {self._process_lock.path} if self._process_lock is not None else set()
        if self.db is not None and self.db.dialect == "sqlite":
            locks |= {self.root / lock.token for lock in self._run_locks.values()}
        return locks

    def transaction(self) -> AbstractContextManager[MetadataBackend]:
        """One write transaction; writers of every process (and machine) queue for it."""
        return self.db.transaction()

    # runs -------------------------------------------------------------------

    def begin_run(
        self,
        run_id: str,
        spec: Any,
        lineage: dict[str, Any],
        params: dict[str, Any],
        trigger: str | None = None,
    ) -> None:
        from framework.redact import hide_credentials
        from framework.spec.model import thawed

        # held from before the row exists until after it says how the run ended
        lock = self._run_locks[run_id] = self.db.hold(f"run-{run_id}")
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (id, spec_name, spec_path, spec_hash, spec_json, profile,"
                " status, started_at, lineage_json, trigger, owner, lock)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    spec.name,
                    str(spec.path),
                    spec.spec_hash,
                    json.dumps(hide_credentials(thawed(spec.document)), default=str),
                    spec.profile,
                    "running",
                    now(),
                    json.dumps(lineage, default=str),
                    trigger,
                    f"{socket.gethostname()}:{os.getpid()}",
                    lock.token,
                ),
            )
            db.executemany(
                "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                [(run_id, k, json.dumps(v, default=str)) for k, v in params.items()],
            )

    def record_step(self, run_id: str, position: int, step: Any) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO steps (run_id, position, name, component, plugin, status,"
                " seconds, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, position) DO UPDATE SET name = excluded.name,"
                " component = excluded.component, plugin = excluded.plugin,"
                " status = excluded.status, seconds = excluded.seconds,"
                " detail = excluded.detail",
                (
                    run_id,
                    position,
                    step.name,
                    step.component,
                    step.plugin,
                    step.status,
                    step.seconds,
                    step.detail,
                ),
            )

    def record_dataset(self, run_id: str, digest: str, rows: int, columns: list[str]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO datasets (hash, rows, columns, first_seen)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING",
                (digest, rows, json.dumps(columns), now()),
            )
            db.execute("UPDATE runs SET data_hash = ? WHERE id = ?", (digest, run_id))

    def snapshot_blob(self, data_hash: str) -> str | None:
        """The blob holding the snapshot of a dataset version, if one was kept."""
        row = self.db.execute("SELECT blob FROM datasets WHERE hash = ?", (data_hash,)).fetchone()
        return row[0] if row and row[0] else None

    def keep_snapshot(self, data_hash: str, frame: Any) -> str:
        """Store a dataset version once; later runs on the same data reuse it.

        Arrow IPC (Feather) with LZ4: about as small as Parquet here and several
        times faster to write, which matters because every run pays it.
        """
        return self.start_snapshot(data_hash, frame, background=False)()

    def start_snapshot(
        self, data_hash: str, frame: Any, *, background: bool = True
    ) -> Callable[[], str]:
        """:meth:`keep_snapshot` in two halves, so a run goes on while the blob is written.

        Now, on this thread: the frame's values are taken as an Arrow table (what
        could not be kept raises here). Then, on a thread of its own, the blob is
        written, synced and hashed (Arrow, ``fsync`` and ``hashlib`` release the GIL:
        a single-threaded step beside it barely slows). The returned function waits for
        it and records it, on the caller's thread (the database connection's); it
        raises what writing raised. A snapshot kept before is reused, nothing written.
        """
        existing = self.snapshot_blob(data_hash)
        if existing:
            return lambda: existing
        # the frame with a 0..n-1 index (not stored), as ``DataFrame.to_feather`` writes
        # it: it shares the frame's blocks, and while it lives pandas copies a block
        # before anyone writes into one (copy-on-write), so the table built from it
        # (which reads the same memory) keeps the values of now
        view = frame.reset_index(drop=True)
        table = arrow_table(view)

        def write(path: Path, _alive: Any = view) -> None:  # the view lives as long as this
            write_feather(table, path)

        written = _on_thread(lambda: self.artifacts.put_written(write), background)

        def record() -> str:
            blob = written()
            with self.transaction() as db:
                # under the write lock `store gc` also takes: the blob stays until we commit
                if not self.artifacts.exists(blob):
                    blob = self.artifacts.put_written(write)
                db.execute("UPDATE datasets SET blob = ? WHERE hash = ?", (blob, data_hash))
            return blob

        return record

    def keep_snapshot_parts(self, data_hash: str, manifest: str, parts: list[str]) -> str:
        """Record a snapshot kept partition by partition: its manifest blob and part blobs,
        already written with ``artifacts.put_written``. A snapshot kept before is reused.
        Under the write lock (which ``store gc`` takes too) every named blob must still
        exist: a missing one raises StoreError and the caller writes it again."""
        existing = self.snapshot_blob(data_hash)
        if existing:
            return existing
        with self.transaction() as db:
            missing = [b for b in (manifest, *parts) if not self.artifacts.exists(b)]
            if missing:
                raise StoreError(
                    f"snapshot blob {missing[0][:12]} vanished before it was recorded "
                    "(a concurrent `store gc`); write it again"
                )
            db.execute(
                "UPDATE datasets SET blob = ?, parts_json = ? WHERE hash = ?",
                (manifest, json.dumps(parts), data_hash),
            )
        return manifest

    def record_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO metrics (run_id, name, value) VALUES (?, ?, ?)"
                " ON CONFLICT (run_id, name) DO UPDATE SET value = excluded.value",
                [(run_id, k, v) for k, v in metrics.items()],
            )

    def end_run(self, run_id: str, status: str, outputs: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, ended_at = ?, outputs_json = ? WHERE id = ?",
                (status, now(), json.dumps(outputs, default=str), run_id),
            )
        lock = self._run_locks.pop(run_id, None)
        if lock is not None:
            lock.release()

    # model versions -----------------------------------------------------------

    def add_version(
        self,
        *,
        name: str,
        run_id: str,
        status: str,
        model_type: str,
        package_dir: Path,
        signature: dict[str, Any],
        metrics: dict[str, float],
        lineage: dict[str, Any],
    ) -> ModelVersion:
        """Store a model package's files as blobs, then its row, numbered atomically."""
        files = {
            str(path.relative_to(package_dir)): self.artifacts.put_file(path)
            for path in sorted(package_dir.rglob("*"))
            if path.is_file()
        }
        created = now()
        with self.transaction() as db:
            self._restore_missing_blobs(files, package_dir)
            row = db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?", (name,)
            ).fetchone()
            version = int(row[0])
            db.execute(
                "INSERT INTO model_versions (name, version, run_id, status, created_at,"
                " model_type, files_json, signature_json, metrics_json, lineage_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    version,
                    run_id,
                    status,
                    created,
                    model_type,
                    json.dumps(files),
                    json.dumps(signature),
                    json.dumps(metrics),
                    json.dumps(lineage, default=str),
                ),
            )
        return ModelVersion(
            name, version, run_id, status, created, model_type, files, signature, metrics, lineage
        )

    def version(self, name: str, version: int) -> ModelVersion | None:
        row = self.db.execute(
            "SELECT * FROM model_versions WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
        return _version(row) if row else None

    def model_names(self) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT name FROM model_versions ORDER BY name")
        return [row[0] for row in rows]

    def version_numbers(self, name: str) -> list[int]:
        rows = self.db.execute(
            "SELECT version FROM model_versions WHERE name = ? ORDER BY version", (name,)
        )
        return [int(row[0]) for row in rows]

    def aliases(self, name: str) -> dict[str, int]:
        rows = self.db.execute("SELECT alias, version FROM aliases WHERE name = ?", (name,))
        return {row[0]: int(row[1]) for row in rows}

    def alias(self, name: str, alias: str = CHAMPION) -> int | None:
        row = self.db.execute(
            "SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)
        ).fetchone()
        return int(row[0]) if row else None

    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str, reason: str
    ) -> AliasMove:
        """Point ``name@alias`` at ``version`` and record the move, in one transaction."""
        with self.transaction() as db:
            self._check_files(name, alias, version)
            return _move_alias(db, name, alias, version, actor=actor, reason=reason)

    def set_aliases(
        self, name: str, version: int, moves: list[tuple[str, str]], *, actor: str
    ) -> list[AliasMove]:
        """Point several aliases (each with its reason) at ``version`` in one transaction."""
        if not moves:
            return []
        with self.transaction() as db:
            self._check_files(name, moves[0][0], version)
            return [
                _move_alias(db, name, alias, version, actor=actor, reason=reason)
                for alias, reason in moves
            ]

    def materialize(self, model: ModelVersion, destination: Path) -> Path:
        """Write the version's package to ``destination``, every file verified by hash;
        a file list naming a path outside ``destination`` (or a blob that is not a
        sha256) is refused before anything is written, whoever built ``model``."""
        check_version_files(model.files, model.ref)
        for relative, digest in model.files.items():
            target = inside(destination, relative, model.ref)
            self.artifacts.copy_out(digest, f"{relative} of {model.ref}", target)
        return destination

    def _check_files(self, name: str, alias: str, version: int) -> None:
        """Refuse to point an alias at a version whose package is damaged: every blob
        must still hash to its name (checked under the write lock, so gc cannot
        change the answer before the move commits)."""
        model = self.version(name, version)
        if model is None:
            return  # ``_move_alias`` names the missing version
        for relative, digest in sorted(model.files.items()):
            try:
                self.artifacts.verified(digest, f"{relative} of {model.ref}")
            except StoreError as exc:
                raise StoreError(
                    f"{name}@{alias} not moved to {model.ref}: {exc}; the alias is "
                    "unchanged (run `specops store verify`)"
                ) from exc

    def _restore_missing_blobs(self, files: dict[str, str], package_dir: Path) -> None:
        """Store again any blob ``store gc`` removed since ``put_file`` found it present.

        Called with the write lock held; ``gc`` holds the same lock while it deletes,
        so after this check the blobs stay until the row naming them is committed.
        """
        for relative, digest in files.items():
            if not self.artifacts.exists(digest):
                self.artifacts.put_file(package_dir / relative)

    # registry and run queries ---------------------------------------------------

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of ``name`` (of every model when None), by name and number."""
        if name is None:
            rows = self.db.execute("SELECT * FROM model_versions ORDER BY name, version")
        else:
            rows = self.db.execute(
                "SELECT * FROM model_versions WHERE name = ? ORDER BY version", (name,)
            )
        return [_version(row) for row in rows]

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The versions one run made (registered or rejected), by name and number."""
        rows = self.db.execute(
            "SELECT * FROM model_versions WHERE run_id = ? ORDER BY name, version", (run_id,)
        )
        return [_version(row) for row in rows]

    def alias_table(self) -> list[tuple[str, str, int]]:
        """Every alias as ``(name, alias, version)``: what verify checks and tests compare."""
        rows = self.db.execute("SELECT name, alias, version FROM aliases ORDER BY name, alias")
        return [(row[0], row[1], int(row[2])) for row in rows]

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of the model's aliases (or of one alias), oldest first."""
        query, args = "SELECT * FROM alias_history WHERE name = ?", [name]
        if alias is not None:
            query, args = query + " AND alias = ?", [name, alias]
        return [_move(row) for row in self.db.execute(query + " ORDER BY id", args)]

    def rollback(
        self, name: str, alias: str = CHAMPION, *, actor: str, note: str | None = None
    ) -> AliasMove:
        """Undo the latest alias move not yet undone, in one transaction.

        The alias returns to the version that move took it from; see
        :func:`undo_stack` for how repeated rollbacks walk back. The history is read
        under the write lock, so two concurrent rollbacks undo two different moves.
        """
        with self.transaction() as db:
            stack = undo_stack(self.alias_history(name, alias))
            current = self.alias(name, alias)
            if not stack or current is None:
                raise StoreError(f"{name}@{alias} has never been moved; nothing to roll back")
            last = stack[-1]
            if last.from_version is None:
                raise StoreError(
                    f"{name}@{alias} has nothing to roll back to: version {last.to_version} is "
                    f"the first version it pointed at ({last.reason}, by {last.actor} at "
                    f"{last.at}); promote another version instead"
                )
            if current != last.to_version:
                raise StoreError(
                    f"{name}@{alias} points at version {current} but its history ends at "
                    f"version {last.to_version}; run `specops store verify`"
                )
            reason = f"{ROLLBACK}: {note}" if note else ROLLBACK
            self._check_files(name, alias, last.from_version)
            return _move_alias(db, name, alias, last.from_version, actor=actor, reason=reason)

    def runs(self, *, limit: int | None = None, spec_name: str | None = None) -> list[RunRecord]:
        """Runs, newest first; of one spec name when given."""
        query, args = "SELECT * FROM runs", []
        if spec_name is not None:
            query, args = query + " WHERE spec_name = ?", [spec_name]
        query += " ORDER BY started_at DESC, id DESC"
        if limit:
            query, args = query + " LIMIT ?", [*args, limit]
        return [self._run(row, listing=True) for row in self.db.execute(query, args)]

    def run(self, run_id: str) -> RunRecord | None:
        """One run; StoreError when its record is damaged (see :func:`run_record_json`)."""
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._run(row) if row else None

    def run_ids(self, prefix: str = "") -> list[str]:
        """Run ids starting with ``prefix``, newest first (no LIKE: ids may hold '_')."""
        rows = self.db.execute(
            "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY started_at DESC, id DESC",
            (len(prefix), prefix),
        )
        return [row[0] for row in rows]

    def params(self, run_id: str) -> dict[str, Any]:
        rows = self.db.execute(
            "SELECT key, value FROM params WHERE run_id = ? ORDER BY key", (run_id,)
        )
        return {row[0]: json.loads(row[1]) if row[1] is not None else None for row in rows}

    def metrics(self, run_id: str) -> dict[str, float]:
        rows = self.db.execute(
            "SELECT name, value FROM metrics WHERE run_id = ? ORDER BY name", (run_id,)
        )
        return {row[0]: row[1] for row in rows}

    def steps(self, run_id: str) -> list[StepRecord]:
        rows = self.db.execute(
            "SELECT position, name, component, plugin, status, seconds, detail"
            " FROM steps WHERE run_id = ? ORDER BY position",
            (run_id,),
        )
        return [
            StepRecord(int(r[0]), r[1], r[2] or "", r[3] or "", r[4], r[5], r[6] or "")
            for r in rows
        ]

    def dataset(self, digest: str) -> dict[str, Any] | None:
        """Rows, columns and first sighting of one dataset version."""
        row = self.db.execute(
            "SELECT rows, columns, first_seen FROM datasets WHERE hash = ?", (digest,)
        ).fetchone()
        if row is None:
            return None
        return {"rows": int(row[0]), "columns": json.loads(row[1]), "first_seen": row[2]}

    def blob_references(self) -> list[BlobReference]:
        """Every blob some row names, from every query in ``BLOB_REFERENCES``."""
        found = []
        for query in BLOB_REFERENCES:
            if isinstance(query, str):
                rows: Iterable[Any] = self.db.execute(query)
            else:
                sql, expand = query
                rows = [named for row in self.db.execute(sql) for named in expand(row)]
            found += [BlobReference(str(row[0]), str(row[1]), str(row[2])) for row in rows]
        return found

    def _run(self, row: Row, *, listing: bool = False) -> RunRecord:
        """A run as its row says. A JSON column that is not what specops writes (not
        JSON, nested past any recursion limit, not an object) is a damaged record:
        StoreError naming the run, or in a ``listing`` the run with status
        ``damaged``, so one edited row does not hide every other run."""
        damaged = None
        try:
            spec, lineage, outputs = (
                run_record_json(row["id"], column, row[column])
                for column in ("spec_json", "lineage_json", "outputs_json")
            )
        except StoreError as exc:
            if not listing:
                raise
            spec, lineage, outputs, damaged = {}, {}, {}, str(exc)
        return RunRecord(
            id=row["id"],
            spec_name=row["spec_name"],
            spec_path=row["spec_path"],
            spec_hash=row["spec_hash"],
            spec=spec,
            profile=row["profile"],
            status="damaged"
            if damaged
            else self._live_status(row["status"], row["owner"], _column(row, "lock")),
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            data_hash=row["data_hash"],
            lineage=lineage,
            outputs=outputs,
            trigger=row["trigger"],
            damaged=damaged,
        )

    def _live_status(self, status: str, owner: str | None, lock: str | None) -> str:
        """A run still marked running whose process is gone (killed, crashed) was
        interrupted.

        A run's process holds its liveness lock (``MetadataBackend.hold``: a lock file
        locally, see :mod:`framework.store.liveness`) until it records how it ended, so
        an unheld lock means it died, whatever PID the host reuses. A local lock file
        says nothing about another machine's process; runs of older stores have no lock:
        their host and PID are checked.
        """
        if status != "running" or not owner:
            return status
        host, _, pid = owner.rpartition(":")
        if lock and self.db.dialect != "sqlite":
            held = self.db.is_held(lock)  # a server's lock: answers for every machine
            if held is not None:
                return "running" if held else "interrupted"
        if host != socket.gethostname():
            return status  # another machine's run: we cannot tell
        if lock:
            return "running" if self.db.is_held(lock) else "interrupted"
        if not pid.isdigit():
            return status
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return "interrupted"
        except PermissionError:
            return status
        return status


READ_ONLY_TOLERATED = {("runs", "lock"), ("store_settings", "key"), ("store_settings", "value")}
"""Columns a read-only store may lack: the queries do without them (see ``_column``).
So may ``store_schema`` (a store made before schema versions: version 1)."""


def _workdir_lock(workdir: Path) -> LiveLock | None:
    """A shared store's process lock in its local workdir (it protects this process's
    scratch files there from ``store gc``); None where the workdir cannot be written (a
    container's read-only file system): then no scratch file is written there either."""
    try:
        return LiveLock.for_process(workdir)
    except OSError:
        return None


def _refuse_old_schema(
    db: MetadataBackend, where: str, *, newer: int | None = None
) -> list[tuple[str, str]]:
    """A read-only store cannot be upgraded: refuse one that lacks more than we can do
    without, rather than fail later on a missing table. Returns what it lacks.

    A store of a ``newer`` schema version is read only while it has every column this
    specops reads (a newer migration may have renamed or dropped one)."""
    lacking = db.missing_columns(_schema_statements())
    missing = [
        f"{table}.{column}"
        for table, column in lacking
        if (table, column) not in READ_ONLY_TOLERATED and table != SCHEMA_TABLE
    ]
    if missing and newer is not None:
        raise StoreError(
            f"the store at {where} was made by a newer specops (schema {newer}; this one "
            f"knows {LATEST}) and lacks {', '.join(missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}, which this one reads: upgrade specops"
        )
    if missing:
        raise StoreError(
            f"the store at {where} was made by an older specops and is read-only, so it "
            f"cannot be upgraded (it lacks {', '.join(missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}): open it once with write access "
            "(any specops command) to upgrade it"
        )
    return lacking


def _schema_statements() -> list[str]:
    """Every CREATE statement of every ``*.sql`` file in this package, in name order.

    Each concern (runs, registry, prediction log, monitoring) keeps its tables in
    its own file; all use ``IF NOT EXISTS`` so opening an older store adds new tables.
    """
    files = sorted(
        (f for f in resources.files("framework.store").iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    statements = []
    for file in files:
        text = "\n".join(
            line for line in file.read_text().splitlines() if not line.strip().startswith("--")
        )
        statements += [s.strip() for s in text.split(";") if s.strip()]
    return statements


def run_record_json(run_id: str, column: str, text: str | None) -> dict[str, Any]:
    """A run's JSON column as the object specops wrote; StoreError saying what is wrong
    (the row was edited: a team store's database, a store handed over)."""
    return record_json(f"run {run_id}", column, text)  # type: ignore[return-value]


def record_json(
    owner: str,
    column: str,
    text: str | None,
    *,
    empty: str = "{}",
    kinds: tuple[type, ...] = (dict,),
) -> Any:
    """A row's JSON column as specops wrote it (one of ``kinds``); StoreError naming the
    row's ``owner`` and the column when it is not JSON, nested past any recursion limit,
    or of another kind."""
    try:
        value = json.loads(text or empty)
    except RecursionError:
        what = "nested deeper than any record specops writes"
    except (TypeError, ValueError) as exc:
        what = f"not JSON ({str(exc)[:80]})"
    else:
        if isinstance(value, kinds):
            return value
        expected = " or ".join(
            "an object" if k is dict else "null" if k is type(None) else f"a {k.__name__}"
            for k in kinds
        )
        what = f"a JSON {type(value).__name__}, not {expected}"
    raise StoreError(
        f"{owner}'s record is damaged ({column}: {what}): `specops store verify` lists "
        "the damaged rows"
    )


def _version(row: Row) -> ModelVersion:
    """A version as its row says, its file list checked first: whoever can write the
    store's database chooses that list, whose keys become paths and values blob names
    (a crafted ``../../x`` is a damaged store, refused naming NAME/VERSION)."""
    ref = f"{row['name']}/{int(row['version'])}"
    try:
        files = json.loads(row["files_json"])
    except (TypeError, ValueError, RecursionError) as exc:
        raise StoreError(
            f"{ref}'s file list is not JSON: the store's record of this version is damaged "
            "(`specops store verify`)"
        ) from exc
    check_version_files(files, ref)
    return ModelVersion(
        name=row["name"],
        version=int(row["version"]),
        run_id=row["run_id"],
        status=row["status"],
        created_at=row["created_at"],
        model_type=row["model_type"],
        files=files,
        signature=_version_json(ref, "signature_json", row),
        metrics=_version_json(ref, "metrics_json", row),
        lineage=_version_json(ref, "lineage_json", row),
    )


def _version_json(ref: str, column: str, row: Row) -> Any:
    """A version row's JSON column: damaged (not JSON, nested past the recursion limit)
    is a StoreError naming the version, never a crash of the command listing it."""
    return record_json(ref, column, row[column], kinds=(dict, list, type(None)))


def _move_alias(
    db: MetadataBackend, name: str, alias: str, version: int, *, actor: str, reason: str
) -> AliasMove:
    """Move an alias and append its history row; the caller holds the transaction."""
    row = db.execute(
        "SELECT status FROM model_versions WHERE name = ? AND version = ?", (name, version)
    ).fetchone()
    if row is None:
        raise StoreError(f"model {name} has no version {version}")
    if row[0] != "registered":
        raise StoreError(f"{name}/{version} was {row[0]}; only a registered version can be {alias}")
    old = db.execute(
        "SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)
    ).fetchone()
    from_version = int(old[0]) if old else None
    at = now()
    db.execute(
        "INSERT INTO aliases (name, alias, version, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version,"
        " updated_at = excluded.updated_at",
        (name, alias, version, at),
    )
    row = db.execute(
        "INSERT INTO alias_history (name, alias, from_version, to_version, at, actor, reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (name, alias, from_version, version, at, actor, reason),
    ).fetchone()
    return AliasMove(int(row[0]), name, alias, from_version, version, at, actor, reason)


def _move(row: Row) -> AliasMove:
    return AliasMove(
        id=int(row["id"]),
        name=row["name"],
        alias=row["alias"],
        from_version=None if row["from_version"] is None else int(row["from_version"]),
        to_version=int(row["to_version"]),
        at=row["at"],
        actor=row["actor"],
        reason=row["reason"],
    )


def _column(row: Row, name: str) -> Any:
    """A column that older stores opened read-only (so not upgraded) may lack."""
    return row[name] if name in row.keys() else None  # noqa: SIM118 (Row: in = values)


def arrow_table(frame: Any) -> Any:
    """The frame as the Arrow table ``DataFrame.to_feather`` writes (the same bytes)."""
    import pyarrow

    return pyarrow.Table.from_pandas(frame, preserve_index=None)


FEATHER_CHUNK_ROWS = 65_536
"""Rows per record batch: ``pyarrow.feather.write_feather``'s default."""


def write_feather(table: Any, path: Path) -> None:
    """The table as Feather (Arrow IPC) with LZ4, byte for byte what ``to_feather`` wrote,
    compressed on this one thread: beside a run's split (which holds the other core) a
    compression pool of two threads made the split itself ~0.05 s slower."""
    import pyarrow
    import pyarrow.ipc

    options = pyarrow.ipc.IpcWriteOptions(compression="lz4", use_threads=False)
    with (
        pyarrow.OSFile(str(path), "wb") as sink,
        pyarrow.ipc.new_file(sink, table.schema, options=options) as writer,
    ):
        writer.write_table(table, max_chunksize=FEATHER_CHUNK_ROWS)


def _on_thread(work: Callable[[], str], background: bool) -> Callable[[], str]:
    """Run ``work`` on a thread of its own (or now, if not ``background``); the returned
    function waits for it and returns its result or raises its exception."""
    import threading

    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    if not background:
        run()
    else:
        thread = threading.Thread(target=run, name="specops-snapshot")
        thread.start()

    def wait() -> str:
        if background:
            thread.join()
        if "error" in outcome:
            raise outcome.pop("error")
        return outcome["value"]

    return wait
