"""A real third-party plugin: a package with dist-info and an entry point, found on sys.path.

The plugin's code is the one printed in docs/plugins.md, so the guide cannot rot.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import install_plugin as install

GUIDE = (REPO / "docs" / "plugins.md").read_text()


def guide_block(language: str, index: int = 0) -> str:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, flags=re.S)[index]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    install(site, "specops-centroid", "specops_centroid", guide_block("python"), "centroid")
    return site


@pytest.fixture
def blobs_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "blobs.yaml"
    spec.write_text(guide_block("yaml"))
    return spec


def env_for(site: Path, **extra: str) -> dict[str, str]:
    return {"PYTHONPATH": str(site), **extra}


def test_plugin_from_the_guide_is_listed_and_runs(
    cli_process, site: Path, blobs_spec: Path
) -> None:
    listed = cli_process("plugins", "--json", env=env_for(site))
    assert listed.code == 0, listed.err
    plugin = next(p for p in json.loads(listed.out)["plugins"] if p["name"] == "centroid")
    assert plugin["dist"] == "specops-centroid" and plugin["version"] == "0.1.0"
    assert plugin["builtin"] is False
    kinds = {(c["kind"], c["type"]) for c in plugin["components"]}
    assert kinds == {("source", "synthetic"), ("model", "centroid")}

    run = cli_process("run", blobs_spec, "--json", env=env_for(site))
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["status"] == "passed" and report["model"]["version"] == 1
    accuracy = next(m for m in report["metrics"] if m["metric"] == "accuracy")
    assert accuracy["value"] >= 0.8

    # its params schema is part of validation and of the composed schema
    bad = cli_process(
        "validate", blobs_spec, "--set", "data.source.params.rows=3", env=env_for(site)
    )
    assert bad.code == 2 and "data.source.params.rows: must be >= 10" in bad.err
    schema = json.loads(cli_process("schema", env=env_for(site)).out)
    assert "synthetic" in schema["$defs"]["source"]["properties"]["type"]["enum"]


def test_a_broken_plugin_names_itself_and_breaks_nothing_else(
    cli_process, site: Path, blobs_spec: Path, tmp_path: Path
) -> None:
    install(
        site, "specops-broken", "specops_broken", "raise ImportError('needs libfancy')\n", "broken"
    )
    listed = cli_process("plugins", env=env_for(site))
    assert listed.code == 0
    assert "failed to load broken (specops-broken): ImportError: needs libfancy" in listed.out

    assert cli_process("run", blobs_spec, env=env_for(site)).code == 0

    wants_it = tmp_path / "fancy.yaml"
    wants_it.write_text(guide_block("yaml").replace("type: centroid", "type: fancy"))
    result = cli_process("validate", wants_it, env=env_for(site))
    assert result.code == 2
    assert "unknown model type 'fancy'" in result.err
    assert "plugins that failed to load: 'broken' (ImportError: needs libfancy)" in result.err


def test_two_plugins_claiming_one_type_are_named_and_neither_is_used(
    cli_process, site: Path, blobs_spec: Path
) -> None:
    clash = (
        "from framework import hookimpl\n\n"
        "@hookimpl\n"
        "def specops_register_models(register):\n"
        "    register('lightgbm', object)\n"
    )
    install(site, "specops-clash", "specops_clash", clash, "clash")
    result = cli_process("plugins", "--json", env=env_for(site))
    assert result.code == 0, result.err
    [conflict] = json.loads(result.out)["conflicts"]
    assert conflict.startswith(
        "model type 'lightgbm' is claimed by 2 plugins: 'lightgbm' (specops "
    )
    assert "'clash' (specops-clash 0.1.0), so neither is used" in conflict
    # specs that do not use the contested type are unaffected
    assert cli_process("validate", blobs_spec, env=env_for(site)).code == 0


def test_switches_limit_which_plugins_load(cli_process, site: Path) -> None:
    install(site, "specops-broken", "specops_broken", "raise ImportError('nope')\n", "broken")
    only_builtin = cli_process(
        "plugins", "--json", env=env_for(site, SPECOPS_DISABLE_PLUGIN_AUTOLOAD="1")
    )
    names = {p["name"] for p in json.loads(only_builtin.out)["plugins"]}
    assert "centroid" not in names and "lightgbm" in names
    assert json.loads(only_builtin.out)["broken"] == []

    allow = cli_process("plugins", "--json", env=env_for(site, SPECOPS_PLUGINS="centroid"))
    report = json.loads(allow.out)
    assert "centroid" in {p["name"] for p in report["plugins"]} and report["broken"] == []


LONG_NAMES = """
from framework import hookimpl


class Share:
    tasks = frozenset({"binary"})
    higher_is_better = True
    bounds = (0.0, 1.0)

    def compute(self, y_true, y_pred, y_score):
        return 1.0


@hookimpl
def specops_register_metrics(register):
    register("balanced_accuracy_of_the_positive_class", Share, None, summary="A long name")
"""


def test_tables_never_cut_a_type_or_distribution_name(cli_process, tmp_path: Path) -> None:
    """`specops plugins` on an 80-column terminal printed `balanced_accura…` and
    `(specops-contri…`: the one thing a user copies into a spec was cut."""
    site = tmp_path / "site"
    install(site, "specops-contrib-long-names", "long_names", LONG_NAMES, "long")
    listed = cli_process("plugins", env=env_for(site, COLUMNS="80"))
    assert listed.code == 0, listed.err
    assert "…" not in listed.out
    cells = "".join(line.split("│")[4].strip() for line in listed.out.splitlines() if "│" in line)
    assert "balanced_accuracy_of_the_positive_class" in cells  # folded, whole


TRACKER = """
from framework import hookimpl


@hookimpl
def specops_run_end(run):
    pass
"""


def test_a_tracker_is_listed_with_the_lifecycle_hooks_it_implements(
    cli_process, tmp_path: Path
) -> None:
    """A tracker has no components: `specops plugins` said only "(no components)", so
    nothing showed it would see every run."""
    site = tmp_path / "site"
    install(site, "specops-runlog", "runlog", TRACKER, "runlog")
    listed = cli_process("plugins", "--json", env=env_for(site))
    plugin = next(p for p in json.loads(listed.out)["plugins"] if p["name"] == "runlog")
    assert plugin["components"] == [] and plugin["lifecycle_hooks"] == ["specops_run_end"]
    table = cli_process("plugins", env=env_for(site)).out
    assert "lifecycle hooks: run_end" in " ".join(table.split())
