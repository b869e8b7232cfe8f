"""The ``http`` and ``container`` deploy targets, through ``specops run``."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.serving.conftest import Client, Server, split_payload, train


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def background_servers(tmp_path: Path) -> Iterator[Path]:
    """The run's directory; every server left running on its store is stopped afterwards."""
    yield tmp_path / "run"
    from framework.serving import daemon

    store = tmp_path / "run" / ".specops"
    for record in daemon.records(store):
        daemon.stop(record, store)


def deploy_detail(output: str) -> str:
    report = json.loads(output)
    return next(step["detail"] for step in report["steps"] if step["name"] == "deploy")


def version_at(port: int) -> Any:
    client = Client(port)
    try:
        return client.get("/version")[1]["version"]
    finally:
        client.close()


def test_http_target_serves_the_new_version_and_follows_the_champion(
    background_servers: Path, cli: Any, sample_rows: pd.DataFrame
) -> None:
    port = free_port()
    deploy = f"deploy={{type: http, params: {{port: {port}}}}}"
    store = train(background_servers, name="web", extra=("--set", deploy))
    status = cli("serve", "--status", "--store", store, "--json")
    servers = json.loads(status.out)["servers"]
    assert len(servers) == 1
    server = servers[0]
    assert server["port"] == port and server["follows"] == "champion"
    assert server["serving_version"] == 1 and Path(server["log"]).is_file()
    assert version_at(port) == 1

    # the same one-key swap promotes as the registry target does
    from framework.store import Store

    opened = Store.open_existing(store)
    assert opened.alias("web") == 1
    opened.close()

    # a second run: the running server is kept and switches when the champion moves
    rerun = cli(
        "run",
        background_servers / "spec.yaml",
        "--set",
        deploy,
        "--set",
        "model.params.n_estimators=3",
        "--json",
    )
    assert rerun.code == 0, rerun.err
    detail = deploy_detail(rerun.out)
    assert "follows web@champion: it switches to version 2 when the alias moves" in detail
    deadline = time.monotonic() + 20
    while version_at(port) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert version_at(port) == 2
    again = json.loads(cli("serve", "--status", "--store", store, "--json").out)["servers"]
    assert [s["pid"] for s in again] == [server["pid"]]  # not restarted

    client = Client(port)
    status_code, answer = client.post_json("/invocations", split_payload(sample_rows.head(4)))
    client.close()
    assert status_code == 200 and len(answer["predictions"]) == 4

    stopped = cli("serve", "--stop", "web", "--store", store)
    assert stopped.code == 0 and f"pid {server['pid']}" in stopped.out
    assert json.loads(cli("serve", "--status", "--store", store, "--json").out)["servers"] == []


def test_http_target_prints_address_pid_and_log(background_servers: Path, cli: Any) -> None:
    train(background_servers, name="web2")
    result = cli(
        "run",
        background_servers / "spec.yaml",
        "--set",
        "deploy={type: http, params: {port: 0, token_env: WEB2_TOKEN}}",
    )
    assert result.code == 2 and "WEB2_TOKEN" in result.err  # the token variable is not set
    result = cli(
        "run",
        background_servers / "spec.yaml",
        "--set",
        "deploy={type: http, params: {port: 0}}",
        "--json",
    )
    assert result.code == 0, result.err
    detail = deploy_detail(result.out)
    assert re.search(
        r"^serving web2/2 at http://127\.0\.0\.1:\d+ \(pid \d+, log \S+\.log\)", detail
    )


def test_container_target_writes_a_build_context_that_serves(
    tmp_path: Path, cli: Any, serve: Any, sample_rows: pd.DataFrame
) -> None:
    deploy = "deploy={type: container, params: {path: build/ctx, port: 9000, replicas: 2}}"
    store = train(tmp_path / "c", name="boxed", extra=("--set", deploy))
    context = tmp_path / "c" / "build" / "ctx"

    dockerfile = (context / "Dockerfile").read_text()
    assert dockerfile.splitlines()[3].startswith("FROM python:3.11-slim")
    assert (
        'pip install --no-cache-dir --constraint /opt/constraints.txt "/opt/specops-src[serve]"'
        in dockerfile
    )
    assert "COPY model/ /opt/model/" in dockerfile and "USER 10001:10001" in dockerfile
    assert "EXPOSE 9000" in dockerfile
    command = json.loads(dockerfile.split("\nCMD ", 1)[1])
    assert command[:4] == ["specops", "serve", "--package", "/opt/model"]
    assert command[command.index("--port") + 1] == "9000"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "__pycache__" in (context / ".dockerignore").read_text()
    assert (context / "specops-src" / "framework" / "serving" / "app.py").is_file()
    assert json.loads((context / "model" / "release.json").read_text())["version"] == 1

    deployment = yaml.safe_load((context / "k8s" / "deployment.yaml").read_text())
    service = yaml.safe_load((context / "k8s" / "service.yaml").read_text())
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "specops-boxed:1"
    assert container["ports"][0]["containerPort"] == 9000
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 9000}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 9000}
    assert service["kind"] == "Service" and service["spec"]["ports"][0]["port"] == 9000
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()

    # what the image would run: serve the packaged model, no store needed
    server: Server = serve("--package", context / "model")
    client = server.connect()
    assert client.get("/v2/health/ready")[0] == 200
    assert client.get("/version")[1]["ref"] == "boxed/1"
    status, answer = client.post_json("/invocations", split_payload(sample_rows.head(5)))
    client.close()
    assert status == 200
    from framework.package import ModelPackage
    from framework.plugins import get_plugins
    from framework.refs import resolve
    from framework.store import Store

    opened = Store.open_existing(store)
    try:
        package = ModelPackage.from_store(opened, resolve(opened, "boxed/1"), get_plugins())
    finally:
        opened.close()
    assert answer["predictions"] == package.predict(sample_rows.head(5))[0].values.tolist()


def test_container_target_path_under_a_file_is_refused_before_training(
    tmp_path: Path, cli: Any
) -> None:
    from tests.serving.conftest import SPEC, make_frame

    make_frame(200, 1).to_csv(tmp_path / "data.csv", index=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC.format(
            name="boxed",
            task="binary",
            model="lightgbm",
            params="{n_estimators: 5}",
            preprocess="",
            metric="accuracy",
            minimum=0.0,
        )
    )
    (tmp_path / "build").write_text("a file where the context's parent should be")
    deploy = "deploy={type: container, params: {path: build/ctx}}"
    result = cli("run", spec, "--set", deploy)
    assert result.code == 2, result.err
    assert f"{tmp_path / 'build'} exists and is not a directory" in result.err
    assert not (tmp_path / ".specops").exists()  # refused before anything was trained


# ---------------------------------------------------------------------------
# the container target's image and manifests: pinned, checked, hardened
# ---------------------------------------------------------------------------

KUBERNETES_VERSIONS = sorted(
    set(__import__("kubernetes_validate").utils.all_versions()),
    key=lambda v: tuple(map(int, v.split("."))),
)[-2:]
"""The two newest Kubernetes versions kubernetes-validate ships schemas for."""

RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What a pod spec breaks of the Kubernetes Pod Security Standard "restricted"
    (https://kubernetes.io/docs/concepts/security/pod-security-standards/), plus the
    read-only root filesystem this project asks for. kubernetes-validate checks the
    schema only, so the profile's rules are written out here."""
    broken: list[str] = []
    pod_context = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            broken.append(f"{flag} is set")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            broken.append(f"volume {volume['name']} is of type {sorted(kinds)}")
    if pod_context.get("sysctls"):
        broken.append("sysctls are set")
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    for container in containers:
        name = container["name"]
        context = container.get("securityContext", {})
        setting = {**pod_context, **context}.get  # a container's own setting wins

        if context.get("privileged"):
            broken.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            broken.append(f"{name}: allowPrivilegeEscalation is not false")
        if setting("runAsNonRoot") is not True:
            broken.append(f"{name}: runAsNonRoot is not true")
        if setting("runAsUser") == 0:
            broken.append(f"{name}: runAsUser is 0")
        seccomp = (setting("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            broken.append(f"{name}: seccompProfile is {seccomp}, not RuntimeDefault")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            broken.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            broken.append(f"{name}: adds capabilities {capabilities['add']}")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                broken.append(f"{name}: hostPort {port['hostPort']}")
        if context.get("readOnlyRootFilesystem") is not True:
            broken.append(f"{name}: the root filesystem is writable")
    return broken


def test_the_restricted_profile_checker_catches_each_rule() -> None:
    """The checker below is only evidence if it fails a pod that breaks the rules."""
    pod = {
        "hostNetwork": True,
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "containers": [
            {
                "name": "m",
                "ports": [{"containerPort": 80, "hostPort": 80}],
                "securityContext": {"runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}},
            }
        ],
    }
    assert restricted_violations(pod) == [
        "hostNetwork is set",
        "volume h is of type ['hostPath']",
        "m: allowPrivilegeEscalation is not false",
        "m: runAsNonRoot is not true",
        "m: runAsUser is 0",
        "m: seccompProfile is None, not RuntimeDefault",
        "m: capabilities do not drop ALL",
        "m: adds capabilities ['SYS_ADMIN']",
        "m: hostPort 80",
        "m: the root filesystem is writable",
    ]


def test_container_image_is_pinned_healthchecked_and_its_manifests_are_valid_and_restricted(
    tmp_path: Path, cli: Any
) -> None:
    import kubernetes_validate

    deploy = (
        "deploy={type: container, params: {path: ctx, token_secret: model-token, "
        "resources: {limits: {memory: 2Gi}}, tmp_size: 64Mi}}"
    )
    train(tmp_path, name="pinned", extra=("--set", deploy))
    context = tmp_path / "ctx"

    # every package the model recorded is pinned to exactly that version
    recorded = json.loads((context / "model" / "model.json").read_text())["lineage"]["packages"]
    pins = dict(
        line.split("==")
        for line in (context / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for package, version in recorded.items():
        if package not in ("python", "specops"):
            assert pins[package] == version, package
    assert {"uvicorn", "orjson", "scipy", "pluggy"} <= pins.keys()  # the serve extra's too
    dockerfile = (context / "Dockerfile").read_text()
    python = ".".join(recorded["python"].split(".")[:2])
    assert f"FROM python:{python}-slim\n" in dockerfile
    assert "COPY constraints.txt /opt/constraints.txt\n" in dockerfile
    healthcheck = dockerfile.split("HEALTHCHECK ", 1)[1].split("\nCMD ", 1)[0]
    probe = json.loads(healthcheck.split("CMD ", 1)[1])
    assert probe[:2] == ["python", "-c"] and "/v2/health/ready" in probe[2]

    deployment = yaml.safe_load((context / "k8s" / "deployment.yaml").read_text())
    service = yaml.safe_load((context / "k8s" / "service.yaml").read_text())
    for version in KUBERNETES_VERSIONS:
        for manifest in (deployment, service):
            kubernetes_validate.validate(manifest, version, strict=True)  # raises if invalid
    pod = deployment["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    [container] = pod["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {
        "name": "model-token",
        "key": "token",
    }

    # a second run replaces the build context it wrote; a file added to it stops the third
    again = cli("run", tmp_path / "spec.yaml", "--set", deploy)
    assert again.code == 0, again.err
    assert json.loads((context / "model" / "release.json").read_text())["version"] == 2
    (context / "my-secret.env").write_text("TOKEN=...")
    refused = cli("run", tmp_path / "spec.yaml", "--set", deploy)
    assert refused.code == 2
    assert f"{context} holds files the last deploy did not write: my-secret.env" in refused.err
    assert (context / "my-secret.env").read_text() == "TOKEN=..."


def test_container_params_that_would_break_the_image_or_the_deployment_are_refused(
    tmp_path: Path, cli: Any
) -> None:
    from tests.serving.conftest import SPEC, make_frame

    make_frame(200, 1).to_csv(tmp_path / "data.csv", index=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC.format(
            name="boxed", task="binary", model="lightgbm", params="{n_estimators: 5}",
            preprocess="", metric="accuracy", minimum=0.0,
        )
    )  # fmt: skip
    cases = {
        "{base_image: 'python:3.11-slim RUN evil'}": "does not match",
        '{base_image: "python:3.11-slim\\n"}': "base_image must be one line",  # past `$`
        "{install: 'specops\"; rm -rf /; \"'}": "does not match",
        "{resources: {requests: {memory: 4Gi}}}": (
            "resources.requests.memory 4Gi is above resources.limits.memory 1Gi"
        ),
        "{resources: {limits: {cpu: lots}}}": "does not match",
    }
    for params, said in cases.items():
        extra = params[1:-1]
        result = cli(
            "validate", spec, "--set", f"deploy={{type: container, params: {{path: c, {extra}}}}}"
        )
        assert result.code == 2, (params, result.err)
        assert said in result.err, (params, result.err)
