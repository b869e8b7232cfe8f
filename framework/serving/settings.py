"""What a server was asked to do, in one value that can cross into worker processes.

With ``--workers N`` uvicorn starts each worker as a fresh process that builds
its own app; the settings reach it as JSON in an environment variable. The
bearer token never goes into that JSON (nor onto a command line): it travels
in ``SPECOPS_SERVE_TOKEN``, which worker processes inherit.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from typing import Any

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
    DEFAULT_RETRY_MIN_SECONDS,
    TOKEN_ENV,
)

SETTINGS_ENV = "SPECOPS_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeSettings:
    """One server: what it serves, where it listens, and its limits."""

    ref: str | None = None
    package: str | None = None
    store: str | None = None
    """``--store`` as given: a directory or a shared store's URL (None: $SPECOPS_STORE,
    else the nearest .specops). Worker processes resolve it again themselves."""
    artifacts: str | None = None
    follow: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    poll_seconds: float = DEFAULT_POLL_SECONDS
    request_log: bool = True
    log_max_rows: int | None = None
    log_max_bytes: int | None = None
    fast_path: bool = True
    runtime: str | None = None
    """``--runtime``: auto, native or a runtime's name; None: each version's own
    ``serve.runtime`` (auto when its spec did not say)."""
    strict_columns: bool = False
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    retry_min_seconds: float = DEFAULT_RETRY_MIN_SECONDS
    retry_max_seconds: float = DEFAULT_RETRY_MAX_SECONDS

    def to_env(self) -> str:
        data = asdict(self)
        data.pop("token")
        return json.dumps(data)

    @classmethod
    def from_env(cls) -> ServeSettings:
        data: dict[str, Any] = json.loads(os.environ[SETTINGS_ENV])
        return cls(**data, token=os.environ.get(TOKEN_ENV) or None)

    def with_port(self, port: int) -> ServeSettings:
        return replace(self, port=port)
