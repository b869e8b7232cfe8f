"""``specops``: argument parsing and exit codes; each command's work lives elsewhere.

Nothing heavy is imported here: ``specops --help`` and ``specops validate`` must
start fast, so commands import what they need when they run.

Exit codes: 0 success; 1 the lifecycle ran but a check or the gate said no;
2 bad input (spec, data, arguments, store), with a message and no traceback
(``--debug`` shows it); 3 a bug in specops or a plugin.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

EXIT_BUG = 3


def _spec_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="apply the spec's profiles.<PROFILE> overrides")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. --set model.params.n_estimators=500 (repeatable)",
    )


def _common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and hook calls")


def build_parser() -> argparse.ArgumentParser:
    from framework import __version__

    parser = argparse.ArgumentParser(
        prog="specops",
        description="Declarative MLOps: one YAML spec from data to a gated, deployed model.",
        epilog="Exit codes: 0 ok, 1 a check or the gate said no, 2 bad input, 3 a bug.",
    )
    parser.add_argument("--version", action="version", version=f"specops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run the lifecycle: ingest ... gate, register, deploy")
    run.add_argument("spec", help="the spec file")
    _spec_options(run)
    _common(run)

    validate = commands.add_parser("validate", help="check specs; list every problem")
    validate.add_argument("specs", nargs="+", metavar="SPEC", help="spec files")
    _spec_options(validate)
    _common(validate)

    plan = commands.add_parser("plan", help="show each step, its plugin and params; run nothing")
    plan.add_argument("spec", help="the spec file")
    _spec_options(plan)
    _common(plan)

    schema = commands.add_parser("schema", help="print the spec's JSON Schema with plugin params")
    schema.add_argument("--core", action="store_true", help="only the core schema, no plugins")
    _common(schema, json_flag=False)

    plugins = commands.add_parser("plugins", help="list plugins, their versions and components")
    _common(plugins)
    return parser


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    from framework.cli import commands

    return getattr(commands, f"cmd_{name}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        code = _command(args.command)(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except Exception as exc:
        from framework.cli.render import error_json, report_error

        if debug:
            import traceback

            traceback.print_exc()
        code = report_error(exc)
        if getattr(args, "json", False):
            import json

            print(json.dumps(error_json(exc, code), indent=2, default=str))
    sys.stdout.flush()
    return code


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
