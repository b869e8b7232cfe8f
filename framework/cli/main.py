"""``specops``: argument parsing and exit codes; each command's work lives elsewhere.

Nothing heavy is imported here: ``specops --help`` and ``specops validate`` must
start fast. Each command group is a small module that adds its parsers and names
its handler as ``"module:function"``, imported only when that command runs.

Exit codes: 0 success; 1 the lifecycle ran but a check or the gate said no;
2 bad input (spec, data, arguments, store), with a message and no traceback
(``--debug`` shows it); 3 a bug in specops or a plugin.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

EXIT_BUG = 3

COMMAND_GROUPS: tuple[str, ...] = (
    "framework.cli.lifecycle",
    "framework.cli.registry",
    "framework.cli.reproduce",
    "framework.cli.predict",
    "framework.cli.monitor",
    "framework.cli.serve",
    "framework.cli.scaffold",
    "framework.cli.ui",
    "framework.cli.runtimes",
)


class _Parser(argparse.ArgumentParser):
    """argparse's errors quote the command line; a store URL in it may hold a password
    (``--store postgresql://user:pw@host/db`` given to the wrong command): masked."""

    def error(self, message: str) -> NoReturn:
        from framework.redact import hide_credentials

        super().error(str(hide_credentials(message)))


def build_parser() -> argparse.ArgumentParser:
    from framework import __version__

    parser = _Parser(
        prog="specops",
        description="Declarative MLOps: one YAML spec from data to a gated, deployed model.",
        epilog="Exit codes: 0 ok, 1 a check or the gate said no, 2 bad input, 3 a bug.",
    )
    parser.add_argument("--version", action="version", version=f"specops {__version__}")
    parser.add_argument(  # its own dest: a command's --debug default would overwrite it
        "--debug",
        dest="global_debug",
        action="store_true",
        help="show tracebacks and every hook call (the same as COMMAND --debug)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        importlib.import_module(group).add_commands(commands)
    return parser


def _handler(target: str) -> Callable[[argparse.Namespace], int]:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def main(argv: Sequence[str] | None = None) -> int:
    from framework.redact import redacted_streams, scope

    # one registry of ${env:...} values per command; nothing it prints shows one
    with scope(), redacted_streams():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False) or args.global_debug)
    args.debug = debug  # `specops --debug run` and `specops run --debug` are one thing
    try:
        code = _handler(args.handler)(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:  # `specops ... | head`: the reader left; not an error of ours
        _silence_stdout()
        return 141
    except Exception as raised:
        from framework.cli.render import error_json, report_error
        from framework.store.failures import as_user_error

        if debug:
            import traceback

            traceback.print_exc()
        # a damaged, full or read-only store (or disk) is bad input, not a bug: exit 2;
        # so is data too big for this process's memory (a plugin's MemoryError too);
        # an exception from a plugin's code is that plugin's bug, named: exit 3
        exc = (
            _out_of_memory(raised, args.command)
            or as_user_error(raised)
            or _plugin_fault(raised)
            or raised
        )
        try:
            code = report_error(exc)
        except Exception as unprintable:  # the error path itself must never traceback
            print(f"internal error: {type(exc).__name__} ({unprintable!r})", file=sys.stderr)
            code = 3
        if getattr(args, "json", False):
            import json

            print(json.dumps(error_json(exc, code), indent=2, default=str))
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return 141
    return code


def _plugin_fault(raised: Exception) -> Exception | None:
    """The exception as a fault of the plugin whose code raised it, if plugins were
    loaded and one of them is in its traceback (validate, plan, serve, ...: the
    engine names the step itself)."""
    from framework.plugins import loaded_plugins

    plugins = loaded_plugins()
    return plugins.fault(raised) if plugins is not None else None


def _out_of_memory(raised: BaseException, command: str) -> Exception | None:
    """A MemoryError (itself, or the cause of what a step or a plugin wrapped it in:
    a PluginFault, a source's DataError) as the user's exit 2, naming the step that
    ran out and how to run it where it fits; None otherwise."""
    from framework.errors import out_of_memory

    error: BaseException | None = raised
    for _ in range(8):  # the chain a step wraps it in (PluginFault from MemoryError)
        if error is None or isinstance(error, MemoryError):
            break
        error = error.__cause__ or error.__context__
    if not isinstance(error, MemoryError):
        return None
    # the step: a plugin fault names it; else the engine's frames on the way hold it
    # (on the MemoryError's traceback, or on the error a component wrapped it in)
    step = getattr(raised, "step", "") or _engine_step(raised) or _engine_step(error)
    return out_of_memory(error, step=step, command=command, on_cluster=_remote(error))


def _engine_step(error: BaseException) -> str:
    """The lifecycle step ``error`` came through: the one a frame on its way holds as
    a :class:`framework.events.StepInfo` the engine marked failed (``with
    self._step(run, "train") as step``); '' outside a run."""
    import traceback

    from framework.events import StepInfo

    step = ""
    for frame, _ in traceback.walk_tb(error.__traceback__):
        for value in frame.f_locals.values():
            if isinstance(value, StepInfo) and value.status == "error":
                step = value.name  # the innermost failed step
    return step


def _remote(error: BaseException) -> bool:
    """Whether ``error`` was raised on a Dask worker and handed back by the client."""
    import os
    import traceback

    marker = f"{os.sep}distributed{os.sep}"
    return any(
        marker in frame.f_code.co_filename for frame, _ in traceback.walk_tb(error.__traceback__)
    )


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def entry() -> None:
    """The console script: the command, then a quick exit (:mod:`framework.cli.quick_exit`)."""
    from framework.cli.quick_exit import leave

    leave(main())


if __name__ == "__main__":
    entry()
