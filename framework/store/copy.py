"""``specops store copy SRC DST``: move a whole store (rows and blobs) to another one.

The order is what keeps the destination consistent whenever the copy stops:

1. SRC's rows are read in one snapshot, with every blob they name;
2. each of those blobs is copied first, read verified from SRC (a damaged or missing
   blob stops the copy before any row is written) and stored in DST (a blob already
   there is not sent again);
3. then every row, table by table, in **one** DST write transaction: a copy killed
   before the commit leaves DST's rows as they were, and the blobs it already sent are
   unreferenced (``store gc`` collects them). Inside the transaction every blob a new
   row names is checked again (a concurrent ``store gc`` may not take it away).

Idempotent: a row already in DST (same key, same values) is skipped, so a second copy
copies nothing and says so. A row DST holds under the same key with other values is a
conflict (a model version number taken by a different version, a run id with another
spec): the copy is refused naming each one, and nothing is written. A NULL column DST
has where SRC has a value (a dataset whose snapshot SRC kept since) is filled in.

Rows whose meaning is local to a store are translated, the same way every time: a run's
liveness ``lock`` (a file or lock key of SRC) is not copied, and a run SRC's liveness
check finds dead while marked running is copied as ``interrupted``. A run still running
in SRC refuses the copy (copy again once it has ended). Ids made by the database (the
alias history, the prediction log) are not copied: rows are matched by what they say
(an alias's moves in order, a log segment by model and opening time, a log entry by
time, rows and content), and DST gives them new ids. ``store_settings`` (where a
store's blobs are) is not copied: DST keeps its own.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from framework.errors import StoreError
from framework.package_paths import check_version_files
from framework.store.backends import MetadataBackend
from framework.store.store import BlobReference, Store

KEYED_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("runs", ("id",)),
    ("steps", ("run_id", "position")),
    ("params", ("run_id", "key")),
    ("metrics", ("run_id", "name")),
    ("datasets", ("hash",)),
    ("model_versions", ("name", "version")),
    ("monitor_runs", ("id",)),
    ("monitor_columns", ("monitor_id", "column_name")),
)
"""Tables whose rows are keyed by what they are, in an order where a row's references
come before it; then ``alias_history`` and ``aliases``, then the prediction log.
``store_settings`` and ``store_schema`` are each store's own (where its blobs are, which
migrations it had: DST is migrated when it is opened), never copied."""

NOT_COPIED: dict[str, frozenset[str]] = {"runs": frozenset({"lock"})}
"""Columns meaningful only in the store that wrote them."""

DST_KEEPS: dict[str, frozenset[str]] = {
    "datasets": frozenset({"first_seen", "blob", "parts_json"}),
}
"""Columns where DST's own value stands when both stores have one: when each store
first saw a dataset, and which snapshot of the same rows it kept (both hold the same
rows: the key is their hash)."""

HISTORY_FIELDS = ("from_version", "to_version", "at", "actor", "reason")
SEGMENT_FIELDS = ("model", "opened_at")
LOG_FIELDS = ("model", "version", "at", "rows", "inputs", "outputs")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

TRANSFERS = 8
"""Blobs copied at once."""

Progress = Callable[[str], None]


@dataclass
class CopyReport:
    """What a copy did: blobs sent and already there, rows written per table."""

    source: str
    destination: str
    blobs_copied: int = 0
    blobs_present: int = 0
    bytes_copied: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    """Rows inserted per table (a filled-in NULL counts as one)."""
    rows_present: dict[str, int] = field(default_factory=dict)
    """Rows DST already held, per table."""

    @property
    def copied_nothing(self) -> bool:
        return self.blobs_copied == 0 and not any(self.rows.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "copied_nothing": self.copied_nothing,
            "blobs": {
                "copied": self.blobs_copied,
                "already_there": self.blobs_present,
                "bytes_copied": self.bytes_copied,
            },
            "rows": {
                table: {"copied": self.rows.get(table, 0), "already_there": present}
                for table, present in self.rows_present.items()
            },
        }


@dataclass
class _Plan:
    """The writes of one table: rows to insert, NULLs to fill, conflicts found."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    fills: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    present: int = 0


def copy_store(
    source: Store, destination: Store, *, progress: Progress | None = None
) -> CopyReport:
    """Copy every row and every blob a row names from ``source`` into ``destination``."""
    say = progress or (lambda _: None)
    if _same_store(source, destination):
        raise StoreError(f"SRC and DST are the same store ({source.display_url}): nothing to copy")
    report = CopyReport(source.display_url, destination.display_url)
    with source.db.snapshot():
        listed = source.runs()
        damaged = [run.damaged for run in listed if run.damaged]
        if damaged:
            raise StoreError(
                f"SRC's {damaged[0]}; SRC ({source.display_url}) cannot be copied as it is; "
                "nothing copied"
            )
        running = [run.id for run in listed if run.status == "running"]
        if running:
            raise StoreError(
                f"run {running[0]}{f' (and {len(running) - 1} more)' if len(running) > 1 else ''}"
                f" is still running in {source.display_url}: copy the store once it has "
                "ended (a run of another machine still marked running counts too: "
                "`specops runs list --store SRC` shows them)"
            )
        statuses = {run.id: run.status for run in listed}
        tables = {table: _rows(source.db, table) for table, _ in KEYED_TABLES}
        tables["alias_history"] = _rows(source.db, "alias_history", order="id")
        tables["aliases"] = _rows(source.db, "aliases")
        tables["prediction_log_segments"] = _rows(source.db, "prediction_log_segments", "id")
        # the log's entries (request payloads: the bulk of a busy store) are read a batch
        # at a time while they are written; the snapshot fixes which: ids up to this one
        last_entry = source.db.execute("SELECT MAX(id) FROM prediction_log").fetchone()[0]
        references = source.blob_references()
    _check_source(source, tables)
    for run in tables["runs"]:
        run["status"] = statuses.get(run["id"], run["status"])  # dead "running": interrupted
        run.pop("lock", None)

    _copy_blobs(source, destination, references, report, say)

    say("comparing the rows, writing those DST lacks")
    with destination.transaction() as db:
        conflicts: list[str] = []
        plans = {
            table: _plan_keyed(db, table, key, tables[table], conflicts)
            for table, key in KEYED_TABLES
        }
        history = _plan_aliases(db, tables["alias_history"], tables["aliases"], conflicts)
        if conflicts:
            shown = "\n  ".join(conflicts[:20])
            more = f"\n  ... and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
            raise StoreError(
                f"cannot copy {source.display_url} (SRC) into {destination.display_url} "
                f"(DST): rows DST already holds differ from SRC's, so nothing was copied:"
                f"\n  {shown}{more}"
            )
        if any(p.inserts or p.fills for p in plans.values()) or history.moves:
            _recheck_blobs(source, destination, references, report)
        for table, _ in KEYED_TABLES:
            _write_keyed(db, table, plans[table], report)
        _write_aliases(db, history, report)
        _copy_prediction_log(db, tables["prediction_log_segments"], source, last_entry or 0, report)
    return report


def _check_source(source: Store, tables: Mapping[str, list[dict[str, Any]]]) -> None:
    """Refuse SRC rows that are not what specops writes, before anything is copied.

    SRC is whatever someone hands over: its column names become SQL on DST and a
    version's file list becomes paths wherever the version is loaded, so a column this
    specops's schema does not have (a crafted name, or a newer specops's column that
    would be lost) and a file list naming a path outside its package stop the copy."""
    known = schema_columns()
    for table, rows in tables.items():
        allowed = known.get(table, frozenset())
        for row in rows:
            unknown = sorted(set(row) - allowed)
            if unknown:
                raise StoreError(
                    f"SRC's table {table} has a column {unknown[0][:80]!r} this specops's "
                    f"store does not have: SRC ({source.display_url}) is damaged, crafted or "
                    "made by a newer specops; nothing copied"
                )
    for row in tables["model_versions"]:
        ref = f"{row['name']}/{row['version']}"
        try:
            files = json.loads(row["files_json"])
            check_version_files(files, ref)
        except (TypeError, ValueError, RecursionError, StoreError) as exc:
            raise StoreError(
                f"SRC's version {ref} cannot be copied: {exc}; SRC ({source.display_url}) is "
                "damaged or crafted; nothing copied"
            ) from None


@functools.cache
def schema_columns() -> dict[str, frozenset[str]]:
    """Each table's columns as this specops's schema declares them (framework/store/
    *.sql, read by SQLite in memory: the one parser of those statements)."""
    import sqlite3

    from framework.store.store import _schema_statements

    scratch = sqlite3.connect(":memory:")
    try:
        for statement in _schema_statements():
            if statement.upper().startswith("CREATE TABLE"):
                scratch.execute(statement)
        tables = [
            row[0] for row in scratch.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {
            table: frozenset(row[1] for row in scratch.execute(f"PRAGMA table_info({table})"))
            for table in tables
        }
    finally:
        scratch.close()


def _quoted(name: str) -> str:
    """An identifier quoted as both SQLite and PostgreSQL read it."""
    return '"' + name.replace('"', '""') + '"'


def _same_store(source: Store, destination: Store) -> bool:
    if source.address.is_local and destination.address.is_local:
        return source.root.resolve() == destination.root.resolve()
    return source.display_url == destination.display_url


def _rows(db: MetadataBackend, table: str, order: str | None = None) -> list[dict[str, Any]]:
    """Every row of ``table`` as a dict of plain values (bytes, not memoryviews)."""
    sql = f"SELECT * FROM {table}" + (f" ORDER BY {order}" if order else "")
    return [_as_dict(row) for row in db.execute(sql)]


def _as_dict(row: Any) -> dict[str, Any]:
    names = row.keys()  # a sqlite3.Row iterates over its values, not its names
    return {name: _plain(row[name]) for name in names}


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


# blobs ---------------------------------------------------------------------------


def _copy_blobs(
    source: Store,
    destination: Store,
    references: Sequence[BlobReference],
    report: CopyReport,
    say: Progress,
) -> None:
    """Each blob a SRC row names, read verified from SRC, stored in DST if absent."""
    labels = _labels(references)
    say(
        f"{len(labels)} blob(s) named by the rows: sending those "
        f"{destination.artifacts.display_url} lacks"
    )
    _transfer(source, destination, labels, report)


def _transfer(
    source: Store, destination: Store, labels: Mapping[str, str], report: CopyReport
) -> None:
    """Send the blobs DST lacks, several at a time (an object store answers each request
    in milliseconds: one at a time, a big store would take its round trips in series).
    The first failure stops the copy and is raised."""
    from concurrent.futures import ThreadPoolExecutor

    def one(item: tuple[str, str]) -> int | None:
        digest, label = item
        if destination.artifacts.exists(digest):
            return None
        return _send(source, destination, digest, label)

    with ThreadPoolExecutor(max_workers=TRANSFERS) as pool:
        for sent in pool.map(one, labels.items()):
            if sent is None:
                report.blobs_present += 1
            else:
                report.blobs_copied += 1
                report.bytes_copied += sent


def _send(source: Store, destination: Store, digest: str, label: str) -> int:
    """Copy one blob; its size."""
    local = source.artifacts.verified(digest, label)
    stored = destination.artifacts.put_file(local)
    if stored != digest:  # the bytes changed between SRC's check and DST's hash
        raise StoreError(
            f"copying {label}: {local} changed while it was copied "
            f"(sha256 {stored[:12]}..., expected {digest[:12]}...); run the copy again"
        )
    return local.stat().st_size


def _recheck_blobs(
    source: Store, destination: Store, references: Sequence[BlobReference], report: CopyReport
) -> None:
    """Under DST's write lock (which ``store gc`` takes to delete), every blob the rows
    name is still there: one collected meanwhile is sent again before any row names it."""
    recheck = CopyReport(report.source, report.destination)
    _transfer(source, destination, _labels(references), recheck)
    report.blobs_copied += recheck.blobs_copied
    report.bytes_copied += recheck.bytes_copied


def _labels(references: Iterable[BlobReference]) -> dict[str, str]:
    """Each named blob once, with a label saying whose it is (for error messages)."""
    labels: dict[str, str] = {}
    for ref in references:
        if not _SHA256.match(ref.digest):  # a damaged row: never a path or a key
            raise StoreError(
                f"{ref.item} of {ref.owner} names the blob {ref.digest[:80]!r}, which is not "
                "a sha256: SRC is damaged (`specops store verify --store SRC`); nothing copied"
            )
        labels.setdefault(ref.digest, f"{ref.item} of {ref.owner}")
    return labels


# rows with a natural key ---------------------------------------------------------


def _plan_keyed(
    db: MetadataBackend,
    table: str,
    key: tuple[str, ...],
    rows: list[dict[str, Any]],
    conflicts: list[str],
) -> _Plan:
    """Compare SRC's rows with DST's of the same key: insert, skip, fill or conflict."""
    plan = _Plan()
    if not rows:
        return plan
    ignored = NOT_COPIED.get(table, frozenset())
    existing = {tuple(row[k] for k in key): row for row in _rows(db, table)}
    for row in rows:
        theirs = existing.get(tuple(row[k] for k in key))
        if theirs is None:
            plan.inserts.append({k: v for k, v in row.items() if k not in ignored})
            continue
        keeps = DST_KEEPS.get(table, frozenset())
        differ = [
            column
            for column, value in row.items()
            if column not in ignored
            and column not in keeps
            and value is not None
            and theirs.get(column) is not None
            and not _same(value, theirs[column])
        ]
        if differ:
            conflicts.append(_conflict(table, key, row, theirs, differ))
            continue
        missing = {
            column: value
            for column, value in row.items()
            if column not in ignored and value is not None and theirs.get(column) is None
        }
        if missing:
            plan.fills.append(({k: row[k] for k in key}, missing))
        else:
            plan.present += 1
    return plan


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _conflict(
    table: str,
    key: tuple[str, ...],
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any],
    differ: list[str],
) -> str:
    """One line saying which row clashes and how, in the words of the registry."""
    if table == "model_versions":
        return (
            f"model version {ours['name']}/{ours['version']} is taken in DST by a different "
            f"version (made by run {theirs['run_id']}, in SRC by run {ours['run_id']})"
        )
    if table == "runs":
        return f"run {ours['id']} differs in DST ({', '.join(differ)})"
    name = ", ".join(f"{k}={ours[k]}" for k in key)
    column = differ[0]
    return (
        f"{table} row ({name}): {column} is {_short(theirs[column])} in DST, "
        f"{_short(ours[column])} in SRC"
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _write_keyed(db: MetadataBackend, table: str, plan: _Plan, report: CopyReport) -> None:
    for row in plan.inserts:
        columns = list(row)  # checked against this specops's schema (_check_source)
        db.execute(
            f"INSERT INTO {table} ({', '.join(map(_quoted, columns))})"
            f" VALUES ({', '.join('?' for _ in columns)}) ON CONFLICT DO NOTHING",
            [row[c] for c in columns],
        )
    for key, values in plan.fills:
        sets = ", ".join(f"{_quoted(c)} = ?" for c in values)
        where = " AND ".join(f"{_quoted(c)} = ?" for c in key)
        db.execute(f"UPDATE {table} SET {sets} WHERE {where}", [*values.values(), *key.values()])
    report.rows[table] = len(plan.inserts) + len(plan.fills)
    report.rows_present[table] = plan.present


# aliases -------------------------------------------------------------------------


@dataclass
class _AliasPlan:
    moves: list[dict[str, Any]] = field(default_factory=list)
    aliases: list[dict[str, Any]] = field(default_factory=list)
    present_moves: int = 0
    present_aliases: int = 0


def _plan_aliases(
    db: MetadataBackend,
    history: list[dict[str, Any]],
    aliases: list[dict[str, Any]],
    conflicts: list[str],
) -> _AliasPlan:
    """Per alias: DST's moves must be the first of SRC's (then the rest are appended and
    the alias set as in SRC), or SRC's the first of DST's (DST moved on: nothing to do).
    Histories that part ways are a conflict."""
    plan = _AliasPlan()
    theirs_history: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in _rows(db, "alias_history", order="id"):
        theirs_history.setdefault((row["name"], row["alias"]), []).append(_move(row))
    theirs_alias = {(r["name"], r["alias"]): r for r in _rows(db, "aliases")}
    ours_history: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in history:
        ours_history.setdefault((row["name"], row["alias"]), []).append(row)
    ours_alias = {(r["name"], r["alias"]): r for r in aliases}

    for pair in sorted(ours_history.keys() | ours_alias.keys()):
        ours = ours_history.get(pair, [])
        theirs = theirs_history.get(pair, [])
        ours_moves = [_move(row) for row in ours]
        where = f"alias {pair[0]}@{pair[1]}"
        if ours_moves[: len(theirs)] == theirs:
            plan.present_moves += len(theirs)
            plan.moves += ours[len(theirs) :]
            alias = ours_alias.get(pair)
            current = theirs_alias.get(pair)
            if alias is None:
                continue
            if current is None or len(ours) > len(theirs):
                plan.aliases.append(alias)
            elif current["version"] == alias["version"]:
                plan.present_aliases += 1
            else:
                conflicts.append(
                    f"{where} is at version {current['version']} in DST, "
                    f"{alias['version']} in SRC, with the same history"
                )
        elif theirs[: len(ours_moves)] == ours_moves:
            plan.present_moves += len(ours_moves)  # DST moved on since: it is ahead
            plan.present_aliases += int(pair in ours_alias)
        else:
            at = next(i for i, (a, b) in enumerate(zip(ours_moves, theirs, strict=False)) if a != b)
            conflicts.append(
                f"{where}: its history in DST parts from SRC's at move {at + 1} "
                f"(DST: to version {theirs[at][1]} at {theirs[at][2]} by {theirs[at][3]}; "
                f"SRC: to version {ours_moves[at][1]} at {ours_moves[at][2]} by "
                f"{ours_moves[at][3]})"
            )
    return plan


def _move(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[f] for f in HISTORY_FIELDS)


def _write_aliases(db: MetadataBackend, plan: _AliasPlan, report: CopyReport) -> None:
    columns = ("name", "alias", *HISTORY_FIELDS)
    for move in plan.moves:
        db.execute(
            f"INSERT INTO alias_history ({', '.join(columns)})"
            f" VALUES ({', '.join('?' for _ in columns)})",
            [move[c] for c in columns],
        )
    for alias in plan.aliases:
        db.execute(
            "INSERT INTO aliases (name, alias, version, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version,"
            " updated_at = excluded.updated_at",
            (alias["name"], alias["alias"], alias["version"], alias["updated_at"]),
        )
    report.rows["alias_history"] = len(plan.moves)
    report.rows_present["alias_history"] = plan.present_moves
    report.rows["aliases"] = len(plan.aliases)
    report.rows_present["aliases"] = plan.present_aliases


# the prediction log ---------------------------------------------------------------


def _copy_prediction_log(
    db: MetadataBackend,
    segments: list[dict[str, Any]],
    source: Store,
    last_entry: int,
    report: CopyReport,
) -> None:
    """Segments matched by (model, opened_at), entries by what they hold; new ones get
    DST's ids, and a segment's counters cover the entries it then holds. Entries are
    read from SRC (ids up to ``last_entry``) and from DST a batch at a time: a copy
    holds a batch of request payloads in memory, never the whole log."""
    report.rows["prediction_log"] = report.rows["prediction_log_segments"] = 0
    report.rows_present["prediction_log"] = report.rows_present["prediction_log_segments"] = 0
    if not segments:
        return
    theirs = {
        tuple(row[f] for f in SEGMENT_FIELDS): row for row in _rows(db, "prediction_log_segments")
    }
    for segment in segments:
        mine = _segment_entries(source.db, segment["id"], last_entry, check=True)
        match = theirs.get(tuple(segment[f] for f in SEGMENT_FIELDS))
        if match is None:
            created = db.execute(
                "INSERT INTO prediction_log_segments (model, opened_at, rows, bytes)"
                " VALUES (?, ?, 0, 0) RETURNING id",
                (segment["model"], segment["opened_at"]),
            ).fetchone()
            target, rows, size, known = created[0], 0, 0, set()
            report.rows["prediction_log_segments"] += 1
        else:
            target, rows, size = match["id"], int(match["rows"]), int(match["bytes"])
            known = {_entry_key(e) for e in _segment_entries(db, target, None)}
            report.rows_present["prediction_log_segments"] += 1
        added = 0
        for entry in mine:
            if _entry_key(entry) in known:
                report.rows_present["prediction_log"] += 1
                continue
            db.execute(
                "INSERT INTO prediction_log (segment, model, version, at, rows, inputs, outputs)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (target, *(entry[f] for f in LOG_FIELDS)),
            )
            rows += int(entry["rows"])
            size += len(entry["inputs"]) + len(entry["outputs"])
            added += 1
        if added or match is None:
            db.execute(
                "UPDATE prediction_log_segments SET rows = ?, bytes = ? WHERE id = ?",
                (rows, size, target),
            )
        report.rows["prediction_log"] += added


LOG_BATCH_BYTES = 16 << 20
"""About how many bytes of log entries are read at once: a batch's size follows the
entries' (a 10,000-row request's is about a megabyte, a one-row request's a few hundred
bytes: then up to ``LOG_BATCH_ROWS`` a query, not one round trip each)."""
LOG_BATCH_ROWS = 1024


def _segment_entries(
    db: MetadataBackend, segment: Any, last: int | None, *, check: bool = False
) -> Iterator[dict[str, Any]]:
    """A segment's entries in id order, about ``LOG_BATCH_BYTES`` at a time (ids up to
    ``last``); with ``check``, SRC's: each batch's columns checked against this
    specops's schema."""
    after, allowed, size = -1, schema_columns()["prediction_log"], 16
    bound = "" if last is None else f" AND id <= {int(last)}"
    while True:
        batch = [
            _as_dict(row)
            for row in db.execute(
                f"SELECT * FROM prediction_log WHERE segment = ? AND id > ?{bound}"
                f" ORDER BY id LIMIT {size}",
                (segment, after),
            )
        ]
        if not batch:
            return
        if check and (unknown := sorted(set(batch[0]) - allowed)):
            raise StoreError(
                f"SRC's table prediction_log has a column {unknown[0][:80]!r} this "
                "specops's store does not have: SRC is damaged, crafted or made by a newer "
                "specops; nothing copied"
            )
        held = sum(len(e["inputs"]) + len(e["outputs"]) for e in batch) // len(batch) + 1
        size = max(1, min(LOG_BATCH_ROWS, LOG_BATCH_BYTES // held))
        after = batch[-1]["id"]
        yield from batch


def _entry_key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a log entry is: its time, rows, version and a hash of what it held."""
    digest = hashlib.sha256(bytes(entry["inputs"]) + b"\0" + bytes(entry["outputs"]))
    return (entry["model"], entry["version"], float(entry["at"]), entry["rows"], digest.digest())
