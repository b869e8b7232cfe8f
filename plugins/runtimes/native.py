"""The ``native`` runtime: the stored pipeline as its own libraries predict with it.

Nothing is compiled: the scorer turns raw columns back into a DataFrame and calls
``ModelPackage.predict`` (signature, transform, model); for a LightGBM model without
preprocessing it builds LightGBM's own matrix instead, the same predictions without
pandas (:func:`framework.native_scorer`). It is what every compiled runtime is verified
against, and what serves when none is verified.
"""

from __future__ import annotations

from pathlib import Path

from framework import EXACT, ModelPackage, Register, Scorer, hookimpl, native_scorer

SPECOPS_HOOK_API = ">=1.3,<2"


class NativeRuntime:
    """The package as it is: always available, never compiled, trivially verified."""

    name = "native"
    tolerance = EXACT

    def why_not(self, package: ModelPackage) -> str | None:
        return None

    def compile(self, package: ModelPackage, directory: Path) -> None:
        """Nothing to compile: the package's own files are the native form."""

    def load(self, package: ModelPackage, directory: Path) -> Scorer:
        return native_scorer(package)


@hookimpl
def specops_register_runtimes(register: Register) -> None:
    register(
        "native",
        NativeRuntime,
        summary="The stored pipeline as scikit-learn / LightGBM predict with it (no compiling)",
    )
