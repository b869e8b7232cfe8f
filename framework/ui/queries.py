"""Store reads the pages share: bounded, paginated, never loading a model package.

The UI opens the store as the registry commands do (``Store.open_existing`` on the
address ``--store``/$SPECOPS_STORE/the nearest .specops names, read-only) and reads
it only through :mod:`framework.store`'s API, so it works on a shared store too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAGE_SIZE = 50
"""Rows per page of every paginated table."""
KEY_METRICS = 3
"""Metrics shown per version when the spec's gate names none."""


def open_store(store: str | None, artifacts: str | None = None) -> Any:
    """The existing store ``--store``/``--artifacts`` name, opened for reading."""
    from framework.refs import store_address
    from framework.store import Store

    return Store.open_existing(store_address(store, artifacts), write=False)


@dataclass(frozen=True)
class Page:
    """One page of a listing: its rows, its number (from 1) and whether more follow."""

    rows: list[Any]
    number: int
    has_next: bool


def paginate(rows: list[Any], number: int, size: int = PAGE_SIZE) -> Page:
    """A page of rows fetched with ``LIMIT size + 1`` (the extra row says 'more')."""
    return Page(rows[:size], number, len(rows) > size)


def key_metrics(gate: Any, metrics: dict[str, float]) -> list[str]:
    """The metrics a version is judged by: those its spec's gate names, else the
    first few by name (what ``models list`` shows)."""
    named = [m for m in gate if m in metrics] if isinstance(gate, dict) else []
    return named or sorted(metrics)[:KEY_METRICS]


# package files: present, intact, damaged --------------------------------------

MAX_HASHED_BYTES = 16 * 1024 * 1024
"""A version page re-hashes its package's files up to this many bytes in all; larger
files are checked for presence only (and said so). Results are remembered per blob
while its size and modification time stay the same."""
MAX_MODEL_JSON_BYTES = 4 * 1024 * 1024
"""model.json is read (for its runtime verdicts) only up to this size."""


@dataclass(frozen=True)
class FileState:
    """One file of a version's package: its stored hash and what the blob looks like now."""

    path: str
    sha256: str
    size: int | None
    state: str
    """``ok`` (hash checked), ``present`` (not hashed: too large or remote),
    ``missing``, ``corrupt``, or ``invalid`` (the record names no package file: a path
    leaving the package or a blob name that is not a sha256; never looked up)."""
    detail: str = ""

    @property
    def damaged(self) -> bool:
        return self.state in ("missing", "corrupt", "invalid")


_checked: dict[str, tuple[int, float, str, str]] = {}
"""digest -> (size, mtime, state, detail) of blobs already hashed by this process."""


def package_files(store: Any, files: dict[str, str]) -> list[FileState]:
    """Each package file's state: a local blob is hashed (within ``MAX_HASHED_BYTES``
    per call, cached while unchanged); a remote one is checked for presence."""
    from framework.store import sha256_file

    path_of = getattr(store.artifacts, "path_of", None)
    budget = MAX_HASHED_BYTES
    found = []
    for relative, digest in sorted(files.items(), key=lambda item: str(item[0])):
        invalid = record_problem(relative, digest)
        if invalid is not None:  # a crafted row: its digest may be '//etc/shadow'
            found.append(FileState(str(relative)[:200], "", None, "invalid", invalid))
            continue
        if path_of is None:
            problem = store.artifacts.problem(digest, full=False)
            state = "missing" if problem else "present"
            found.append(FileState(relative, digest, None, state, problem or "remote: not hashed"))
            continue
        path = path_of(digest)
        try:
            stat = path.stat()
        except OSError:
            found.append(FileState(relative, digest, None, "missing", f"no blob at {path}"))
            continue
        known = _checked.get(digest)
        if known and known[:2] == (stat.st_size, stat.st_mtime):
            found.append(FileState(relative, digest, stat.st_size, known[2], known[3]))
            continue
        if stat.st_size > budget:
            found.append(FileState(relative, digest, stat.st_size, "present", "large: not hashed"))
            continue
        budget -= stat.st_size
        try:
            actual = sha256_file(path)
        except OSError as exc:
            found.append(FileState(relative, digest, stat.st_size, "missing", str(exc)))
            continue
        if actual == digest:
            state, detail = "ok", ""
        else:
            state, detail = "corrupt", f"its bytes hash to {actual[:12]}…"
        if len(_checked) > 100_000:
            _checked.clear()
        _checked[digest] = (stat.st_size, stat.st_mtime, state, detail)
        found.append(FileState(relative, digest, stat.st_size, state, detail))
    return found


def record_problem(relative: object, digest: object) -> str | None:
    """Why a row's ``relative -> digest`` pair names no file specops wrote, or None: the
    digest becomes a blob's path (``//etc/shadow`` would be that file), so it must be a
    sha256, and the path must stay inside the package (framework.package_paths)."""
    from framework.package_paths import SHA256, path_problem

    problem = path_problem(relative)
    if problem is not None:
        return f"the store's record of this file {problem}: not read (crafted or damaged)"
    if not (isinstance(digest, str) and SHA256.fullmatch(digest)):
        return "the store's record names a blob that is not a sha256: not read (crafted or damaged)"
    return None


def read_model_json(store: Any, files: dict[str, str], states: list[FileState]) -> Any:
    """The package's model.json (runtime verdicts and more), or None when it is not
    there, damaged or too large: read only when its hash was just checked."""
    import json

    digest = files.get("model.json")
    state = next((s for s in states if s.path == "model.json"), None)
    if digest is None or state is None or state.state not in ("ok", "present"):
        return None
    try:
        path = store.artifacts.verified(digest, "model.json")
        if path.stat().st_size > MAX_MODEL_JSON_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    except Exception as exc:  # a StoreError: damaged since the check
        from framework.errors import StoreError

        if isinstance(exc, StoreError):
            return None
        raise
