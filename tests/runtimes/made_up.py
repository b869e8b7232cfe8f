"""Runtimes written for the tests of verification: each one a plugin's honest attempt
with one deliberate flaw (or none), registered in process through the real hook.

``echo`` is right: it compiles a JSON file of the signature's columns, loads it back
(refusing when the file is not what it wrote) and predicts through the package's own
path. The others get something wrong the way a real compiler does: ``drifting`` mishandles
missing values, ``raising`` fails to compile, ``hanging`` never finishes, ``shipping_code``
writes a shared library into the package, ``absent`` needs a library this machine lacks,
``fragile`` verifies at registration but cannot load where it serves, ``unbuilt`` is
not ready until built on the machine.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from framework import EXACT, RuntimeUnavailable, hookimpl

LOAD_FAILS = "SPECOPS_TEST_FRAGILE_LOAD_FAILS"


class NativeThrough:
    """Predicts through the package's own path (what the native runtime does)."""

    def __init__(self, package: Any, columns: list[str]) -> None:
        self.package = package
        self.columns = columns

    def predict(self, columns: Any, rows: int) -> Any:
        import pandas as pd

        frame = pd.DataFrame({name: columns[name] for name in self.columns}, index=range(rows))
        predictions, _ = self.package.predict(frame)
        return predictions


class Echo:
    name = "echo"
    tolerance = EXACT

    def why_not(self, package: Any) -> str | None:
        return None

    def compile(self, package: Any, directory: Path) -> None:
        (directory / "columns.json").write_text(json.dumps(package.signature.names))

    def load(self, package: Any, directory: Path) -> NativeThrough:
        columns = json.loads((directory / "columns.json").read_text())
        if columns != package.signature.names:
            raise ValueError("columns.json does not match the package")
        return NativeThrough(package, columns)


class Drifting(Echo):
    """Scores a row with a missing number 0.001 off: the classic compiler slip."""

    name = "drifting"

    def load(self, package: Any, directory: Path) -> Any:
        inner = super().load(package, directory)
        numeric = [c.name for c in package.signature.columns if c.role != "categorical"]

        class Scorer:
            def predict(self, columns: Any, rows: int) -> Any:
                predictions = inner.predict(columns, rows)
                missing = np.zeros(rows, dtype=bool)
                for name in numeric:
                    missing |= np.isnan(columns[name])
                if predictions.proba is not None:
                    proba = predictions.proba.copy()
                    proba[missing, 0] += 1e-3
                    proba[missing, -1] -= 1e-3
                    predictions.proba = proba
                else:
                    predictions.codes = np.where(
                        missing, predictions.codes * 1.001 + 1.0, predictions.codes
                    )
                return predictions

        return Scorer()


class Raising(Echo):
    name = "raising"

    def compile(self, package: Any, directory: Path) -> None:
        (directory / "half.json").write_text("{")
        raise ValueError("cannot translate node 7 of tree 3")


class Hanging(Echo):
    name = "hanging"

    def compile(self, package: Any, directory: Path) -> None:
        time.sleep(30)


class ShippingCode(Echo):
    name = "shipping_code"

    def compile(self, package: Any, directory: Path) -> None:
        (directory / "trees.so").write_bytes(b"\x7fELF not really")


class Absent(Echo):
    name = "absent"

    def why_not(self, package: Any) -> str | None:
        return "gpulib is not installed: pip install gpulib"


class Fragile(Echo):
    """Verified at registration; its load fails where ``SPECOPS_TEST_FRAGILE_LOAD_FAILS``
    is set (a machine without the compiler it needs)."""

    name = "fragile"

    def load(self, package: Any, directory: Path) -> Any:
        if os.environ.get(LOAD_FAILS):
            raise RuntimeUnavailable("no C compiler here (cc not found)")
        return super().load(package, directory)

    def prepare(self, package: Any, directory: Path) -> str:
        """What a container's builder stage runs: builds the cache ``load`` would."""
        if os.environ.get(LOAD_FAILS):
            raise RuntimeUnavailable("no C compiler here (cc not found)")
        return f"{len(json.loads((directory / 'columns.json').read_text()))} columns cached"


BUILT = "SPECOPS_TEST_UNBUILT_IS_BUILT"


class Unbuilt(Echo):
    """Builds native code at load, like compiled trees: ``ready`` only once built here
    (``SPECOPS_TEST_UNBUILT_IS_BUILT`` set); timed through an interpreter at registration."""

    name = "unbuilt"
    measurement_note = "timed with an interpreter at registration; the build is faster"

    def ready(self, package: Any, directory: Path) -> bool:
        return bool(os.environ.get(BUILT))


WIDENS = "SPECOPS_TEST_WIDENING_WIDENS"


class Widening(Echo):
    """Verified at registration; where ``SPECOPS_TEST_WIDENING_WIDENS`` is set its scorer
    answers a probability column too many (a plugin built against another library)."""

    name = "widening"

    def load(self, package: Any, directory: Path) -> Any:
        inner = super().load(package, directory)
        if not os.environ.get(WIDENS):
            return inner

        class Scorer:
            def predict(self, columns: Any, rows: int) -> Any:
                predictions = inner.predict(columns, rows)
                predictions.proba = np.hstack([predictions.proba, predictions.proba])
                return predictions

        return Scorer()


ALL = (Echo, Drifting, Raising, Hanging, ShippingCode, Absent, Fragile, Unbuilt)
"""The made-up runtimes registered by default (``Widening`` only when asked for)."""


class MadeUp:
    """The plugin: registers the runtimes named (all by default)."""

    def __init__(self, *runtimes: type) -> None:
        self.runtimes = runtimes or ALL

    @hookimpl
    def specops_register_runtimes(self, register: Any) -> None:
        for runtime in self.runtimes:
            register(runtime.name, runtime, summary=f"test runtime {runtime.name}")
