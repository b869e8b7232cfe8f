"""A version's file list in the store names paths inside its package, never elsewhere.

Red-team round: a ``model_versions.files_json`` key such as ``../../home/u/.bashrc`` (a
hand-edited ``store.db``, a team store's database, a store given to ``store copy``) made
``predict``, ``serve``, ``models show`` and the UI's version page write a blob of the
store's choosing there. Now the row is refused (exit 2, naming the file) before anything
is written or read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from framework.errors import StoreError
from framework.package_paths import check_version_files, path_problem
from tests.conftest import CliResult
from tests.helpers import (
    breast_cancer_spec,
    crafted_version,
    escape_to,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run (bc/1, runtimes compiled at registration)."""
    from framework.cli.main import main

    directory = tmp_path_factory.mktemp("paths")
    spec = directory / "spec.yaml"
    spec.write_text(breast_cancer_spec(n_estimators=5).lstrip())
    assert main(["run", str(spec), "--json"]) == 0
    return directory / ".specops"


def test_a_path_out_of_the_package_is_refused_before_anything_is_written(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    target = tmp_path / "planted.txt"
    store = crafted_version(built, tmp_path / "store", escape_to(target))
    rows = tmp_path / "rows.csv"
    rows.write_text("mean radius\n14.0\n")

    result = cli(
        "predict", "bc/1", "--store", store, "--input", rows, "--output", tmp_path / "o.csv"
    )

    assert result.code == 2
    assert "has an empty, '.' or '..' part" in result.err
    assert "bc/1" in result.err
    assert not target.exists()
    assert not (tmp_path / "o.csv").exists()


def test_models_show_writes_no_runtime_file_outside_its_folder(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    target = tmp_path / "planted-by-show.txt"
    store = crafted_version(built, tmp_path / "store", "runtimes/treelite/" + escape_to(target))

    cli("models", "show", "bc/1", "--store", store)

    assert not target.exists()


def test_a_digest_that_is_not_a_sha256_is_never_used_as_a_path(
    built: Path, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    store = crafted_version(built, tmp_path / "store", "extra.json", digest="//etc/passwd")
    rows = tmp_path / "rows.csv"
    rows.write_text("mean radius\n14.0\n")

    result = cli(
        "predict", "bc/1", "--store", store, "--input", rows, "--output", tmp_path / "o.csv"
    )

    assert result.code == 2
    assert "which is not a sha256" in result.err


@pytest.mark.parametrize(
    "relative",
    ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a\\..\\b", "a\0b", "", "x" * 2000],
)
def test_paths_a_package_never_holds(relative: str) -> None:
    assert path_problem(relative) is not None
    with pytest.raises(StoreError, match="damaged or crafted"):
        check_version_files({relative: "0" * 64}, "m/1")


def test_paths_specops_writes_pass() -> None:
    files = {"model.json": "a" * 64, "runtimes/onnx/model.onnx": "b" * 64, "model/m.txt": "c" * 64}
    check_version_files(files, "m/1")
