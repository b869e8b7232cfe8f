"""The whole CLI on blobs in S3 (moto's real server): ``specops run`` stores every blob
in the bucket, and a second working directory that has only the metadata (a copy of
``store.db``, or the PostgreSQL URL) and the standard AWS_* variables shows and serves
the model, each blob downloaded and verified into its own cache. No credential is ever
printed or stored."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import breast_cancer_spec
from tests.team.postgres_server import PASSWORD
from tests.team.s3_server import SECRET_KEY, S3Prefix

pytest.importorskip("boto3", reason="the s3 extra is not installed")


def _rows_file(path: Path) -> Path:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(25)
    frame.to_csv(path, index=False)
    return path


def _blob_digests(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as db:
        files = [json.loads(row[0]) for row in db.execute("SELECT files_json FROM model_versions")]
    return {digest for package in files for digest in package.values()}


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET_KEY not in text
        assert PASSWORD not in text


@pytest.fixture
def workdirs(tmp_path: Path) -> tuple[Path, Path]:
    """Two working directories: ``a`` trains, ``b`` (another machine) only reads."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "spec.yaml").write_text(breast_cancer_spec(n_estimators=10).lstrip())
    return a, b


def test_a_local_store_with_s3_artifacts_is_read_elsewhere_with_the_database_alone(
    s3_prefix: S3Prefix, workdirs: tuple[Path, Path], cli_process: Callable[..., Any]
) -> None:
    a, b = workdirs
    aws = s3_prefix.server.env  # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL
    ran = cli_process(
        "run", "spec.yaml", "--json", cwd=a, env={**aws, "SPECOPS_ARTIFACTS": s3_prefix.url}
    )
    assert ran.code == 0, ran.err
    store = a / ".specops"
    # every blob is in the bucket, none in the store's own folder
    digests = _blob_digests(store / "store.db")
    assert digests and {s3_prefix.key(d) for d in digests} <= set(s3_prefix.keys())
    assert not [p for p in (store / "artifacts").rglob("*") if p.is_file()]
    with sqlite3.connect(store / "store.db") as db:
        assert db.execute("SELECT value FROM store_settings").fetchall() == [(s3_prefix.url,)]
        dump = "\n".join(db.iterdump())
    _no_secret(dump, ran.out, ran.err)

    # machine b: the database file and the AWS_* environment, nothing else
    (b / ".specops").mkdir()
    shutil.copy(store / "store.db", b / ".specops" / "store.db")
    shown = cli_process("models", "show", "bc", "--json", cwd=b, env=aws)
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["version"] == 1
    verified = cli_process("store", "verify", "--json", cwd=b, env=aws)
    assert verified.code == 0, verified.out
    assert json.loads(verified.out)["ok"] is True

    rows = _rows_file(b / "rows.csv")
    here = cli_process("predict", "bc", "--input", rows, "--output", b / "p.csv", cwd=b, env=aws)
    there = cli_process("predict", "bc", "--input", rows, "--output", a / "p.csv", cwd=a, env=aws)
    assert here.code == 0 and there.code == 0, here.err + there.err
    assert (b / "p.csv").read_text() == (a / "p.csv").read_text()
    cached = {p.parent.name + p.name for p in (b / ".specops" / "cache" / "blobs").rglob("*/*")}
    assert digests <= cached  # downloaded (and verified) into b's own cache
    _no_secret(shown.out, shown.err, verified.out, here.out, here.err)


def test_without_credentials_the_error_names_the_bucket_and_says_what_to_set(
    s3_prefix: S3Prefix, workdirs: tuple[Path, Path], cli_process: Callable[..., Any]
) -> None:
    a, _ = workdirs
    env = {"SPECOPS_ARTIFACTS": s3_prefix.url, "AWS_ENDPOINT_URL": s3_prefix.endpoint}
    unset = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    ran = cli_process("run", "spec.yaml", cwd=a, env={**env, **unset})
    assert ran.code == 2, ran.err
    assert "no AWS credentials found" in ran.err
    assert s3_prefix.url in ran.err
    assert "Traceback" not in ran.err


def test_postgres_and_s3_serve_a_second_machine_from_the_url_alone(
    postgres_db: Any,
    s3_prefix: S3Prefix,
    workdirs: tuple[Path, Path],
    cli_process: Callable[..., Any],
) -> None:
    a, b = workdirs
    aws = s3_prefix.server.env
    shared = {**aws, "SPECOPS_STORE": postgres_db.url}
    ran = cli_process("run", "spec.yaml", cwd=a, env={**shared, "SPECOPS_ARTIFACTS": s3_prefix.url})
    assert ran.code == 0, ran.err
    assert not (a / ".specops" / "store.db").exists()

    listed = cli_process("models", "list", "--store", postgres_db.url, "--json", cwd=b, env=aws)
    assert listed.code == 0, listed.err
    shown = cli_process("runs", "list", "--json", cwd=b, env=shared)
    assert shown.code == 0, shown.err
    run_id = json.loads(shown.out)["runs"][0]["run_id"]
    run = cli_process("runs", "show", run_id, "--json", cwd=b, env=shared)
    assert run.code == 0, run.err
    rows = _rows_file(b / "rows.csv")
    predicted = cli_process(
        "predict", "bc@champion", "--input", rows, "--output", b / "p.csv", cwd=b, env=shared
    )
    assert predicted.code == 0, predicted.err
    assert len((b / "p.csv").read_text().splitlines()) == 26
    _no_secret(
        ran.out,
        ran.err,
        listed.out,
        shown.out,
        run.out,
        predicted.out,
        predicted.err,
        postgres_db.dump(),
    )


def test_one_params_mapping_configures_postgres_and_s3_as_docs_team_shows(
    postgres_db: Any,
    s3_prefix: S3Prefix,
    workdirs: tuple[Path, Path],
    cli_process: Callable[..., Any],
) -> None:
    """``store.params`` holds both halves' keys (PostgreSQL's password and lock_timeout,
    S3's endpoint_url): each backend gets its own, and a typo is still refused."""
    a, _ = workdirs
    aws = {k: v for k, v in s3_prefix.server.env.items() if k != "AWS_ENDPOINT_URL"}
    spec = (a / "spec.yaml").read_text() + (
        "store:\n"
        f"  url: {postgres_db.display_url}\n"
        f"  artifacts: {s3_prefix.url}\n"
        "  params:\n"
        '    password: "${env:TEAM_DB_PASSWORD}"\n'
        "    lock_timeout: 30\n"
        "    sslmode: disable\n"
        f"    endpoint_url: {s3_prefix.endpoint}\n"
    )
    (a / "spec.yaml").write_text(spec)
    env = {**aws, "TEAM_DB_PASSWORD": PASSWORD}
    ran = cli_process("run", "spec.yaml", "--json", cwd=a, env=env)
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["model"]["version"] == 1
    assert s3_prefix.keys()  # its blobs went to the bucket, through endpoint_url
    _no_secret(ran.out, ran.err, postgres_db.dump())

    (a / "spec.yaml").write_text(spec.replace("    lock_timeout: 30\n", "    lock_timeuot: 30\n"))
    typo = cli_process("run", "spec.yaml", cwd=a, env=env)
    assert typo.code == 2 and "lock_timeuot" in typo.err, typo.err
