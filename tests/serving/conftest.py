"""Serving fixtures: small trained stores, real `specops serve` processes on 127.0.0.1.

Every server is a separate process on an ephemeral port (``--port 0``; the port
is read from its start-up line), stopped with SIGTERM when its test (or module)
is done, and killed if it does not stop. Clients use the standard library's
``http.client`` on one keep-alive connection unless a test uses a real client
library (tritonclient, MLflow's scoring client).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STARTUP_SECONDS = 90
URL = re.compile(r" on (http://127\.0\.0\.1:(\d+))")

FEATURES = ["age", "income", "score", "visits", "tenure", "ratio", "plan", "region", "active"]


def make_frame(rows: int, seed: int, classes: int = 2) -> Any:
    """Numbers (some missing), two text columns, a boolean, and a target depending on them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(50_000, 15_000, rows).round(2),
            "score": rng.normal(0, 1, rows),
            "visits": rng.poisson(3, rows).astype(float),
            "tenure": rng.exponential(24, rows).round(1),
            "ratio": rng.uniform(0, 1, rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "region": rng.choice(["north", "south", "east", "west", "centre"], rows),
            "active": rng.random(rows) < 0.6,
        }
    )
    frame.loc[rng.random(rows) < 0.05, "income"] = np.nan
    logit = (
        0.04 * (frame["age"] - 45)
        + 0.8 * frame["score"]
        + frame["plan"].map({"basic": -0.6, "plus": 0.1, "pro": 0.7})
        + 0.5 * frame["active"]
        - 0.02 * frame["tenure"]
    )
    if classes == 0:
        frame["target"] = logit + rng.normal(0, 0.3, rows)
    elif classes == 2:
        frame["target"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    else:
        frame["target"] = np.digitize(logit + rng.normal(0, 0.5, rows), [-0.5, 0.5])
    return frame


SPEC = """
name: {name}
task: {task}
seed: 3
serve: {{runtime: native}}
data:
  source: {{type: csv, params: {{path: data.csv}}}}
  target: target
{preprocess}model:
  type: {model}
  params: {params}
gate:
  {metric}: {{min: {minimum}}}
"""

NATIVE = "serve: {runtime: native}"


def train(
    directory: Path,
    *,
    name: str = "churn",
    task: str = "binary",
    model: str = "lightgbm",
    params: str = "{n_estimators: 20, num_leaves: 7}",
    preprocess: str = "",
    rows: int = 800,
    seed: int = 1,
    extra: tuple[str, ...] = (),
    runtime: str = "native",
) -> Path:
    """Write data and a spec into ``directory`` and run it in process; returns the store.

    ``runtime`` is the spec's ``serve.runtime``: native by default, since these tests hold
    the server to the package's own predictions bit for bit (tests/runtimes/ serve the
    compiled runtimes, within their tolerance)."""
    from framework.cli.main import main

    directory.mkdir(parents=True, exist_ok=True)
    classes = {"binary": 2, "multiclass": 3, "regression": 0}[task]
    make_frame(rows, seed, classes).to_csv(directory / "data.csv", index=False)
    metric, minimum = ("r2", -100) if task == "regression" else ("accuracy", 0.0)
    (directory / "spec.yaml").write_text(
        SPEC.format(
            name=name,
            task=task,
            model=model,
            params=params,
            preprocess=preprocess,
            metric=metric,
            minimum=minimum,
        ).replace(NATIVE, f"serve: {{runtime: {runtime}}}")
    )
    code = main(["run", str(directory / "spec.yaml"), "--json", *extra])
    assert code == 0, f"training {name} failed with exit {code}"
    return directory / ".specops"


@pytest.fixture(scope="session")
def lgb_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one LightGBM binary classifier ``churn`` (champion: version 1)."""
    return train(tmp_path_factory.mktemp("lgb"))


@pytest.fixture(scope="session")
def sample_rows() -> Any:
    """Rows to score, drawn from the same generator with another seed (includes NaN)."""
    return make_frame(300, seed=99).drop(columns="target")


# ---------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------


@dataclass
class Server:
    """A running `specops serve` process."""

    process: subprocess.Popen[str]
    url: str
    port: int
    banner: str
    token: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def connect(self) -> Client:
        return Client(self.port, self.token)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class Client:
    """One keep-alive HTTP/1.1 connection to a server on 127.0.0.1."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        sent = dict(headers or {})
        if body is not None and content_type is not None:
            sent["Content-Type"] = content_type
        if auth and self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        data = body.encode() if isinstance(body, str) else body
        self.connection.request(method, path, body=data, headers=sent)
        response = self.connection.getresponse()
        payload = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload

    def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, _, body = self.request("GET", path, **kwargs)
        return status, json.loads(body) if body else None

    def post_json(self, path: str, document: Any, **kwargs: Any) -> tuple[int, Any]:
        status, _, body = self.request("POST", path, json.dumps(document), **kwargs)
        return status, json.loads(body)

    def close(self) -> None:
        self.connection.close()


def start_server(
    *args: str | Path, env: dict[str, str] | None = None, token: str | None = None
) -> Server:
    """``specops serve ARGS --port 0`` in its own process; waits for its start-up line."""
    command = [sys.executable, "-m", "framework.cli.main", "serve", *map(str, args)]
    if "--port" not in command:
        command += ["--port", "0"]
    merged = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    merged.pop("SPECOPS_SERVE_TOKEN", None)
    if token:
        merged["SPECOPS_SERVE_TOKEN"] = token
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=merged
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    lines = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            lines.append(line)
            match = URL.search(line)
            if match:
                return Server(process, match.group(1), int(match.group(2)), line, token)
        if process.poll() is not None:
            break
    process.kill()
    _, err = process.communicate(timeout=10)
    raise AssertionError(f"server did not start: {''.join(lines)}{err}")


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Start servers for one test; every one is stopped afterwards."""
    started: list[Server] = []

    def run(*args: str | Path, **kwargs: Any) -> Server:
        server = start_server(*args, **kwargs)
        started.append(server)
        return server

    yield run
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def lgb_server(lgb_store: Path) -> Iterator[Server]:
    """One server of the LightGBM champion for a whole test module (no request log)."""
    server = start_server("churn", "--store", lgb_store, "--no-request-log")
    yield server
    server.stop()


def split_payload(frame: Any) -> dict[str, Any]:
    """MLflow's dataframe_split, with NaN written as null as pandas' to_json does."""
    return {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
