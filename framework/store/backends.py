"""Where a store keeps its records and its blobs: the two store backend kinds.

A store is two things: *metadata* (runs, versions, aliases, the prediction log,
monitor runs: rows in a SQL database) and *artifacts* (content-addressed blobs:
model packages, data snapshots, reports). Each is a plugin kind, registered like
every other kind and chosen by a URL's scheme:

- ``metadata_store`` (hook ``specops_register_metadata_stores``): ``sqlite`` (a
  ``.specops`` directory, the default) and ``postgresql``;
- ``artifact_store`` (hook ``specops_register_artifact_stores``): ``file`` (the
  ``artifacts/`` folder beside ``store.db``, the default) and ``s3``.

The store's queries are written once, in the SQL both SQLite and PostgreSQL speak
(``INSERT ... ON CONFLICT``, ``RETURNING``, ``?`` placeholders); a metadata backend
adapts the rest (placeholders, column types in the DDL, how writers queue, how a
run's liveness is known). The protocols below are what :class:`framework.store.Store`
needs from each; a third-party backend (MySQL, GCS, Azure Blob) implements one and
registers a factory for its scheme.

Secrets: a backend receives the URL and params as the user wrote them, with
``${env:...}`` already resolved; ``display_url`` is the only form that may be shown,
logged or stored (no password, no query string with credentials).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class StoreAddress:
    """Which store a command uses: where its metadata and its artifacts live.

    ``metadata`` is a URL (``postgresql://user@host/db``) or, for the default SQLite
    store, the ``.specops`` directory as a path string. ``artifacts`` is None for "the
    one the metadata names" (recorded at first use) or, for a new store, "beside the
    metadata" (local stores). ``workdir`` is a local directory for scratch files,
    caches and server records; for a local store it is the store directory itself.
    """

    metadata: str
    workdir: Path
    artifacts: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        return url_scheme(self.metadata) or "sqlite"

    @property
    def is_local(self) -> bool:
        return self.scheme == "sqlite"


def url_scheme(url: str) -> str | None:
    """``postgresql`` for ``postgresql://...``; None for a plain path."""
    head, sep, _ = url.partition("://")
    if not sep or not head or not head.replace("+", "").replace("-", "").isalnum():
        return None
    return head.lower()


@runtime_checkable
class Row(Protocol):
    """A result row: by position (``row[0]``) and by column name (``row["name"]``)."""

    def __getitem__(self, key: int | str) -> Any: ...
    def keys(self) -> Sequence[str]: ...


class Cursor(Protocol):
    def fetchone(self) -> Row | None: ...
    def fetchall(self) -> list[Row]: ...
    def __iter__(self) -> Iterator[Row]: ...


@dataclass(frozen=True)
class Liveness:
    """A handle on "this process is alive and doing X", held until released or death."""

    token: str
    """What ``runs.lock`` records, so another process can ask whether it is still held."""
    release: Callable[[], None]


class MetadataBackend(Protocol):
    """A SQL database holding the store's rows, shared by every process using it."""

    display_url: str
    """Where it is, safe to print and to store: never a password."""
    dialect: str
    """``sqlite`` or ``postgresql``: which DDL variant and SQL functions to use."""
    read_only: bool
    """Opened without write access: reading commands work, writes raise StoreError."""

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Cursor:
        """Run one statement (``?`` placeholders) outside or inside a transaction."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def transaction(self) -> AbstractContextManager[MetadataBackend]:
        """One write transaction; writers from every process (and machine) queue for it,
        so a version number read as MAX+1 inside it is still free at commit."""
        ...

    def snapshot(self) -> AbstractContextManager[MetadataBackend]:
        """A consistent read of several queries (``store verify``), taking no write lock."""
        ...

    def ensure_schema(self, statements: Sequence[str]) -> None:
        """Create missing tables, indexes and columns from the store's (SQLite-dialect)
        CREATE statements, translated to this dialect; never drop or change anything."""
        ...

    def missing_columns(self, statements: Sequence[str]) -> list[tuple[str, str]]:
        """``(table, column)`` the schema has and the database lacks (a read-only store
        made by an older specops)."""
        ...

    def integrity_problems(self, *, full: bool) -> list[str]:
        """The database's own consistency check, as lines to show (empty: fine)."""
        ...

    def hold(self, name: str) -> Liveness:
        """Hold a named liveness lock (``run-<id>``, ``open-<pid>``) until release or death."""
        ...

    def is_held(self, token: str) -> bool | None:
        """Is the lock a ``Liveness.token`` names held by a live process (None: unknown)?"""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    modified: float
    """Seconds since the epoch: ``store gc`` keeps blobs younger than its grace period."""


class ArtifactBackend(Protocol):
    """Content-addressed blobs, named by the sha256 of their bytes, verified on read."""

    display_url: str
    """Where they are, safe to print and to store (``s3://bucket/prefix``, a folder)."""

    def put_written(self, write: Callable[[Path], None]) -> str:
        """Store what ``write(path)`` writes to a local temporary file; its sha256."""
        ...

    def put_file(self, source: Path) -> str:
        """Store a copy of a local file; its sha256. Storing twice costs nothing."""
        ...

    def exists(self, digest: str) -> bool:
        """Is a blob of that name present (its bytes are not read)?"""
        ...

    def verified(self, digest: str, label: str) -> Path:
        """A local file holding the blob, checked against ``digest`` (a remote backend
        downloads it into its cache); StoreError naming ``label`` when missing or corrupt."""
        ...

    def copy_out(self, digest: str, label: str, destination: Path) -> None:
        """Write the blob to ``destination`` and verify the copy."""
        ...

    def problem(self, digest: str, *, full: bool) -> str | None:
        """What is wrong with a blob (missing; with ``full``, also corrupt), or None."""
        ...

    def blobs(self) -> Iterator[BlobInfo]:
        """Every blob present, for ``store gc`` and ``store copy``."""
        ...

    def delete(self, digest: str) -> bool:
        """Delete a blob; False when it was not there."""
        ...
