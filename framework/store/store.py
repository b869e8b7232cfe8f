"""The local store: SQLite for what happened, content-addressed blobs for what was made.

Every write that must be all-or-nothing (a model version and its alias move) is
one SQLite transaction; blobs are written before the row that names them, so a
crash leaves at worst an unreferenced blob, never a row pointing at nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from framework.errors import StoreError
from framework.store.artifacts import ArtifactStore

CHAMPION = "champion"


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

BLOB_REFERENCES: list[str] = [
    # model package files: one row per file of every version
    "SELECT f.value, 'model ' || v.name || '/' || v.version, f.key"
    " FROM model_versions AS v, json_each(v.files_json) AS f",
    # Parquet snapshots of ingested data, kept for reproduction
    "SELECT blob, 'dataset ' || substr(hash, 1, 12), 'snapshot'"
    " FROM datasets WHERE blob IS NOT NULL",
]
"""Every place a row names a blob, as SQL returning ``(sha256, owner, item)``.

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


class Store:
    """Runs, datasets, model versions and aliases of one ``.specops`` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.artifacts = ArtifactStore(root / "artifacts")
        self.db = sqlite3.connect(root / "store.db", timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=60000")
        self.db.execute("PRAGMA foreign_keys=ON")
        with self.transaction():
            for statement in _schema_statements():
                self.db.execute(statement)

    @classmethod
    def open_existing(cls, root: Path) -> Store:
        """Open a store that must already exist: registry commands never create one."""
        if not (root / "store.db").is_file():
            raise StoreError(
                f"no specops store at {root}; run `specops run SPEC` first, "
                "or point --store (or SPECOPS_STORE) at the .specops directory"
            )
        return cls(root)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so concurrent writers queue, not fail."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # runs -------------------------------------------------------------------

    def begin_run(
        self,
        run_id: str,
        spec: Any,
        lineage: dict[str, Any],
        params: dict[str, Any],
        trigger: str | None = None,
    ) -> None:
        from framework.spec.model import thawed

        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (id, spec_name, spec_path, spec_hash, spec_json, profile,"
                " status, started_at, lineage_json, trigger) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    spec.name,
                    str(spec.path),
                    spec.spec_hash,
                    json.dumps(thawed(spec.document), default=str),
                    spec.profile,
                    "running",
                    now(),
                    json.dumps(lineage, default=str),
                    trigger,
                ),
            )
            db.executemany(
                "INSERT OR REPLACE INTO params (run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, k, json.dumps(v, default=str)) for k, v in params.items()],
            )

    def record_step(self, run_id: str, position: int, step: Any) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
                "INSERT OR IGNORE INTO datasets (hash, rows, columns, first_seen)"
                " VALUES (?, ?, ?, ?)",
                (digest, rows, json.dumps(columns), now()),
            )
            db.execute("UPDATE runs SET data_hash = ? WHERE id = ?", (digest, run_id))

    def snapshot_blob(self, data_hash: str) -> str | None:
        """The blob holding the snapshot of a dataset version, if one was kept."""
        row = self.db.execute("SELECT blob FROM datasets WHERE hash = ?", (data_hash,)).fetchone()
        return row[0] if row and row[0] else None

    def keep_snapshot(self, data_hash: str, frame: Any) -> str:
        """Store a dataset version as Parquet once; later runs on the same data reuse it."""
        existing = self.snapshot_blob(data_hash)
        if existing:
            return existing
        handle, temp = tempfile.mkstemp(dir=self.root, prefix=".incoming-", suffix=".parquet")
        os.close(handle)
        try:
            frame.to_parquet(temp, index=False)
            blob = self.artifacts.put_file(Path(temp))
        finally:
            Path(temp).unlink(missing_ok=True)
        with self.transaction() as db:
            db.execute("UPDATE datasets SET blob = ? WHERE hash = ?", (blob, data_hash))
        return blob

    def record_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO metrics VALUES (?, ?, ?)",
                [(run_id, k, v) for k, v in metrics.items()],
            )

    def end_run(self, run_id: str, status: str, outputs: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, ended_at = ?, outputs_json = ? WHERE id = ?",
                (status, now(), json.dumps(outputs, default=str), run_id),
            )

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
            row = db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?", (name,)
            ).fetchone()
            version = int(row[0])
            db.execute(
                "INSERT INTO model_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def set_alias(self, name: str, alias: str, version: int, *, actor: str, reason: str) -> None:
        """Point ``name@alias`` at ``version`` and record the move, in one transaction."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT status FROM model_versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
            if row is None:
                raise StoreError(f"model {name} has no version {version}")
            if row[0] != "registered":
                raise StoreError(
                    f"{name}/{version} was {row[0]}; only a registered version can be {alias}"
                )
            old = db.execute(
                "SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)
            ).fetchone()
            at = now()
            db.execute(
                "INSERT OR REPLACE INTO aliases VALUES (?, ?, ?, ?)", (name, alias, version, at)
            )
            db.execute(
                "INSERT INTO alias_history"
                " (name, alias, from_version, to_version, at, actor, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, alias, old[0] if old else None, version, at, actor, reason),
            )

    def materialize(self, model: ModelVersion, destination: Path) -> Path:
        """Write the version's package to ``destination``, every file verified by hash."""
        for relative, digest in model.files.items():
            self.artifacts.copy_out(digest, f"{relative} of {model.ref}", destination / relative)
        return destination


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


def _version(row: sqlite3.Row) -> ModelVersion:
    return ModelVersion(
        name=row["name"],
        version=int(row["version"]),
        run_id=row["run_id"],
        status=row["status"],
        created_at=row["created_at"],
        model_type=row["model_type"],
        files=json.loads(row["files_json"]),
        signature=json.loads(row["signature_json"]),
        metrics=json.loads(row["metrics_json"]),
        lineage=json.loads(row["lineage_json"]),
    )
