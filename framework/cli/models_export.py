"""``specops models export REF --format mlflow|onnx PATH``: a stored version in another
tool's format.

``mlflow`` writes an MLflow model directory (:mod:`framework.export_mlflow`). ``onnx``
writes the ONNX graph the ``onnx`` runtime compiled and verified at registration: the
stored file itself (hash-checked as it is copied out), only when the version's
``model.json`` records an ``onnx`` verdict that passed (a graph that disagreed with the
native predictions is never handed out), and only when it is byte for byte what the
installed ``onnx`` runtime compiles from the version's model, loaded as every loader
loads it (an edited graph, or one a verdict does not describe, is never handed out
either: the runtime's ``exported_graph`` checks it, as its ``load`` does).

The parser is built on every start, so nothing here imports MLflow, ONNX or a data
library; the handler loads them only when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from framework.cli.options import common, handler, store_option

FORMATS: tuple[str, ...] = ("mlflow", "onnx")
"""The formats ``--format`` takes (kept here, not imported: the parser must stay light)."""


def add_export(models: argparse._SubParsersAction) -> None:
    """Add ``export`` to the ``models`` command group."""
    export = models.add_parser(
        "export",
        help="write a stored version as a model another tool loads (MLflow, ONNX)",
        description="mlflow: write a stored model version as an MLflow model directory: "
        "mlflow.pyfunc.load_model(PATH) loads it (with specops installed) and predicts what "
        "`specops predict` writes for the same rows. Nothing in it is a pickle: the specops "
        "package is copied in (every file hash-checked) and loaded by specops. PATH must be "
        "absent, empty, or an earlier export (replaced whole). "
        "onnx: write the ONNX graph the onnx runtime compiled and verified at registration "
        "(refused when the version has no verified onnx verdict). Inputs: one per column, "
        "named after it: double [N,1] for numeric and boolean columns (NaN missing), "
        "string [N,1] for categorical ones (the category's text; any other string, e.g. "
        "the empty one, is missing, as an unseen value is). Outputs: probabilities "
        "double [N,classes], code int64 [N], label string [N] for classifiers; value "
        "double [N] for regression. PATH must be new or a file an earlier export wrote.",
    )
    export.add_argument("ref", metavar="REF", help="NAME (its champion), NAME@ALIAS or NAME/N")
    export.add_argument(
        "destination", metavar="PATH", help="the directory (mlflow) or file (onnx) to write"
    )
    export.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="the format to write: mlflow (an MLflow pyfunc model directory), onnx (the "
        "verified ONNX graph, one .onnx file)",
    )
    store_option(export)
    common(export)
    handler(export, "framework.cli.models_export:cmd_models_export")


def cmd_models_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from framework.export_mlflow import export_mlflow
    from framework.refs import resolve, store_root
    from framework.store import Store

    store = Store.open_existing(store_root(args.store), write=False)
    try:
        version = resolve(store, args.ref)
        if args.format == "onnx":
            return _report_onnx(args, version.ref, export_onnx(store, version, args.destination))
        written = export_mlflow(store, version, Path(args.destination))
    finally:
        store.close()
    if args.json:
        report = {
            "status": "ok",
            "model": version.ref,
            "format": args.format,
            "path": str(written),
        }
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(
        f"exported {version.ref} as an MLflow model -> {written} "
        f"(load it with mlflow.pyfunc.load_model({str(written)!r}))"
    )
    return 0


ONNX_RUNTIME = "onnx"
GRAPH = "runtimes/onnx/model.onnx"
"""Where the onnx runtime's graph is in a stored package."""
MAX_MODEL_JSON = 64 * 1024 * 1024
EXPORTER = "specops models export"


def export_onnx(store: Any, version: Any, destination: str) -> dict[str, Any]:
    """Write ``version``'s verified ONNX graph to ``destination``; returns what was written
    (path, verdict, inputs, outputs). Refused (UserError, nothing written) when the
    version has no verified onnx verdict, or the path is not one an export may write."""
    import os
    import tempfile
    from pathlib import Path

    from framework.errors import UserError
    from framework.ownership import file_refusal, mark_file

    path = Path(destination)
    refusal = file_refusal(path, actor=EXPORTER)
    if refusal:
        raise UserError(refusal)
    with tempfile.TemporaryDirectory(prefix=".specops-export-") as scratch:
        meta = _model_json(store, version, Path(scratch))
        verdict = _verified_onnx(version.ref, meta)
        if version.files.get(GRAPH) is None:
            raise UserError(
                f"{version.ref}'s onnx verdict passed but its package has no {GRAPH}; "
                "run `specops store verify`"
            )
    graph = checked_graph(store, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(graph)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    mark_file(path, {"target": "models export --format onnx", "model": version.ref})
    return {
        "path": str(path),
        "verdict": verdict,
        "inputs": _inputs(version.signature),
        "outputs": _outputs(meta.get("task")),
    }


def checked_graph(store: Any, version: Any) -> bytes:
    """The version's stored graph, only when the installed ``onnx`` runtime finds it is
    exactly what the version's model compiles to: the package is loaded as every loader
    loads it (hashes, trust rules, tree checks), then the runtime's ``exported_graph``
    compiles it and compares. A UserError naming the file and why otherwise."""
    from framework.errors import UserError
    from framework.package import ModelPackage
    from framework.plugins import get_plugins
    from framework.runtimes.base import RuntimeUnavailable
    from framework.runtimes.choose import runtime_directory
    from framework.runtimes.lookup import KIND, build

    plugins = get_plugins()
    exported = None
    if ONNX_RUNTIME in plugins.registry.types(KIND):
        exported = getattr(build(ONNX_RUNTIME, plugins), "exported_graph", None)
    if exported is None:
        raise UserError(
            f"{version.ref}'s {GRAPH} cannot be checked against its model here: the onnx "
            "runtime plugin is not installed (pip install 'specops[onnx]'); not exported"
        )
    package = ModelPackage.from_store(store, version, plugins)
    with runtime_directory(package, ONNX_RUNTIME) as directory:
        try:
            return bytes(exported(package, directory))
        except RuntimeUnavailable as exc:
            raise UserError(f"{version.ref}: {exc}") from None


def _model_json(store: Any, version: Any, scratch: Any) -> dict[str, Any]:
    from framework.errors import StoreError

    digest = version.files.get("model.json")
    if digest is None:
        raise StoreError(f"{version.ref}'s package has no model.json; run `specops store verify`")
    copied = scratch / "model.json"
    store.artifacts.copy_out(digest, f"model.json of {version.ref}", copied)
    if copied.stat().st_size > MAX_MODEL_JSON:
        raise StoreError(f"model.json of {version.ref} is larger than any specops writes")
    try:
        meta = json.loads(copied.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StoreError(f"model.json of {version.ref} is not JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise StoreError(f"model.json of {version.ref} is not an object")
    return meta


def _verified_onnx(ref: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The version's onnx verdict when it passed; else a UserError saying why not."""
    from framework.errors import UserError

    runtimes = meta.get("runtimes")
    runtimes = runtimes if isinstance(runtimes, dict) else {}
    compiled = sorted(name for name in runtimes if name != "native")
    if not compiled:
        raise UserError(
            f"{ref} has no compiled runtimes (registered by a specops without them, or with "
            "serve.runtime: native), so there is no verified ONNX graph to export; "
            "train it again with serve.runtime: auto or onnx"
        )
    verdict = runtimes.get(ONNX_RUNTIME)
    if not isinstance(verdict, dict):
        raise UserError(
            f"{ref} has no onnx verdict (runtimes compiled at registration: "
            f"{', '.join(compiled)}); train it again with serve.runtime: auto or onnx, with "
            "the onnx extra installed (pip install 'specops[onnx]')"
        )
    if verdict.get("verified") is not True:
        why = verdict.get("why") or "no reason recorded"
        raise UserError(f"{ref}'s onnx graph was not verified at registration: {why}")
    return verdict


def _inputs(signature: dict[str, Any]) -> list[dict[str, str]]:
    columns = signature.get("columns", []) if isinstance(signature, dict) else []
    return [
        {
            "name": str(column.get("name")),
            "type": "string [N,1]" if column.get("role") == "categorical" else "double [N,1]",
        }
        for column in columns
        if isinstance(column, dict)
    ]


def _outputs(task: Any) -> list[dict[str, str]]:
    if task == "regression":
        return [{"name": "value", "type": "double [N]"}]
    return [
        {"name": "probabilities", "type": "double [N,classes]"},
        {"name": "code", "type": "int64 [N]"},
        {"name": "label", "type": "string [N]"},
    ]


def _report_onnx(args: argparse.Namespace, ref: str, written: dict[str, Any]) -> int:
    if args.json:
        report = {"status": "ok", "model": ref, "format": "onnx", **written}
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    verdict = written["verdict"]
    error = verdict.get("max_proba_error", verdict.get("max_value_error"))
    checked = f"verified on {verdict.get('rows', 0)} rows"
    if error is not None:
        checked += f", largest difference from native {error:.1e}"
    print(f"exported {ref}'s ONNX graph -> {written['path']} ({checked})")
    inputs = written["inputs"]
    shown = ", ".join(f"{i['name']}: {i['type']}" for i in inputs[:8])
    more = f", ... ({len(inputs)} in all)" if len(inputs) > 8 else ""
    print(f"  inputs:  {shown}{more}")
    print("  outputs: " + ", ".join(f"{o['name']}: {o['type']}" for o in written["outputs"]))
    print("  categorical inputs take the category's text; any other string is missing")
    return 0
