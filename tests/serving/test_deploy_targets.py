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
    assert 'pip install --no-cache-dir "/opt/specops-src[serve]"' in dockerfile
    assert "COPY model/ /opt/model/" in dockerfile and "USER 10001" in dockerfile
    assert "EXPOSE 9000" in dockerfile
    command = json.loads(dockerfile.split("CMD ", 1)[1])
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
