"""Parsers of the registry commands: ``models``, ``runs`` and ``store``.

Each reads (or, for promote, rollback and gc --apply, changes) an existing store;
none of them trains, scores or imports a data library.
"""

from __future__ import annotations

import argparse

from framework.cli.models_export import add_export
from framework.cli.options import common, handler, store_option
from framework.cli.store_copy import add_copy

COMMANDS = "framework.cli.registry_commands"

ROLLBACK_RULE = """\
A rollback undoes the latest move of the alias that has not been undone yet: the
alias returns to the version that move took it from. The alias's history works
like an undo stack: promotions (by a run's gate or by `models promote`) push a
move, each rollback pops one, so repeated rollbacks walk further back, and a
promotion made after a rollback is the first thing the next rollback undoes.
Each alias has its own history. A rollback with nothing to return to (the alias
was never moved, or the move left to undo is the alias's very first) is refused
with exit code 2 and moves nothing. Every rollback is recorded in the alias
history with reason "rollback" (or "rollback: REASON").
"""


def add_commands(commands: argparse._SubParsersAction) -> None:
    _models(commands)
    _runs(commands)
    _store(commands)


def _group(
    commands: argparse._SubParsersAction, name: str, help: str
) -> argparse._SubParsersAction:
    """A command (``models``, ``runs``, ``store``) whose actions are subcommands."""
    parser = commands.add_parser(name, help=help)
    return parser.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)


def _leaf(
    group: argparse._SubParsersAction, name: str, target: str, **kwargs: str
) -> argparse.ArgumentParser:
    """A subcommand with --store, --json and --debug, run by ``target``."""
    parser = group.add_parser(name, **kwargs)
    store_option(parser)
    common(parser)
    handler(parser, f"{COMMANDS}:{target}")
    return parser


def _models(commands: argparse._SubParsersAction) -> None:
    group = _group(commands, "models", "the model registry: versions, aliases, lineage")

    _leaf(group, "list", "cmd_models_list", help="every model, its versions and aliases")

    show = _leaf(
        group,
        "show",
        "cmd_models_show",
        help="one version: metrics, params, signature, lineage, files, alias history",
    )
    show.add_argument("ref", metavar="REF", help="NAME (its champion), NAME@ALIAS or NAME/VERSION")

    promote = _leaf(
        group,
        "promote",
        "cmd_models_promote",
        help="point an alias at a registered version",
        description="Point an alias at a registered version; rejected versions are refused.",
    )
    promote.add_argument("ref", metavar="REF", help="NAME/VERSION, NAME@ALIAS or NAME")
    promote.add_argument(
        "--alias", default="champion", help="the alias to move (default: champion)"
    )
    promote.add_argument("--reason", help="why, recorded in the alias history")

    rollback = _leaf(
        group,
        "rollback",
        "cmd_models_rollback",
        help="return an alias to the version it pointed at before (repeatable: undo stack)",
        description=ROLLBACK_RULE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rollback.add_argument("name", metavar="NAME", help="the model name (or NAME@ALIAS)")
    rollback.add_argument("--alias", default="champion", help="the alias (default: champion)")
    rollback.add_argument("--reason", help="why, recorded as 'rollback: REASON'")

    add_export(group)  # `models export REF --format mlflow DIR`


def _runs(commands: argparse._SubParsersAction) -> None:
    group = _group(commands, "runs", "recorded runs: list, show, diff")

    listing = _leaf(group, "list", "cmd_runs_list", help="recent runs, newest first")
    listing.add_argument("--spec", metavar="NAME", help="only runs of this spec name")
    listing.add_argument(
        "--limit", type=int, default=20, metavar="N", help="at most N runs (default 20; 0: all)"
    )

    show = _leaf(
        group,
        "show",
        "cmd_runs_show",
        help="one run: steps, metrics, gate verdicts, data and model versions",
    )
    show.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")

    diff = _leaf(
        group,
        "diff",
        "cmd_runs_diff",
        help="two runs side by side: spec, params, data, packages, metrics",
    )
    diff.add_argument("run_a", metavar="RUN_A", help="a run id or a unique prefix")
    diff.add_argument("run_b", metavar="RUN_B", help="a run id or a unique prefix")
    diff.add_argument("--changed", action="store_true", help="show only the rows that differ")


def _store(commands: argparse._SubParsersAction) -> None:
    group = _group(commands, "store", "check the store, or clean up what it no longer needs")

    verify = _leaf(
        group,
        "verify",
        "cmd_store_verify",
        help="check the database's pages, every stored blob's hash and every alias and "
        "version row (exit 1 if not ok)",
    )
    verify.add_argument(
        "--full",
        action="store_true",
        help="run SQLite's full integrity_check (also checks indexes against tables; "
        "slower) instead of quick_check",
    )

    gc = _leaf(
        group,
        "gc",
        "cmd_store_gc",
        help="list (or --apply: delete) unreferenced blobs and leftover temp files",
        description=(
            "List blobs no row references, temporary files left by killed processes and "
            "their lock files. Nothing is deleted without --apply; a referenced blob never "
            "is, nor, whatever --min-age says, anything made since a live specops process "
            "(a run, predict, serve, ...) opened the store. A store whose database is "
            "missing or empty while it holds blobs is refused, never collected."
        ),
    )
    gc.add_argument("--apply", action="store_true", help="delete what is listed")
    gc.add_argument(
        "--min-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="also leave entries younger than this alone (default 3600; entries a live "
        "process may own are kept at any age)",
    )

    add_copy(group)  # `store copy SRC DST`
