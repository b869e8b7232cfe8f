"""Options shared by several commands, so each is spelled and explained once."""

from __future__ import annotations

import argparse


def spec_options(parser: argparse.ArgumentParser) -> None:
    """``--profile`` and ``--set``: how a spec is adjusted without editing it."""
    parser.add_argument(
        "--profile",
        action="append",
        default=None,
        help="apply the spec's profiles.<PROFILE> overrides; repeat to apply several "
        "in order, a later one winning where two set the same key",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. --set model.params.n_estimators=500 (repeatable)",
    )


def common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    """``--json`` for machines and ``--debug`` for tracebacks and hook calls."""
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and hook calls")


def store_option(parser: argparse.ArgumentParser) -> None:
    """``--store URL|DIR`` and ``--artifacts URL``: which store a command uses."""
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL|DIR",
        help="the store: a .specops directory, or a shared store's URL such as "
        "postgresql://user@host/db (default: $SPECOPS_STORE, else the nearest .specops)",
    )
    parser.add_argument(
        "--artifacts",
        default=None,
        metavar="URL",
        help="where the store's blobs are, e.g. s3://bucket/prefix (default: "
        "$SPECOPS_ARTIFACTS, else where the store recorded them, else beside a local store)",
    )


LARGEST_COUNT = 2**53
"""The largest count or size an option takes: what a float (pandas, NumPy, time-outs)
still holds exactly. ``--chunk-rows 99999999999999999999`` reached pandas' C reader and
ended in an OverflowError (exit 3)."""


def positive_int(text: str) -> int:
    """An argparse type for counts and sizes: a whole number from 1 to 2**53."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    shown = text if len(text) <= 40 else f"{text[:37]}..."
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {shown!r}")
    if value > LARGEST_COUNT:
        raise argparse.ArgumentTypeError(f"expected at most {LARGEST_COUNT:,}, got {shown!r}")
    return value


def port_number(text: str) -> int:
    """An argparse type for a TCP port to listen on: 0-65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port 0-65535 (0: any free port), got {text!r}"
        )
    return value


def handler(parser: argparse.ArgumentParser, target: str) -> None:
    """Name the function that runs a command as 'module:function', imported only when run."""
    parser.set_defaults(handler=target)
