"""``specops new-plugin NAME``: write a plugin package ready to install and test."""

from __future__ import annotations

import argparse
from pathlib import Path

from framework.cli.options import common, handler


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "new-plugin",
        help="write a plugin package (pyproject, components, tests, example spec)",
        description="Write a new plugin package NAME in DIR: one working component per "
        "kind chosen, tests using specops' testing helpers, and an example spec. Never "
        "overwrites: an existing non-empty folder is refused.",
    )
    parser.add_argument("name", metavar="NAME", help="the distribution name, e.g. specops-acme")
    parser.add_argument(
        "--kinds",
        default=None,
        metavar="KIND,...",
        help="components to write: source, check, split, transform, model, metric, deploy, "
        "drift_test, or all (default: source,model)",
    )
    parser.add_argument(
        "--dir",
        default=".",
        metavar="DIR",
        help="the folder to create the package in (default: the current folder)",
    )
    common(parser)
    handler(parser, "framework.cli.scaffold:cmd_new_plugin")


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from framework.scaffold import chosen_kinds, new_plugin, plugin_names

    kinds = chosen_kinds(args.kinds)
    names = plugin_names(args.name)
    folder, files = new_plugin(args.name, Path(args.dir), kinds)
    if args.json:
        import json

        report = {
            "path": str(folder),
            "dist": names.dist,
            "package": names.package,
            "entry_point": names.stem,
            "kinds": kinds,
            "files": [str(f) for f in files],
        }
        print(json.dumps(report, indent=2))
        return 0
    print(f"created {names.dist} in {folder} ({', '.join(kinds)}):")
    for file in files:
        print(f"  {file}")
    print(f"next:\n  cd {folder}\n  pip install -e '.[test]'\n  pytest\n  specops run example.yaml")
    return 0
