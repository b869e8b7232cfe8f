"""A followed version that fails to load is retried with backoff, and /version tells the truth.

The old version keeps answering while the alias's new version cannot be
loaded (a damaged blob); ``/version`` says which version answers, where the
alias points and why they differ; once the blob is repaired, the next retry
loads it and the server swaps, without a restart.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.serving.conftest import Server, split_payload, train

SECONDS = 20


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Store with fr/1 and fr/2; the champion is back at 1."""
    from framework.cli.main import main

    directory = tmp_path_factory.mktemp("retry")
    store = train(directory, name="fr")
    train(directory, name="fr", extra=("--set", "model.params.n_estimators=3"))
    assert main(["models", "rollback", "fr", "--store", str(store)]) == 0
    return store


def model_blob(store: Path, version: int) -> Path:
    from framework.store import Store

    opened = Store(store)
    try:
        found = opened.version("fr", version)
        assert found is not None
        return opened.artifacts.path_of(found.files["model/model.txt"])
    finally:
        opened.close()


def wait_for(server: Server, predicate: Any, what: str) -> dict[str, Any]:
    client = server.connect()
    deadline = time.monotonic() + SECONDS
    answer: dict[str, Any] = {}
    try:
        while time.monotonic() < deadline:
            status, answer = client.get("/version")
            assert status == 200
            if predicate(answer):
                return answer
            time.sleep(0.05)
    finally:
        client.close()
    raise AssertionError(f"{what} did not happen; /version said {answer}")


def test_a_repaired_version_is_loaded_by_the_next_retry(
    two_versions: Path, serve: Any, cli: Any, sample_rows: pd.DataFrame
) -> None:
    server: Server = serve(
        "fr", "--store", two_versions, "--poll-ms", "100", "--no-request-log", "--retry-max", "2"
    )
    blob = model_blob(two_versions, 2)
    original = blob.read_bytes()
    # promote checks the blob, so it is damaged after the promotion, while the server is
    # paused: the follower first sees the new champion with its blob already damaged
    server.process.send_signal(signal.SIGSTOP)
    try:
        assert cli("models", "promote", "fr/2", "--store", two_versions).code == 0
        blob.chmod(0o644)
        blob.write_bytes(b"tree\ncorrupted\n")
    finally:
        server.process.send_signal(signal.SIGCONT)
    try:
        stale = wait_for(server, lambda a: a.get("stale"), "reporting the failed load")
        assert stale["version"] == 1 and stale["alias_version"] == 2
        assert stale["follows"] == "fr@champion"
        assert stale["stale"].startswith("alias fr@champion -> 2, serving fr/1 because fr/2")
        assert "failed to load" in stale["stale"] and stale["load_error"]
        assert "Traceback" not in stale["stale"]
        listed = cli("serve", "--status", "--store", two_versions)
        assert listed.code == 0 and "stale: alias fr@champion -> 2, serving fr/1" in listed.out

        client = server.connect()
        assert client.get("/v2/health/ready")[0] == 200  # the old version still serves
        status, headers, body = client.request(
            "POST", "/invocations", json.dumps(split_payload(sample_rows.head(3)))
        )
        assert status == 200 and headers["specops-model"] == "fr/1"
        assert len(json.loads(body)["predictions"]) == 3
        client.close()

        retried = wait_for(server, lambda a: a.get("load_attempts", 0) >= 2, "a second attempt")
        assert retried["version"] == 1
    finally:
        blob.write_bytes(original)  # repaired: the same bytes, so the same hash

    swapped = wait_for(server, lambda a: a["version"] == 2, "the swap after the repair")
    assert swapped["stale"] is None and swapped["alias_version"] == 2
    assert "load_error" not in swapped
    assert server.process.poll() is None


def test_retries_back_off_and_stop_when_the_alias_moves_back(two_versions: Path) -> None:
    """In process: each failed attempt doubles the wait up to the maximum; moving the
    alias back to the serving version clears the failure."""
    from framework.cli.main import main
    from framework.plugins import get_plugins
    from framework.serving.model_holder import load_from_store
    from framework.store import Store

    assert main(["models", "promote", "fr/1", "--store", str(two_versions)]) == 0
    blob = model_blob(two_versions, 2)
    original = blob.read_bytes()
    holder = load_from_store(
        two_versions, "fr", get_plugins(), retry_min_seconds=0.05, retry_max_seconds=0.2
    )
    store = Store(two_versions)
    try:
        assert holder.current.version == 1
        assert main(["models", "promote", "fr/2", "--store", str(two_versions)]) == 0
        blob.chmod(0o644)
        blob.write_bytes(b"tree\ncorrupted\n")
        delays = []
        for _ in range(5):
            before = time.monotonic()
            while holder.failure is None or holder.failure.attempts == len(delays):
                assert not holder.check(store)
                assert time.monotonic() - before < 5
            delays.append(holder.failure.retry_at - time.monotonic())
        assert holder.current.version == 1 and holder.failure.attempts == 5
        for measured, scheduled in zip(delays, [0.05, 0.1, 0.2, 0.2, 0.2], strict=True):
            assert scheduled - 0.03 < measured <= scheduled, delays
        assert holder.describe()["stale"].startswith("alias fr@champion -> 2, serving fr/1")

        assert main(["models", "rollback", "fr", "--store", str(two_versions)]) == 0
        assert not holder.check(store)
        assert holder.failure is None and holder.describe()["stale"] is None
    finally:
        store.close()
        blob.write_bytes(original)
