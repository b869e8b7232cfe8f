"""Plugin versions in lineage: a run records which distribution and version ran each
component; `runs show` lists them, `runs diff` shows an upgrade, and `reproduce` names
the plugin that changed when the results did.

Two real versions of a tiny third-party distribution (a module and its dist-info on
PYTHONPATH, as pip leaves them): 0.3.1, then an "upgrade" to 0.4.0 whose knn model
measures distance differently. Each command is its own process, so each sees the
version installed at that moment.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_param_defaults import KNN_SPEC, knn_code

DIST = "specops-contrib-demo"
MODULE = "specops_contrib_demo"
CHANGE = "model knn: specops-contrib-demo 0.3.1 then, 0.4.0 now"


def install(site: Path, version: str, p: int) -> None:
    """Install (or replace) the demo distribution at ``version``: its knn uses order ``p``."""
    site.mkdir(exist_ok=True)
    for old in site.glob(f"{MODULE}-*.dist-info"):
        shutil.rmtree(old)
    (site / f"{MODULE}.py").write_text(knn_code(schema_p=p, class_p=p))
    info = site / f"{MODULE}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[specops]\nknn = {MODULE}\n")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "spec.yaml").write_text(KNN_SPEC.lstrip())
    return tmp_path


def test_an_upgrade_shows_in_runs_show_diff_and_reproduce(cli_process, project: Path) -> None:
    site, store = project / "site", project / ".specops"
    env = {"PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}

    def specops(*args: str | Path):
        return cli_process(*args, env=env)

    install(site, "0.3.1", p=1)
    assert specops("run", project / "spec.yaml").code == 0
    (first,) = [
        r["run_id"]
        for r in json.loads(specops("runs", "list", "--store", store, "--json").out)["runs"]
    ]

    shown = json.loads(specops("runs", "show", first, "--store", store, "--json").out)
    plugins = {row["component"]: row for row in shown["plugins"]}
    assert plugins["model knn"] == {
        "component": "model knn",
        "kind": "model",
        "type": "knn",
        "plugin": "knn",
        "dist": DIST,
        "version": "0.3.1",
    }
    # every component that took part, built-ins included: source, split, the impute step
    # the engine adds for a model that cannot take missing values, metrics, deploy target
    assert {"source sklearn_dataset", "split stratified", "transform impute"} <= set(plugins)
    assert {"metric accuracy", "metric roc_auc", "deploy registry"} <= set(plugins)
    assert plugins["split stratified"]["dist"] == "specops"
    assert shown["lineage"]["packages"][DIST] == "0.3.1"
    version = json.loads(specops("models", "show", "demo/1", "--store", store, "--json").out)
    assert version["lineage"]["plugins"]["model knn"]["version"] == "0.3.1"  # model.json too
    table = specops("runs", "show", first, "--store", store).out
    assert "plugins" in table and "model knn" in table and f"{DIST}" in table and "0.3.1" in table

    install(site, "0.4.0", p=2)  # the upgrade: Euclidean distance instead of Manhattan
    reproduced = specops("reproduce", first, "--store", store)
    assert reproduced.code == 1, reproduced.err
    assert "DIFFERENT" in reproduced.out and "did not reproduce" in reproduced.out
    assert CHANGE in reproduced.out
    report = json.loads(specops("reproduce", first, "--store", store, "--json").out)
    assert report["matched"] is False and report["changed_since_run"] == [CHANGE]
    rows = {(c["kind"], c["item"]): c for c in report["comparisons"]}
    assert rows[("plugin", "model knn")]["original"] == f"{DIST} 0.3.1"
    assert rows[("plugin", "model knn")]["reproduced"] == f"{DIST} 0.4.0"
    assert rows[("plugin", "split stratified")]["match"] is True
    model_file = rows[("file", "model/knn.json")]
    assert model_file["match"] is False and CHANGE in model_file["note"]

    assert specops("run", project / "spec.yaml").code == 0
    second = json.loads(specops("runs", "list", "--store", store, "--json").out)["runs"][0][
        "run_id"
    ]
    diff = json.loads(specops("runs", "diff", first, second, "--store", store, "--json").out)
    changed = {(r["section"], r["key"]): (r["a"], r["b"]) for r in diff["rows"] if r["changed"]}
    assert changed[("plugins", "model knn")] == (f"{DIST} 0.3.1", f"{DIST} 0.4.0")
    assert changed[("packages", DIST)] == ("0.3.1", "0.4.0")
    assert ("plugins", "split stratified") not in changed
    diff_table = specops("runs", "diff", first, second, "--store", store, "--changed").out
    assert "plugins" in diff_table and "model knn" in diff_table

    # uninstalled: reproduce says which distribution and version the run needs
    shutil.rmtree(next(site.glob(f"{MODULE}-*.dist-info")))
    missing = specops("reproduce", first, "--store", store)
    assert missing.code == 2
    assert f"model knn ({DIST} 0.3.1)" in missing.err and "Traceback" not in missing.err


OLD_STORE = Path(__file__).parent / "fixtures" / "store_0ce3e2a" / "store"


def test_runs_made_before_plugins_were_recorded_still_show(cli, tmp_path: Path) -> None:
    store = tmp_path / ".specops"
    shutil.copytree(OLD_STORE, store)
    runs = json.loads(cli("runs", "list", "--store", store, "--json").out)["runs"]
    oldest, newest = runs[-1]["run_id"], runs[0]["run_id"]

    shown = cli("runs", "show", oldest, "--store", store, "--json")
    assert shown.code == 0 and json.loads(shown.out)["plugins"] is None
    table = cli("runs", "show", oldest, "--store", store)
    assert table.code == 0 and "plugins: not recorded" in table.out
    model = cli("models", "show", "churn/1", "--store", store)
    assert model.code == 0 and "plugins: not recorded" in model.out
    diff = json.loads(cli("runs", "diff", oldest, newest, "--store", store, "--json").out)
    assert not [r for r in diff["rows"] if r["section"] == "plugins"]


def test_a_model_whose_plugin_is_not_installed_names_the_plugin_to_install(
    cli_process, project: Path
) -> None:
    """predict and serve load a model on another machine; "unknown model type 'knn' (is
    the plugin installed?)" did not say which plugin, although the model records it."""
    site, store = project / "site", project / ".specops"
    env = {"PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}
    install(site, "0.3.1", p=1)
    assert cli_process("run", project / "spec.yaml", env=env).code == 0
    (project / "rows.csv").write_text("a\n1\n")
    shutil.rmtree(next(site.glob(f"{MODULE}-*.dist-info")))  # uninstalled
    scored = cli_process(
        "predict",
        "demo",
        "--store",
        store,
        "--input",
        project / "rows.csv",
        "--output",
        project / "out.csv",
        env=env,
    )
    assert scored.code == 2, scored.err
    assert (
        f"model demo/1 needs model type 'knn' from plugin 'knn' ({DIST} 0.3.1), "
        f"which is not installed here; install {DIST}==0.3.1"
    ) in scored.err
    assert ".load-" not in scored.err and "Traceback" not in scored.err
    assert not (project / "out.csv").exists()
