"""Bounded reads for browsing a store (the web UI): one page of rows, only the columns shown.

``Store.versions()`` and ``Store.runs()`` decode every JSON column of every row,
which is right for the CLI's reports and too slow for a page over 5,000 runs.
These functions select the columns a listing shows, with ``LIMIT``/``OFFSET``,
through the store's metadata backend, in SQL every backend's dialect speaks
(SQLite and PostgreSQL): they work on a shared store too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.store.store import AliasMove, Store

MAX_PAGE = 500
"""No query here returns more rows than this, whatever a caller asks for."""


@dataclass(frozen=True)
class ModelOverview:
    """One model in a listing: how many versions, the newest, and its aliases."""

    name: str
    versions: int
    registered: int
    latest: int
    latest_at: str
    aliases: dict[str, int]


@dataclass(frozen=True)
class VersionRow:
    """One version in a listing: what a table shows, without files, signature or lineage."""

    name: str
    version: int
    run_id: str
    status: str
    created_at: str
    model_type: str
    metrics: dict[str, float]


def _bounded(limit: int) -> int:
    return max(1, min(MAX_PAGE, int(limit)))


def model_overviews(
    store: Store, *, limit: int = 50, offset: int = 0, name: str | None = None
) -> list[ModelOverview]:
    """Models by name, one page (or just ``name``): version counts from one grouped
    query, aliases from one."""
    where, params = ("WHERE name = ? ", [name]) if name is not None else ("", [])
    rows = store.db.execute(
        "SELECT name, COUNT(*), SUM(CASE WHEN status = 'registered' THEN 1 ELSE 0 END),"
        f" MAX(version), MAX(created_at) FROM model_versions {where}GROUP BY name"
        " ORDER BY name LIMIT ? OFFSET ?",
        [*params, _bounded(limit), max(0, offset)],
    ).fetchall()
    names = [row[0] for row in rows]
    aliases: dict[str, dict[str, int]] = {name: {} for name in names}
    if names:
        marks = ", ".join("?" for _ in names)
        for row in store.db.execute(
            f"SELECT name, alias, version FROM aliases WHERE name IN ({marks})", names
        ):
            aliases[row[0]][row[1]] = int(row[2])
    return [
        ModelOverview(
            name=row[0],
            versions=int(row[1]),
            registered=int(row[2] or 0),
            latest=int(row[3]),
            latest_at=row[4],
            aliases=dict(sorted(aliases[row[0]].items())),
        )
        for row in rows
    ]


def version_rows(
    store: Store,
    name: str,
    *,
    limit: int = 50,
    offset: int = 0,
    newest_first: bool = True,
    versions: list[int] | None = None,
) -> list[VersionRow]:
    """Versions of ``name`` (newest first unless told), one page; or exactly ``versions``."""
    query = (
        "SELECT name, version, run_id, status, created_at, model_type, metrics_json"
        " FROM model_versions WHERE name = ?"
    )
    params: list[Any] = [name]
    if versions is not None:
        if not versions:
            return []
        query += f" AND version IN ({', '.join('?' for _ in versions)})"
        params += [int(v) for v in versions]
    query += f" ORDER BY version {'DESC' if newest_first else 'ASC'} LIMIT ? OFFSET ?"
    params += [_bounded(limit), max(0, offset)]
    return [
        VersionRow(
            name=row[0],
            version=int(row[1]),
            run_id=row[2],
            status=row[3],
            created_at=row[4],
            model_type=row[5],
            metrics=json.loads(row[6] or "{}"),
        )
        for row in store.db.execute(query, params)
    ]


def run_specs(store: Store, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The effective spec of each run (e.g. to read its gate), by run id."""
    found: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(run_ids))[:MAX_PAGE]
    if not ids:
        return found
    marks = ", ".join("?" for _ in ids)
    for row in store.db.execute(f"SELECT id, spec_json FROM runs WHERE id IN ({marks})", ids):
        found[row[0]] = json.loads(row[1] or "{}")
    return found


def alias_moves(
    store: Store, name: str, *, version: int | None = None, limit: int = 50
) -> list[AliasMove]:
    """A model's latest alias moves, newest first; only those to or from ``version``
    when given."""
    from framework.store.store import _move

    query, params = "SELECT * FROM alias_history WHERE name = ?", [name]
    if version is not None:
        query += " AND (to_version = ? OR from_version = ?)"
        params += [int(version), int(version)]
    query += " ORDER BY id DESC LIMIT ?"
    return [_move(row) for row in store.db.execute(query, [*params, _bounded(limit)])]


def monitor_runs_of_version(
    store: Store, name: str, version: int, *, limit: int = 20
) -> list[dict[str, Any]]:
    """The latest monitor runs that compared a batch with ``name/version``, newest first
    (decision, drift share, the retraining they triggered and what it promoted)."""
    rows = store.db.execute(
        "SELECT id, started_at, decision, drift_share, policy, retrain_run_id,"
        " retrain_status, promoted_version FROM monitor_runs"
        " WHERE model = ? AND version = ? ORDER BY started_at DESC, id DESC LIMIT ?",
        (name, int(version), _bounded(limit)),
    )
    return [dict(row) for row in rows]


def versions_of_runs(store: Store, run_ids: list[str]) -> dict[str, list[tuple[str, int, str]]]:
    """``(name, version, status)`` of the versions each run made, by run id."""
    found: dict[str, list[tuple[str, int, str]]] = {}
    ids = list(dict.fromkeys(run_ids))[:MAX_PAGE]
    if not ids:
        return found
    marks = ", ".join("?" for _ in ids)
    for row in store.db.execute(
        f"SELECT run_id, name, version, status FROM model_versions WHERE run_id IN ({marks})"
        " ORDER BY name, version",
        ids,
    ):
        found.setdefault(row[0], []).append((row[1], int(row[2]), row[3]))
    return found


def run_trigger(store: Store, run_id: str) -> str | None:
    """What started a run (a monitor run's id for a drift retraining), or None."""
    row = store.db.execute("SELECT trigger FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row[0] if row else None


def retraining_loops(store: Store, name: str, *, limit: int = 8) -> list[dict[str, Any]]:
    """The latest monitor runs of ``name`` that started a retraining, newest first: the
    version judged, the decision, the retraining run, its outcome and what it promoted."""
    rows = store.db.execute(
        "SELECT id, started_at, decision, drift_share, version, retrain_run_id,"
        " retrain_status, promoted_version FROM monitor_runs"
        " WHERE model = ? AND retrain_run_id IS NOT NULL"
        " ORDER BY started_at DESC, id DESC LIMIT ?",
        (name, _bounded(limit)),
    )
    return [dict(row) for row in rows]
