"""The factories of the local backends, as a store plugin registers them.

``factory(url, params, workdir, *, read_only)`` for ``sqlite:`` (a ``.specops``
directory) and ``file:`` (a blob folder); imported lazily so that loading the plugin
costs no SQLite connection or file system access.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from framework.store.backends import ArtifactBackend, MetadataBackend


def open_sqlite_metadata(
    url: str, params: Mapping[str, Any], workdir: Path, *, read_only: bool
) -> MetadataBackend:
    """``sqlite:///abs/path/.specops`` (or a plain directory path)."""
    from framework.store.sqlite_backend import open_sqlite

    return open_sqlite(url, params, workdir, read_only=read_only)


def open_file_artifacts(
    url: str, params: Mapping[str, Any], workdir: Path, *, read_only: bool
) -> ArtifactBackend:
    """``file:///abs/folder`` (or a plain folder path)."""
    from framework.store.addressing import file_path
    from framework.store.artifacts import ArtifactStore

    return ArtifactStore(file_path(url))
