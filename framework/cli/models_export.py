"""``specops models export REF --format mlflow DIR``: a stored version in another tool's format.

The parser is built on every start, so nothing here imports MLflow or a data library;
the handler loads them only when it runs (:mod:`framework.export_mlflow`).
"""

from __future__ import annotations

import argparse
import json
import sys

from framework.cli.options import common, handler, store_option

FORMATS: tuple[str, ...] = ("mlflow",)
"""The formats ``--format`` takes (kept here, not imported: the parser must stay light)."""


def add_export(models: argparse._SubParsersAction) -> None:
    """Add ``export`` to the ``models`` command group."""
    export = models.add_parser(
        "export",
        help="write a stored version as a model another tool loads (MLflow)",
        description="Write a stored model version as an MLflow model directory: "
        "mlflow.pyfunc.load_model(DIR) loads it (with specops installed) and predicts what "
        "`specops predict` writes for the same rows. Nothing in it is a pickle: the specops "
        "package is copied in (every file hash-checked) and loaded by specops. DIR must be "
        "absent, empty, or an earlier export (replaced whole).",
    )
    export.add_argument("ref", metavar="REF", help="NAME (its champion), NAME@ALIAS or NAME/N")
    export.add_argument("destination", metavar="DIR", help="the directory to write")
    export.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="the format to write: mlflow (an MLflow pyfunc model)",
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
