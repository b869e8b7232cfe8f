"""Blobs in S3 (or any S3-compatible service: MinIO, Ceph, R2): the ``s3`` artifact store.

``s3://bucket/prefix`` keeps each blob at ``prefix/blobs/ab/cdef...``, named by the
sha256 of its bytes like the local store. What this backend promises:

- **Whole or absent.** A blob is uploaded by one PutObject (or one multipart upload
  for large files, completed in one call): S3 shows an object only once it is whole,
  so a process killed mid-upload leaves nothing a row could name.
- **Checked on the way in.** The sha256 is computed locally before the upload and sent
  with it (``x-amz-checksum-sha256``; per part for multipart uploads): S3 refuses an
  upload whose bytes arrive damaged. A blob already present (HEAD) is not sent again.
- **Checked on the way out.** Every read downloads into the local cache
  (``WORKDIR/cache/blobs/ab/cdef...``) through a temporary file, hashes it and only
  then renames it into place. A cached copy is reused but **re-hashed on every read**
  (what the local store does to its own files): the cache is a plain local folder
  anyone with the account can write, so a copy that no longer hashes right is thrown
  away and downloaded again, and a downloaded copy that does not hash right is refused
  naming the object. The cache may be deleted at any time.
- **A bounded cache.** The cached blobs are kept under ``params.cache_bytes`` (else
  ``$SPECOPS_S3_CACHE_BYTES``, else 10 GiB), least recently read first, never one read
  in the last ten minutes (:mod:`plugins.store_s3_cache`).

Where and who: the endpoint is ``params.endpoint_url``, else boto3's own lookup
(``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3``, the AWS config file); region and
credentials come from the standard ``AWS_*`` environment (or config/instance role),
never from the URL or the spec, and are never stored or shown: ``display_url`` is
``s3://bucket/prefix``. Every S3 call has connect/read time-outs and a bounded number
of attempts, and every failure becomes a StoreError (exit 2) naming the bucket, the
endpoint and what failed.

boto3 is imported only when a blob is first touched (``pip install 'specops[s3]'``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from framework import Register, StoreError, UserError, hookimpl
from framework.store import BlobInfo, sha256_file
from plugins.store_s3_cache import (
    CACHE_VARIABLE,
    DEFAULT_CACHE_BYTES,
    MAX_CACHE_BYTES,
    limit_from_environment,
    touch,
    trim,
)

CHUNK = 1 << 20
MULTIPART_THRESHOLD = 64 << 20
"""Bytes: a larger blob goes up as a multipart upload (each part checksummed by S3)."""
MULTIPART_CHUNK = 32 << 20
"""Bytes per part of a multipart upload."""
TEMP_PREFIX = ".incoming-"
"""Temporary files in the cache: named like the local store's so ``store gc`` knows them."""

DEFAULTS: dict[str, Any] = {"connect_timeout": 5.0, "read_timeout": 60.0, "max_attempts": 3}
"""A dead endpoint fails a command in seconds (connection refused) or about half a minute
(no answer to connect: 3 attempts x 5 s plus back-off), never hangs it."""

PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "endpoint_url": {
            "type": "string",
            "description": "the S3 API endpoint (MinIO, Ceph, ...); empty or absent: "
            "AWS_ENDPOINT_URL, else AWS itself",
        },
        "connect_timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 600,
            "description": "seconds to wait for a connection (default 5)",
        },
        "read_timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 3600,
            "description": "seconds to wait for the server to answer (default 60)",
        },
        "max_attempts": {
            "type": "integer",
            "minimum": 1,
            "maximum": 20,
            "description": "tries of each request, the first included (default 3)",
        },
        "cache_bytes": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_CACHE_BYTES,
            "description": "bytes the local read cache (WORKDIR/cache/blobs) may keep; "
            "least recently read blobs go first, none read in the last 10 minutes "
            f"(default ${CACHE_VARIABLE}, else {DEFAULT_CACHE_BYTES >> 30} GiB)",
        },
    },
}

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_BLOB_KEY = re.compile(r"^([0-9a-f]{2})/([0-9a-f]{62})$")
_DENIED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
    "AccountProblem",
}
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``; UserError naming
    what is wrong otherwise (never echoing credentials a URL should not carry)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3":
        raise UserError(f"an S3 artifact store URL starts with s3://, not {parts.scheme}://")
    if "@" in parts.netloc:
        raise UserError(
            "an s3:// URL names a bucket, never credentials: remove the 'user:secret@' part "
            "and set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment instead"
        )
    if parts.query or parts.fragment:
        raise UserError(
            f"s3://{parts.netloc}{parts.path}: an s3:// URL takes no '?...' or '#...'; "
            "put options in the store's params (endpoint_url, timeouts)"
        )
    bucket = parts.netloc
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise UserError(
            f"s3://{bucket}: not a valid bucket name (3 to 63 lower-case letters, digits, "
            "'.' and '-', starting and ending with a letter or digit)"
        )
    segments = [s for s in parts.path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise UserError(f"s3://{bucket}{parts.path}: '.' and '..' are not allowed in the prefix")
    return bucket, "/".join(segments)


def safe_endpoint(endpoint: str | None) -> str:
    """An endpoint URL fit to show: any ``user:password@`` and query removed."""
    if not endpoint:
        return "the default AWS endpoint"
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class S3Artifacts:
    """Content-addressed blobs in ``s3://bucket/prefix``, cached and verified locally."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        workdir: Path,
        *,
        endpoint_url: str | None = None,
        connect_timeout: float = DEFAULTS["connect_timeout"],
        read_timeout: float = DEFAULTS["read_timeout"],
        max_attempts: int = DEFAULTS["max_attempts"],
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        read_only: bool = False,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.workdir = workdir
        self.cache = workdir / "cache" / "blobs"
        self.cache_bytes = int(cache_bytes)
        self.read_only = read_only
        self.display_url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self._endpoint_url = endpoint_url or None
        self._timeouts = (float(connect_timeout), float(read_timeout), int(max_attempts))
        self._s3: Any = None
        self._opening = threading.Lock()  # several threads may send blobs at once
        self._pending: Any = None

    # where things are --------------------------------------------------------

    def key_of(self, digest: str) -> str:
        return f"{self._blob_root}{digest[:2]}/{digest[2:]}"

    @property
    def _blob_root(self) -> str:
        return f"{self.prefix}/blobs/" if self.prefix else "blobs/"

    def url_of(self, digest: str) -> str:
        """Where a blob is, as a user can find it: ``s3://bucket/prefix/blobs/ab/cdef...``."""
        return f"s3://{self.bucket}/{self.key_of(digest)}"

    def cached_path(self, digest: str) -> Path:
        return self.cache / digest[:2] / digest[2:]

    @property
    def endpoint(self) -> str:
        """The endpoint in use, safe to show (boto3's choice once a client exists)."""
        client = self._s3 or self._pending
        if client is not None:
            return safe_endpoint(client.meta.endpoint_url)
        return safe_endpoint(self._endpoint_url or os.environ.get("AWS_ENDPOINT_URL"))

    # writing -----------------------------------------------------------------

    def put_written(self, write: Callable[[Path], None]) -> str:
        """Upload what ``write(path)`` writes to a temporary file in the local cache; the
        written file then becomes the cached copy (no download to read it back)."""
        self._writable()
        temp = self._temp()
        try:
            write(temp)
            digest = sha256_file(temp)
            self._upload(temp, digest)
            self._keep(temp, digest)
            return digest
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def put_file(self, source: Path) -> str:
        """Upload a local file (hashed first); a blob already in the bucket is not sent.
        A copy goes into the cache, so reading it back in this workdir downloads nothing
        (reads re-hash the cached copy: a file changed meanwhile is fetched again)."""
        self._writable()
        digest = sha256_file(source)
        self._upload(source, digest)
        cached = self.cached_path(digest)
        if not (touch(cached) and cached.is_file()):  # cached: written now, as good as read
            temp = self._temp()
            try:
                shutil.copyfile(source, temp)
                self._keep(temp, digest)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
        return digest

    def _upload(self, path: Path, digest: str) -> bool:
        """Send ``path`` as blob ``digest`` unless an object of that name is there; True
        when it was sent.

        One PutObject carries the sha256, so S3 refuses bytes that arrive damaged; a
        multipart upload is checked part by part, and its size is checked afterwards."""
        if self._head(digest, "check whether blob is present") is not None:
            return False
        size = path.stat().st_size
        what = f"upload blob {digest[:12]}... ({size} bytes)"
        with self._errors(what, digest):
            if size <= MULTIPART_THRESHOLD:
                with path.open("rb") as body:
                    self._client().put_object(
                        Bucket=self.bucket,
                        Key=self.key_of(digest),
                        Body=body,
                        ContentLength=size,
                        ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode("ascii"),
                        Metadata={"sha256": digest},
                    )
                return True
            from boto3.s3.transfer import TransferConfig

            self._client().upload_file(
                str(path),
                self.bucket,
                self.key_of(digest),
                ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": digest}},
                Config=TransferConfig(
                    multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK
                ),
            )
        head = self._head(digest, "check the uploaded blob")
        if head is None or head.get("ContentLength") != size:
            found = "nothing" if head is None else f"{head.get('ContentLength')} bytes"
            raise StoreError(
                f"uploading blob {digest[:12]}... to {self.url_of(digest)} ({self.endpoint}) "
                f"did not stick: {size} bytes sent, {found} there; nothing refers to it, "
                "run again"
            )
        return True

    def _keep(self, temp: Path, digest: str) -> None:
        """Move a local file known to hash to ``digest`` into the cache, then bound the
        cache (one pass, only when a blob enters it; never raises)."""
        target = self.cached_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)
        touch(target)  # an upload may have taken long: its mtime says when it was written
        trim(self.cache, self.cache_bytes, keep=target)

    def _temp(self) -> Path:
        self.cache.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.cache, prefix=TEMP_PREFIX)
        os.close(handle)
        return Path(name)

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the artifact store {self.display_url} was opened read-only")

    # reading -----------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Is the object in the bucket (one HEAD; the local cache does not count)?"""
        return self._head(digest, "check whether blob is present") is not None

    def verified(self, digest: str, label: str) -> Path:
        """The cached copy, re-hashed; downloaded (and hashed) when absent or damaged.

        A hit is marked read (its mtime) before it is hashed, so a concurrent eviction
        (another process bounding the same cache) passes it by; one evicted all the same
        is downloaded again."""
        _check_digest(digest)
        target = self.cached_path(digest)
        if self._cached(target, digest):
            return target
        temp = self._temp()
        try:
            actual = self._download(digest, label, temp)
            if actual != digest:
                raise self._corrupt(label, digest, actual)
            self._keep(temp, digest)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return target

    @staticmethod
    def _cached(target: Path, digest: str) -> bool:
        """Is the cached copy there and whole (marked read when it is)?"""
        if not touch(target):
            return False
        try:
            if sha256_file(target) != digest:
                target.unlink(missing_ok=True)  # a damaged cache: the bucket is the truth
                return False
        except (FileNotFoundError, IsADirectoryError):
            return False
        return target.is_file()

    def copy_out(self, digest: str, label: str, destination: Path) -> None:
        """Copy the verified blob to ``destination`` and hash the copy too."""
        source = self.verified(digest, label)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        actual = sha256_file(destination)
        if actual != digest:
            destination.unlink()
            raise StoreError(
                f"artifact {label}: the copy at {destination} has sha256 {actual[:12]}..., "
                f"expected {digest[:12]}... (the disk under it is failing?)"
            )

    def _download(self, digest: str, label: str, temp: Path) -> str:
        """Stream the object into ``temp``, hashing as it comes; its sha256."""
        hasher = hashlib.sha256()
        with self._errors(f"download artifact {label}", digest, missing=label):
            response = self._client().get_object(Bucket=self.bucket, Key=self.key_of(digest))
            with temp.open("wb") as out:
                for chunk in response["Body"].iter_chunks(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
        return hasher.hexdigest()

    def problem(self, digest: str, *, full: bool) -> str | None:
        """Missing (HEAD), or with ``full`` also corrupt (downloaded and hashed)."""
        head = self._head(digest, "check blob")
        if head is None:
            return f"blob is missing: {self.url_of(digest)}"
        claimed = head.get("ChecksumSHA256")
        whole = "-" not in str(head.get("ETag", ""))  # a multipart upload's is per part
        expected = base64.b64encode(bytes.fromhex(digest)).decode("ascii")
        if claimed and whole and claimed != expected:
            return f"blob is corrupt: {self.url_of(digest)} carries another sha256 checksum"
        if full:
            try:
                if self.cached_path(digest).is_file():
                    self.verified(digest, "blob")
                else:
                    self._check_remote(digest)
            except CorruptBlob as exc:
                return str(exc).removeprefix("artifact ").removesuffix("; refusing to load it")
        return None

    def _check_remote(self, digest: str) -> None:
        """Download and hash a blob without caching it: ``store verify --full`` over a
        whole bucket neither fills the disk nor pushes a server's models out of its cache."""
        temp = self._temp()
        try:
            actual = self._download(digest, "blob", temp)
        finally:
            temp.unlink(missing_ok=True)
        if actual != digest:
            raise self._corrupt("blob", digest, actual)

    def _corrupt(self, label: str, digest: str, actual: str) -> CorruptBlob:
        return CorruptBlob(
            f"artifact {label} is corrupt: {self.url_of(digest)} has sha256 "
            f"{actual[:12]}..., expected {digest[:12]}...; refusing to load it"
        )

    # listing and deleting ----------------------------------------------------

    def blobs(self) -> Iterator[BlobInfo]:
        """Every blob object under ``prefix/blobs/`` (other keys are not ours: skipped)."""
        root = self._blob_root
        with self._errors("list blobs"):
            pages = (
                self._client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.bucket, Prefix=root)
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    found = _BLOB_KEY.match(item["Key"][len(root) :])
                    if found:
                        yield BlobInfo(
                            found.group(1) + found.group(2),
                            int(item["Size"]),
                            item["LastModified"].timestamp(),
                        )

    def delete(self, digest: str) -> bool:
        """Delete the object (and the cached copy); False when it was not there."""
        self._writable()
        _check_digest(digest)
        with contextlib.suppress(FileNotFoundError):
            self.cached_path(digest).unlink()
        if self._head(digest, "check blob before deleting it") is None:
            return False
        with self._errors(f"delete blob {digest[:12]}...", digest):
            self._client().delete_object(Bucket=self.bucket, Key=self.key_of(digest))
        return True

    # S3 ----------------------------------------------------------------------

    def _head(self, digest: str, what: str) -> dict[str, Any] | None:
        """The object's metadata, or None when there is no such object."""
        from botocore.exceptions import ClientError

        _check_digest(digest)
        try:
            with self._errors(what, digest, missing_ok=True):
                return self._client().head_object(
                    Bucket=self.bucket, Key=self.key_of(digest), ChecksumMode="ENABLED"
                )
        except ClientError:  # only a "not found" gets here (missing_ok)
            return None

    def _client(self) -> Any:
        """One boto3 client per backend (boto3's clients are thread-safe), made on first
        use, the bucket checked once."""
        if self._s3 is not None:
            return self._s3
        with self._opening:
            return self._open_client()

    def _open_client(self) -> Any:
        if self._s3 is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:
                raise UserError(
                    f"the artifact store {self.display_url} needs boto3: pip install 'specops[s3]'"
                ) from exc
            connect, read, attempts = self._timeouts
            config = Config(
                connect_timeout=connect,
                read_timeout=read,
                retries={"max_attempts": attempts, "mode": "standard"},
                signature_version="s3v4",
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            with self._errors("connect"):
                client = boto3.session.Session().client(
                    "s3", endpoint_url=self._endpoint_url, config=config
                )
            self._pending = client  # its endpoint names errors of the bucket check
            try:
                with self._errors("open the bucket"):
                    client.head_bucket(Bucket=self.bucket)
            finally:
                self._pending = None
            self._s3 = client  # only a checked client is shared with other threads
        return self._s3

    @contextlib.contextmanager
    def _errors(
        self,
        what: str,
        digest: str | None = None,
        *,
        missing: str | None = None,
        missing_ok: bool = False,
    ) -> Iterator[None]:
        """Turn what boto3 raises into one StoreError line: what failed, the bucket, the
        endpoint and why (never a credential: boto3's messages carry none, and the
        endpoint is shown without any ``user:password@``)."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        where = f"{self.display_url} at {self.endpoint}"
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "NoSuchBucket" or (what == "open the bucket" and code in _NOT_FOUND):
                raise StoreError(
                    f"cannot {what}: the bucket {self.bucket} does not exist at "
                    f"{self.endpoint} (create it, or fix the store's artifacts URL)"
                ) from None
            if code in _NOT_FOUND:
                if missing_ok:
                    raise
                if missing is not None and digest is not None:
                    raise StoreError(
                        f"artifact {missing} is missing from the store: {self.url_of(digest)}"
                    ) from None
            if code in _DENIED:
                raise StoreError(
                    f"cannot {what}: access denied to {where} ({code}); check the "
                    "credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) "
                    "and the bucket's policy"
                ) from None
            message = _clean(str(error.get("Message") or exc))
            raise StoreError(f"cannot {what} in {where}: {code} {message}".rstrip()) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise StoreError(
                f"cannot {what} in {where}: no AWS credentials found; set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment"
            ) from None
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise StoreError(
                f"cannot {what}: the S3 endpoint {self.endpoint} is unreachable "
                f"({type(exc).__name__}) for {self.display_url}"
            ) from None
        except ReadTimeoutError:
            _, read, attempts = self._timeouts
            raise StoreError(
                f"cannot {what}: the S3 endpoint {self.endpoint} did not answer within "
                f"{read:g} s ({attempts} attempts) for {self.display_url}"
            ) from None
        except BotoCoreError as exc:
            raise StoreError(
                f"cannot {what} in {where}: {type(exc).__name__}: {_clean(str(exc))}"
            ) from None


class CorruptBlob(StoreError):
    """A blob whose bytes do not hash to its name."""


def _check_digest(digest: str) -> None:
    """A blob name is 64 hex digits: anything else (from a damaged or hand-edited row)
    never becomes a key or a path in the cache."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise StoreError(f"{str(digest)[:80]!r} is not a blob name (a sha256 in hex)")


def _clean(text: str) -> str:
    """A server's message on one line, bounded, any URL's ``user:password@`` removed."""
    text = re.sub(r"(\w+://)[^/@\s]*@", r"\1", text)
    return " ".join(text.split())[:300]


_UNITS = {"number": "a number of seconds", "integer": "a whole number"}


def _check_number(name: str, value: Any) -> None:
    """UserError naming the param when ``value`` is not the number its schema allows."""
    schema = PARAMS_SCHEMA["properties"][name]
    whole = schema["type"] == "integer"
    number = isinstance(value, int if whole else int | float) and not isinstance(value, bool)
    high = schema["maximum"]
    if "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"]
        fits = number and low < value <= high
        span = f"above {low} and at most {high}"
    else:
        low = schema["minimum"]
        fits = number and low <= value <= high
        span = f"from {low} to {high}"
    if not fits:
        kind = "a whole number of bytes" if name == "cache_bytes" else _UNITS[schema["type"]]
        got = f"{value!r:.80}"
        raise UserError(f"s3 artifact store param {name}: expected {kind} {span}, got {got}")


def open_s3(
    url: str, params: Mapping[str, Any], workdir: Path, *, read_only: bool = False
) -> S3Artifacts:
    """The ``artifact_store`` factory for ``s3://bucket/prefix`` URLs."""
    bucket, prefix = parse_url(url)
    unknown = sorted(set(params) - set(PARAMS_SCHEMA["properties"]))
    if unknown:
        raise UserError(
            f"unknown param(s) of the s3 artifact store: {', '.join(unknown)} "
            f"(known: {', '.join(PARAMS_SCHEMA['properties'])})"
        )
    options = {**DEFAULTS, **{k: v for k, v in params.items() if k != "endpoint_url"}}
    if options.get("cache_bytes") is None:  # absent (or null): the environment's, else 10 GiB
        options["cache_bytes"] = limit_from_environment()
    for name, value in options.items():
        _check_number(name, value)
    endpoint = params.get("endpoint_url")
    if endpoint is not None and not isinstance(endpoint, str):
        raise UserError(f"s3 artifact store param endpoint_url: expected a URL, got {endpoint!r}")
    return S3Artifacts(
        bucket,
        prefix,
        workdir,
        endpoint_url=str(params.get("endpoint_url") or "") or None,
        read_only=read_only,
        **options,
    )


@hookimpl
def specops_register_artifact_stores(register: Register) -> None:
    register(
        "s3",
        open_s3,
        PARAMS_SCHEMA,
        summary="blobs in S3 or an S3-compatible service (MinIO, Ceph), verified on read",
    )
