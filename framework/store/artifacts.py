"""Content-addressed blobs: a file's name is the sha256 of its bytes.

Writes go to a temporary file that is renamed into place, so a blob is either
whole or absent; the directory is synced after the rename, so once a row naming
the blob commits (durably), a power loss cannot undo the rename behind it. Every
read checks the hash again, so a tampered or truncated blob is refused before
anything parses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from framework.errors import StoreError
from framework.store.backends import BlobInfo

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


BLOB_NAME = re.compile(r"^[0-9a-f]{62}$")
SHA256_NAME = re.compile(r"^[0-9a-f]{64}\Z")
BLOB_DIR = re.compile(r"^[0-9a-f]{2}$")


class ArtifactStore:
    """Blobs under ``root/ab/cdef...``, written atomically and verified on read.

    The ``file`` artifact backend (:class:`framework.store.backends.ArtifactBackend`).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.display_url = str(root)
        self.linked_folders: list[Path] = []
        """Blob folders found to be symbolic links by the last :meth:`blobs`."""

    def path_of(self, digest: str) -> Path:
        """Where blob ``digest`` is; StoreError for a name that is not a sha256 (one read
        from a crafted row, ``../../etc/passwd``, never becomes a path)."""
        if not isinstance(digest, str) or not SHA256_NAME.match(digest):
            raise StoreError(
                f"{str(digest)[:80]!r} is not a blob name (a sha256): the row naming it is "
                "damaged or crafted (`specops store verify`)"
            )
        return self.root / digest[:2] / digest[2:]

    def put_written(self, write: Callable[[Path], None]) -> str:
        """Store what ``write(path)`` writes, without an extra copy: it writes straight
        into a temporary file here, which is hashed and renamed into place."""
        handle, temp = self._incoming()
        os.close(handle)
        try:
            write(temp)
            with temp.open("rb+") as written:
                os.fsync(written.fileno())
            return self._place(temp, sha256_file(temp))
        except BaseException as exc:
            temp.unlink(missing_ok=True)
            _name_the_file(exc, temp)
            raise

    def put_file(self, source: Path) -> str:
        """Store a copy of ``source``; returns its sha256. Storing twice costs nothing."""
        handle, temp = self._incoming()
        digest = hashlib.sha256()
        try:
            with os.fdopen(handle, "wb") as out, source.open("rb") as data:
                while chunk := data.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            return self._place(temp, digest.hexdigest())
        except BaseException as exc:
            temp.unlink(missing_ok=True)
            _name_the_file(exc, temp)
            raise

    def _incoming(self) -> tuple[int, Path]:
        """A new temporary file beside the blobs (same file system: the rename is atomic)."""
        if not self.root.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            sync_directory(self.root.parent)
        handle, name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        return handle, Path(name)

    def _place(self, temp: Path, name: str) -> str:
        """Rename a written, synced temporary file into place as blob ``name``; an intact
        blob of that name already there is kept and the temporary file dropped."""
        target = self.path_of(name)
        if target.exists() and sha256_file(target) == name:
            temp.unlink()
        else:
            if not target.parent.is_dir():
                if target.parent.exists() or target.parent.is_symlink():
                    raise StoreError(
                        f"{target.parent} is not a directory, but the store keeps the blobs "
                        f"whose names start with {target.parent.name} there: move it away "
                        "(or restore the store from a backup) and run again"
                    )
                target.parent.mkdir(exist_ok=True)
                sync_directory(self.root)
            os.replace(temp, target)
            sync_directory(target.parent)  # the rename is durable before any row names it
        return name

    def _present(self, digest: str, label: str) -> Path:
        path = self.path_of(digest)
        if not path.is_file():
            raise StoreError(f"artifact {label} is missing from the store: {path}")
        return path

    def verified(self, digest: str, label: str) -> Path:
        """The blob's path, after checking its bytes still hash to ``digest``."""
        path = self._present(digest, label)
        actual = sha256_file(path)
        if actual != digest:
            raise _corrupt(label, path, actual, digest)
        return path

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def problem(self, digest: str, *, full: bool) -> str | None:
        """ "blob is missing", or (with ``full``, reading it) "blob is corrupt: ..."."""
        path = self.path_of(digest)
        if not path.is_file():
            return "blob is missing"
        if full:
            actual = sha256_file(path)
            if actual != digest:
                return f"blob is corrupt: sha256 {actual[:12]}..., expected {digest[:12]}..."
        return None

    def blobs(self) -> Iterator[BlobInfo]:
        """Every blob file under ``root/ab/cdef...`` (temporary files are not blobs).

        A fan-out folder that is a symbolic link is not listed (its files live outside
        the store: ``store gc`` would delete them through the link); its path goes to
        ``linked_folders``, for gc to say so. (``artifacts/`` itself may be a link.)"""
        self.linked_folders: list[Path] = []
        if not self.root.is_dir():
            return
        for directory in sorted(self.root.iterdir()):
            if not (BLOB_DIR.match(directory.name) and directory.is_dir()):
                continue
            if directory.is_symlink():
                self.linked_folders.append(directory)
                continue
            for path in sorted(directory.iterdir()):
                if not BLOB_NAME.match(path.name):
                    continue
                try:
                    stat = path.lstat()
                except FileNotFoundError:
                    continue
                if path.is_file():
                    yield BlobInfo(directory.name + path.name, stat.st_size, stat.st_mtime)

    def delete(self, digest: str) -> bool:
        """Delete a blob (and its folder once empty); False when it was not there."""
        path = self.path_of(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        with contextlib.suppress(OSError):  # other blobs share the folder
            path.parent.rmdir()
        return True

    def copy_out(self, digest: str, label: str, destination: Path) -> None:
        """Copy a blob to ``destination`` and verify the copy: what is loaded is checked."""
        source = self._present(digest, label)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        actual = sha256_file(destination)
        if actual != digest:
            destination.unlink()
            raise _corrupt(label, source, actual, digest)


def sync_directory(directory: Path) -> None:
    """Flush a directory's entries (a rename, a new file) to disk."""
    descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _name_the_file(exc: BaseException, temp: Path) -> None:
    """A failed ``write()`` (disk full) names no file: name where the blob was going
    (the directory: the temporary file's own name means nothing and is gone)."""
    if isinstance(exc, OSError) and (exc.filename is None or exc.filename == str(temp)):
        exc.filename = str(temp.parent)


def _corrupt(label: str, path: Path, actual: str, expected: str) -> StoreError:
    return StoreError(
        f"artifact {label} is corrupt: {path} has sha256 {actual[:12]}..., "
        f"expected {expected[:12]}...; refusing to load it"
    )
