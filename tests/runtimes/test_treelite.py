"""The ``treelite`` runtime: LightGBM (categorical splits too), random forests and extra
trees compiled with specops' C generator and gcc, against the native predictions; the library cache
(built once, shared by concurrent loaders, usable without a compiler once built, never
trusted when others can write to it); and preparing a package for a container image."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from framework import EXACT, RuntimeUnavailable
from framework.runtimes.verify import build_rows, check_runtime
from plugins.runtimes import treelite_cache
from plugins.runtimes.treelite import TreeliteRuntime
from tests.runtimes.trees_packages import native_predictions, table, train, with_probes

pytestmark = pytest.mark.skipif(
    treelite_cache.compiler() is None, reason="no C compiler on this machine"
)

SMALL = {"n_estimators": 4, "max_depth": 5}
CASES = [
    ("binary", "lightgbm", {"n_estimators": 8}, (), {"rating": "categorical"}),
    (
        "multiclass",
        "lightgbm",
        {"n_estimators": 4},
        (("impute", {"strategy": "most_frequent", "add_indicator": True}),),
        None,
    ),
    ("regression", "lightgbm", {"n_estimators": 8}, (("ordinal", {}), ("scale", {})), None),
    ("binary", "random_forest", SMALL, (), None),
    (
        "multiclass",
        "extra_trees",
        SMALL,
        (("impute", {"strategy": "constant", "fill_value": "none"}), ("one_hot", {})),
        None,
    ),
    ("regression", "random_forest", SMALL, (("scale", {"method": "robust"}),), None),
    ("regression", "extra_trees", SMALL, (("impute", {"add_indicator": True}),), None),
]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, never the user's."""
    root = tmp_path / "cache"
    monkeypatch.setenv("SPECOPS_RUNTIME_CACHE", str(root))
    return root / "treelite"


def _plugins():
    """The installed plugins, with this runtime registered (in process until its entry
    point is installed)."""
    import plugins.runtimes.treelite as module
    from framework.plugins import get_plugins, load_plugins

    plugins = get_plugins()
    if "treelite" in plugins.registry.types("runtime"):
        return plugins
    return load_plugins(extra=[("treelite_runtime", module)])


def _ids(case: tuple) -> str:
    task, model, _, steps, declared = case
    extra = ["int-categories"] if declared else []
    return "-".join([task, model, *(step[0] for step in steps), *extra])


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_same_predictions_as_native(case: tuple, tmp_path: Path, cache: Path) -> None:
    task, model_type, params, steps, declared = case
    package, test = train(tmp_path, table(task=task), task, model_type, params, steps, declared)
    rows = build_rows(with_probes(test), package.signature)
    native = native_predictions(package, rows)

    # registration: the trees verified through Treelite's interpreter, nothing compiled
    verdict = check_runtime(TreeliteRuntime(), package, rows, native, tmp_path / "treelite")
    assert verdict.verified, verdict.why
    assert verdict.files == ("model.json", "transform.json", "trees.tl")  # data only
    assert not list(cache.glob("*/*/lib.so"))

    # where it serves: built into the cache (not the package), checked, then exact
    scorer = TreeliteRuntime().load(package, tmp_path / "treelite")
    assert scorer.compiled
    assert list(cache.glob("*/*/lib.so"))
    got = scorer.predict(rows.columns, rows.count)
    reference = native.proba if native.proba is not None else native.codes
    mine = got.proba if got.proba is not None else got.codes
    assert mine.shape == reference.shape
    assert np.abs(mine - reference).max() <= EXACT.proba
    if task != "regression":
        np.testing.assert_array_equal(got.codes, native.codes)
        assert got.labels == package.labels
    for index in range(0, rows.count, 11):  # one row at a time, as served
        one = {name: values[index : index + 1] for name, values in rows.columns.items()}
        single = scorer.predict(one, 1)
        value = single.proba if single.proba is not None else single.codes
        assert np.abs(value[0] - reference[index]).max() <= EXACT.proba, rows.describe(index)


def _compiled(tmp_path: Path, model_type: str = "lightgbm") -> tuple:
    params = {"n_estimators": 5} if model_type == "lightgbm" else SMALL
    package, test = train(tmp_path, table(160), "binary", model_type, params)
    target = tmp_path / "treelite"
    target.mkdir()
    TreeliteRuntime().compile(package, target)
    return package, test, target


def test_built_once_then_loaded_from_the_cache(tmp_path: Path, cache: Path) -> None:
    package, _, target = _compiled(tmp_path)
    TreeliteRuntime().load(package, target)
    (build,) = (library.parent for library in cache.glob("*/*/lib.so"))
    record = json.loads((build / "build.json").read_text())
    assert record["compiler"].startswith(treelite_cache.compiler())
    assert record["seconds"] > 0
    stamp = (build / "lib.so").stat().st_mtime_ns
    TreeliteRuntime().load(package, target)
    assert [p.parent for p in cache.glob("*/*/lib.so")] == [build]
    assert (build / "lib.so").stat().st_mtime_ns == stamp
    # a changed model (other trees) is another key, never the old library
    other, _, other_target = _compiled(tmp_path / "other", "random_forest")
    TreeliteRuntime().load(other, other_target)
    assert len(list(cache.glob("*/*/lib.so"))) == 2


def test_concurrent_loaders_build_once(tmp_path: Path, cache: Path) -> None:
    package, _, target = _compiled(tmp_path)
    scorers: list = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            scorers.append(TreeliteRuntime().load(package, target))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(scorers) == 3
    assert len(list(cache.glob("*/*/lib.so"))) == 1
    assert not list(cache.glob("*/.build-*"))  # no scratch left behind


def test_without_a_compiler(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No compiler: registration still verifies (the interpreter); a server cannot build
    the library and says why; a library built before (a container's builder stage) loads
    and predicts."""
    package, test, target = _compiled(tmp_path)
    (tmp_path / "again").mkdir()
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    treelite_cache.compiler.cache_clear()
    try:
        assert TreeliteRuntime().why_not(package) is None  # registration needs no compiler
        registering = TreeliteRuntime()
        registering.compile(package, tmp_path / "again")
        assert not registering.load(package, tmp_path / "again").compiled
        with pytest.raises(RuntimeUnavailable, match=r"no C compiler here .* runtimes prepare"):
            TreeliteRuntime().load(package, target)
        monkeypatch.undo()
        monkeypatch.setenv("SPECOPS_RUNTIME_CACHE", str(cache.parent))
        treelite_cache.compiler.cache_clear()
        TreeliteRuntime().load(package, target)  # built with the compiler
        monkeypatch.setenv("PATH", str(empty))
        treelite_cache.compiler.cache_clear()
        rows = build_rows(test, package.signature)
        scorer = TreeliteRuntime().load(package, target)
        assert scorer.compiled
        got = scorer.predict(rows.columns, rows.count)
        native = native_predictions(package, rows)
        assert np.abs(got.proba - native.proba).max() <= EXACT.proba
    finally:
        treelite_cache.compiler.cache_clear()


def test_a_cache_others_can_write_to_is_refused(tmp_path: Path, cache: Path) -> None:
    package, _, target = _compiled(tmp_path)
    cache.mkdir(parents=True)
    os.chmod(cache, 0o777)
    with pytest.raises(RuntimeUnavailable, match="writable by other users"):
        TreeliteRuntime().load(package, target)


def test_models_it_does_not_compile_say_why(tmp_path: Path) -> None:
    package, _ = train(tmp_path, table(120), "binary", "logistic_regression", {})
    assert (TreeliteRuntime().why_not(package) or "").startswith(
        "logistic_regression is not a tree model it compiles"
    )


def test_prepare_builds_what_a_served_image_loads(tmp_path: Path, cache: Path) -> None:
    """The container's builder stage (`specops runtimes prepare DIR`) on a package whose
    model.json says treelite was verified builds the library a compiler-less server loads."""
    from framework.runtimes.compile import compile_runtimes
    from framework.runtimes.prepare import prepare_package

    package, test = train(tmp_path, table(160), "binary", "lightgbm", {"n_estimators": 5})
    plugins = _plugins()
    verdicts = compile_runtimes(package.directory, plugins, test, requested="treelite")
    assert verdicts["treelite"].verified, verdicts["treelite"].why
    assert not list(cache.glob("*/*/lib.so"))  # registration compiled nothing
    (prepared,) = prepare_package(package.directory, plugins)
    assert prepared.ok, prepared
    [library] = cache.glob("*/*/lib.so")
    assert str(library) in prepared.note


def test_the_container_image_builds_the_trees_in_a_builder_stage(tmp_path: Path) -> None:
    """A version verified with treelite: the Dockerfile compiles in a builder stage (gcc,
    `specops runtimes prepare`) and the served stage copies the cache, without gcc;
    treelite is installed and pinned (not tl2cgen: the C is specops' own). The manifests
    stay valid."""
    import kubernetes_validate
    import yaml

    from framework.components import Release, StepContext
    from framework.runtimes.compile import compile_runtimes
    from plugins.container import ContainerTarget

    package, test = train(tmp_path, table(160), "binary", "lightgbm", {"n_estimators": 5})
    plugins = _plugins()
    assert compile_runtimes(package.directory, plugins, test, requested="treelite")[
        "treelite"
    ].verified
    release = Release(
        name="trees",
        version=3,
        task="binary",
        package_dir=package.directory,
        metrics={},
        set_alias=lambda alias, reason: None,
        load=lambda: package,
    )
    ctx = StepContext("trees", "binary", "target", tmp_path, 0)
    ContainerTarget(path="ctx").deploy(release, ctx)
    context = tmp_path / "ctx"
    dockerfile = (context / "Dockerfile").read_text()
    builder, served = dockerfile.split("\n\nFROM ", 1)
    assert builder.splitlines()[3].startswith("FROM python:3.11-slim AS compile-runtimes")
    assert "gcc" in builder and "RUN specops runtimes prepare /opt/model" in builder
    assert "SPECOPS_RUNTIME_CACHE=/opt/specops-runtime-cache" in builder
    assert "gcc" not in served
    assert (
        "COPY --from=compile-runtimes /opt/specops-runtime-cache /opt/specops-runtime-cache"
        in served
    )
    assert "SPECOPS_RUNTIME_CACHE=/opt/specops-runtime-cache" in served
    assert '[serve]" "treelite"' in served and '[serve]" "treelite"' in builder
    assert "tl2cgen" not in dockerfile
    pins = (context / "constraints.txt").read_text()
    assert "\ntreelite==" in pins and "tl2cgen" not in pins
    assert (context / "model" / "runtimes" / "treelite" / "trees.tl").is_file()
    assert not list((context / "model").rglob("*.so"))
    deployment = yaml.safe_load((context / "k8s" / "deployment.yaml").read_text())
    kubernetes_validate.validate(deployment, "1.30", strict=True)


def test_a_run_verifies_it_and_predict_uses_it(tmp_path: Path, cache: Path, cli) -> None:
    """Through `specops run` (impute + one-hot + random forest, serve.runtime: treelite):
    the version records a verified treelite verdict, and `specops predict --runtime
    treelite` scores as natively."""
    import pandas as pd

    from framework.plugins import get_plugins

    if "treelite" not in get_plugins().registry.types("runtime"):
        pytest.skip("the treelite entry point is not installed (pyproject)")
    table(400).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "spec.yaml").write_text(
        "name: trees-e2e\n"
        "task: binary\n"
        "data:\n"
        "  source: {type: csv, params: {path: data.csv}}\n"
        "  target: target\n"
        "preprocess:\n"
        "  - {type: impute, params: {strategy: most_frequent}}\n"
        "  - {type: one_hot}\n"
        "model: {type: random_forest, params: {n_estimators: 5, max_depth: 6}}\n"
        "serve: {runtime: treelite}\n"
    )
    done = cli("run", tmp_path / "spec.yaml")
    assert done.code == 0, done.err
    store = tmp_path / ".specops"
    shown = cli("models", "show", "trees-e2e/1", "--json", "--store", store)
    runtimes = json.loads(shown.out)["runtimes"]
    assert runtimes["serves"] == "treelite", runtimes
    verdict = runtimes["verdicts"]["treelite"]
    assert verdict["verified"] is True and verdict["max_proba_error"] <= EXACT.proba

    rows = table(60, seed=5).drop(columns=["target"])
    rows.loc[0, "city"] = "never-seen"
    rows.to_csv(tmp_path / "rows.csv", index=False)
    for runtime in ("treelite", "native"):
        out = tmp_path / f"{runtime}.csv"
        scored = cli(
            "predict", "trees-e2e@champion", "--input", tmp_path / "rows.csv", "--output", out,
            "--runtime", runtime, "--store", store,
        )  # fmt: skip
        assert scored.code == 0, scored.err
        assert f"({runtime} runtime)" in scored.out + scored.err
    assert pd.read_csv(tmp_path / "treelite.csv").equals(pd.read_csv(tmp_path / "native.csv"))


def test_a_module_in_the_working_directory_is_not_run_by_the_build(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build child is a Python process: a ``numpy.py`` or ``treelite.py`` where specops
    was started (a package folder may hold any file) must not run in it."""
    package, _, target = _compiled(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "ran"
    for name in ("numpy", "treelite", "plugins"):
        (work / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').write('{name}')\n")
    monkeypatch.chdir(work)
    assert TreeliteRuntime().load(package, target).compiled
    assert not marker.exists()


def test_a_cache_folder_others_can_write_to_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only the runtime's own folder: the folder SPECOPS_RUNTIME_CACHE names (and those
    above it) must not let another user swap what is inside."""
    package, _, target = _compiled(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("SPECOPS_RUNTIME_CACHE", str(shared / "cache"))
    with pytest.raises(RuntimeUnavailable, match="set SPECOPS_RUNTIME_CACHE to a directory"):
        TreeliteRuntime().load(package, target)
    assert not list(shared.rglob("lib.so"))


def test_trees_beyond_the_generators_bounds_are_refused_before_building(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugins.runtimes import trees_c

    package, _, target = _compiled(tmp_path)
    monkeypatch.setattr(trees_c, "MAX_NODES", 10)
    with pytest.raises(RuntimeUnavailable, match="its trees are not compiled: the trees have"):
        TreeliteRuntime().load(package, target)
    assert not list(cache.glob("*/*/lib.so"))
