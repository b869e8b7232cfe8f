"""Parsers of the lifecycle commands: run, validate, plan, schema, plugins."""

from __future__ import annotations

import argparse

from framework.cli.options import common, handler, spec_options, store_option

COMMANDS = "framework.cli.commands"


def add_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run the lifecycle: ingest ... gate, register, deploy")
    run.add_argument("spec", help="the spec file")
    spec_options(run)
    store_option(run)
    common(run)
    handler(run, f"{COMMANDS}:cmd_run")

    validate = commands.add_parser("validate", help="check specs; list every problem")
    validate.add_argument("specs", nargs="+", metavar="SPEC", help="spec files")
    spec_options(validate)
    common(validate)
    handler(validate, f"{COMMANDS}:cmd_validate")

    plan = commands.add_parser("plan", help="show each step, its plugin and params; run nothing")
    plan.add_argument("spec", help="the spec file")
    plan.add_argument(
        "--no-data",
        action="store_true",
        help="do not read the source (by default plan reads it to show each column's role)",
    )
    spec_options(plan)
    common(plan)
    handler(plan, f"{COMMANDS}:cmd_plan")

    schema = commands.add_parser("schema", help="print the spec's JSON Schema with plugin params")
    schema.add_argument("--core", action="store_true", help="only the core schema, no plugins")
    common(schema, json_flag=False)
    handler(schema, f"{COMMANDS}:cmd_schema")

    plugins = commands.add_parser("plugins", help="list plugins, their versions and components")
    common(plugins)
    handler(plugins, f"{COMMANDS}:cmd_plugins")
