"""``specops runtimes prepare DIR``: build what a package's runtimes need, where it runs.

The container target's builder stage runs it on the exported package, so an image
serves compiled trees without a compiler at run time (see docs/runtimes.md).
"""

from __future__ import annotations

import argparse
import json
import sys

from framework.cli.options import common, handler


def add_commands(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser(
        "runtimes",
        help="prediction runtimes of a model package (prepare their caches)",
        description="Prediction runtimes compile a model into a faster form at registration "
        "(serve.runtime). See docs/runtimes.md.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    prepare = actions.add_parser(
        "prepare",
        help="build each verified runtime's local cache for an exported package",
        description="For each runtime the package verified at registration, build what it "
        "needs on this machine (compiled trees: the shared library, built with the C "
        "compiler here into the runtime's cache). Exit 1 when one cannot be prepared, so an "
        "image build fails instead of shipping a server that would quietly serve natively.",
    )
    prepare.add_argument("directory", metavar="DIR", help="an exported model package folder")
    common(prepare)
    handler(prepare, "framework.cli.runtimes:cmd_runtimes_prepare")


def cmd_runtimes_prepare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from framework.errors import UserError
    from framework.plugins import get_plugins
    from framework.runtimes.prepare import prepare_package

    directory = Path(args.directory).expanduser()
    if not (directory / "model.json").is_file():
        raise UserError(f"{directory} is not a model package folder (no model.json)")
    done = prepare_package(directory, get_plugins())
    if args.json:
        json.dump([vars(item) for item in done], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        if not done:
            print(f"{directory}: no verified runtime to prepare (it serves natively)")
        for item in done:
            mark = "prepared" if item.ok else "FAILED"
            print(f"{item.runtime}: {mark}: {item.note}")
    return 0 if all(item.ok for item in done) else 1
