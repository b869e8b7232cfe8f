"""The native path as a scorer: what every runtime is verified against, and what serves
when none is verified.

:class:`PackageScorer` is the reference: raw columns back into a DataFrame, then
:meth:`ModelPackage.predict` (signature, transform, model), exactly what ``predict``
and the pandas serving path do. :func:`native_scorer` is what the ``native`` runtime
serves with: for a LightGBM model without preprocessing, the server's fast path
(:class:`framework.serving.fastpath.LightGBMScorer`: LightGBM's own matrix built from the
raw columns, the same predictions without pandas); else the reference. Registration
measures native through it, so ``auto`` compares compiled forms with the native speed a
server really gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.package import ModelPackage, Predictions
    from framework.runtimes.base import RawColumns, Scorer


class PackageScorer:
    """Raw columns back into a DataFrame, then :meth:`ModelPackage.predict`."""

    def __init__(self, package: ModelPackage) -> None:
        self.package = package
        self.names = list(package.signature.names)

    def predict(self, columns: RawColumns, rows: int) -> Predictions:
        import pandas as pd

        frame = pd.DataFrame({name: columns[name] for name in self.names}, index=range(rows))
        predictions, _ = self.package.predict(frame)
        return predictions


def native_scorer(package: ModelPackage) -> Scorer:
    """The fastest exact form of the native path for ``package`` (see the module)."""
    from framework.serving.fastpath import LightGBMScorer

    return LightGBMScorer.for_package(package) or PackageScorer(package)
