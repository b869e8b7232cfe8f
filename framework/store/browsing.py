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


# -- which runs marked running are alive ------------------------------------------


@dataclass(frozen=True)
class RunStatusSql:
    """A run's status as ``Store.run`` reports it, as SQL over ``runs r``: a run still
    marked running whose process is gone reads ``interrupted``.

    Made by :func:`run_status_sql` from one listing of the live locks, so a table can
    filter, count, sort and page by the reported status in SQL: its cost does not grow
    with the runs that were killed (thousands, on a CI machine whose jobs died), where
    asking each run's lock (``Store.run``) did."""

    dead: str
    """True for a run marked running whose process died (placeholders: ``args``)."""
    args: tuple[Any, ...]

    def status(self) -> tuple[str, list[Any]]:
        """The reported status as a column expression, and its arguments."""
        return f"CASE WHEN {self.dead} THEN 'interrupted' ELSE r.status END", list(self.args)

    def where(self, status: str) -> tuple[str, list[Any]]:
        """A condition keeping the runs reported with ``status``, and its arguments."""
        if status == "interrupted":
            return f"({self.dead})", list(self.args)
        if status == "running":
            return f"r.status = 'running' AND NOT ({self.dead})", list(self.args)
        return "r.status = ?", [status]


def run_status_sql(store: Store) -> RunStatusSql:
    """How ``Store._live_status`` would judge every run marked running, from one look at
    the live locks.

    A local store lists the held ``live/run-*.lock`` files once (one ``flock`` probe per
    file not known dead, see :func:`framework.store.liveness.held_lock_names`); a run
    that started after that listing counts as alive (its lock may postdate it). A
    server's locks are asked for the lock tokens of the runs marked running (at once
    where the backend can, ``held_tokens``); a run whose token was not asked (it began
    since) counts as alive. Runs of stores older than run locks are judged by their
    PID, once per process."""
    import socket

    from framework.store.liveness import LIVE_DIR, held_lock_names
    from framework.store.store import now

    host = socket.gethostname()
    # a local owner is "HOST:PID": ``owner.rpartition(":")``'s host is exactly ours
    local = (
        f"substr(r.owner, 1, {len(host) + 1}) = ? AND substr(r.owner, {len(host) + 2})"
        " NOT LIKE '%:%'"
    )
    lock = "NULL" if ("runs", "lock") in getattr(store, "_missing", ()) else "r.lock"
    head = "r.status = 'running' AND COALESCE(r.owner, '') <> '' AND"
    if store.db.dialect == "sqlite":  # a lock file says nothing of another machine's run
        listed_at = now()
        names = held_lock_names(store.db.root, prefix="run-")  # type: ignore[attr-defined]
        held, held_args = _not_in(lock, [f"{LIVE_DIR}/{name}" for name in sorted(names)])
        legacy, legacy_args = _not_in("r.owner", _alive_owners(store, lock, local, host))
        dead = (
            f"{head} r.started_at < ? AND {local} AND CASE WHEN COALESCE({lock}, '') = ''"
            f" THEN {legacy} ELSE {held} END"
        )
        return RunStatusSql(dead, (listed_at, host + ":", *legacy_args, *held_args))
    # a server's lock answers for every machine; a token of another kind (a row copied
    # from a local store) does not: as for a lock file, only this machine's run is judged
    tokens = [
        row[0]
        for row in store.db.execute(
            f"SELECT DISTINCT {lock} FROM runs r WHERE r.status = 'running'"
            f" AND COALESCE(r.owner, '') <> '' AND COALESCE({lock}, '') <> ''"
        ).fetchall()
    ]
    answers = _held_tokens(store, tokens)
    dead_tokens = [token for token in tokens if answers.get(token) is False]
    unknown = [token for token in tokens if answers.get(token) is None]
    legacy, legacy_args = _not_in("r.owner", _alive_owners(store, lock, local, host))
    dead = (
        f"{head} CASE WHEN COALESCE({lock}, '') = '' THEN {local} AND {legacy}"
        f" WHEN {lock} = ANY(?) THEN 1 = 1 WHEN {lock} = ANY(?) THEN {local} ELSE 1 = 0 END"
    )
    args = (host + ":", *legacy_args, dead_tokens, unknown, host + ":")
    return RunStatusSql(dead, args)


def _held_tokens(store: Store, tokens: list[str]) -> dict[str, bool | None]:
    """Each lock token's ``is_held``: in one call when the backend answers many at once
    (``held_tokens``), else one question per token (a query each on a server)."""
    many = getattr(store.db, "held_tokens", None)
    if many is not None:
        return dict(many(tokens))
    return {token: store.db.is_held(token) for token in tokens}


def _not_in(column: str, values: list[str]) -> tuple[str, list[Any]]:
    """``column NOT IN (values)``, true when there are none (``IN ()`` is not portable)."""
    if not values:
        return "1 = 1", []
    return f"{column} NOT IN ({', '.join('?' for _ in values)})", list(values)


def _alive_owners(store: Store, lock: str, local: str, host: str) -> list[str]:
    """The owners (``HOST:PID``) of this machine's lock-less runs marked running (runs of
    stores older than run locks) whose process may live: asked once per PID, as
    ``Store._live_status`` does for each run."""
    import os

    alive = []
    for owner in _lockless_owners(store, lock, local, host):
        pid = owner.rpartition(":")[2]
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                continue  # gone: its runs were interrupted
            except (PermissionError, OverflowError):
                pass  # another user's process, or no PID at all: we cannot tell
        alive.append(owner)
    return alive


_LOCKLESS: dict[tuple[str, int], tuple[tuple[Any, ...], list[str]]] = {}
"""A SQLite store's lock-less owners, by (database, backend object): with the database's
change counters when they were read."""


def _lockless_owners(store: Store, lock: str, local: str, host: str) -> list[str]:
    """The distinct owners of this machine's lock-less runs marked running.

    Finding them scans the runs table (no index has status; its rows are wide: ~10 ms
    for 5,000 runs), which every view of the runs table would pay. On SQLite the answer
    is kept until the database changes (``PRAGMA data_version`` moves when another
    connection commits, ``total_changes()`` when this one does): only writes change it."""
    key = (store.db.display_url, id(store.db))
    version: tuple[Any, ...] | None = None
    if store.db.dialect == "sqlite":
        version = (
            store.db.execute("PRAGMA data_version").fetchone()[0],
            store.db.execute("SELECT total_changes()").fetchone()[0],
        )
        known = _LOCKLESS.get(key)
        if known is not None and known[0] == version:
            return known[1]
    owners = [
        row[0]
        for row in store.db.execute(
            "SELECT DISTINCT r.owner FROM runs r WHERE r.status = 'running'"
            f" AND COALESCE({lock}, '') = '' AND COALESCE(r.owner, '') <> '' AND {local}",
            [host + ":"],
        ).fetchall()
    ]
    if version is not None:
        if len(_LOCKLESS) > 64:
            _LOCKLESS.clear()
        _LOCKLESS[key] = (version, owners)
    return owners
