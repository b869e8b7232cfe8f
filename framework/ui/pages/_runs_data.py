"""The runs table's data: one page of runs, filtered and sorted in SQL.

The store's ``Store.runs`` decodes every row it returns (spec and lineage JSON) and
knows no offset, no status filter and no sort by metric: fine for ``runs list``'s
twenty rows, not for a table paged through 5,000 runs in under 200 ms. So the page
is chosen here in one portable query (SQLite and PostgreSQL speak it) reading only
the columns the table shows, and the metrics and versions of that page's rows only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from framework.store import Store
from framework.store.browsing import RunStatusSql, run_status_sql

PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000
STATUSES = ("passed", "rejected", "failed_checks", "error", "running", "interrupted")
TRIGGERS = ("manual", "monitor")
SORTS = ("started", "duration", "status", "spec")


@dataclass(frozen=True)
class RunsQuery:
    """What the table shows: filters, sort (a column or ``metric:NAME``), page."""

    model: str = ""
    status: str = ""
    trigger: str = ""
    sort: str = "started"
    descending: bool = True
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RunsQuery:
        """From the page's query string; anything unknown falls back to the default, so
        a hand-edited link shows a page rather than an error."""
        sort = params.get("sort", "started") or "started"
        if sort not in SORTS and not (sort.startswith("metric:") and len(sort) > 7):
            sort = "started"
        status = params.get("status", "")
        trigger = params.get("trigger", "")
        return cls(
            model=params.get("model", "")[:200],
            status=status if status in STATUSES else "",
            trigger=trigger if trigger in TRIGGERS else "",
            sort=sort[:200],
            descending=params.get("order", "desc") != "asc",
            page=_number(params.get("page"), 1, 1, MAX_PAGE),
            per_page=_number(params.get("per_page"), PER_PAGE, 1, MAX_PER_PAGE),
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string of this view with ``changes``: for links (sort, next page)."""
        values = {
            "model": self.model,
            "status": self.status,
            "trigger": self.trigger,
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "page": str(self.page),
            "per_page": str(self.per_page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        defaults = {"sort": "started", "order": "desc", "page": "1", "per_page": str(PER_PAGE)}
        return {k: v for k, v in values.items() if v and defaults.get(k) != v}


@dataclass(frozen=True)
class RunRow:
    """One row of the table."""

    id: str
    spec: str
    status: str
    started_at: str
    ended_at: str | None
    seconds: float | None
    trigger: str | None
    data_hash: str | None
    metrics: dict[str, float | None] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RunsPage:
    """One page of the table, and what its filters and sort links offer."""

    query: RunsQuery
    rows: list[RunRow]
    total: int
    metric_names: list[str]
    models: list[str]
    key_metrics: list[str] = field(default_factory=list)
    """The metrics the gates of this page's runs judge (else the first few by name):
    the table's columns; the sort offers every metric."""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


def _number(text: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(text or default)
    except ValueError:
        return default
    return min(max(value, low), high)


def runs_page(store: Store, query: RunsQuery) -> RunsPage:
    """The runs of ``query``'s page, their metrics and versions, and the total count."""
    status = run_status_sql(store)  # one look at the live locks, for the whole page
    where, args = _filters(query, status)
    total = int(store.db.execute(f"SELECT COUNT(*) FROM runs r{where}", args).fetchone()[0])
    rows = _page(
        store, query, status, where, args, query.per_page, (query.page - 1) * query.per_page
    )
    ids = [row.id for row in rows]
    metrics = _metrics_of(store, ids)
    models = _versions_of(store, ids)
    shown = [
        replace(row, metrics=metrics.get(row.id, {}), models=models.get(row.id, [])) for row in rows
    ]
    return RunsPage(
        query,
        shown,
        total,
        metric_names(store, query.model),
        spec_names(store),
        _key_metrics(store, shown),
    )


def _key_metrics(store: Store, rows: Sequence[RunRow]) -> list[str]:
    """What ``models list`` shows per version, for the page's runs together: the
    metrics each run's gate names, else its first few by name; in order, once."""
    from framework.store.browsing import run_specs
    from framework.ui.queries import key_metrics

    specs = run_specs(store, [row.id for row in rows if row.metrics])
    found = [
        name
        for row in rows
        if row.metrics
        for name in key_metrics(specs.get(row.id, {}).get("gate"), row.metrics)
    ]
    return list(dict.fromkeys(found))


def _filters(query: RunsQuery, status: RunStatusSql) -> tuple[str, list[Any]]:
    clauses, args = [], []
    if query.model:
        clauses.append("r.spec_name = ?")
        args.append(query.model)
    if query.status:  # running / interrupted: as the store reports them, judged in SQL
        clause, more = status.where(query.status)
        clauses.append(clause)
        args += more
    if query.trigger == "manual":
        clauses.append("r.trigger IS NULL")
    elif query.trigger == "monitor":
        clauses.append("r.trigger IS NOT NULL")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _order(query: RunsQuery, status: RunStatusSql) -> tuple[str, str, list[Any], list[Any]]:
    """(JOIN, ORDER BY, the JOIN's args, the ORDER BY's args): a metric sort joins that
    metric; a run without it is last whichever the direction (portable: no ``NULLS
    LAST``). Status sorts by the reported one (interrupted is not running)."""
    way = "DESC" if query.descending else "ASC"
    tie = f"r.started_at {way}, r.id {way}"
    if query.sort.startswith("metric:"):
        join = " LEFT JOIN metrics m ON m.run_id = r.id AND m.name = ?"
        order = f"CASE WHEN m.value IS NULL THEN 1 ELSE 0 END, m.value {way}, {tie}"
        return join, order, [query.sort[len("metric:") :]], []
    if query.sort == "status":
        expression, args = status.status()
        return "", f"{expression} {way}, {tie}", [], args
    if query.sort == "spec":
        return "", f"r.spec_name {way}, {tie}", [], []
    return "", tie, [], []


COLUMNS = "r.id, r.spec_name, {status}, r.started_at, r.ended_at, r.trigger, r.data_hash"
"""The table's columns; the status is the reported one (``RunStatusSql.status``)."""


def _page(
    store: Store,
    query: RunsQuery,
    status: RunStatusSql,
    where: str,
    args: list[Any],
    limit: int,
    offset: int,
) -> list[RunRow]:
    if query.sort == "duration":
        return _by_duration(store, query, status, where, args, limit, offset)
    join, order, join_args, order_args = _order(query, status)
    expression, status_args = status.status()
    rows = store.db.execute(
        f"SELECT {COLUMNS.format(status=expression)} FROM runs r{join}{where}"
        f" ORDER BY {order} LIMIT ? OFFSET ?",
        [*status_args, *join_args, *args, *order_args, limit, offset],
    ).fetchall()
    return [_row(row) for row in rows]


def _by_duration(
    store: Store,
    query: RunsQuery,
    status: RunStatusSql,
    where: str,
    args: list[Any],
    limit: int,
    offset: int,
) -> list[RunRow]:
    """Durations are differences of ISO text times, which SQLite and PostgreSQL compute
    differently: the few columns needed for every filtered run are read and sorted here
    (5,000 short rows: a few milliseconds), then only the page's rows are built."""
    rows = store.db.execute(f"SELECT r.id, r.started_at, r.ended_at FROM runs r{where}", args)
    timed = [(_seconds(row[1], row[2]), row[0]) for row in rows]
    known = sorted((t for t in timed if t[0] is not None), reverse=query.descending)
    unknown = [t for t in timed if t[0] is None]
    chosen = [run_id for _, run_id in (known + unknown)[offset : offset + limit]]
    if not chosen:
        return []
    marks = ", ".join("?" for _ in chosen)
    expression, status_args = status.status()
    found = {
        row[0]: _row(row)
        for row in store.db.execute(
            f"SELECT {COLUMNS.format(status=expression)} FROM runs r WHERE r.id IN ({marks})",
            [*status_args, *chosen],
        )
    }
    return [found[run_id] for run_id in chosen if run_id in found]


def _row(row: Any) -> RunRow:
    return RunRow(
        id=row[0],
        spec=row[1],
        status=row[2],
        started_at=row[3],
        ended_at=row[4],
        seconds=_seconds(row[3], row[4]),
        trigger=row[5],
        data_hash=row[6],
    )


def _seconds(started: str | None, ended: str | None) -> float | None:
    from datetime import datetime

    if not started or not ended:
        return None
    try:
        return (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    except ValueError:
        return None


def _metrics_of(store: Store, ids: Sequence[str]) -> dict[str, dict[str, float | None]]:
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    found: dict[str, dict[str, float | None]] = {}
    for row in store.db.execute(
        f"SELECT run_id, name, value FROM metrics WHERE run_id IN ({marks})", list(ids)
    ):
        found.setdefault(row[0], {})[row[1]] = row[2]
    return found


def _versions_of(store: Store, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    found: dict[str, list[dict[str, Any]]] = {}
    for row in store.db.execute(
        f"SELECT run_id, name, version, status FROM model_versions WHERE run_id IN ({marks})"
        " ORDER BY name, version",
        list(ids),
    ):
        found.setdefault(row[0], []).append(
            {"name": row[1], "version": int(row[2]), "status": row[3]}
        )
    return found


def metric_names(store: Store, model: str = "") -> list[str]:
    """Every metric recorded (of one spec's runs when ``model`` is given), by name."""
    if model:
        rows = store.db.execute(
            "SELECT DISTINCT m.name FROM metrics m JOIN runs r ON r.id = m.run_id"
            " WHERE r.spec_name = ? ORDER BY m.name",
            (model,),
        )
    else:
        rows = store.db.execute("SELECT DISTINCT name FROM metrics ORDER BY name")
    return [row[0] for row in rows]


def spec_names(store: Store) -> list[str]:
    """Every spec (model) name that has a run: the model filter's choices."""
    return [row[0] for row in store.db.execute("SELECT DISTINCT spec_name FROM runs ORDER BY 1")]
