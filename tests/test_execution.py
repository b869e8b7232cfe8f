"""The ``execution`` kind: registered like every kind, named by the spec's ``execution:``,
asked by validate and plan, and wrapped around every run.

The behaviour tests use an in-process executor plugin (``picky``): the real local
executor with a session that records itself and a ``validate`` that refuses the models
it is told to, the way the dask executor refuses a model with no distributed training.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import framework.plugins
from framework import Finding, hookimpl
from framework.components import KINDS
from framework.execution import Scope, build_executor
from framework.execution.local import LocalExecutor
from framework.hookspecs import HOOK_API_VERSION
from framework.plugins import REGISTRATION_HOOKS, load_plugins
from framework.spec import load_spec
from tests.helpers import breast_cancer_spec

SESSIONS: list[str] = []

PICKY_PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "refuse": {"type": "array", "items": {"type": "string"}, "default": []},
        "address": {"type": "string", "default": "memory://picky"},
    },
}


class PickyExecutor(LocalExecutor):
    """Runs locally, but refuses the model types in ``refuse`` and records its session."""

    packages = ("pluggy",)

    def __init__(self, refuse: list[str], address: str) -> None:
        self.refuse = refuse
        self.address = address

    def validate(self, spec: Any, plugins: Any) -> list[tuple[str, Finding]]:
        if spec.model.type in self.refuse:
            return [
                (
                    spec.model.path,
                    Finding(
                        f"model '{spec.model.type}' cannot train on picky",
                        hint="use execution: local",
                    ),
                )
            ]
        return []

    def describe(self, spec: Any, plugins: Any, ctx: Any) -> list[str]:
        return [f"picky cluster at {self.address}", f"{spec.name}: 1 partition"]

    @contextmanager
    def session(self, say: Callable[[str], None]) -> Iterator[None]:
        SESSIONS.append("start")
        say(f"picky dashboard at {self.address}/status")
        try:
            yield
        finally:
            SESSIONS.append("close")

    def ingest(self, scope: Scope, source: Any) -> Any:
        assert SESSIONS[-1] == "start", "a step ran outside the session"
        return super().ingest(scope, source)


class BrokenExecutor(LocalExecutor):
    def validate(self, spec: Any, plugins: Any) -> Any:
        return "everything is fine"


class PickyPlugin:
    @hookimpl
    def specops_register_executors(self, register: Any) -> None:
        register("picky", PickyExecutor, PICKY_PARAMS, summary="local, but picky")
        register("broken", BrokenExecutor, {"type": "object"}, summary="bad validate")


@pytest.fixture
def picky(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's plugins: the installed ones plus ``picky``."""
    SESSIONS.clear()
    monkeypatch.setattr(
        framework.plugins, "_cached", load_plugins(extra=[("picky", PickyPlugin())])
    )


@pytest.fixture
def bc(write_spec: Callable[..., Path]) -> Path:
    return write_spec(breast_cancer_spec(n_estimators=10))


def with_execution(spec: Path, block: str) -> Path:
    spec.write_text(spec.read_text() + block)
    return spec


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# ---------------------------------------------------------------------------
# the kind
# ---------------------------------------------------------------------------


def test_execution_is_a_kind_registered_through_its_own_hook(cli) -> None:
    assert "execution" in KINDS
    assert REGISTRATION_HOOKS["execution"] == "specops_register_executors"
    assert HOOK_API_VERSION >= "1.1"  # the kind came with 1.1
    listed = json.loads(cli("plugins", "--json").out)
    local = [
        (p["name"], p["builtin"], c["type"])
        for p in listed["plugins"]
        for c in p["components"]
        if c["kind"] == "execution"
    ]
    assert ("execution", True, "local") in local
    schema = json.loads(cli("schema").out)
    assert "local" in schema["$defs"]["execution"]["properties"]["type"]["enum"]
    assert schema["properties"]["execution"]["$ref"] == "#/$defs/execution"


def test_build_executor_by_name_is_how_other_commands_get_one() -> None:
    plugins = load_plugins()
    assert isinstance(build_executor(plugins, "local"), LocalExecutor)
    with pytest.raises(framework.UserError, match="did you mean 'local'"):
        build_executor(plugins, "locl")


# ---------------------------------------------------------------------------
# the spec key
# ---------------------------------------------------------------------------


def test_a_spec_without_the_key_runs_locally(bc: Path) -> None:
    spec = load_spec(bc, load_plugins())
    assert (spec.execution.kind, spec.execution.type, spec.execution.path) == (
        "execution",
        "local",
        "execution",
    )
    assert dict(spec.execution.params) == {}


def test_config_hash_counts_the_executor_type_only(bc: Path, picky: None) -> None:
    plugins = framework.plugins.get_plugins()
    bare = load_spec(bc, plugins)
    local = load_spec(bc, plugins, overrides=["execution.type=local"])
    here = load_spec(bc, plugins, overrides=["execution.type=picky"])
    there = load_spec(
        bc, plugins, overrides=["execution.type=picky", "execution.params.address=tcp://x:1"]
    )
    assert bare.config_hash == local.config_hash  # local written or not: same training
    assert here.config_hash != local.config_hash  # another executor may train otherwise
    assert here.config_hash == there.config_hash  # another address is the same training
    assert len({bare.spec_hash, local.spec_hash, here.spec_hash, there.spec_hash}) == 4


def test_set_and_profiles_switch_the_executor_without_editing_the_spec(
    cli, bc: Path, picky: None
) -> None:
    by_set = cli("plan", bc, "--no-data", "--json", "--set", "execution.type=picky")
    assert by_set.code == 0, by_set.err
    assert json.loads(by_set.out)["execution"]["type"] == "picky"

    with_execution(
        bc,
        "profiles:\n  cluster:\n    execution: {type: picky, params: {address: tcp://c:8786}}\n",
    )
    by_profile = cli("plan", bc, "--no-data", "--json", "--profile", "cluster")
    assert by_profile.code == 0, by_profile.err
    execution = json.loads(by_profile.out)["execution"]
    assert (execution["type"], execution["params"]["address"]) == ("picky", "tcp://c:8786")
    assert json.loads(cli("plan", bc, "--no-data", "--json").out)["execution"]["type"] == "local"


def test_set_switches_to_dask(write_spec: Callable[..., Path]) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    spec = write_spec(
        """
        name: small
        task: binary
        data:
          source: {type: csv, params: {path: rows.csv}}
          target: y
        model: {type: lightgbm, params: {n_estimators: 5}}
        """
    )
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": (x[:, 0] > 0).astype(int)})
    frame.to_csv(spec.parent / "rows.csv", index=False)
    plugins = load_plugins()
    assert load_spec(spec, plugins).execution.type == "local"
    switched = load_spec(spec, plugins, overrides=["execution.type=dask"])
    assert switched.execution.type == "dask"
    assert dict(switched.execution.params) == {}


def test_an_unknown_executor_is_named_with_the_ones_available(cli, bc: Path) -> None:
    with_execution(bc, "execution:\n  type: locall\n")
    result = cli("validate", bc)
    assert result.code == 2
    assert f"spec.yaml:{line_of(bc, 'type: locall')}:" in result.err
    assert "did you mean 'local'" in result.err


def test_the_local_executor_takes_no_params(cli, bc: Path) -> None:
    with_execution(bc, "execution:\n  type: local\n  params: {n_workers: 2}\n")
    result = cli("validate", bc)
    assert result.code == 2
    assert "n_workers" in result.err
    assert f"spec.yaml:{line_of(bc, 'n_workers')}:" in result.err


# ---------------------------------------------------------------------------
# validate: the executor judges the spec's components
# ---------------------------------------------------------------------------


def test_validate_refuses_a_component_the_executor_cannot_run_at_its_line(
    cli, bc: Path, picky: None
) -> None:
    with_execution(bc, "execution:\n  type: picky\n  params: {refuse: [lightgbm]}\n")
    result = cli("validate", bc)
    assert result.code == 2
    model_line = line_of(bc, "type: lightgbm")
    assert re.search(
        rf"spec\.yaml:{model_line}:\d+: error: model 'lightgbm' cannot train on picky", result.err
    ), result.err
    assert "hint: use execution: local" in result.err
    assert "Traceback" not in result.err

    ran = cli("run", bc, "--json")  # refused before anything runs or is stored
    assert ran.code == 2
    assert not (bc.parent / ".specops").exists()
    assert SESSIONS == []

    accepted = cli("validate", bc, "--set", "execution.params.refuse=[]")
    assert accepted.code == 0, accepted.err


def test_an_executor_whose_validate_breaks_its_contract_is_named(
    cli, bc: Path, picky: None
) -> None:
    with_execution(bc, "execution:\n  type: broken\n")
    result = cli("validate", bc)
    assert result.code == 3
    assert "picky" in result.err and "validate must return a list" in result.err


# ---------------------------------------------------------------------------
# plan and run
# ---------------------------------------------------------------------------


def test_plan_shows_the_executor_its_plugin_params_and_where_it_runs(
    cli, bc: Path, picky: None
) -> None:
    local = cli("plan", bc, "--no-data")
    assert local.code == 0, local.err
    assert "execution local (plugin execution" in local.out
    assert "pandas in this process" in local.out

    with_execution(bc, "execution:\n  type: picky\n  params: {address: tcp://s:8786}\n")
    text = cli("plan", bc, "--no-data")
    assert "execution picky (plugin (in process) -)" in text.out
    assert "address=tcp://s:8786" in text.out and "refuse=[]" in text.out
    assert "picky cluster at tcp://s:8786" in text.out and "bc: 1 partition" in text.out
    shown = json.loads(cli("plan", bc, "--no-data", "--json").out)["execution"]
    assert (shown["type"], shown["plugin"], shown["path"]) == ("picky", "(in process)", "execution")
    assert shown["params"] == {"address": "tcp://s:8786", "refuse": []}
    assert shown["defaults"] == ["refuse"]
    assert shown["describe"] == ["picky cluster at tcp://s:8786", "bc: 1 partition"]


def test_a_run_happens_inside_the_executor_session_and_records_it(
    cli, bc: Path, picky: None
) -> None:
    with_execution(bc, "execution:\n  type: picky\n  params: {address: tcp://s:8786}\n")
    result = cli("run", bc, "--json")
    assert result.code == 0, result.err
    assert SESSIONS == ["start", "close"]
    assert "picky dashboard at tcp://s:8786/status" in result.err
    lineage = json.loads(result.out)["lineage"]
    assert lineage["execution"] == {
        "kind": "execution",
        "type": "picky",
        "plugin": "picky",
        "dist": "(in process)",
        "version": "-",
    }
    assert "pluggy" in lineage["packages"]  # the executor's own packages are recorded
    shown = json.loads(
        cli(
            "runs",
            "show",
            json.loads(result.out)["run_id"],
            "--json",
            "--store",
            bc.parent / ".specops",
        ).out
    )
    assert shown["params"]["execution.type"] == "picky"
    assert shown["params"]["execution.params.address"] == "tcp://s:8786"


def test_the_session_is_closed_when_a_step_fails(cli, bc: Path, picky: None) -> None:
    with_execution(bc, "execution:\n  type: picky\n")
    result = cli(
        "run",
        bc,
        "--json",
        "--set",
        "data.split.type=random",
        "--set",
        "data.split.params.test_size=0.999",
    )
    assert result.code == 2, result.err
    assert "cannot split" in result.err
    assert SESSIONS == ["start", "close"]


def test_a_local_run_records_its_executor_and_keeps_its_params(cli, bc: Path) -> None:
    result = cli("run", bc, "--json")
    assert result.code == 0, result.err
    run = json.loads(result.out)
    entry = run["lineage"]["execution"]
    assert (entry["kind"], entry["type"], entry["plugin"], entry["dist"]) == (
        "execution",
        "local",
        "execution",
        "specops",
    )
    assert run["lineage"]["rows_method"] == "content/1"
    shown = json.loads(
        cli("runs", "show", run["run_id"], "--json", "--store", bc.parent / ".specops").out
    )
    assert not [key for key in shown["params"] if key.startswith("execution.")]


def test_the_split_hash_names_how_rows_were_chosen(bc: Path) -> None:
    """A version split before content splits (same spec, rows by a shuffled permutation)
    must never count as having trained on the same rows as one split by content."""
    from framework.engine import _split_hash
    from framework.spec.model import spec_hash

    plugins = load_plugins()
    stratified = ["data.split.type=stratified"]
    content = load_spec(bc, plugins, overrides=stratified)
    shuffle = load_spec(bc, plugins, overrides=[*stratified, "data.split.params.method=shuffle"])
    before_content_splits = spec_hash(
        {
            "split": {"type": "stratified", "params": {}},
            "seed": content.seed,
            "target": content.target,
            "task": content.task,
        }
    )
    assert _split_hash(content, plugins) != before_content_splits
    assert _split_hash(content, plugins) != _split_hash(shuffle, plugins)
    assert _split_hash(content, plugins) == _split_hash(
        load_spec(bc, plugins, overrides=stratified), plugins
    )


def test_validate_and_plan_stay_free_of_dask_and_pandas(bc: Path) -> None:
    with_execution(bc, "execution:\n  type: local\n")
    probe = (
        "import sys\n"
        "from framework.cli.main import main\n"
        f"assert main(['validate', {str(bc)!r}]) == 0\n"
        f"assert main(['plan', '--no-data', {str(bc)!r}]) == 0\n"
        f"assert main(['validate', {str(bc)!r}, '--set', 'execution.type=dask']) in (0, 2)\n"
        "print('HEAVY', sorted(m for m in ('pandas', 'dask', 'distributed', 'numpy')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


def test_plan_does_not_read_the_table_in_this_process_for_another_executor(
    cli, bc: Path, picky: None
) -> None:
    with_execution(bc, "execution:\n  type: picky\n")
    text = cli("plan", bc)
    assert text.code == 0, text.err
    assert "columns not previewed: execution picky reads the source on its workers" in text.out
    assert "columns of the source" not in text.out
    data = json.loads(cli("plan", bc, "--json").out)["data"]
    assert list(data) == ["not_read"]
    assert "columns of the source" in cli("plan", bc, "--set", "execution.type=local").out


def test_the_spec_knows_which_keys_the_command_line_set(bc: Path) -> None:
    """A cluster address given with --set is the operator's choice, one in the file its
    author's: what the dask executor needs to tell them apart."""
    with_execution(bc, "execution:\n  type: local\n")
    plugins = load_plugins()
    written = load_spec(bc, plugins)
    assert not written.was_set("execution.type")
    chosen = load_spec(
        bc,
        plugins,
        overrides=["execution={type: local}", "model.params.n_estimators=3"],
    )
    assert chosen.was_set("execution.type") and chosen.was_set("execution.params.address")
    assert chosen.was_set("model.params.n_estimators") and not chosen.was_set("model.type")
    assert chosen.overridden == frozenset({"execution", "model.params.n_estimators"})
