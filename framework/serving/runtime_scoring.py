"""Which runtime batch scoring (``specops predict``, the ``batch`` target) uses, and why.

The scoring loop (:func:`framework.scoring.score_file`) takes a ``scorer``: each chunk is
checked exactly as the native path checks it (``framework.signature.conform``: missing
columns and impossible values refused by name, unseen categories missing), then scored
by it. :func:`batch_scorer` picks it for throughput (purpose ``batch``: under ``auto``
the verified runtime with the most rows per second), so a file is refused, counted and
written the same way whatever computes its numbers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.package import ModelPackage
    from framework.plugins import Plugins
    from framework.runtimes.base import Scorer

log = logging.getLogger("specops.predict")


def batch_scorer(
    package: ModelPackage, requested: str | None = None, plugins: Plugins | None = None
) -> tuple[Scorer | None, str, dict[str, str]]:
    """``(scorer, runtime name, why each other runtime is not used)``; the scorer is None
    when the native runtime scores (``package.predict`` as always).

    ``requested``: None (the version's own ``serve.runtime``, ``auto`` when its spec did
    not say), ``auto``, ``native`` or a runtime's name (unknown: a UserError with a
    did-you-mean).
    """
    from framework.plugins import get_plugins
    from framework.runtimes.choose import choose_runtime
    from framework.runtimes.lookup import NATIVE

    chosen = choose_runtime(package, plugins or get_plugins(), requested=requested, purpose="batch")
    name = chosen.name
    reasons = {str(key): str(value) for key, value in chosen.reasons.items() if key != name}
    for other, why in reasons.items():
        if worth_a_warning(other, why, requested):
            log.warning("the %s runtime is not used: %s", other, why)
    return (None if name == NATIVE else chosen.scorer), name, reasons


def worth_a_warning(runtime: str, why: str, requested: str | None) -> bool:
    """Whether a runtime left unused is news for the log: one that was verified but
    cannot load here (its plugin missing, no compiler), or the one explicitly asked for.
    A runtime merely slower than the chosen one is not."""
    failed = why.startswith("verified, but") and ("load" in why or "not installed" in why)
    return failed or (runtime == requested and requested not in ("auto", "native"))
