"""A third party adds an object store: a store backend is a plugin kind like any other.

A real distribution (a module and its dist-info, in a site directory on ``sys.path``)
declares an ``artifact_store`` for the scheme ``flat`` through the ``specops`` entry
point group, exactly as pip would leave it: blobs as flat files named by their sha256,
a layout specops' own ``file`` backend does not use. Nothing in specops names it; the
registry finds it, ``specops plugins`` lists it, and ``run``, ``models show``,
``predict``, ``store verify`` and ``store copy`` work on it through the URL alone.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import breast_cancer_spec

PLUGIN = '''
    """Blobs as flat files ``ROOT/<sha256>``: a third party's artifact store."""

    import hashlib
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from framework import StoreError, hookimpl
    from framework.store import BlobInfo, sha256_file

    SPECOPS_HOOK_API = ">=1.0,<2"


    class FlatBlobs:
        def __init__(self, root: Path, read_only: bool) -> None:
            self.root = root
            self.read_only = read_only
            self.display_url = f"flat://{root}"

        def _path(self, digest: str) -> Path:
            if len(digest) != 64 or set(digest) - set("0123456789abcdef"):
                raise StoreError(f"not a blob name: {digest!r:.80}")
            return self.root / digest

        def put_written(self, write) -> str:
            if self.read_only:
                raise StoreError(f"{self.display_url} was opened read-only")
            self.root.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
            os.close(handle)
            temp = Path(name)
            try:
                write(temp)
                digest = sha256_file(temp)
                os.replace(temp, self._path(digest))
                return digest
            finally:
                temp.unlink(missing_ok=True)

        def put_file(self, source: Path) -> str:
            return self.put_written(lambda path: shutil.copyfile(source, path))

        def exists(self, digest: str) -> bool:
            return self._path(digest).is_file()

        def verified(self, digest: str, label: str) -> Path:
            path = self._path(digest)
            if not path.is_file():
                raise StoreError(f"artifact {label} is missing from {self.display_url}")
            if sha256_file(path) != digest:
                raise StoreError(f"artifact {label} is corrupt in {self.display_url}")
            return path

        def copy_out(self, digest: str, label: str, destination: Path) -> None:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.verified(digest, label), destination)
            if sha256_file(destination) != digest:
                raise StoreError(f"artifact {label}: the copy at {destination} differs")

        def problem(self, digest: str, *, full: bool):
            path = self._path(digest)
            if not path.is_file():
                return "blob is missing"
            if full and sha256_file(path) != digest:
                return "blob is corrupt (flat store)"
            return None

        def blobs(self):
            if self.root.is_dir():
                for path in sorted(self.root.iterdir()):
                    if len(path.name) == 64 and path.is_file():
                        stat = path.stat()
                        yield BlobInfo(path.name, stat.st_size, stat.st_mtime)

        def delete(self, digest: str) -> bool:
            try:
                self._path(digest).unlink()
            except FileNotFoundError:
                return False
            return True


    def open_flat(url, params, workdir, *, read_only):
        return FlatBlobs(Path(url.removeprefix("flat://")), read_only)


    @hookimpl
    def specops_register_artifact_stores(register) -> None:
        register("flat", open_flat, {"type": "object"}, summary="Blobs as flat files")
'''


@pytest.fixture
def flat_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The distribution ``specops-flat-store`` installed in a site directory on the
    path, and the plugins loaded again so its entry point is found."""
    import framework.plugins

    site = tmp_path / "site"
    site.mkdir()
    (site / "specops_flat_store.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "specops_flat_store-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: specops-flat-store\nVersion: 0.3.0\n"
    )
    (info / "entry_points.txt").write_text("[specops]\nflat_store = specops_flat_store\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(framework.plugins, "_cached", None)  # found afresh, then restored


def test_a_third_party_artifact_store_holds_a_whole_store_through_its_url(
    flat_store: None, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    listed = cli("plugins", "--json")
    assert listed.code == 0, listed.err
    [plugin] = [p for p in json.loads(listed.out)["plugins"] if p["name"] == "flat_store"]
    assert plugin["dist"] == "specops-flat-store" and plugin["builtin"] is False
    assert {"kind": "artifact_store", "type": "flat", "summary": "Blobs as flat files"} in (
        plugin["components"]
    )

    project, blobs = tmp_path / "project", tmp_path / "flat-blobs"
    project.mkdir()
    spec = project / "spec.yaml"
    spec.write_text(breast_cancer_spec(n_estimators=10).lstrip())
    ran = cli("run", spec, "--artifacts", f"flat://{blobs}", "--json")
    assert ran.code == 0, ran.err
    stored = {p.name for p in blobs.iterdir() if len(p.name) == 64}
    assert stored and not list((project / ".specops" / "artifacts").rglob("*/*"))

    store = project / ".specops"  # the artifacts URL is recorded: the store alone finds them
    shown = cli("models", "show", "bc", "--store", store, "--json")
    assert shown.code == 0, shown.err
    assert {f["sha256"] for f in json.loads(shown.out)["files"]} <= stored

    from sklearn.datasets import load_breast_cancer

    rows = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(20)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    predicted = cli(
        "predict", "bc", "-i", tmp_path / "rows.csv", "-o", tmp_path / "p.csv", "--store", store
    )
    assert predicted.code == 0, predicted.err
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 21

    verified = cli("store", "verify", "--full", "--store", store, "--json")
    assert verified.code == 0 and json.loads(verified.out)["ok"] is True, verified.out

    # a local store made from it by `store copy`: the same blobs, verified on the way
    copied = cli("store", "copy", store, tmp_path / "local" / ".specops", "--json")
    assert copied.code == 0, copied.err
    assert json.loads(copied.out)["blobs"]["copied"] == len(stored)
    assert cli("store", "verify", "--full", "--store", tmp_path / "local" / ".specops").code == 0

    # its reads are checked like any backend's: a changed blob is found, named
    victim = blobs / sorted(stored)[0]
    victim.write_bytes(victim.read_bytes() + b"tampered")
    damaged = cli("store", "verify", "--full", "--store", store, "--json")
    assert damaged.code == 1
    assert "blob is corrupt (flat store)" in damaged.out
