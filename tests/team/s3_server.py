"""A real S3 API on 127.0.0.1 for the shared-store tests: moto's standalone server.

``s3_server`` (session) starts ``moto_server`` as a subprocess on a free port, waits
until it answers, sets fake credentials in the environment (the backend reads them
the way every S3 client does: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``),
creates one bucket and stops the server at the end. ``s3_prefix`` gives each test
its own key prefix in that bucket, so tests never see each other's blobs.

Use it from a test module with ``from tests.team.s3_server import s3_server, s3_prefix``
(or a conftest that imports them).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "AKIASPECOPSTESTKEY00"
SECRET_KEY = "specops-test-secret-Zq8v1XKmN3b7TT"
"""Fake credentials moto accepts; the secret is distinctive so a test can look for it
in output and errors."""
REGION = "us-east-1"
BUCKET = "specops-test-bucket"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class S3Server:
    """A running moto server: where it answers and the bucket made for the tests."""

    endpoint: str
    bucket: str

    @property
    def env(self) -> dict[str, str]:
        """What another process needs to reach it: the standard AWS_* variables only."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def client(self):  # -> botocore S3 client
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )


@dataclass(frozen=True)
class S3Prefix:
    """One test's corner of the bucket: ``s3://bucket/prefix``."""

    server: S3Server
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.server.bucket}/{self.prefix}"

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def bucket(self) -> str:
        return self.server.bucket

    def key(self, digest: str) -> str:
        """Where the backend keeps the blob ``digest``."""
        return f"{self.prefix}/blobs/{digest[:2]}/{digest[2:]}"

    def keys(self) -> list[str]:
        """Every object under this prefix."""
        client = self.server.client()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + "/"
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_server() -> str | None:
    here = Path(sys.executable).parent / "moto_server"
    return str(here) if here.is_file() else shutil.which("moto_server")


def _wait_until_up(endpoint: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1.0):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer on {endpoint} within {START_TIMEOUT:.0f} s")


class MotoProcess:
    """``moto_server`` on a free 127.0.0.1 port, as a subprocess, until ``stop()``."""

    def __init__(self, log: Path, env: dict[str, str] | None = None) -> None:
        command = _moto_server()
        if command is None:
            why = "moto_server is not installed (the test extra: moto[server])"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{why}: CI must run the S3 tests")
            pytest.skip(why)
        self.endpoint = f"http://127.0.0.1:{free_port()}"
        port = self.endpoint.rsplit(":", 1)[1]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [command, "-H", "127.0.0.1", "-p", port],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        # a sentinel stops the server once this process is gone without calling stop()
        # (SIGKILL, or timeout's SIGTERM: neither runs atexit)
        self.watchdog = subprocess.Popen(
            [
                "/bin/sh",
                "-c",
                f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
                f"kill {self.process.pid} 2>/dev/null",
            ],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_up(self.endpoint, self.process)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.watchdog.poll() is None:
            self.watchdog.kill()
            self.watchdog.wait()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def moto_process(log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """A moto server of one's own for the block (``INITIAL_NO_AUTH_ACTION_COUNT=0`` in
    ``env``: it checks every request's signature, i.e. refuses unknown keys); its URL."""
    server = MotoProcess(log, env)
    try:
        yield server.endpoint
    finally:
        server.stop()


_shared: tuple[MotoProcess, S3Server] | None = None
_starting = threading.Lock()


def shared_server() -> S3Server:
    """The process's one moto server with the test bucket, started on first use and
    stopped when the process exits (however many test modules import the fixtures)."""
    global _shared
    with _starting:
        if _shared is None or _shared[0].process.poll() is not None:
            home = Path(tempfile.mkdtemp(prefix="specops-moto-"))
            process = MotoProcess(home / "moto_server.log")
            atexit.register(process.stop)
            atexit.register(shutil.rmtree, home, True)
            server = S3Server(process.endpoint, BUCKET)
            server.client().create_bucket(Bucket=BUCKET)
            _shared = (process, server)
        return _shared[1]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server with the test bucket, and fake AWS_* credentials in this
    process's environment for the session (none of the developer's own are used)."""
    server = shared_server()
    patch = pytest.MonkeyPatch()
    home = Path(tempfile.mkdtemp(prefix="specops-aws-"))
    try:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        patch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield server
    finally:
        patch.undo()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def s3_prefix(s3_server: S3Server) -> S3Prefix:
    """A fresh key prefix in the test bucket for one test."""
    return S3Prefix(s3_server, f"t-{uuid.uuid4().hex[:12]}")
