"""A faulty plugin names itself and breaks nothing else (issue 11, items 5, 7 and 8).

Third-party plugins here are real distributions: a module and its dist-info in a
temporary site directory on ``PYTHONPATH``, found through the ``specops`` entry-point
group exactly as pip would leave them, and driven through the real CLI. In-process
plugins (``load_plugins(extra=...)``) are used where the engine is driven directly.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from framework import hookimpl, hookspecs
from framework.engine import Engine
from framework.errors import PluginError, PluginFault, SpecError
from framework.plugin_rules import Registration, api_problem, registration_problems
from framework.plugins import load_plugins
from framework.spec import load_spec
from tests.helpers import breast_cancer_spec, store_rows


def install(site: Path, dist: str, module: str, code: str, version: str = "0.1.0") -> None:
    """A plugin distribution as pip leaves it: module, dist-info, ``specops`` entry point
    named after the module's last word."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    entry = module.removeprefix("specops_")
    (info / "entry_points.txt").write_text(f"[specops]\n{entry} = {module}\n")


def env(site: Path, **extra: str) -> dict[str, str]:
    return {"PYTHONPATH": str(site), **extra}


DEMO = """
    from framework import hookimpl

    SPECOPS_HOOK_API = ">=1.0,<2"


    class Knn:
        tasks = frozenset({"binary", "multiclass"})
        native_categorical = False
        handles_missing = False

        def __init__(self, k: int = 3) -> None:
            self.k = k

        def fit(self, X, y, ctx) -> None:
            raise ValueError("k=3 needs at least 4 rows per class")


    class Exploding:
        def validate(self, ctx):
            return {}["settings"]

        def load(self, ctx):
            raise AssertionError("never loaded")


    @hookimpl
    def specops_register_models(register) -> None:
        schema = {"type": "object", "properties": {"k": {"type": "integer", "default": 3}}}
        register("knn", Knn, schema, summary="k nearest neighbours, by the demo plugin")


    @hookimpl
    def specops_register_sources(register) -> None:
        register("exploding", Exploding, summary="A source whose checks have a bug")
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    install(site, "specops-contrib-demo", "specops_demo", DEMO, version="0.3.1")
    return site


def spec_file(directory: Path, model: str = "lightgbm", source: str | None = None) -> Path:
    text = breast_cancer_spec(n_estimators=5).replace("type: lightgbm", f"type: {model}")
    if source:
        text = text.replace(
            "{type: sklearn_dataset, params: {name: breast_cancer}}", f"{{type: {source}}}"
        )
    if model != "lightgbm":
        text = text.replace("params: {n_estimators: 5, num_leaves: 7}", "params: {}")
    path = directory / f"{model}-{source or 'bc'}.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------
# run time: the plugin, its version, the component and the step are named
# ---------------------------------------------------------------------------


def test_an_exception_in_plugin_code_names_plugin_version_component_and_step(
    cli_process, site: Path, tmp_path: Path
) -> None:
    spec = spec_file(tmp_path, model="knn")
    result = cli_process("run", spec, env=env(site))
    assert result.code == 3, result.err
    assert (
        "error in plugin 'specops-contrib-demo' 0.3.1 (model 'knn', step train): "
        "ValueError: k=3 needs at least 4 rows per class" in result.err
    )
    assert "a bug in that plugin" in result.err and "Traceback" not in result.err

    # the run record names it too
    [(status, outputs)] = store_rows(tmp_path / ".specops", "SELECT status, outputs_json FROM runs")
    recorded = json.loads(outputs)
    assert status == "error"
    assert recorded["plugin_error"] == {
        "plugin": "specops-contrib-demo",
        "version": "0.3.1",
        "component": "model 'knn'",
        "step": "train",
        "hook": "",
        "error": "ValueError: k=3 needs at least 4 rows per class",
    }

    # `specops --debug COMMAND` (the global flag) shows the traceback, down to the plugin
    debug = cli_process("--debug", "run", spec, "--json", env=env(site))
    assert debug.code == 3
    assert "Traceback" in debug.err and "specops_demo.py" in debug.err
    assert json.loads(debug.out)["plugin_error"]["plugin"] == "specops-contrib-demo"


def test_an_exception_in_a_components_own_checks_names_the_plugin(
    cli_process, site: Path, tmp_path: Path
) -> None:
    result = cli_process("validate", spec_file(tmp_path, source="exploding"), env=env(site))
    assert result.code == 3, result.err
    assert (
        "error in plugin 'specops-contrib-demo' 0.3.1 (source 'exploding'): KeyError: 'settings'"
        in result.err
    )


# ---------------------------------------------------------------------------
# load time: each refusal names the plugin; the others keep working
# ---------------------------------------------------------------------------

HALF_REGISTERED = """
    from framework import hookimpl

    class Half:
        pass

    @hookimpl
    def specops_register_models(register):
        register("half_model", Half)

    @hookimpl
    def specops_register_sources(register):
        raise RuntimeError("the sources table is missing")

    @hookimpl
    def specops_run_start(run):
        raise AssertionError("a refused plugin's hooks are never called")
"""

BAD_SCHEMA = """
    from framework import hookimpl

    @hookimpl
    def specops_register_models(register):
        register("typo_model", object, {"type": "object", "properties": {"p": {"type": "integr"}}})
"""

FUTURE_API = """
    from framework import hookimpl

    SPECOPS_HOOK_API = ">=2.0,<3"

    @hookimpl
    def specops_register_models(register):
        register("future_model", object)
"""

MISSPELT = """
    from framework import hookimpl

    @hookimpl
    def specops_register_model(register):
        register("misspelt_model", object)
"""

BAD_NAME = """
    from framework import hookimpl

    @hookimpl
    def specops_register_models(register):
        register("Fancy Model", object, summary="a name no spec can write")
"""

NO_MARKER = """
    def specops_register_models(register):
        register("unmarked_model", object)
"""

WRONG_ARGUMENT = """
    from framework import hookimpl

    @hookimpl
    def specops_step_end(run, stp):
        pass
"""

CLASH = """
    from framework import hookimpl

    @hookimpl
    def specops_register_models(register):
        register("lightgbm", object, summary="another lightgbm")

    @hookimpl
    def specops_register_sources(register):
        register("csv", object, summary="another csv")
"""


def test_faulty_plugins_are_refused_whole_by_name_and_the_rest_works(
    cli_process, site: Path, tmp_path: Path
) -> None:
    install(site, "specops-half", "specops_half", HALF_REGISTERED)
    install(site, "specops-bad-schema", "specops_bad_schema", BAD_SCHEMA)
    install(site, "specops-future", "specops_future", FUTURE_API)
    install(site, "specops-misspelt", "specops_misspelt", MISSPELT)
    install(site, "specops-bad-name", "specops_bad_name", BAD_NAME)
    install(site, "specops-no-marker", "specops_no_marker", NO_MARKER)
    install(site, "specops-wrong-argument", "specops_wrong_argument", WRONG_ARGUMENT)

    listed = cli_process("plugins", "--json", env=env(site))
    assert listed.code == 0, listed.err
    report = json.loads(listed.out)
    broken = {b["name"]: b["error"] for b in report["broken"]}
    assert broken == {
        "half": "specops_register_sources raised RuntimeError: the sources table is missing",
        "bad_schema": (
            "model type 'typo_model': params_schema is not a valid JSON Schema at "
            "properties.p.type: 'integr' is not valid under any of the given schemas; "
            "did you mean 'integer'? (JSON Schema types: array, boolean, integer, null, "
            "number, object, string)"
        ),
        "future": (
            "written for specops hook API '>=2.0,<3', but this specops provides hook API "
            f"{hookspecs.HOOK_API_VERSION}; upgrade specops, or install a version of the "
            f"plugin made for hook API {hookspecs.HOOK_API_VERSION}"
        ),
        "misspelt": (
            "implements an unknown hook 'specops_register_model'; "
            "did you mean 'specops_register_models'?"
        ),
        "bad_name": (
            "model type 'Fancy Model': a type name is lower case letters, digits and '_', "
            "starting with a letter (what a spec writes after 'type:')"
        ),
        "no_marker": (
            "defines specops_register_models without @hookimpl, so specops would never "
            "call it; decorate it with framework.hookimpl"
        ),
        "wrong_argument": (
            "specops_step_end(run, stp): 'stp' is not an argument of this hook; "
            "did you mean 'step'? (it passes: run, step)"
        ),
    }
    types = {(c["kind"], c["type"]) for p in report["plugins"] for c in p["components"]}
    assert ("model", "half_model") not in types  # registered before the raise: not kept
    assert ("model", "knn") in types  # the good plugin is untouched

    # a spec needing a refused plugin's type says which plugin failed and why
    wants_half = cli_process("validate", spec_file(tmp_path, model="half_model"), env=env(site))
    assert wants_half.code == 2
    assert (
        "model type 'half_model' is provided by plugin 'half' (specops-half 0.1.0), which "
        "failed to load: specops_register_sources raised RuntimeError: the sources table "
        "is missing" in " ".join(wants_half.err.split())
    )

    # the schema for editors, and every other command, still works
    schema = cli_process("schema", env=env(site))
    assert schema.code == 0, schema.err
    enum = json.loads(schema.out)["$defs"]["model"]["properties"]["type"]["enum"]
    assert "knn" in enum and "typo_model" not in enum
    run = cli_process("run", spec_file(tmp_path), env=env(site))
    assert run.code == 0, run.err  # the refused plugin's run_start was never called


class ThreeMistakes:
    @hookimpl
    def specops_step_ends(self, run, step) -> None:  # misspelt
        pass

    @hookimpl
    def specops_run_end(self, run, stp=None) -> None:  # an argument the hook does not pass
        pass

    def specops_run_start(self, run) -> None:  # no @hookimpl
        pass


def test_a_plugin_is_told_every_hook_mistake_at_once() -> None:
    """Refusals came one at a time (unmarked, then arguments, then names): an author
    fixed one, reloaded and met the next."""
    with pytest.raises(PluginError) as refused:
        load_plugins(extra=[("typos", ThreeMistakes())])
    message = str(refused.value)
    assert "defines specops_run_start without @hookimpl" in message
    assert "'stp' is not an argument of this hook" in message
    assert (
        "implements an unknown hook 'specops_step_ends'; did you mean 'specops_step_end'?"
        in message
    )


def test_type_collisions_are_all_named_and_the_user_chooses(
    cli_process, site: Path, tmp_path: Path
) -> None:
    install(site, "specops-clash", "specops_clash", CLASH)
    listed = cli_process("plugins", env=env(site))
    assert listed.code == 0, listed.err
    conflicts = " ".join(listed.out.split())
    for kind, name, owner in (("model", "lightgbm", "lightgbm"), ("source", "csv", "sources")):
        assert (
            f"conflict: {kind} type '{name}' is claimed by 2 plugins: '{owner}' (specops "
        ) in conflicts
        assert "'clash' (specops-clash 0.1.0), so neither is used" in conflicts

    # a spec that does not use a contested type is unaffected
    ok = cli_process("validate", spec_file(tmp_path, model="knn"), env=env(site))
    assert ok.code == 0, ok.err

    # one that does is told how to choose; choosing works
    spec = spec_file(tmp_path)
    refused = cli_process("validate", spec, env=env(site))
    assert refused.code == 2
    assert "model type 'lightgbm' is claimed by 2 plugins" in refused.err
    assert "SPECOPS_DISABLE_PLUGINS=clash keeps 'lightgbm'" in refused.err
    chosen = cli_process("validate", spec, env=env(site, SPECOPS_DISABLE_PLUGINS="clash"))
    assert chosen.code == 0, chosen.err


def test_switches_naming_no_installed_plugin_are_errors(cli_process, site: Path) -> None:
    only = cli_process("plugins", env=env(site, SPECOPS_PLUGINS="dmeo"))
    assert only.code == 2
    assert (
        "SPECOPS_PLUGINS names 'dmeo', which is not an installed plugin; did you mean 'demo'? "
        "installed: demo" in only.err
    )
    disabled = cli_process("plugins", env=env(site, SPECOPS_DISABLE_PLUGINS="demo,nope"))
    assert disabled.code == 2 and "SPECOPS_DISABLE_PLUGINS names 'nope'" in disabled.err


def test_plugins_table_shows_each_components_summary(cli_process, site: Path) -> None:
    listed = cli_process("--debug", "plugins", env=env(site))
    assert listed.code == 0, listed.err
    assert "k nearest neighbours, by the demo plugin" in listed.out
    assert "Require unique values or composite keys" in listed.out  # a built-in summary


# ---------------------------------------------------------------------------
# resolving and building: a plugin that raises is named, not "unknown type"
# ---------------------------------------------------------------------------


class RaisingResolver:
    @hookimpl
    def specops_resolve_component(self, kind: str, type_name: str, params: dict) -> Any:
        if type_name.startswith("mem:"):
            return int(type_name.removeprefix("mem:"))  # "mem:lots" raises ValueError
        return None


class BrokenFactory:
    def __init__(self) -> None:
        raise RuntimeError("the licence file is missing")


class BrokenFactoryPlugin:
    @hookimpl
    def specops_register_models(self, register: Any) -> None:
        register("licensed", BrokenFactory)


def test_resolver_and_factory_exceptions_name_the_plugin(tmp_path: Path) -> None:
    plugins = load_plugins(
        extra=[("scheme", RaisingResolver()), ("licensed", BrokenFactoryPlugin())]
    )
    with pytest.raises(PluginError) as raised:
        plugins.build("source", "mem:lots", {})
    assert str(raised.value) == (
        "plugin 'scheme' failed in specops_resolve_component for source 'mem:lots': "
        "ValueError: invalid literal for int() with base 10: 'lots'"
    )
    with pytest.raises(PluginError, match=r"^plugin 'licensed' could not build model "):
        plugins.build("model", "licensed", {})

    # validate reports the resolver's failure at the spec's type, naming the plugin
    path = tmp_path / "spec.yaml"
    path.write_text(
        breast_cancer_spec(5).replace(
            "{type: sklearn_dataset, params: {name: breast_cancer}}", '{type: "mem:lots"}'
        )
    )
    with pytest.raises(SpecError) as problems:
        load_spec(path, plugins)
    [problem] = problems.value.problems
    assert problem.path == "data.source.type"
    assert problem.message.startswith("plugin 'scheme' failed in specops_resolve_component")


# ---------------------------------------------------------------------------
# observers: a failing tracker is reported and recorded; the run goes on
# ---------------------------------------------------------------------------


class FlakyTracker:
    def __init__(self) -> None:
        self.ends = 0

    @hookimpl
    def specops_step_end(self, run: Any, step: Any) -> None:
        self.ends += 1
        raise ConnectionError("tracking server unreachable")

    @hookimpl
    def specops_run_end(self, run: Any) -> None:
        raise ConnectionError("tracking server still unreachable")


class RequiredTracker:
    SPECOPS_REQUIRED = True

    @hookimpl
    def specops_step_start(self, run: Any, step: Any) -> None:
        raise ConnectionError("audit log unreachable")


def test_a_failing_tracker_is_reported_once_recorded_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flaky = FlakyTracker()
    plugins = load_plugins(extra=[("flaky", flaky)])
    path = tmp_path / "spec.yaml"
    path.write_text(breast_cancer_spec(5))
    result = Engine(load_spec(path, plugins), plugins).run()

    assert result.exit_code == 0 and result.run.status == "passed"
    assert flaky.ends == 9  # called after every step, although each call raised
    err = capsys.readouterr().err
    assert err.count("warning: tracker 'flaky'") == 1
    assert (
        "warning: tracker 'flaky' failed in specops_step_end: ConnectionError: tracking "
        "server unreachable; the run continues" in err
    )
    [(outputs,)] = store_rows(tmp_path / ".specops", "SELECT outputs_json FROM runs")
    recorded = json.loads(outputs)["observer_errors"]
    assert len(recorded) == 10  # nine step ends and the run's end, in the run record
    assert recorded[-1] == {
        "plugin": "flaky",
        "version": "-",
        "hook": "specops_run_end",
        "error": "ConnectionError: tracking server still unreachable",
    }


def test_runs_show_lists_the_failures_of_a_tracker_the_run_went_on_without(
    tmp_path: Path,
) -> None:
    """The warning says later failures are "recorded in the run, not shown"; no command
    showed them (runs show had neither a line nor a JSON field)."""
    from framework.testing import SpecopsProject

    project = SpecopsProject(tmp_path / "project", [("flaky", FlakyTracker())])
    run = project.run(breast_cancer_spec(5))
    assert run.code == 0, run
    shown = project.cli("runs", "show", run.report["run_id"], "--json")
    failures = shown.report["observer_errors"]
    assert len(failures) == 10 and failures[0]["hook"] == "specops_step_end"
    table = " ".join(project.cli("runs", "show", run.report["run_id"]).out.split())
    assert (
        "tracker failed: 'flaky' in specops_step_end (9 times): ConnectionError: tracking "
        "server unreachable"
    ) in table
    assert "tracker failed: 'flaky' in specops_run_end: ConnectionError" in table


def test_a_required_tracker_that_fails_ends_the_run_naming_it(tmp_path: Path) -> None:
    plugins = load_plugins(extra=[("audit", RequiredTracker())])
    path = tmp_path / "spec.yaml"
    path.write_text(breast_cancer_spec(5))
    with pytest.raises(PluginFault) as raised:
        Engine(load_spec(path, plugins), plugins).run()
    assert str(raised.value) == (
        "error in plugin 'audit' (in specops_step_start): ConnectionError: audit log unreachable"
    )
    [(status,)] = store_rows(tmp_path / ".specops", "SELECT status FROM runs")
    assert status == "error"


# ---------------------------------------------------------------------------
# the rules themselves
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "ok"),
    [
        (None, True),  # declares nothing: assumed written for this API
        ("1", True),
        (">=1.0,<2", True),
        ("1.0", True),
        ("2", False),
        (">=1.1", False),
        ("<1", False),
        ("one", False),
    ],
)
def test_hook_api_declarations(declared: str | None, ok: bool) -> None:
    assert (api_problem(declared, "1.0") is None) is ok


def test_new_kinds_were_minor_bumps_plugins_for_1_0_and_1_1_still_load() -> None:
    # 1.1: execution; 1.2: stores, trackers; 1.3: runtimes
    assert hookspecs.HOOK_API_VERSION == "1.3"
    for declared in ("1", "1.0", ">=1.0,<2", ">=1.1", ">=1.2", ">=1.3"):
        assert api_problem(declared, hookspecs.HOOK_API_VERSION) is None
    assert "provides hook API 1.3" in api_problem("1.4", hookspecs.HOOK_API_VERSION)


def test_every_built_in_component_passes_the_rules_third_party_ones_must() -> None:
    """Built-in schemas are not checked at each start (3 ms each): this test does it."""
    plugins = load_plugins()
    assert plugins.registry.broken == [] and plugins.registry.contested == {}
    for entry in plugins.registry.entries.values():
        found = Registration(
            entry.kind, entry.type_name, entry.factory, entry.params_schema, entry.summary
        )
        assert registration_problems(found) == [], entry.type_name
        assert entry.summary, f"{entry.kind} '{entry.type_name}' needs a summary"
