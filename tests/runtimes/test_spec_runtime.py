"""``serve.runtime`` in a spec: checked against the registered runtimes (exit 2 at its
line, with a did-you-mean), shown by ``plan``, and not part of the training config."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.spec import load_spec
from tests.runtimes.made_up import Drifting, Echo
from tests.runtimes.test_compile import SPEC, make_project


def test_an_unknown_runtime_is_refused_at_its_line_with_a_did_you_mean(tmp_path: Path) -> None:
    project = make_project(tmp_path, Echo)
    result = project.validate(SPEC.replace("RUNTIME", "ecko"))
    assert result.code == 2, result
    assert "spec.yaml:9:12: error: unknown runtime 'ecko'; did you mean 'echo'? " in result.err
    assert "available: auto, native, echo (is the plugin installed?)" in result.err
    assert "Traceback" not in result.err
    assert project.validate(SPEC.replace("RUNTIME", "echo")).code == 0
    assert project.validate(SPEC.replace("RUNTIME", "native")).code == 0


def test_the_schema_checks_the_serve_section(tmp_path: Path) -> None:
    project = make_project(tmp_path, Echo)
    wrong_type = project.validate(SPEC.replace("runtime: RUNTIME", "runtime: 5"))
    assert wrong_type.code == 2 and "serve.runtime" in wrong_type.err
    extra = project.validate(SPEC.replace("runtime: RUNTIME", "runtime: auto\n  speed: max"))
    assert extra.code == 2 and "speed" in extra.err


def test_plan_says_what_register_compiles_and_what_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one line per cell: the text reads as printed
    project = make_project(tmp_path, Echo, Drifting)
    auto = project.cli("plan", project.write_spec(SPEC.replace("RUNTIME", "auto")), "--no-data")
    assert auto.code == 0, auto
    text = " ".join(auto.out.split())
    assert "runtime auto: drifting, echo compiled and verified at register" in text
    assert "the fastest verified one serves, else native" in text

    spec = project.write_spec(SPEC.replace("RUNTIME", "echo"))
    report = project.cli("plan", spec, "--no-data", "--json").report["runtime"]
    assert report["requested"] == "echo"
    assert [item["runtime"] for item in report["compile"]] == ["echo"]
    assert report["compile"][0]["plugin"] == "made_up"
    assert report["serves"] == (
        "echo: compiled and verified at register; native if it is not verified"
    )

    native = project.cli("plan", project.write_spec(SPEC.replace("RUNTIME", "native")), "--no-data")
    assert "runtime native: nothing compiled" in " ".join(native.out.split())


def test_the_runtime_is_not_part_of_the_training_config(tmp_path: Path) -> None:
    """Changing how a model serves does not make it a different model to train."""
    project = make_project(tmp_path, Echo)
    plugins = project.plugins
    auto = load_spec(project.write_spec(SPEC.replace("RUNTIME", "auto"), "a.yaml"), plugins)
    echo = load_spec(project.write_spec(SPEC.replace("RUNTIME", "echo"), "b.yaml"), plugins)
    assert (auto.serve_runtime, echo.serve_runtime) == ("auto", "echo")
    assert auto.config_hash == echo.config_hash
    assert auto.spec_hash != echo.spec_hash
    bare = SPEC.split("serve:")[0]
    default = load_spec(project.write_spec(bare, "c.yaml"), plugins)
    assert default.serve_runtime == "auto"
