"""Which model version answers, and the hot swap when the followed alias moves.

Requests read :attr:`ModelHolder.current` once, at their start, and use that
model to the end: replacing the attribute is one reference assignment, so a
swap never disturbs a request in flight and needs no lock. A background thread
reads the alias with one indexed query every ``poll_seconds`` (0.5 s by default;
microseconds on SQLite, one round trip on a shared PostgreSQL store; nothing on
the request path), so a promote made on any machine is served within the poll
interval plus the load of the version. When the alias has
moved it loads the new version there — every file hash-checked, its runtime
chosen and loaded, one warm-up prediction — and only then swaps.

Each version is served by its own runtime (:func:`serve_package`): the one asked for
(``--runtime``; by default the version's own ``serve.runtime``, ``auto`` when its spec
did not say) among those registration verified, the fastest for single rows under
``auto``. A compiled form that does not load here, or loads but answers a probe row
otherwise than the native path, is not used: the version serves natively, a log line
and ``/version`` (``runtimes_not_used``) say why. Versions before and after a swap may
use different runtimes.

A version that fails to load (a damaged blob, a missing plugin) is logged and
the old one keeps serving, but the holder does not give up on it: the load is
retried after 1 s, then 2, 4, ... up to ``retry_max_seconds`` (60 s by default),
so a repaired blob is picked up without a restart. Meanwhile ``/version`` says
the truth: which version answers, where the alias points, and why they differ.

A store that cannot be reached (a database server down, a network cut, a local
store moved away or its permissions taken) is not a reason to stop answering:
the loaded version keeps serving, ``/version`` says ``"store": {"reachable":
false, "since": ..., "error": ...}`` (one line, never a credential), and the
store is opened again every ``poll_seconds``, doubling up to
:data:`STORE_RETRY_MAX_SECONDS`; the first read that works clears it, and an
alias moved meanwhile is followed as usual.
"""

from __future__ import annotations

import json
import logging
import os
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
from framework.serving.served import BIG_ROWS, NATIVE, ServedModel

if TYPE_CHECKING:
    from framework.package import ModelPackage
    from framework.plugins import Plugins
    from framework.runtimes.base import Tolerance
    from framework.store import ModelVersion, Store

log = logging.getLogger("specops.serve")

MAX_ERROR = 300
"""Characters of a load error that ``/version`` repeats (the server log has it all)."""

STORE_RETRY_MAX_SECONDS = 5.0
"""Longest wait between attempts to reach a store that could not be reached: a store
that comes back is followed again within this (plus one poll)."""


class StoreUnreachable(Exception):
    """The store cannot be read now; the loaded version keeps serving."""


@dataclass(frozen=True)
class StoreHealth:
    """Whether the followed store answered the last time it was asked, and if not since
    when and why (one line, credentials masked)."""

    reachable: bool = True
    since: float | None = None  # time.time() of the first failed attempt
    error: str | None = None
    attempts: int = 0

    def describe(self) -> dict[str, Any]:
        if self.reachable:
            return {"reachable": True}
        return {
            "reachable": False,
            "since": _iso(self.since),
            "error": self.error,
            "attempts": self.attempts,
        }


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
        runtime: str | None = None,
    ) -> None:
        self.current = current
        self.runtime = runtime
        """The runtime asked for (None: each version's own ``serve.runtime``)."""
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
        self.store_health = StoreHealth()
        """Whether the store answered the follower's last read (see the module docstring)."""
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
        # SQLite connections belong to the thread that made them; reading needs no write
        # access. A store that stops answering is closed and opened again (a database
        # connection that died does not come back by itself).
        store: Store | None = None
        try:
            while True:
                if store is None:
                    store = self._open()
                if store is not None:
                    try:
                        self._check_location(store)
                        self.check(store)
                    except Exception as exc:  # never let the follower die
                        self._unreachable(exc)
                        store.close()
                        store = None
                if self._stop.wait(self._next_wait()):
                    return
        finally:
            if store is not None:
                store.close()

    def _next_wait(self) -> float:
        health = self.store_health
        if health.reachable:
            return self.poll_seconds
        return min(STORE_RETRY_MAX_SECONDS, self.poll_seconds * 2 ** min(health.attempts - 1, 20))

    def _open(self) -> Store | None:
        """The store, opened for reading, or None while it cannot be (said in
        ``store_health``); an existing store only: a local store moved away is never
        replaced by a new empty one."""
        from framework.store import Store

        try:
            store = Store.open_existing(self.store_root, write=False)
        except Exception as exc:
            self._unreachable(exc)
            return None
        self._location = _database_identity(store)
        return store

    def _check_location(self, store: Store) -> None:
        """A local store's database must still be the file the connection reads: an open
        SQLite connection keeps reading a store that was moved away, deleted or made
        unreadable, and would never see the alias move at its path again."""
        expected = getattr(self, "_location", None)
        if expected is None:
            return
        path, identity = expected
        try:
            found = os.stat(path)
        except OSError as exc:
            raise StoreUnreachable(f"cannot reach {path}: {exc.strerror or exc}") from None
        if (found.st_dev, found.st_ino) != identity:
            raise StoreUnreachable(f"{path} was replaced by another file; opening it again")
        if not os.access(path, os.R_OK):
            raise StoreUnreachable(f"cannot read {path}: permission denied")

    def _unreachable(self, exc: BaseException) -> None:
        """Record (and log, once per distinct error) that the store could not be read."""
        error = _one_line(exc)
        before = self.store_health
        if before.reachable or before.error != error:
            log.error(
                "following %s@%s: the store cannot be reached (still serving %s; trying again): %s",
                self.current.name,
                self.follows,
                self.current.ref,
                error,
            )
        self.store_health = StoreHealth(
            reachable=False,
            since=before.since if not before.reachable else time.time(),
            error=error,
            attempts=before.attempts + 1,
        )

    def _reachable(self) -> None:
        before = self.store_health
        if not before.reachable:
            log.warning(
                "following %s@%s: the store answers again (unreachable for %.1f s)",
                self.current.name,
                self.follows,
                time.time() - (before.since or time.time()),
            )
            self.store_health = StoreHealth()

    def check(self, store: Store) -> bool:
        """Swap to the alias's version if the alias moved since last seen, or if loading it
        failed before and its retry is due; True if swapped."""
        name, alias = self.current.name, self.follows or ""
        version = store.alias(name, alias)
        self._reachable()  # before a load that may take seconds: the store did answer
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
            served = load_version(
                store, found, self.plugins, alias, self.fast_path, runtime=self.runtime
            )
        except Exception as exc:
            self.failure = self._failed(version, exc, failure)
            return False
        old = self.current
        self.current = served
        self.failure = None
        log.info(
            "%s@%s moved: now serving %s with the %s runtime (was %s, %s)",
            name,
            alias,
            served.ref,
            served.runtime,
            old.ref,
            old.runtime,
        )
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
        health = self.store_health
        answer["store"] = health.describe()
        if stale is None and not health.reachable:
            stale = (
                f"the store cannot be reached since {_iso(health.since)} ({health.error}); "
                f"serving {served.ref}, {alias_ref} may have moved meanwhile"
            )
        answer["stale"] = stale
        return answer


def load_version(
    store: Store,
    version: ModelVersion,
    plugins: Plugins | None,
    follows: str | None,
    fast_path: bool = True,
    *,
    runtime: str | None = None,
) -> ServedModel:
    """Load a stored version (hash-checked), choose its runtime, make it ready to answer."""
    from framework.package import ModelPackage
    from framework.plugins import get_plugins

    plugins = plugins or get_plugins()
    package = ModelPackage.from_store(store, version, plugins)
    return serve_package(
        package,
        version.name,
        version.version,
        plugins,
        follows=follows,
        fast_path=fast_path,
        runtime=runtime,
    )


def serve_package(
    package: ModelPackage,
    name: str,
    version: int | None,
    plugins: Plugins,
    *,
    follows: str | None = None,
    fast_path: bool = True,
    runtime: str | None = None,
) -> ServedModel:
    """The package as a served model, with the runtime ``runtime`` asks for (None: the
    package's own ``serve.runtime``) when it loads and agrees with the native path here,
    natively otherwise (said in the log and in ``/version``); warmed up."""
    from framework.serving.runtime_scoring import worth_a_warning

    ref = f"{name}/{version}" if version is not None else name
    chosen_name, scorer, not_used = _choose(package, plugins, runtime, fast_path, ref)
    big_name, big_scorer = _choose_big(package, plugins, runtime, fast_path, ref, chosen_name)
    failed: set[str] = set()

    def build() -> ServedModel:
        return ServedModel(
            package,
            name,
            version,
            follows=follows,
            fast_path=fast_path,
            runtime=chosen_name,
            scorer=scorer,
            not_used={key: why for key, why in not_used.items() if key != big_name},
            big_runtime=big_name,
            big_scorer=big_scorer,
        )

    served = build()
    for lane, lane_scorer in ((chosen_name, scorer), (big_name, big_scorer)):
        if lane is None or lane_scorer is None:
            continue
        problem = served.runtime_problem(_tolerance(lane, plugins), lane_scorer)
        if problem is None:
            continue
        failed.add(lane)
        not_used[lane] = f"verified, but loaded here it {problem}"
        if lane == chosen_name:
            chosen_name, scorer = NATIVE, None
        if lane == big_name:
            big_name, big_scorer = None, None
    if failed:
        served = build()
    for other, why in served.not_used.items():
        if worth_a_warning(other, why, runtime) or other in failed:
            log.warning("%s: the %s runtime is not used: %s", ref, other, why)
    big = f"; from {BIG_ROWS} rows: {served.big_runtime}" if served.big_runtime else ""
    log.info("%s: predicting with the %s runtime%s", ref, served.runtime, big)
    served.warm_up()
    return served


def _choose_big(
    package: ModelPackage,
    plugins: Plugins,
    runtime: str | None,
    fast_path: bool,
    ref: str,
    serving: str,
) -> tuple[str | None, Any]:
    """Under ``auto``, the runtime with the most rows per second when it is not the one
    fastest for single rows: ``(name, its scorer or None for native)``; else ``(None, None)``
    (every request through the serving runtime)."""
    from framework.runtimes.choose import choose_runtime, requested_runtime
    from framework.runtimes.lookup import AUTO

    if not fast_path or requested_runtime(package, runtime) != AUTO:
        return None, None
    try:
        chosen = choose_runtime(package, plugins, requested=runtime, purpose="batch")
    except Exception:
        log.exception("%s: choosing a runtime for big requests failed; one runtime serves", ref)
        return None, None
    if chosen.name == serving:
        return None, None
    return chosen.name, (None if chosen.name == NATIVE else chosen.scorer)


def _choose(
    package: ModelPackage, plugins: Plugins, runtime: str | None, fast_path: bool, ref: str
) -> tuple[str, Any, dict[str, str]]:
    """(runtime name, its scorer or None for native, why each other runtime is not used).

    ``--no-fast-path`` means every request through pandas: the native runtime. A
    runtime that cannot be chosen for a reason nobody foresaw (a plugin's bug) is a
    reason to serve natively, never to stop serving."""
    from framework.errors import UserError
    from framework.runtimes.choose import choose_runtime

    if not fast_path:
        return NATIVE, None, {"compiled runtimes": "--no-fast-path: every request through pandas"}
    try:
        chosen = choose_runtime(package, plugins, requested=runtime, purpose="serve")
    except UserError:
        raise  # an unknown --runtime: refused at start with its did-you-mean
    except Exception as exc:
        log.exception("%s: choosing a runtime failed; serving natively", ref)
        return NATIVE, None, {"compiled runtimes": f"choosing a runtime failed: {_one_line(exc)}"}
    name = chosen.name
    reasons = {str(key): str(value) for key, value in chosen.reasons.items() if key != name}
    return name, (None if name == NATIVE else chosen.scorer), reasons


def _tolerance(name: str, plugins: Plugins) -> Tolerance:
    """The runtime's own tolerance (its class says it), the loosest built-in one if not."""
    from framework.runtimes.base import FLOAT32

    entry = plugins.registry.find("runtime", name)
    tolerance = getattr(getattr(entry, "factory", None), "tolerance", None)
    return tolerance if tolerance is not None else FLOAT32


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
    runtime: str | None = None,
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
        served = load_version(store, version, plugins, follows, fast_path, runtime=runtime)
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
        runtime=runtime,
    )


def load_from_package(
    directory: Path, plugins: Plugins, *, fast_path: bool = True, runtime: str | None = None
) -> ModelHolder:
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
    served = serve_package(
        package,
        name,
        int(version) if version is not None else None,
        plugins,
        fast_path=fast_path,
        runtime=runtime,
    )
    return ModelHolder(served, runtime=runtime)


def _database_identity(store: Store) -> tuple[Path, tuple[int, int]] | None:
    """A local store's database file and its (device, inode), to notice it moved."""
    address = getattr(store, "address", None)
    if address is not None and not address.is_local:
        return None
    path = Path(store.root) / "store.db"
    try:
        found = os.stat(path)
    except OSError:
        return None
    return path, (found.st_dev, found.st_ino)


def _one_line(exc: BaseException) -> str:
    """An error as ``/version`` shows it: its first line, credentials masked, bounded."""
    from framework.redact import scrub_text

    text = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    line = scrub_text(text).strip().splitlines()[0] if text.strip() else type(exc).__name__
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 3] + "..."


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")
