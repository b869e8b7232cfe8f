"""A package's runtimes travel with it: the verified files and verdicts are stored,
exported with the package, loaded from an exported folder, prepared for an image, and
checked when a package is loaded (a hand-edited verdict or a shared library in
``runtimes/`` is refused by name, never loaded)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from framework.errors import StoreError
from framework.package import ModelPackage
from tests.runtimes.made_up import LOAD_FAILS, Drifting, Echo, Fragile
from tests.runtimes.test_compile import SPEC, make_project

EXPORTED = SPEC.replace("RUNTIME", "auto") + (
    "deploy:\n  - {type: directory, params: {path: exported}}\n"
)


@pytest.fixture
def exported(tmp_path: Path) -> tuple[object, Path]:
    project = make_project(tmp_path, Echo, Drifting, Fragile)
    result = project.run(EXPORTED)
    assert result.code == 0, result
    return project, project.directory / "exported"


def test_an_exported_package_carries_its_verified_runtimes(exported: tuple) -> None:
    from framework.runtimes.choose import choose_runtime

    project, folder = exported
    assert (folder / "runtimes" / "echo" / "columns.json").is_file()
    assert not (folder / "runtimes" / "drifting").exists()
    recorded = json.loads((folder / "model.json").read_text())["runtimes"]
    assert recorded["echo"]["verified"] and not recorded["drifting"]["verified"]
    package = ModelPackage(folder, project.plugins)  # release.json hashes cover runtimes/
    chosen = choose_runtime(package, project.plugins, "echo")
    assert chosen.name == "echo"


def test_prepare_builds_each_verified_runtime_and_fails_loudly(
    exported: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, folder = exported
    done = project.cli("runtimes", "prepare", folder)
    assert done.code == 0, done
    assert "echo: prepared: nothing to prepare" in done.out
    assert "fragile: prepared: 30 columns cached" in done.out
    assert "drifting" not in done.out  # not verified: nothing of it to prepare

    monkeypatch.setenv(LOAD_FAILS, "1")
    failed = project.cli("runtimes", "prepare", folder, "--json")
    assert failed.code == 1, failed
    assert {
        "runtime": "fragile",
        "ok": False,
        "note": ("RuntimeUnavailable: no C compiler here (cc not found)"),
    } in failed.report

    missing = project.cli("runtimes", "prepare", project.directory / "nowhere")
    assert missing.code == 2 and "is not a model package folder" in missing.err


def test_a_hand_edited_verdict_is_refused_by_name(exported: tuple, tmp_path: Path) -> None:
    project, folder = exported
    copy = tmp_path / "edited"
    shutil.copytree(folder, copy)
    (copy / "release.json").unlink()  # a bare package folder: its JSON is all we check
    metadata = json.loads((copy / "model.json").read_text())
    metadata["runtimes"]["echo"]["verified"] = "yes"
    (copy / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(
        StoreError, match=r"model.json: runtimes.'echo' must be an object with a boolean 'verif"
    ):
        ModelPackage(copy, project.plugins)

    metadata["runtimes"]["echo"] = {"verified": True, "single_row_us": "fast"}
    (copy / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(StoreError, match=r"runtimes.'echo'.single_row_us is 'fast'; wrong type"):
        ModelPackage(copy, project.plugins)


def test_code_in_a_runtime_folder_is_never_loaded(exported: tuple, tmp_path: Path) -> None:
    project, folder = exported
    copy = tmp_path / "with-code"
    shutil.copytree(folder, copy)
    (copy / "release.json").unlink()
    (copy / "runtimes" / "echo" / "trees.so").write_bytes(b"\x7fELF")
    with pytest.raises(
        StoreError, match=r"runtimes/echo/trees.so: a runtime's stored file may not be"
    ):
        ModelPackage(copy, project.plugins)


def test_a_version_from_before_runtimes_serves_natively(tmp_path: Path) -> None:
    from framework.plugins import get_plugins
    from framework.runtimes.choose import choose_runtime
    from framework.store import Store

    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "store_0ce3e2a" / "store"
    store_dir = tmp_path / "old" / ".specops"
    shutil.copytree(fixture, store_dir)
    store = Store.open_existing(store_dir, write=False)
    try:
        version = store.version("churn", 1)
        assert version is not None
        package = ModelPackage.from_store(store, version, get_plugins())
    finally:
        store.close()
    chosen = choose_runtime(package, get_plugins())
    assert (chosen.name, chosen.reasons) == ("native", {})


def test_models_show_says_an_old_version_predates_runtimes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from framework.cli.main import main

    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "store_0ce3e2a" / "store"
    store_dir = tmp_path / "old" / ".specops"
    shutil.copytree(fixture, store_dir)
    monkeypatch.setenv("COLUMNS", "250")
    capsys.readouterr()
    assert main(["models", "show", "churn/1", "--store", str(store_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["runtimes"]
    assert report["recorded"] is False and report["verdicts"] == {}
    assert (report["serves"], report["scores"]) == ("native", "native")
    assert main(["models", "show", "churn/1", "--store", str(store_dir)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "runtimes: none compiled (registered before runtimes existed); serves and scores "
        "natively" in text
    )


LAZY_SCRIPT = """
import sys
from pathlib import Path
from framework.plugins import load_plugins
from framework.package import ModelPackage
from framework.runtimes.choose import choose_runtime
from framework.store import Store
from tests.runtimes.made_up import Echo, MadeUp

plugins = load_plugins(extra=[("made_up", MadeUp(Echo))])
store = Store.open_existing(Path(sys.argv[1]), write=False)
package = ModelPackage.from_store(store, store.version("bc", 1), plugins, lazy=True)
chosen = choose_runtime(package, plugins, "echo")
heavy = sorted(m for m in ("sklearn", "lightgbm") if m in sys.modules)
print(chosen.name, heavy or "none")
import pandas as pd
row = {name: [1.0] for name in package.signature.names}
print(round(float(package.predict(pd.DataFrame(row))[0].proba[0, 1]), 6), "lightgbm" in sys.modules)
"""


def test_a_lazy_package_loads_its_model_only_when_the_native_path_predicts(
    exported: tuple,
) -> None:
    """A compiled runtime that scores without the model never pays for importing
    LightGBM or scikit-learn (the 1M-row predict target); the native path still works."""
    import subprocess
    import sys

    project, _ = exported
    repo = Path(__file__).resolve().parent.parent.parent
    done = subprocess.run(
        [sys.executable, "-c", LAZY_SCRIPT, str(project.store)],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=120,
        env={**os.environ, "SPECOPS_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert done.returncode == 0, done.stderr
    chosen, predicted = done.stdout.splitlines()
    assert chosen == "echo none"
    assert predicted.endswith(" True")


def test_a_lazy_package_pickles_loaded(exported: tuple) -> None:
    """A Dask executor ships packages to its workers: a lazy one arrives built."""
    import pickle

    import pandas as pd

    from framework.store import Store

    project, _ = exported
    store = Store.open_existing(project.store, write=False)
    try:
        version = store.version("bc", 1)
        assert version is not None
        lazy = ModelPackage.from_store(store, version, project.plugins, lazy=True)
        eager = ModelPackage.from_store(store, version, project.plugins)
    finally:
        store.close()
    shipped = pickle.loads(pickle.dumps(lazy))
    row = pd.DataFrame({name: [1.0] for name in eager.signature.names})
    assert (shipped.predict(row)[0].proba == eager.predict(row)[0].proba).all()
    assert type(shipped.model) is type(eager.model)
