"""Parser of ``specops serve``: an HTTP prediction server for a stored version or a package.

Nothing heavy is imported here (``framework.serving.defaults`` is constants only); the
handler lives in ``framework.serving.command``.
"""

from __future__ import annotations

import argparse

from framework.cli.options import common, handler, port_number, positive_int, store_option
from framework.serving.defaults import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_POLL_SECONDS,
    DEFAULT_PORT,
    DEFAULT_RETRY_MAX_SECONDS,
)

DESCRIPTION = """\
Serve a model over HTTP with two protocols existing clients speak: MLflow's
scoring protocol (POST /invocations) and the Open Inference Protocol / KServe V2
(POST /v2/models/NAME/infer). REF is NAME (follows its champion), NAME@ALIAS
(follows that alias) or NAME/VERSION (pinned). A server that follows an alias
switches to the new version when the alias moves, without a restart. On a shared
store (--store postgresql://... or SPECOPS_STORE) servers on every machine follow
the same alias, log to the same prediction log, and keep serving their version
while the store cannot be reached (/version says so). Listens on 127.0.0.1 unless
--host says otherwise. See docs/serving.md.
"""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"expected seconds, more than 0, got {text!r}")
    return value


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve a model over HTTP (MLflow and Open Inference protocols)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "ref", nargs="?", metavar="REF", help="NAME (its champion), NAME@ALIAS or NAME/VERSION"
    )
    serve.add_argument(
        "--package", metavar="DIR", help="serve an exported model package instead of a store"
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port",
        type=port_number,
        default=None,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one); "
        "with --status/--stop: only that port",
    )
    serve.add_argument(
        "--workers", type=positive_int, default=1, metavar="N", help="worker processes (default 1)"
    )
    serve.add_argument(
        "--token",
        default=None,
        metavar="T",
        help="require 'Authorization: Bearer T' (default: $SPECOPS_SERVE_TOKEN; none if unset)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help=f"refuse larger bodies with 413 (default {DEFAULT_MAX_BODY_BYTES // 2**20} MiB)",
    )
    serve.add_argument(
        "--max-header-bytes",
        type=positive_int,
        default=DEFAULT_MAX_HEADER_BYTES,
        metavar="N",
        help="refuse a longer request line plus headers with 431 "
        f"(default {DEFAULT_MAX_HEADER_BYTES // 2**10} KiB)",
    )
    serve.add_argument(
        "--header-timeout",
        type=_seconds,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="S",
        help="close a connection whose request line and headers take longer (408; "
        "default %(default)s)",
    )
    serve.add_argument(
        "--body-timeout",
        type=_seconds,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="S",
        help="close a connection whose body takes longer to arrive (408; default %(default)s)",
    )
    serve.add_argument(
        "--keep-alive-timeout",
        type=_seconds,
        default=DEFAULT_KEEP_ALIVE_TIMEOUT,
        metavar="S",
        help="close a connection idle this long between requests (default %(default)s)",
    )
    serve.add_argument(
        "--max-connections",
        type=positive_int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="open connections per worker; one more is answered 503 and closed "
        "(default %(default)s)",
    )
    serve.add_argument(
        "--retry-max",
        type=_seconds,
        default=DEFAULT_RETRY_MAX_SECONDS,
        metavar="S",
        help="longest wait between retries of a followed version that failed to load "
        "(retries start at 1 s and double; default %(default)s)",
    )
    serve.add_argument(
        "--follow",
        metavar="ALIAS",
        help="with NAME/VERSION: serve that version now, then follow ALIAS when it moves",
    )
    serve.add_argument(
        "--poll-ms",
        type=positive_int,
        default=round(DEFAULT_POLL_SECONDS * 1000),
        metavar="MS",
        help="how often to check whether the followed alias moved (default %(default)s)",
    )
    serve.add_argument(
        "--no-request-log",
        dest="request_log",
        action="store_false",
        help="do not append requests and predictions to the store's prediction log",
    )
    serve.add_argument(
        "--log-max-rows",
        type=positive_int,
        metavar="N",
        help="rows the prediction log keeps per model before dropping its oldest (1,000,000)",
    )
    serve.add_argument(
        "--log-max-bytes",
        type=positive_int,
        metavar="N",
        help="bytes the prediction log keeps per model before dropping its oldest (256 MiB)",
    )
    serve.add_argument(
        "--no-fast-path",
        dest="fast_path",
        action="store_false",
        help="always score through pandas (for comparison; same answers, slower)",
    )
    serve.add_argument(
        "--runtime",
        metavar="NAME",
        default=None,
        help="what computes the predictions: auto (the fastest verified runtime for single "
        "rows), native (the stored pipeline as trained) or a runtime's name (onnx, treelite, "
        "...); default: each version's serve.runtime (auto when its spec did not say). A "
        "runtime that cannot load here falls back to native: /version says which serves and "
        "why the others do not",
    )
    serve.add_argument(
        "--strict-columns",
        action="store_true",
        help="refuse (400) a request with columns the model does not take, instead of "
        "ignoring them and naming them in the specops-ignored-columns header",
    )
    serve.add_argument(
        "--detach",
        action="store_true",
        help="start in the background; print the address, PID and log file, and return",
    )
    serve.add_argument(
        "--status", action="store_true", help="list the servers running on the store"
    )
    serve.add_argument(
        "--stop",
        action="store_true",
        help="stop the servers of REF's model (every server of the store without REF)",
    )
    serve.add_argument("--log-file", help=argparse.SUPPRESS)
    store_option(serve)
    common(serve)
    handler(serve, "framework.serving.command:cmd_serve")
