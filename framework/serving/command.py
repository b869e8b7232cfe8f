"""``specops serve``: serve in the foreground, start in the background, list or stop servers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from framework.errors import UserError
from framework.serving.defaults import DEFAULT_RETRY_MIN_SECONDS
from framework.serving.settings import DEFAULT_PORT, TOKEN_ENV, ServeSettings


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """The server's settings; REF or --package must say what to serve."""
    if args.package and args.ref:
        raise UserError("give REF or --package DIR, not both")
    if not args.package and not args.ref:
        raise UserError(
            "say what to serve: REF (NAME, NAME@ALIAS or NAME/VERSION) or --package DIR"
        )
    if args.follow and args.package:
        raise UserError("--follow needs a store: a package is one fixed version")
    runtime = getattr(args, "runtime", None)
    if not args.fast_path and runtime not in (None, "native"):
        raise UserError(
            f"--no-fast-path scores every request through pandas: it cannot go with "
            f"--runtime {runtime}"
        )
    return ServeSettings(
        ref=args.ref,
        package=str(Path(args.package).expanduser().resolve()) if args.package else None,
        store=args.store,
        artifacts=getattr(args, "artifacts", None),
        follow=args.follow,
        host=args.host,
        port=DEFAULT_PORT if args.port is None else args.port,
        workers=args.workers,
        token=validated_token(args.token),
        max_body_bytes=args.max_body_bytes,
        poll_seconds=args.poll_ms / 1000,
        request_log=args.request_log,
        log_max_rows=args.log_max_rows,
        log_max_bytes=args.log_max_bytes,
        fast_path=args.fast_path,
        runtime=runtime,
        strict_columns=args.strict_columns,
        max_header_bytes=args.max_header_bytes,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        max_connections=args.max_connections,
        retry_min_seconds=min(DEFAULT_RETRY_MIN_SECONDS, args.retry_max),
        retry_max_seconds=args.retry_max,
    )


def validated_token(given: str | None) -> str | None:
    """The bearer token: ``--token``, else ``$SPECOPS_SERVE_TOKEN`` (unset or empty: none).

    An empty ``--token`` is refused rather than read as "no token" (``--token "$UNSET"``
    served without one, silently), and so is a token no client can send back: spaces
    around it (the server strips them from the header), control or non-ASCII characters.
    """
    if given is not None and not given:
        raise UserError(
            "--token is empty (an unset variable?); give the token, or leave --token out "
            "to serve without one"
        )
    token = given if given is not None else os.environ.get(TOKEN_ENV) or None
    if token is not None and not (
        token == token.strip() and token.isascii() and token.isprintable()
    ):
        where = "--token" if given is not None else TOKEN_ENV
        raise UserError(
            f"{where} has spaces around it or characters a client cannot send in an "
            "'Authorization: Bearer' header; use printable ASCII"
        )
    return token


def cmd_serve(args: argparse.Namespace) -> int:
    if args.status:
        return _status(args)
    if args.stop:
        return _stop(args)
    from framework.serving import server

    server.require_serve_extra()
    settings = settings_from_args(args)
    if settings.runtime is not None:
        from framework.plugins import get_plugins
        from framework.runtimes.lookup import require_known

        require_known(settings.runtime, get_plugins())  # a typo exits 2 here, not in a log
    if args.detach:
        return _detach(args, settings)
    return server.run(settings, log_file=args.log_file)


def _store(args: argparse.Namespace) -> Path:
    from framework.refs import store_root

    return store_root(args.store, getattr(args, "artifacts", None))


def _detach(args: argparse.Namespace, settings: ServeSettings) -> int:
    from framework.refs import parse_ref
    from framework.serving import daemon
    from framework.serving.server import store_root_of

    root = store_root_of(settings)
    if root is None:
        raise UserError("--detach needs a store for its PID file: add --store DIR")
    if settings.ref is not None:
        _check_ref(root, settings.ref)
        name = parse_ref(settings.ref).name
    else:
        name = Path(settings.package or "model").name
    record = daemon.start_background(settings, root, name)
    return _print_started(args, record)


def _check_ref(root: Path, ref: str) -> None:
    """Resolve REF here first, so a typo is reported at once, not in a log file."""
    from framework.refs import resolve
    from framework.store import Store

    store = Store.open_existing(root, write=False)
    try:
        resolve(store, ref)
    finally:
        store.close()


def _print_started(args: argparse.Namespace, record: Any) -> int:
    from dataclasses import asdict

    if args.json:
        print(json.dumps({"status": "started", **asdict(record)}, indent=2))
        return 0
    from framework.redact import hide_credentials

    follows = f", follows {record.model}@{record.follows}" if record.follows else ""
    print(
        f"serving {record.model}/{record.version}{follows} at {record.url}\n"
        f"  pid {record.pid}, log {record.log}\n"
        f"  stop with: specops serve --stop {record.model}"
        + (f" --store {hide_credentials(args.store)}" if args.store else "")
    )
    return 0


def _selected(args: argparse.Namespace, root: Path) -> list[Any]:
    from framework.refs import parse_ref
    from framework.serving import daemon

    found = daemon.records(root)
    if args.ref:
        name = parse_ref(args.ref).name
        found = [r for r in found if r.model == name]
    if args.port is not None:
        found = [r for r in found if r.port == args.port]
    return found


def _status(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from framework.serving import daemon

    root = _store(args)
    found = _selected(args, root)
    rows = []
    for record in found:
        state = daemon.current_state(record)
        rows.append(
            {
                **asdict(record),
                "serving_version": state.get("version"),
                "runtime": state.get("runtime"),
                "stale": state.get("stale"),
            }
        )
    if args.json:
        print(json.dumps({"servers": rows}, indent=2))
        return 0
    if not rows:
        print(f"no specops servers running on {root}")
        return 0
    for row in rows:
        follows = f" (follows {row['model']}@{row['follows']})" if row["follows"] else ""
        answering = row["serving_version"]
        print(
            f"{row['model']}/{answering if answering is not None else row['version']}{follows}"
            f"  {row['url']}  pid {row['pid']}  workers {row['workers']}"
            f"  since {row['started_at']}  log {row['log'] or '-'}"
            + (f"  runtime {row['runtime']}" if row["runtime"] else "")
        )
        if row["stale"]:
            print(f"  stale: {row['stale']}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from framework.serving import daemon

    root = _store(args)
    found = _selected(args, root)
    stopped = [r for r in found if daemon.stop(r, root)]
    failed = [r for r in found if r not in stopped]
    if args.json:
        print(
            json.dumps(
                {
                    "stopped": [asdict(r) for r in stopped],
                    "failed": [asdict(r) for r in failed],
                },
                indent=2,
            )
        )
    else:
        if not found:
            print(f"no specops servers to stop on {root}")
        for record in stopped:
            print(f"stopped {record.model} at {record.url} (pid {record.pid})")
        for record in failed:
            print(f"could not stop pid {record.pid} ({record.url})", file=sys.stderr)
    return 0 if not failed else 2
