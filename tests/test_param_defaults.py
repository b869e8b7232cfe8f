"""A params schema's ``default`` is applied, recorded with the run, and agrees with the code.

The issue: a schema said ``p`` defaults to 2, the class defaulted to 1, the model
trained with 1 and the recorded params left ``p`` out.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from string import Template

from framework.plugin_checks import check_defaults

KNN = Template('''
"""specops-contrib-demo: k nearest neighbours (a test plugin)."""

import json

from framework import hookimpl

PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "k": {"type": "integer", "minimum": 1, "default": 5},
        "p": {"type": "integer", "minimum": 1, "default": $schema_p},
    },
}


class KnnModel:
    """Votes of the k nearest training rows, by Minkowski distance of order p."""

    tasks = frozenset({"binary", "multiclass"})
    native_categorical = False
    handles_missing = False

    def __init__(self, k=5, p=$class_p):
        self.k, self.p = k, p
        self.x = self.y = None
        self.classes = 0

    def fit(self, X, y, ctx):
        import numpy as np

        self.x, self.y = X.to_numpy(dtype=float), np.asarray(y)
        self.classes = int(self.y.max()) + 1

    def predict_proba(self, X):
        import numpy as np

        rows = X.to_numpy(dtype=float)
        distance = (np.abs(rows[:, None, :] - self.x[None]) ** self.p).sum(axis=2)
        votes = self.y[np.argsort(distance, axis=1, kind="stable")[:, : self.k]]
        return np.stack([(votes == c).mean(axis=1) for c in range(self.classes)], axis=1)

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)

    def save(self, directory):
        state = {"k": self.k, "p": self.p, "classes": self.classes}
        state.update(x=self.x.tolist(), y=self.y.tolist())
        (directory / "knn.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, directory):
        import numpy as np

        state = json.loads((directory / "knn.json").read_text())
        model = cls(state["k"], state["p"])
        model.x, model.y = np.asarray(state["x"]), np.asarray(state["y"])
        model.classes = state["classes"]
        return model


@hookimpl
def specops_register_models(register):
    register("knn", KnnModel, PARAMS, summary="k nearest neighbours")
''')

KNN_SPEC = """
name: demo
task: binary
seed: 1
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
model: {type: knn}
gate:
  accuracy: {min: 0.5}
"""


def knn_code(schema_p: int, class_p: int) -> str:
    """The demo knn plugin's module source, with its schema's and its class's default p."""
    return KNN.substitute(schema_p=schema_p, class_p=class_p)


def knn_module(schema_p: int, class_p: int) -> types.ModuleType:
    module = types.ModuleType("specops_contrib_demo")
    exec(compile(knn_code(schema_p, class_p), "specops_contrib_demo.py", "exec"), module.__dict__)
    return module


def test_a_schema_default_is_what_the_component_gets_and_the_run_records(tmp_path: Path) -> None:
    from framework.engine import Engine
    from framework.plugins import load_plugins
    from framework.spec import load_spec
    from framework.store import Store

    plugins = load_plugins(extra=[("knn", knn_module(schema_p=2, class_p=1))])
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(KNN_SPEC.lstrip())
    result = Engine(load_spec(spec_file, plugins), plugins).run()
    assert result.exit_code == 0, result.run.outputs.get("error")

    store = Store.open_existing(tmp_path / ".specops")
    try:
        params = store.params(result.run.run_id)
        (version,) = store.versions_of_run(result.run.run_id)
        trained = json.loads(store.artifacts.path_of(version.files["model/knn.json"]).read_text())
    finally:
        store.close()
    assert (trained["p"], trained["k"]) == (2, 5)  # the schema's promise, not the class's 1
    assert params["model.params.p"] == 2 and params["model.params.k"] == 5
    # the built-ins the run used show their defaults too
    assert params["data.split.params.test_size"] == 0.2
    assert params["data.source.params.target_names"] is False


def test_plan_and_runs_show_list_every_effective_param(cli, bc_spec: Path) -> None:
    plan = cli("plan", bc_spec, "--json", "--no-data")
    assert plan.code == 0, plan.err
    train = next(s for s in json.loads(plan.out)["steps"] if s["step"] == "train")
    # written in the spec: as written; left out: the schema's default, and named as such
    assert train["params"]["n_estimators"] == 30 and train["params"]["num_leaves"] == 7
    assert train["params"]["learning_rate"] == 0.1 and train["params"]["deterministic"] is True
    assert "learning_rate" in train["defaults"] and "n_estimators" not in train["defaults"]

    assert cli("run", bc_spec).code == 0
    runs = json.loads(cli("runs", "list", "--store", bc_spec.parent / ".specops", "--json").out)
    run_id = runs["runs"][0]["run_id"]
    shown = cli("runs", "show", run_id, "--store", bc_spec.parent / ".specops", "--json")
    params = json.loads(shown.out)["params"]
    assert params["model.params.n_estimators"] == 30
    assert params["model.params.learning_rate"] == 0.1
    assert params["model.params.min_child_samples"] == 20
    assert params["data.split.params.test_size"] == 0.2
    text = cli("runs", "show", run_id, "--store", bc_spec.parent / ".specops")
    assert "model.params.learning_rate" in text.out


def test_every_builtin_component_agrees_with_its_schema() -> None:
    from framework.plugins import get_plugins

    registry = get_plugins().registry
    disagreements = {
        f"{kind} {name}": problems
        for (kind, name), entry in registry.entries.items()
        if entry.plugin.builtin and (problems := check_defaults(entry.factory, entry.params_schema))
    }
    assert disagreements == {}
    assert len([e for e in registry.entries.values() if e.plugin.builtin]) > 40


def test_check_defaults_names_each_disagreement() -> None:
    knn = knn_module(schema_p=2, class_p=1)
    assert check_defaults(knn.KnnModel, knn.PARAMS) == [
        "p: the schema's default is 2 but the factory's is 1; "
        "specops passes 2, a direct call gets 1"
    ]
    agreeing = knn_module(schema_p=2, class_p=2)
    assert check_defaults(agreeing.KnnModel, agreeing.PARAMS) == []

    class Undeclared:
        def __init__(self, rows: int = 500, noise: float | None = None, on: bool = True) -> None:
            pass

    schema = {
        "type": "object",
        "properties": {
            "rows": {"type": "integer"},  # the class says 500: a run could not record it
            "noise": {"type": "number", "default": 1.0},  # None in Python: "not given"
            "on": {"type": "boolean", "default": 1},  # 1 is not a boolean
        },
    }
    problems = check_defaults(Undeclared, schema)
    assert problems[0].startswith("on: the schema's default 1 is not a valid value")
    assert "rows: the factory defaults to 500 but the schema declares no default" in problems[1]
    assert "on: the schema's default is 1 but the factory's is True" in problems[2]
    assert len(problems) == 3


def test_an_explicit_value_wins_over_the_default(tmp_path: Path) -> None:
    from framework.plugins import load_plugins
    from framework.spec import load_spec

    plugins = load_plugins(extra=[("knn", knn_module(schema_p=2, class_p=1))])
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(KNN_SPEC.lstrip().replace("{type: knn}", "{type: knn, params: {p: 3}}"))
    spec = load_spec(spec_file, plugins)
    model = plugins.build("model", spec.model.type, spec.model.kwargs())
    assert (model.p, model.k) == (3, 5)
    assert spec.model.kwargs() == {"p": 3}  # the spec as written: its hash is unchanged
