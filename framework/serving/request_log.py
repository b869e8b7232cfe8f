"""Writing the prediction log off the request path: a queue and one background thread.

A request only appends a tuple of references (its columns, its predictions) to
a deque: no serialisation, no I/O, no lock it could wait on. Every
``flush_seconds`` the writer thread drains the deque, encodes the requests
(:mod:`framework.serving.request_log_entries`) and appends them to the store's
prediction log (``framework.prediction_log``'s tables) in one transaction, one
statement per segment (:mod:`framework.serving.request_log_append`). The writer shares
the server's cores and GIL with the requests, so what it spends per request is what
the log costs serving: about 20 µs of CPU for a one-row request (50 µs before it was
made cheaper), and for a 10,000-row request about 4 ms (1 ms encoding, 3 ms SQLite
writing its ~2 MB; 6.5 ms before freed pages stopped being zeroed, see :func:`relax_sync`).
If the store cannot keep up (or is locked by another writer), the queue is
bounded by rows and by bytes: requests beyond ``max_pending_rows`` rows or
``max_pending_bytes`` of request bodies are counted as dropped rather than held,
so serving never slows down or grows for the sake of its log. (Bounded by rows
alone, one-row requests of 64 MiB each held 64 MiB apiece while the store was
locked.)

On a shared store (PostgreSQL) several servers append at once, each batch one
transaction; a flush that fails (the database restarted, the network cut) drops
its batch, counted, and the store is opened again for the next one: a connection
that died does not come back by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import UserError
from framework.prediction_log import LogLimits, append_encoded
from framework.serving.request_log_append import encode_request

if TYPE_CHECKING:
    from framework.package import Predictions
    from framework.serving.batch import Batch
    from framework.serving.served import ServedModel
    from framework.store import Store

log = logging.getLogger("specops.serve")

DEFAULT_FLUSH_SECONDS = 0.5
DEFAULT_MAX_PENDING_ROWS = 500_000
DEFAULT_MAX_PENDING_BYTES = 256 * 2**20


class RequestLogWriter:
    """Collects answered requests and appends them to the store's prediction log."""

    def __init__(
        self,
        store_root: Path,
        limits: LogLimits | None = None,
        *,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        max_pending_rows: int = DEFAULT_MAX_PENDING_ROWS,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
    ) -> None:
        self.store_root = store_root
        self.limits = limits or LogLimits()
        self.flush_seconds = flush_seconds
        self.max_pending_rows = max_pending_rows
        self.max_pending_bytes = max_pending_bytes
        self.dropped_rows = 0
        self._pending: deque[tuple[Any, ...]] = deque()
        self._pending_rows = 0
        self._pending_bytes = 0
        self._lock = threading.Lock()  # uncontended: held for a queue or counter update only
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._open_error = ""  # why the store last failed to open, said once
        self._failed = False  # the last flush failed: reopen the store before the next

    def record(
        self, served: ServedModel, batch: Batch, predictions: Predictions, size: int = 0
    ) -> None:
        """Queue one answered request; never waits on the writer.

        ``size``: the request body's, what holding its values costs about.
        """
        if batch.rows >= SLIM_ROWS and batch.arrays:
            batch = _slim(batch)
        with self._lock:
            if (
                self._pending_rows + batch.rows > self.max_pending_rows
                or self._pending_bytes + size > self.max_pending_bytes
            ):
                self.dropped_rows += batch.rows
                return
            self._pending_rows += batch.rows
            self._pending_bytes += size
            self._pending.append((served, batch, predictions, time.time()))

    def start(self) -> None:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="specops-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        if self.dropped_rows:
            log.warning(
                "prediction log: %d row(s) dropped (the store was busy or unreachable)",
                self.dropped_rows,
            )

    def _run(self) -> None:
        store = None
        try:
            while True:
                self._wake.wait(self.flush_seconds)
                self._wake.clear()
                store = store or self._open()
                self.flush(store) if store is not None else self._drop_pending()
                if self._failed and store is not None:
                    # a shared store's connection that failed (its server restarted, the
                    # network cut) does not come back: open the store again next time
                    store.close()
                    store = None
                if self._stop:
                    if store is not None:
                        self.flush(store)
                    return
        finally:
            if store is not None:
                store.close()

    def _open(self) -> Store | None:
        """The store, or None while it cannot be opened (a full disk, a read-only mount):
        said once, in one line, and tried again at the next flush; the thread lives on."""
        from framework.store import Store

        try:  # an existing store only: one moved away is never replaced by a new, empty one
            store = Store.open_existing(self.store_root)
        except Exception as exc:  # a shared store's server down: a UserError, or the driver's
            from framework.redact import scrub_text

            said = scrub_text(str(exc)).strip().split("\n")[0]
            if said != self._open_error:
                self._open_error = said
                log.error("prediction log: cannot open the store, requests are dropped: %s", said)
            return None
        if self._open_error:
            log.warning("prediction log: the store opens again; logging resumes")
            self._open_error = ""
        relax_sync(store)
        return store

    def _drop_pending(self) -> None:
        with self._lock:
            self.dropped_rows += sum(item[1].rows for item in self._pending)
            self._pending.clear()
            self._pending_rows = 0
            self._pending_bytes = 0

    def flush(self, store: Store) -> int:
        """Append everything queued so far; returns the rows written."""
        with self._lock:
            items, self._pending = self._pending, deque()
            rows, requests = self._pending_rows, len(items)
            self._pending_rows = 0
            self._pending_bytes = 0
        self._failed = False
        if not items:
            return 0
        try:
            # each request let go of as soon as it is encoded, while it is still in cache
            # (freeing them all at the end cost ~5 us each, in one stretch holding the GIL)
            records = []
            while items:
                records.append(encode_request(*items.popleft()))
            written = append_encoded(store, records, self.limits)
        except Exception as exc:
            from framework.store.failures import as_user_error

            # a full disk or a read-only store, or a shared store's lost connection (already
            # a StoreError): one line, no trace
            known = exc if isinstance(exc, UserError) else as_user_error(exc)
            if known is not None:
                log.error(
                    "prediction log: could not write %d request(s); dropped: %s", requests, known
                )
            else:
                log.exception("prediction log: could not write %d request(s); dropped", requests)
            with self._lock:  # record() updates the same counter from the event loop
                self.dropped_rows += rows
            self._failed = True
            return 0
        return written


SLIM_ROWS = 256
"""From this many rows a queued request holds its decoded number columns only as arrays."""


def _slim(batch: Batch) -> Batch:
    """The batch as the writer reads it, without the values already held as arrays.

    A JSON request's number columns arrive as Python floats, which the fast paths
    convert to float64 arrays (``batch.arrays``, what the log stores). Queued whole,
    the 200,000 floats of a 10,000-row request were freed half a second later by the
    writer: about 4 ms with the GIL held and the memory long out of cache, against
    about 1.5 ms when the request's thread frees them as it ends, as it does without
    the log.
    """
    from dataclasses import replace

    arrays = batch.arrays
    if batch.frame is not None:
        return batch
    kept = {name: values for name, values in batch.columns.items() if name not in arrays}
    return replace(batch, columns=kept)


def relax_sync(store: Store) -> None:
    """On a local (SQLite) store, commit the log's flushes without an fsync each, and
    rotate its oldest segments out without writing zeros over them.

    The store runs in WAL mode: with ``synchronous=NORMAL`` a commit is durable once the
    WAL is synced at the next checkpoint, so a power cut can lose the last flushes of
    the log, and never corrupts the database (a process that dies loses nothing: the
    WAL is written before the commit returns). An fsync per flush cost about 1.7 ms of
    CPU per 10,000-row request, on cores the requests share.

    ``secure_delete=FAST``: SQLite as Debian (and others) build it overwrites every page
    a DELETE frees with zeros. A log at its bound deletes a segment for each one it
    fills, so that wrote a second copy of every logged byte (zeros, through the WAL and
    the checkpoint) for pages the next inserts overwrite anyway: about 2.3 of 5.5 ms of
    CPU per 10,000-row request here. FAST still clears what it can without extra I/O;
    the freed pages keep their old values until reused (by the log's next requests).

    Only this connection is changed: runs, versions, aliases and every other delete keep
    the store's own settings. A shared store (PostgreSQL) is left as it is.
    """
    from framework.store.sqlite_backend import SQLiteMetadata

    if isinstance(store.db, SQLiteMetadata) and not store.read_only:
        store.db.execute("PRAGMA synchronous=NORMAL")
        store.db.execute("PRAGMA secure_delete=FAST")
