"""A stored model version as an MLflow model: ``specops models export REF --format mlflow``.

Teams on MLflow load it with ``mlflow.pyfunc.load_model(DIR)`` (or serve it with
``mlflow models serve``) and get what ``specops predict`` writes for the same rows:
a ``prediction`` column (the label, or the value for regression) and, for a classifier,
one ``proba_<label>`` column per class.

Nothing is pickled. MLflow's "models from code" is used: the model is the small Python
file :data:`MODEL_CODE` (copied into the model's ``code/`` folder), which calls
``mlflow.models.set_model``; the specops package is copied beside it as an artifact
(``artifacts/package``, with ``release.json`` listing every file's sha256) and is
loaded through specops' own safe loading (:class:`framework.package.ModelPackage`:
hashes checked, LightGBM text, skops with a trust list). Loading therefore needs
specops installed (the ``requirements.txt`` names it) and the plugin of the model type.

MLflow checks the input against the recorded signature before specops sees the rows:
column types are those of training (an integer column is ``long``, so a batch whose
integer column has a missing value must send it as a float column, as MLflow's own
docs say), extra columns are dropped, missing ones are refused by MLflow.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from framework.package import ModelPackage
    from framework.signature import Signature
    from framework.store import ModelVersion, Store

FORMATS: tuple[str, ...] = ("mlflow",)
log = logging.getLogger("specops.export")

PACKAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
PACKAGE_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]{0,63}")
"""A lineage item becomes a requirement only when it is a package name and version (the
rule of plugins/image_pins.py, bounded): nothing else reaches pip's files."""

PACKAGE_ARTIFACT = "package"
"""The artifact key (and folder under ``artifacts/``) of the specops package."""
CODE_FILE = "specops_model.py"

MODEL_CODE = '''\
"""A specops model package as an MLflow model (written by `specops models export`).

The package in artifacts/package is loaded by specops itself: every file's sha256 is
checked against release.json, models are read from their own safe formats, never a
pickle. predict() returns what `specops predict` writes for the same rows.
"""

import mlflow.models
import pandas as pd
from mlflow.pyfunc import PythonModel


class SpecopsModel(PythonModel):
    def load_context(self, context):
        from framework.export_mlflow import load_package

        self.package = load_package(context.artifacts["package"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from framework.export_mlflow import predict_frame

        return predict_frame(self.package, model_input)


mlflow.models.set_model(SpecopsModel())
'''


# ---------------------------------------------------------------------------
# what the MLflow model runs (called from MODEL_CODE where it is loaded)
# ---------------------------------------------------------------------------


def load_package(directory: str | Path) -> ModelPackage:
    """The exported package, loaded as ``specops serve --package`` loads one."""
    from framework.package import ModelPackage
    from framework.plugins import get_plugins

    return ModelPackage(Path(directory), get_plugins())


def predict_frame(package: ModelPackage, frame: pd.DataFrame) -> pd.DataFrame:
    """``specops predict``'s output columns for ``frame``: the same scoring call
    (:meth:`ModelPackage.predict`) and the same table (:class:`OutputColumns`)."""
    from framework.scoring.outputs import OutputColumns

    predictions, _ = package.predict(frame)
    return OutputColumns.of(package, None).table(None, predictions).to_pandas()


# ---------------------------------------------------------------------------
# writing one
# ---------------------------------------------------------------------------


def export_mlflow(store: Store, version: ModelVersion, destination: Path) -> Path:
    """Write ``version`` as an MLflow model directory at ``destination``.

    ``destination`` must be absent or empty, or an MLflow model an earlier export
    wrote (replaced whole, never half: see :func:`framework.export.replace_directory`);
    anything else is refused before anything is written."""
    from framework.export import replace_directory
    from framework.ownership import replace_refusal

    destination = Path(destination)
    refusal = replace_refusal(destination)  # before any work (replace_directory asks again)
    if refusal:
        raise UserError(refusal)
    _require_mlflow()
    owner = {"target": "models export --format mlflow", "model": version.ref}
    with tempfile.TemporaryDirectory(prefix=".specops-export-") as scratch:
        package = Path(scratch) / PACKAGE_ARTIFACT
        store.materialize(version, package)  # every file verified by hash as it is copied
        _write_manifest(package, version)
        loaded = load_package(package)  # refuses a package this install cannot load
        replace_directory(
            destination,
            lambda staging: _save(staging, package, loaded, version),
            owner=owner,
        )
    return destination


def _require_mlflow() -> None:
    try:
        import mlflow.pyfunc  # noqa: F401
    except ImportError as exc:
        raise UserError(
            "exporting to MLflow needs the mlflow package: pip install 'specops[mlflow]'"
        ) from exc


def _write_manifest(package: Path, version: ModelVersion) -> None:
    """``release.json`` as the deploy targets write it: loading checks every file."""
    from framework.export import RELEASE_FILE
    from framework.manifest import MANIFEST_KEY, package_files

    task = json.loads((package / "model.json").read_text()).get("task")
    info = {
        "name": version.name,
        "version": version.version,
        "task": task,
        MANIFEST_KEY: package_files(package),
    }
    (package / RELEASE_FILE).write_text(json.dumps(info, indent=2))


def _save(staging: Path, package: Path, loaded: ModelPackage, version: ModelVersion) -> None:
    import warnings

    import mlflow.pyfunc

    with (
        tempfile.TemporaryDirectory(prefix=".specops-code-") as code_dir,
        warnings.catch_warnings(),
    ):
        # an input example would copy rows of the training data into the export
        warnings.filterwarnings("ignore", message=".*input example was not provided")
        code = Path(code_dir) / CODE_FILE
        code.write_text(MODEL_CODE)
        mlflow.pyfunc.save_model(
            path=str(staging),
            python_model=str(code),
            artifacts={PACKAGE_ARTIFACT: str(package)},
            signature=mlflow_signature(loaded.signature, loaded.labels),
            pip_requirements=requirements(version),
            metadata=_metadata(loaded, version),
        )
    shutil.rmtree(staging / "code" / "__pycache__", ignore_errors=True)


def mlflow_signature(signature: Signature, labels: list[Any] | None) -> Any:
    """The MLflow ``ModelSignature``: the training columns with their training types
    in, ``prediction`` (and ``proba_<label>`` per class) out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from framework.columns import PREDICTION
    from framework.scoring.outputs import PROBA_PREFIX

    inputs = Schema([ColSpec(_column_type(c.dtype), c.name) for c in signature.columns])
    if labels is None:
        outputs = [ColSpec("double", PREDICTION)]
    else:
        outputs = [ColSpec(_label_type(labels), PREDICTION)]
        outputs += [ColSpec("double", f"{PROBA_PREFIX}{label}") for label in labels]
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def _column_type(dtype: str) -> str:
    """MLflow's type for a training column's dtype: what it is given at scoring time."""
    import numpy as np

    try:
        kind = np.dtype(dtype).kind
    except TypeError:  # pandas' own dtypes: category, string, str
        return "string"
    if kind in "iu":
        return "long"
    if kind == "f":
        return "float" if np.dtype(dtype).itemsize <= 4 else "double"
    if kind == "b":
        return "boolean"
    return "string"


def _label_type(labels: list[Any]) -> str:
    if all(isinstance(label, bool) for label in labels):
        return "boolean"
    if all(isinstance(label, int) for label in labels):
        return "long"
    if all(isinstance(label, int | float) for label in labels):
        return "double"
    return "string"


def requirements(version: ModelVersion) -> list[str]:
    """Where it is loaded: specops itself and the libraries the version trained with
    (as the lineage recorded them), pinned; MLflow adds itself."""
    from importlib import metadata

    try:
        specops = f"specops=={metadata.version('specops')}"
    except metadata.PackageNotFoundError:
        specops = "specops"
    packages = (version.lineage or {}).get("packages") or {}
    if not isinstance(packages, dict):
        packages = {}
    skipped = ("python", "specops", "mlflow")  # not pip's, or named above, or MLflow's own
    pinned = []
    for name, number in sorted(packages.items(), key=lambda item: str(item[0])):
        if not (isinstance(name, str) and isinstance(number, str) and number):
            continue
        if name.lower() in skipped:
            continue
        if not (PACKAGE_NAME.fullmatch(name) and PACKAGE_VERSION.fullmatch(number)):
            # the row's lineage is whoever wrote the store's: a "version" holding a newline
            # and --extra-index-url would send pip to their index where the model is served
            log.warning(
                "%s: the lineage's package %.60r (version %.60r) is not a package name and "
                "version: left out of requirements.txt and conda.yaml",
                version.ref,
                name,
                number,
            )
            continue
        pinned.append(f"{name}=={number}")
    return [specops, *pinned]


def _metadata(loaded: ModelPackage, version: ModelVersion) -> dict[str, Any]:
    """What MLmodel says of the version, so an MLflow user can find it in specops."""
    lineage = version.lineage or {}
    return {
        "specops": {
            "name": version.name,
            "version": version.version,
            "ref": version.ref,
            "task": loaded.task,
            "model_type": version.model_type,
            "labels": loaded.labels,
            "run_id": version.run_id,
            "spec_hash": lineage.get("spec_hash"),
            "data_hash": lineage.get("data_hash"),
            "package": f"artifacts/{PACKAGE_ARTIFACT}",
        }
    }
