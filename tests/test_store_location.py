"""Where runs are stored when the spec does not say, and where registry commands look."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import breast_cancer_spec


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root (it holds pyproject.toml) with its specs in a subfolder."""
    root = tmp_path / "project"
    (root / "specs").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (root / "specs" / "bc.yaml").write_text(breast_cancer_spec(n_estimators=10))
    return root


def versions(result) -> list[str]:
    assert result.code == 0, result.err
    models = json.loads(result.out)["models"]
    return [f"{m['name']}/{v['version']}" for m in models for v in m["versions"]]


def test_registry_commands_find_the_store_a_run_just_made_from_the_project_root(
    cli_process, project: Path
) -> None:
    """README command 1 then `specops models list`, both from the project root."""
    assert cli_process("run", "specs/bc.yaml", cwd=project).code == 0

    assert (project / ".specops" / "store.db").exists()
    assert not (project / "specs" / ".specops").exists()
    assert versions(cli_process("models", "list", "--json", cwd=project)) == ["bc/1"]
    # from any folder below, as git finds .git
    assert versions(cli_process("models", "list", "--json", cwd=project / "specs")) == ["bc/1"]


def test_a_store_beside_the_spec_from_an_older_specops_stays_in_use(
    cli_process, project: Path
) -> None:
    (project / "specs" / ".specops").mkdir()
    assert cli_process("run", "specs/bc.yaml", cwd=project).code == 0

    assert (project / "specs" / ".specops" / "store.db").exists()
    assert not (project / ".specops").exists()


def test_a_spec_outside_any_project_keeps_its_store_beside_it(cli, tmp_path: Path) -> None:
    spec = tmp_path / "loose" / "bc.yaml"
    spec.parent.mkdir()
    spec.write_text(breast_cancer_spec(n_estimators=10))

    assert cli("run", spec).code == 0
    assert (spec.parent / ".specops" / "store.db").exists()


def test_with_no_store_anywhere_up_the_message_says_where_it_looked(
    cli_process, tmp_path: Path
) -> None:
    result = cli_process("models", "list", cwd=tmp_path)

    assert result.code == 2
    assert f"no specops store at {tmp_path.resolve() / '.specops'}" in result.err
