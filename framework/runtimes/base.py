"""What a prediction runtime is: a faster form of a stored model, verified before it serves.

A model package holds the fitted scikit-learn transform and the model as their own
libraries predict with them (the ``native`` path: a DataFrame, the signature, the
transform, the model). A *runtime* turns that package into another form that gives the
same predictions faster: an ONNX graph, trees compiled to C, plain NumPy arithmetic.

Speed is worth nothing if the answers change, so a runtime never decides for itself
that it is right. At registration the engine asks each runtime to compile the package,
loads what it wrote, scores the run's own test rows (plus rows with each column missing
and with unseen categories) through it and through the native path, and keeps the
compiled form only when every prediction agrees within the runtime's
:class:`Tolerance`. The verdict, the error measured and the speed are recorded in the
version, so ``models show`` and ``/version`` can say which runtime serves and why the
others do not.

Runtimes are a component kind (``runtime``), registered through
``specops_register_runtimes`` like every other kind, so a third party can add one (a GPU
runtime, say). The protocol is small on purpose: :class:`Runtime` compiles and loads,
:class:`Scorer` predicts on :data:`RawColumns`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from framework.package import ModelPackage, Predictions

RawColumns = Mapping[str, "np.ndarray"]
"""A batch of raw rows by column name, in the signature's terms, every column ``rows`` long:

- ``numeric`` and ``boolean`` columns: ``float64`` arrays, NaN where missing
  (booleans as 1.0 / 0.0);
- ``categorical`` columns: ``object`` arrays of the values as sent (``None`` where
  missing; a value outside the signature's categories is kept as it is: unseen).

This is what both the server (from a request's columns) and ``specops predict`` (from a
file's chunk, after the signature check) hand to a :class:`Scorer`, so a runtime never
parses requests or files itself.
"""


@dataclass(frozen=True)
class Tolerance:
    """How far a runtime's predictions may be from the native ones and still count as the same.

    ``proba`` bounds the absolute difference of every class probability, ``value`` the
    difference of a regression value relative to ``max(1, |native|)``. Predicted labels
    must always be identical.
    """

    proba: float
    """Largest absolute difference allowed in any class probability."""
    value: float
    """Largest difference allowed in a regression value, relative to ``max(1, |native|)``."""

    def describe(self) -> str:
        return f"probabilities within {self.proba:g}, values within {self.value:g} (relative)"


EXACT = Tolerance(proba=1e-9, value=1e-9)
"""Float64 runtimes that evaluate the same arithmetic (trees, NumPy transforms)."""
FLOAT32 = Tolerance(proba=1e-6, value=1e-5)
"""Runtimes that compute in float32 (ONNX Runtime's tree ensembles, for one)."""


@runtime_checkable
class Scorer(Protocol):
    """A loaded compiled form, ready to predict. Must be safe to call from two threads at
    once: the server scores small requests on its event loop and large ones on a worker
    thread, so a scorer keeps no per-call scratch state on itself."""

    def predict(self, columns: RawColumns, rows: int) -> Predictions:
        """Predictions for ``rows`` raw rows, shaped as the native path shapes them:
        ``Predictions(codes, labels, proba)`` with ``proba`` ``(rows, n_classes)`` for
        classifiers and ``None`` for regression, ``labels`` the package's labels."""
        ...


class Runtime(Protocol):
    """A way to compile a model package into a faster form, and to load that form.

    Registered under ``name`` (what ``serve.runtime`` / ``--runtime`` say). ``tolerance``
    is what verification holds the runtime to. Methods raise :class:`RuntimeUnavailable`
    (with a one-line reason) when this package or this machine cannot use the runtime;
    any other exception is a failed compilation, recorded with its message.
    """

    name: ClassVar[str]
    tolerance: ClassVar[Tolerance]

    def why_not(self, package: ModelPackage) -> str | None:
        """None when this runtime can compile ``package`` here; else one line saying why
        not (``"random_forest is not a tree model it compiles"``, ``"onnxruntime is not
        installed: pip install 'specops[onnx]'"``). Cheap: no compiling."""
        ...

    def compile(self, package: ModelPackage, directory: Path) -> None:
        """Write the compiled form's files into ``directory`` (empty, created by the
        caller). They become part of the stored package, hash-checked like its other
        files, so they must be data (an ONNX graph, a model text, a JSON of
        coefficients), never code a loader would execute: a shared library is built
        where it runs (see :meth:`load`), not stored."""
        ...

    def load(self, package: ModelPackage, directory: Path) -> Scorer:
        """A scorer from the files :meth:`compile` wrote into ``directory``. A runtime
        that needs native code builds it here, into a cache it owns, from those files."""
        ...


class RuntimeUnavailable(Exception):
    """This runtime cannot serve this package on this machine; the message says why."""


@dataclass
class Verdict:
    """What verification found for one runtime: recorded in the version's ``model.json``
    under ``runtimes.<name>`` and shown by ``models show``, ``plan`` and ``/version``."""

    runtime: str
    """The runtime's registered name."""
    verified: bool
    """Whether every verification row agreed with the native path within the tolerance."""
    why: str | None = None
    """Why the runtime is not used for this version (not verified, unavailable, failed)."""
    rows: int = 0
    """How many rows verification compared (test rows plus probe rows)."""
    max_proba_error: float | None = None
    """Largest absolute probability difference seen (classifiers)."""
    max_value_error: float | None = None
    """Largest relative value difference seen (regression)."""
    single_row_us: float | None = None
    """Median time to score one row, in microseconds (what ``auto`` picks by for serving)."""
    rows_per_second: float | None = None
    """Rows scored per second on a batch (what ``auto`` picks by for ``predict``)."""
    compile_seconds: float | None = None
    """How long compiling took at registration."""
    files: tuple[str, ...] = ()
    """The compiled form's files in the package (``runtimes/<name>/...``); none when not
    verified (its files are removed)."""
    note: str | None = None
    """How the speed was measured when that is not how the runtime serves (compiled trees
    verified and timed with their interpreter), from the runtime's ``measurement_note``."""

    def to_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in vars(self).items() if value not in (None, ())}
        data["files"] = list(self.files)
        return data
