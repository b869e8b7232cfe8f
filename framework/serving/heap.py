"""Keeping Python's cyclic garbage collector off the request path.

A loaded server holds over 100,000 objects (pandas, scikit-learn, LightGBM, the
model) and a full collection walks all of them: tens of milliseconds. A
10,000-row JSON request creates 10,000 short-lived row lists; with the default
thresholds they trigger some 25 young collections per request and a full one
every few requests — about 20 ms per request on average, measured in
``benchmarks/serve_latency.py``'s model. Two settings remove that:

* the objects alive once the server is ready are *frozen*: still freed by
  reference counting, just never walked by the collector again;
* the young generation's threshold is raised to :data:`YOUNG_THRESHOLD`: the
  count is allocations minus deallocations, and a request's lists are freed by
  reference counting when it ends, so a collection runs only when garbage that
  needs one (reference cycles) really accumulates.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 100_000


def tune_collector() -> None:
    """Collect the young generation after 100,000 net allocations instead of 700."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def settle() -> None:
    """Collect everything once, then freeze what is alive (startup, and after a swap).

    Unfreezing first means an old model version's reference cycles are
    collected when a swap has dropped it: one full collection per swap, on the
    alias follower's thread.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
