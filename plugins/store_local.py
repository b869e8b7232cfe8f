"""The built-in local store backends: ``sqlite`` metadata and ``file`` artifacts.

A plain local store (a ``.specops`` directory) is opened by the framework without
loading any plugin, so startup stays fast; this module registers the same two
backends under their URL schemes, exactly as :mod:`plugins.store_postgres` and
:mod:`plugins.store_s3` register theirs, so ``specops plugins`` lists every store
backend and ``--store sqlite:///path/.specops`` / ``--artifacts file:///path`` work.
"""

from __future__ import annotations

from typing import Any

from framework import hookimpl
from framework.store import open_file_artifacts, open_sqlite_metadata

STORE_PARAMS: dict[str, Any] = {
    "type": "object",
    "description": "store.params: the local backends take none and ignore the others'.",
}


@hookimpl
def specops_register_metadata_stores(register: Any) -> None:
    register(
        "sqlite",
        open_sqlite_metadata,
        STORE_PARAMS,
        summary="store.db (SQLite) in a .specops directory: one machine (the default)",
    )


@hookimpl
def specops_register_artifact_stores(register: Any) -> None:
    register(
        "file",
        open_file_artifacts,
        STORE_PARAMS,
        summary="content-addressed blobs in a local folder (the default: beside store.db)",
    )
