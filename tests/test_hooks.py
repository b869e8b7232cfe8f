"""The hook contract: every hook documented, every hook exercised, misspellings caught."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from framework import hookimpl, hookspecs
from framework.engine import Engine
from framework.errors import PluginError
from framework.plugins import load_plugins
from framework.spec import load_spec
from tests.conftest import REPO

HOOKS = sorted(name for name, _ in inspect.getmembers(hookspecs) if name.startswith("specops_"))


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= 13


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_docstring_and_is_in_the_plugin_guide(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name))
    assert doc and len(doc) > 30, f"{name} needs a docstring that says when it is called"
    assert name in (REPO / "docs" / "plugins.md").read_text(), f"docs/plugins.md must cover {name}"


class Recorder:
    """Implements every lifecycle hook and one of each other kind; records each call."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def specops_run_start(self, run: Any) -> None:
        self.calls.append("specops_run_start")

    @hookimpl
    def specops_step_start(self, run: Any, step: Any) -> None:
        self.calls.append("specops_step_start")

    @hookimpl
    def specops_step_end(self, run: Any, step: Any) -> None:
        self.calls.append("specops_step_end")

    @hookimpl
    def specops_step_error(self, run: Any, step: Any, error: BaseException) -> None:
        self.calls.append("specops_step_error")

    @hookimpl
    def specops_run_end(self, run: Any) -> None:
        self.calls.append(f"specops_run_end:{run.status}")

    @hookimpl
    def specops_resolve_component(self, kind: str, type_name: str, params: dict) -> Any:
        self.calls.append("specops_resolve_component")
        return None  # let the built-in resolver build it


SPEC = """
name: hooks
task: binary
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
model: {type: lightgbm, params: {n_estimators: 5}}
"""


def test_every_hook_is_called_by_a_run(tmp_path: Path) -> None:
    recorder = Recorder()
    plugins = load_plugins(extra=[("recorder", recorder)])
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC)
    result = Engine(load_spec(spec_file, plugins), plugins).run()
    assert result.exit_code == 0
    called = set(recorder.calls)
    assert {"specops_run_start", "specops_step_start", "specops_step_end"} <= called
    assert "specops_run_end:passed" in called and "specops_resolve_component" in called
    assert recorder.calls.count("specops_step_start") == recorder.calls.count("specops_step_end")

    # a failing step calls specops_step_error, then specops_run_end
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    spec_file.write_text(
        SPEC.replace(
            "sklearn_dataset, params: {name: breast_cancer}", "csv, params: {path: data.csv}"
        )
    )
    recorder.calls.clear()
    with pytest.raises(Exception, match="target column 'target' is not in the data"):
        Engine(load_spec(spec_file, plugins), plugins).run()
    assert recorder.calls[-2:] == ["specops_step_error", "specops_run_end:error"]

    # every registration hook was called: each kind has components
    for kind in ("source", "check", "split", "transform", "model", "metric", "deploy"):
        assert plugins.registry.types(kind), kind


class MemorySource:
    def __init__(self, rows: int) -> None:
        self.rows = rows

    def load(self, ctx: Any) -> Any:
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng(0)
        x = rng.normal(size=self.rows)
        return pd.DataFrame(
            {"x": x, "y": (x + rng.normal(scale=0.5, size=self.rows) > 0).astype(int)}
        )


class SchemeResolver:
    """Claims any source whose type starts with 'mem:', a predicate no type name expresses."""

    @hookimpl
    def specops_resolve_component(self, kind: str, type_name: str, params: dict) -> Any:
        if kind == "source" and type_name.startswith("mem:"):
            return MemorySource(int(type_name.split(":", 1)[1]))
        return None


def test_resolve_hook_lets_a_plugin_claim_steps_by_predicate(tmp_path: Path) -> None:
    plugins = load_plugins(extra=[("scheme", SchemeResolver())])
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        SPEC.replace(
            "{type: sklearn_dataset, params: {name: breast_cancer}}", '{type: "mem:300"}'
        ).replace("target: target", "target: y")
    )
    spec = load_spec(spec_file, plugins)
    result = Engine(spec, plugins).run()
    assert result.exit_code == 0
    assert result.run.outputs["data"]["rows"] == 300
    with pytest.raises(PluginError, match="unknown source type 'disk:1'"):
        plugins.build("source", "disk:1", {})


class Misspelt:
    @hookimpl
    def specops_register_model(self, register: Any) -> None:  # missing the final 's'
        register("x", object)


def test_misspelt_hook_name_is_an_error_naming_the_plugin() -> None:
    with pytest.raises(PluginError) as raised:
        load_plugins(extra=[("misspelt", Misspelt())])
    assert str(raised.value) == (
        "plugin 'misspelt': implements an unknown hook 'specops_register_model'; "
        "did you mean 'specops_register_models'?"
    )
