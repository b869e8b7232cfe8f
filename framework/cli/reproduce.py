"""`specops reproduce RUN_ID`: rerun a recorded run on its recorded data and compare."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from framework.cli.options import common, handler, store_option

if TYPE_CHECKING:
    from framework.reproduce import Reproduction


def add_commands(commands: argparse._SubParsersAction) -> None:
    reproduce = commands.add_parser(
        "reproduce",
        help="rerun a run on its data snapshot; check metrics and model files match",
    )
    reproduce.add_argument("run_id", metavar="RUN_ID", help="a run id (a unique prefix will do)")
    reproduce.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="where the rerun executes, e.g. --set execution.params.address=tcp://HOST:8786 "
        "(only execution.* keys: anything else would not be a reproduction)",
    )
    store_option(reproduce)
    common(reproduce)
    handler(reproduce, "framework.cli.reproduce:cmd_reproduce")


def cmd_reproduce(args: argparse.Namespace) -> int:
    import json

    from framework.cli.commands import plugins_for
    from framework.refs import store_root
    from framework.reproduce import reproduce

    outcome = reproduce(
        store_root(args.store), args.run_id, plugins_for(args), overrides=args.overrides
    )
    if args.json:
        print(json.dumps(outcome.to_dict(), indent=2, default=str))
    else:
        _print(outcome)
    return 0 if outcome.matched else 1


def _print(outcome: Reproduction) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(
        title=f"reproduce {outcome.run_id} (rerun {outcome.rerun_id})", title_justify="left"
    )
    for column in ("kind", "item", "original", "reproduced", "match", "note"):
        table.add_column(column, overflow="fold")  # a cut name or version hides the change
    marks = {True: "[green]same[/]", False: "[red]DIFFERENT[/]", None: "[dim]-[/]"}
    unchanged = [c.item for c in outcome.comparisons if c.kind == "plugin" and c.match is True]
    for c in outcome.comparisons:
        if c.kind == "plugin" and c.match is True:  # one row for them all (--json lists each)
            if c.item == unchanged[0]:
                count = f"{len(unchanged)} component{'s' if len(unchanged) != 1 else ''}"
                table.add_row("plugin", count, "-", "-", marks[True], "versions as recorded")
            continue
        changed = c.kind in ("plugin", "package") and c.match is None and c.original != c.reproduced
        shown = [_cell(c.kind, v) for v in (c.original, c.reproduced)]
        mark = "[yellow]changed[/]" if changed else marks[c.match]
        table.add_row(c.kind, escape(c.item), *shown, mark, escape(c.note))
    console.print(table)
    verdict = "[green]reproduced exactly[/]" if outcome.matched else "[red]did not reproduce[/]"
    console.print(f"{verdict} on data {outcome.data_hash[:12]}")
    if outcome.changed_since_run:
        lead = "installed now at another version than the run's"
        lead += ":" if not outcome.matched else " (the results did not change):"
        console.print(lead)
        for change in outcome.changed_since_run:
            console.print(f"  {escape(change)}", soft_wrap=True)
    elif not outcome.matched:
        console.print("no plugin or package changed version since the run")


def _cell(kind: str, value: object) -> str:
    """Hashes shortened to 12 characters; versions and numbers whole."""
    from rich.markup import escape

    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return escape(text[:12] if kind in ("config", "file") else text)
