"""The ``container`` deploy target: a Docker build context and Kubernetes manifests.

It writes, to ``path`` (replaced atomically, like the ``directory`` target)::

    Dockerfile          installs specops with its serve extra, every package pinned
                        by constraints.txt, copies the model, runs
                        `specops serve --package /opt/model` as a non-root user,
                        with a HEALTHCHECK on /v2/health/ready
    constraints.txt     exact versions: the model's own (model.json) and the rest
                        as installed where the deploy ran (plugins/image_pins.py)
                        When the model verified a runtime that builds native code
                        as it loads (``treelite``), a builder stage with gcc runs
                        `specops runtimes prepare /opt/model` and the served stage
                        copies the built cache: it serves the compiled trees without
                        a compiler. Each verified runtime's packages are installed.
    .dockerignore
    model/              the self-contained model package (+ release.json)
    specops-src/        specops' own source, when it runs from a source checkout
                        and no ``install`` requirement is given
    k8s/deployment.yaml a Deployment with liveness and readiness probes on
                        /v2/health/live and /v2/health/ready, resource requests
                        and limits, and a pod that meets the Kubernetes "restricted"
                        Pod Security Standard (non-root, no privilege escalation,
                        all capabilities dropped, RuntimeDefault seccomp) with a
                        read-only root filesystem and an emptyDir at /tmp
    k8s/service.yaml    a ClusterIP Service in front of it
    k8s/cronjob.yaml    with ``monitor.schedule`` in the spec: a CronJob running
                        `specops monitor SPEC --from-log --since champion --retrain`
                        on that schedule
                        (same image, same hardened pod), so drift -> retrain ->
                        gate -> promote -> hot swap needs no person
    spec/spec.yaml      then too: the spec the CronJob monitors, as the run stored
                        it (``${env:...}`` placeholders kept, literal passwords
                        masked), deploying to the registry's champion; a source of
                        local files (not in the image) becomes the run's data
                        snapshot in the store

Nothing is built or applied: Docker and a cluster are the user's. With a local
store the image serves exactly the packaged version (there is no store in the
pod to follow an alias in, and so no request log); a new version means a new
image, which is how container platforms roll out. With a shared store (the run's
store is a URL) or a schedule, the target moves ``follow`` (``champion``) to the
new version, as the ``http`` target does, and the Deployment serves ``NAME@champion``
from the shared store, following it there (the hot swap; a restarted pod serves the
champion of the moment, not the image's version), logging every request to the
store's prediction log for the CronJob to read. Where that store
is and how to log in comes from a Kubernetes Secret (``store_secret``, key
``SPECOPS_STORE`` plus the optional ``AWS_*``, ``PGPASSWORD``, ``SPECOPS_ARTIFACTS``
and each ``${env:NAME}`` the spec uses), never from the manifests. ``path`` is
replaced only if an earlier deploy wrote it (see framework/ownership.py).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework import (
    DEPLOY_MARKER,
    DeployOutcome,
    Finding,
    Register,
    Release,
    StepContext,
    UserError,
    cron_problem,
    hide_credentials,
    hookimpl,
    write_release_package,
)
from framework.serving.defaults import DEFAULT_PORT, TOKEN_ENV
from plugins.deploy import DirectoryTarget, replace_package
from plugins.image_pins import image_pins, recorded_packages

MODEL_DIR = "/opt/model"
CONSTRAINTS = "constraints.txt"
ONE_WORD = r"^[^\s\\\"'$`]+$"
"""Image names: they go into the Dockerfile, so no space, newline, quote or shell sign."""
REQUIREMENT = r"^[^\r\n\\\"$`]+$"
"""A pip requirement goes inside double quotes on a RUN line: one line, no quote or $."""
USER_ID = 10001
WRITABLE_DIR = "/tmp"
"""The only writable place in the container (an emptyDir): HOME and temp files go there."""
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
DEFAULT_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "500m", "memory": "512Mi"},
    "limits": {"cpu": "2", "memory": "1Gi"},
}
SECRET_NAME = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
"""A Kubernetes object name (RFC 1123 subdomain), for the Secrets the pods read."""
CRONJOB_NAME = 52
"""Longest CronJob name Kubernetes takes (its Jobs append 11 characters to it)."""
SPEC_DIR = "/opt/spec"
SPEC_FILE = "spec.yaml"
MONITOR_COMMAND = (
    "specops",
    "monitor",
    f"{SPEC_DIR}/{SPEC_FILE}",
    "--from-log",
    "--since",
    "champion",  # only what the serving champion answered: no retraining twice on one log
    "--retrain",
)
STORE_WORKDIR = f"{WRITABLE_DIR}/.specops"
"""The local scratch folder of a pod on a shared store (caches, server records)."""
STORE_KEY = "SPECOPS_STORE"
STORE_CREDENTIALS = (
    "SPECOPS_ARTIFACTS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "PGPASSWORD",
)
"""Optional keys of the store Secret passed to the pods: what the S3 client (boto3) and
the PostgreSQL client (libpq) read from the environment."""
ENV_NAME = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
SOURCE_DIR = "specops-src"
RUNTIME_PACKAGES: dict[str, tuple[str, ...]] = {
    "onnx": ("onnx", "onnxruntime"),
    "treelite": ("treelite",),
}
"""What the image installs beside specops for each compiled runtime the model verified
(the ``onnx`` and ``treelite`` extras), pinned at the versions installed here."""
BUILT_AT_LOAD = frozenset({"treelite"})
"""Runtimes that build native code from the package's files when they load (into a
cache): the image builds it in a builder stage with a compiler, and the served stage
copies the cache, so it serves the compiled form without a compiler."""
RUNTIME_CACHE = "/opt/specops-runtime-cache"
BUILDER = "compile-runtimes"
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
            "pattern": ONE_WORD,
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
            "maximum": 1000,
            "default": 1,
        },
        "base_image": {
            "description": "The Python image to build on; default python:X.Y-slim for the "
            "Python version recorded with the model.",
            "type": "string",
            "pattern": ONE_WORD,
        },
        "resources": {
            "description": "The container's Kubernetes resource requests and limits "
            "(cpu, memory); each given value replaces the default.",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                part: {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "cpu": {"type": "string", "pattern": QUANTITY},
                        "memory": {"type": "string", "pattern": QUANTITY},
                    },
                }
                for part in ("requests", "limits")
            },
            "default": DEFAULT_RESOURCES,
        },
        "tmp_size": {
            "description": "Size limit of the writable /tmp volume (an emptyDir).",
            "type": "string",
            "pattern": QUANTITY,
            "default": "256Mi",
        },
        "install": {
            "description": "pip requirement that installs specops (default: the bundled source, "
            "or specops[serve]==<this version>).",
            "type": "string",
            "pattern": REQUIREMENT,
        },
        "token_secret": {
            "description": "Kubernetes Secret (key 'token') holding a bearer token to require.",
            "type": "string",
            "pattern": SECRET_NAME,
        },
        "store_secret": {
            "description": "Kubernetes Secret holding the shared store's address (key "
            "SPECOPS_STORE) and its credentials (AWS_*, PGPASSWORD, and each ${env:NAME} the "
            "spec uses), read by the servers and the monitor CronJob when the store is shared "
            "or monitor.schedule is set; never written into the manifests.",
            "type": "string",
            "pattern": SECRET_NAME,
            "default": "specops-store",
        },
        "follow": {
            "description": "With a shared store (or a schedule): the alias this deploy moves to "
            "the new version and the servers follow.",
            "type": "string",
            "pattern": "^[a-z][a-z0-9_-]*$",
            "default": "champion",
        },
        "monitor_timeout": {
            "description": "Seconds a scheduled monitor (and its retraining) may run before "
            "Kubernetes stops it.",
            "type": "integer",
            "minimum": 60,
            "maximum": 7 * 86400,
            "default": 3600,
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
    base_image: str | None = None
    install: str | None = None
    token_secret: str | None = None
    resources: dict[str, dict[str, str]] | None = None
    tmp_size: str = "256Mi"
    store_secret: str = "specops-store"
    follow: str = "champion"
    monitor_timeout: int = 3600

    def validate(self, ctx: StepContext) -> list[Finding]:
        """``path`` passes the ``directory`` target's checks; what goes into the
        Dockerfile is one line (a schema ``$`` lets one trailing newline through);
        no request is above its limit (Kubernetes would refuse the Deployment)."""
        findings = DirectoryTarget(self.path).validate(ctx)
        for key, pattern in (
            ("image", ONE_WORD),
            ("base_image", ONE_WORD),
            ("install", REQUIREMENT),
        ):
            value = getattr(self, key)
            if value is not None and not re.fullmatch(pattern.rstrip("$"), value):
                findings.append(
                    Finding(f"{key} must be one line without quotes: {value!r}", key=key)
                )
        resources = self.resource_limits()
        for resource in ("cpu", "memory"):
            request = _quantity(resources["requests"][resource])
            limit = _quantity(resources["limits"][resource])
            if request > limit:
                findings.append(
                    Finding(
                        f"resources.requests.{resource} {resources['requests'][resource]} is "
                        f"above resources.limits.{resource} {resources['limits'][resource]}",
                        key="resources",
                    )
                )
        return findings

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome:
        target = ctx.path(self.path)
        image = self.image or f"specops-{dns_name(release.name)}:{release.version}"
        plan = SharedPlan.of(release)
        replace_package(
            target,
            ctx,
            release,
            "container",
            lambda staging: self._write(staging, release, image, plan),
            what="the build context",
        )
        summary = (
            f"build context written to {target}: docker build -t {image} {target} && "
            f"kubectl apply -f {target / 'k8s'}"
        )
        if plan.shared:
            # the servers serve the alias of the shared store (a pod restarted after a
            # retraining serves the new champion, not the image's version): so the alias
            # moves to this version, as the http target does, once every target succeeded
            release.set_alias(self.follow, "gate passed")
            summary += (
                f"; {release.name}@{self.follow} -> version {release.version}, which the "
                f"servers follow in the shared store named by Secret {self.store_secret} "
                f"(key {STORE_KEY})"
            )
        if plan.schedule:
            summary += f"; CronJob monitors the request log and retrains on '{plan.schedule}'"
        return DeployOutcome(summary, location=str(target))

    def _write(self, context: Path, release: Release, image: str, plan: SharedPlan) -> None:
        import yaml

        write_release_package(release, context / "model")
        source = None if self.install else specops_source()
        if source is not None:
            _copy_source(source, context / SOURCE_DIR)
        pins = image_pins(recorded_packages(release.package_dir))
        constraints = pins.constraints()
        runtimes = verified_runtimes(release.package_dir)
        (context / CONSTRAINTS).write_text(constraints + runtime_pins(runtimes, constraints))
        with_spec = bool(plan.schedule and plan.document is not None)
        dockerfile = self.dockerfile(release, image, source is not None, pins.python, with_spec)
        (context / "Dockerfile").write_text(dockerfile)
        (context / ".dockerignore").write_text(f"**/__pycache__\n**/*.pyc\nk8s/\n{DEPLOY_MARKER}\n")
        manifests = context / "k8s"
        manifests.mkdir()
        deployment, service = self.manifests(release, image, plan)
        (manifests / "deployment.yaml").write_text(yaml.safe_dump(deployment, sort_keys=False))
        (manifests / "service.yaml").write_text(yaml.safe_dump(service, sort_keys=False))
        if plan.schedule and plan.document is not None:
            (context / "spec").mkdir()
            (context / "spec" / SPEC_FILE).write_text(
                yaml.safe_dump(plan.document, sort_keys=False)
            )
            cronjob = self.cronjob(release, image, plan)
            (manifests / "cronjob.yaml").write_text(yaml.safe_dump(cronjob, sort_keys=False))

    def dockerfile(
        self,
        release: Release,
        image: str,
        bundled_source: bool,
        python: str | None = None,
        with_spec: bool = False,
    ) -> str:
        """The image: pinned packages, the model, a non-root user, a health check (and the
        spec the monitor CronJob runs, when there is one)."""
        from framework import __version__

        spec_copy = f"COPY spec/ {SPEC_DIR}/\n" if with_spec else ""
        runtimes = verified_runtimes(release.package_dir)
        also = "".join(f' "{name}"' for r in runtimes for name in RUNTIME_PACKAGES[r])

        pip = f"pip install --no-cache-dir --constraint /opt/{CONSTRAINTS}"
        if bundled_source:
            install = (
                f'COPY {SOURCE_DIR}/ /opt/{SOURCE_DIR}/\nRUN {pip} "/opt/{SOURCE_DIR}[serve]"{also}'
            )
        else:
            requirement = self.install or f"specops[serve]=={__version__}"
            install = f'RUN {pip} "{requirement}"{also}'
        base = self.base_image or base_image_for(python)
        builder, cache_copy, cache_env = "", "", ""
        if BUILT_AT_LOAD.intersection(runtimes):
            builder = (
                f"FROM {base} AS {BUILDER}\n"
                "# Builds the model's compiled runtimes (trees to C with TL2cgen and gcc) into\n"
                "# the runtime cache; the served stage copies the cache and has no compiler.\n"
                "RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev"
                " libgomp1 \\\n"
                "    && rm -rf /var/lib/apt/lists/*\n"
                f"COPY {CONSTRAINTS} /opt/{CONSTRAINTS}\n"
                f"{install}\n"
                f"COPY model/ {MODEL_DIR}/\n"
                f"ENV SPECOPS_RUNTIME_CACHE={RUNTIME_CACHE}\n"
                f"RUN specops runtimes prepare {MODEL_DIR}\n"
                "\n"
            )
            cache_copy = f"COPY --from={BUILDER} {RUNTIME_CACHE} {RUNTIME_CACHE}\n"
            cache_env = f" SPECOPS_RUNTIME_CACHE={RUNTIME_CACHE}"
        command = [
            "specops", "serve", "--package", MODEL_DIR, "--host", "0.0.0.0",
            "--port", str(self.port), "--workers", str(self.workers),
        ]  # fmt: skip
        ready = f"http://127.0.0.1:{self.port}/v2/health/ready"
        probe = [
            "python", "-c",
            f"import urllib.request; urllib.request.urlopen({ready!r}, timeout=2)",
        ]  # fmt: skip
        return (
            f"# Serves {release.name}/{release.version}; written by specops' container target.\n"
            f"#   docker build -t {image} .\n"
            f"#   docker run --rm --read-only --tmpfs /tmp -p {self.port}:{self.port} {image}\n"
            f"{builder}"
            f"FROM {base}\n"
            "# LightGBM needs the OpenMP runtime.\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \\\n"
            "    && rm -rf /var/lib/apt/lists/*\n"
            f"# Every Python package at the version the model was trained and gated with.\n"
            f"COPY {CONSTRAINTS} /opt/{CONSTRAINTS}\n"
            f"{install}\n"
            f"COPY model/ {MODEL_DIR}/\n"
            f"{cache_copy}"
            f"{spec_copy}"
            f"RUN groupadd --system --gid {USER_ID} specops \\\n"
            f"    && useradd --system --uid {USER_ID} --gid {USER_ID} --no-create-home"
            f" --home-dir {WRITABLE_DIR} specops\n"
            f"USER {USER_ID}:{USER_ID}\n"
            "# The root filesystem may be read-only: nothing is written but to /tmp.\n"
            f"ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME={WRITABLE_DIR}{cache_env}\n"
            f"EXPOSE {self.port}\n"
            "HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \\\n"
            f"    CMD {json.dumps(probe)}\n"
            f"CMD {json.dumps(command)}\n"
        )

    def resource_limits(self) -> dict[str, dict[str, str]]:
        """The defaults, with each value the spec gives in its place."""
        given = self.resources or {}
        return {
            part: {**DEFAULT_RESOURCES[part], **given.get(part, {})}
            for part in ("requests", "limits")
        }

    def manifests(
        self, release: Release, image: str, plan: SharedPlan | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A Deployment that passes the "restricted" Pod Security Standard, and its Service.

        With a shared store its server serves ``NAME/VERSION`` from that store and follows
        the alias there, the store's address and credentials read from the Secret."""
        plan = plan or SharedPlan()
        name = dns_name(f"specops-{release.name}")
        labels = self.labels(release, name)
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
            **self.hardened_container(),
        }
        env: list[dict[str, Any]] = []
        if self.token_secret:
            env.append(_from_secret(TOKEN_ENV, self.token_secret, "token"))
        if plan.shared:
            container["command"] = [
                "specops", "serve", f"{release.name}@{self.follow}", "--host", "0.0.0.0",
                "--port", str(self.port), "--workers", str(self.workers),
            ]  # fmt: skip
            container["workingDir"] = WRITABLE_DIR
            env.extend(self.store_env(()))
        if env:
            container["env"] = env
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": self.pod([container]),
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

    def cronjob(self, release: Release, image: str, plan: SharedPlan) -> dict[str, Any]:
        """The CronJob of continuous training: ``specops monitor SPEC --from-log --since
        champion --retrain`` on ``monitor.schedule``, against the shared store the Secret names.

        One run at a time (``Forbid``: two retrainings of one model would race for the
        champion), never retried by Kubernetes (a rejected challenger is an answer, exit
        1, not a fault to repeat), stopped after ``monitor_timeout`` seconds."""
        suffix = "-monitor"
        name = dns_name(f"specops-{release.name}")[: CRONJOB_NAME - len(suffix)].rstrip("-")
        name += suffix
        labels = {
            **self.labels(release, name),
            "app.kubernetes.io/component": "monitor",
        }
        container = {
            "name": "monitor",
            "image": image,
            "command": list(MONITOR_COMMAND),
            "workingDir": WRITABLE_DIR,
            "env": self.store_env(plan.env_names),
            **self.hardened_container(),
        }
        return {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "schedule": plan.schedule,
                "timeZone": "Etc/UTC",  # else the controller manager's own time zone
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 300,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "backoffLimit": 0,
                        "activeDeadlineSeconds": self.monitor_timeout,
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"restartPolicy": "Never", **self.pod([container])},
                        },
                    },
                },
            },
        }

    @staticmethod
    def labels(release: Release, name: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/managed-by": "specops",
            "specops/model": dns_name(release.name),
            "specops/version": str(release.version),
        }

    def hardened_container(self) -> dict[str, Any]:
        """What every container here has: limits, a locked-down context, /tmp writable."""
        return {
            "resources": self.resource_limits(),
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "privileged": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "runAsUser": USER_ID,
                "runAsGroup": USER_ID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumeMounts": [{"name": "tmp", "mountPath": WRITABLE_DIR}],
        }

    def pod(self, containers: list[dict[str, Any]]) -> dict[str, Any]:
        """A pod spec meeting the "restricted" Pod Security Standard."""
        return {
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": USER_ID,
                "runAsGroup": USER_ID,
                "fsGroup": USER_ID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": containers,
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": self.tmp_size}}],
        }

    def store_env(self, extra: tuple[str, ...]) -> list[dict[str, Any]]:
        """The shared store's address and credentials, each from the store Secret: the
        address is required (a pod without it would not start, rather than serve or
        monitor a store of its own), the rest optional."""
        env = [_from_secret(STORE_KEY, self.store_secret, STORE_KEY)]
        names = [*STORE_CREDENTIALS, *(n for n in extra if n not in STORE_CREDENTIALS)]
        for key in names:
            if key not in (STORE_KEY, TOKEN_ENV):
                env.append(_from_secret(key, self.store_secret, key, optional=True))
        return env


@dataclass(frozen=True)
class SharedPlan:
    """What the run says about continuous training: whether its store is shared, the
    schedule, and the spec the CronJob runs (as the image gets it)."""

    shared: bool = False
    schedule: str | None = None
    document: dict[str, Any] | None = None
    env_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, release: Release) -> SharedPlan:
        """Read from the release (an engine that does not fill ``spec_document`` and
        ``store_url``: a local store, no schedule)."""
        document = release.spec_document
        store_url = release.store_url
        schedule = None
        if isinstance(document, Mapping):
            monitor = document.get("monitor")
            if isinstance(monitor, Mapping) and isinstance(monitor.get("schedule"), str):
                schedule = monitor["schedule"].strip()
        if schedule is None:
            return cls(shared=bool(store_url))
        problem = cron_problem(schedule)  # `specops validate` said so first; a manifest never
        if problem is not None:
            raise UserError(f"monitor.schedule: {problem}")
        image_spec = monitor_spec(document, _lineage(release))  # type: ignore[arg-type]
        names = tuple(sorted(set(ENV_NAME.findall(json.dumps(image_spec)))))
        return cls(True, schedule, image_spec, names)


FILE_SOURCES = frozenset({"csv", "parquet"})
"""Sources that read files on the machine the run was on: not in the image."""


def monitor_spec(
    document: Mapping[str, Any], lineage: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The spec the monitor CronJob runs, from the run's effective spec (as the run
    stored it: ``${env:...}`` placeholders, literal passwords masked): without a store
    URL (the pod's comes from the Secret, ``SPECOPS_STORE``, which wins anyway), its
    local scratch folder in the pod's writable /tmp, and deploying to the registry
    only: a drift's challenger that passes its gate becomes the champion, which the
    servers follow (the spec's own targets, a build context here, would write into
    the image).

    A source reading local files (csv, parquet) would find nothing in the pod: when
    the run kept a snapshot of its data in the store (``store.snapshot_data``, the
    default), the pod reads that instead (``type: snapshot``), which is exactly what
    this version trained on; a retraining then learns from it plus the logged rows."""
    spec = json.loads(json.dumps(hide_credentials(dict(document)), default=str))
    store = dict(spec.get("store") or {})
    store.pop("url", None)
    store["path"] = STORE_WORKDIR
    spec["store"] = store
    spec["deploy"] = {"type": "registry", "params": {"alias": "champion"}}
    spec.pop("profiles", None)  # the document is already the profiles' result
    data = spec.get("data")
    lineage = lineage or {}
    if (
        isinstance(data, dict)
        and isinstance(data.get("source"), dict)
        and data["source"].get("type") in FILE_SOURCES
        and isinstance(lineage.get("data_hash"), str)
        and lineage.get("data_snapshot")
    ):
        data["source"] = {"type": "snapshot", "params": {"data": lineage["data_hash"]}}
    return spec


def verified_runtimes(package_dir: Path) -> list[str]:
    """The compiled runtimes the model verified (model.json ``runtimes``) whose packages
    the image installs, so it can serve the form the version was verified with."""
    try:
        meta = json.loads((package_dir / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    runtimes = meta.get("runtimes") if isinstance(meta, dict) else None
    if not isinstance(runtimes, dict):
        return []
    return sorted(
        name
        for name, verdict in runtimes.items()
        if name in RUNTIME_PACKAGES and isinstance(verdict, dict) and verdict.get("verified")
    )


def runtime_pins(runtimes: list[str], constraints: str) -> str:
    """Constraint lines for the runtimes' packages at the versions installed here (the
    same TL2cgen in the builder and served stages: its version is in the cache key)."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    pinned = {
        canonicalize_name(line.split("==", 1)[0])
        for line in constraints.splitlines()
        if "==" in line and not line.startswith("#")
    }
    lines = []
    for name in sorted({n for runtime in runtimes for n in RUNTIME_PACKAGES[runtime]}):
        if canonicalize_name(name) in pinned:
            continue
        try:
            lines.append(f"{name}=={metadata.version(name)}\n")
        except metadata.PackageNotFoundError:
            continue
    if not lines:
        return ""
    prefix = "" if not constraints or constraints.endswith("\n") else "\n"
    return prefix + "# the compiled runtimes the model was verified with\n" + "".join(lines)


def _lineage(release: Release) -> dict[str, Any]:
    """The version's recorded lineage (data hash, snapshot), from its package."""
    try:
        metadata = json.loads((release.package_dir / "model.json").read_text())
    except (OSError, ValueError):
        return {}
    lineage = metadata.get("lineage") if isinstance(metadata, dict) else None
    return lineage if isinstance(lineage, dict) else {}


def _from_secret(name: str, secret: str, key: str, *, optional: bool = False) -> dict[str, Any]:
    reference: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        reference["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": reference}}


UNITS = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
UNITS.update({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40})


def _quantity(text: str) -> float:
    """A Kubernetes quantity (``500m``, ``1Gi``; already checked by QUANTITY) as a number."""
    number = re.match(r"[0-9.]+", text)
    assert number is not None
    return float(number.group()) * UNITS.get(text[number.end() :], 1)


def base_image_for(python: str | None) -> str:
    """``python:X.Y-slim`` for the Python version recorded with the model (or this one)."""
    import platform

    version = python or platform.python_version()
    major_minor = ".".join(version.split(".")[:2])
    if not re.fullmatch(r"[0-9]+\.[0-9]+", major_minor):
        major_minor = ".".join(platform.python_version_tuple()[:2])
    return f"python:{major_minor}-slim"


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
