"""One loaded model version as a server sees it: checks a batch, scores it, describes itself.

Every protocol goes through :meth:`ServedModel.predict`, so MLflow and Open
Inference clients get the same checks and the same numbers as
``ModelPackage.predict`` (and so ``specops predict``).

Which code computes them depends on the version's *runtime* (chosen when it was
loaded: see :mod:`framework.serving.model_holder`):

- a compiled runtime (onnx, treelite, ...): the request's columns decoded to raw
  columns without pandas (:mod:`framework.serving.raw_columns`), or, for a CSV body,
  the table conformed to the signature first; then the runtime's scorer;
- ``native``: the LightGBM fast path when it applies (the same decoding, then the
  booster on a matrix built by hand);
- and always, for a request either cannot read exactly (a number sent as text, ...),
  the package's own pandas path, whose answer or error message is the reference.

A compiled scorer that raises on a request does not fail it: the request is answered
by the pandas path and the error logged (once per version), since the native path is
what the compiled form was verified against.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from framework.errors import DataError
from framework.package_check import check_label_count
from framework.serving.batch import Batch, check_columns
from framework.serving.errors import RequestError, bad_request
from framework.serving.fastpath import LightGBMFastPath
from framework.serving.raw_columns import RequestColumns

if TYPE_CHECKING:
    from framework.package import ModelPackage, Predictions
    from framework.runtimes.base import Scorer, Tolerance

log = logging.getLogger("specops.serve")

NATIVE = "native"
BIG_ROWS = 256
"""From this many rows a request is scored by the runtime chosen for throughput (most rows
per second), when ``auto`` chose another one for single rows."""


def input_datatype(role: str, categories: list[Any] | None) -> str:
    """The Open Inference datatype advertised for an input column (numbers take any numeric)."""
    if role == "categorical":
        return "BYTES" if all(isinstance(c, str) for c in categories or []) else "FP64"
    return "BOOL" if role == "boolean" else "FP64"


def label_datatype(labels: list[Any] | None) -> str:
    """The Open Inference datatype of the ``predictions`` output."""
    if labels is None:
        return "FP64"
    if all(isinstance(label, bool) for label in labels):
        return "BOOL"
    if all(isinstance(label, int) and not isinstance(label, bool) for label in labels):
        return "INT64"
    if all(isinstance(label, float) for label in labels):
        return "FP64"
    return "BYTES"


class ServedModel:
    """A model package plus what serving needs to know about it, built once per version."""

    def __init__(
        self,
        package: ModelPackage,
        name: str,
        version: int | None,
        *,
        follows: str | None = None,
        fast_path: bool = True,
        runtime: str = NATIVE,
        scorer: Scorer | None = None,
        not_used: Mapping[str, str] | None = None,
        big_runtime: str | None = None,
        big_scorer: Scorer | None = None,
    ) -> None:
        """``runtime`` is the runtime serving and ``scorer`` its loaded form (None for
        native, which needs none); ``not_used`` says, per other runtime, why it is not
        the one serving (for ``/version``). ``big_runtime`` (and ``big_scorer``, None for
        native) scores requests of :data:`BIG_ROWS` rows or more, when it differs."""
        self.package = package
        self.name = name
        self.version = version
        self.follows = follows
        self.signature = package.signature
        self.input_names = package.signature.names
        self.columns = {column.name: column for column in package.signature.columns}
        self.input_datatypes = {
            column.name: input_datatype(column.role, column.categories)
            for column in package.signature.columns
        }
        self.task = package.task
        self.labels = package.labels
        self.model_type = str(package.metadata.get("model_type", "unknown"))
        target = package.metadata.get("target")
        self.target = target if isinstance(target, str) and target not in self.columns else None
        """The target column's name: a request carrying it has it logged as labels."""
        self.runtime = runtime if scorer is not None else NATIVE
        self.scorer = scorer
        self.not_used = dict(not_used or {})
        self.decoder = RequestColumns(package.signature)
        self.big_runtime = big_runtime if big_runtime != self.runtime else None
        self.big_scorer = big_scorer if self.big_runtime not in (None, NATIVE) else None
        self.fast = LightGBMFastPath.for_package(package) if fast_path else None
        self.runtime_errors = 0
        """Requests the runtime's scorer raised on (each answered by the pandas path)."""
        self.ref = f"{name}/{version}" if version is not None else name
        self.ref_header = self.ref.encode()
        self.label_datatype = label_datatype(self.labels)

    @property
    def follows_ref(self) -> str | None:
        """``NAME@ALIAS`` of the alias this version was loaded by following, if any."""
        return f"{self.name}@{self.follows}" if self.follows else None

    def predict(self, batch: Batch) -> Predictions:
        """Score a batch; a 400 naming the column or value when it does not fit the model."""
        check_columns(batch, self.columns)
        big = self.big_runtime is not None and batch.rows >= BIG_ROWS
        scorer = self.big_scorer if big else self.scorer
        if scorer is not None:
            predictions = self.predict_runtime(batch, scorer)
            if predictions is not None:
                return predictions
        elif self.fast is not None and batch.frame is None:
            predictions = self.fast.predict(batch)
            if predictions is not None:
                return predictions
        return self.predict_pandas(batch)

    def predict_runtime(self, batch: Batch, scorer: Scorer | None = None) -> Predictions | None:
        """A runtime's scorer (the serving one by default) on the batch's raw columns, or
        None for the pandas path (a value only pandas reads exactly, a table that does not
        fit the signature, or a scorer that failed)."""
        scorer = scorer or self.scorer
        assert scorer is not None
        rows = batch.rows
        columns = self.decoder.decode(batch) if batch.frame is None else self._from_table(batch)
        if columns is None:
            return None
        try:
            return scorer.predict(columns, rows)
        except Exception:
            self.runtime_errors += 1
            if self.runtime_errors == 1:
                log.exception(
                    "%s: the %s runtime failed on a request; answered by the native path "
                    "(logged once)",
                    self.ref,
                    self.runtime if scorer is self.scorer else self.big_runtime,
                )
            return None

    def _from_table(self, batch: Batch) -> Mapping[str, Any] | None:
        """A CSV body's table conformed to the signature (the pandas path's own checks),
        as raw columns; None to let the pandas path answer (it names the bad value)."""
        from framework.runtimes.columns import raw_columns
        from framework.signature import conform

        try:
            features, _ = conform(batch.frame, self.signature)
        except (DataError, OverflowError, TypeError, ValueError):
            return None
        return raw_columns(features, self.signature)

    def predict_pandas(self, batch: Batch) -> Predictions:
        """The package's own path: DataFrame, signature, stored transform, model."""
        import pandas as pd

        if batch.frame is None:
            _refuse_nested(batch)
        try:
            frame = batch.frame
            if frame is None:
                frame = pd.DataFrame({name: batch.columns[name] for name in self.input_names})
            predictions, _ = self.package.predict(frame)
        except DataError as exc:
            raise bad_request(exc.message) from None
        except OverflowError:
            raise _out_of_range(batch) from None
        except (TypeError, ValueError) as exc:
            raise bad_request(f"the rows cannot be read as the model's columns: {exc}") from None
        return predictions

    def warm_up(self) -> None:
        """Score one all-missing row, so the first real request pays no first-call costs."""
        row = Batch({name: [None] for name in self.input_names}, 1)
        with contextlib.suppress(RequestError):  # a model refusing missing values still serves
            check_label_count(self.labels, self.predict(row).proba, self.ref)

    def runtime_problem(self, tolerance: Tolerance, scorer: Scorer | None = None) -> str | None:
        """Why the runtime's scorer must not serve here, or None: it is asked for one row
        with every value missing and must answer as the native path does (within the
        runtime's tolerance). Registration verified the compiled form on many rows; this
        catches a form that loads here but computes otherwise (another library version,
        a stale native build)."""
        import numpy as np

        scorer = scorer or self.scorer
        if scorer is None:
            return None
        row = Batch({name: [None] for name in self.input_names}, 1)
        try:
            expected = self.predict_pandas(row)
        except RequestError:
            return None  # the model refuses missing values: nothing to compare on
        columns = self.decoder.decode(row)
        if columns is None:  # categories of mixed types: every request takes the pandas path
            return "cannot take requests here: only the pandas path reads this model's categories"
        try:
            found = scorer.predict(columns, 1)
        except Exception as exc:
            return f"failed on a row of missing values: {_one_line(exc)}"
        if np.shape(found.codes) != np.shape(expected.codes):
            return (
                f"answers {np.shape(found.codes)} predictions for one row where the native "
                f"path answers {np.shape(expected.codes)}"
            )
        if np.asarray(found.codes).tolist() != np.asarray(expected.codes).tolist():
            return "predicts another label than the native path (a row of missing values)"
        if expected.proba is not None:
            shape = None if found.proba is None else np.shape(found.proba)
            if shape != np.shape(expected.proba):  # never broadcast: a plugin's mistake
                return (
                    f"gives probabilities of shape {shape} where the native path gives "
                    f"{np.shape(expected.proba)}"
                )
            error = float(np.max(np.abs(np.asarray(found.proba) - expected.proba)))
            if not error <= tolerance.proba:
                return f"gives probabilities {error:.3g} away from the native path's"
        elif expected.labels is None:
            native = np.asarray(expected.codes, dtype=np.float64)
            error = float(
                np.max(np.abs(np.asarray(found.codes) - native) / np.maximum(1.0, np.abs(native)))
            )
            if not error <= tolerance.value:
                return f"gives values {error:.3g} (relative) away from the native path's"
        return None

    def describe(self) -> dict[str, Any]:
        """What ``/version`` says: which version answers, and what it takes and returns."""
        from framework import __version__

        return {
            "model": self.name,
            "version": self.version,
            "ref": self.ref,
            "follows": self.follows_ref,
            "task": self.task,
            "model_type": self.model_type,
            "labels": self.labels,
            "inputs": [
                {"name": column.name, "role": column.role} for column in self.signature.columns
            ],
            "runtime": self.runtime,
            "runtimes_not_used": self.not_used,
            **({"runtime_errors": self.runtime_errors} if self.scorer or self.big_scorer else {}),
            **(
                {"big_requests": {"rows": BIG_ROWS, "runtime": self.big_runtime}}
                if self.big_runtime
                else {}
            ),
            "specops": __version__,
        }


NESTED = (list, dict, tuple)
LARGEST_FLOAT = 1.7976931348623157e308


def _out_of_range(batch: Batch) -> RequestError:
    """A 400 naming the first value too large for a 64-bit float (a 400-digit integer, say).

    Only called once pandas has overflowed, so the scan costs nothing on the usual path.
    """
    columns: Any = batch.frame if batch.frame is not None else batch.columns
    for name in columns:
        values = columns[name]
        values = values.tolist() if hasattr(values, "tolist") else values
        for row, value in enumerate(values):
            if _too_large(value):
                shown = str(value)
                shown = shown if len(shown) <= 40 else f"{shown[:20]}...({len(shown)} characters)"
                return bad_request(
                    f"column '{name}' row {row}: {shown} is too large for a number "
                    f"(the largest is about {LARGEST_FLOAT:.4g})"
                )
    return bad_request("a value in the request is too large for a number (about 1.8e308 at most)")


def _too_large(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > LARGEST_FLOAT
    if isinstance(value, str) and len(value) > 300:
        try:
            return abs(int(value.strip())) > LARGEST_FLOAT
        except ValueError:  # not an integer, or more digits than Python converts
            return value.strip().lstrip("+-").isdigit()
    return False


def _refuse_nested(batch: Batch) -> None:
    """A value must be one number, string, boolean or null; a list or object never fits."""
    for name, values in batch.columns.items():
        if isinstance(values, (list, tuple)) and any(isinstance(v, NESTED) for v in values):
            raise bad_request(
                f"column '{name}' holds lists or objects; each value must be a single "
                "number, string, boolean or null"
            )


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."
