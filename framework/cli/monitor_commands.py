"""``specops monitor``: read the batch, judge it, record it, act on it, show it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from framework.errors import UserError
from framework.file_kind import special_file_problem


def cmd_monitor(args: argparse.Namespace) -> int:
    if args.spec == "history":
        if not args.name:
            raise UserError(
                "monitor history needs the model's name: `specops monitor history NAME`"
            )
        return cmd_history(args)
    if args.name:
        raise UserError(
            f"unexpected argument '{args.name}': write `specops monitor SPEC --data FILE` "
            "or `specops monitor history NAME`"
        )
    report = Path(args.report) if args.report else None
    if report is not None:
        _check_report_target(report)  # before any work: a bad path must not cost a retraining
    from framework.cli.commands import plugins_for
    from framework.store import Store
    from framework.store.addressing import chosen, spec_address

    plugins = plugins_for(args)
    spec = _load(args, plugins)
    with chosen(args.store, args.artifacts):  # over SPECOPS_STORE and the spec's store:
        return _monitor(args, spec, plugins, Store.open_existing(spec_address(spec)), report)


def _monitor(args: argparse.Namespace, spec: Any, plugins: Any, store: Any, report: Any) -> int:
    """Judge the batch, record it, retrain when asked, and print the verdict."""
    from framework.monitoring.monitor import (
        apply_retrain,
        judge_batch,
        record,
        record_outcome,
        wants_retrain,
    )

    try:
        window = None
        with _executor_session(args, spec, plugins) as executor:
            batch = _batch(args, spec, store, executor)
            result = judge_batch(spec, plugins, store, batch, args.labels)
            if report is not None:
                result.report_path = str(report.absolute())
            record(store, result)
            if wants_retrain(result, args.retrain):
                window = _window(spec, plugins, batch)  # while the batch's cluster is up
        del batch  # a batch held on a cluster is released with its session
        if window is not None:  # the retraining run opens its executor's session itself
            apply_retrain(result, _retrain(spec, plugins, window, result.monitor_id, args))
        if result.retrain and result.retrain.run_id and store.run(result.retrain.run_id) is None:
            result.retrain.run_id = None  # the run never reached the store: nothing to link
        html = _write_report(result, report) if report is not None else None
        record_outcome(store, result, html)
    finally:
        store.close()
    if args.json:
        json.dump(result.to_dict(plot=False), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        from framework.cli.monitor_tables import print_monitor

        print_monitor(result)
    return result.exit_code


def _load(args: argparse.Namespace, plugins: Any) -> Any:
    """The spec, ``--execution TYPE`` and ``--address URL`` applied as ``--set
    execution.type=TYPE`` and ``--set execution.params.address=URL``: the batch is read
    there, and a retraining run trains there too."""
    from framework.spec import load_spec

    overrides = list(args.overrides)
    if args.execution:
        overrides.append(f"execution.type={args.execution}")
    spec = load_spec(args.spec, plugins, profile=args.profile, overrides=overrides)
    if not args.address:
        return spec
    if spec.execution.type == "local":
        raise UserError(
            "--address is the scheduler of a cluster: add --execution dask "
            "(or set execution: {type: dask} in the spec)"
        )
    overrides.append(f"execution.params.address={args.address}")
    return load_spec(args.spec, plugins, profile=args.profile, overrides=overrides)


@contextmanager
def _executor_session(args: argparse.Namespace, spec: Any, plugins: Any) -> Iterator[Any]:
    """The spec's executor (``execution:``, or ``--execution``) inside its session, to
    read ``--data``; None for local or a window of the log: the batch is read here, as
    always, with nothing started or imported."""
    if spec.execution.type == "local" or not args.data:
        yield None
        return
    from framework.execution import executor_for

    executor = executor_for(spec, plugins)
    with executor.session(_say):
        yield executor


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _batch(args: argparse.Namespace, spec: Any, store: Any, executor: Any) -> Any:
    from framework.monitoring.monitor import Batch

    if args.from_log and args.data:
        raise UserError("give either --data FILE or --from-log, not both")
    if args.from_log:
        from framework.cli.monitor import window_bound
        from framework.prediction_log import read_window

        since = window_bound(args.since, store, spec.name)
        until = window_bound(args.until, store, spec.name)
        frame = read_window(store, spec.name, since, until)
        window = f"prediction log of {spec.name} from {args.since or 'the start'}"
        return Batch(frame, f"{window} until {args.until or 'now'}")
    if args.since or args.until:
        raise UserError("--since and --until select a window of the log: add --from-log")
    if not args.data:
        raise UserError(
            "no new data: pass --data FILE (CSV or Parquet) or --from-log",
        )
    if executor is None:
        from framework.monitoring.batch_rows import read_local

        return read_local(Path(args.data))
    read = getattr(executor, "read_batch", None)
    if read is None:
        raise UserError(
            f"the {spec.execution.type} executor cannot read a batch to monitor; "
            "use --execution local"
        )
    return read(Path(args.data))


def _window(spec: Any, plugins: Any, batch: Any) -> Any:
    """The retraining window, or a RetrainOutcome saying why there is none."""
    from framework.monitoring.retrain import RetrainOutcome

    try:
        return batch.retraining_window(spec, plugins)
    except UserError as exc:
        return RetrainOutcome(None, "error", spec.monitor.retrain.data, note=str(exc))


def _retrain(spec: Any, plugins: Any, window: Any, monitor_id: str, args: argparse.Namespace):
    from framework.cli.progress import Progress
    from framework.monitoring.retrain import RetrainOutcome, retrain_window

    if isinstance(window, RetrainOutcome):
        return window
    progress = Progress(enabled=not args.json)
    plugins.register(progress, name="specops.progress")
    try:
        return retrain_window(spec, plugins, window, monitor_id)
    finally:
        plugins.unregister(progress)


REPORT_SUFFIXES = (".html", ".htm")


def _check_report_target(path: Path) -> None:
    """Refuse a report path that can never be written, or whose file is not a report.

    The report replaces what is at its path, so the path must be an HTML name and
    hold nothing but an earlier report: ``--report spec.yaml`` once replaced the
    user's spec with HTML. A FIFO would block the write forever.
    """
    if path.is_dir():
        raise UserError(f"cannot write the report to {path}: it is a directory")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"cannot write the report to {path}: {folder} is a file, not a directory")
    special = special_file_problem(path)
    if special is not None:
        raise UserError(f"cannot write the report to {path}: {special}")
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise UserError(
            f"cannot write the report to {path}: a report is an HTML file, its name must "
            "end in .html (nothing was written)"
        )
    if path.exists() and not _holds_html(path):
        raise UserError(
            f"cannot write the report to {path}: the file exists and is not an HTML page; "
            "a report replaces only an earlier report (nothing was written)"
        )


def _holds_html(path: Path) -> bool:
    """Whether the file starts as an HTML page does (an earlier report), or is empty."""
    try:
        with path.open("rb") as handle:
            head = handle.read(512).lstrip().lower()
    except OSError:
        return False
    return not head or head.startswith((b"<!doctype html", b"<html"))


def _write_report(result: Any, path: Path) -> str:
    """Write the report whole or not at all: a temporary file renamed into place (a
    symbolic link at the path is replaced, never written through)."""
    import os
    import tempfile

    from framework.monitoring.report_html import render

    html = render(result)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as handle:
            temporary = Path(handle.name)
            handle.write(html)
        umask = os.umask(0)
        os.umask(umask)
        temporary.chmod(0o666 & ~umask)  # as an ordinary write would, not the temp file's 0600
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
    return html


def cmd_history(args: argparse.Namespace) -> int:
    from framework.monitoring.history import history
    from framework.refs import store_address
    from framework.store import Store

    where = store_address(args.store, getattr(args, "artifacts", None))
    store = Store.open_existing(where, write=False)  # works read-only
    try:
        report = history(store, args.name, args.limit)
    finally:
        store.close()
    if args.json:
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        from framework.cli.monitor_tables import print_history

        print_history(report)
    return 0
