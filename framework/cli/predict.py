"""``specops predict``: score a CSV or Parquet file with a stored model version.

``--execution dask`` (``--address`` for an existing scheduler) hands the scoring to the
executor registered under that name (``framework.execution.build_executor``): it runs
inside the executor's session and writes a partitioned Parquet directory. Without it,
the file is scored here, chunk by chunk, as always.

The parser is built on every start, so this module imports nothing heavy; the
handler loads pandas, pyarrow and the model only when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from framework.cli.options import common, handler, positive_int, store_option


def add_commands(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict",
        help="score CSV or Parquet files with a stored model version",
        description="Score every row of a CSV or Parquet file (or a directory of Parquet "
        "files) with a stored model version, in chunks, and write the predictions to a "
        "CSV or Parquet file (by extension). The input may also be a glob of CSV or "
        "Parquet files (quote it: 'data/*.csv'). With --execution dask the pieces are scored "
        "in parallel on a Dask cluster into a directory of Parquet parts. The output is "
        "written in full or not at all.",
    )
    predict.add_argument("ref", metavar="REF", help="NAME (its champion), NAME@ALIAS or NAME/N")
    predict.add_argument(
        "--input",
        "-i",
        required=True,
        metavar="PATH",
        help="rows to score: a CSV or Parquet file, a directory of Parquet files, or a quoted "
        "glob of either",
    )
    predict.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="PATH",
        help="where to write: a .csv or .parquet file (with --execution dask: a directory of "
        "Parquet parts)",
    )
    predict.add_argument(
        "--id-column", metavar="COL", help="a column to copy to the output, to join on later"
    )
    predict.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=None,
        metavar="N",
        help="rows scored at a time; bounds memory (default 100000)",
    )
    predict.add_argument(
        "--strict-columns",
        action="store_true",
        help="refuse (exit 2) an input with columns the model does not take, instead of "
        "ignoring them (the --id-column is always allowed)",
    )
    predict.add_argument(
        "--execution",
        metavar="TYPE",
        default=None,
        help="where to score: local (default, this process) or dask (a cluster; the output "
        "is then a directory of Parquet parts)",
    )
    predict.add_argument(
        "--address",
        metavar="URL",
        default=None,
        help="with --execution dask: the scheduler of an existing cluster (tcp://HOST:8786); "
        "without it a LocalCluster is started for the run",
    )
    predict.add_argument(
        "--runtime",
        metavar="NAME",
        default=None,
        help="what computes the predictions: auto (the verified runtime with the most rows/s), "
        "native (the stored pipeline as trained) or a runtime's name (onnx, treelite, ...); "
        "default: the version's serve.runtime (auto when its spec did not say). A runtime "
        "that cannot load here falls back to native, and the output says so",
    )
    store_option(predict)
    common(predict)
    handler(predict, "framework.cli.predict:cmd_predict")


def cmd_predict(args: argparse.Namespace) -> int:
    from framework.cli.commands import plugins_for
    from framework.package import ModelPackage
    from framework.refs import resolve, store_root
    from framework.scoring import DEFAULT_CHUNK_ROWS, score_file
    from framework.scoring.memory import steady_memory_pool
    from framework.serving.runtime_scoring import batch_scorer
    from framework.store import Store

    plugins = plugins_for(args)
    if args.runtime is not None:
        from framework.runtimes.lookup import require_known

        require_known(args.runtime, plugins)  # before anything is read: a typo exits 2
    store = Store.open_existing(store_root(args.store), write=False)  # works read-only
    try:
        version = resolve(store, args.ref)
        # lazy: the model and transform are built only if something scores with them; a
        # compiled runtime that needs neither spares the imports (LightGBM pulls in
        # scikit-learn and scipy: ~0.7 s of CPU)
        package = ModelPackage.from_store(store, version, plugins, lazy=True)
        warnings = version_warnings(store, version)
    finally:
        store.close()
    executor = _executor(args, plugins)
    chosen: dict[str, Any] = {"runtime": "native", "not_used": {}}
    if executor is not None and args.runtime not in (None, "auto", "native"):
        # a compiled form does not travel to the workers: they score natively
        warnings.append(
            f"--runtime {args.runtime}: --execution {args.execution} workers score with "
            "the native runtime"
        )
        warnings.append(not_used_warning(args.runtime, {}))
    for warning in warnings:  # before scoring: a long run should not hide it to the end
        print(f"warning: {warning}", file=sys.stderr)

    def load_scorer() -> Any:
        """The runtime, loaded while the first chunk is read (score_file calls it)."""
        scorer, runtime, not_used = batch_scorer(package, args.runtime, plugins)
        chosen.update(runtime=runtime, not_used=not_used)
        if args.runtime not in (None, "auto") and runtime != args.runtime:
            warnings.append(not_used_warning(args.runtime, not_used))
            print(f"warning: {warnings[-1]}", file=sys.stderr)  # before any row is scored
        return scorer

    with terminal_progress(enabled=not args.json) as progress:
        options = {
            "id_column": args.id_column,
            "chunk_rows": args.chunk_rows or DEFAULT_CHUNK_ROWS,
            "progress": progress,
            "strict_columns": args.strict_columns,
            "store": store_root(args.store),  # the output may not go in it
        }
        if executor is None:
            with steady_memory_pool():  # this process reads the whole file: see its docstring
                result = score_file(
                    package, args.input, args.output, load_scorer=load_scorer, **options
                )
        else:
            with executor.session(_say):
                result = executor.score(package, Path(args.input), Path(args.output), **options)
    runtime, not_used = chosen["runtime"], chosen["not_used"]
    if args.json:
        report = {
            "status": "ok",
            "model": version.ref,
            "runtime": runtime,
            "runtimes_not_used": not_used,
            **result.to_dict(),
            "warnings": warnings,
        }
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    ignored = f"; ignored columns: {', '.join(result.ignored_columns)}"
    print(
        f"scored {result.rows:,} rows with {version.ref} ({runtime} runtime) in "
        f"{result.seconds:.2f} s "
        f"({result.rows_per_second:,.0f} rows/s) -> {result.output}"
        + (ignored if result.ignored_columns else "")
    )
    if result.unseen_categories:
        counts = "; ".join(
            f"{name} {unseen.count:,} (e.g. {', '.join(map(repr, unseen.examples))})"
            for name, unseen in result.unseen_categories.items()
        )
        print(f"unseen categories, scored as missing: {counts}")
    return 0


def not_used_warning(requested: str, not_used: dict[str, str]) -> str:
    """The warning for a ``--runtime`` that does not score: why, and what does instead."""
    why = not_used.get(requested, "not available")
    return f"the {requested} runtime is not used: {why}; scoring with native"


def _executor(args: argparse.Namespace, plugins: Any) -> Any:
    """The executor ``--execution`` names, or None to score here (the default, ``local``:
    the file path as it always was, with nothing built or imported)."""
    from framework.errors import UserError

    if args.execution in (None, "local"):
        if args.address:
            raise UserError("--address is the scheduler of a cluster: add --execution dask")
        return None
    from framework.execution import build_executor

    params = {"address": args.address} if args.address else {}
    return build_executor(plugins, args.execution, params)


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def version_warnings(store: Any, version: Any) -> list[str]:
    """What a user scoring with this version should know: it was rejected, and why."""
    if version.status != "rejected":
        return []
    why = next((step.detail for step in store.steps(version.run_id) if step.name == "gate"), "")
    reason = f" ({why})" if why else ""
    return [
        f"{version.ref} was rejected by the gate of run {version.run_id}{reason}; "
        "it is scored anyway, as asked"
    ]


@contextmanager
def terminal_progress(enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr, only when stderr is a terminal; else no callback."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scoring", total=None)

        def update(rows: int, total: int | None) -> None:
            bar.update(task, completed=rows, total=total)

        yield update
