"""Leave the process without the interpreter's teardown once a command is done.

After ``specops run`` has printed its result, CPython's shutdown frees every module
and object one by one: with pandas, scikit-learn, SciPy and LightGBM loaded (~1,500
modules) that takes 0.1-0.2 s here, about 5% of a 3 s run, for memory the operating
system takes back at once when the process ends. :func:`leave` does the parts of the
shutdown whose effects outlive the process, then ends it with ``os._exit``:

* the ``atexit`` handlers run (logging's flush, ``weakref.finalize`` callbacks such as
  temporary directories, multiprocessing's cleanup, coverage's data file);
* every Python file object still open is closed, as its finaliser would have closed
  it during the teardown (a plugin's log or a gzip file gets its last buffer and
  trailer); stdout and stderr are flushed, not closed;
* while another thread is still alive (a writer, a cluster's event loop), nothing is
  skipped: the interpreter exits as usual and waits for it.

``SPECOPS_FULL_EXIT=1`` keeps the usual shutdown (to debug a finaliser).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

FULL_EXIT_VARIABLE = "SPECOPS_FULL_EXIT"


def leave(code: int | None) -> NoReturn:
    """End the process with exit status ``code`` (see the module's docstring)."""
    import threading

    if (
        not isinstance(code, int)  # None or a message: sys.exit knows what they mean
        or threading.active_count() > 1
        or os.environ.get(FULL_EXIT_VARIABLE, "") not in ("", "0")
    ):
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()  # what the shutdown calls first; exceptions are printed
    if threading.active_count() > 1:  # a handler started a thread: let it finish
        sys.exit(code)
    _flush_standard_streams()  # as the shutdown does before it frees anything
    _close_open_files()
    _flush_standard_streams()
    os._exit(code)


def _flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a reader that left, a closed stream: as exit does
            pass


def _layers(stream: object) -> list[int]:
    """The ids of a stream and of the buffer and raw file under it."""
    found: list[int] = []
    layer: object | None = stream
    while layer is not None and id(layer) not in found:
        found.append(id(layer))
        layer = getattr(layer, "buffer", None) or getattr(layer, "raw", None)
    return found


def _close_open_files() -> None:
    """Close the Python file objects still open, text wrappers first (their pending
    text reaches the buffer below before it closes). stdin, stdout and stderr stay
    open, and so does a wrapper over one of them (closing it would close the stream
    below): it is flushed instead."""
    import _io
    import gc

    gc.unfreeze()  # frozen objects (gc.freeze) are not listed by get_objects
    standard: set[int] = set()
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        standard.update(_layers(stream))
    for stream in (sys.__stdin__, sys.__stdout__, sys.__stderr__):
        standard.update(_layers(stream))
    files = [
        obj for obj in gc.get_objects() if isinstance(obj, _io._IOBase) and id(obj) not in standard
    ]
    files.sort(key=lambda f: 0 if isinstance(f, _io._TextIOBase) else 1)
    for handle in files:
        try:
            if handle.closed:
                continue
            if standard.intersection(_layers(handle)[1:]):
                handle.flush()
            else:
                handle.close()
        except Exception:  # the teardown's finaliser would not stop the exit either
            pass
