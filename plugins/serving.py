"""The ``http`` deploy target: promote the new version and serve it over HTTP.

``deploy: {type: http, params: {port: 8080}}`` is a one-key swap from
``deploy: {type: registry}``: it moves the same alias (``champion`` by default)
and, in addition, makes sure a ``specops serve`` process answers with the new
version. The alias moves when every deploy target of the run has succeeded, so:

* no server for this model on that port yet: one is started in the background
  (detached from the run) on ``NAME/VERSION``, following the alias from then on;
* a server started by an earlier run is there and follows the same alias: it is
  left running and switches to the new version when the alias moves, without a
  restart and without dropping a request (the hot swap).

The run's output gives the address, the PID and the log file;
``specops serve --status`` and ``--stop`` manage the server afterwards.

Each version is served by the runtime its own spec's ``serve.runtime`` asked for (recorded
in the version at registration; the fastest verified one for single rows under ``auto``),
so the server is started without ``--runtime``: a later run whose spec says otherwise is
followed with its own choice, where a runtime pinned on the command line would outlive
the spec that chose it. ``/version`` says which runtime answers and why the others do not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from framework import DeployOutcome, Finding, Register, Release, StepContext, UserError, hookimpl
from framework.serving.defaults import DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT

HTTP_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "host": {
            "description": "Address to listen on; 0.0.0.0 exposes the server to the network.",
            "type": "string",
            "minLength": 1,
            "default": DEFAULT_HOST,
        },
        "port": {
            "description": "Port to listen on; 0 picks a free one (printed in the run output).",
            "type": "integer",
            "minimum": 0,
            "maximum": 65535,
            "default": DEFAULT_PORT,
        },
        "workers": {
            "description": "Server processes; each loads its own copy of the model.",
            "type": "integer",
            "minimum": 1,
            "maximum": 64,
            "default": 1,
        },
        "alias": {
            "description": "The alias to promote the new version to, and that the server follows.",
            "type": "string",
            "pattern": "^[a-z][a-z0-9_-]*$",
            "default": "champion",
        },
        "token_env": {
            "description": "Environment variable holding a bearer token clients must send.",
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
        },
        "max_body_bytes": {
            "description": "Larger request bodies are refused with 413.",
            "type": "integer",
            "minimum": 1024,
            "maximum": 1 << 30,
            "default": DEFAULT_MAX_BODY_BYTES,
        },
        "request_log": {
            "description": "Append each request and its predictions to the store's prediction log.",
            "type": "boolean",
            "default": True,
        },
    },
}


@dataclass
class HttpTarget:
    """Promote the new version and serve it with ``specops serve`` in the background."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    alias: str = "champion"
    token_env: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    request_log: bool = True

    def validate(self, ctx: StepContext) -> list[Finding]:
        """A missing token variable stops the run before training, not after it."""
        if self.token_env and not os.environ.get(self.token_env):
            return [
                Finding(
                    f"environment variable {self.token_env} (the server's bearer token) is not set",
                    key="token_env",
                    hint=f"export {self.token_env}=... before the run",
                )
            ]
        return []

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome:
        from framework.serving import daemon
        from framework.serving.settings import ServeSettings

        if release.store_root is None:
            raise UserError("the http deploy target needs the run's store")
        token = None
        if self.token_env:
            token = os.environ.get(self.token_env)
            if not token:
                raise UserError(
                    f"deploy.params.token_env names ${self.token_env}, which is not set; "
                    "export it (the server requires that bearer token from clients)"
                )
        release.set_alias(self.alias, "gate passed")
        root = release.store_root
        if self.port:
            for record in daemon.records(root):
                if record.port != self.port or record.model != release.name:
                    continue
                if record.follows != self.alias:
                    raise UserError(
                        f"port {self.port} is taken by a specops server of {record.model} "
                        f"that does not follow @{self.alias} (pid {record.pid}); stop it with "
                        f"`specops serve --stop {record.model} --store {root}`"
                    )
                return DeployOutcome(
                    f"server at {record.url} (pid {record.pid}, log {record.log}) follows "
                    f"{release.name}@{self.alias}: it switches to version {release.version} "
                    "when the alias moves at the end of this run",
                    location=record.url,
                )
        settings = ServeSettings(
            ref=f"{release.name}/{release.version}",
            store=str(root),
            follow=self.alias,
            host=self.host,
            port=self.port,
            workers=self.workers,
            token=token,
            max_body_bytes=self.max_body_bytes,
            request_log=self.request_log,
        )
        record = daemon.start_background(settings, root, release.name)
        return DeployOutcome(
            f"serving {release.name}/{release.version} at {record.url} "
            f"(pid {record.pid}, log {record.log}); follows {release.name}@{self.alias}",
            location=record.url,
        )


@hookimpl
def specops_register_deploy_targets(register: Register) -> None:
    register(
        "http",
        HttpTarget,
        HTTP_PARAMS,
        summary="Promote to an alias and serve it over HTTP (MLflow and Open Inference protocols)",
    )
