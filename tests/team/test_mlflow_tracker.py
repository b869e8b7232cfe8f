"""The ``mlflow`` tracker against a real ``mlflow server``: real runs, real logging.

Until the engine builds the spec's ``tracking:`` section itself, these tests do what it
will do (``framework.trackers``: build each tracker, bind it to the store, register it
for the run) around a real :class:`Engine` run; the last test drives ``specops run``
with ``tracking:`` in the spec once the hook, the kind and the schema are wired in.
"""

# ruff: noqa: F811  (the fixture imported from tests.team.mlflow_server is an argument)
from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from framework.engine import Engine, RunResult
from framework.events import RunInfo
from framework.plugins import Plugins, load_plugins
from framework.spec import load_spec
from framework.spec.model import ComponentSpec
from framework.store import Store
from framework.trackers import build_trackers, tracker_name
from tests.conftest import SPECS
from tests.team.mlflow_server import MlflowServer, free_port, mlflow_server  # noqa: F401

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

SECRET = "s3cr3t-Zq8vTT-data"
"""A distinctive directory name the spec reads through ${env:CHURN_PATH}: it must never
reach MLflow (params, tags, artifacts, the logged model)."""
PASSWORD = "hunter2-Zq8vTT"


def tracker_plugins() -> Plugins:
    """The plugins, with the ``mlflow`` tracker registered (by its own registration
    hook, by hand until ``specops_register_trackers`` is a hook of the framework)."""
    from framework import __version__
    from framework.plugin_rules import recorder
    from framework.registry import PluginInfo
    from plugins import mlflow_tracker

    plugins = load_plugins()
    if plugins.registry.find("tracker", "mlflow") is None:
        found: list[Any] = []
        mlflow_tracker.specops_register_trackers(recorder(found, "tracker"))
        info = PluginInfo("mlflow_tracker", "specops", __version__, True, mlflow_tracker.__name__)
        plugins.registry.commit(info, found)
    return plugins


@contextmanager
def tracking(spec: Any, plugins: Plugins, entries: list[dict[str, Any]]) -> Iterator[list]:
    """What the engine does for ``tracking:``: each tracker built, bound to the store
    and registered for the run, unregistered after."""
    components = [
        ComponentSpec("tracker", e["type"], e.get("params", {}), f"tracking[{i}]")
        for i, e in enumerate(entries)
    ]
    store = Store(spec.store_path)
    trackers = build_trackers(components, plugins, store)
    for position, tracker in enumerate(trackers):
        plugins.register(tracker, name=tracker_name(position, components[position].type))
    try:
        yield trackers
    finally:
        for tracker in trackers:
            plugins.unregister(tracker)
        store.close()


def git(directory: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def churn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The churn example, small, its data in a folder whose name is a secret the spec
    reads from the environment, the spec in a git repository."""
    data = tmp_path / SECRET
    data.mkdir()
    (data / "churn.csv").write_bytes((SPECS / "data" / "churn.csv").read_bytes())
    monkeypatch.setenv("CHURN_PATH", str(data / "churn.csv"))
    text = (SPECS / "churn_csv.yaml").read_text()
    text = text.replace("n_estimators: 150", "n_estimators: 20")
    text = text.replace("path: data/churn ", 'path: "${env:CHURN_PATH}" ')
    project = tmp_path / "project"
    project.mkdir()
    (project / "spec.yaml").write_text(text)
    git(project, "init", "-q")
    git(project, "add", "spec.yaml")
    git(project, "commit", "-q", "-m", "spec")
    return project / "spec.yaml"


def run_tracked(
    spec_path: Path, entries: list[dict[str, Any]], overrides: tuple[str, ...] = ()
) -> RunResult:
    plugins = tracker_plugins()
    spec = load_spec(spec_path, plugins, overrides=list(overrides))
    with tracking(spec, plugins, entries):
        return Engine(spec, plugins).run()


def stored_run(spec: Path, run_id: str) -> Any:
    """The run as specops' own store recorded it."""
    store = Store.open_existing(spec.parent / ".specops", write=False)
    try:
        return store.run(run_id)
    finally:
        store.close()


def mlflow_run(server: MlflowServer, experiment: str, specops_run: str) -> Any:
    client = server.client()
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    runs = client.search_runs(
        [found.experiment_id], filter_string=f"tags.`specops.run_id` = '{specops_run}'"
    )
    assert len(runs) == 1
    return runs[0]


def everything_logged(server: MlflowServer, run: Any, into: Path) -> str:
    """Every param, tag, metric key and artifact byte of an MLflow run, as one text."""
    client = server.client()
    local = client.download_artifacts(run.info.run_id, "", str(into))
    files = [p for p in Path(local).rglob("*") if p.is_file()]
    texts = [json.dumps(run.data.params), json.dumps(run.data.tags), json.dumps(run.data.metrics)]
    texts += [p.read_bytes().decode("latin-1") for p in files]
    return "\n".join(texts)


def test_a_run_is_in_mlflow_with_its_lineage_gate_spec_and_model(
    mlflow_server: MlflowServer, churn: Path, tmp_path: Path
) -> None:
    entries = [{"type": "mlflow", "params": {"uri": mlflow_server.uri, "experiment": "churn-a"}}]
    result = run_tracked(churn, entries)
    assert result.run.status == "passed"
    assert not result.run.outputs.get("observer_errors")
    lineage = result.run.outputs["lineage"]
    logged = mlflow_run(mlflow_server, "churn-a", result.run.run_id)

    assert logged.info.status == "FINISHED"
    assert logged.info.run_name == f"churn {result.run.run_id}"
    params = logged.data.params
    assert params["model.params.n_estimators"] == "20"
    assert params["checks.0.type"] == "required_columns"
    assert params["data.split.params.test_size"] == "0.25"
    assert params["data.rows"] == "1200"
    assert params["data.source.params.path"] == "${env:CHURN_PATH}"
    metrics = logged.data.metrics
    for name, value in result.run.outputs["metrics"].items():
        assert metrics[name] == value  # the very numbers specops stored
    train = next(s for s in result.run.steps if s.name == "train")
    assert metrics["step_seconds.train"] == pytest.approx(train.seconds)
    tags = logged.data.tags
    assert tags["specops.spec_hash"] == lineage["spec_hash"]
    assert tags["specops.data_hash"] == lineage["data_hash"]
    assert tags["specops.git_commit"] == git(churn.parent, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.commit"] == tags["specops.git_commit"]
    assert tags["specops.version"] == lineage["packages"]["specops"]
    assert tags["specops.package.lightgbm"] == lineage["packages"]["lightgbm"]
    assert tags["specops.plugin.model lightgbm"].startswith("lightgbm (specops ")
    assert tags["specops.model"] == "churn/1"
    assert tags["specops.status"] == "passed"
    assert tags["specops.gate"] == "passed"
    assert tags["specops.gate.roc_auc"].startswith("passed: >= 0.65")

    client = mlflow_server.client()
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"specops", "model"} <= artifacts
    local = Path(client.download_artifacts(logged.info.run_id, "specops", str(tmp_path)))
    stored_spec = stored_run(churn, result.run.run_id).spec
    assert json.loads((local / "spec.json").read_text()) == stored_spec
    gate = json.loads((local / "gate.json").read_text())
    assert gate["passed"] is True
    assert gate["verdicts"] == result.run.outputs["verdicts"]

    # the logged model is the exported one: MLflow loads it, specops' package predicts
    import mlflow.pyfunc
    import pandas as pd

    model_dir = client.download_artifacts(logged.info.run_id, "model", str(tmp_path / "m"))
    rows = pd.read_csv(SPECS / "data" / "churn.csv").head(50)
    predicted = mlflow.pyfunc.load_model(model_dir).predict(rows)
    assert list(predicted.columns) == ["prediction", "proba_no", "proba_yes"]
    assert len(predicted) == 50

    assert SECRET not in everything_logged(mlflow_server, logged, tmp_path / "all")


def test_a_rejected_run_says_why_in_mlflow(mlflow_server: MlflowServer, churn: Path) -> None:
    entries = [{"type": "mlflow", "params": {"uri": mlflow_server.uri, "experiment": "churn-b"}}]
    result = run_tracked(churn, entries, overrides=("gate.roc_auc.min=0.9999",))
    assert result.run.status == "rejected"
    logged = mlflow_run(mlflow_server, "churn-b", result.run.run_id)
    tags = logged.data.tags
    assert logged.info.status == "FINISHED"
    assert tags["specops.status"] == "rejected"
    assert tags["specops.gate"] == "failed"
    assert tags["specops.gate.roc_auc"].startswith("failed: >= 0.9999")
    assert tags["specops.model_status"] == "rejected"


def test_a_run_stopped_by_its_checks_is_in_mlflow_without_a_model(
    mlflow_server: MlflowServer, churn: Path
) -> None:
    entries = [{"type": "mlflow", "params": {"uri": mlflow_server.uri, "experiment": "churn-d"}}]
    result = run_tracked(churn, entries, overrides=("checks[5].params.min=5000",))
    assert result.run.status == "failed_checks"
    logged = mlflow_run(mlflow_server, "churn-d", result.run.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.tags["specops.status"] == "failed_checks"
    assert "specops.model" not in logged.data.tags and "specops.gate" not in logged.data.tags
    artifacts = {a.path for a in mlflow_server.client().list_artifacts(logged.info.run_id)}
    assert artifacts == {"specops"}
    assert logged.data.metrics["step_seconds.check"] >= 0


def test_a_dead_server_costs_a_warning_never_the_run(
    mlflow_server: MlflowServer, churn: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two trackers in one process: the live server gets the run, the dead one costs
    one warning naming it (no password), and specops' store records everything."""
    import mlflow

    dead = f"http://bob:{PASSWORD}@127.0.0.1:{free_port()}"
    entries = [
        {"type": "mlflow", "params": {"uri": dead, "timeout_seconds": 2}},
        {"type": "mlflow", "params": {"uri": mlflow_server.uri, "experiment": "churn-c"}},
    ]
    global_uri = mlflow.get_tracking_uri()
    result = run_tracked(churn, entries)
    assert result.run.status == "passed"
    assert mlflow.get_tracking_uri() == global_uri  # never set globally
    mlflow_run(mlflow_server, "churn-c", result.run.run_id)

    err = capsys.readouterr().err
    assert "warning: tracker 'tracking[0] mlflow' failed in specops_run_end" in err, err
    assert "did not answer" in err and PASSWORD not in err
    stored = stored_run(churn, result.run.run_id)
    assert stored.status == "passed"
    failures = stored.outputs["observer_errors"]
    assert [f["plugin"] for f in failures] == ["tracking[0] mlflow"]
    assert PASSWORD not in json.dumps(failures)


def silent_server() -> tuple[socket.socket, str]:
    """A port that accepts connections and never answers (a hung server)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_server_that_never_answers_is_given_up_on_in_bounded_time() -> None:
    from plugins.mlflow_tracker import MlflowTracker

    listener, uri = silent_server()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # take connections, say nothing
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        tracker = MlflowTracker(uri=uri, timeout_seconds=1, max_retries=7)
        run = RunInfo("20261205-000000-abcdef", "bc", "spec.yaml", "binary", status="passed")
        started = time.perf_counter()
        with pytest.raises(ConnectionError, match="did not answer within 1 s"):
            tracker.specops_run_end(run)
        assert time.perf_counter() - started < 5
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_no_server_named_is_a_finding_at_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    from framework import StepContext
    from plugins.mlflow_tracker import MlflowTracker

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ctx = StepContext(spec_name="x", task="binary", target="y", base_dir=Path("."), seed=0)
    findings = MlflowTracker().validate(ctx)
    assert [f.key for f in findings] == ["uri"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert MlflowTracker().validate(ctx) == []


def test_specops_run_logs_the_spec_tracking_section(
    mlflow_server: MlflowServer, churn: Path, cli_process: Any
) -> None:
    text = churn.read_text() + (
        f"\ntracking:\n  - {{type: mlflow, params: {{uri: '{mlflow_server.uri}', "
        "experiment: churn-cli}}\n"
    )
    churn.write_text(text)
    import os

    done = cli_process("run", churn, "--json", env={"CHURN_PATH": os.environ["CHURN_PATH"]})
    assert done.code == 0, done.err
    run_id = json.loads(done.out)["run_id"]
    logged = mlflow_run(mlflow_server, "churn-cli", run_id)
    assert logged.data.tags["specops.model"] == "churn/1"


def _tables(database: Path) -> set[str]:
    import sqlite3

    with sqlite3.connect(database) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    return names


def test_a_tracking_uri_inside_the_store_is_refused_before_mlflow_touches_it(
    churn: Path, cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """red-team H11: MLflow creates and migrates its tables (``runs``, ``metrics``,
    ``params``: specops' names too) in whatever SQLite file a ``sqlite:`` URI names."""
    store = churn.parent / ".specops"
    uri = f"sqlite:///{store / 'store.db'}"
    tracked = churn.with_name("tracked.yaml")
    entry = "\ntracking:\n  - {type: mlflow, params: {uri: 'URI'}}\n"
    tracked.write_text(churn.read_text() + entry.replace("URI", uri))
    refused = cli("validate", tracked)
    assert refused.code == 2, refused.out + refused.err
    assert "inside specops' store" in refused.err and "tracking[0].params.uri" in refused.err
    assert not store.exists()
    tracked.write_text(churn.read_text() + entry.replace("URI", f"file://{store / 'mlruns'}"))
    assert cli("validate", tracked).code == 2  # MLflow's file store: folders, same rule

    # a store the spec's validation did not see (--store at run time, say) is checked by
    # the tracker itself before MLflow opens it: one warning, the run recorded as always
    result = run_tracked(churn, [{"type": "mlflow", "params": {"uri": uri}}])
    err = capsys.readouterr().err
    assert "warning: tracker 'tracking[0] mlflow' failed in specops_run_end" in err, err
    assert "inside specops' store" in err
    assert stored_run(churn, result.run.run_id).status == result.run.status == "passed"
    assert not {"alembic_version", "experiments"} & _tables(store / "store.db")
