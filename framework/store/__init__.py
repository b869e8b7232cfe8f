"""The store: runs, datasets, artifacts and the model registry.

Also the API of store backend plugins (kinds ``metadata_store`` and
``artifact_store``): the protocols and types of :mod:`framework.store.backends`,
the local backends' factories, how a blob is named (``sha256_file``), and the
redaction every backend applies to what it writes (``redact_parameters``) and shows
(``hide_credentials``, ``display_url``).
"""

from framework.redact import hide_credentials, redact_parameters
from framework.store.addressing import display_url, store_present
from framework.store.artifacts import sha256_file
from framework.store.backends import (
    ArtifactBackend,
    BlobInfo,
    Cursor,
    Liveness,
    MetadataBackend,
    Row,
    StoreAddress,
    url_scheme,
)
from framework.store.local_factories import open_file_artifacts, open_sqlite_metadata
from framework.store.store import CHAMPION, ModelVersion, Store, new_run_id

__all__ = [
    "CHAMPION",
    "ArtifactBackend",
    "BlobInfo",
    "Cursor",
    "Liveness",
    "MetadataBackend",
    "ModelVersion",
    "Row",
    "Store",
    "StoreAddress",
    "display_url",
    "hide_credentials",
    "new_run_id",
    "open_file_artifacts",
    "open_sqlite_metadata",
    "redact_parameters",
    "sha256_file",
    "store_present",
    "url_scheme",
]
