"""What a component returns is checked where the engine receives it: a broken promise
is a bug of the plugin that made it, named with its component and step (exit 3), and
nothing is registered or promoted.

Before, each of these ended in "internal error (a bug in specops or a plugin)" without
a name, blamed a built-in metric for a model's NaN probabilities, or exited 0: a
splitter whose test rows were also its training rows passed the gate on inflated
metrics, and a model that could not be loaded back (a function in its transform, a
`save` that wrote nothing) was promoted to champion, failing only in `predict` and
`serve`.
"""

from __future__ import annotations

import numpy as np
import pytest

from framework import CheckOutcome, DeployOutcome, DriftResult, hookimpl, load_skops, save_skops
from framework.testing import SpecopsProject

SPEC = """
name: contract
task: binary
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
  split: {type: c_split}
checks:
  - {type: c_check}
preprocess:
  - {type: c_transform}
model: {type: c_model}
gate:
  c_metric: {min: 0.1}
deploy:
  - {type: registry}
  - {type: c_deploy}
"""


class Plugin:
    """One misbehaving component per test; the others keep their contracts."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    @hookimpl
    def specops_register_splits(self, register) -> None:
        mode = self.mode

        class Split:
            def split(self, frame, ctx):
                rows = np.arange(len(frame))
                if mode == "split_overlap":
                    return rows, rows[-50:]
                if mode == "split_outside":
                    return rows[:-50], np.arange(len(frame), len(frame) + 5)
                if mode == "split_none":
                    return None
                return rows[:-100], rows[-100:]

        register("c_split", Split, None, summary="s")

    @hookimpl
    def specops_register_checks(self, register) -> None:
        mode = self.mode

        class Check:
            def run(self, frame, ctx):
                if mode == "check_dict":
                    return {"passed": True}
                return [CheckOutcome("c_check", "no" if mode == "check_text" else True)]

        register("c_check", Check, None, summary="s")

    @hookimpl
    def specops_register_transforms(self, register) -> None:
        mode = self.mode

        class Transform:
            def build(self, frame, ctx):
                from sklearn.preprocessing import FunctionTransformer, StandardScaler

                if mode == "transform_function":
                    return FunctionTransformer(np.abs), ["mean radius"]
                if mode == "transform_column":
                    return StandardScaler(), ["no such column"]
                return StandardScaler(), ["mean radius"]

        register("c_transform", Transform, None, summary="s")

    @hookimpl
    def specops_register_models(self, register) -> None:
        mode = self.mode

        class Model:
            tasks = frozenset({"binary"})
            native_categorical = False
            handles_missing = False

            def __init__(self) -> None:
                self.fitted = None

            def fit(self, X, y, ctx) -> None:
                from sklearn.linear_model import LogisticRegression

                self.fitted = LogisticRegression(max_iter=200).fit(X.to_numpy(), y)

            def predict(self, X):
                return self.predict_proba(X).argmax(axis=1)

            def predict_proba(self, X):
                proba = self.fitted.predict_proba(X.to_numpy())
                if mode == "model_nan":
                    proba[0] = np.nan
                if mode == "model_one_column":
                    return proba[:, :1]
                return proba

            def save(self, directory) -> None:
                if mode != "model_saves_nothing":
                    save_skops(self.fitted, directory / "m.skops")

            @classmethod
            def load(cls, directory):
                model = cls()
                model.fitted = load_skops(directory / "m.skops")
                if mode == "model_loses_state":
                    model.fitted.coef_ = model.fitted.coef_ * 0.5
                return model

        register("c_model", Model, None, summary="s")

    @hookimpl
    def specops_register_metrics(self, register) -> None:
        mode = self.mode

        class Metric:
            tasks = frozenset({"binary"})
            higher_is_better = True
            bounds = (0.0, 1.0)

            def compute(self, y_true, y_pred, y_score):
                return {"metric_outside": 7.0, "metric_text": "high"}.get(mode, 0.9)

        register("c_metric", Metric, None, summary="s")

    @hookimpl
    def specops_register_deploy_targets(self, register) -> None:
        mode = self.mode

        class Deploy:
            def deploy(self, release, ctx):
                if mode == "deploy_bad_alias":  # NAME@ALIAS could never name it
                    release.set_alias("Champion Of/The World", "x")
                return None if mode == "deploy_none" else DeployOutcome("done")

        register("c_deploy", Deploy, None, summary="s")


def run(tmp_path, mode: str):
    project = SpecopsProject(tmp_path / "project", [("contract", Plugin(mode))])
    return project, project.run(SPEC)


def test_a_plugin_keeping_its_contracts_runs(tmp_path) -> None:
    _, result = run(tmp_path, "none")
    assert result.code == 0, result


@pytest.mark.parametrize(
    ("mode", "component", "step", "message"),
    [
        ("split_overlap", "split 'c_split'", "split", "50 row(s) are in both train and test"),
        ("split_outside", "split 'c_split'", "split", "the test positions run from 569 to"),
        ("split_none", "split 'c_split'", "split", "not a (train, test) pair"),
        ("check_dict", "check 'c_check'", "check", "run returned dict, not a list"),
        ("check_text", "check 'c_check'", "check", "passed is str 'no', not True or False"),
        (
            "transform_column",
            "transform 'c_transform'",
            "transform",
            "columns that are not in the table at this point: no such column",
        ),
        (
            "transform_function",
            "transform 'c_transform'",
            "register",
            "cannot be loaded back: transform.skops contains types specops does not trust",
        ),
        ("model_nan", "model 'c_model'", "evaluate", "values that are not finite numbers"),
        ("model_one_column", "model 'c_model'", "evaluate", "predict_proba returned shape"),
        ("model_saves_nothing", "model 'c_model'", "register", "cannot be loaded back"),
        ("model_loses_state", "model 'c_model'", "register", "predictions differ after save"),
        ("metric_outside", "metric 'c_metric'", "evaluate", "outside its declared bounds"),
        ("metric_text", "metric 'c_metric'", "evaluate", "compute returned str 'high'"),
        ("deploy_none", "deploy 'c_deploy'", "deploy", "deploy returned NoneType"),
        ("deploy_bad_alias", "deploy 'c_deploy'", "deploy", "set_alias('Champion Of/The World')"),
    ],
)
def test_a_broken_contract_names_the_plugin_and_promotes_nothing(
    tmp_path, mode: str, component: str, step: str, message: str
) -> None:
    project, result = run(tmp_path, mode)
    assert result.code == 3, result
    assert f"error in plugin 'contract' ({component}, step {step}): " in result.err
    assert message in result.err and "internal error" not in result.err
    assert "Traceback" not in result.err and ".package-" not in result.err
    assert result.report["plugin_error"]["component"] == component
    models = project.cli("models", "list", "--json")
    aliases = [v.get("aliases") for m in models.report.get("models", []) for v in m["versions"]]
    assert not any(aliases), models.out  # no champion: nothing promoted


class DriftPlugin:
    def __init__(self, mode: str) -> None:
        self.mode = mode

    @hookimpl
    def specops_register_drift_tests(self, register) -> None:
        mode = self.mode

        class Drift:
            roles = frozenset({"numeric"})

            def statistic(self, reference, current):
                if mode == "drift_none":
                    return None
                if mode == "drift_side":
                    return DriftResult(0.1, 0.5, False, drift_if="~")
                return DriftResult(0.9, 0.5, mode != "drift_lies", drift_if=">=")

        register("c_drift", Drift, None, summary="s")


DRIFT_SPEC = """
name: drifting
task: binary
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
model: {type: logistic_regression}
monitor:
  columns: [mean radius]
  drift:
    numeric: {type: c_drift}
"""


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("drift_none", "statistic returned NoneType, not a DriftResult"),
        ("drift_lies", "drifted=False, but statistic 0.9 >= threshold 0.5 is True"),
        ("drift_side", "drift_if is '~'"),
    ],
)
def test_a_drift_result_that_breaks_its_contract_names_the_plugin(
    tmp_path, mode: str, message: str
) -> None:
    """A verdict of "ok" beside a statistic past its threshold was reported as is."""
    from sklearn.datasets import load_breast_cancer

    project = SpecopsProject(tmp_path / "project", [("contract", DriftPlugin(mode))])
    assert project.run(DRIFT_SPEC).code == 0
    project.write("new.csv", load_breast_cancer(as_frame=True).frame.to_csv(index=False))
    result = project.monitor(DRIFT_SPEC, "new.csv")
    assert result.code == 3, result
    expected = f"error in plugin 'contract' (drift_test 'c_drift'): column 'mean radius': {message}"
    assert expected in result.err and "Traceback" not in result.err


class SourcePlugin:
    def __init__(self, mode: str) -> None:
        self.mode = mode

    @hookimpl
    def specops_register_sources(self, register) -> None:
        mode = self.mode

        class Source:
            def load(self, ctx):
                import pandas as pd

                if mode == "source_none":
                    return None
                frame = pd.DataFrame({"a": [1.0, 2.0] * 20, "b": [0.5] * 40, "label": [0, 1] * 20})
                return frame.rename(columns={"b": "a"})  # two columns named 'a'

        register("c_source", Source, None, summary="s")


SOURCE_SPEC = """
name: sourced
task: binary
data:
  source: {type: c_source}
  target: label
model: {type: logistic_regression}
"""


@pytest.mark.parametrize("command", ["run", "plan"])
def test_a_source_returning_no_table_is_its_bug_and_duplicate_names_are_refused(
    tmp_path, command: str
) -> None:
    """None was "data error: ... not a table" (exit 2, the data blamed); two columns
    of one name failed later as "internal error: 'DataFrame' object has no attribute
    'dtype'" (exit 3, no one named)."""
    project = SpecopsProject(tmp_path / "none", [("contract", SourcePlugin("source_none"))])
    result = project.cli(command, project.write_spec(SOURCE_SPEC))
    assert result.code == 3, result
    assert (
        "error in plugin 'contract' (source 'c_source', step ingest): "
        "load returned NoneType, not a pandas DataFrame"
    ) in result.err
    project = SpecopsProject(tmp_path / "dup", [("contract", SourcePlugin("source_twice"))])
    result = project.cli(command, project.write_spec(SOURCE_SPEC))
    assert result.code == 2, result
    assert "source 'c_source' returned more than one column named 'a'" in result.err


class ValidatingPlugin:
    @hookimpl
    def specops_register_sources(self, register) -> None:
        class Source:
            def validate(self, ctx):
                return "the file is missing"  # a message, not a list of Finding

            def load(self, ctx):
                raise AssertionError("never loaded")

        register("c_source", Source, None, summary="s")


def test_a_validate_returning_no_findings_list_names_the_plugin(tmp_path) -> None:
    """It was "internal error: AttributeError: 'str' object has no attribute 'message'"."""
    project = SpecopsProject(tmp_path / "project", [("contract", ValidatingPlugin())])
    result = project.validate(SOURCE_SPEC)
    assert result.code == 3, result
    assert (
        "error in plugin 'contract' (source 'c_source'): validate returned str, not a list "
        "of Finding"
    ) in result.err


class ShapelessPlugin:
    """A metric whose direction is text, and a model without ``fit``."""

    @hookimpl
    def specops_register_metrics(self, register) -> None:
        class Metric:
            tasks = frozenset({"binary"})
            higher_is_better = "no"  # bool("no") is True: the gate would read it backwards
            bounds = (0.0, 1.0)

            def compute(self, y_true, y_pred, y_score):
                return 0.5

        register("c_metric", Metric, None, summary="s")

    @hookimpl
    def specops_register_models(self, register) -> None:
        class Lazy:
            tasks = frozenset({"binary"})
            native_categorical = False
            handles_missing = False

        register("c_model", Lazy, None, summary="s")


SHAPELESS_SPEC = """
name: shapeless
task: binary
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
model: {type: MODEL}
gate:
  METRIC: {min: 0.1}
"""


def test_a_metric_direction_that_is_not_a_bool_names_the_plugin(tmp_path) -> None:
    project = SpecopsProject(tmp_path / "project", [("contract", ShapelessPlugin())])
    spec = SHAPELESS_SPEC.replace("MODEL", "logistic_regression").replace("METRIC", "c_metric")
    result = project.validate(spec)
    assert result.code == 3, result
    assert (
        "error in plugin 'contract' (metric 'c_metric'): higher_is_better is 'no', "
        "not True or False"
    ) in result.err


def test_a_member_the_engine_needs_and_the_component_lacks_names_the_plugin(tmp_path) -> None:
    """It was "internal error (a bug in specops or a plugin): AttributeError: 'Lazy'
    object has no attribute 'fit'", no plugin named."""
    project = SpecopsProject(tmp_path / "project", [("contract", ShapelessPlugin())])
    result = project.run(SHAPELESS_SPEC.replace("MODEL", "c_model").replace("METRIC", "accuracy"))
    assert result.code == 3, result
    assert (
        "error in plugin 'contract' (model 'c_model', step train): Lazy has no 'fit', which "
        "a model must have"
    ) in result.err
