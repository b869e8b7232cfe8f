"""Errors as values with a location, so the CLI can say what is wrong and where.

Everything a user can get wrong derives from :class:`UserError`; the CLI turns it
into a message on stderr and exit code 2, never a traceback (``--debug`` shows one).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """Where in a spec file a value was written (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: what, where, what was expected and found."""

    message: str
    """What is wrong, in the user's words."""
    path: str = ""
    """The key path in the spec (``model.params.p``, ``checks[0].type``); ``""`` for the
    whole spec."""
    location: Location | None = None
    """``file:line:column`` of the key, when the spec file is known."""
    expected: str | None = None
    """What would be accepted (``"integer >= 1"``, ``"one of: csv, parquet"``)."""
    found: str | None = None
    """What the spec holds there, as text."""
    hint: str | None = None
    """What to do about it (``"did you mean 'knn'?"``)."""

    def to_dict(self) -> dict[str, object]:
        loc = self.location
        return {
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "path": self.path,
            "message": self.message,
            "expected": self.expected,
            "found": self.found,
            "hint": self.hint,
        }


class UserError(Exception):
    """Bad input (spec, data, arguments, store contents): exit code 2."""

    exit_code = 2


class SpecError(UserError):
    """A spec that cannot be used; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0].message if problems else "invalid spec"
        super().__init__(f"{len(problems)} problem(s) in spec; first: {first}")


@dataclass
class DataError(UserError):
    """The data does not fit the spec: a missing column, an empty table, ..."""

    message: str
    """What is wrong, naming the file, column or row: shown to the user as it is."""
    column: str | None = None
    """The column at fault, if one is."""
    hint: str | None = None
    """What to do about it, shown under the message (``hint: ...``)."""
    context: dict[str, object] = field(default_factory=dict)
    """Machine-readable facts for code that catches the error (``{"rows": [...]}``);
    not shown to the user. Plugins rarely need it."""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")


class StoreError(UserError):
    """The store refused something: a tampered artifact, an unknown model version."""


class PluginError(UserError):
    """A plugin is misconfigured: two plugins claim one type, a broken entry point."""


class PluginFault(Exception):
    """An exception raised inside a plugin's own code: a bug in that plugin (exit 3).

    Not a :class:`UserError`: the spec and the data may be fine. It names the plugin's
    distribution and version, and the component and step (or hook) it was running,
    so the user knows whom to report it to; the original exception is its cause.
    """

    exit_code = 3

    def __init__(
        self,
        plugin: str,
        version: str,
        error: str,
        *,
        component: str = "",
        step: str = "",
        hook: str = "",
    ) -> None:
        self.plugin, self.version, self.error = plugin, version, error
        self.component, self.step, self.hook = component, step, hook
        where = ", ".join(
            filter(None, [component, f"step {step}" if step else "", f"in {hook}" if hook else ""])
        )
        version_text = f" {version}" if version and version != "-" else ""
        super().__init__(
            f"error in plugin '{plugin}'{version_text}{f' ({where})' if where else ''}: {error}"
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "plugin": self.plugin,
            "version": self.version,
            "component": self.component,
            "step": self.step,
            "hook": self.hook,
            "error": self.error,
        }


class OutOfMemory(DataError):
    """The data, or what a step makes of it, did not fit in this process's memory: a
    table too big for the local executor is bad input to fix by running elsewhere,
    not a bug (exit 2). Made from a MemoryError by :func:`out_of_memory`."""


SCALING_DOC = "docs/scaling.md"
"""Where running on Dask workers is explained (named in :func:`out_of_memory`'s hint)."""


def out_of_memory(
    error: BaseException, *, step: str = "", command: str = "", on_cluster: bool = False
) -> OutOfMemory:
    """What to tell a user whose ``command`` ran out of memory (``error``, a
    MemoryError) in ``step``: what did not fit, where, and how to run it where it fits:
    ``execution: {type: dask}`` for the lifecycle, ``--execution dask`` for batch
    commands; more worker memory when it already ran on a cluster (``on_cluster``)."""
    detail = str(error).strip() or type(error).__name__
    where = f" in step {step}" if step else (f" (specops {command})" if command else "")
    if on_cluster:
        return OutOfMemory(
            f"a Dask worker ran out of memory{where}: {detail}",
            hint="give the workers more memory (execution.params.memory_limit, or the "
            f"cluster's own) or cut the data into more partitions; see {SCALING_DOC}",
        )
    if command in ("predict", "monitor"):
        instead = f"run it on Dask workers with --execution dask (see {SCALING_DOC})"
    else:
        instead = (
            "run it on Dask workers: execution: {type: dask} in the spec, or "
            f"--set execution.type=dask (see {SCALING_DOC})"
        )
    return OutOfMemory(
        f"the data did not fit in this process's memory{where}: {detail}",
        hint=f"{instead}; or give this process more memory",
    )
