"""The MLflow server fixture itself: it answers, clients log to it, and it starts once."""

# ruff: noqa: F811  (the fixture imported from tests.team.mlflow_server is an argument)
from __future__ import annotations

from tests.team.mlflow_server import MlflowServer, mlflow_server  # noqa: F401


def test_the_server_takes_a_run_and_its_artifacts(mlflow_server: MlflowServer, tmp_path) -> None:
    client = mlflow_server.client()
    experiment = client.create_experiment("fixture-check")
    run = client.create_run(experiment).info.run_id
    client.log_param(run, "p", "1")
    note = tmp_path / "note.txt"
    note.write_text("hello")
    client.log_artifact(run, str(note))
    assert client.get_run(run).data.params == {"p": "1"}
    assert [a.path for a in client.list_artifacts(run)] == ["note.txt"]
    stored = list(mlflow_server.artifacts.rglob("note.txt"))  # served through the server
    assert len(stored) == 1 and stored[0].read_text() == "hello"
    print(f"mlflow server started in {mlflow_server.start_seconds:.1f} s")
