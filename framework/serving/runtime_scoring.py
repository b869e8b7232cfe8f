"""Batch scoring (``specops predict``, the ``batch`` target) through a version's runtime.

The scoring loop (:mod:`framework.scoring`) reads a file chunk by chunk and calls the
package's ``predict(frame)``. :func:`with_runtime` hands it a package whose ``predict``
checks the chunk exactly as the native path does (``framework.signature.conform``:
missing columns and impossible values refused by name, unseen categories missing),
then scores the conformed columns with the runtime chosen for throughput (``purpose
"batch"``: the verified runtime with the most rows per second under ``auto``). So a
file is refused, counted and written the same way whatever computes its numbers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from framework.package_check import check_label_count

if TYPE_CHECKING:
    import pandas as pd

    from framework.package import ModelPackage, Predictions
    from framework.plugins import Plugins
    from framework.runtimes.base import Scorer

log = logging.getLogger("specops.predict")


class RuntimeScored:
    """A model package whose ``predict`` goes through a runtime's scorer; everything else
    (signature, task, labels, metadata, ...) is the package's own."""

    def __init__(self, package: ModelPackage, runtime: str, scorer: Scorer) -> None:
        self.package = package
        self.runtime = runtime
        self.scorer = scorer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.package, name)

    def predict(self, frame: pd.DataFrame) -> tuple[Predictions, list[str]]:
        """Predictions for raw rows, and the extra columns that were ignored."""
        from framework.runtimes.columns import raw_columns
        from framework.signature import conform

        package = self.package
        features, extra = conform(frame, package.signature)
        predictions = self.scorer.predict(raw_columns(features, package.signature), len(frame))
        check_label_count(package.labels, predictions.proba, str(package.directory))
        predictions.labels = package.labels
        return predictions, extra

    def __reduce__(self) -> Any:
        # A compiled scorer (an ONNX session, a loaded library) does not travel to another
        # process; a copy elsewhere (a Dask worker) scores with the package natively.
        return (_native, (self.package,))


def _native(package: ModelPackage) -> ModelPackage:
    return package


def with_runtime(
    package: ModelPackage, requested: str | None = None, plugins: Plugins | None = None
) -> tuple[Any, str, dict[str, str]]:
    """``(scoring package, runtime name, why each other runtime is not used)``.

    ``requested``: None (the version's own ``serve.runtime``, ``auto`` when its spec did
    not say), ``auto``, ``native`` or a runtime's name (unknown: a UserError with a
    did-you-mean). The scoring package is ``package`` itself when native scores.
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
    if name == NATIVE:
        return package, NATIVE, reasons
    return RuntimeScored(package, name, chosen.scorer), name, reasons


def worth_a_warning(runtime: str, why: str, requested: str | None) -> bool:
    """Whether a runtime left unused is news for the log: one that was verified but
    cannot load here (its plugin missing, no compiler), or the one explicitly asked for.
    A runtime merely slower than the chosen one is not."""
    failed = why.startswith("verified, but") and ("load" in why or "not installed" in why)
    return failed or (runtime == requested and requested not in ("auto", "native"))
