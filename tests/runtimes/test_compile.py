"""Registration compiles, verifies and measures the runtimes a spec allows; loading
chooses among the verified ones. Real runs (small data, few trees) with runtimes
registered in process through the real hook (tests/runtimes/made_up.py)."""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from framework.package import ModelPackage
from framework.store import Store
from framework.testing import SpecopsProject
from tests.runtimes.made_up import LOAD_FAILS, Drifting, Echo, Fragile, MadeUp

SPEC = """
name: bc
task: binary
seed: 1
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
model: {type: lightgbm, params: {n_estimators: 8, num_leaves: 7}}
serve:
  runtime: RUNTIME
"""


def native_is_installed() -> bool:
    """Whether the native runtime's entry point is installed (else it is registered in
    process here, as the lead adds the entry point to pyproject)."""
    return any(
        ep.value == "plugins.runtimes.native" for ep in metadata.entry_points(group="specops")
    )


def other_runtime_plugins() -> list[str]:
    """The installed built-in runtime plugins but native (onnx, numpy, ...): these tests
    verify made-up runtimes only, so the verdicts they expect are exactly theirs."""
    return [
        ep.name
        for ep in metadata.entry_points(group="specops")
        if ep.value.startswith("plugins.runtimes.") and ep.value != "plugins.runtimes.native"
    ]


def make_project(tmp_path: Path, *runtimes: type) -> SpecopsProject:
    """A project whose runtimes are native and the made-up ones given."""
    plugins: list[tuple[str, object]] = [("made_up", MadeUp(*runtimes))]
    if not native_is_installed():
        import plugins.runtimes.native as native

        plugins.append(("native_runtime", native))
    project = SpecopsProject(tmp_path / "project", plugins)
    others = other_runtime_plugins()
    saved = os.environ.get("SPECOPS_DISABLE_PLUGINS")
    os.environ["SPECOPS_DISABLE_PLUGINS"] = ",".join(others) if others else ""
    try:
        assert project.plugins  # loaded once, here, with the other runtimes left out
    finally:
        if saved is None:
            os.environ.pop("SPECOPS_DISABLE_PLUGINS")
        else:
            os.environ["SPECOPS_DISABLE_PLUGINS"] = saved
    return project


def stored_model_json(project: SpecopsProject, version: int = 1) -> dict[str, Any]:
    store = Store.open_existing(project.store, write=False)
    try:
        found = store.version("bc", version)
        assert found is not None
        target = project.directory / f"model-{version}.json"
        store.artifacts.copy_out(found.files["model.json"], "model.json", target)
        return {"files": sorted(found.files), **json.loads(target.read_text())}
    finally:
        store.close()


def test_auto_keeps_the_runtime_that_agrees_and_refuses_the_one_that_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    project = make_project(tmp_path, Echo, Drifting)
    result = project.run(SPEC.replace("RUNTIME", "auto"))
    assert result.code == 0, result
    stored = stored_model_json(project)
    verdicts = stored["runtimes"]
    assert stored["serve_runtime"] == "auto"
    assert set(verdicts) == {"native", "echo", "drifting"}

    echo = verdicts["echo"]
    assert echo["verified"] is True and echo["max_proba_error"] == 0.0
    assert echo["single_row_us"] > 0 and echo["rows_per_second"] > 0
    assert echo["files"] == ["runtimes/echo/columns.json"]
    # test rows (the split's test side) plus probes: 30 columns missing, all missing, x3 rows
    assert echo["rows"] == verdicts["drifting"]["rows"] > 100

    drifting = verdicts["drifting"]
    assert drifting["verified"] is False
    assert drifting["why"].startswith("mismatch: ")
    assert "probe row: column 'mean radius' missing" in drifting["why"]
    assert "probability error 0.001 > 1e-09" in drifting["why"]
    assert drifting.get("files", []) == []
    # what the version holds: the verified runtime's file, nothing of the refused one
    assert "runtimes/echo/columns.json" in stored["files"]
    assert not any(name.startswith("runtimes/drifting") for name in stored["files"])

    shown = project.cli("models", "show", "bc/1", "--json")
    assert shown.code == 0, shown
    runtimes = shown.report["runtimes"]
    assert runtimes["requested"] == "auto"
    assert runtimes["verdicts"]["drifting"]["verified"] is False
    assert runtimes["serves"] in ("echo", "native")  # the faster of the two, measured
    assert runtimes["reasons"]["drifting"].startswith("not verified: mismatch: ")

    table = project.cli("models", "show", "bc/1")
    assert table.code == 0, table
    text = " ".join(table.out.split())
    assert "runtimes (serve.runtime: auto)" in text
    assert "mismatch: " in text and " µs " in text
    assert f"serves with {runtimes['serves']}, scores batches with" in text


def test_native_compiles_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    project = make_project(tmp_path, Echo)
    result = project.run(SPEC.replace("RUNTIME", "native"))
    assert result.code == 0, result
    stored = stored_model_json(project)
    assert stored["serve_runtime"] == "native"
    assert "runtimes" not in stored
    assert not any(name.startswith("runtimes/") for name in stored["files"])
    table = project.cli("models", "show", "bc/1")
    text = " ".join(table.out.split())
    assert "runtimes: none compiled (serve.runtime: native); serves and scores natively" in text


def test_a_runtime_that_fails_is_a_verdict_never_a_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECOPS_RUNTIME_SECONDS", "2")
    project = make_project(tmp_path)  # every made-up runtime
    result = project.run(SPEC.replace("RUNTIME", "auto"))
    assert result.code == 0, result
    verdicts = stored_model_json(project)["runtimes"]
    assert verdicts["raising"] == {
        "runtime": "raising",
        "verified": False,
        "why": "failed: ValueError: cannot translate node 7 of tree 3",
        "rows": 0,
        "files": [],
    }
    assert verdicts["hanging"]["why"] == "abandoned: took longer than 2 s"
    assert verdicts["absent"]["why"] == (
        "not available: gpulib is not installed: pip install gpulib"
    )
    assert verdicts["shipping_code"]["why"].startswith(
        "failed: RuntimeError: compile wrote trees.so: a stored runtime holds data only"
    )
    assert verdicts["echo"]["verified"] and verdicts["fragile"]["verified"]
    files = stored_model_json(project)["files"]
    assert sorted(f for f in files if f.startswith("runtimes/")) == [
        "runtimes/echo/columns.json",
        "runtimes/fragile/columns.json",
        "runtimes/unbuilt/columns.json",
    ]
    # the register step says how it went
    register = next(s for s in result.report["steps"] if s["name"] == "register")
    assert "runtimes: " in register["detail"] and "raising not verified" in register["detail"]


def test_choosing_loads_a_verified_runtime_from_the_store_and_falls_back_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from framework.runtimes.choose import choose_runtime
    from framework.runtimes.columns import raw_columns
    from framework.signature import conform

    project = make_project(tmp_path, Echo, Drifting, Fragile)
    assert project.run(SPEC.replace("RUNTIME", "auto")).code == 0
    plugins = project.plugins
    store = Store.open_existing(project.store, write=False)
    try:
        version = store.version("bc", 1)
        assert version is not None
        package = ModelPackage.from_store(store, version, plugins)
    finally:
        store.close()
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(50)
    native, _ = package.predict(frame)
    columns = raw_columns(conform(frame, package.signature)[0], package.signature)

    chosen = choose_runtime(package, plugins, "echo", purpose="batch")
    assert chosen.name == "echo"  # loaded from the files read out of the store
    got = chosen.scorer.predict(columns, 50)
    assert (got.codes == native.codes).all() and (got.proba == native.proba).all()
    assert chosen.reasons["drifting"].startswith("not verified: mismatch: ")
    assert chosen.reasons["fragile"] == "verified, but echo was asked for"

    asked = choose_runtime(package, plugins, "drifting")
    assert asked.name == "native"
    assert asked.reasons["drifting"].startswith("not verified: mismatch: ")

    monkeypatch.setenv(LOAD_FAILS, "1")
    fallen = choose_runtime(package, plugins, "fragile")
    assert fallen.name == "native"
    assert fallen.reasons["fragile"] == (
        "verified, but failed to load here: no C compiler here (cc not found)"
    )
    same = fallen.scorer.predict(columns, 50)
    assert (same.proba == native.proba).all()

    from framework.errors import UserError

    with pytest.raises(UserError, match="unknown runtime 'ecko'; did you mean 'echo'"):
        choose_runtime(package, plugins, "ecko")

    # the version's own serve.runtime names a runtime not installed here: native, and why
    package.metadata["serve_runtime"] = "gpu"
    package.metadata["runtimes"]["gpu"] = {"runtime": "gpu", "verified": True}
    elsewhere = choose_runtime(package, plugins)
    assert elsewhere.name == "native"
    assert elsewhere.reasons["gpu"] == "verified, but its plugin is not installed here"


def test_verification_covers_categories_unseen_and_missing(tmp_path: Path) -> None:
    """A table with categories (one-hot preprocessing): the probes set each category to a
    value training never saw; a runtime that gets unseen values wrong is refused."""
    from tests.runtimes.made_up import NativeThrough

    class UnseenAsFirst(Echo):
        """Scores an unseen category as the first known one (not as missing)."""

        name = "unseen_as_first"

        def load(self, package: Any, directory: Path) -> Any:
            inner = NativeThrough(package, package.signature.names)
            known = {
                c.name: c.categories for c in package.signature.columns if c.role == "categorical"
            }

            class Scorer:
                def predict(self, columns: Any, rows: int) -> Any:
                    fixed = dict(columns)
                    for name, categories in known.items():
                        values = fixed[name].copy()
                        for i, value in enumerate(values):
                            if value is not None and value not in categories:
                                values[i] = categories[0]
                        fixed[name] = values
                    return inner.predict(fixed, rows)

            return Scorer()

    project = make_project(tmp_path, Echo, UnseenAsFirst)
    data = project.directory / "data.csv"
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = 400
    plan = rng.choice(["basic", "plus", "pro"], rows)
    tenure = rng.integers(0, 60, rows).astype(float)
    tenure[rng.random(rows) < 0.1] = np.nan
    churned = ((plan == "basic") & (np.nan_to_num(tenure) < 20)) | (rng.random(rows) < 0.1)
    pd.DataFrame({"plan": plan, "tenure": tenure, "churned": churned.astype(int)}).to_csv(
        data, index=False
    )
    spec = """
    name: bc
    task: binary
    data:
      source: {type: csv, params: {path: data.csv}}
      target: churned
    preprocess:
      - {type: one_hot, params: {columns: [plan]}}
    model: {type: lightgbm, params: {n_estimators: 8, num_leaves: 7, min_child_samples: 5}}
    serve: {runtime: auto}
    """
    result = project.run(spec)
    assert result.code == 0, result
    verdicts = stored_model_json(project)["runtimes"]
    assert verdicts["echo"]["verified"] is True
    wrong = verdicts["unseen_as_first"]
    assert wrong["verified"] is False
    assert "column 'plan' = '__specops_unseen__', unseen" in wrong["why"]


@pytest.mark.parametrize(
    ("task", "dataset", "first_difference"),
    [
        ("regression", "diabetes", "values differ beyond 1e-09 (relative)"),
        ("multiclass", "iris", "probability error 0.001 > 1e-09"),
    ],
)
def test_regression_and_multiclass_are_verified_too(
    tmp_path: Path, task: str, dataset: str, first_difference: str
) -> None:
    project = make_project(tmp_path, Echo, Drifting)
    spec = (
        SPEC.replace("RUNTIME", "auto")
        .replace("task: binary", f"task: {task}")
        .replace("breast_cancer", dataset)
    )
    result = project.run(spec)
    assert result.code == 0, result
    verdicts = stored_model_json(project)["runtimes"]
    assert verdicts["echo"]["verified"] is True
    error = "max_value_error" if task == "regression" else "max_proba_error"
    assert verdicts["echo"][error] == 0.0
    assert verdicts["drifting"]["verified"] is False
    assert first_difference in verdicts["drifting"]["why"]
    assert "probe row: column " in verdicts["drifting"]["why"]


def test_auto_never_waits_for_a_build_and_a_measurement_note_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from framework.runtimes.choose import choose_runtime
    from tests.runtimes.made_up import BUILT, Unbuilt

    monkeypatch.setenv("COLUMNS", "250")
    project = make_project(tmp_path, Echo, Unbuilt)
    assert project.run(SPEC.replace("RUNTIME", "auto")).code == 0
    verdict = stored_model_json(project)["runtimes"]["unbuilt"]
    assert verdict["verified"] is True
    assert verdict["note"] == "timed with an interpreter at registration; the build is faster"
    shown = project.cli("models", "show", "bc/1")
    assert "timed with an interpreter" in " ".join(shown.out.split())

    store = Store.open_existing(project.store, write=False)
    try:
        version = store.version("bc", 1)
        assert version is not None
        package = ModelPackage.from_store(store, version, project.plugins)
    finally:
        store.close()
    speeds = package.metadata["runtimes"]  # unbuilt fastest, echo next, native slowest
    for name, single in (("unbuilt", 1.0), ("echo", 2.0), ("native", 1000.0)):
        speeds[name]["single_row_us"] = single
    waited = choose_runtime(package, project.plugins, "auto")
    assert waited.name == "echo"
    assert waited.reasons["unbuilt"] == (
        "verified, but not built here yet (auto never waits for a build): run "
        "`specops runtimes prepare` on the package, or ask for it (--runtime unbuilt)"
    )
    assert choose_runtime(package, project.plugins, "unbuilt").name == "unbuilt"
    monkeypatch.setenv(BUILT, "1")
    assert choose_runtime(package, project.plugins, "auto").name == "unbuilt"


def test_the_report_says_what_serves_until_and_once_a_runtime_is_built() -> None:
    from framework.runtimes.report import runtime_report

    verdicts = {
        "native": {"runtime": "native", "verified": True, "single_row_us": 900.0},
        "trees": {"runtime": "trees", "verified": True, "single_row_us": 10.0},
        "graph": {"runtime": "graph", "verified": True, "single_row_us": 40.0},
        "wrong": {"runtime": "wrong", "verified": False, "why": "mismatch: ..."},
    }
    metadata = {"serve_runtime": "auto", "runtimes": verdicts}
    report = runtime_report(metadata, ["native", "trees", "graph", "wrong"], ["trees"])
    assert report["serves"] == "graph" and report["once_built"]["serve"] == "trees"
    assert report["reasons"]["trees"].startswith("verified; serves once built on the machine")
    assert report["reasons"]["wrong"] == "not verified: mismatch: ..."
    built = runtime_report(metadata, ["native", "trees", "graph"], [])
    assert (built["serves"], built["once_built"]) == ("trees", {})
    assert built["reasons"]["graph"] == "verified, but trees is faster here (40 against 10 µs/row)"
    named = runtime_report({**metadata, "serve_runtime": "trees"}, None, ["trees"])
    assert named["serves"] == "trees"  # asked for by name: built on load


def test_a_runtime_answering_another_shape_where_it_serves_serves_natively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runtime verified at registration whose scorer answers probabilities of another
    shape where it serves: the server starts natively and says why (it used to die at
    start-up with an internal error, numpy broadcasting the two arrays)."""
    from framework.serving.model_holder import serve_package
    from tests.runtimes.made_up import WIDENS, Widening

    project = make_project(tmp_path, Widening)
    assert project.run(SPEC.replace("RUNTIME", "widening")).code == 0
    store = Store.open_existing(project.store, write=False)
    try:
        package = ModelPackage.from_store(store, store.version("bc", 1), project.plugins)
    finally:
        store.close()
    assert package.metadata["runtimes"]["widening"]["verified"]
    assert serve_package(package, "bc", 1, project.plugins).describe()["runtime"] == "widening"

    monkeypatch.setenv(WIDENS, "1")
    described = serve_package(package, "bc", 1, project.plugins).describe()
    assert described["runtime"] == "native"
    why = described["runtimes_not_used"]["widening"]
    assert "gives probabilities of shape (1, 4) where the native path gives (1, 2)" in why, why
