"""A server following NAME switches versions when the champion moves, mid-traffic, no restart.

A client thread keeps sending the same request on one keep-alive connection
while the alias is promoted and rolled back; every answer must be a 200, and
each answer's numbers must be those of the version its ``specops-model``
header names.
"""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.serving.conftest import Server, split_payload, train

SWITCH_SECONDS = 20


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Store with hs/1 and hs/2 (different models); the champion is back at 1."""
    from framework.cli.main import main

    directory = tmp_path_factory.mktemp("swap")
    store = train(directory, name="hs")
    train(directory, name="hs", extra=("--set", "model.params.n_estimators=3"))
    assert main(["models", "rollback", "hs", "--store", str(store)]) == 0
    return store


def expected_for(store: Path, version: int, rows: pd.DataFrame) -> list[Any]:
    from framework.package import ModelPackage
    from framework.plugins import get_plugins
    from framework.store import Store

    opened = Store.open_existing(store)
    try:
        found = opened.version("hs", version)
        assert found is not None
        package = ModelPackage.from_store(opened, found, get_plugins())
    finally:
        opened.close()
    predictions, _ = package.predict(rows)
    return predictions.proba.tolist()


def wait_for_version(server: Server, version: int) -> None:
    client = server.connect()
    deadline = time.monotonic() + SWITCH_SECONDS
    try:
        while time.monotonic() < deadline:
            if client.get("/version")[1]["version"] == version:
                return
            time.sleep(0.05)
    finally:
        client.close()
    raise AssertionError(f"the server did not switch to version {version}")


class Traffic(threading.Thread):
    """Sends one request after another until stopped (at most ``limit`` requests)."""

    def __init__(self, server: Server, body: str, limit: int = 200_000) -> None:
        super().__init__(daemon=True)
        self.server, self.body, self.limit = server, body, limit
        self.answers: list[tuple[int, str, Any]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        client = self.server.connect()
        try:
            while not self.halt.is_set() and len(self.answers) < self.limit:
                status, headers, body = client.request("POST", "/invocations", self.body)
                answer = json.loads(body)
                self.answers.append((status, headers.get("specops-model", ""), answer))
        finally:
            client.close()


def test_promote_and_rollback_switch_a_live_server_without_dropping_requests(
    two_versions: Path, serve: Any, cli: Any, sample_rows: pd.DataFrame
) -> None:
    rows = sample_rows.head(10)
    expected = {v: expected_for(two_versions, v, rows) for v in (1, 2)}
    assert expected[1] != expected[2]
    follower: Server = serve("hs", "--store", two_versions, "--poll-ms", "100", "--no-request-log")
    pinned: Server = serve("hs/1", "--store", two_versions, "--poll-ms", "100", "--no-request-log")
    traffic = Traffic(follower, json.dumps(split_payload(rows)))
    traffic.start()
    try:
        time.sleep(0.3)
        assert cli("models", "promote", "hs/2", "--store", two_versions).code == 0
        wait_for_version(follower, 2)
        time.sleep(0.3)
        assert cli("models", "rollback", "hs", "--store", two_versions).code == 0
        wait_for_version(follower, 1)
        time.sleep(0.3)
    finally:
        traffic.halt.set()
        traffic.join(timeout=30)
    assert follower.process.poll() is None and pinned.process.poll() is None

    answers = traffic.answers
    assert len(answers) > 20
    assert all(status == 200 for status, _, _ in answers), [a for a in answers if a[0] != 200][:3]
    for _, ref, answer in answers:
        assert answer["probabilities"] == expected[int(ref.split("/")[1])]
    sequence = [ref for _, ref, _ in answers]
    switches = [b for a, b in itertools.pairwise(sequence) if a != b]
    assert sequence[0] == "hs/1" and switches == ["hs/2", "hs/1"]

    client = pinned.connect()
    assert client.get("/version")[1]["version"] == 1  # a pinned version never moves
    client.close()
    client = follower.connect()
    metadata = client.get("/v2/models/hs")[1]
    assert metadata["versions"] == ["1"] and metadata["parameters"]["follows"] == "hs@champion"
    client.close()


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(
    tmp_path: Path, serve: Any, cli: Any, sample_rows: pd.DataFrame
) -> None:
    from framework.store import Store

    store = train(tmp_path / "broken", name="hs")
    train(tmp_path / "broken", name="hs", extra=("--set", "model.params.n_estimators=3"))
    assert cli("models", "rollback", "hs", "--store", store).code == 0
    server: Server = serve("hs", "--store", store, "--poll-ms", "100", "--no-request-log")
    opened = Store(store)
    try:
        version = opened.version("hs", 2)
        assert version is not None
        blob = opened.artifacts.path_of(version.files["model/model.txt"])
    finally:
        opened.close()
    # promote refuses a damaged blob, so it is damaged after the promotion, while the
    # server is paused: the follower first sees the new champion with its blob damaged
    server.process.send_signal(signal.SIGSTOP)
    try:
        assert cli("models", "promote", "hs/2", "--store", store).code == 0
        blob.chmod(0o644)
        blob.write_text("tree\ncorrupted\n")
    finally:
        server.process.send_signal(signal.SIGCONT)
    time.sleep(1.5)  # many polls
    client = server.connect()
    assert client.get("/version")[1]["version"] == 1
    status, answer = client.post_json("/invocations", split_payload(sample_rows.head(3)))
    assert status == 200 and len(answer["predictions"]) == 3
    client.close()
    assert server.process.poll() is None
