"""``specops ui``: a local web dashboard over the store the other commands use.

Only the parser lives here (``specops --help`` stays fast); uvicorn and the pages
are imported when the command runs. See docs/ui.md.
"""

from __future__ import annotations

import argparse

from framework.cli.options import common, handler, port_number, store_option

DEFAULT_UI_PORT = 8765
UI_TOKEN_ENV = "SPECOPS_UI_TOKEN"

DESCRIPTION = """\
Serve a web UI over the store: models and their versions, runs and their steps,
lineage, drift over time, a spec's plan. Read-only unless --allow-writes (then
promote and rollback are buttons, recorded in the alias history like the CLI's).
Listens on 127.0.0.1 by default; bound to any other address it needs a token
(--token or $SPECOPS_UI_TOKEN, else $SPECOPS_SERVE_TOKEN): open the printed address
with ?token=TOKEN once, or send 'Authorization: Bearer TOKEN'.
"""


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ui",
        help="a local web UI: models, runs, lineage, drift (read-only by default)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_UI_PORT,
        help=f"port (default {DEFAULT_UI_PORT}; 0 picks a free one and prints it)",
    )
    store_option(parser)
    parser.add_argument(
        "--token",
        default=None,
        metavar="T",
        help=f"require this token (default: ${UI_TOKEN_ENV}, else $SPECOPS_SERVE_TOKEN; "
        "needed when --host is not a loopback address)",
    )
    parser.add_argument(
        "--allow-writes",
        action="store_true",
        help="allow promote and rollback from the UI (each recorded in the alias history)",
    )
    common(parser, json_flag=False)
    handler(parser, "framework.cli.ui:cmd_ui")


def cmd_ui(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from framework.errors import UserError
    from framework.serving.command import validated_token
    from framework.serving.server import require_serve_extra
    from framework.ui.app import LOOPBACK, UiSettings
    from framework.ui.queries import open_store
    from framework.ui.server import serve

    require_serve_extra()
    given = args.token if args.token is not None else os.environ.get(UI_TOKEN_ENV) or None
    token = validated_token(given)
    if args.host not in LOOPBACK and not token:
        raise UserError(
            f"--host {args.host} lets other machines reach the UI: give a token "
            f"(--token or ${UI_TOKEN_ENV}), or listen on 127.0.0.1"
        )
    # the store must exist before the server claims to serve it: say so now, exit 2
    open_store(args.store, args.artifacts).close()
    settings = UiSettings(
        store=args.store,
        artifacts=args.artifacts,
        host=args.host,
        port=args.port,
        token=token,
        allow_writes=args.allow_writes,
        root=Path.cwd(),
    )
    return serve(settings)
