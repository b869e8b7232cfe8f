"""Every registry and run command against a shared store: PostgreSQL + S3 (moto).

Two working directories stand for two machines. Machine A runs the spec with
``SPECOPS_STORE=postgresql://specops:PASSWORD@.../db SPECOPS_ARTIFACTS=s3://...`` and
its registry commands with ``--store postgresql://specops:PASSWORD@...``; machine B
has no spec and no local store: only ``SPECOPS_STORE`` (the URL without its
password), ``PGPASSWORD`` and the standard ``AWS_*`` variables, as a colleague's
laptop or a CI job would. B sees what A made (versions, aliases, runs), moves the
champion A then sees, reproduces A's run and predicts exactly what A predicts.

Every line any command printed, and every row of the database (``pg_dump``), is
searched for the password afterwards: it is never shown and never stored.
"""

# ruff: noqa: F811  (the fixtures imported from tests.team.* are arguments)
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import breast_cancer_spec
from tests.team.postgres_server import (  # noqa: F401 (fixtures)
    PASSWORD,
    PostgresCluster,
    postgres_server,
)
from tests.team.s3_server import S3Prefix, S3Server, s3_server  # noqa: F401 (fixtures)

pytest.importorskip("psycopg", reason="the postgres extra is not installed")
pytest.importorskip("boto3", reason="the s3 extra is not installed")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@dataclass
class Team:
    """One shared store and two machines' working directories."""

    cluster: PostgresCluster
    database: str
    artifacts: S3Prefix
    machine_a: Path
    machine_b: Path
    printed: list[str] = field(default_factory=list)
    """Everything every command printed (stdout and stderr), for the secrets check."""

    @property
    def url(self) -> str:
        return self.cluster.url(self.database)

    @property
    def url_without_password(self) -> str:
        return self.cluster.url(self.database, password=None)

    def env(self, **extra: str) -> dict[str, str]:
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SPECOPS_", "AWS_", "PG"))
        }
        return {**base, **self.artifacts.server.env, "NO_COLOR": "1", "COLUMNS": "200", **extra}

    def specops(self, *args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "framework.cli.main", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env if env is not None else self.env(),
            timeout=300,
        )
        self.printed += [done.stdout, done.stderr]
        return Result(done.returncode, done.stdout, done.stderr)

    def on_a(self, *args: str | Path) -> Result:
        """A command on machine A, the store named on the command line, password in it
        (``run`` takes it from ``SPECOPS_STORE``: the spec's command has no --store)."""
        if args[0] == "run":
            env = self.env(SPECOPS_STORE=self.url, SPECOPS_ARTIFACTS=self.artifacts.url)
            return self.specops(*args, cwd=self.machine_a, env=env)
        return self.specops(*args, "--store", self.url, cwd=self.machine_a)

    def on_b(self, *args: str | Path) -> Result:
        """A command on machine B: only the environment says where the store is."""
        env = self.env(SPECOPS_STORE=self.url_without_password, PGPASSWORD=PASSWORD)
        return self.specops(*args, cwd=self.machine_b, env=env)


@pytest.fixture(scope="module")
def team(
    postgres_server: PostgresCluster, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Team]:
    """Two runs made on machine A: bc/1 (champion) and bc/2."""
    home = tmp_path_factory.mktemp("team")
    database = postgres_server.create_database()
    team = Team(
        postgres_server,
        database,
        S3Prefix(s3_server, f"t-{uuid.uuid4().hex[:12]}"),
        home / "machine-a",
        home / "machine-b",
    )
    team.machine_a.mkdir()
    team.machine_b.mkdir()
    (team.machine_a / "spec.yaml").write_text(breast_cancer_spec(n_estimators=10).lstrip())
    first = team.on_a("run", "spec.yaml", "--json")
    assert first.code == 0, first.err
    second = team.on_a("run", "spec.yaml", "--set", "model.params.n_estimators=12", "--json")
    assert second.code in (0, 1), second.err  # the gate may keep the champion
    team.runs = [first.json()["run_id"], second.json()["run_id"]]  # type: ignore[attr-defined]
    yield team
    postgres_server.drop_database(database)


def test_the_other_machine_sees_the_same_versions_and_aliases(team: Team) -> None:
    mine, theirs = team.on_a("models", "list", "--json"), team.on_b("models", "list", "--json")
    assert mine.code == 0 and theirs.code == 0, mine.err + theirs.err
    assert mine.json()["models"] == theirs.json()["models"]
    (model,) = theirs.json()["models"]
    assert model["name"] == "bc"
    assert [v["version"] for v in model["versions"]] == [1, 2]
    assert model["aliases"]["champion"] in (1, 2)
    shown = team.on_b("models", "show", "bc/1", "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["run_id"] == team.runs[0]
    assert theirs.json()["store"] == team.url_without_password


def test_a_promote_on_one_machine_is_the_champion_on_the_other(team: Team) -> None:
    before = team.on_a("models", "show", "bc", "--json").json()["version"]
    other = 1 if before == 2 else 2
    listed = team.on_b("models", "list", "--json").json()["models"][0]["versions"]
    if next(v for v in listed if v["version"] == other)["status"] != "registered":
        pytest.skip("bc/2 was rejected by the gate on this machine: nothing to promote")
    promoted = team.on_b("models", "promote", f"bc/{other}", "--reason", "from B")
    assert promoted.code == 0, promoted.err
    assert team.on_a("models", "show", "bc", "--json").json()["version"] == other
    rolled = team.on_a("models", "rollback", "bc", "--reason", "back from A")
    assert rolled.code == 0, rolled.err
    assert team.on_b("models", "show", "bc", "--json").json()["version"] == before
    history = team.on_b("models", "show", "bc", "--json").json()["alias_history"]
    reasons = [move["reason"] for move in history]
    assert any(r.endswith("from B") for r in reasons)
    assert any(r.endswith("back from A") for r in reasons)


def test_runs_list_show_and_diff_from_the_other_machine(team: Team) -> None:
    listed = team.on_b("runs", "list", "--json")
    assert listed.code == 0, listed.err
    runs = listed.json()["runs"] if isinstance(listed.json(), dict) else listed.json()
    ids = [run["id"] if "id" in run else run["run_id"] for run in runs]
    assert sorted(ids) == sorted(team.runs)
    assert {run["status"] for run in runs} <= {"passed", "rejected"}
    shown = team.on_b("runs", "show", team.runs[0], "--json")
    assert shown.code == 0, shown.err
    text = team.on_b("runs", "show", team.runs[0])
    assert text.code == 0 and team.runs[0] in text.out
    diff = team.on_b("runs", "diff", team.runs[0], team.runs[1])
    assert diff.code == 0, diff.err
    assert "n_estimators" in diff.out


def test_reproduce_on_the_other_machine(team: Team) -> None:
    done = team.on_b("reproduce", team.runs[0], "--json")
    assert done.code == 0, done.out + done.err


def test_predict_on_the_other_machine_predicts_what_this_one_does(team: Team) -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(25)
    for machine in (team.machine_a, team.machine_b):
        frame.to_csv(machine / "batch.csv", index=False)
    here = team.on_a("predict", "bc@champion", "--input", "batch.csv", "--output", "out.csv")
    there = team.on_b("predict", "bc@champion", "--input", "batch.csv", "--output", "out.csv")
    assert here.code == 0 and there.code == 0, here.err + there.err
    mine = (team.machine_a / "out.csv").read_text()
    assert mine == (team.machine_b / "out.csv").read_text()
    assert len(mine.splitlines()) == 26


def test_store_verify_passes_from_the_other_machine(team: Team) -> None:
    done = team.on_b("store", "verify", "--full")
    assert done.code == 0, done.out + done.err


def test_the_password_is_never_printed_nor_stored(team: Team, tmp_path: Path) -> None:
    # a spec naming the store through ${env:...}: the stored spec keeps the placeholder
    spec = team.machine_a / "env_spec.yaml"
    spec.write_text(
        breast_cancer_spec(n_estimators=10).lstrip()
        + textwrap.dedent(
            """
            store:
              url: "${env:TEAM_STORE_URL}"
            """
        )
    )
    env = team.env(TEAM_STORE_URL=team.url)
    run = team.specops("run", spec, "--json", cwd=team.machine_a, env=env)
    assert run.code in (0, 1), run.err
    run_id = run.json()["run_id"]
    shown = team.on_b("runs", "show", run_id, "--json")
    assert shown.code == 0, shown.err
    for command in (
        ("models", "list"),
        ("models", "show", "bc"),
        ("runs", "list"),
        ("runs", "show", run_id),
        ("store", "verify"),
    ):
        for flag in ((), ("--json",)):
            done = team.on_a(*command, *flag)
            assert done.code == 0, done.err
    printed = "\n".join(team.printed)
    assert team.url_without_password in printed  # where it is is shown ...
    assert PASSWORD not in printed  # ... and never the password
    dump = team.cluster.dump(team.database)
    assert "alias_history" in dump and "model_versions" in dump
    assert '"store": {"url": "${env:TEAM_STORE_URL}"}' in dump  # the run's stored spec
    assert PASSWORD not in dump


def test_wrong_credentials_and_no_server_are_one_clear_line(team: Team) -> None:
    wrong = team.cluster.url(team.database, password="not-" + PASSWORD)
    for url, expected in (
        (wrong, "authentication failed"),
        (team.cluster.url("no_such_database"), "does not exist"),
        (f"postgresql://specops:{PASSWORD}@127.0.0.1:1/x", "connection refused"),
    ):
        done = team.specops("models", "list", "--store", url, cwd=team.machine_b)
        assert done.code == 2, done.out + done.err
        assert expected in done.err and "127.0.0.1" in done.err
        assert "Traceback" not in done.err
        assert PASSWORD not in done.err + done.out


def test_a_read_only_role_reads_and_a_write_is_refused_cleanly(team: Team) -> None:
    """A role with SELECT only (a dashboard's, an auditor's), and a read-only session
    asked for in the URL: reading commands work, a promote is exit 2 with nothing moved."""
    from tests.team.postgres_server import READER, READER_PASSWORD

    reader = team.cluster.url(team.database, user=READER, password=READER_PASSWORD)
    read_only = team.url + "?options=-c%20default_transaction_read_only%3Don"
    shown = team.on_b("models", "show", "bc", "--json").json()
    before = shown["alias_history"]
    other = 1 if shown["version"] == 2 else 2  # a promote that would move it
    versions = team.on_b("models", "list", "--json").json()["models"][0]["versions"]
    if next(v for v in versions if v["version"] == other)["status"] != "registered":
        pytest.skip(f"bc/{other} was rejected by the gate on this machine: nothing to promote")
    for url in (reader, read_only):
        listed = team.specops("models", "list", "--store", url, "--json", cwd=team.machine_b)
        assert listed.code == 0, listed.err
        assert listed.json()["models"][0]["versions"] == versions  # what the owner sees
        runs = team.specops("runs", "list", "--store", url, cwd=team.machine_b)
        assert runs.code == 0, runs.err
        promoted = team.specops(
            "models", "promote", f"bc/{other}", "--store", url, cwd=team.machine_b
        )
        assert promoted.code == 2, promoted.out + promoted.err
        assert "Traceback" not in promoted.err
        assert "read-only" in promoted.err or "refused a write" in promoted.err
        assert READER_PASSWORD not in promoted.err and PASSWORD not in promoted.err
    assert team.on_b("models", "show", "bc", "--json").json()["alias_history"] == before


def test_an_unreachable_store_stops_a_write_with_exit_2_naming_it_and_changes_nothing(
    team: Team, tmp_path: Path
) -> None:
    """S3 down under a promote (from a machine with nothing cached: the version's files
    must be read to be verified) and under a run (its upload), PostgreSQL down under
    both: exit 2, one line naming the endpoint, no password; versions and aliases are
    as they were, and the failed run is recorded as such."""

    def registry() -> tuple[object, object]:
        shown = team.on_b("models", "show", "bc", "--json").json()
        listed = team.on_b("models", "list", "--json").json()["models"]
        return listed, shown["alias_history"]  # type: ignore[index]

    before = registry()
    dead_s3 = "http://127.0.0.1:1"
    fresh = tmp_path / "machine-c"
    fresh.mkdir()
    env = team.env(
        SPECOPS_STORE=team.url_without_password, PGPASSWORD=PASSWORD, AWS_ENDPOINT_URL=dead_s3
    )
    promoted = team.specops("models", "promote", "bc/1", "--reason", "x", cwd=fresh, env=env)
    ran = team.specops(
        "run",
        "spec.yaml",
        "--set",
        "model.params.n_estimators=14",
        cwd=team.machine_a,
        env={**env, "SPECOPS_STORE": team.url, "SPECOPS_ARTIFACTS": team.artifacts.url},
    )
    for done in (promoted, ran):
        assert done.code == 2, done.out + done.err
        assert f"the S3 endpoint {dead_s3} is unreachable" in done.err, done.err
        assert "Traceback" not in done.err

    dead_pg = f"postgresql://specops@127.0.0.1:1/{team.database}"
    env = team.env(SPECOPS_STORE=dead_pg, PGPASSWORD=PASSWORD)
    for args, cwd in (
        (("models", "promote", "bc/1", "--reason", "x"), fresh),
        (("run", "spec.yaml"), team.machine_a),
    ):
        done = team.specops(*args, cwd=cwd, env=env)
        assert done.code == 2, done.out + done.err
        assert f"cannot connect to the PostgreSQL store {dead_pg}: connection refused" in (done.err)
        assert "Traceback" not in done.err
    assert not (team.machine_a / ".specops" / "store.db").exists()  # no local store instead

    assert registry() == before
    statuses = [run["status"] for run in team.on_b("runs", "list", "--json").json()["runs"]]
    assert statuses[0] == "error"  # the run that could not upload: recorded, no version
    assert PASSWORD not in "\n".join(team.printed)
