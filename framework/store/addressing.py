"""Which store a command uses, and opening its two backends by URL scheme.

Sources, highest first: ``--store URL|DIR`` > ``$SPECOPS_STORE`` > the spec's
``store: {url, artifacts, params, path}`` > the default ``.specops`` directory
(:mod:`framework.store.location`); ``--artifacts`` / ``$SPECOPS_ARTIFACTS`` likewise.

A plain local store (a directory, or ``sqlite:``) opens without loading plugins, so
the default costs nothing at startup; any other scheme is looked up among the
loaded plugins' ``metadata_store`` / ``artifact_store`` kinds.

Commands and plugins pass a store around as its local *workdir* (``ctx.store_root``,
a Path). When the command's store is remote, :func:`use_address` records which
address that workdir stands for in this process, so code that opens ``Store(root)``
reaches the remote store, not a stray local one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from framework.errors import StoreError
from framework.store.backends import ArtifactBackend, MetadataBackend, StoreAddress, url_scheme

STORE_VARIABLE = "SPECOPS_STORE"
ARTIFACTS_VARIABLE = "SPECOPS_ARTIFACTS"

METADATA_KIND = "metadata_store"
ARTIFACT_KIND = "artifact_store"

EXTRAS: dict[str, str] = {"postgresql": "postgres", "postgres": "postgres", "s3": "s3"}
"""The ``specops[...]`` extra that brings the backend of each built-in scheme."""

LOCAL_METADATA = ("sqlite",)
LOCAL_ARTIFACTS = ("file",)

_addresses: dict[Path, StoreAddress] = {}
"""The stores this process's commands chose, by workdir (see the module docstring)."""


def display_url(url: str) -> str:
    """``url`` safe to print, log and store: passwords and credential params masked."""
    from framework.redact import hide_credentials

    return str(hide_credentials(url))


def use_address(address: StoreAddress) -> None:
    """Make ``Store(address.workdir)`` in this process open ``address`` (each command
    that chooses a store calls it, replacing what an earlier command chose there)."""
    _addresses[address.workdir.absolute()] = address


def address_for(root: Path) -> StoreAddress:
    """The address a workdir stands for: a remote store chosen by this command, or the
    local store in that directory."""
    found = _addresses.get(root.absolute())
    if found is not None:
        return found
    artifacts = os.environ.get(ARTIFACTS_VARIABLE) or None
    return StoreAddress(str(root), root, artifacts)


def store_present(root: Path) -> bool:
    """Whether a store is at ``root``: the shared store this command chose for that
    workdir (its presence is checked when opened), or a local ``store.db`` there."""
    found = _addresses.get(root.absolute())
    if found is not None and not found.is_local:
        return True
    directory = local_directory(found.metadata) if found is not None else root
    return (directory / "store.db").is_file()


def local_directory(metadata: str) -> Path:
    """The ``.specops`` directory a local metadata address (path or ``sqlite:`` URL) names."""
    from framework.store.sqlite_backend import sqlite_path

    return sqlite_path(metadata)


def command_address(
    argument: str | None = None,
    *,
    artifacts: str | None = None,
    spec_store: Mapping[str, Any] | None = None,
    workdir: Path | None = None,
) -> StoreAddress:
    """The store a command uses: ``argument`` (``--store``) > ``$SPECOPS_STORE`` >
    ``spec_store`` (a spec's resolved ``store:`` section) > the default.

    ``workdir`` is the local directory the spec (or the working directory) implies:
    a local store lives there unless told otherwise; a remote one keeps its scratch
    files and caches there.
    """
    from framework.store.location import find_store_dir

    spec_store = spec_store or {}
    chosen = argument or os.environ.get(STORE_VARIABLE) or None
    if chosen is None and isinstance(spec_store.get("url"), str):
        chosen = spec_store["url"]
    # the backends' settings (an S3 endpoint, a connect timeout) hold whoever chose the URL
    raw_params = spec_store.get("params")
    params: Mapping[str, Any] = raw_params if isinstance(raw_params, Mapping) else {}
    default = workdir if workdir is not None else find_store_dir()
    artifacts = (
        artifacts
        or os.environ.get(ARTIFACTS_VARIABLE)
        or (spec_store.get("artifacts") if isinstance(spec_store.get("artifacts"), str) else None)
        or None
    )
    if chosen is None:
        return StoreAddress(str(default), default, artifacts, params)
    scheme = url_scheme(chosen)
    if scheme is None or scheme in LOCAL_METADATA:
        directory = local_directory(chosen)
        return StoreAddress(str(directory), directory, artifacts, params)
    return StoreAddress(chosen, default, artifacts, params)


_chosen: tuple[str | None, str | None] = (None, None)
"""``--store`` and ``--artifacts`` of the command running in this process (see
:func:`chosen`): a spec's run reads them through :func:`spec_address`."""


@contextmanager
def chosen(store: str | None, artifacts: str | None = None) -> Iterator[None]:
    """The command's ``--store`` / ``--artifacts`` (None: not given) for the specs it runs,
    forgotten when it ends: a spec run later in the same process (a notebook, a test, a
    program calling the engine after a command) never inherits another command's store."""
    global _chosen
    before = _chosen
    _chosen = (store or None, artifacts or None)
    try:
        yield
    finally:
        _chosen = before


def spec_address(spec: Any, store_root: Path | None = None) -> StoreAddress:
    """The store a spec's run (or monitor) uses: ``--store`` > ``$SPECOPS_STORE`` >
    the spec's ``store: {url, artifacts, params}`` > its ``store.path`` / default
    directory, which is also the local workdir of a remote store. A ``store_root``
    other than the spec's own (a reproduction's scratch store) is used as it is.
    Remembered with :func:`use_address`, so ``Store(spec.store_path)`` finds it."""
    if store_root is not None and Path(store_root) != Path(spec.store_path):
        address = StoreAddress(str(store_root), Path(store_root))
    else:
        argument, artifacts = _chosen
        address = command_address(
            argument,
            artifacts=artifacts,
            spec_store=_resolved_store_section(spec),
            workdir=Path(spec.store_path),
        )
    use_address(address)
    return address


def _resolved_store_section(spec: Any) -> Mapping[str, Any] | None:
    """The spec's ``store:`` with ``${env:...}`` filled in. The spec keeps the
    placeholders (what is stored and shown); the values are read from the environment
    here, as at load (and remembered, so no output of this command shows them)."""
    document = getattr(spec, "document", None) or {}
    section = document.get("store") if isinstance(document, Mapping) else None
    if not isinstance(section, Mapping):
        return None
    from framework.errors import SpecError
    from framework.spec.compose import interpolate_env
    from framework.spec.model import thawed
    from framework.spec.source import Positions

    resolved, _, problems = interpolate_env({"store": thawed(section)}, Positions())
    if problems:
        raise SpecError(problems)
    return resolved["store"]  # type: ignore[no-any-return]


# opening --------------------------------------------------------------------


def open_metadata(address: StoreAddress, *, write: bool) -> MetadataBackend:
    """The metadata backend of ``address``: SQLite directly, others through plugins."""
    if address.is_local:
        from framework.store.sqlite_backend import SQLiteMetadata

        return SQLiteMetadata(local_directory(address.metadata), write=write)
    entry = _entry(METADATA_KIND, address.scheme, address.metadata)
    params = _params_for(entry, address.params, _other_schema(ARTIFACT_KIND, address.artifacts))
    return entry.factory(address.metadata, params, address.workdir, read_only=not write)


def open_artifacts(url: str, address: StoreAddress) -> ArtifactBackend:
    """The artifact backend at ``url``: a folder directly, others through plugins."""
    scheme = url_scheme(url)
    if scheme is None or scheme in LOCAL_ARTIFACTS:
        from framework.store.artifacts import ArtifactStore

        return ArtifactStore(file_path(url))
    entry = _entry(ARTIFACT_KIND, scheme, url)
    metadata = None if address.is_local else _other_schema(METADATA_KIND, address.metadata)
    params = _params_for(entry, address.params, metadata)
    return entry.factory(url, params, address.workdir, read_only=False)


def _other_schema(kind: str, url: str | None) -> Mapping[str, Any] | None:
    """The params schema of the backend of ``kind`` serving ``url`` (the other half of
    the store), when it is a registered plugin; None for the built-in local ones."""
    scheme = url_scheme(url) if url else None
    if scheme is None or scheme in LOCAL_ARTIFACTS:
        return None
    from framework.plugins import get_plugins

    found = get_plugins().registry.find(kind, scheme)
    return None if found is None else found.params_schema


def _params_for(
    entry: Any, params: Mapping[str, Any], other: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """``store.params`` is one mapping for both halves of a store (PostgreSQL's
    ``password`` beside S3's ``endpoint_url``): each backend is given the keys its own
    schema names and the keys neither names, never the other one's own, so a backend
    that refuses keys it does not know still refuses a typo, not its partner's params."""
    theirs = set((other or {}).get("properties", {})) - set(
        (entry.params_schema or {}).get("properties", {})
    )
    return {key: value for key, value in params.items() if key not in theirs}


def file_path(url: str) -> Path:
    """The folder a ``file:`` URL (or a plain path) names, absolute."""
    for prefix in ("file://", "file:"):
        if url.lower().startswith(prefix):
            url = url[len(prefix) :]
            break
    return Path(url).expanduser().absolute()


def normalized_artifacts(url: str) -> str:
    """How an artifacts location is recorded and compared: a folder as its absolute
    path, anything else as its display URL without a trailing slash."""
    scheme = url_scheme(url)
    if scheme is None or scheme in LOCAL_ARTIFACTS:
        return str(file_path(url))
    return display_url(url).rstrip("/")


def backend_problem(registry: Any, kind: str, url: str) -> str | None:
    """Why ``url`` names no installed backend of ``kind`` (None: it does). A plain path
    is a local store (metadata) or folder (artifacts)."""
    scheme = url_scheme(url)
    local = LOCAL_METADATA if kind == METADATA_KIND else LOCAL_ARTIFACTS
    if scheme is None or scheme in local or registry.find(kind, scheme) is not None:
        return None
    return _missing_backend(registry, kind, scheme, url)


def _missing_backend(registry: Any, kind: str, scheme: str, url: str) -> str:
    installed = ", ".join(registry.types(kind)) or "none"
    extra = EXTRAS.get(scheme)
    install = (
        f"install it with: pip install 'specops[{extra}]'"
        if extra
        else "install a plugin that registers it"
    )
    broken = [b for b in registry.broken if (kind, scheme) in b.provides]
    why = f" (plugin '{broken[0].name}' failed to load: {broken[0].error})" if broken else ""
    return (
        f"no {kind.replace('_', ' ')} backend for '{scheme}://' ({display_url(url)}){why}; "
        f"installed: {installed}; {install}"
    )


def _entry(kind: str, scheme: str, url: str) -> Any:
    """The registered backend of ``kind`` for ``scheme``, or exit 2 naming what to install."""
    from framework.plugins import get_plugins

    registry = get_plugins().registry
    entry = registry.find(kind, scheme)
    if entry is not None:
        return entry
    raise StoreError(_missing_backend(registry, kind, scheme, url))
