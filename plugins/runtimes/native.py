"""The ``native`` runtime: the stored pipeline as its own libraries predict with it.

Nothing is compiled: the scorer turns raw columns back into a DataFrame and calls
:meth:`framework.package.ModelPackage.predict` (signature, transform, model). It is what
every compiled runtime is verified against, and what serves when none is verified.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from framework import EXACT, RawColumns, Register, hookimpl

if TYPE_CHECKING:
    from framework.package import ModelPackage, Predictions

SPECOPS_HOOK_API = ">=1.3,<2"


class NativeScorer:
    """Predicts through the package itself: the reference every other runtime matches."""

    def __init__(self, package: ModelPackage) -> None:
        self.package = package
        self.names = list(package.signature.names)

    def predict(self, columns: RawColumns, rows: int) -> Predictions:
        import pandas as pd

        frame = pd.DataFrame({name: columns[name] for name in self.names}, index=range(rows))
        predictions, _ = self.package.predict(frame)
        return predictions


class NativeRuntime:
    """The package as it is: always available, never compiled, trivially verified."""

    name = "native"
    tolerance = EXACT

    def why_not(self, package: ModelPackage) -> str | None:
        return None

    def compile(self, package: ModelPackage, directory: Path) -> None:
        """Nothing to compile: the package's own files are the native form."""

    def load(self, package: ModelPackage, directory: Path) -> NativeScorer:
        return NativeScorer(package)


@hookimpl
def specops_register_runtimes(register: Register) -> None:
    register(
        "native",
        NativeRuntime,
        summary="The stored pipeline as scikit-learn / LightGBM predict with it (no compiling)",
    )
