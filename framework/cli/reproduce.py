"""`specops reproduce RUN_ID`: rerun a recorded run on its recorded data and compare."""

from __future__ import annotations

import argparse

from framework.cli.options import common, handler, store_option


def add_commands(commands: argparse._SubParsersAction) -> None:
    reproduce = commands.add_parser(
        "reproduce",
        help="rerun a run on its data snapshot; check metrics and model files match",
    )
    reproduce.add_argument("run_id", metavar="RUN_ID", help="a run id (a unique prefix will do)")
    store_option(reproduce)
    common(reproduce)
    handler(reproduce, "framework.cli.reproduce:cmd_reproduce")


def cmd_reproduce(args: argparse.Namespace) -> int:
    import json

    from framework.cli.commands import plugins_for
    from framework.refs import store_root
    from framework.reproduce import reproduce

    outcome = reproduce(store_root(args.store), args.run_id, plugins_for(args))
    if args.json:
        print(json.dumps(outcome.to_dict(), indent=2, default=str))
    else:
        _print(outcome)
    return 0 if outcome.matched else 1


def _print(outcome: object) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(
        title=f"reproduce {outcome.run_id} (rerun {outcome.rerun_id})", title_justify="left"
    )
    for column in ("kind", "item", "original", "reproduced", "match", "note"):
        table.add_column(column)
    marks = {True: "[green]same[/]", False: "[red]DIFFERENT[/]", None: "[dim]-[/]"}
    for c in outcome.comparisons:
        shown = [
            f"{v:.6g}" if isinstance(v, float) else (str(v)[:12] if v is not None else "-")
            for v in (c.original, c.reproduced)
        ]
        table.add_row(c.kind, c.item, *shown, marks[c.match], c.note)
    console.print(table)
    verdict = "[green]reproduced exactly[/]" if outcome.matched else "[red]did not reproduce[/]"
    console.print(f"{verdict} on data {outcome.data_hash[:12]}")
