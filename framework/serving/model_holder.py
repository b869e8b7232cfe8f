"""Which model version answers, and the hot swap when the followed alias moves.

Requests read :attr:`ModelHolder.current` once, at their start, and use that
model to the end: replacing the attribute is one reference assignment, so a
swap never disturbs a request in flight and needs no lock. A background thread
reads the alias with one indexed SQLite query every ``poll_seconds`` (0.5 s by
default; microseconds each, nothing on the request path). When the alias has
moved it loads the new version there — every file hash-checked, the fast path
built, one warm-up prediction — and only then swaps.

A version that fails to load (a damaged blob, a missing plugin) is logged and
the old one keeps serving, but the holder does not give up on it: the load is
retried after 1 s, then 2, 4, ... up to ``retry_max_seconds`` (60 s by default),
so a repaired blob is picked up without a restart. Meanwhile ``/version`` says
the truth: which version answers, where the alias points, and why they differ.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import StoreError
from framework.export import RELEASE_FILE
from framework.serving.defaults import (
    DEFAULT_POLL_SECONDS,
    DEFAULT_RETRY_MAX_SECONDS,
    DEFAULT_RETRY_MIN_SECONDS,
)
from framework.serving.served import ServedModel

if TYPE_CHECKING:
    from framework.plugins import Plugins
    from framework.store import ModelVersion, Store

log = logging.getLogger("specops.serve")

MAX_ERROR = 300
"""Characters of a load error that ``/version`` repeats (the server log has it all)."""


@dataclass(frozen=True)
class LoadFailure:
    """The alias's version could not be loaded: why, how often, and when it is tried again."""

    version: int
    error: str
    attempts: int
    retry_at: float  # time.monotonic()


class ModelHolder:
    """Holds the served model; follows ``name@follows`` in a store when asked to."""

    def __init__(
        self,
        current: ServedModel,
        *,
        plugins: Plugins | None = None,
        store_root: Path | None = None,
        follows: str | None = None,
        last_seen: int | None = None,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        fast_path: bool = True,
        retry_min_seconds: float = DEFAULT_RETRY_MIN_SECONDS,
        retry_max_seconds: float = DEFAULT_RETRY_MAX_SECONDS,
    ) -> None:
        self.current = current
        self.plugins = plugins
        self.store_root = store_root
        self.follows = follows
        self.poll_seconds = poll_seconds
        self.fast_path = fast_path
        self._last_seen = last_seen
        self.alias_version = last_seen
        """Where the alias pointed when last read (None: not set, or not following)."""
        self.failure: LoadFailure | None = None
        """Why the alias's version is not the one serving, while its load keeps failing."""
        self.retry_min_seconds = retry_min_seconds
        self.retry_max_seconds = max(retry_max_seconds, retry_min_seconds)
        self.after_swap: Callable[[], None] | None = None
        """Called on the follower thread after each swap (the server settles its heap)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def following(self) -> bool:
        return bool(self.follows and self.store_root is not None and self.plugins is not None)

    def start(self) -> None:
        """Start following the alias (no-op for a pinned version or a package)."""
        if not self.following or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="specops-follow", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        assert self.store_root is not None
        # SQLite connections belong to the thread that made them; reading needs no write access
        store = self._open()
        if store is None:
            return  # stopped before the store could be opened
        try:
            while not self._stop.wait(self.poll_seconds):
                try:
                    self.check(store)
                except Exception:  # never let the follower die: the old version keeps serving
                    log.exception("checking %s@%s failed", self.current.name, self.follows)
        finally:
            store.close()

    def _open(self) -> Store | None:
        """The store, opened for reading; while it cannot be (a full disk, a damaged
        file) say why in one line and try again with backoff, so that the follower
        never dies: the version already loaded keeps serving meanwhile."""
        from framework.errors import UserError
        from framework.store import Store

        delay = 1.0
        while True:
            try:
                return Store(self.store_root, write=False)
            except UserError as exc:
                log.error(
                    "following %s@%s: cannot open the store (retrying in %.0f s): %s",
                    self.current.name,
                    self.follows,
                    delay,
                    exc,
                )
            if self._stop.wait(delay):
                return None
            delay = min(delay * 2, 30.0)

    def check(self, store: Store) -> bool:
        """Swap to the alias's version if the alias moved since last seen, or if loading it
        failed before and its retry is due; True if swapped."""
        name, alias = self.current.name, self.follows or ""
        version = store.alias(name, alias)
        self.alias_version = version
        if version is None or version == self.current.version:
            self._last_seen, self.failure = version, None
            return False
        failure = self.failure
        if version == self._last_seen:
            if failure is None or failure.version != version or time.monotonic() < failure.retry_at:
                return False
        else:
            failure = None  # the alias moved: a new version, a fresh start
        self._last_seen = version
        try:
            found = store.version(name, version)
            if found is None:
                raise StoreError(f"{name}@{alias} points at version {version}, which is not stored")
            served = load_version(store, found, self.plugins, alias, self.fast_path)
        except Exception as exc:
            self.failure = self._failed(version, exc, failure)
            return False
        old = self.current
        self.current = served
        self.failure = None
        log.info("%s@%s moved: now serving %s (was %s)", name, alias, served.ref, old.ref)
        del old
        if self.after_swap is not None:
            self.after_swap()
        return True

    def _failed(self, version: int, exc: Exception, before: LoadFailure | None) -> LoadFailure:
        """Log the failure (in full the first time) and schedule the next attempt."""
        attempts = before.attempts + 1 if before is not None else 1
        delay = min(self.retry_max_seconds, self.retry_min_seconds * 2 ** (attempts - 1))
        error = str(getattr(exc, "message", None) or exc) or type(exc).__name__
        name, alias = self.current.name, self.follows
        if attempts == 1:
            log.exception(
                "%s@%s moved to version %s but it could not be loaded; still serving %s; "
                "retrying in %.0f s",
                name,
                alias,
                version,
                self.current.ref,
                delay,
            )
        else:
            log.warning(
                "%s/%s still cannot be loaded (attempt %d): %s; retrying in %.0f s",
                name,
                version,
                attempts,
                error,
                delay,
            )
        if len(error) > MAX_ERROR:
            error = error[: MAX_ERROR - 3] + "..."
        return LoadFailure(version, error, attempts, time.monotonic() + delay)

    def describe(self) -> dict[str, Any]:
        """What ``/version`` says: the version that answers and, when following, where the
        alias points and why the two differ (``stale`` is None when they do not)."""
        served = self.current
        answer = served.describe()
        if not self.following:
            return answer
        alias_ref = f"{served.name}@{self.follows}"
        answer["alias_version"] = self.alias_version
        failure = self.failure
        stale = None
        if failure is not None and failure.version == self.alias_version:
            stale = (
                f"alias {alias_ref} -> {failure.version}, serving {served.ref} because "
                f"{served.name}/{failure.version} failed to load: {failure.error}"
            )
            answer["load_error"] = failure.error
            answer["load_attempts"] = failure.attempts
            answer["retry_in_seconds"] = round(max(0.0, failure.retry_at - time.monotonic()), 1)
        elif self.alias_version is None:
            stale = f"alias {alias_ref} is not set; serving {served.ref}"
        answer["stale"] = stale
        return answer


def load_version(
    store: Store,
    version: ModelVersion,
    plugins: Plugins | None,
    follows: str | None,
    fast_path: bool = True,
) -> ServedModel:
    """Load a stored version (hash-checked) and make it ready to answer."""
    from framework.package import ModelPackage
    from framework.plugins import get_plugins

    package = ModelPackage.from_store(store, version, plugins or get_plugins())
    served = ServedModel(
        package, version.name, version.version, follows=follows, fast_path=fast_path
    )
    served.warm_up()
    return served


def load_from_store(
    store_root: Path,
    ref_text: str,
    plugins: Plugins,
    *,
    follow: str | None = None,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    fast_path: bool = True,
    retry_min_seconds: float = DEFAULT_RETRY_MIN_SECONDS,
    retry_max_seconds: float = DEFAULT_RETRY_MAX_SECONDS,
) -> ModelHolder:
    """A holder for ``NAME``, ``NAME@ALIAS`` (both follow the alias) or ``NAME/VERSION``.

    ``follow`` makes a pinned reference follow an alias from its next move on:
    ``NAME/3`` with ``follow="champion"`` serves version 3 now and whatever the
    champion becomes later (what the ``http`` deploy target starts).
    """
    from framework.refs import parse_ref, resolve
    from framework.store import Store

    ref = parse_ref(ref_text)
    follows = follow or (ref.alias if ref.version is None else None)
    store = Store.open_existing(store_root, write=False)
    try:
        version = resolve(store, ref)
        last_seen = store.alias(ref.name, follows) if follows else None
        served = load_version(store, version, plugins, follows, fast_path)
    finally:
        store.close()
    return ModelHolder(
        served,
        plugins=plugins,
        store_root=store_root,
        follows=follows,
        last_seen=last_seen,
        poll_seconds=poll_seconds,
        fast_path=fast_path,
        retry_min_seconds=retry_min_seconds,
        retry_max_seconds=retry_max_seconds,
    )


def load_from_package(directory: Path, plugins: Plugins, *, fast_path: bool = True) -> ModelHolder:
    """A holder for an exported package directory (``directory`` or ``container`` target)."""
    from framework.package import ModelPackage
    from framework.package_check import check_release

    if not (directory / "model.json").is_file():
        raise StoreError(
            f"{directory} is not a model package (no model.json); export one with the "
            "directory or container deploy target"
        )
    package = ModelPackage(directory, plugins)
    name, version = str(package.metadata.get("name") or directory.name), None
    release = directory / RELEASE_FILE
    if release.is_file():
        try:
            info = json.loads(release.read_text())
        except (OSError, ValueError, RecursionError) as exc:
            raise StoreError(f"{release} is unreadable: {exc}") from exc
        check_release(info, str(directory))
        name, version = str(info.get("name") or name), info.get("version")
    served = ServedModel(
        package, name, int(version) if version is not None else None, fast_path=fast_path
    )
    served.warm_up()
    return ModelHolder(served)
