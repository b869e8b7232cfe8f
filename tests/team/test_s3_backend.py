"""The ``s3`` artifact store on its own, against a real S3 API (moto's server on
127.0.0.1): blobs go in checked, come out verified, and every failure is one line that
names the bucket and the endpoint and never a credential."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.errors import StoreError, UserError
from plugins.store_s3 import S3Artifacts, open_s3, parse_url
from tests.team.s3_server import SECRET_KEY, S3Prefix, S3Server, free_port, moto_process

pytest.importorskip("boto3", reason="the s3 extra is not installed")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def blobs(s3_prefix: S3Prefix, tmp_path: Path) -> S3Artifacts:
    return open_s3(s3_prefix.url, {"endpoint_url": s3_prefix.endpoint}, tmp_path / "work")


def test_put_written_uploads_under_the_prefix_and_reads_back_verified(
    blobs: S3Artifacts, s3_prefix: S3Prefix, tmp_path: Path
) -> None:
    data = b"model bytes\n" * 1000
    sent: list[dict] = []
    blobs._client().meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    digest = blobs.put_written(lambda path: path.write_bytes(data))

    assert digest == sha(data)
    # S3 checks the bytes it receives against the sha256 computed here before sending
    assert [h["x-amz-checksum-sha256"] for h in sent] == [
        base64.b64encode(hashlib.sha256(data).digest())
    ]
    assert s3_prefix.keys() == [s3_prefix.key(digest)]
    assert blobs.exists(digest)
    stored = s3_prefix.server.client().get_object(
        Bucket=s3_prefix.bucket, Key=s3_prefix.key(digest)
    )
    assert stored["Body"].read() == data
    assert blobs.verified(digest, "model.pkl of m/1").read_bytes() == data
    out = tmp_path / "out" / "model.pkl"
    blobs.copy_out(digest, "model.pkl of m/1", out)
    assert out.read_bytes() == data
    assert blobs.display_url == s3_prefix.url
    # no temporary file is left in the cache
    assert not [p for p in (tmp_path / "work").rglob(".incoming-*")]


def test_a_fresh_workdir_downloads_and_a_second_put_uploads_nothing(
    blobs: S3Artifacts, s3_prefix: S3Prefix, tmp_path: Path
) -> None:
    source = tmp_path / "package.json"
    source.write_text('{"a": 1}')
    digest = blobs.put_file(source)
    assert digest == sha(source.read_bytes())
    before = s3_prefix.server.client().head_object(
        Bucket=s3_prefix.bucket, Key=s3_prefix.key(digest)
    )["LastModified"]

    other = open_s3(s3_prefix.url, {"endpoint_url": s3_prefix.endpoint}, tmp_path / "elsewhere")
    assert not other.cached_path(digest).exists()
    assert other.verified(digest, "package.json").read_text() == '{"a": 1}'
    assert other.cached_path(digest).is_file()
    assert other.put_file(source) == digest
    assert other.put_written(lambda p: p.write_text('{"a": 1}')) == digest
    after = s3_prefix.server.client().head_object(
        Bucket=s3_prefix.bucket, Key=s3_prefix.key(digest)
    )["LastModified"]
    assert after == before  # not uploaded again
    assert s3_prefix.keys() == [s3_prefix.key(digest)]


def test_a_tampered_object_is_refused_on_read(
    blobs: S3Artifacts, s3_prefix: S3Prefix, tmp_path: Path
) -> None:
    digest = blobs.put_written(lambda path: path.write_bytes(b"the real model"))
    s3_prefix.server.client().put_object(
        Bucket=s3_prefix.bucket, Key=s3_prefix.key(digest), Body=b"a poisoned model"
    )
    reader = open_s3(s3_prefix.url, {"endpoint_url": s3_prefix.endpoint}, tmp_path / "reader")

    with pytest.raises(StoreError) as refused:
        reader.verified(digest, "model.pkl of churn/3")
    message = str(refused.value)
    assert "model.pkl of churn/3 is corrupt" in message
    assert s3_prefix.key(digest) in message
    assert not reader.cached_path(digest).exists()
    assert not [p for p in (tmp_path / "reader").rglob(".incoming-*")]
    with pytest.raises(StoreError, match="is corrupt"):
        reader.copy_out(digest, "model.pkl of churn/3", tmp_path / "x" / "model.pkl")
    assert not (tmp_path / "x" / "model.pkl").exists()
    assert reader.problem(digest, full=True) is not None
    assert (reader.problem(digest, full=True) or "").startswith(
        f"blob is corrupt: s3://{s3_prefix.bucket}/{s3_prefix.key(digest)} has sha256 "
    )


def test_a_tampered_cache_is_not_trusted(blobs: S3Artifacts) -> None:
    data = b"champion bytes"
    digest = blobs.put_written(lambda path: path.write_bytes(data))
    cached = blobs.cached_path(digest)
    assert cached.read_bytes() == data  # the written file became the cached copy
    cached.write_bytes(b"edited on disk")

    assert blobs.verified(digest, "model.pkl").read_bytes() == data  # fetched again


def test_a_missing_blob_is_named(blobs: S3Artifacts, s3_prefix: S3Prefix) -> None:
    digest = sha(b"never stored")
    assert not blobs.exists(digest)
    with pytest.raises(StoreError) as missing:
        blobs.verified(digest, "model.pkl of churn/2")
    assert str(missing.value) == (
        f"artifact model.pkl of churn/2 is missing from the store: "
        f"s3://{s3_prefix.bucket}/{s3_prefix.key(digest)}"
    )
    assert blobs.problem(digest, full=False) == (
        f"blob is missing: s3://{s3_prefix.bucket}/{s3_prefix.key(digest)}"
    )


def test_blobs_lists_every_blob_across_pages_and_delete_removes_one(
    blobs: S3Artifacts, s3_prefix: S3Prefix
) -> None:
    contents = [f"blob {i}".encode() for i in range(7)]
    digests = {blobs.put_written(lambda p, c=c: p.write_bytes(c)) for c in contents}
    # keys that are not blobs of this store are not listed
    client = s3_prefix.server.client()
    client.put_object(Bucket=s3_prefix.bucket, Key=f"{s3_prefix.prefix}/blobs/README", Body=b"x")
    client.put_object(Bucket=s3_prefix.bucket, Key=f"{s3_prefix.prefix}x/blobs/ab/cd", Body=b"x")

    client_paginator = blobs._client().get_paginator
    blobs._client().get_paginator = lambda name: _small_pages(client_paginator(name))  # type: ignore[method-assign]
    listed = list(blobs.blobs())
    assert {b.digest for b in listed} == digests
    assert all(b.size == len(f"blob {i}") for b, i in zip(listed, range(7), strict=True))
    assert all(b.modified > 0 for b in listed)

    gone = sorted(digests)[0]
    assert blobs.delete(gone) is True
    assert blobs.delete(gone) is False
    assert not blobs.exists(gone)
    assert not blobs.cached_path(gone).exists()
    assert {b.digest for b in blobs.blobs()} == digests - {gone}


class _small_pages:
    """A paginator asking for 2 keys a page: the listing must follow continuation tokens."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def paginate(self, **kwargs: object) -> Iterator[dict]:
        pages = list(self.inner.paginate(**kwargs, PaginationConfig={"PageSize": 2}))  # type: ignore[attr-defined]
        assert len(pages) >= 4
        return iter(pages)


def test_large_blob_goes_up_in_parts_and_reads_back(
    s3_prefix: S3Prefix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import plugins.store_s3 as store_s3

    monkeypatch.setattr(store_s3, "MULTIPART_THRESHOLD", 5 << 20)
    blobs = open_s3(s3_prefix.url, {"endpoint_url": s3_prefix.endpoint}, tmp_path / "w")
    data = bytes(range(256)) * (24 << 10)  # 6 MiB
    digest = blobs.put_written(lambda p: p.write_bytes(data))
    reader = open_s3(s3_prefix.url, {"endpoint_url": s3_prefix.endpoint}, tmp_path / "r")
    assert reader.verified(digest, "big").read_bytes() == data
    assert reader.problem(digest, full=True) is None


def test_read_only_refuses_writes(s3_prefix: S3Prefix, tmp_path: Path) -> None:
    blobs = open_s3(s3_prefix.url, {"endpoint_url": s3_prefix.endpoint}, tmp_path, read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        blobs.put_written(lambda p: p.write_bytes(b"x"))
    with pytest.raises(StoreError, match="read-only"):
        blobs.delete(sha(b"x"))
    assert s3_prefix.keys() == []


def test_the_endpoint_comes_from_aws_endpoint_url(
    s3_prefix: S3Prefix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_prefix.endpoint)
    blobs = open_s3(s3_prefix.url, {"endpoint_url": ""}, tmp_path)  # "${env:X:-}" left empty
    digest = blobs.put_written(lambda p: p.write_bytes(b"via the environment"))
    assert s3_prefix.keys() == [s3_prefix.key(digest)]


# failures ----------------------------------------------------------------------


def test_no_such_bucket_names_bucket_and_endpoint(s3_server, tmp_path: Path) -> None:
    blobs = open_s3("s3://no-such-bucket-here/p", {"endpoint_url": s3_server.endpoint}, tmp_path)
    with pytest.raises(StoreError) as failed:
        blobs.exists(sha(b"x"))
    message = str(failed.value)
    assert "the bucket no-such-bucket-here does not exist" in message
    assert s3_server.endpoint in message
    assert SECRET_KEY not in message


def test_connection_refused_names_the_endpoint_and_no_secret(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    endpoint = f"http://admin:hunter2-password@127.0.0.1:{port}"
    blobs = open_s3("s3://bucket-x/p", {"endpoint_url": endpoint, "max_attempts": 2}, tmp_path)
    with pytest.raises(StoreError) as failed:
        blobs.put_written(lambda p: p.write_bytes(b"x"))
    message = str(failed.value)
    assert f"the S3 endpoint http://127.0.0.1:{port} is unreachable" in message
    assert "s3://bucket-x/p" in message
    assert "hunter2" not in message and "admin" not in message
    assert SECRET_KEY not in message


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])  # and never answer
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        params = {"endpoint_url": endpoint, "read_timeout": 0.5, "max_attempts": 2}
        blobs = open_s3("s3://bucket-y", params, tmp_path)
        with pytest.raises(StoreError) as failed:
            blobs.exists(sha(b"x"))
        assert str(failed.value) == (
            f"cannot open the bucket: the S3 endpoint {endpoint} did not answer within "
            "0.5 s (2 attempts) for s3://bucket-y"
        )
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_wrong_credentials_say_access_denied_without_the_secret(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that checks signatures (moto with its IAM checks on) refuses keys it
    does not know: the error says so, naming the bucket and endpoint, not the secret."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-that-must-not-show")
    strict = {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    with moto_process(tmp_path / "strict.log", strict) as endpoint:
        blobs = open_s3("s3://team-bucket/specops", {"endpoint_url": endpoint}, tmp_path)
        with pytest.raises(StoreError) as failed:
            blobs.put_written(lambda p: p.write_bytes(b"x"))
    message = str(failed.value)
    assert message.startswith(
        f"cannot open the bucket: access denied to s3://team-bucket/specops at {endpoint} ("
    )
    assert "AWS_ACCESS_KEY_ID" in message
    assert "s3cr3t" not in message


def test_urls_with_credentials_or_options_are_refused() -> None:
    with pytest.raises(UserError) as refused:
        parse_url("s3://AKIA:topsecret@bucket/prefix")
    assert "topsecret" not in str(refused.value)
    with pytest.raises(UserError, match="takes no"):
        parse_url("s3://bucket/prefix?region=eu-west-1")
    with pytest.raises(UserError, match="not a valid bucket name"):
        parse_url("s3://Bad_Bucket/x")
    with pytest.raises(UserError, match=r"'\.\.'"):
        parse_url("s3://bucket/a/../b")
    assert parse_url("s3://bucket//team/specops/") == ("bucket", "team/specops")
    assert parse_url("s3://bucket") == ("bucket", "")


def test_unknown_params_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"unknown param.*secret_key"):
        open_s3("s3://bucket/p", {"secret_key": "x"}, tmp_path)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"read_timeout": 0}, "read_timeout"),
        ({"connect_timeout": "5"}, "connect_timeout"),
        ({"max_attempts": 1.5}, "max_attempts"),
        ({"max_attempts": 100}, "max_attempts"),
        ({"endpoint_url": 9000}, "endpoint_url"),
    ],
)
def test_bad_params_are_refused_by_name(params: dict, named: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"param {named}: expected"):
        open_s3("s3://bucket/p", params, tmp_path)


KILLED_UPLOAD = """
import os, sys
from pathlib import Path
import plugins.store_s3 as s3
s3.MULTIPART_THRESHOLD = s3.MULTIPART_CHUNK = 5 << 20
blobs = s3.open_s3(sys.argv[1], {"endpoint_url": sys.argv[2]}, Path(sys.argv[3]))
blobs.put_written(lambda p: p.write_bytes(os.urandom(60 << 20)))
"""


def test_an_upload_killed_midway_leaves_no_object(s3_prefix: S3Prefix, tmp_path: Path) -> None:
    """SIGKILL during a multipart upload: S3 shows an object only once it is completed,
    so nothing a row could name appears (the parts wait for the bucket's lifecycle rule)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "upload.py"
    script.write_text(KILLED_UPLOAD)
    process = subprocess.Popen(
        [sys.executable, str(script), s3_prefix.url, s3_prefix.endpoint, str(tmp_path / "w")],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    client = s3_prefix.server.client()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            uploads = client.list_multipart_uploads(
                Bucket=s3_prefix.bucket, Prefix=s3_prefix.prefix
            ).get("Uploads", [])
            if uploads:
                break
            time.sleep(0.05)
        assert uploads, "the upload never started"
        time.sleep(0.1)  # some parts are on their way
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    pending = client.list_multipart_uploads(Bucket=s3_prefix.bucket, Prefix=s3_prefix.prefix)
    assert pending.get("Uploads"), "the upload ended before the kill: nothing was tested"
    assert s3_prefix.keys() == []
    reader = open_s3(s3_prefix.url, {"endpoint_url": s3_prefix.endpoint}, tmp_path / "r")
    assert list(reader.blobs()) == []


def test_what_this_workdir_stored_is_read_back_without_a_download(
    blobs: S3Artifacts, tmp_path: Path
) -> None:
    calls: list[str] = []
    blobs._client().meta.events.register(
        "before-call.s3", lambda event_name, **_: calls.append(event_name.rsplit(".", 1)[-1])
    )
    source = tmp_path / "model.txt"
    source.write_text("trees")
    written = blobs.put_written(lambda p: p.write_text("rows"))
    copied = blobs.put_file(source)
    source.write_text("edited after storing")  # the cache holds its own copy

    assert blobs.verified(copied, "model.txt").read_text() == "trees"
    assert blobs.verified(written, "rows").read_text() == "rows"
    assert calls == ["HeadObject", "PutObject", "HeadObject", "PutObject"]


def test_a_name_that_is_not_a_sha256_never_becomes_a_path_or_key(blobs: S3Artifacts) -> None:
    for bad in ("../../../etc/passwd", "AB" * 32, "a" * 63):
        with pytest.raises(StoreError, match="is not a blob name"):
            blobs.verified(bad, "model.pkl")
        with pytest.raises(StoreError, match="is not a blob name"):
            blobs.exists(bad)
