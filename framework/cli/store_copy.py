"""``specops store copy SRC DST``: the command around :func:`framework.store.copy.copy_store`.

SRC and DST are store addresses as ``--store`` takes them (a ``.specops`` directory,
``postgresql://...``); ``--artifacts`` says where DST keeps its blobs when DST has none
recorded yet (a new shared store). SRC's own artifacts are the ones it recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace

from framework.errors import UserError

DESCRIPTION = (
    "Copy a whole store: every blob its rows name first (read verified from SRC, not sent "
    "again when DST has it), then every row in one transaction on DST. A second copy "
    "copies nothing and says so. Rows DST holds under the same key with other values (a "
    "model version number taken by a different version) refuse the copy, naming each; "
    "nothing is written then. `specops store verify --store DST` passes afterwards."
)


def add_copy(group: argparse._SubParsersAction) -> None:
    """``store copy SRC DST [--artifacts URL]`` under the ``store`` command."""
    from framework.cli.options import common, handler

    parser = group.add_parser(
        "copy",
        help="copy every row and blob of store SRC into store DST (local <-> shared); "
        "idempotent, verified",
        description=DESCRIPTION,
    )
    add_arguments(parser)
    common(parser)
    handler(parser, "framework.cli.store_copy:cmd_store_copy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """SRC, DST and --artifacts (the parser's --json/--debug come from ``common``)."""
    parser.add_argument("source", metavar="SRC", help="the store to copy from (DIR or URL)")
    parser.add_argument("destination", metavar="DST", help="the store to copy into (DIR or URL)")
    parser.add_argument(
        "--artifacts",
        default=None,
        metavar="URL",
        help="where DST keeps its blobs (s3://bucket/prefix, a folder), when DST has none "
        "recorded yet (default: $SPECOPS_ARTIFACTS, else beside a local DST)",
    )


def cmd_store_copy(args: argparse.Namespace) -> int:
    """Copy; exit 0 also when there was nothing left to copy (it says so)."""
    from framework.store.addressing import ARTIFACTS_VARIABLE, command_address
    from framework.store.copy import copy_store
    from framework.store.store import Store

    if not args.source or not args.destination:
        raise UserError("store copy needs SRC and DST")
    source_address = replace(command_address(args.source), artifacts=None)
    artifacts = args.artifacts or os.environ.get(ARTIFACTS_VARIABLE) or None
    destination_address = replace(command_address(args.destination), artifacts=artifacts)
    quiet = bool(getattr(args, "json", False))

    def progress(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr)

    source = Store.open_existing(source_address, write=False)
    try:
        destination = Store(destination_address, write=True)
        try:
            report = copy_store(source, destination, progress=progress)
        finally:
            destination.close()
    finally:
        source.close()

    result = report.as_dict()
    if quiet:
        json.dump(result, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(describe(result))
    return 0


def describe(result: dict) -> str:
    """The report in words: what was copied, what was already there, per table."""
    blobs = result["blobs"]
    rows = result["rows"]
    copied_rows = sum(r["copied"] for r in rows.values())
    present_rows = sum(r["already_there"] for r in rows.values())
    head = (
        f"nothing to copy: {result['destination']} already holds every row ({present_rows}) "
        f"and blob ({blobs['already_there']}) of {result['source']}"
        if result["copied_nothing"]
        else (
            f"copied {blobs['copied']} blob(s) ({_size(blobs['bytes_copied'])}) and "
            f"{copied_rows} row(s) from {result['source']} to {result['destination']}; "
            f"already there: {blobs['already_there']} blob(s), {present_rows} row(s)"
        )
    )
    lines = [head]
    for table, counts in rows.items():
        if counts["copied"] or counts["already_there"]:
            lines.append(
                f"  {table:<24} {counts['copied']:>7} copied  "
                f"{counts['already_there']:>7} already there"
            )
    return "\n".join(lines)


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    value = float(count)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"
