"""Reading one chunk ahead, on a thread of its own, while the current one is scored.

The trees of a compiled runtime (and LightGBM's own predict) run in native code that
releases the GIL, on every core; reading a Parquet or CSV chunk and checking it against
the signature is mostly single-threaded Python and pandas. Run one after the other, a
core idles while a chunk is read and checked; with the next chunk prepared on a thread
while this one is scored, the reading hides in the gaps the trees leave.

At most ``depth`` prepared chunks wait (plus the one being prepared and the one being
scored), so memory stays bounded by the chunk size, never by the file. Items come out in
order; an error raised while preparing a chunk is raised where that chunk would have
come out, after every chunk before it, exactly as the sequential loop raises it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = range(3)
POLL_SECONDS = 0.05
"""How often a producer blocked on a full queue looks whether the consumer has gone."""


@contextmanager
def read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """``items``, produced on a background thread up to ``depth`` ahead of the consumer.

    Leaving the ``with`` block (done, or on an error in the consumer) stops the producer
    and waits for it: no thread outlives the call, and ``items`` is closed on the
    thread that ran it (a reader's ``finally`` closes its file there).
    """
    waiting: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(entry: tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                waiting.put(entry, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((_ITEM, item)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed over in order; the consumer raises it
            put((_ERROR, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="specops-read-ahead", daemon=True)
    thread.start()

    def consume() -> Iterator[T]:
        while True:
            kind, value = waiting.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value

    try:
        yield consume()
    finally:
        stop.set()
        while thread.is_alive():  # a producer blocked on put() sees ``stop`` and leaves
            _drain(waiting)
            thread.join(POLL_SECONDS)
        _drain(waiting)


def _drain(waiting: queue.Queue[Any]) -> None:
    while True:
        try:
            waiting.get_nowait()
        except queue.Empty:
            return
