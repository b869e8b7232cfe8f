"""Choosing a shared store: the spec's ``store:`` section (with ``${env:...}``),
``--store`` / ``SPECOPS_STORE``, ``--artifacts`` / ``SPECOPS_ARTIFACTS``; real
PostgreSQL and S3 servers, the real CLI in process. What a user sees: the run lands in
the shared store (no local store.db), another "machine" (another directory, only the
URL and AWS_* variables) sees it, the password is shown nowhere, refusals exit 2."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

import framework.plugins
from tests.helpers import breast_cancer_spec
from tests.team.postgres_server import PASSWORD

pytest.importorskip("psycopg")
pytest.importorskip("boto3")


@pytest.fixture(autouse=True)
def store_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store plugins, loaded in process while their entry points are not installed;
    no store chosen by the developer's environment."""
    from framework.plugins import get_plugins, load_plugins

    for name in ("SPECOPS_STORE", "SPECOPS_ARTIFACTS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    registry = get_plugins().registry
    if registry.find("metadata_store", "postgresql") and registry.find("artifact_store", "s3"):
        return
    import plugins.store_local
    import plugins.store_postgres
    import plugins.store_s3

    extra = [
        ("store_local", plugins.store_local),
        ("store_postgres", plugins.store_postgres),
        ("store_s3", plugins.store_s3),
    ]
    monkeypatch.setattr(framework.plugins, "_cached", load_plugins(extra=extra))


def _spec(directory: Path, store: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "spec.yaml"
    path.write_text(breast_cancer_spec(n_estimators=10).lstrip() + textwrap.dedent(store))
    return path


def test_a_run_to_the_spec_s_shared_store_is_seen_from_elsewhere_without_the_password(
    cli: Any,
    postgres_db: Any,
    s3_prefix: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEAM_PG_URL", postgres_db.url)
    monkeypatch.setenv("TEAM_S3_ENDPOINT", s3_prefix.endpoint)
    spec = _spec(
        tmp_path / "laptop",
        f"""
        store:
          url: "${{env:TEAM_PG_URL}}"
          artifacts: {s3_prefix.url}
          params: {{endpoint_url: "${{env:TEAM_S3_ENDPOINT}}"}}
        """,
    )
    ran = cli("run", spec, "--json")
    assert ran.code == 0, ran.err
    run_id = json.loads(ran.out)["run_id"]
    assert not (spec.parent / ".specops" / "store.db").exists()  # nothing stored locally
    assert s3_prefix.keys(), "the model's blobs went to the bucket"

    # another machine: another directory, the URL and the standard AWS_* variables only
    elsewhere = tmp_path / "ci"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_prefix.endpoint)
    listed = cli("models", "list", "--store", postgres_db.url, "--json")
    assert listed.code == 0, listed.err
    report = json.loads(listed.out)
    assert [m["name"] for m in report["models"]] == ["bc"]
    assert PASSWORD not in listed.out and report["store"].endswith(f"/{postgres_db.name}")

    monkeypatch.setenv("SPECOPS_STORE", postgres_db.url)
    shown = cli("runs", "show", run_id, "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["run_id"] == run_id and PASSWORD not in shown.out
    from framework.store import Store, StoreAddress

    store = Store.open_existing(StoreAddress(postgres_db.url, elsewhere / ".w"), write=False)
    try:
        stored = store.run(run_id)
    finally:
        store.close()
    assert stored is not None and stored.spec["store"]["url"] == "${env:TEAM_PG_URL}"
    assert PASSWORD not in json.dumps(stored.spec) + json.dumps(stored.lineage)
    model = cli("models", "show", "bc@champion")
    assert model.code == 0 and PASSWORD not in model.out + model.err
    verified = cli("store", "verify", "--json")
    assert verified.code == 0, verified.out + verified.err
    assert json.loads(verified.out)["checked"]["blobs"] > 0
    assert not (elsewhere / ".specops" / "store.db").exists()


def test_the_environment_chooses_the_store_and_other_artifacts_are_refused(
    cli: Any,
    postgres_db: Any,
    s3_prefix: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _spec(tmp_path / "project")
    monkeypatch.setenv("SPECOPS_STORE", postgres_db.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_prefix.endpoint)

    nowhere = cli("run", spec, "--json")
    assert nowhere.code == 2 and "say where its blobs go" in nowhere.err
    assert PASSWORD not in nowhere.err

    monkeypatch.setenv("SPECOPS_ARTIFACTS", s3_prefix.url)
    assert cli("run", spec, "--json").code == 0
    assert not (spec.parent / ".specops" / "store.db").exists()

    other = f"s3://{s3_prefix.bucket}/{s3_prefix.prefix}-other"
    refused = cli("models", "list", "--artifacts", other)
    assert refused.code == 2
    assert s3_prefix.url in refused.err and other in refused.err
    assert PASSWORD not in refused.err

    monkeypatch.delenv("SPECOPS_ARTIFACTS")  # recorded in the store: not needed again
    listed = cli("models", "list", "--json")
    assert listed.code == 0, listed.err
    assert [m["name"] for m in json.loads(listed.out)["models"]] == ["bc"]


def test_a_spec_naming_an_uninstalled_backend_is_refused_by_validate(
    cli: Any, tmp_path: Path
) -> None:
    spec = _spec(
        tmp_path,
        """
        store:
          url: "mysql://app:hunter2hunter2@db/specops"
        """,
    )
    checked = cli("validate", spec)
    assert checked.code == 2
    assert "store.url" in checked.err + checked.out
    assert "'mysql://'" in checked.err + checked.out
    assert "hunter2hunter2" not in checked.err + checked.out


def test_a_password_written_in_the_spec_is_stored_and_shown_masked(
    cli: Any,
    postgres_db: Any,
    s3_prefix: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _spec(
        tmp_path / "laptop",
        f"""
        store:
          url: "{postgres_db.url}"
          artifacts: {s3_prefix.url}
          params: {{endpoint_url: "{s3_prefix.endpoint}"}}
        """,
    )
    ran = cli("run", spec, "--json")
    assert ran.code == 0, ran.err
    assert PASSWORD not in ran.out + ran.err
    run_id = json.loads(ran.out)["run_id"]

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_prefix.endpoint)
    for command in (("runs", "show", run_id), ("runs", "list"), ("models", "show", "bc/1")):
        shown = cli(*command, "--store", postgres_db.url)
        assert shown.code == 0, shown.err
        assert PASSWORD not in shown.out + shown.err
    from framework.store import Store, StoreAddress

    store = Store.open_existing(StoreAddress(postgres_db.url, tmp_path / "w"), write=False)
    try:
        stored = store.run(run_id)
        assert PASSWORD not in store.display_url
    finally:
        store.close()
    assert stored is not None
    assert PASSWORD not in json.dumps(stored.spec) and "***" in stored.spec["store"]["url"]
