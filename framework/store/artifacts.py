"""Content-addressed blobs: a file's name is the sha256 of its bytes.

Writes go to a temporary file that is renamed into place, so a blob is either
whole or absent. Every read checks the hash again, so a tampered or truncated
blob is refused before anything parses it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from framework.errors import StoreError

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactStore:
    """Blobs under ``root/ab/cdef...``, written atomically and verified on read."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def put_written(self, write: Callable[[Path], None]) -> str:
        """Store what ``write(path)`` writes, without an extra copy: it writes straight
        into a temporary file here, which is hashed and renamed into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        os.close(handle)
        temp = Path(temp_name)
        try:
            write(temp)
            with temp.open("rb+") as written:
                os.fsync(written.fileno())
            name = sha256_file(temp)
            target = self.path_of(name)
            if target.exists() and sha256_file(target) == name:
                temp.unlink()
            else:
                target.parent.mkdir(exist_ok=True)
                os.replace(temp, target)
            return name
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def put_file(self, source: Path) -> str:
        """Store a copy of ``source``; returns its sha256. Storing twice costs nothing."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        temp = Path(temp_name)
        digest = hashlib.sha256()
        try:
            with os.fdopen(handle, "wb") as out, source.open("rb") as data:
                while chunk := data.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            name = digest.hexdigest()
            target = self.path_of(name)
            if target.exists() and sha256_file(target) == name:
                temp.unlink()
            else:
                target.parent.mkdir(exist_ok=True)
                os.replace(temp, target)
            return name
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def verified(self, digest: str, label: str) -> Path:
        """The blob's path, after checking its bytes still hash to ``digest``."""
        path = self.path_of(digest)
        if not path.is_file():
            raise StoreError(f"artifact {label} is missing from the store: {path}")
        actual = sha256_file(path)
        if actual != digest:
            raise StoreError(
                f"artifact {label} is corrupt: {path} has sha256 {actual[:12]}..., "
                f"expected {digest[:12]}...; refusing to load it"
            )
        return path

    def copy_out(self, digest: str, label: str, destination: Path) -> None:
        """Copy a blob to ``destination`` and verify the copy: what is loaded is checked."""
        source = self.path_of(digest)
        if not source.is_file():
            raise StoreError(f"artifact {label} is missing from the store: {source}")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        actual = sha256_file(destination)
        if actual != digest:
            destination.unlink()
            raise StoreError(
                f"artifact {label} is corrupt: {source} has sha256 {actual[:12]}..., "
                f"expected {digest[:12]}...; refusing to load it"
            )
