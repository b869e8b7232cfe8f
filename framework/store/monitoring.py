"""The store's monitoring records: monitor runs, their column statistics, the chain
from a drift report to the retraining it triggered and what the gate decided.

A mixin of :class:`framework.store.Store` (tables in ``40_monitoring.sql``), so the
monitoring queries live beside their tables rather than in the core store module.
"""

from __future__ import annotations

import json
from typing import Any

from framework.store.backends import MetadataBackend, Row

MONITOR_BLOB_REFERENCES: list[str] = [
    "SELECT report_blob, 'monitor ' || id, 'report.json' FROM monitor_runs"
    " WHERE report_blob IS NOT NULL",
    "SELECT html_blob, 'monitor ' || id, 'report.html' FROM monitor_runs"
    " WHERE html_blob IS NOT NULL",
]
"""The blobs monitor runs name, for ``store verify`` and ``store gc``."""

VERDICT_COLUMNS = (
    "id",
    "model",
    "version",
    "started_at",
    "data",
    "data_hash",
    "rows",
    "decision",
    "exit_code",
    "policy",
    "dataset_drift",
    "drift_share",
)
"""What a monitor run judged and decided: the part of it a run's chain shows."""

COLUMNS = (
    *VERDICT_COLUMNS,
    "spec_path",
    "ended_at",
    "summary_json",
    "report_blob",
    "html_blob",
    "report_path",
)
"""Every column ``record_monitor_run`` writes."""
UPDATABLE = {
    "retrain_run_id",
    "retrain_status",
    "promoted_version",
    "gate",
    "decision",
    "exit_code",
    "summary_json",
    "report_blob",
    "html_blob",
    "report_path",
    "ended_at",
}


class MonitoringRecords:
    """Monitor runs: written by ``specops monitor``, read by history and ``runs show``."""

    db: MetadataBackend

    def record_monitor_run(self, row: dict[str, Any], columns: list[dict[str, Any]]) -> None:
        """One monitor run and its per-column statistics, in one transaction."""
        values = [row.get(name) for name in COLUMNS]
        with self.transaction() as db:  # type: ignore[attr-defined]
            db.execute(
                f"INSERT INTO monitor_runs ({', '.join(COLUMNS)})"
                f" VALUES ({', '.join('?' for _ in COLUMNS)})",
                values,
            )
            db.executemany(
                "INSERT INTO monitor_columns (monitor_id, position, column_name, role, source,"
                " test, statistic, threshold, drift_if, status, null_share)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        row["id"],
                        position,
                        c["column"],
                        c["role"],
                        c["source"],
                        c.get("test") or None,
                        c.get("statistic"),
                        c.get("threshold"),
                        c.get("drift_if"),
                        c["status"],
                        c.get("null_share"),
                    )
                    for position, c in enumerate(columns)
                ],
            )

    def update_monitor_run(self, monitor_id: str, **fields: Any) -> None:
        """Add what happened after the verdict: the retraining it triggered (run id,
        status, gate verdicts, promoted version), the final decision, the report blobs."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"monitor_runs has no updatable column(s): {sorted(unknown)}")
        if "gate" in fields:
            fields["gate_json"] = json.dumps(fields.pop("gate"), default=str)
        names = sorted(fields)
        with self.transaction() as db:  # type: ignore[attr-defined]
            db.execute(
                f"UPDATE monitor_runs SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
                [*(fields[n] for n in names), monitor_id],
            )

    def monitor_run(self, monitor_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM monitor_runs WHERE id = ?", (monitor_id,)).fetchone()
        return _decoded(row) if row else None

    def monitor_runs(self, model: str, limit: int | None = None) -> list[dict[str, Any]]:
        """A model's monitor runs, oldest first (the last ``limit`` of them)."""
        query = "SELECT * FROM monitor_runs WHERE model = ? ORDER BY started_at DESC, id DESC"
        params: tuple[Any, ...] = (model,)
        if limit is not None:
            query += " LIMIT ?"
            params += (limit,)
        return [_decoded(r) for r in reversed(self.db.execute(query, params).fetchall())]

    def monitored_models(self) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT model FROM monitor_runs ORDER BY model")
        return [r[0] for r in rows]

    def monitor_columns(self, monitor_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Per-column statistics of each monitor run, in the order they were judged."""
        found: dict[str, list[dict[str, Any]]] = {i: [] for i in monitor_ids}
        if not monitor_ids:
            return found
        marks = ", ".join("?" for _ in monitor_ids)
        rows = self.db.execute(
            f"SELECT * FROM monitor_columns WHERE monitor_id IN ({marks})"
            " ORDER BY monitor_id, position",
            monitor_ids,
        )
        for row in rows:
            found[row["monitor_id"]].append(dict(row))
        return found

    def monitor_chain(self, run_id: str) -> dict[str, Any] | None:
        """The chain a monitor run belongs to, from either end.

        ``run_id`` is a monitor run id, or the id of a run that a monitor run
        triggered. Returns the monitor run (decision, drift share, data), its stored
        drift report (blob digests and path), the retraining run (status, trigger)
        and the gate's verdicts, with the version promoted (None when the
        challenger was rejected). None when ``run_id`` is neither.
        """
        monitor = self.monitor_run(run_id)
        if monitor is None:
            row = self.db.execute("SELECT trigger FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None or not row[0]:
                return None
            monitor = self.monitor_run(row[0])
            if monitor is None:
                return None
        retrain = None
        if monitor["retrain_run_id"]:
            row = self.db.execute(
                "SELECT id, status, started_at, ended_at, trigger FROM runs WHERE id = ?",
                (monitor["retrain_run_id"],),
            ).fetchone()
            retrain = dict(row) if row else {"id": monitor["retrain_run_id"], "status": "missing"}
        return {
            "monitor": {k: monitor[k] for k in VERDICT_COLUMNS},
            "report": {
                "json_blob": monitor["report_blob"],
                "html_blob": monitor["html_blob"],
                "path": monitor["report_path"],
                "drifted_columns": monitor["summary"].get("drifted_columns", []),
            },
            "retrain": retrain,
            "gate": monitor["gate"],
            "promoted_version": monitor["promoted_version"],
        }


def _decoded(row: Row) -> dict[str, Any]:
    """A monitor run's row, its JSON columns decoded; an edited one (not JSON, nested past
    any recursion limit, another kind of value) is a StoreError naming the monitor run."""
    from framework.store.store import record_json

    data = dict(row)
    owner = f"monitor run {data.get('id')}"
    data["summary"] = record_json(owner, "summary_json", data.pop("summary_json"))
    data["gate"] = record_json(
        owner, "gate_json", data.pop("gate_json"), empty="null", kinds=(list, type(None))
    )
    if data["dataset_drift"] is not None:
        data["dataset_drift"] = bool(data["dataset_drift"])
    return data
