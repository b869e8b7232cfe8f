"""The plugin docs cannot drift from the code.

docs/plugin_reference.md is generated from the code and must be up to date; it names
every public name and every hook. Every example module in docs/plugins.md runs, all
of them together, through the real CLI (run, then monitor) on small real data.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

import framework
from framework import hookspecs
from framework.docs_reference import render
from tests.conftest import REPO

DOCS = REPO / "docs"
GUIDE = (DOCS / "plugins.md").read_text(encoding="utf-8")
REFERENCE = (DOCS / "plugin_reference.md").read_text(encoding="utf-8")
EXAMPLE = re.compile(r"```python\n# example: (\w+)\n(.*?)```", re.S)
SPEC_BLOCK = re.compile(r"```yaml\n# example: (\w+)\n(.*?)```", re.S)
PART = re.compile(r"```yaml\n# part of: (\w+)\n(.*?)```", re.S)
HOOKS = sorted(name for name, _ in inspect.getmembers(hookspecs) if name.startswith("specops_"))
KIND_HOOKS = {
    "source": "specops_register_sources",
    "check": "specops_register_checks",
    "split": "specops_register_splits",
    "transform": "specops_register_transforms",
    "model": "specops_register_models",
    "metric": "specops_register_metrics",
    "deploy": "specops_register_deploy_targets",
    "drift_test": "specops_register_drift_tests",
}


# ---------------------------------------------------------------------------
# the generated reference
# ---------------------------------------------------------------------------


def test_reference_is_up_to_date() -> None:
    assert render() == REFERENCE, (
        "docs/plugin_reference.md is stale: "
        "python -m framework.docs_reference > docs/plugin_reference.md"
    )


@pytest.mark.parametrize("name", sorted(framework.__all__))
def test_every_public_name_has_a_reference_entry(name: str) -> None:
    assert f"### `{name}`" in REFERENCE


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_reference_entry(name: str) -> None:
    entry = REFERENCE.split(f"### `{name}`\n", 1)
    assert len(entry) == 2, f"{name} is not in docs/plugin_reference.md"
    assert len(entry[1].split("\n### ", 1)[0].strip()) > 60, f"{name} needs its docstring"


def reference_entry(name: str) -> str:
    return REFERENCE.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]


@pytest.mark.parametrize(
    "name",
    [
        "StepContext",
        "Finding",
        "CheckOutcome",
        "DeployOutcome",
        "Release",
        "DriftResult",
        "ColumnProfile",
        "RunInfo",
        "StepInfo",
        "DataError",
        "Problem",
    ],
)
def test_every_field_a_plugin_receives_is_documented(name: str) -> None:
    import dataclasses

    entry = reference_entry(name)
    for field in dataclasses.fields(getattr(framework, name)):
        row = next(
            (line for line in entry.splitlines() if line.startswith(f"| `{field.name}`")), ""
        )
        assert row, f"{name}.{field.name} is not in the reference"
        meaning = row.rstrip(" |").rsplit("|", 1)[-1].strip()
        assert len(meaning) > 10, f"{name}.{field.name} has no documentation in the code"


@pytest.mark.parametrize(
    "name",
    ["Source", "Check", "Splitter", "Transform", "Model", "Metric", "DeployTarget", "DriftTest"],
)
def test_every_protocol_member_is_documented(name: str) -> None:
    entry = reference_entry(name)
    protocol = getattr(framework, name)
    members = [m for m in protocol.__dict__ if not m.startswith("_")]
    members += list(getattr(protocol, "__annotations__", {}))
    for member in members:
        assert f"`{member}" in entry, f"{name}.{member} is not in the reference"
    for method in (m for m in members if callable(getattr(protocol, m, None))):
        assert inspect.getdoc(getattr(protocol, method)), f"{name}.{method} has no docstring"


def test_the_guide_covers_every_hook_and_kind() -> None:
    for name in HOOKS:
        assert name in GUIDE, f"docs/plugins.md must cover {name}"
    assert "plugin_reference.md" in GUIDE
    kinds = {example_kind(module) for module in example_modules_text().values()}
    assert set(KIND_HOOKS) <= kinds, f"kinds without an example: {set(KIND_HOOKS) - kinds}"
    assert "tracker" in kinds


def test_the_guide_pyproject_builds_an_installable_plugin() -> None:
    import tomllib

    pyproject = tomllib.loads(re.findall(r"```toml\n(.*?)```", GUIDE, flags=re.S)[0])
    assert pyproject["build-system"] == {
        "requires": ["hatchling"],
        "build-backend": "hatchling.build",
    }
    project = pyproject["project"]
    module = project["entry-points"]["specops"]["centroid"]
    # hatchling ships NAME.py when the project is named NAME (normalised): the file shown
    assert module == project["name"].replace("-", "_") and f"`{module}.py`:" in GUIDE
    assert "specops" in project["dependencies"]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", ["plugins.md", "plugin_reference.md", "plugin_testing.md"])
def test_links_between_the_plugin_pages_resolve(page: str) -> None:
    text = re.sub(r"```.*?```", "", (DOCS / page).read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        file, _, anchor = target.partition("#")
        path = (DOCS / file).resolve() if file else DOCS / page
        assert path.exists(), f"{page} links to {target}, which does not exist"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{page} links to {target}: no such heading"


# ---------------------------------------------------------------------------
# the examples, run
# ---------------------------------------------------------------------------


def example_modules_text() -> dict[str, str]:
    return dict(EXAMPLE.findall(GUIDE))


def example_kind(code: str) -> str:
    for kind, hook in KIND_HOOKS.items():
        if f"def {hook}(" in code:
            return kind
    return "tracker" if "def specops_run_end(" in code else "?"


def import_example(name: str, code: str, directory: Path) -> ModuleType:
    path = directory / f"{name}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and skops look classes up by module
    spec.loader.exec_module(module)
    return module


def write_data(path: Path, rows: int, seed: int, shift: float = 0.0) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows) + shift
    x2 = rng.normal(size=rows)
    frame = pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "color": rng.choice(["red", "green", "blue"], size=rows),
            "label": (x1 - shift + x2 + rng.normal(scale=0.5, size=rows) > 0).astype(int),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.drop(columns="label").to_csv(path, index=False)
    return frame


def is_part(part: Any, whole: Any) -> bool:
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            k in whole and is_part(v, whole[k]) for k, v in part.items()
        )
    return part == whole


@pytest.fixture
def examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, ModuleType]:
    """Every example module of docs/plugins.md, loaded as the CLI's plugins."""
    import framework.plugins

    code = example_modules_text()
    modules_dir = tmp_path / "modules"
    modules_dir.mkdir()
    modules = {name: import_example(name, text, modules_dir) for name, text in code.items()}
    plugins = framework.plugins.load_plugins(extra=list(modules.items()))
    monkeypatch.setattr(framework.plugins, "_cached", plugins)
    yield modules
    for name in code:
        sys.modules.pop(f"docs_example_{name}", None)


def test_examples_are_clean_code(tmp_path: Path) -> None:
    """What plugin authors copy passes the project's own linter and formatter."""
    import subprocess

    pytest.importorskip("ruff")
    for name, code in example_modules_text().items():
        (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")
    config = str(REPO / "pyproject.toml")
    for command in (["check"], ["format", "--check", "--diff"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--config", config, str(tmp_path)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def registrations(module: ModuleType) -> list[tuple[str, Any, Any]]:
    found: list[tuple[str, Any, Any]] = []
    for hook in KIND_HOOKS.values():
        implementation = getattr(module, hook, None)
        if implementation is not None:
            implementation(
                lambda name, factory, schema=None, **_: found.append((name, factory, schema))
            )
    return found


def test_examples_keep_the_contracts_the_testing_helpers_check(tmp_path: Path) -> None:
    from jsonschema import Draft202012Validator

    check_defaults = pytest.importorskip("framework.plugin_checks").check_defaults
    minimal = re.findall(r"```python\n(.*?)```", GUIDE, flags=re.S)[0]  # the centroid plugin
    for name, code in {"minimal": minimal, **example_modules_text()}.items():
        module = import_example(name, code, tmp_path)
        try:
            for type_name, factory, schema in registrations(module):
                if schema is not None:
                    Draft202012Validator.check_schema(schema)
                assert check_defaults(factory, schema) == [], f"{name}: {type_name}"
        finally:
            sys.modules.pop(f"docs_example_{name}", None)


def test_every_spec_part_is_in_the_complete_spec() -> None:
    specs = {name: yaml.safe_load(text) for name, text in SPEC_BLOCK.findall(GUIDE)}
    parts = PART.findall(GUIDE)
    assert len(parts) >= 8
    for name, text in parts:
        assert is_part(yaml.safe_load(text), specs[name]), f"a part differs from {name}:\n{text}"


def test_every_example_runs_through_the_real_cli(
    examples: dict[str, ModuleType],
    tmp_path: Path,
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = tmp_path / "project"
    spec = project / "all_kinds.yaml"
    project.mkdir()
    spec.write_text(dict(SPEC_BLOCK.findall(GUIDE))["all_kinds"], encoding="utf-8")
    write_data(project / "data" / "train.jsonl", 400, seed=1)
    runlog = tmp_path / "runs.jsonl"
    monkeypatch.setenv("RUNLOG_PATH", str(runlog))
    monkeypatch.chdir(tmp_path)  # paths resolve against the spec, not here
    references: list[Any] = []
    drift_test = examples["mean_shift_drift"].MeanShift
    statistic = drift_test.statistic
    monkeypatch.setattr(
        drift_test,
        "statistic",
        lambda self, reference, current: (
            references.append(reference) or statistic(self, reference, current)
        ),
    )

    listed = json.loads(cli("plugins", "--json").out)
    types = {(c["kind"], c["type"]) for p in listed["plugins"] for c in p["components"]}
    assert {
        ("source", "jsonl"),
        ("check", "value_range"),
        ("split", "tail"),
        ("transform", "power"),
        ("model", "knn"),
        ("metric", "false_positive_rate"),
        ("deploy", "manifest"),
        ("drift_test", "mean_shift"),
    } <= types

    result = cli("run", spec, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["status"] == "passed", report
    metrics = {m["metric"]: m["value"] for m in report["metrics"]}
    assert 0.0 <= metrics["false_positive_rate"] <= 0.3
    manifest = json.loads((project / "out" / "manifest.json").read_text())
    assert manifest["model"] == "all-kinds" and manifest["version"] == 1
    logged = [json.loads(line) for line in runlog.read_text().splitlines()]
    assert logged[-1]["status"] == "passed" and logged[-1]["spec"] == "all-kinds"
    assert [step[0] for step in logged[-1]["steps"]][:3] == ["ingest", "check", "split"]

    # a second run replaces the manifest it wrote
    again = cli("run", spec, "--json")
    assert again.code == 0, again.err
    assert json.loads((project / "out" / "manifest.json").read_text())["version"] == 2

    # monitor: the drift tests judge each column with its own limit
    same = tmp_path / "same.csv"
    write_data(same, 300, seed=2)
    steady = cli("monitor", spec, "--data", same, "--json")
    assert steady.code == 0, steady.err + steady.out
    moved = tmp_path / "moved.csv"
    write_data(moved, 300, seed=3, shift=0.8)
    drifted = cli("monitor", spec, "--data", moved, "--json")
    assert drifted.code == 1, drifted.err
    columns = {c["column"]: c for c in json.loads(drifted.out)["columns"]}
    assert columns["x1"]["test"] == "mean_shift" and columns["x1"]["threshold"] == 0.5
    assert columns["x2"]["threshold"] == 1.0 and columns["x1"]["status"] == "drift"
    # what a drift test receives is the documented, exported ColumnProfile
    assert references and all(isinstance(r, framework.ColumnProfile) for r in references)


def test_the_examples_work_installed_as_packages(cli_process: Any, tmp_path: Path) -> None:
    """Each example as its own distribution with a `specops` entry point, found as pip
    leaves it, in a fresh process: what a user gets after `pip install`."""
    from tests.helpers import install_plugin

    site = tmp_path / "site"
    for name, code in example_modules_text().items():
        install_plugin(site, f"specops-{name.replace('_', '-')}", f"specops_{name}", code, name)
    project = tmp_path / "project"
    project.mkdir()
    spec = project / "all_kinds.yaml"
    spec.write_text(dict(SPEC_BLOCK.findall(GUIDE))["all_kinds"], encoding="utf-8")
    write_data(project / "data" / "train.jsonl", 300, seed=4)
    runlog = tmp_path / "runs.jsonl"
    env = {"PYTHONPATH": str(site), "RUNLOG_PATH": str(runlog)}

    result = cli_process("run", spec, "--json", env=env, cwd=tmp_path)
    assert result.code == 0, result.err
    assert json.loads(result.out)["status"] == "passed"
    assert json.loads(runlog.read_text())["status"] == "passed"
    listed = json.loads(cli_process("plugins", "--json", env=env).out)
    assert listed["broken"] == []
    installed = {p["dist"] for p in listed["plugins"] if not p["builtin"]}
    assert installed >= {"specops-knn-model", "specops-runlog-tracker"}


def test_examples_refuse_bad_input_with_the_spec_location(
    examples: dict[str, ModuleType], tmp_path: Path, cli: Callable[..., Any]
) -> None:
    spec = tmp_path / "all_kinds.yaml"
    text = dict(SPEC_BLOCK.findall(GUIDE))["all_kinds"]
    spec.write_text(text, encoding="utf-8")
    missing = cli("validate", spec)
    assert (
        missing.code == 2
        and "no file at" in missing.err
        and "data.source.params.path" in missing.err
    )

    write_data(tmp_path / "data" / "train.jsonl", 100, seed=1)
    unreachable = cli("validate", spec, "--set", "gate.false_positive_rate.max=-0.1")
    assert unreachable.code == 2, unreachable.err
    assert (
        "false_positive_rate max -0.1 can never be met: false_positive_rate is at least 0.0"
        in unreachable.err
    )

    wrong_role = tmp_path / "wrong_role.yaml"
    wrong_role.write_text(
        text.replace("numeric: {type: mean_shift", "categorical: {type: mean_shift")
    )
    refused = cli("validate", wrong_role)
    assert refused.code == 2 and "does not apply to categorical columns" in refused.err
