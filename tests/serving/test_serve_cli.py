"""``specops serve`` on the command line: bad arguments, --detach, --status and --stop.

A bad argument or a reference that points nowhere is exit 2 with a message that
says what to do, before any port is bound; ``--detach`` starts exactly the
server the same arguments would run in the foreground.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPECOPS_STORE", raising=False)
    monkeypatch.delenv("SPECOPS_SERVE_TOKEN", raising=False)


@pytest.fixture
def empty_store(tmp_path: Path) -> Path:
    from framework.store import Store

    root = tmp_path / ".specops"
    Store(root).close()
    return root


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--port", "70000"], "expected a port 0-65535 (0: any free port), got '70000'"),
        (["--port", "eighty"], "expected a port 0-65535"),
        (["--workers", "0"], "--workers: expected a whole number >= 1, got '0'"),
        (["--max-body-bytes", "-1"], "--max-body-bytes: expected a whole number >= 1"),
        (["--poll-ms", "0.5"], "--poll-ms: expected a whole number >= 1"),
        (["--log-max-rows", "0"], "--log-max-rows: expected a whole number >= 1"),
        (["--max-header-bytes", "0"], "--max-header-bytes: expected a whole number >= 1"),
        (["--max-connections", "none"], "--max-connections: expected a whole number >= 1"),
        (["--header-timeout", "0"], "--header-timeout: expected seconds, more than 0, got '0'"),
        (["--body-timeout", "soon"], "--body-timeout: expected seconds, more than 0"),
        (["--keep-alive-timeout", "-1"], "--keep-alive-timeout: expected seconds"),
        (["--retry-max", "nan"], "--retry-max: expected seconds, more than 0, got 'nan'"),
    ],
)
def test_bad_option_values_are_usage_errors(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from framework.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["serve", "churn", *argv])
    assert exited.value.code == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([], "say what to serve: REF (NAME, NAME@ALIAS or NAME/VERSION) or --package DIR"),
        (["churn", "--package", "model"], "give REF or --package DIR, not both"),
        (["--package", "model", "--follow", "champion"], "--follow needs a store"),
        (["--package", "model", "--detach"], "--detach needs a store for its PID file"),
    ],
)
def test_what_to_serve_must_be_said_once(
    cli: Any, no_store_env: None, argv: list[str], words: str
) -> None:
    result = cli("serve", *argv)
    assert result.code == 2 and words in result.err, result.err


def test_detach_reports_a_wrong_reference_at_once(cli: Any, lgb_store: Path) -> None:
    result = cli("serve", "churnn", "--store", lgb_store, "--detach")
    assert result.code == 2
    assert "no model named 'churnn'" in result.err and "did you mean 'churn'?" in result.err
    assert not list((lgb_store / "serve").glob("churnn-*.log"))  # nothing was started


def test_a_wrong_reference_or_package_never_starts_a_server(
    cli_process: Any, lgb_store: Path, tmp_path: Path
) -> None:
    result = cli_process("serve", "churn/9", "--store", lgb_store, "--port", "0")
    assert result.code == 2 and "model 'churn' has no version 9" in result.err
    assert "serving" not in result.out
    result = cli_process("serve", "--package", tmp_path, "--port", "0")
    assert result.code == 2 and "is not a model package (no model.json)" in result.err


def test_a_port_in_use_is_exit_2_and_says_so(cli_process: Any, lgb_store: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = cli_process(
            "serve", "churn", "--store", lgb_store, "--port", port, "--no-request-log"
        )
    assert result.code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.err
    assert "specops serve --status" in result.err


def test_status_and_stop_with_no_servers(cli: Any, empty_store: Path) -> None:
    result = cli("serve", "--status", "--store", empty_store)
    assert result.code == 0 and f"no specops servers running on {empty_store}" in result.out
    result = cli("serve", "--status", "--store", empty_store, "--json")
    assert json.loads(result.out) == {"servers": []}
    result = cli("serve", "--stop", "--store", empty_store)
    assert result.code == 0 and f"no specops servers to stop on {empty_store}" in result.out
    result = cli("serve", "--stop", "--store", empty_store, "--json")
    assert json.loads(result.out) == {"stopped": [], "failed": []}


def test_detached_servers_get_the_settings_a_foreground_one_would(
    no_store_env: None, tmp_path: Path
) -> None:
    """``--detach`` re-runs ``specops serve`` with a command line made from the settings."""
    from framework.cli.main import build_parser
    from framework.serving.command import settings_from_args
    from framework.serving.daemon import serve_argv
    from framework.serving.settings import ServeSettings

    everything = ServeSettings(
        ref="churn/2",
        store=str(tmp_path),
        follow="staging",
        host="0.0.0.0",
        port=0,
        workers=3,
        max_body_bytes=4096,
        poll_seconds=0.25,
        request_log=False,
        log_max_rows=10,
        log_max_bytes=20_000,
        fast_path=False,
        max_header_bytes=2048,
        header_timeout=2.5,
        body_timeout=7.0,
        keep_alive_timeout=1.5,
        max_connections=42,
        retry_max_seconds=9.0,
    )
    package = ServeSettings(package=str(tmp_path.resolve()), store=str(tmp_path))
    for settings in (everything, package, ServeSettings(ref="churn")):
        argv = serve_argv(settings)
        assert argv[1:4] == ["-m", "framework.cli.main", "serve"]
        assert settings_from_args(build_parser().parse_args(argv[3:])) == settings


@pytest.fixture
def detached(lgb_store: Path) -> Iterator[Path]:
    """The store; every server left running on it is stopped afterwards."""
    yield lgb_store
    from framework.serving import daemon

    for record in daemon.records(lgb_store):
        daemon.stop(record, lgb_store)


def test_detach_status_stop(cli: Any, detached: Path) -> None:
    store = detached
    started = cli(
        "serve", "churn", "--store", store, "--port", "0", "--detach", "--no-fast-path", "--json"
    )
    assert started.code == 0, started.err
    record = json.loads(started.out)
    assert record["status"] == "started" and record["model"] == "churn"
    assert record["follows"] == "champion" and record["version"] == 1
    assert "pandas path" in Path(record["log"]).read_text()  # --no-fast-path reached it

    status = json.loads(cli("serve", "--status", "churn", "--store", store, "--json").out)
    [server] = [s for s in status["servers"] if s["pid"] == record["pid"]]
    assert server["serving_version"] == 1 and server["url"] == record["url"]

    stopped = cli("serve", "--stop", "churn", "--store", store, "--port", record["port"])
    assert stopped.code == 0
    assert f"stopped churn at {record['url']} (pid {record['pid']})" in stopped.out
    assert not (store / "serve" / f"{record['pid']}.json").exists()
