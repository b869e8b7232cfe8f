"""The local store: SQLite for what happened, content-addressed blobs for what was made.

Every write that must be all-or-nothing (a model version and its alias move) is
one SQLite transaction; blobs are written before the row that names them, so a
crash leaves at worst an unreferenced blob, never a row pointing at nothing.
"""

from __future__ import annotations

import json
import sqlite3
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
        self, run_id: str, spec: Any, lineage: dict[str, Any], params: dict[str, Any]
    ) -> None:
        from framework.spec.model import thawed

        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (id, spec_name, spec_path, spec_hash, spec_json, profile,"
                " status, started_at, lineage_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                "INSERT OR IGNORE INTO datasets VALUES (?, ?, ?, ?)",
                (digest, rows, json.dumps(columns), now()),
            )
            db.execute("UPDATE runs SET data_hash = ? WHERE id = ?", (digest, run_id))

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
