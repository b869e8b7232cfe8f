"""``serve --package`` on hand-made packages: what their JSON files hold is checked, not just
their hashes (``release.json`` is rewritten after each edit, as whoever edits the files would).

Each case runs the real CLI in process with a port that is already taken: a package
that loads would get as far as "cannot listen" (and never serve), so the message
tells whether the package itself was refused, by file and field, with exit 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import train

Edit = Callable[[Any], Any]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LightGBM churn classifier exported by the directory deploy target."""
    root = tmp_path_factory.mktemp("crafted")
    train(root, extra=("--set", "deploy={type: directory, params: {path: pkg}}"))
    return root / "pkg"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        yield taken.getsockname()[1]


def _rehash(directory: Path) -> None:
    release = json.loads((directory / "release.json").read_text())
    if isinstance(release, dict):
        release["files"] = {
            path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(directory.rglob("*"))
            if path.is_file() and path.name not in ("release.json", ".specops-deploy.json")
        }
        (directory / "release.json").write_text(json.dumps(release))


def _set(key: str, value: Any) -> Edit:
    return lambda data: {**data, key: value}


def _drop(key: str) -> Edit:
    return lambda data: {k: v for k, v in data.items() if k != key}


def _column(index: int, key: str, value: Any) -> Edit:
    def edit(data: Any) -> Any:
        data["columns"][index][key] = value
        return data

    return edit


def _categories(value: Any) -> Edit:
    def edit(data: Any) -> Any:
        for column in data["columns"]:
            if column["role"] == "categorical":
                column["categories"] = value
        return data

    return edit


CASES: list[tuple[str, str, Edit, str]] = [
    ("model-list", "model.json", lambda d: [d], "model.json: must be a JSON object, not list"),
    ("no-task", "model.json", _drop("task"), "model.json: 'task' is None; expected one of"),
    ("task-typo", "model.json", _set("task", "binry"), "'task' is 'binry'; expected one of"),
    ("task-list", "model.json", _set("task", ["binary"]), "'task' is ['binary']"),
    ("no-type", "model.json", _drop("model_type"), "'model_type' is None; expected a type"),
    ("type-list", "model.json", _set("model_type", ["x"]), "'model_type' is ['x']"),
    ("labels-text", "model.json", _set("labels", "yes"), "'labels' must be a list, not str"),
    ("labels-number", "model.json", _set("labels", 5), "'labels' must be a list, not int"),
    ("labels-nested", "model.json", _set("labels", [[1], [2]]), "'labels'[0] is [1]"),
    ("labels-three", "model.json", _set("labels", ["a", "b", "c"]), "a binary model has 2"),
    ("labels-huge-int", "model.json", _set("labels", [10**30, 1]), "'labels'[0] is 1000"),
    ("labels-twice", "model.json", _set("labels", ["a", "a"]), "lists a value more than once"),
    ("name-header", "model.json", _set("name", "a\r\nX-Evil: 1"), "'name' is 'a\\r\\nX-Evil"),
    ("sig-list", "signature.json", lambda d: [d], "'columns' is a non-empty list"),
    ("sig-empty", "signature.json", _set("columns", []), "'columns' is a non-empty list"),
    ("sig-name-int", "signature.json", _column(0, "name", 5), "columns[0].name is 5"),
    ("sig-name-twice", "signature.json", _column(1, "name", "age"), "'age' is listed twice"),
    ("sig-role", "signature.json", _column(0, "role", "weird"), "columns[0].role is 'weird'"),
    ("sig-dtype", "signature.json", _column(0, "dtype", 5), "columns[0].dtype is 5"),
    ("sig-extra-key", "signature.json", _column(0, "code", "x"), "unknown key(s): code"),
    ("cats-text", "signature.json", _categories("abc"), "categories must be a list, not str"),
    ("cats-number", "signature.json", _categories(7), "categories must be a list, not int"),
    ("cats-nested", "signature.json", _categories([[1], {"a": 2}]), "categories[0] is [1]"),
    ("release-list", "release.json", lambda d: [d], "release.json is unreadable"),
    ("version-text", "release.json", _set("version", "abc"), "'version' is 'abc'; expected a"),
    ("version-list", "release.json", _set("version", [1]), "'version' is [1]"),
    ("version-float", "release.json", _set("version", 1.5), "'version' is 1.5"),
    ("version-zero", "release.json", _set("version", 0), "'version' is 0"),
    ("release-name", "release.json", _set("name", {"a": 1}), "release.json: 'name' is {'a': 1}"),
]


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_crafted_package_is_refused_naming_the_file_and_field(
    exported: Path, tmp_path: Path, taken_port: int, cli: Any, file: str, edit: Edit, message: str
) -> None:
    package = tmp_path / "pkg"
    shutil.copytree(exported, package)
    path = package / file
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    _rehash(package)
    result = cli("serve", "--package", package, "--port", taken_port)
    assert result.code == 2, result.err
    assert "cannot listen" not in result.err  # refused before any socket
    assert message in result.err and "Traceback" not in result.err


def test_deeply_nested_json_in_a_package_is_exit_2(
    exported: Path, tmp_path: Path, taken_port: int, cli: Any
) -> None:
    for file in ("model.json", "release.json"):
        package = tmp_path / file
        shutil.copytree(exported, package)
        (package / file).write_text("[" * 100_000 + "]" * 100_000)
        if file != "release.json":
            _rehash(package)
        result = cli("serve", "--package", package, "--port", taken_port)
        assert result.code == 2, result.err
        assert "unreadable" in result.err and "cannot listen" not in result.err


def test_the_exported_package_itself_still_loads(exported: Path, taken_port: int, cli: Any) -> None:
    result = cli("serve", "--package", exported, "--port", taken_port)
    assert result.code == 2 and "cannot listen" in result.err  # loaded, then the port


def _edit_trees(package: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` once in model.txt, then make ``tree_sizes`` right again
    (as whoever crafts a file would), so only the edit itself is left to be caught."""
    path = package / "model" / "model.txt"
    text = path.read_text()
    assert old in text
    text = text.replace(old, new, 1)
    head, _, rest = text.partition("\nTree=")
    trees, end, tail = ("Tree=" + rest).partition("end of trees")
    blocks = re.split(r"(?m)^(?=Tree=\d+$)", trees)[1:]
    sizes = " ".join(str(len(block)) for block in blocks)
    head = re.sub(r"(?m)^tree_sizes=.*$", f"tree_sizes={sizes}", head)
    path.write_text(f"{head}\n{''.join(blocks)}{end}{tail}")


def _concrete(text: str, old: str, new: str) -> tuple[str, str]:
    """A case written against the trained file's first ``KEY=`` line: ``last=V`` sets its
    last value, ``inner=V`` its last non-negative value but the first (a child pointing
    back at the root), ``first=SUFFIX`` appends to its first value; other cases are
    literal."""
    if "=" not in new or new.split("=", 1)[0] not in ("last", "inner", "first"):
        return old, new
    how, value = new.split("=", 1)
    line = next(row for row in text.splitlines() if row.startswith(old))
    key, _, values = line.partition("=")
    items = values.split()
    if how == "last":
        items[-1] = value
    elif how == "first":
        items[0] += value
    else:
        inner = [i for i, item in enumerate(items) if i > 0 and int(item) >= 0]
        items[inner[-1]] = value
    return line, f"{key}={' '.join(items)}"


LIGHTGBM_CASES: list[tuple[str, str, str, str]] = [
    ("classes", "num_class=1", "num_class=2000000000", "num_class=2000000000"),
    ("features", "max_feature_idx=8", "max_feature_idx=2000000000", "max_feature_idx="),
    ("leaves", "num_leaves=7", "num_leaves=2000000000", "num_leaves=2000000000"),
    # these three edit the first tree's line, whatever the trained values are
    ("split-feature", "split_feature=", "last=99999", "feature"),
    ("child-outside", "left_child=", "last=99", "left_child=99"),
    ("child-loop", "left_child=", "inner=0", "left_child=0"),
    ("leaf-outside", "right_child=1 -3 -4 -5 -6 -7", "right_child=1 -3 -4 -5 -6 -70", "-70"),
    ("short-array", "decision_type=2 2 2 2 2 2", "decision_type=2 2 2", "3 entries, not 6"),
    ("linear", "is_linear=0", "is_linear=1", "linear tree"),
    ("tree-sizes", "tree_sizes=", "first=00000000", "tree_sizes does not match"),
]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [case[1:] for case in LIGHTGBM_CASES],
    ids=[case[0] for case in LIGHTGBM_CASES],
)
def test_a_crafted_lightgbm_file_is_refused_before_lightgbm_reads_it(
    exported: Path,
    tmp_path: Path,
    taken_port: int,
    cli_process: Any,
    old: str,
    new: str,
    message: str,
) -> None:
    """LightGBM aborted ("terminate called without an active exception", exit -6) or
    segfaulted (-11) on these, allocated 30 GiB for num_class, or predicted through a
    child index outside the tree. Run as a process: a crash is a crash, not a failure."""
    package = tmp_path / "pkg"
    shutil.copytree(exported, package)
    path = package / "model" / "model.txt"
    old, new = _concrete(path.read_text(), old, new)
    if old.startswith("tree_sizes"):
        path.write_text(path.read_text().replace(old, new, 1))
    else:
        _edit_trees(package, old, new)
    _rehash(package)
    result = cli_process("serve", "--package", package, "--port", taken_port)
    assert result.code == 2, result.err[-500:]
    assert "model.txt is not a readable LightGBM model" in result.err
    assert message in result.err and "cannot listen" not in result.err


def _fifo(package: Path) -> None:
    (package / "signature.json").unlink()
    os.mkfifo(package / "signature.json")


def _device(package: Path) -> None:
    (package / "model" / "model.txt").unlink()
    os.symlink("/dev/zero", package / "model" / "model.txt")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [(_fifo, "signature.json is not a regular file"), (_device, "model.txt is a symbolic")],
    ids=["fifo", "link-to-dev-zero"],
)
def test_a_package_without_release_json_may_hold_only_regular_files(
    exported: Path, tmp_path: Path, taken_port: int, mangle: Any, message: str
) -> None:
    """An older export has no file list to check; a FIFO in it blocked the loader for
    ever and a link to /dev/zero was read without end."""
    package = tmp_path / "pkg"
    shutil.copytree(exported, package)
    (package / "release.json").unlink()
    mangle(package)
    command = [sys.executable, "-m", "framework.cli.main", "serve", "--package", str(package)]
    done = subprocess.run(
        [*command, "--port", str(taken_port)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr[-500:]
