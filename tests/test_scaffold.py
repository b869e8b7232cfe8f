"""specops new-plugin: the package it writes installs, its tests pass and its example
spec runs, as generated; a bad name or an occupied folder is refused, nothing written."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from framework.scaffold.components import TEMPLATES
from framework.testing import SpecopsProject, check_registration


def run(command: list[str], cwd: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPECOPS_")},
        "PYTHONPATH": str(site),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_generated_package_installs_passes_its_tests_and_runs_its_spec(
    tmp_path: Path, cli: Callable[..., object]
) -> None:
    if importlib.util.find_spec("hatchling") is None:
        pytest.fail("hatchling builds the generated package: pip install -e '.[test]'")
    made = cli("new-plugin", "specops-acme", "--kinds", "all", "--dir", tmp_path, "--json")
    assert made.code == 0, made.err
    report = json.loads(made.out)
    package = Path(report["path"])
    assert package == tmp_path / "specops-acme"
    assert report["kinds"] == list(TEMPLATES)
    assert {"pyproject.toml", "example.yaml", "tests/test_specops_acme.py"} <= set(report["files"])

    site = tmp_path / "site"  # installed here, never into the running environment
    python = sys.executable
    install = run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(package),
        ],
        tmp_path,
        site,
    )
    assert install.returncode == 0, install.stderr
    assert (site / "specops_acme" / "__init__.py").is_file()

    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], package, site)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "11 passed" in tests.stdout

    listed = run([python, "-m", "framework.cli.main", "plugins", "--json"], package, site)
    assert listed.returncode == 0, listed.stderr
    plugin = next(p for p in json.loads(listed.stdout)["plugins"] if p["name"] == "acme")
    assert plugin["dist"] == "specops-acme" and plugin["version"] == "0.1.0"
    assert {c["type"] for c in plugin["components"]} == {
        f"acme_{t.type_suffix}" for t in TEMPLATES.values()
    }

    spec = run([python, "-m", "framework.cli.main", "run", "example.yaml", "--json"], package, site)
    assert spec.returncode == 0, spec.stderr
    outcome = json.loads(spec.stdout)
    assert outcome["status"] == "passed" and outcome["model"]["version"] == 1
    manifest = json.loads((package / "out" / "acme.json").read_text())
    assert manifest["model"] == "acme-example" and manifest["version"] == 1


@pytest.fixture
def imported(tmp_path: Path) -> Iterator[Callable[[str], object]]:
    """Import a generated package from its src/ folder (not installed); forgotten after."""
    added: list[str] = []

    def load(package: str) -> object:
        source = str(next(tmp_path.glob(f"*/src/{package}")).parent)
        sys.path.insert(0, source)
        added.append(source)
        return importlib.import_module(package)

    yield load
    for source in added:
        sys.path.remove(source)
    for name in [m for m in sys.modules if m.startswith("specops_k_")]:
        del sys.modules[name]


@pytest.mark.parametrize("kind", list(TEMPLATES))
def test_each_kind_alone_registers_cleanly_and_its_example_spec_is_valid(
    kind: str, tmp_path: Path, cli: Callable[..., object], imported: Callable[[str], object]
) -> None:
    name = f"specops-k-{kind.replace('_', '-')}"
    made = cli("new-plugin", name, "--kinds", kind, "--dir", tmp_path)
    assert made.code == 0, made.err
    package = name.replace("-", "_")
    plugin = imported(package)
    stem = package.removeprefix("specops_")
    assert set(check_registration(plugin)) == {(kind, f"{stem}_{TEMPLATES[kind].type_suffix}")}

    project = SpecopsProject(tmp_path / "project", [(stem, plugin)])
    example = (tmp_path / name / "example.yaml").read_text()
    valid = project.validate(example)
    assert valid.code == 0, valid


def test_default_kinds_are_a_source_and_a_model(tmp_path: Path, cli: Callable[..., object]) -> None:
    made = cli("new-plugin", "acme", "--dir", tmp_path)
    assert made.code == 0, made.err
    assert "created acme in" in made.out and "(source, model)" in made.out
    written = sorted(p.relative_to(tmp_path / "acme").as_posix() for p in tmp_path.rglob("*.py"))
    assert written == [
        "src/acme/__init__.py",
        "src/acme/model.py",
        "src/acme/source.py",
        "tests/test_acme.py",
    ]


def test_an_existing_folder_is_never_overwritten(
    tmp_path: Path, cli: Callable[..., object]
) -> None:
    occupied = tmp_path / "specops-acme"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine\n")
    refused = cli("new-plugin", "specops-acme", "--dir", tmp_path)
    assert refused.code == 2
    assert f"{occupied} already exists and is not empty; new-plugin never overwrites" in refused.err
    assert "Traceback" not in refused.err
    assert sorted(p.name for p in occupied.iterdir()) == ["notes.txt"]
    assert (occupied / "notes.txt").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["specops-acme"]  # no leftovers

    (tmp_path / "a-file").write_text("x")
    refused = cli("new-plugin", "a-file", "--dir", tmp_path)
    assert refused.code == 2 and "already exists and is not a folder" in refused.err
    assert (tmp_path / "a-file").read_text() == "x"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("new-plugin", "empty", "--dir", tmp_path).code == 0
    assert (empty / "pyproject.toml").is_file()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("my plugin", "plugin name 'my plugin' is not a valid package name"),
        ("acme-", "plugin name 'acme-' is not a valid package name"),
        ("3d", "gives the import name '3d', which Python cannot import"),
        ("class", "gives the import name 'class', which Python cannot import"),
        ("specops", "would shadow the 'specops' package once installed"),
        ("Framework", "would shadow the 'framework' package once installed"),
        ("a" * 300, "... is 300 characters long; use at most 100"),
    ],
)
def test_a_bad_name_is_refused_and_nothing_is_written(
    name: str, message: str, tmp_path: Path, cli: Callable[..., object]
) -> None:
    refused = cli("new-plugin", name, "--dir", tmp_path)
    assert refused.code == 2
    assert message in refused.err and "Traceback" not in refused.err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_kind_is_refused_with_a_suggestion(
    tmp_path: Path, cli: Callable[..., object]
) -> None:
    refused = cli("new-plugin", "acme", "--kinds", "source,modle", "--dir", tmp_path)
    assert refused.code == 2
    assert "--kinds: unknown kind 'modle'; did you mean 'model'?" in refused.err
    assert list(tmp_path.iterdir()) == []


def test_a_tracker_is_pointed_to_the_lifecycle_hooks(
    tmp_path: Path, cli: Callable[..., object]
) -> None:
    """A tracker is one of the kinds the guide shows, but not a component: the scaffold
    said only "unknown kind 'tracker'"."""
    refused = cli("new-plugin", "acme", "--kinds", "model,tracker", "--dir", tmp_path)
    assert refused.code == 2
    assert "a tracker is not a component kind: it implements the lifecycle hooks" in refused.err
    assert "'Tracker (lifecycle events)'" in refused.err
    assert list(tmp_path.iterdir()) == []


def test_a_missing_parent_folder_is_refused(tmp_path: Path, cli: Callable[..., object]) -> None:
    refused = cli("new-plugin", "acme", "--dir", tmp_path / "nowhere")
    assert refused.code == 2
    assert f"{tmp_path / 'nowhere'} is not a directory" in refused.err
    assert list(tmp_path.iterdir()) == []
