"""The ``container`` deploy target: a Docker build context and Kubernetes manifests.

It writes, to ``path`` (replaced atomically, like the ``directory`` target)::

    Dockerfile          installs specops with its serve extra, copies the model,
                        runs `specops serve --package /opt/model` as a non-root user
    .dockerignore
    model/              the self-contained model package (+ release.json)
    specops-src/        specops' own source, when it runs from a source checkout
                        and no ``install`` requirement is given
    k8s/deployment.yaml a Deployment with liveness and readiness probes on
                        /v2/health/live and /v2/health/ready
    k8s/service.yaml    a ClusterIP Service in front of it

Nothing is built or applied: Docker and a cluster are the user's. The image
serves exactly the packaged version (it has no store to follow an alias in);
a new version means a new image, which is how container platforms roll out.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework import (
    DeployOutcome,
    Finding,
    Register,
    Release,
    StepContext,
    UserError,
    hookimpl,
    replace_directory,
    write_release_package,
)
from framework.serving.defaults import DEFAULT_PORT, TOKEN_ENV
from plugins.deploy import DirectoryTarget

MODEL_DIR = "/opt/model"
SOURCE_DIR = "specops-src"
SOURCE_PARTS = ("framework", "plugins", "schemas", "pyproject.toml", "README.md", "LICENSE")

CONTAINER_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": {
            "description": "Where to write the build context; relative to the spec.",
            "type": "string",
            "minLength": 1,
        },
        "image": {
            "description": "Image name the manifests use; default specops-NAME:VERSION.",
            "type": "string",
            "minLength": 1,
        },
        "port": {
            "description": "Port the server listens on inside the container.",
            "type": "integer",
            "minimum": 1,
            "maximum": 65535,
            "default": DEFAULT_PORT,
        },
        "workers": {
            "description": "Server processes per container.",
            "type": "integer",
            "minimum": 1,
            "maximum": 64,
            "default": 1,
        },
        "replicas": {
            "description": "Pods in the Deployment.",
            "type": "integer",
            "minimum": 1,
            "default": 1,
        },
        "base_image": {
            "description": "The Python image to build on.",
            "type": "string",
            "minLength": 1,
            "default": "python:3.11-slim",
        },
        "install": {
            "description": "pip requirement that installs specops (default: the bundled source, "
            "or specops[serve]==<this version>).",
            "type": "string",
            "minLength": 1,
        },
        "token_secret": {
            "description": "Kubernetes Secret (key 'token') holding a bearer token to require.",
            "type": "string",
            "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        },
    },
}


def dns_name(text: str) -> str:
    """A Kubernetes object name (RFC 1123 label) made from a model name."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name or "model")[:63].rstrip("-")


def specops_source() -> Path | None:
    """The source checkout specops runs from, if it does (an editable install)."""
    import framework

    root = Path(framework.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "specops"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


@dataclass
class ContainerTarget:
    """Write a Docker build context and Kubernetes manifests that serve the new version."""

    path: str
    image: str | None = None
    port: int = DEFAULT_PORT
    workers: int = 1
    replicas: int = 1
    base_image: str = "python:3.11-slim"
    install: str | None = None
    token_secret: str | None = None

    def validate(self, ctx: StepContext) -> list[Finding]:
        """``path`` must be writable as a directory: the ``directory`` target's check."""
        return DirectoryTarget(self.path).validate(ctx)

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome:
        target = ctx.path(self.path)
        image = self.image or f"specops-{dns_name(release.name)}:{release.version}"
        try:
            replace_directory(target, lambda staging: self._write(staging, release, image))
        except OSError as exc:
            raise UserError(f"cannot write the build context to {target}: {exc}") from exc
        return DeployOutcome(
            f"build context written to {target}: docker build -t {image} {target} && "
            f"kubectl apply -f {target / 'k8s'}",
            location=str(target),
        )

    def _write(self, context: Path, release: Release, image: str) -> None:
        import yaml

        write_release_package(release, context / "model")
        source = None if self.install else specops_source()
        if source is not None:
            _copy_source(source, context / SOURCE_DIR)
        (context / "Dockerfile").write_text(self.dockerfile(release, image, source is not None))
        (context / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\nk8s/\n")
        manifests = context / "k8s"
        manifests.mkdir()
        deployment, service = self.manifests(release, image)
        (manifests / "deployment.yaml").write_text(yaml.safe_dump(deployment, sort_keys=False))
        (manifests / "service.yaml").write_text(yaml.safe_dump(service, sort_keys=False))

    def dockerfile(self, release: Release, image: str, bundled_source: bool) -> str:
        from framework import __version__

        if bundled_source:
            install = (
                f"COPY {SOURCE_DIR}/ /opt/{SOURCE_DIR}/\n"
                f'RUN pip install --no-cache-dir "/opt/{SOURCE_DIR}[serve]"'
            )
        else:
            requirement = self.install or f"specops[serve]=={__version__}"
            install = f'RUN pip install --no-cache-dir "{requirement}"'
        command = [
            "specops", "serve", "--package", MODEL_DIR, "--host", "0.0.0.0",
            "--port", str(self.port), "--workers", str(self.workers),
        ]  # fmt: skip
        return (
            f"# Serves {release.name}/{release.version}; written by specops' container target.\n"
            f"#   docker build -t {image} .\n"
            f"#   docker run --rm -p {self.port}:{self.port} {image}\n"
            f"FROM {self.base_image}\n"
            "# LightGBM needs the OpenMP runtime.\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \\\n"
            "    && rm -rf /var/lib/apt/lists/*\n"
            f"{install}\n"
            f"COPY model/ {MODEL_DIR}/\n"
            "RUN useradd --system --uid 10001 --no-create-home specops\n"
            "USER 10001\n"
            "ENV PYTHONUNBUFFERED=1\n"
            f"EXPOSE {self.port}\n"
            f"CMD {json.dumps(command)}\n"
        )

    def manifests(self, release: Release, image: str) -> tuple[dict[str, Any], dict[str, Any]]:
        name = dns_name(f"specops-{release.name}")
        labels = {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/managed-by": "specops",
            "specops/model": dns_name(release.name),
            "specops/version": str(release.version),
        }
        selector = {"app.kubernetes.io/name": name}
        container: dict[str, Any] = {
            "name": "model",
            "image": image,
            "ports": [{"name": "http", "containerPort": self.port, "protocol": "TCP"}],
            "readinessProbe": {
                "httpGet": {"path": "/v2/health/ready", "port": self.port},
                "initialDelaySeconds": 2,
                "periodSeconds": 5,
                "timeoutSeconds": 2,
            },
            "livenessProbe": {
                "httpGet": {"path": "/v2/health/live", "port": self.port},
                "initialDelaySeconds": 10,
                "periodSeconds": 10,
                "timeoutSeconds": 2,
                "failureThreshold": 3,
            },
            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}},
            "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
        }
        if self.token_secret:
            container["env"] = [
                {
                    "name": TOKEN_ENV,
                    "valueFrom": {"secretKeyRef": {"name": self.token_secret, "key": "token"}},
                }
            ]
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [container]},
                },
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": self.port, "targetPort": "http"}],
            },
        }
        return deployment, service


def _copy_source(source: Path, destination: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    destination.mkdir()
    for part in SOURCE_PARTS:
        path = source / part
        if path.is_dir():
            shutil.copytree(path, destination / part, ignore=ignore)
        elif path.is_file():
            shutil.copy2(path, destination / part)


@hookimpl
def specops_register_deploy_targets(register: Register) -> None:
    register(
        "container",
        ContainerTarget,
        CONTAINER_PARAMS,
        summary="Write a Docker build context and Kubernetes manifests that serve the model",
    )
