"""The store itself (framework.store.Store) on a shared backend pair: PostgreSQL rows
and S3 blobs, real servers. What a registry command relies on: a run, a version and an
alias recorded; the artifacts found from the metadata URL alone; verify and gc; the
refusals (other artifacts than recorded, none at all, an unknown scheme)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import framework.plugins
from framework.errors import StoreError
from framework.store import Store, StoreAddress

pytest.importorskip("psycopg")
pytest.importorskip("boto3")


@pytest.fixture(autouse=True)
def store_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store plugins, loaded in process while their entry points are not installed."""
    from framework.plugins import get_plugins, load_plugins

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


def _spec(tmp_path: Path) -> Any:
    document = {"name": "shared", "task": "binary"}
    return SimpleNamespace(
        name="shared",
        path=tmp_path / "spec.yaml",
        spec_hash="h" * 64,
        document=document,
        profile=None,
    )


def _package(tmp_path: Path, text: str) -> Path:
    package = tmp_path / f"package-{text}"
    (package / "model").mkdir(parents=True)
    (package / "model" / "model.json").write_text(json.dumps({"weights": text}))
    (package / "signature.json").write_text("{}")
    return package


def _record_version(store: Store, tmp_path: Path, run_id: str, text: str) -> Any:
    store.begin_run(run_id, _spec(tmp_path), {"data": "d"}, {"seed": 1})
    version = store.add_version(
        name="shared",
        run_id=run_id,
        status="registered",
        model_type="test",
        package_dir=_package(tmp_path, text),
        signature={},
        metrics={"auc": 0.9},
        lineage={},
    )
    store.end_run(run_id, "passed", {})
    return version


def test_a_version_recorded_on_postgres_and_s3_is_found_from_the_metadata_url_alone(
    postgres_db: Any, s3_prefix: Any, tmp_path: Path
) -> None:
    params = {"endpoint_url": s3_prefix.endpoint}
    first = Store.open(StoreAddress(postgres_db.url, tmp_path / "a", s3_prefix.url, params))
    try:
        one = _record_version(first, tmp_path, "20261205-000000-aaaaaa", "one")
        first.set_alias("shared", "champion", one.version, actor="test", reason="first")
        two = _record_version(first, tmp_path, "20261205-000001-bbbbbb", "two")
    finally:
        first.close()
    assert (one.version, two.version) == (1, 2)

    # another machine: only the metadata URL (the endpoint comes from AWS_ENDPOINT_URL)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", s3_prefix.endpoint)
        second = Store.open_existing(StoreAddress(postgres_db.url, tmp_path / "b"), write=False)
        try:
            assert second.artifacts.display_url.rstrip("/") == s3_prefix.url
            assert second.alias("shared") == 1
            assert [r.status for r in second.runs()] == ["passed", "passed"]
            found = second.version("shared", 2)
            assert found is not None and found.files == two.files
            out = second.materialize(found, tmp_path / "out")
            assert json.loads((out / "model" / "model.json").read_text()) == {"weights": "two"}
            from framework.store.integrity import find_garbage, verify

            report = verify(second)  # 2 model files + one signature.json both share
            assert report.ok, report.problems
            assert report.blobs == 3 and report.versions == 2 and report.aliases == 1
            assert [g for g in find_garbage(second) if g.kind == "blob"] == []
        finally:
            second.close()


def test_other_artifacts_than_the_recorded_ones_are_refused_naming_both(
    postgres_db: Any, s3_prefix: Any, tmp_path: Path
) -> None:
    params = {"endpoint_url": s3_prefix.endpoint}
    Store.open(StoreAddress(postgres_db.url, tmp_path, s3_prefix.url, params)).close()
    other = f"s3://{s3_prefix.bucket}/elsewhere"
    with pytest.raises(StoreError) as raised:
        Store.open(StoreAddress(postgres_db.url, tmp_path, other, params))
    message = str(raised.value)
    assert f"keeps its artifacts at {s3_prefix.url}" in message and other in message
    assert postgres_db.cluster.url(postgres_db.name).split("@")[0].split(":")[-1] not in message


def test_a_shared_store_without_artifacts_says_where_blobs_go(
    postgres_db: Any, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="say where its blobs go"):
        Store.open(StoreAddress(postgres_db.url, tmp_path))


def test_an_unknown_scheme_names_itself_the_installed_ones_and_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StoreError) as raised:
        Store.open(StoreAddress("mysql://u:secretpw@db/x", tmp_path))
    message = str(raised.value)
    assert "'mysql://'" in message and "secretpw" not in message
    assert "installed: " in message and "postgresql" in message

    # without the s3 plugin (the extra not installed): the extra to install is named
    from framework.registry import ComponentRegistry

    monkeypatch.setattr(framework.plugins, "_cached", SimpleNamespace(registry=ComponentRegistry()))
    with pytest.raises(StoreError) as raised:
        Store.open(StoreAddress(str(tmp_path / ".specops"), tmp_path, "s3://bucket/prefix"))
    message = str(raised.value)
    assert "'s3://'" in message and "installed: none" in message
    assert "pip install 'specops[s3]'" in message


def test_the_prediction_log_on_postgres_appends_bounds_and_reads_back(
    postgres_db: Any, s3_prefix: Any, tmp_path: Path
) -> None:
    from framework.prediction_log import LogEntry, LogLimits, append_batch, log_summary, read_window

    params = {"endpoint_url": s3_prefix.endpoint}
    store = Store.open(StoreAddress(postgres_db.url, tmp_path, s3_prefix.url, params))
    try:
        limits = LogLimits(max_rows=6, segments=3)  # segments of 2 rows, at most 6 kept
        for i in range(5):
            entry = LogEntry(
                model="shared",
                version=1,
                at=1_700_000_000.0 + i,
                rows=2,
                inputs={"x": [float(i), float(i) + 0.5]},
                outputs={"prediction": [i, i]},
            )
            assert append_batch(store, [entry], limits) == 2
        summary = log_summary(store, "shared")
        frame = read_window(store, "shared")
    finally:
        store.close()
    assert summary["rows"] <= 6 and summary["segments"] <= 3
    assert list(frame["x"])[-2:] == [4.0, 4.5]  # the newest rows kept, bytes intact
    assert list(frame["prediction"])[-2:] == [4, 4]
