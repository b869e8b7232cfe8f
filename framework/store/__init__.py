"""The store: runs, datasets, artifacts and the model registry.

Also the API of store backend plugins (kinds ``metadata_store`` and
``artifact_store``): the protocols and types of :mod:`framework.store.backends`,
and the local backends' factories.
"""

from framework.store.addressing import display_url
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
    "new_run_id",
    "open_file_artifacts",
    "open_sqlite_metadata",
    "url_scheme",
]
