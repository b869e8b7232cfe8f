"""A server whose store cannot be reached keeps serving its loaded version, says so in
``/version``, and follows the alias again once the store is back.

Here the store is a local directory moved away and back (a real ``specops serve``
process, a real store): the open SQLite connection would keep reading the moved file,
so the follower must notice the path itself. tests/team/test_serve_shared_store.py
does the same with a PostgreSQL server stopped and started.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.serving.conftest import Server, split_payload, train

SECONDS = 20


@pytest.fixture
def two_versions(tmp_path: Path) -> Path:
    """A store with su/1 and su/2; the champion is back at 1."""
    from framework.cli.main import main

    store = train(tmp_path / "project", name="su")
    train(tmp_path / "project", name="su", extra=("--set", "model.params.n_estimators=3"))
    assert main(["models", "rollback", "su", "--store", str(store)]) == 0
    return store


def wait_for(server: Server, predicate: Any, what: str) -> tuple[dict[str, Any], float]:
    """The first /version answer that satisfies ``predicate``, and how long it took."""
    client = server.connect()
    started = time.monotonic()
    answer: dict[str, Any] = {}
    try:
        while time.monotonic() < started + SECONDS:
            status, answer = client.get("/version")
            assert status == 200
            if predicate(answer):
                return answer, time.monotonic() - started
            time.sleep(0.02)
    finally:
        client.close()
    server.stop()
    assert server.process.stderr is not None
    log = server.process.stderr.read()
    raise AssertionError(f"{what} did not happen; /version said {answer}; server log:\n{log}")


def test_a_store_moved_away_is_reported_and_the_server_keeps_serving_then_follows_again(
    two_versions: Path, serve: Any, cli: Any, sample_rows: pd.DataFrame
) -> None:
    server: Server = serve("su", "--store", two_versions, "--poll-ms", "100", "--no-request-log")
    healthy, _ = wait_for(server, lambda a: "store" in a, "the store's health in /version")
    assert healthy["store"] == {"reachable": True} and healthy["stale"] is None, healthy

    away = two_versions.with_name("moved-away")
    two_versions.rename(away)
    two_versions.write_text("moved away")  # holds the path: nothing may make a store there
    try:
        lost, _ = wait_for(server, lambda a: not a["store"]["reachable"], "noticing the loss")
        assert lost["version"] == 1
        assert str(two_versions) in lost["store"]["error"]
        assert "\n" not in lost["store"]["error"]
        assert lost["store"]["since"].endswith("+00:00") and lost["store"]["attempts"] >= 1
        assert lost["stale"].startswith("the store cannot be reached since ")
        assert "serving su/1, su@champion may have moved meanwhile" in lost["stale"]

        client = server.connect()
        assert client.get("/v2/health/ready")[0] == 200  # still ready: it still answers
        status, headers, body = client.request(
            "POST", "/invocations", json.dumps(split_payload(sample_rows.head(3)))
        )
        client.close()
        assert status == 200 and headers["specops-model"] == "su/1"
        assert len(json.loads(body)["predictions"]) == 3

        # the champion moves while the server cannot see the store
        assert cli("models", "promote", "su/2", "--store", away).code == 0
        time.sleep(0.5)
        assert wait_for(server, lambda a: True, "")[0]["version"] == 1
        assert server.process.poll() is None
    finally:
        two_versions.unlink()
        away.rename(two_versions)

    back, took = wait_for(server, lambda a: a["version"] == 2, "following again once back")
    assert back["store"] == {"reachable": True} and back["stale"] is None
    assert took < 5 + 1  # STORE_RETRY_MAX_SECONDS plus a poll
    assert server.process.poll() is None
