"""Parser of ``specops monitor``: judge new data against the champion, and its history.

Two forms share one command, as users say them::

    specops monitor SPEC --data PATH [--labels COLUMN] [--report FILE.html] [--retrain]
                 [--execution dask [--address URL]]
    specops monitor history NAME [--store DIR]
"""

from __future__ import annotations

import argparse

from framework.cli.options import common, handler, positive_int, spec_options, store_option

COMMANDS = "framework.cli.monitor_commands"

DESCRIPTION = """\
Compare a batch of new data (CSV or Parquet, or a window of the serving prediction
log) with the champion's reference profile: a drift test per column (the one the
spec names, or chosen by column type and sample size, and the table says which and
why), the spec's monitor.checks, and performance when --labels names the label
column. With on_drift: retrain (or --retrain) a drift retrains on the spec's window,
gates the challenger against the champion and promotes it only if it passes.

`specops monitor history NAME` shows each column's statistic over past monitor runs.
"""

EPILOG = """\
exit codes: 0 no drift (or drift with on_drift: report, or a retrained challenger
promoted); 1 drift, a failed data check, an empty column or performance below its
threshold; 2 bad input (missing file or columns, changed dtypes, an empty batch,
unknown labels), with a message and the columns that could not be judged.
"""


SINCE_CHAMPION = "champion"
"""``--since champion``: the log from when the current champion was promoted, so a
scheduled monitor judges only what the model now serving answered (and does not retrain
again on traffic a retraining has already seen)."""

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _time(text: str) -> str:
    """An argparse type for a window bound: an ISO time, a duration back from now
    (``90m``, ``1h``, ``7d``) or ``champion``, once the prediction log can read it."""
    from framework.prediction_log import epoch_seconds

    if text == SINCE_CHAMPION or _duration_seconds(text) is not None:
        return text
    try:
        epoch_seconds(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected an ISO 8601 time such as 2024-07-01 or 2024-07-01T12:00:00Z, a "
            f"duration back from now such as 1h or 7d, or 'champion'; got {text!r}"
        ) from None
    return text


def _duration_seconds(text: str) -> float | None:
    """``1h`` -> 3600.0; None when ``text`` is not a duration."""
    number, unit = text[:-1], text[-1:]
    if unit not in DURATION_UNITS or not number.isdigit() or len(number) > 9:
        return None
    return float(number) * DURATION_UNITS[unit]


def window_bound(text: str | None, store: object, model_name: str) -> str | float | None:
    """What a ``--since``/``--until`` text means for the log: epoch seconds for a
    duration, the champion's promotion time for ``champion`` (None, the whole log, when
    the model has no champion yet), the ISO text itself otherwise."""
    import time

    if text is None:
        return None
    seconds = _duration_seconds(text)
    if seconds is not None:
        return time.time() - seconds
    if text == SINCE_CHAMPION:
        moves = store.alias_history(model_name, SINCE_CHAMPION)  # type: ignore[attr-defined]
        return moves[-1].at if moves else None
    return text


def add_commands(commands: argparse._SubParsersAction) -> None:
    monitor = commands.add_parser(
        "monitor",
        help="drift, data checks and performance of new data; retrain on drift",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="specops monitor SPEC (--data FILE | --from-log [--since T] [--until T])"
        " [options]\n       specops monitor history NAME [--store DIR] [--limit N] [--json]",
    )
    monitor.add_argument("spec", metavar="SPEC", help="the spec file (or the word 'history')")
    monitor.add_argument("name", nargs="?", metavar="NAME", help="with history: the model name")
    source = monitor.add_argument_group("new data")
    source.add_argument(
        "--data",
        metavar="PATH",
        help="the new batch: a .csv or .parquet file, a directory of Parquet files, or a "
        "glob of either (quote it: 'batch/*.csv')",
    )
    source.add_argument(
        "--from-log",
        action="store_true",
        help="read the batch from the serving prediction log instead of --data",
    )
    source.add_argument(
        "--since",
        type=_time,
        metavar="TIME",
        help="with --from-log: ISO time, a duration back from now (1h, 7d), or 'champion' "
        "(since the current champion was promoted), inclusive",
    )
    source.add_argument(
        "--until", type=_time, metavar="TIME", help="with --from-log: ISO time, exclusive"
    )
    monitor.add_argument(
        "--labels",
        metavar="COLUMN",
        help="the column holding true labels: score the champion against monitor.performance",
    )
    monitor.add_argument(
        "--report", metavar="FILE.html", help="write a self-contained HTML report with plots"
    )
    monitor.add_argument(
        "--retrain",
        action="store_true",
        help="retrain on drift even if the spec's on_drift is report or fail",
    )
    monitor.add_argument(
        "--limit", type=positive_int, default=20, metavar="N", help="with history: the last N runs"
    )
    monitor.add_argument(
        "--execution",
        metavar="TYPE",
        default=None,
        help="where to compute the batch's statistics: local (this process) or dask "
        "(default: the spec's execution)",
    )
    monitor.add_argument(
        "--address",
        metavar="URL",
        default=None,
        help="with dask: the scheduler of an existing cluster (tcp://HOST:8786)",
    )
    store_option(monitor)
    spec_options(monitor)
    common(monitor)
    handler(monitor, f"{COMMANDS}:cmd_monitor")
