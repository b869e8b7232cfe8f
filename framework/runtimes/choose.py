"""Which runtime a loaded version predicts with, and loading it.

Registration recorded a verdict per runtime (``model.json`` ``runtimes``). Serving and
scoring ask :func:`choose_runtime` with what the user wants (``--runtime``, else the
spec's ``serve.runtime`` recorded in the version, else ``auto``) and what for: a server
answers single rows (ranked by ``single_row_us``), ``predict`` and the batch target
score large batches (ranked by ``rows_per_second``). Only verified runtimes are
candidates; ``auto`` takes the fastest, native included. A candidate that fails to load
here (no C compiler on this machine, its plugin not installed) is skipped with its
reason, and native is the last resort, so a version always predicts, and says how.

A runtime whose served form is built where it loads (compiled trees) may have been timed
at registration in another form (their interpreter). Such a runtime may define the
optional ``measured(package, directory) -> dict | None``: the speed of its form built
here, timed beside native (``single_row_us``, ``rows_per_second``,
``native_single_row_us``, ``native_rows_per_second``). ``auto`` then ranks it by that
(:func:`measured_here`), and says so in the reasons.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from framework.runtimes.base import RuntimeUnavailable
from framework.runtimes.compile import METADATA_KEY, REQUESTED_KEY, RUNTIMES_DIR
from framework.runtimes.lookup import AUTO, DEFAULT, KIND, NATIVE, require_known

if TYPE_CHECKING:
    from framework.package import ModelPackage
    from framework.plugins import Plugins
    from framework.runtimes.base import Scorer

PURPOSES = {"serve": ("single_row_us", False), "batch": ("rows_per_second", True)}
"""What each purpose ranks runtimes by, and whether more is better."""


class Chosen(NamedTuple):
    """The runtime a version predicts with: its scorer, its name, and for every other
    runtime the version knows, why it is not the one (``{"treelite": "not verified:
    ..."}``)."""

    scorer: Scorer
    name: str
    reasons: dict[str, str]


def requested_runtime(package: ModelPackage, requested: str | None = None) -> str:
    """What to use when the caller says ``requested`` (None: the version's own
    ``serve.runtime``, else ``auto``)."""
    if requested:
        return requested
    recorded = package.metadata.get(REQUESTED_KEY)
    return recorded if isinstance(recorded, str) and recorded else DEFAULT


def recorded_verdicts(package: ModelPackage) -> dict[str, dict[str, Any]]:
    """The verdicts registration recorded (checked when the package was loaded)."""
    found = package.metadata.get(METADATA_KEY)
    return dict(found) if isinstance(found, dict) else {}


def ranking(
    verdicts: dict[str, dict[str, Any]], requested: str, purpose: str = "serve"
) -> tuple[list[str], dict[str, str]]:
    """The runtimes to try in order (best first, native left out: it is the last
    resort) and why each other recorded runtime is not tried. Pure: used by
    :func:`choose_runtime`, ``models show`` and ``plan`` alike."""
    key, more_is_better = PURPOSES[purpose]
    reasons: dict[str, str] = {}
    verified: list[str] = []
    for name, verdict in verdicts.items():
        if name == NATIVE:
            continue
        if not verdict.get("verified"):
            reasons[name] = f"not verified: {verdict.get('why') or 'no reason recorded'}"
        elif requested not in (AUTO, name):
            reasons[name] = f"verified, but {requested} was asked for"
        else:
            verified.append(name)
    if requested not in (AUTO, NATIVE) and requested not in verdicts:
        reasons[requested] = "not compiled for this version (it was not allowed at registration)"

    def speed(name: str) -> float:
        value = verdicts[name].get(key)
        if not isinstance(value, int | float):
            return float("-inf")
        return value if more_is_better else -value

    verified.sort(key=speed, reverse=True)
    native = verdicts.get(NATIVE, {}).get(key)
    if requested == AUTO and isinstance(native, int | float):
        baseline = native if more_is_better else -native
        slower = [name for name in verified if speed(name) <= baseline]
        for name in slower:
            unit = "rows/s" if more_is_better else "µs/row"
            reasons[name] = (
                f"verified, but not faster than native here ({verdicts[name].get(key):g} "
                f"against {native:g} {unit})"
            )
        verified = [name for name in verified if name not in slower]
    return verified, reasons


def slower(
    order: list[str], chosen: str, verdicts: dict[str, dict[str, Any]], purpose: str
) -> dict[str, str]:
    """Why each verified runtime ranked after ``chosen`` is not used: it is slower."""
    key, more_is_better = PURPOSES[purpose]
    unit = "rows/s" if more_is_better else "µs/row"
    best = verdicts.get(chosen, {}).get(key)
    reasons = {}
    for name in order[order.index(chosen) + 1 :] if chosen in order else []:
        value = verdicts.get(name, {}).get(key)
        reasons[name] = (
            f"verified, but {chosen} is faster here ({value:g} against {best:g} {unit})"
            if isinstance(value, int | float) and isinstance(best, int | float)
            else f"verified, but {chosen} is faster here"
        )
    return reasons


def choose_runtime(
    package: ModelPackage,
    plugins: Plugins,
    requested: str | None = None,
    purpose: str = "serve",
) -> Chosen:
    """Load the runtime ``package`` should predict with for ``purpose`` (``serve``:
    fastest single row; ``batch``: most rows per second). ``requested``: ``auto``,
    ``native``, a runtime's name, or None for the version's own ``serve.runtime``. A
    requested name no plugin here registers is a :class:`~framework.errors.UserError`
    (the version's own, from the machine that made it, is not: it falls back); one that
    is not verified for this version, or fails to load, falls back to native with the
    reason in :attr:`Chosen.reasons`. ``auto`` never makes the caller wait for a
    build: a runtime that is not ready here (:func:`is_ready`) is skipped, with the reason;
    asked for by name, it is built on load."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
    wanted = requested_runtime(package, requested)
    if requested:  # asked for here; a name the version recorded may be from elsewhere
        require_known(wanted, plugins)
    verdicts = recorded_verdicts(package)
    if wanted == AUTO:
        verdicts = measured_here(package, plugins, verdicts)
    order, reasons = ranking(verdicts, wanted, purpose)
    installed = set(plugins.registry.types(KIND))
    for name in order:
        if name not in installed:
            reasons[name] = "verified, but its plugin is not installed here"
            continue
        try:
            if wanted == AUTO and not is_ready(package, plugins, name):
                reasons[name] = (
                    f"verified, but not built here yet (auto never waits for a build): run "
                    f"`specops runtimes prepare` on the package, or ask for it (--runtime {name})"
                )
                continue
            scorer = load_runtime(package, plugins, name)
        except Exception as exc:  # this machine cannot: the next one, finally native
            reasons[name] = f"verified, but failed to load here: {_short(exc)}"
            continue
        reasons.update(slower(order, name, verdicts, purpose))
        if wanted == AUTO and NATIVE in verdicts:
            reasons[NATIVE] = _native_slower(name, verdicts, purpose)
        return Chosen(scorer, name, reasons)
    return Chosen(native_scorer(package, plugins), NATIVE, reasons)


MEASURED_KEY = "measured_here"
"""Where :func:`measured_here` keeps a runtime's own measurement in its verdict."""


def measured_here(
    package: ModelPackage, plugins: Plugins, verdicts: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``verdicts`` with each verified runtime that reports a measurement of its form
    built here (the optional ``measured``, see the module) ranked by it: its speeds
    become native's recorded ones times the ratio timed here, so they compare with the
    other runtimes' registration figures on one scale. Never builds anything; a runtime
    whose ``measured`` fails keeps its recorded verdict."""
    from framework.runtimes.lookup import build

    installed = set(plugins.registry.types(KIND))
    found = dict(verdicts)
    for name, verdict in verdicts.items():
        if name == NATIVE or name not in installed or not verdict.get("verified"):
            continue
        try:
            runtime = build(name, plugins)
            measured = getattr(runtime, "measured", None)
            if measured is None:
                continue
            with runtime_directory(package, name) as directory:
                here = measured(package, directory)
        except Exception:  # its registration figures stand
            continue
        if isinstance(here, dict):
            found[name] = ranked_by(verdict, here, verdicts.get(NATIVE, {}))
    return found


def ranked_by(
    verdict: dict[str, Any], here: dict[str, Any], native: dict[str, Any]
) -> dict[str, Any]:
    """``verdict`` with the speeds of ``here`` (a measurement beside native on this
    machine) on registration's scale: ``native``'s recorded speed times the ratio, or
    the speed as measured when a figure is missing."""
    ranked = dict(verdict)
    for key, _ in PURPOSES.values():
        mine, beside, recorded = here.get(key), here.get(f"native_{key}"), native.get(key)
        if not _positive(mine):
            continue
        ranked[key] = (
            round(recorded * mine / beside, 1)
            if _positive(beside) and _positive(recorded)
            else mine
        )
    ranked[MEASURED_KEY] = dict(here)
    return ranked


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _native_slower(chosen: str, verdicts: dict[str, dict[str, Any]], purpose: str) -> str:
    """Why native does not serve when ``auto`` chose ``chosen``: slower, by the figures
    timed side by side here when there are some, else by the recorded ones."""
    key, more_is_better = PURPOSES[purpose]
    unit = "rows/s" if more_is_better else "µs/row"
    here = verdicts.get(chosen, {}).get(MEASURED_KEY)
    if isinstance(here, dict) and _positive(here.get(key)) and _positive(here.get(f"native_{key}")):
        return (
            f"verified, but {chosen} is faster here ({here[key]:g} against "
            f"{here[f'native_{key}']:g} {unit}, timed side by side with {chosen}'s form "
            "built on this machine)"
        )
    mine, native = verdicts.get(chosen, {}).get(key), verdicts.get(NATIVE, {}).get(key)
    if _positive(mine) and _positive(native):
        return f"verified, but {chosen} is faster here ({mine:g} against {native:g} {unit})"
    return f"verified, but {chosen} is faster here"


def is_ready(package: ModelPackage, plugins: Plugins, name: str) -> bool:
    """Whether runtime ``name`` loads here without building native code first: its
    optional ``ready(package, directory)`` says (a compiled-trees runtime whose library
    is not in this machine's cache yet is not); a runtime without it always is."""
    from framework.runtimes.lookup import build

    runtime = build(name, plugins)
    ready = getattr(runtime, "ready", None)
    if ready is None:
        return True
    with runtime_directory(package, name) as directory:
        return bool(ready(package, directory))


def load_runtime(package: ModelPackage, plugins: Plugins, name: str) -> Scorer:
    """The scorer of the verified runtime ``name`` from the package's own files."""
    from framework.runtimes.lookup import build

    runtime = build(name, plugins)
    with runtime_directory(package, name) as directory:
        scorer = runtime.load(package, directory)
    if not callable(getattr(scorer, "predict", None)):
        raise TypeError(f"runtime {name!r} load returned {type(scorer).__name__}, not a Scorer")
    return scorer


@contextlib.contextmanager
def runtime_directory(package: ModelPackage, name: str) -> Iterator[Path]:
    """The folder of runtime ``name``'s files: the package's own when it is a folder on
    disk, else a temporary copy of the files read when the version was loaded from a
    store (removed when the runtime has loaded them)."""
    files = getattr(package, "runtime_files", None)
    if files is None:
        yield Path(package.directory) / RUNTIMES_DIR / name
        return
    from framework.package_paths import inside

    with tempfile.TemporaryDirectory(prefix="specops-runtime-") as tmp:
        directory = Path(tmp) / name
        directory.mkdir()
        for relative, content in files.get(name, {}).items():
            target = inside(directory, relative, f"runtime {name}")  # never outside tmp
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        yield directory


def native_scorer(package: ModelPackage, plugins: Plugins) -> Scorer:
    """The registered ``native`` runtime's scorer, or the framework's own when its plugin
    is not loaded (disabled, say): a version always predicts."""
    if NATIVE in plugins.registry.types(KIND):
        from framework.runtimes.lookup import build

        return build(NATIVE, plugins).load(package, Path(package.directory))
    from framework.runtimes.native import native_scorer as framework_native

    return framework_native(package)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text if isinstance(exc, RuntimeUnavailable) else f"{type(exc).__name__}: {text}"
    return text if len(text) <= 300 else text[:297] + "..."
