"""A throwaway specops project for a plugin's tests: its plugins, its specs, its store.

A plugin's tests should run specs through the real thing (spec loading and
validation, the engine, the store, the CLI's exit codes and messages), not a mock
of it, and without installing the plugin first. :class:`SpecopsProject` does that:
it loads specops' built-in plugins plus the plugin objects it is given (modules or
instances, registered in process exactly as an entry point would register them),
writes specs into its own folder, and runs ``specops`` commands in this process
against the store in that folder.

Installed third-party plugins are not loaded (``autoload=False``), so a test sees
only what it registered and cannot collide with an installed copy of the plugin
under test.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.plugins import Plugins


@dataclass
class CommandResult:
    """What one ``specops`` command did: its exit code, what it printed, and the
    parsed ``--json`` report when it printed one."""

    code: int
    """The exit code: 0 ok, 1 a check or the gate said no, 2 bad input, 3 a bug."""
    out: str
    """Everything printed on stdout."""
    err: str
    """Everything printed on stderr (error messages, warnings)."""
    store: Path
    """The store the command used."""

    @property
    def report(self) -> Any:
        """stdout parsed as JSON (run the command with ``--json``)."""
        try:
            return json.loads(self.out)
        except ValueError as exc:
            raise AssertionError(
                f"the command printed no JSON (exit code {self.code}); was --json passed?\n"
                f"stdout:\n{self.out}\nstderr:\n{self.err}"
            ) from exc

    def __str__(self) -> str:
        return f"exit code {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


class SpecopsProject:
    """A folder holding specs and their store, with in-process plugins registered.

    ``plugins`` are ``(name, plugin)`` pairs or bare plugin objects (a module, or an
    instance with ``@hookimpl`` methods); a bare module is named after its last
    dotted part.
    """

    def __init__(self, directory: Path, plugins: Any = (), *, autoload: bool = False) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.autoload = autoload
        self._plugins: list[tuple[str, object]] = []
        self._loaded: Plugins | None = None
        for plugin in plugins:
            if isinstance(plugin, tuple):
                self.register(plugin[1], name=plugin[0])
            else:
                self.register(plugin)

    @property
    def store(self) -> Path:
        """The store of specs written at the project's top level (``.specops/``)."""
        return self.directory / ".specops"

    def register(self, plugin: object, name: str | None = None) -> None:
        """Add an in-process plugin (a module or an object with ``@hookimpl`` methods)."""
        if name is None:
            name = (
                plugin.__name__.rsplit(".", 1)[-1]
                if isinstance(plugin, ModuleType)
                else type(plugin).__name__.lower()
            )
        self._plugins.append((name, plugin))
        self._loaded = None

    @property
    def plugins(self) -> Plugins:
        """The built-in plugins plus the registered ones, loaded once (a plugin that
        breaks a rule raises :class:`framework.errors.PluginError` here, by name)."""
        if self._loaded is None:
            from framework.plugins import load_plugins

            switch = {} if self.autoload else {"SPECOPS_DISABLE_PLUGIN_AUTOLOAD": "1"}
            with _environment(**switch):
                self._loaded = load_plugins(extra=self._plugins)
        return self._loaded

    def write(self, relative: str, text: str) -> Path:
        """Write ``text`` (dedented) to a file of the project; returns its path."""
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def write_spec(self, text: str, name: str = "spec.yaml") -> Path:
        """Write a spec (YAML, dedented) into the project; returns its path."""
        return self.write(name, text)

    def cli(self, *args: str | Path) -> CommandResult:
        """Run ``specops ARGS`` in this process with the project's plugins and store
        (``$SPECOPS_STORE`` points at it for registry commands)."""
        import framework.plugins
        from framework.cli.main import main

        plugins = self.plugins
        out, err = io.StringIO(), io.StringIO()
        saved = framework.plugins._cached
        framework.plugins._cached = plugins
        try:
            with (
                _environment(SPECOPS_STORE=str(self.store), NO_COLOR="1"),
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                code = main([str(arg) for arg in args])
        finally:
            framework.plugins._cached = saved
        return CommandResult(code, out.getvalue(), err.getvalue(), self.store)

    def run(self, spec: str | Path, *args: str) -> CommandResult:
        """``specops run SPEC --json ARGS``: a spec path, or a spec's YAML text."""
        return self.cli("run", self._spec_path(spec), "--json", *args)

    def validate(self, spec: str | Path, *args: str) -> CommandResult:
        """``specops validate SPEC ARGS``: a spec path, or a spec's YAML text."""
        return self.cli("validate", self._spec_path(spec), *args)

    def monitor(self, spec: str | Path, data: str | Path, *args: str) -> CommandResult:
        """``specops monitor SPEC --data DATA --json ARGS``; a relative ``DATA`` is a file
        in the project, as ``write`` puts it (not the test's working directory)."""
        batch = self.directory / data if isinstance(data, str) else data
        return self.cli("monitor", self._spec_path(spec), "--data", batch, "--json", *args)

    def _spec_path(self, spec: str | Path) -> Path:
        if isinstance(spec, Path):
            return spec
        if "\n" in spec:  # YAML text rather than a file name
            return self.write_spec(spec)
        return self.directory / spec


@contextlib.contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    """Set (or, for None, remove) environment variables for the length of the block."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
