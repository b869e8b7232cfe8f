"""The model package: everything needed to predict, in one self-contained directory.

Layout::

    model.json        what it is: name, task, model type, labels, metrics, lineage
    signature.json    the input columns, their roles and categories
    transform.skops   the fitted preprocessing pipeline (absent when there is none)
    model/            the model's own files, in its own safe format

The same directory is stored in the registry (one blob per file), exported by
the ``directory`` deploy target and loaded for scoring. Nothing in it is a pickle.
An exported copy also has ``release.json``, whose file hashes are checked before
anything else is read (see ``framework.manifest``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import StoreError
from framework.manifest import verify_package
from framework.package_check import (
    check_label_count,
    check_metadata,
    check_signature,
    runtime_folders,
)
from framework.registry import UnknownComponent
from framework.safe_format import load_skops, save_skops
from framework.signature import Signature, conform

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework.plugins import Plugins
    from framework.store import ModelVersion, Store

FORMAT_VERSION = 1
_UNLOADED: Any = object()
"""A lazy package's transform or model before first use."""
_LOADING = threading.Lock()


def _read_files(directory: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The bytes of the files and folders ``names`` of ``directory`` (those that exist),
    by path relative to it: what a lazy package builds its transform and model from."""
    found: dict[str, bytes] = {}
    for name in names:
        path = directory / name
        paths = sorted(path.rglob("*")) if path.is_dir() else [path] if path.is_file() else []
        for item in paths:
            if item.is_file():
                found[item.relative_to(directory).as_posix()] = item.read_bytes()
    return found


@dataclass
class Predictions:
    """Model outputs for a frame: labels (or values) and, for classifiers, probabilities."""

    codes: np.ndarray
    """Classifiers: the index of the predicted label in :attr:`labels`, one per row;
    regression: the predicted values."""
    labels: list[Any] | None
    """The target's values in code order (``model.json``'s ``labels``); None for regression."""
    proba: np.ndarray | None
    """Classifiers: the probability of each label, shape ``(rows, len(labels))``; None for
    regression."""

    @property
    def values(self) -> np.ndarray:
        """Predicted labels in the target's own values (or regression values)."""
        import numpy as np

        if self.labels is None:
            return self.codes
        return np.asarray(self.labels, dtype=object)[self.codes.astype(int)]

    def score(self, task: str) -> Any:
        """What metrics take as ``y_score``: positive-class probability or all classes."""
        if self.proba is None:
            return None
        return self.proba[:, 1] if task == "binary" else self.proba


def write_package(
    directory: Path,
    *,
    model: Any,
    transform: Any | None,
    signature: Signature,
    metadata: dict[str, Any],
) -> Path:
    """Write a package directory from a fitted model and transform."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model").mkdir(exist_ok=True)
    model.save(directory / "model")
    if transform is not None:
        save_skops(transform, directory / "transform.skops")
    (directory / "signature.json").write_text(json.dumps(signature.to_dict(), indent=2))
    meta = {"format": FORMAT_VERSION, **metadata}
    (directory / "model.json").write_text(json.dumps(meta, indent=2, default=str))
    return directory


def predict_transformed(model: Any, features: pd.DataFrame, task: str) -> Predictions:
    """Predict from features that are already transformed."""
    if task == "regression":
        return Predictions(model.predict(features), None, None)
    proba = model.predict_proba(features)
    return Predictions(proba.argmax(axis=1), None, proba)


def _model_entry(plugins: Plugins, metadata: dict[str, Any], where: str) -> Any:
    """The registered model type a package needs. When no plugin here provides it, the
    message names the plugin distribution and version the package's lineage says
    trained it, so whoever serves or scores the model knows what to install."""
    model_type = metadata["model_type"]
    entry = plugins.registry.find("model", model_type)
    if entry is not None:
        return entry
    why = plugins.registry.unknown_type_message("model", model_type)
    made_by = (metadata.get("lineage") or {}).get("plugins") or {}
    record = made_by.get(f"model {model_type}") if isinstance(made_by, dict) else None
    if not why.startswith("unknown ") or not isinstance(record, dict) or not record.get("dist"):
        raise UnknownComponent(why)  # a conflict, a broken plugin, or an older package
    dist, version = record["dist"], record.get("version", "")
    raise UnknownComponent(
        f"model {where} needs model type '{model_type}' from plugin "
        f"'{record.get('plugin', dist)}' ({dist} {version}), which is not installed here; "
        f"install {dist}=={version} where the model is loaded"
    )


class ModelPackage:
    """A loaded package, ready to predict on raw rows.

    What a runtime compiles from: ``signature`` (:class:`framework.signature.Signature`:
    the columns, their roles and training categories), ``transform`` (the fitted
    scikit-learn transform with pandas output, or None), ``model`` (the model plugin's
    loaded object), ``task``, ``labels``, ``metadata`` (``model.json``: ``model_type``,
    ``runtimes`` verdicts, ...) and ``directory``.
    """

    def __init__(
        self, directory: Path, plugins: Plugins, *, where: str | None = None, lazy: bool = False
    ) -> None:
        """``lazy``: read the transform's and the model's files now but build them on first
        use (:attr:`transform`, :attr:`model`), so a compiled runtime that scores without
        them never imports scikit-learn or LightGBM (``specops predict`` through treelite
        or onnx saves the seconds those imports take)."""
        self.directory = directory
        self.version: ModelVersion | None = None
        verify_package(directory)  # an exported package: every file as it was exported
        shown = where or str(directory)
        try:
            self.metadata = json.loads((directory / "model.json").read_text())
            check_metadata(self.metadata, shown)
            signature = json.loads((directory / "signature.json").read_text())
            check_signature(signature, shown)
            self.signature = Signature.from_dict(signature)
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise StoreError(f"model package {directory} is unreadable: {exc}") from exc
        self.runtime_files: dict[str, dict[str, bytes]] | None = None
        """A stored version's runtime files, read while its copy existed (see
        :func:`framework.runtimes.choose.runtime_directory`); None for a folder on disk."""
        self._runtime_folders = runtime_folders(directory, shown)
        self.task: str = self.metadata["task"]
        self.labels: list[Any] | None = self.metadata.get("labels")
        self._factory = _model_entry(plugins, self.metadata, shown).factory  # the model class
        self._transform: Any = _UNLOADED
        self._model: Any = _UNLOADED
        self._files: dict[str, bytes] | None = None
        if lazy:
            self._files = _read_files(directory, ("transform.skops", "model"))
        else:
            self._load(directory)

    def _load(self, directory: Path) -> None:
        """Build the transform and the model from their files in ``directory``."""
        transform_file = directory / "transform.skops"
        transform = load_skops(transform_file) if transform_file.exists() else None
        try:
            model = self._factory.load(directory / "model")
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"model files in {directory / 'model'} are unreadable: {exc}") from exc
        self._transform, self._model = transform, model

    def _loaded(self) -> None:
        """A lazy package's transform and model, built once from the files it read."""
        with _LOADING:  # one lock for all: loads are rare, and a package stays picklable
            if self._model is not _UNLOADED:
                return
            import tempfile

            with tempfile.TemporaryDirectory(prefix="specops-model-") as tmp:
                for relative, content in (self._files or {}).items():
                    target = Path(tmp) / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
                (Path(tmp) / "model").mkdir(exist_ok=True)
                self._load(Path(tmp))
            self._files = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a Dask executor ships packages to its workers) loaded: a worker never
        builds the model from bytes again, and the sentinel is not copied."""
        if self._model is _UNLOADED:
            self._loaded()
        return self.__dict__.copy()

    @property
    def transform(self) -> Any:
        """The fitted scikit-learn transform (pandas output), or None when there is none."""
        if self._transform is _UNLOADED:
            self._loaded()
        return self._transform

    @transform.setter
    def transform(self, value: Any) -> None:
        if self._model is _UNLOADED:
            self._loaded()
        self._transform = value

    @property
    def model(self) -> Any:
        """The model plugin's loaded object (``Model.load`` of the package's ``model/``)."""
        if self._model is _UNLOADED:
            self._loaded()
        return self._model

    @model.setter
    def model(self, value: Any) -> None:
        if self._model is _UNLOADED:
            self._loaded()
        self._model = value

    @classmethod
    def from_store(
        cls, store: Store, version: ModelVersion, plugins: Plugins, *, lazy: bool = False
    ) -> ModelPackage:
        """Load a stored version: every file is hash-checked as it is copied out.
        ``lazy``: see :class:`ModelPackage`."""
        import tempfile

        scratch = None if store.read_only else store.root  # a read-only store: system temp
        with tempfile.TemporaryDirectory(dir=scratch, prefix=".load-") as tmp:
            package = cls(
                store.materialize(version, Path(tmp)), plugins, where=version.ref, lazy=lazy
            )
            package.runtime_files = package._read_runtimes()
        package.directory = Path(f"{store.root}::{version.ref}")
        package.version = version
        return package

    def _read_runtimes(self) -> dict[str, dict[str, bytes]]:
        """The files of each runtime the version verified, read before its temporary
        copy is removed (bounded when the package was loaded); a runtime serves from
        them only through :func:`framework.runtimes.choose.runtime_directory`."""
        verdicts = self.metadata.get("runtimes") or {}
        read: dict[str, dict[str, bytes]] = {}
        for name, paths in self._runtime_folders.items():
            if not (verdicts.get(name) or {}).get("verified"):
                continue
            root = self.directory / "runtimes" / name
            read[name] = {path.relative_to(root).as_posix(): path.read_bytes() for path in paths}
        return read

    def predict(self, frame: pd.DataFrame) -> tuple[Predictions, list[str]]:
        """Predictions for raw rows, and the extra columns that were ignored."""
        features, extra = conform(frame, self.signature)
        if self.transform is not None:
            features = self.transform.transform(features)
        predictions = predict_transformed(self.model, features, self.task)
        check_label_count(self.labels, predictions.proba, str(self.directory))
        predictions.labels = self.labels
        return predictions, extra
