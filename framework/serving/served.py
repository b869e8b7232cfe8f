"""One loaded model version as a server sees it: checks a batch, scores it, describes itself.

Every protocol goes through :meth:`ServedModel.predict`, so MLflow and Open
Inference clients get the same checks and the same numbers as
``ModelPackage.predict`` (and so ``specops predict``): the LightGBM fast path
when it applies, the package's own pandas path otherwise.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from framework.errors import DataError
from framework.package_check import check_label_count
from framework.serving.batch import Batch, check_columns
from framework.serving.errors import RequestError, bad_request
from framework.serving.fastpath import LightGBMFastPath

if TYPE_CHECKING:
    from framework.package import ModelPackage, Predictions


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
    ) -> None:
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
        self.fast = LightGBMFastPath.for_package(package) if fast_path else None
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
        if self.fast is not None and batch.frame is None:
            predictions = self.fast.predict(batch)
            if predictions is not None:
                return predictions
        return self.predict_pandas(batch)

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
