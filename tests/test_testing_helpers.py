"""framework.testing: the helpers a plugin's own tests use.

Each contract check passes on the components printed in docs/plugins.md and fails
on a component that breaks the contract, with a message that says what to fix.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from framework import CheckOutcome, DriftResult, UserError, hookimpl
from framework.testing import (
    SpecopsProject,
    check_check,
    check_deploy_target,
    check_drift_test,
    check_metric,
    check_model,
    check_registration,
    check_source,
    check_split,
    check_transform,
    context,
    table,
)
from tests.test_docs import example_modules_text, import_example, write_data


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The example plugin modules of docs/plugins.md, imported (not installed)."""
    folder = tmp_path_factory.mktemp("examples")
    code = example_modules_text()
    modules = {name: import_example(name, text, folder) for name, text in code.items()}
    yield SimpleNamespace(**modules)
    for name in code:
        sys.modules.pop(f"docs_example_{name}", None)


def plugin(**hooks: Any) -> ModuleType:
    """A plugin module made of the given hook functions."""
    module = ModuleType("broken_plugin")
    for name, function in hooks.items():
        setattr(module, name, function)
    return module


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------


def test_every_docs_example_registers_cleanly(docs: SimpleNamespace) -> None:
    for module in vars(docs).values():
        check_registration(module)
    assert check_registration(docs.knn_model) == {("model", "knn"): docs.knn_model.KnnModel}


class Knn:
    def __init__(self, n_neighbors: int = 3) -> None:
        self.n_neighbors = n_neighbors


def test_registration_lists_every_problem_at_once() -> None:
    @hookimpl
    def specops_register_models(register: Any) -> None:
        schema = {"type": "object", "properties": {"n_neighbors": {"default": 5}}}
        register("knn", Knn, schema)  # no summary, defaults disagree
        register("Bad-Name", Knn, {"type": "object", "properties": {"k": {"type": "strin"}}})

    with pytest.raises(AssertionError) as raised:
        check_registration(plugin(specops_register_models=specops_register_models), "knnplug")
    message = str(raised.value)
    assert "plugin 'knnplug' would be refused by specops" in message
    assert "a type name is lower case letters" in message
    assert "did you mean 'string'" in message
    assert "model type 'knn': no summary" in message
    assert "n_neighbors: the schema's default is 5 but the factory's is 3" in message


def test_registration_refuses_a_hook_without_hookimpl_and_a_plugin_with_no_hook() -> None:
    def specops_register_models(register: Any) -> None:
        register("knn", Knn, None, summary="k")

    with pytest.raises(AssertionError, match="without @hookimpl"):
        check_registration(plugin(specops_register_models=specops_register_models))
    with pytest.raises(AssertionError, match="implements no hook"):
        check_registration(plugin())


# ---------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_docs_model_keeps_its_predictions_after_save_and_load(
    docs: SimpleNamespace, task: str, tmp_path: Path
) -> None:
    model = check_model(docs.knn_model.KnnModel, task, {"n_neighbors": 7}, directory=tmp_path)
    assert model.n_neighbors == 7


class MeanModel:
    """Predicts the class whose mean of x1 is nearest (regression: a line on x1)."""

    tasks = frozenset({"binary", "multiclass", "regression"})
    native_categorical = False
    handles_missing = False

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift
        self.means: Any = None

    def fit(self, X: Any, y: Any, ctx: Any) -> None:
        import numpy as np

        x = X["x1"].to_numpy()
        self.means = np.array([x[y == k].mean() for k in range(int(y.max()) + 1)])

    def predict_proba(self, X: Any) -> Any:
        import numpy as np

        distance = np.abs(X["x1"].to_numpy()[:, None] + self.shift - self.means)
        weights = np.exp(-distance)
        return weights / weights.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> Any:
        return self.predict_proba(X).argmax(axis=1)

    def save(self, directory: Path) -> None:
        state = {"shift": self.shift, "means": self.means.tolist()}
        (directory / "means.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, directory: Path) -> Any:
        import numpy as np

        state = json.loads((directory / "means.json").read_text())
        model = cls(state["shift"])
        model.means = np.asarray(state["means"])
        return model


class ForgetsShift(MeanModel):
    def save(self, directory: Path) -> None:
        (directory / "means.json").write_text(json.dumps({"shift": 0.0, "means": [0.0, 9.0]}))


class Pickled(MeanModel):
    def save(self, directory: Path) -> None:
        (directory / "model.bin").write_bytes(pickle.dumps(self.means))


class Unseeded(MeanModel):
    def fit(self, X: Any, y: Any, ctx: Any) -> None:
        import numpy as np

        super().fit(X, y, ctx)
        self.means = self.means + np.random.default_rng().normal(size=len(self.means))


class OneColumnProba(MeanModel):
    def predict(self, X: Any) -> Any:
        return super().predict_proba(X).argmax(axis=1)

    def predict_proba(self, X: Any) -> Any:
        return super().predict_proba(X)[:, 1]


class LoadNotClassmethod(MeanModel):
    def load(self, directory: Path) -> Any:  # type: ignore[override]
        return self


@pytest.mark.parametrize(
    ("factory", "task", "message"),
    [
        (MeanModel, "regression", "predict returned shape"),  # argmax codes pass, proba unused
        (ForgetsShift, "binary", "predictions differ after save and load"),
        (Pickled, "binary", "save wrote model.bin, a pickle"),
        (Unseeded, "binary", "two fits on the same data with seed 0 predict differently"),
        (OneColumnProba, "binary", r"predict_proba returned shape \(240,\); expected \(240, 2\)"),
        (LoadNotClassmethod, "binary", "load must be a @classmethod"),
    ],
)
def test_model_contract_failures_say_what_to_fix(factory: Any, task: str, message: str) -> None:
    if factory is MeanModel:  # the good model passes where it is good
        check_model(MeanModel, "binary")
        check_model(MeanModel, "multiclass")
        factory = type("NoTasks", (MeanModel,), {"tasks": frozenset({"binary"})})
        message = "checked for task 'regression', but its tasks are binary"
    with pytest.raises(AssertionError, match=message):
        check_model(factory, task, {"shift": 0.25})


# ---------------------------------------------------------------------------
# source, check, split, transform
# ---------------------------------------------------------------------------


def test_source_contract(docs: SimpleNamespace, tmp_path: Path) -> None:
    write_data(tmp_path / "data" / "train.jsonl", 50, seed=1)
    ctx = replace(context(tmp_path), target="label")
    frame = check_source(docs.jsonl_source.JsonLinesSource("data/train.jsonl"), ctx)
    assert len(frame) == 50

    class Numbered:
        def load(self, ctx: Any) -> Any:
            import pandas as pd

            return pd.DataFrame({0: [1.0], "label": [1]})

    with pytest.raises(AssertionError, match=r"column names must be text .*found \[0\]"):
        check_source(Numbered(), ctx)
    with pytest.raises(AssertionError, match=r"validate found problems.*no file at"):
        check_source(docs.jsonl_source.JsonLinesSource("data/missing.jsonl"), ctx)
    with pytest.raises(AssertionError, match="the target column 'target' is not in the table"):
        check_source(docs.jsonl_source.JsonLinesSource("data/train.jsonl"), context(tmp_path))


def test_check_contract(docs: SimpleNamespace, tmp_path: Path) -> None:
    frame, ctx = table(), context(tmp_path)
    outcomes = check_check(docs.value_range_check.ValueRange("x1", low=-10, high=10), frame, ctx)
    assert outcomes[0].passed

    class Mutating:
        def run(self, frame: Any, ctx: Any) -> list[CheckOutcome]:
            frame["x1"] = frame["x1"].fillna(0) * 2
            return [CheckOutcome("mutating", True)]

    with pytest.raises(AssertionError, match="run changed the table it judged"):
        check_check(Mutating(), frame, ctx)


def test_split_contract(docs: SimpleNamespace, tmp_path: Path) -> None:
    train, test = check_split(docs.tail_split.TailSplit(0.25), table(rows=100), context(tmp_path))
    assert (len(train), len(test)) == (75, 25)

    class Overlapping:
        def split(self, frame: Any, ctx: Any) -> Any:
            import numpy as np

            return np.arange(60), np.arange(50, 100)

    class Unseeded:
        def split(self, frame: Any, ctx: Any) -> Any:
            import numpy as np

            order = np.random.default_rng().permutation(len(frame))
            return order[:80], order[80:]

    with pytest.raises(AssertionError, match="train and test share rows"):
        check_split(Overlapping(), table(rows=100), context(tmp_path))
    with pytest.raises(AssertionError, match="a second split with seed 0 gave other rows"):
        check_split(Unseeded(), table(rows=100), context(tmp_path))


def test_transform_contract(docs: SimpleNamespace) -> None:
    assert check_transform(docs.power_transform.PowerTransform(["x1", "x2"])) is not None

    class Prefitted:
        def build(self, frame: Any, ctx: Any) -> Any:
            from sklearn.preprocessing import StandardScaler

            return StandardScaler().fit(frame[["x1"]]), ["x1"]

    class Elsewhere:
        def build(self, frame: Any, ctx: Any) -> Any:
            from sklearn.preprocessing import StandardScaler

            return StandardScaler(), ["x9"]

    with pytest.raises(AssertionError, match="build returned a fitted transformer"):
        check_transform(Prefitted())
    with pytest.raises(AssertionError, match=r"build names columns not in the table: \['x9'\]"):
        check_transform(Elsewhere())


# ---------------------------------------------------------------------------
# metric, drift test
# ---------------------------------------------------------------------------


def test_metric_contract(docs: SimpleNamespace) -> None:
    assert check_metric(docs.fpr_metric.FalsePositiveRate()) == 0.0

    class Accuracy:
        tasks = frozenset({"binary", "multiclass"})
        higher_is_better = True
        bounds = (0.0, 1.0)

        def compute(self, y_true: Any, y_pred: Any, y_score: Any) -> float:
            return float((y_true == y_pred).mean())

    assert check_metric(Accuracy()) == 1.0
    backwards = type("Backwards", (Accuracy,), {"higher_is_better": False})
    with pytest.raises(
        AssertionError, match=r"perfect predictions score 1.0, not its best bound 0"
    ):
        check_metric(backwards())
    percent = type("Percent", (Accuracy,), {"compute": lambda self, t, p, s: 100.0})
    with pytest.raises(AssertionError, match=r"returned 100.0, outside its bounds \(0.0, 1.0\)"):
        check_metric(percent())
    with pytest.raises(AssertionError, match=r"bounds must be .lowest, highest."):
        check_metric(type("Upside", (Accuracy,), {"bounds": (1.0, 0.0)})())


def test_drift_test_contract(docs: SimpleNamespace) -> None:
    [same] = check_drift_test(docs.mean_shift_drift.MeanShift(limit=0.5))
    assert same.drifted is False and same.statistic < 0.5

    class Always:
        roles = frozenset({"numeric", "categorical"})

        def statistic(self, reference: Any, current: Any) -> DriftResult:
            return DriftResult(1.0, 0.5, True)

    class Contradicts:
        roles = frozenset({"categorical"})

        def statistic(self, reference: Any, current: Any) -> DriftResult:
            return DriftResult(0.9, 0.05, True, drift_if="<", measure="p_value")

    class Blind:
        roles = frozenset({"numeric"})

        def statistic(self, reference: Any, current: Any) -> DriftResult:
            return DriftResult(0.0, 0.5, False)

    with pytest.raises(AssertionError, match=r"\(categorical\): identical data drifted"):
        check_drift_test(Always())
    with pytest.raises(AssertionError, match=r"drifted=True but statistic 0.9 < threshold 0.05"):
        check_drift_test(Contradicts())
    with pytest.raises(AssertionError, match=r"a batch that moved far .mean .2 sd. is not drift"):
        check_drift_test(Blind())
    assert check_drift_test(Blind(), detects_shift=False)


# ---------------------------------------------------------------------------
# deploy target
# ---------------------------------------------------------------------------


def test_the_docs_deploy_target_writes_only_its_own_path(
    docs: SimpleNamespace, tmp_path: Path
) -> None:
    target = docs.manifest_deploy.ManifestTarget
    outcome = check_deploy_target(lambda path: target(path=path), tmp_path)
    assert "manifest written to" in outcome.summary


class Careless:
    """Writes a JSON file wherever it is pointed: no marker, no refusal."""

    def __init__(self, path: str, extra: bool = False, mark: bool = False) -> None:
        self.path, self.extra, self.mark = Path(path), extra, mark

    def deploy(self, release: Any, ctx: Any) -> Any:
        from framework import file_refusal, mark_file, protected_refusal

        if self.mark:
            refusal = protected_refusal(self.path, ctx) or file_refusal(self.path, ctx.run_id)
            if refusal:
                raise UserError(refusal)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"version": release.version}))
        if self.extra:
            (self.path.parent.parent / "latest.txt").write_text(str(release.version))
        if self.mark:
            mark_file(self.path, {"target": "careless", "run_id": ctx.run_id})
        return SimpleNamespace(summary="written") if self.extra == "wrong" else _outcome()


def _outcome() -> Any:
    from framework import DeployOutcome

    return DeployOutcome("written")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, r"the file it wrote has no \.deployed\.specops-deploy\.json beside it"),
        ({"extra": True, "mark": True}, r"also changed files elsewhere: .*latest\.txt"),
        ({"extra": "wrong"}, "deploy must return a framework.DeployOutcome"),
    ],
)
def test_deploy_contract_failures_say_what_to_fix(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        check_deploy_target(lambda path: Careless(path, **options), tmp_path)


def test_a_deploy_target_that_overwrites_a_users_file_is_caught(tmp_path: Path) -> None:
    class MarksButNeverRefuses(Careless):
        def __init__(self, path: str) -> None:
            super().__init__(path, mark=True)

        def deploy(self, release: Any, ctx: Any) -> Any:
            self.mark = False
            outcome = super().deploy(release, ctx)
            from framework import mark_file

            mark_file(self.path, {"target": "careless", "run_id": ctx.run_id})
            return outcome

    with pytest.raises(AssertionError, match=r"deployed over .*users, which holds a user's files"):
        check_deploy_target(MarksButNeverRefuses, tmp_path)


# ---------------------------------------------------------------------------
# a project: specs run in process against its own store
# ---------------------------------------------------------------------------

BLOBS = """
name: blobs
task: binary
data:
  source: {type: jsonl, params: {path: data/train.jsonl}}
  target: label
model: {type: knn, params: {n_neighbors: 9}}
gate:
  accuracy: {min: 0.7}
"""


def test_a_project_runs_a_spec_with_plugins_registered_in_process(
    docs: SimpleNamespace, tmp_path: Path
) -> None:
    project = SpecopsProject(tmp_path / "p", [docs.jsonl_source, docs.knn_model])
    write_data(project.directory / "data" / "train.jsonl", 300, seed=1)
    result = project.run(BLOBS)
    assert result.code == 0, result
    assert result.report["status"] == "passed" and result.report["model"]["version"] == 1
    assert (project.store / "store.db").is_file()

    listed = project.cli("models", "list", "--json")
    assert listed.code == 0, listed
    assert "blobs" in listed.out

    write_data(project.directory / "new.csv", 200, seed=2, shift=3.0)  # x1 moved
    # a data file named as `write` and the spec are: relative to the project, not the cwd
    monitored = project.monitor("spec.yaml", "new.csv")
    assert monitored.code == 1, monitored  # drift found
    drifted = {c["column"] for c in monitored.report["columns"] if c["drifted"]}
    assert "x1" in drifted and monitored.report["decision"] == "drift"

    bad = project.run(BLOBS.replace("n_neighbors: 9", "n_neighbors: 0"))
    assert bad.code == 2
    assert "model.params.n_neighbors" in bad.err and "Traceback" not in bad.err


def test_the_pytest_fixture_gives_a_fresh_project(specops_project: SpecopsProject) -> None:
    assert isinstance(specops_project, SpecopsProject)
    assert not specops_project.store.exists()
    unknown = specops_project.validate(BLOBS)
    assert unknown.code == 2
    assert "unknown source type 'jsonl'" in unknown.err  # nothing registered, nothing installed


# ---------------------------------------------------------------------------
# docs/plugin_testing.md: its whole test file runs as printed
# ---------------------------------------------------------------------------


def test_the_test_file_in_the_docs_passes_as_printed(tmp_path: Path) -> None:
    import os
    import re
    import subprocess

    from tests.conftest import REPO

    def python_blocks(page: str) -> list[str]:
        text = (REPO / "docs" / page).read_text(encoding="utf-8")
        return re.findall(r"```python\n(.*?)```", text, flags=re.S)

    (tmp_path / "specops_centroid.py").write_text(python_blocks("plugins.md")[0])
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_centroid.py").write_text(python_blocks("plugin_testing.md")[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECOPS_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout


# ---------------------------------------------------------------------------
# the checks are calibrated: specops' own components pass them
# ---------------------------------------------------------------------------


def builtin_types(kind: str) -> list[str]:
    """Built-in component types of ``kind`` that need no params."""
    from framework.plugins import get_plugins

    registry = get_plugins().registry
    return sorted(
        entry.type_name
        for entry in registry.entries.values()
        if entry.kind == kind
        and entry.plugin.builtin
        and not (entry.params_schema or {}).get("required")
    )


def built(kind: str, type_name: str, **params: Any) -> Any:
    from framework.plugins import get_plugins

    return get_plugins().build(kind, type_name, params)


def get_factory(kind: str, type_name: str) -> Any:
    from framework.plugins import get_plugins

    entry = get_plugins().registry.find(kind, type_name)
    assert entry is not None
    return entry.factory


@pytest.mark.parametrize("type_name", builtin_types("model"))
def test_every_builtin_model_keeps_the_model_contract(type_name: str) -> None:
    factory = get_factory("model", type_name)
    task = "binary" if "binary" in factory.tasks else "regression"
    check_model(lambda **params: built("model", type_name, **params), task)


def test_every_builtin_metric_drift_test_transform_and_splitter_keeps_its_contract(
    tmp_path: Path,
) -> None:
    metrics, drift = builtin_types("metric"), builtin_types("drift_test")
    assert {"accuracy", "roc_auc", "rmse", "r2"} <= set(metrics)
    assert {"ks", "psi", "chi_square"} <= set(drift)
    for type_name in metrics:
        check_metric(built("metric", type_name))
    for type_name in drift:
        check_drift_test(built("drift_test", type_name))
    for type_name in builtin_types("transform"):
        check_transform(built("transform", type_name))
    for type_name in builtin_types("split"):
        check_split(built("split", type_name), table(rows=200), context(tmp_path))


def test_the_builtin_directory_and_batch_targets_keep_the_deploy_contract(
    tmp_path: Path,
) -> None:
    outcome = check_deploy_target(
        lambda path: built("deploy", "directory", path=path), tmp_path / "directory"
    )
    assert outcome.location == str(tmp_path / "directory" / "out" / "deployed")

    batch = tmp_path / "batch" / "input.csv"
    batch.parent.mkdir()
    from sklearn.datasets import load_breast_cancer

    load_breast_cancer(as_frame=True).frame.drop(columns="target").head(20).to_csv(
        batch, index=False
    )
    outcome = check_deploy_target(
        lambda path: built("deploy", "batch", input=str(batch), output=path),
        tmp_path / "batch",
        name="predictions.csv",
    )
    assert "scored 20 rows" in outcome.summary


def test_builtin_sources_and_checks_keep_their_contracts(tmp_path: Path) -> None:
    source = built("source", "sklearn_dataset", name="breast_cancer")
    frame = check_source(source, context(tmp_path))
    assert len(frame) == 569
    for type_name, params in [
        ("row_count", {"min": 10}),
        ("max_null_fraction", {"max": 0.5}),
        ("range", {"column": "x1", "min": -100, "max": 100}),
        ("unique", {"columns": ["x1"]}),
    ]:
        assert check_check(built("check", type_name, **params), table(), context(tmp_path))
