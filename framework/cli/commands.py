"""The commands: load what each needs, do it, hand the result to the renderers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from framework.cli.render import print_problems
from framework.errors import SpecError
from framework.plugins import Plugins, get_plugins


def plugins_for(args: argparse.Namespace) -> Plugins:
    """The loaded plugins; with ``--debug``, every hook call is printed as well."""
    plugins = get_plugins()
    if getattr(args, "debug", False):
        plugins.trace()
    return plugins


def _load(args: argparse.Namespace, path: str, plugins: Plugins) -> Any:
    from framework.spec import load_spec

    return load_spec(path, plugins, profile=args.profile, overrides=args.overrides)


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def cmd_validate(args: argparse.Namespace) -> int:
    plugins = plugins_for(args)
    report: list[dict[str, Any]] = []
    for path in args.specs:
        try:
            spec = _load(args, path, plugins)
        except SpecError as exc:
            report.append(
                {"spec": path, "valid": False, "problems": [p.to_dict() for p in exc.problems]}
            )
            if not args.json:
                print_problems(exc.problems)
            continue
        report.append({"spec": path, "valid": True, "name": spec.name, "task": spec.task})
        if not args.json:
            print(f"ok: {path} ({spec.name}, {spec.task}, model {spec.model.type})")
    if args.json:
        _print_json(report)
    return 0 if all(r["valid"] for r in report) else 2


def cmd_plan(args: argparse.Namespace) -> int:
    from framework.execution import DEFAULT as DEFAULT_EXECUTION
    from framework.plan import (
        execution_lines,
        make_plan,
        metrics_for,
        planned_execution,
        planned_runtimes,
    )

    plugins = plugins_for(args)
    spec = _load(args, args.spec, plugins)
    steps = make_plan(spec, plugins)
    metrics = metrics_for(spec, plugins)
    execution = planned_execution(spec, plugins)
    where = execution_lines(spec, plugins)
    runtime = planned_runtimes(spec, plugins)
    data, data_error, data_note = None, None, None
    if not args.no_data and spec.execution.type != DEFAULT_EXECUTION:
        # the preview reads the whole table here, with pandas: what the executor avoids
        data_note = (
            f"columns not previewed: execution {spec.execution.type} reads the source on "
            "its workers, not in this process (execution: local previews them)"
        )
    elif not args.no_data:
        from framework.errors import UserError
        from framework.feature_preview import preview_data
        from framework.redact import scrub_text

        try:
            data = preview_data(spec, plugins)
        except UserError as exc:  # the plan is still worth showing; the exit code says no
            data_error = scrub_text(str(exc))
    if args.json:
        _print_json(
            {
                "spec": str(spec.path),
                "name": spec.name,
                "task": spec.task,
                "profile": spec.profile,
                "store": str(spec.store_path),
                "steps": [s.to_dict() for s in steps],
                "execution": {**execution.to_dict(), "describe": where},
                "metrics": metrics,
                "gate": [t.__dict__ for t in spec.gate],
                "runtime": runtime,
                "data": data.to_dict() if data else _data_problem(data_note, data_error),
            }
        )
        return 2 if data_error else 0
    from framework.cli.tables import print_plan

    print_plan(spec, steps, metrics, data, runtime)
    _print_execution(execution, where)
    if data_note:
        print(data_note)
    if data_error:
        print(f"error: cannot read the source to show its columns: {data_error}", file=sys.stderr)
        print("  (plan --no-data shows the plan without reading the source)", file=sys.stderr)
        return 2
    return 0


def _data_problem(note: str | None, error: str | None) -> dict[str, Any]:
    """``plan --json``'s ``data`` when no columns are shown: why not."""
    return {"not_read": note} if note else {"error": error}


def _print_execution(execution: Any, where: list[str]) -> None:
    """``execution  dask  (plugin dask_execution 0.1.0)  n_workers=2``, then the executor's
    own lines (cluster, partitions), under the plan's table."""
    from rich.console import Console
    from rich.markup import escape

    from framework.redact import redact

    params = ", ".join(f"{k}={redact(str(v))}" for k, v in execution.params.items())
    console = Console(highlight=False)
    console.print(
        f"[bold]execution[/] {escape(execution.type)} [dim](plugin {escape(execution.plugin)} "
        f"{escape(execution.version)})[/]" + (f"  {escape(params)}" if params else ""),
        soft_wrap=True,
    )
    for line in where:
        console.print(f"  {escape(line)}", soft_wrap=True)


def _say(text: str) -> None:
    """What an executor says during a run (a cluster's dashboard): a line on stderr."""
    from rich.console import Console
    from rich.markup import escape

    from framework.redact import scrub_text

    Console(stderr=True, highlight=False).print(escape(scrub_text(text)), soft_wrap=True)


def cmd_run(args: argparse.Namespace) -> int:
    from framework.store.addressing import chosen

    with chosen(args.store, args.artifacts):  # over SPECOPS_STORE and the spec's store:
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from framework.engine import Engine

    plugins = plugins_for(args)
    spec = _load(args, args.spec, plugins)
    from framework.cli.progress import Progress

    progress = Progress(enabled=not args.json)
    plugins.register(progress, name="specops.progress")
    try:
        result = Engine(spec, plugins, say=_say).run()
    finally:
        plugins.unregister(progress)
    if args.json:
        from framework.cli.tables import run_json

        _print_json(run_json(result))
    else:
        from framework.cli.tables import print_run

        print_run(spec, result)
    return result.exit_code


def cmd_schema(args: argparse.Namespace) -> int:
    from framework.spec.schema import composed_schema, core_schema

    schema = core_schema() if args.core else composed_schema(plugins_for(args).registry)
    _print_json(schema)
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    plugins = plugins_for(args)
    registry = plugins.registry
    if args.json:
        _print_json(
            {
                "plugins": [
                    {
                        "name": info.name,
                        "dist": info.dist,
                        "version": info.version,
                        "builtin": info.builtin,
                        "components": [
                            {"kind": e.kind, "type": e.type_name, "summary": e.summary}
                            for e in entries
                        ],
                        "lifecycle_hooks": plugins.observes(info.name),
                    }
                    for info, entries in registry.by_plugin()
                ],
                "broken": [b.__dict__ for b in registry.broken],
                "conflicts": registry.conflicts(),
            }
        )
        return 0
    from framework.cli.tables import print_plugins

    print_plugins(registry, {info.name: plugins.observes(info.name) for info in registry.plugins})
    return 0
