"""``specops store copy SRC DST`` between local stores: everything arrives verified, a
second copy copies nothing, conflicting rows refuse the copy, a failed copy leaves DST
as it was."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from framework.errors import StoreError
from tests.helpers import (
    aliases_and_history,
    breast_cancer_spec,
    build_store,
    store_execute,
    store_rows,
)

CopyResult = tuple[int, str, str]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real runs: bc/1, bc/2 (rejected), bc/3 the champion."""
    return build_store(tmp_path_factory.mktemp("copy-source"))


@pytest.fixture
def source(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built store (some tests damage theirs)."""
    target = tmp_path / "src" / ".specops"
    shutil.copytree(built, target, ignore=shutil.ignore_patterns("live"))
    return target


@pytest.fixture
def copy(capsys: pytest.CaptureFixture[str]) -> Callable[..., CopyResult]:
    """``specops store copy ARGS`` in this process: (exit code, stdout, stderr)."""
    from framework.cli.main import main

    def run(*args: str | Path) -> CopyResult:
        capsys.readouterr()
        code = main(["store", "copy", *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def view(cli: Callable[..., Any], store: Path) -> dict[str, Any]:
    """What users see of a store: every version, alias history and run, as JSON."""
    seen: dict[str, Any] = {}
    for name, args in {
        "models": ["models", "list"],
        "bc/1": ["models", "show", "bc/1"],
        "bc/3": ["models", "show", "bc@champion"],
        "runs": ["runs", "list", "--limit", "0"],
    }.items():
        result = cli(*args, "--store", store, "--json")
        assert result.code == 0, result.err
        seen[name] = _without_paths(json.loads(result.out), str(store))
    return seen


def _without_paths(value: Any, store: str) -> Any:
    if isinstance(value, dict):
        return {k: _without_paths(v, store) for k, v in value.items() if k != "store"}
    if isinstance(value, list):
        return [_without_paths(v, store) for v in value]
    return value.replace(store, "STORE") if isinstance(value, str) else value


def test_a_copy_holds_everything_verified_and_a_second_copies_nothing(
    source: Path, tmp_path: Path, copy: Callable[..., CopyResult], cli: Callable[..., Any]
) -> None:
    destination = tmp_path / "dst" / ".specops"

    code, out, _ = copy(source, destination, "--json")
    assert code == 0
    first = json.loads(out)
    assert first["copied_nothing"] is False
    blobs = store_rows(source, "SELECT COUNT(*) FROM runs")
    assert first["rows"]["runs"] == {"copied": blobs[0][0], "already_there": 0}
    assert first["rows"]["model_versions"]["copied"] == 3
    assert first["rows"]["alias_history"]["copied"] == 2
    assert first["blobs"]["copied"] == len(list((source / "artifacts").rglob("*/*")))

    verified = cli("store", "verify", "--store", destination, "--json")
    assert verified.code == 0, verified.out
    assert json.loads(verified.out)["ok"] is True
    assert view(cli, destination) == view(cli, source)
    assert aliases_and_history(destination) == aliases_and_history(source)

    code, out, err = copy(source, destination)
    assert code == 0
    assert out.startswith(f"nothing to copy: {destination} already holds every row ("), out
    assert "copying" not in err and "writing rows" not in err, err  # its progress says so too
    code, out, _ = copy(source, destination, "--json")
    again = json.loads(out)
    assert again["copied_nothing"] is True
    assert again["blobs"] == {
        "copied": 0,
        "already_there": first["blobs"]["copied"],
        "bytes_copied": 0,
    }
    assert all(counts["copied"] == 0 for counts in again["rows"].values())
    assert again["rows"]["runs"]["already_there"] == first["rows"]["runs"]["copied"]


def test_the_copy_serves_predictions_like_the_source(
    source: Path, tmp_path: Path, copy: Callable[..., CopyResult], cli: Callable[..., Any]
) -> None:
    destination = tmp_path / "dst"
    assert copy(source, destination)[0] == 0
    rows = tmp_path / "rows.csv"
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(20)
    frame.to_csv(rows, index=False)
    outputs = []
    for store in (source, destination):
        out = tmp_path / f"pred-{store.name}.csv"
        result = cli("predict", "bc", "--input", rows, "--store", store, "--output", out)
        assert result.code == 0, result.err
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]


def test_a_later_copy_brings_only_what_is_new(
    built: Path, source: Path, tmp_path: Path, copy: Callable[..., CopyResult]
) -> None:
    destination = tmp_path / "dst"
    assert copy(source, destination)[0] == 0
    # SRC goes on: a rollback moves the champion back (one more alias move)
    from framework.cli.main import main

    assert main(["models", "rollback", "bc", "--store", str(source)]) == 0
    code, out, _ = copy(source, destination, "--json")
    report = json.loads(out)
    assert code == 0
    assert report["rows"]["alias_history"] == {"copied": 1, "already_there": 2}
    assert report["rows"]["aliases"] == {"copied": 1, "already_there": 0}
    assert report["rows"]["runs"]["copied"] == 0
    assert report["blobs"]["copied"] == 0
    assert aliases_and_history(destination)[0] == aliases_and_history(source)[0]
    history = [row[1:] for row in aliases_and_history(destination)[1]]
    assert history == [row[1:] for row in aliases_and_history(source)[1]]


def test_a_version_number_taken_by_another_version_refuses_the_copy(
    source: Path, tmp_path: Path, copy: Callable[..., CopyResult]
) -> None:
    from framework.cli.main import main

    spec = tmp_path / "other" / "spec.yaml"  # its own bc/1, made by another run
    spec.parent.mkdir()
    spec.write_text(breast_cancer_spec(n_estimators=5).lstrip())
    assert main(["run", str(spec), "--json"]) == 0
    other = spec.parent / ".specops"
    before = aliases_and_history(other)
    runs_before = store_rows(other, "SELECT id FROM runs ORDER BY id")
    blobs_before = sorted(p.name for p in (other / "artifacts").rglob("*/*"))

    code, _, err = copy(source, other)
    assert code == 2
    theirs = store_rows(other, "SELECT run_id FROM model_versions WHERE version = 1")[0][0]
    ours = store_rows(source, "SELECT run_id FROM model_versions WHERE version = 1")[0][0]
    assert (
        f"model version bc/1 is taken in DST by a different version (made by run {theirs}, "
        f"in SRC by run {ours})"
    ) in err
    assert "nothing was copied" in err
    assert "Traceback" not in err
    assert aliases_and_history(other) == before
    assert store_rows(other, "SELECT id FROM runs ORDER BY id") == runs_before
    # the blobs sent first are SRC's, unreferenced in DST: gc's to collect, verify is fine
    assert set(blobs_before) <= {p.name for p in (other / "artifacts").rglob("*/*")}


def test_a_copy_that_fails_while_writing_rows_leaves_dst_as_it_was(
    source: Path,
    tmp_path: Path,
    copy: Callable[..., CopyResult],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import framework.store.copy as store_copy

    destination = tmp_path / "dst"

    def fail(*args: object) -> None:
        raise StoreError("the disk filled up (simulated) while writing the aliases")

    monkeypatch.setattr(store_copy, "_write_aliases", fail)
    code, _, err = copy(source, destination)
    assert code == 2
    assert "simulated" in err
    for table in ("runs", "steps", "model_versions", "aliases", "alias_history"):
        assert store_rows(destination, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    assert cli("store", "verify", "--store", destination).code == 0

    monkeypatch.undo()
    code, out, _ = copy(source, destination, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["blobs"]["copied"] == 0  # sent by the failed copy already
    assert report["rows"]["model_versions"]["copied"] == 3
    assert cli("store", "verify", "--store", destination).code == 0


def test_a_damaged_blob_in_src_stops_the_copy_before_any_row(
    source: Path, tmp_path: Path, copy: Callable[..., CopyResult]
) -> None:
    files = json.loads(store_rows(source, "SELECT files_json FROM model_versions")[0][0])
    name, digest = next(iter(files.items()))
    (source / "artifacts" / digest[:2] / digest[2:]).write_bytes(b"tampered")
    destination = tmp_path / "dst"

    code, _, err = copy(source, destination)
    assert code == 2
    assert f"artifact {name} of model bc/1 is corrupt" in err
    assert store_rows(destination, "SELECT COUNT(*) FROM runs") == [(0,)]


def test_a_run_still_running_in_src_refuses_and_a_dead_one_arrives_interrupted(
    source: Path, tmp_path: Path, copy: Callable[..., CopyResult], cli: Callable[..., Any]
) -> None:
    from framework.store.store import Store

    run_id = store_rows(source, "SELECT id FROM runs ORDER BY started_at LIMIT 1")[0][0]
    store_execute(
        source,
        f"UPDATE runs SET status = 'running', ended_at = NULL, lock = 'live/run-{run_id}.lock'"
        f" WHERE id = '{run_id}'",
    )
    holder = Store(source)  # this process holds the run's liveness lock: it is running
    liveness = holder.db.hold(f"run-{run_id}")
    try:
        code, _, err = copy(source, tmp_path / "dst")
        assert code == 2
        assert f"run {run_id} is still running in {source}" in err
    finally:
        liveness.release()
        holder.close()

    destination = tmp_path / "dst"
    assert copy(source, destination)[0] == 0  # now its process is gone
    assert store_rows(destination, f"SELECT status, lock FROM runs WHERE id = '{run_id}'") == [
        ("interrupted", None)
    ]
    assert copy(source, destination, "--json")[1].count('"copied_nothing": true') == 1


def test_copying_a_store_into_itself_is_refused(
    source: Path, copy: Callable[..., CopyResult]
) -> None:
    code, _, err = copy(source, source)
    assert code == 2
    assert "SRC and DST are the same store" in err


def test_local_to_postgres_and_s3_and_back(
    source: Path,
    tmp_path: Path,
    postgres_db: Any,
    s3_prefix: Any,
    copy: Callable[..., CopyResult],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.team.postgres_server import PASSWORD

    pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_prefix.endpoint)
    shared = postgres_db.url

    code, out, err = copy(source, shared, "--artifacts", s3_prefix.url)
    assert code == 0, err
    blobs = {p.parent.name + p.name for p in (source / "artifacts").rglob("*/*")}
    assert out.startswith(f"copied {len(blobs)} blob(s)"), out
    assert f"to {postgres_db.display_url}" in out
    assert PASSWORD not in out + err
    assert {s3_prefix.key(d) for d in blobs} == set(s3_prefix.keys())
    verified = cli("store", "verify", "--store", shared, "--json")
    assert verified.code == 0, verified.out
    assert json.loads(verified.out)["checked"]["versions"] == 3
    for args in (["models", "list"], ["runs", "list", "--limit", "0"]):
        ours = cli(*args, "--store", source, "--json")
        theirs = cli(*args, "--store", shared, "--json")
        assert _without_paths(json.loads(theirs.out), "") == _without_paths(
            json.loads(ours.out), ""
        )

    code, out, _ = copy(source, shared, "--json")  # the artifacts URL is recorded in DST
    assert code == 0
    assert json.loads(out)["copied_nothing"] is True

    back = tmp_path / "back" / ".specops"  # and home again: the same registry
    code, out, err = copy(shared, back)
    assert code == 0, err
    assert cli("store", "verify", "--store", back).code == 0
    code, out, _ = copy(shared, back, "--json")
    assert code == 0
    assert json.loads(out)["copied_nothing"] is True
    assert view(cli, back) == view(cli, source)
    assert aliases_and_history(back)[0] == aliases_and_history(source)[0]
    assert [r[1:] for r in aliases_and_history(back)[1]] == [
        r[1:] for r in aliases_and_history(source)[1]
    ]


def _log(store: Path, start: int, count: int) -> None:
    """``count`` answered requests of 40 rows each, logged in segments of 100 rows."""
    from framework.prediction_log import LogEntry, LogLimits, append_batch

    entries = [
        LogEntry(
            model="bc",
            version=3,
            at=1_700_000_000.0 + i,
            rows=40,
            inputs={"mean radius": [float(i)] * 40},
            outputs={"prediction": [i % 2] * 40},
        )
        for i in range(start, start + count)
    ]
    append_batch(store, entries, LogLimits(max_rows=10_000, segments=100))


def _log_view(store: Path) -> tuple[list[tuple], list[tuple]]:
    segments = store_rows(
        store, "SELECT model, opened_at, rows, bytes FROM prediction_log_segments ORDER BY id"
    )
    entries = store_rows(
        store, "SELECT model, version, at, rows, inputs, outputs FROM prediction_log ORDER BY id"
    )
    return segments, entries


@pytest.mark.parametrize("batch_bytes", [16 << 20, 1])
def test_the_prediction_log_is_copied_once_and_then_only_what_is_new(
    source: Path,
    tmp_path: Path,
    copy: Callable[..., CopyResult],
    monkeypatch: pytest.MonkeyPatch,
    batch_bytes: int,
) -> None:
    """The log is read a batch at a time (about 16 MiB; 1 byte: one entry a query, so
    every batch boundary is crossed): the same rows arrive either way."""
    monkeypatch.setattr("framework.store.copy.LOG_BATCH_BYTES", batch_bytes)
    _log(source, 0, 5)  # segments of 3, 2 entries (100-row segments)
    destination = tmp_path / "dst"
    code, out, _ = copy(source, destination, "--json")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert rows["prediction_log_segments"] == {"copied": 2, "already_there": 0}
    assert rows["prediction_log"] == {"copied": 5, "already_there": 0}
    assert _log_view(destination) == _log_view(source)

    code, out, _ = copy(source, destination, "--json")
    assert json.loads(out)["copied_nothing"] is True

    _log(source, 5, 2)  # fills the open segment, opens a new one
    code, out, _ = copy(source, destination, "--json")
    rows = json.loads(out)["rows"]
    assert rows["prediction_log"] == {"copied": 2, "already_there": 5}
    assert rows["prediction_log_segments"] == {"copied": 1, "already_there": 2}
    assert _log_view(destination) == _log_view(source)


def test_a_row_naming_a_blob_by_a_path_stops_the_copy(
    source: Path, tmp_path: Path, copy: Callable[..., CopyResult]
) -> None:
    (tmp_path / "secret.txt").write_text("not a blob")
    files = json.loads(store_rows(source, "SELECT files_json FROM model_versions")[0][0])
    files["model.json"] = "../../secret.txt"
    escaped = json.dumps(files).replace("'", "''")
    store_execute(source, f"UPDATE model_versions SET files_json = '{escaped}' WHERE version = 1")
    destination = tmp_path / "dst"

    code, _, err = copy(source, destination)
    assert code == 2
    assert "names the blob '../../secret.txt', which is not a sha256" in err
    assert not (destination / "artifacts").exists() or not any(
        (destination / "artifacts").rglob("*/*")
    )
