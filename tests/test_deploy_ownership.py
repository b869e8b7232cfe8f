"""A deploy target replaces only what it wrote: never the project, the store or a user's files.

Every test drives the real CLI on a real spec; "nothing lost" is checked file by file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from framework import DEPLOY_MARKER, UserError, replace_directory
from tests.conftest import CliResult
from tests.helpers import breast_cancer_spec

Cli = Callable[..., CliResult]


def write_project(directory: Path, deploy: str, store: str = "") -> Path:
    """A spec in ``directory`` whose last lines are ``deploy`` (and ``store``), plus a
    data file and a notes file a careless deploy would delete."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "spec.yaml"
    spec.write_text(breast_cancer_spec(n_estimators=5).lstrip() + deploy + store)
    (directory / "notes.txt").write_text("the user's own notes")
    return spec


def line_of(spec: Path, text: str) -> int:
    return next(i for i, line in enumerate(spec.read_text().splitlines(), 1) if text in line)


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with its content: to prove nothing changed."""
    return {
        p.relative_to(directory).as_posix(): p.read_text(errors="replace")
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("path", "store", "said"),
    [
        (".", "", "is the spec's folder"),
        ("..", "", "holds the spec's folder"),
        ("./", "", "is the spec's folder"),
        (".specops", "", "is the store"),
        ("registry", "store: {path: registry/db}\n", "holds the store"),
        (".specops/export", "", "is inside the store"),
    ],
)
def test_a_deploy_path_over_the_project_or_store_is_refused_at_validate(
    tmp_path: Path, cli: Cli, path: str, store: str, said: str
) -> None:
    project = tmp_path / "project"
    for kind in ("directory", "container"):
        spec = write_project(
            project, f"deploy:\n  - type: {kind}\n    params: {{path: {path}}}\n", store
        )
        (project / "registry").mkdir(exist_ok=True)
        before = snapshot(tmp_path)

        for command in ("validate", "run"):
            result = cli(command, spec)

            assert result.code == 2, (kind, command, result.out, result.err)
            assert f"spec.yaml:{line_of(spec, 'params: {path:')}:" in result.err
            assert said in result.err and "deploy[0].params.path" in result.err
            assert "Traceback" not in result.err
            assert snapshot(tmp_path) == before  # nothing deleted, nothing trained
            assert not (project / ".specops").exists()


def test_a_file_or_a_foreign_directory_at_the_path_is_refused_before_training(
    tmp_path: Path, cli: Cli
) -> None:
    (tmp_path / "victim-file").write_text("unrelated")
    (tmp_path / "project" / "data").mkdir(parents=True)
    (tmp_path / "project" / "data" / "train.csv").write_text("a,b\n1,2\n")
    cases = {
        "../victim-file": "is a file, not a directory a deploy wrote",
        "data": f"is a directory specops did not write (it has no {DEPLOY_MARKER})",
        "notes.txt": "is a file",
    }
    for path, said in cases.items():
        spec = write_project(
            tmp_path / "project", f"deploy: {{type: directory, params: {{path: {path}}}}}\n"
        )
        before = snapshot(tmp_path)

        result = cli("run", spec)

        assert result.code == 2, result.err
        assert said in result.err and "Choose a new or empty path" in result.err
        assert str((tmp_path / "project" / path).resolve()) in result.err
        assert snapshot(tmp_path) == before
        assert not (tmp_path / "project" / ".specops").exists()


def test_a_second_deploy_replaces_the_first_and_only_that(tmp_path: Path, cli: Cli) -> None:
    spec = write_project(tmp_path, "deploy: {type: directory, params: {path: out}}\n")
    (tmp_path / ".out-old").write_text("a user's file that looks like a retired export")
    (tmp_path / "empty").mkdir()

    assert cli("run", spec).code == 0
    assert cli("run", spec).code == 0

    marker = json.loads((tmp_path / "out" / DEPLOY_MARKER).read_text())
    assert marker["target"] == "directory" and marker["model"] == "bc" and marker["version"] == 2
    assert "model.json" in marker["files"] and "release.json" in marker["files"]
    assert json.loads((tmp_path / "out" / "release.json").read_text())["version"] == 2
    assert (tmp_path / ".out-old").read_text() == "a user's file that looks like a retired export"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")]
    assert leftovers == [".out-old"]  # no staging or retired directory left behind

    # an empty directory is filled: nothing in it could be lost
    assert cli("run", spec, "--set", "deploy={type: directory, params: {path: empty}}").code == 0
    assert (tmp_path / "empty" / DEPLOY_MARKER).is_file()


def test_a_file_added_to_an_export_or_a_forged_marker_is_refused(tmp_path: Path, cli: Cli) -> None:
    spec = write_project(tmp_path, "deploy: {type: directory, params: {path: out}}\n")
    assert cli("run", spec).code == 0
    (tmp_path / "out" / "my-notes.md").write_text("written by hand after the export")

    result = cli("run", spec)

    assert result.code == 2
    assert "holds files the last deploy did not write: my-notes.md" in result.err
    assert (tmp_path / "out" / "my-notes.md").is_file()

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    (foreign / DEPLOY_MARKER).write_text('{"files": []}')
    result = cli("run", spec, "--set", "deploy={type: directory, params: {path: foreign}}")
    assert result.code == 2 and f"has a {DEPLOY_MARKER} that specops did not write" in result.err
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_a_symlink_is_judged_by_what_it_points_at_and_never_deleted_through(
    tmp_path: Path, cli: Cli
) -> None:
    spec = write_project(tmp_path / "project", "deploy: {type: directory, params: {path: link}}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me")
    os.symlink(elsewhere, tmp_path / "project" / "link")

    result = cli("run", spec)

    assert result.code == 2 and f"{elsewhere} is a directory specops did not write" in result.err
    assert (elsewhere / "precious.txt").read_text() == "keep me"

    # a link straight to the spec's folder is the spec's folder
    os.symlink(tmp_path / "project", tmp_path / "project" / "self")
    result = cli("validate", spec, "--set", "deploy={type: directory, params: {path: self}}")
    assert result.code == 2 and "is the spec's folder" in result.err

    # called directly (a plugin's own use), replace_directory never follows a link
    with pytest.raises(UserError, match="is a symbolic link"):
        replace_directory(tmp_path / "project" / "link", lambda staging: None)
    assert (elsewhere / "precious.txt").read_text() == "keep me"
    assert (tmp_path / "project" / "link").is_symlink()


def test_a_failed_write_leaves_the_previous_export_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "out"

    replace_directory(target, lambda staging: (staging / "a.txt").write_text("one"))
    before = snapshot(target)

    def failing(staging: Path) -> None:
        (staging / "a.txt").write_text("two")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_directory(target, failing)
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ---------------------------------------------------------------------------
# the batch target writes one file: the same promise, with a marker beside it
# ---------------------------------------------------------------------------


def batch_project(directory: Path, output: str) -> Path:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.drop(columns="target").head(20).to_csv(directory / "new.csv", index=False)
    frame.to_csv(directory / "train.csv", index=False)
    deploy = f"deploy:\n  - {{type: batch, params: {{input: new.csv, output: {output}}}}}\n"
    return write_project(directory, deploy)


def test_batch_output_replaces_only_the_file_it_wrote(tmp_path: Path, cli: Cli) -> None:
    spec = batch_project(tmp_path, "scores.csv")

    assert cli("run", spec).code == 0
    first = (tmp_path / "scores.csv").read_text()
    marker = json.loads((tmp_path / f".scores.csv{DEPLOY_MARKER}").read_text())
    assert marker["target"] == "batch" and marker["version"] == 1 and marker["file"] == "scores.csv"
    assert cli("run", spec).code == 0  # its own file, unchanged: replaced
    assert json.loads((tmp_path / f".scores.csv{DEPLOY_MARKER}").read_text())["version"] == 2

    (tmp_path / "scores.csv").write_text(first + "a row added by hand\n")
    changed = cli("run", spec)
    assert changed.code == 2
    assert f"{tmp_path / 'scores.csv'} changed since the last deploy wrote it" in changed.err
    assert (tmp_path / "scores.csv").read_text().endswith("a row added by hand\n")


@pytest.mark.parametrize(
    ("output", "said"),
    [
        ("train.csv", "is a file specops did not write (no .train.csv.specops-deploy.json)"),
        (".specops/scores.csv", "is inside the store"),
    ],
)
def test_batch_output_over_a_user_file_or_in_the_store_is_refused_before_training(
    tmp_path: Path, cli: Cli, output: str, said: str
) -> None:
    spec = batch_project(tmp_path, output)
    before = snapshot(tmp_path)

    result = cli("run", spec)

    assert result.code == 2, result.err
    assert said in result.err and f"spec.yaml:{line_of(spec, 'type: batch')}:" in result.err
    assert snapshot(tmp_path) == before
    assert not (tmp_path / ".specops").exists()


def test_a_link_at_the_batch_markers_name_is_refused_and_its_target_never_written(
    tmp_path: Path, cli: Cli
) -> None:
    """The sidecar is written after the output: a link planted at its name must not
    turn the marker into a write to whatever file the link points at."""
    spec = batch_project(tmp_path, "scores.csv")
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    (tmp_path / f".scores.csv{DEPLOY_MARKER}").symlink_to(victim)

    result = cli("run", spec)

    assert result.code == 2, result.err
    assert f".scores.csv{DEPLOY_MARKER} that is a symbolic link (to {victim})" in result.err
    assert victim.read_text() == "the user's file"
    assert not (tmp_path / "scores.csv").exists()


@pytest.mark.parametrize("marker_of", ["file", "directory"])
def test_a_marker_replaces_a_link_put_at_its_name_after_the_checks(
    tmp_path: Path, marker_of: str
) -> None:
    """A link planted between the checks and the marker's write is replaced, not followed."""
    from framework.ownership import file_marker, mark_file, write_marker

    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    if marker_of == "file":
        (tmp_path / "scores.csv").write_text("prediction\n1\n")
        marker = file_marker(tmp_path / "scores.csv")
        marker.symlink_to(victim)
        mark_file(tmp_path / "scores.csv", {"target": "batch"})
    else:
        (tmp_path / "out").mkdir()
        marker = tmp_path / "out" / DEPLOY_MARKER
        marker.symlink_to(victim)
        write_marker(tmp_path / "out", {"target": "directory"})

    assert victim.read_text() == "the user's file"
    assert not marker.is_symlink()
    assert json.loads(marker.read_text())["written_by"] == "specops deploy target output"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


@pytest.mark.parametrize("place", ["store", "spec folder"])
def test_the_store_or_project_under_another_name_is_still_protected(
    tmp_path: Path, cli: Cli, place: str
) -> None:
    """Resolving links is not enough: a bind mount (or another case of the name on a
    case-insensitive file system) is the same folder under a name no path comparison
    matches. A deploy into the store through it was allowed."""
    import subprocess

    project = tmp_path / "project"
    spec = write_project(project, "")
    assert cli("run", spec).code == 0
    alias = tmp_path / "alias"
    alias.mkdir()
    source = project / ".specops" if place == "store" else project
    bound = subprocess.run(["mount", "--bind", str(source), str(alias)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        path = alias / "exported" if place == "store" else alias
        spec.write_text(
            spec.read_text() + f"deploy: [{{type: directory, params: {{path: '{path}'}}}}]\n"
        )
        before = snapshot(project)

        result = cli("validate", spec)

        assert result.code == 2, result.err
        said = "is inside the store" if place == "store" else "is the spec's folder"
        assert f"deploy path {path} {said}" in result.err
        assert snapshot(project) == before
    finally:
        subprocess.run(["umount", "--lazy", str(alias)], check=True)


def test_a_user_folder_that_appears_while_the_model_trains_stops_the_run_before_register(
    tmp_path: Path,
) -> None:
    """The deploy targets' checks run again after the gate: a refused deploy must not
    leave a version registered that was never deployed."""
    from framework import hookimpl
    from framework.engine import Engine
    from framework.plugins import load_plugins
    from framework.spec import load_spec
    from framework.store import Store

    spec_file = write_project(
        tmp_path, "deploy: [{type: registry}, {type: directory, params: {path: out}}]\n"
    )
    plugins = load_plugins()  # a fresh set: the observer below stays in this test
    spec = load_spec(spec_file, plugins)  # valid: nothing at out yet

    class UserAtWork:
        @hookimpl
        def specops_step_end(self, run: object, step: object) -> None:
            if getattr(step, "name", None) == "train":
                (tmp_path / "out").mkdir()
                (tmp_path / "out" / "precious.txt").write_text("keep me")

    plugins.register(UserAtWork(), name="test.user-at-work")
    with pytest.raises(UserError) as caught:
        Engine(spec, plugins).run()

    assert str(caught.value).startswith("nothing registered: deploy[1].params.path: ")
    assert f"{tmp_path / 'out'} is a directory specops did not write" in str(caught.value)
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"
    store = Store.open_existing(tmp_path / ".specops")
    try:
        assert store.versions("bc") == [] and store.alias("bc", "champion") is None
    finally:
        store.close()


@pytest.mark.parametrize("second", ["./out/", "out/model", "."])
def test_two_deploy_targets_on_one_or_nested_paths_are_refused_before_training(
    tmp_path: Path, cli: Cli, second: str
) -> None:
    deploy = (
        "deploy:\n"
        "  - {type: directory, params: {path: out}}\n"
        f"  - {{type: directory, params: {{path: '{second}'}}}}\n"
    )
    spec = write_project(tmp_path / "project", deploy)
    before = snapshot(spec.parent)

    result = cli("validate", spec)
    run = cli("run", spec)

    assert result.code == run.code == 2
    written = f"path: '{second}'"
    assert f"spec.yaml:{line_of(spec, written)}:" in result.err
    assert "overlaps deploy[0].params.path" in result.err or "spec's folder" in result.err
    assert snapshot(spec.parent) == before  # nothing trained, stored or written
