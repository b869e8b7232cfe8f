"""The prediction log: what a server answered, read back by time window, bounded in size."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import numpy as np
import pandas as pd
import pytest

from framework.errors import StoreError
from framework.packed_columns import RAW_MIN_VALUES
from framework.prediction_log import LogEntry, LogLimits, append_batch, log_summary, read_window
from framework.store import Store
from tests.serving.conftest import Server, split_payload


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = Store(tmp_path / ".specops")
    yield opened
    opened.close()


def entry(at: float, rows: int = 2, version: int = 1, model: str = "m", **inputs: Any) -> LogEntry:
    columns = inputs or {"x": list(range(rows)), "c": ["a"] * rows}
    return LogEntry(
        model,
        version,
        at,
        rows,
        columns,
        {
            "prediction": ["yes"] * rows,
            "labels": ["no", "yes"],
            "proba": np.tile([0.25, 0.75], (rows, 1)),
        },
    )


def test_read_window_returns_rows_features_outputs_version_and_time(store: Any) -> None:
    base = datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp()
    append_batch(store, [entry(base, version=1), entry(base + 60, version=2, rows=1, x=[None])])
    frame = read_window(store, "m")
    assert list(frame.columns) == [
        "x",
        "c",
        "prediction",
        "proba_no",
        "proba_yes",
        "version",
        "time",
    ]
    assert frame["x"].tolist()[:2] == [0, 1] and np.isnan(frame["x"].iloc[2])
    assert frame["c"].tolist()[:2] == ["a", "a"] and pd.isna(frame["c"].iloc[2])  # not sent
    assert frame["prediction"].tolist() == ["yes"] * 3
    assert frame["proba_yes"].tolist() == [0.75] * 3
    assert frame["version"].tolist() == [1, 1, 2]
    assert str(frame["time"].dt.tz) == "UTC"
    assert frame["time"].iloc[2] == pd.Timestamp(base + 60, unit="s", tz="UTC")


def test_time_window_bounds(store: Any) -> None:
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    append_batch(store, [entry((start + timedelta(minutes=m)).timestamp()) for m in range(10)])
    window = read_window(store, "m", since=start + timedelta(minutes=3), until="2030-01-01T00:06Z")
    assert len(window) == 2 * 3  # minutes 3, 4 and 5; until is exclusive
    naive = read_window(store, "m", since=datetime(2030, 1, 1, 0, 8))  # naive means UTC
    assert len(naive) == 4
    assert read_window(store, "other").empty
    assert read_window(store.root, "m").shape[0] == 20  # a path works as well as a Store


def test_the_log_is_bounded_and_drops_its_oldest_segments(store: Any) -> None:
    limits = LogLimits(max_rows=100, max_bytes=10**9, segments=4)
    for second in range(60):
        append_batch(store, [entry(float(second), rows=5)], limits)
    summary = log_summary(store, "m")
    assert summary["rows"] <= 100 + limits.segment_rows
    assert summary["segments"] <= limits.segments + 1
    kept = read_window(store, "m")
    assert len(kept) == summary["rows"]
    assert kept["time"].max() == pd.Timestamp(59, unit="s", tz="UTC")  # the newest stay
    assert kept["time"].min() > pd.Timestamp(30, unit="s", tz="UTC")  # the oldest went

    by_bytes = LogLimits(max_rows=10**9, max_bytes=20_000, segments=5)
    for second in range(200):
        append_batch(store, [entry(float(second), rows=3, model="b")], by_bytes)
    assert log_summary(store, "b")["bytes"] <= 20_000 + by_bytes.segment_bytes
    assert log_summary(store, "m")["rows"] == summary["rows"]  # bounds are per model


def test_a_server_logs_what_it_answered(
    lgb_store: Path, serve: Any, sample_rows: pd.DataFrame
) -> None:
    started = datetime.now(timezone.utc)
    server: Server = serve("churn", "--store", lgb_store)
    client = server.connect()
    answers = []
    for size in (1, 5, 20):
        rows = sample_rows.head(size)
        status, answer = client.post_json("/invocations", split_payload(rows))
        assert status == 200
        answers.extend(answer["predictions"])
    bad = client.post_json("/invocations", {"dataframe_records": []})
    assert bad[0] == 400  # refused requests are not logged
    tensor = {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["pro"]}
    client.post_json("/v2/models/churn/infer", {"inputs": [tensor]})  # 400: columns missing
    client.close()
    server.stop()  # a graceful stop flushes the queue

    logged = read_window(lgb_store, "churn", since=started)
    assert len(logged) == 26
    assert logged["prediction"].tolist() == answers
    assert set(logged["version"]) == {1}
    sent = pd.concat([sample_rows.head(n) for n in (1, 5, 20)], ignore_index=True)
    assert logged["plan"].tolist() == sent["plan"].tolist()
    assert np.allclose(logged["income"].astype(float), sent["income"], equal_nan=True)
    assert {"proba_no", "proba_yes"} <= set(logged.columns)


def test_the_writer_flushes_while_running(
    lgb_store: Path, serve: Any, sample_rows: pd.DataFrame
) -> None:
    server: Server = serve("churn", "--store", lgb_store)
    since = time.time()
    client = server.connect()
    client.post_json("/invocations", split_payload(sample_rows.head(2)))
    client.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if len(read_window(lgb_store, "churn", since=since)) == 2:
            return
        time.sleep(0.1)
    raise AssertionError("the request log was not written within 10 s")


def test_the_log_holds_raw_numbers_and_json_never_pickle(store: Any) -> None:
    numbers = np.r_[0.5, np.nan, -2.0, np.zeros(RAW_MIN_VALUES - 3)]
    text = ["a", None, "b"] + ["c"] * (RAW_MIN_VALUES - 3)
    append_batch(store, [entry(1.0, rows=RAW_MIN_VALUES, x=numbers, c=text)])
    inputs, outputs = store.db.execute("SELECT inputs, outputs FROM prediction_log").fetchone()
    assert inputs[:4] == b"SPC1" and b"pickle" not in inputs
    length = int.from_bytes(inputs[4:8], "little")
    header = json.loads(inputs[8 : 8 + length])
    size = 8 * RAW_MIN_VALUES
    assert header == [["x", "<f8", [RAW_MIN_VALUES], size], ["c", "json", None, ANY]]
    body = inputs[8 + length :]
    assert np.array_equal(np.frombuffer(body[:size], "<f8"), numbers, equal_nan=True)
    assert json.loads(body[size:]) == text
    assert f'"proba","<f8",[{RAW_MIN_VALUES},2]'.encode() in outputs  # one (rows, classes) array
    frame = read_window(store, "m")
    assert frame["x"].tolist()[:3:2] == [0.5, -2.0] and np.isnan(frame["x"][1])
    assert frame["c"].isna().tolist()[:3] == [False, True, False] and frame["c"][2] == "b"


def test_a_damaged_log_entry_is_named_and_the_log_is_left_as_it_was(store: Any) -> None:
    append_batch(store, [entry(1.0), entry(2.0)])
    with store.transaction() as db:
        db.execute("UPDATE prediction_log SET inputs = ? WHERE at = 2.0", (b"SPC1\x05",))
    before = store.db.execute("SELECT COUNT(*) FROM prediction_log").fetchone()
    with pytest.raises(StoreError, match=r"prediction log entry 2 of 'm' is damaged: .*malformed"):
        read_window(store, "m")
    assert read_window(store, "m", until=1.5).shape[0] == 2
    assert store.db.execute("SELECT COUNT(*) FROM prediction_log").fetchone() == before


def test_entries_written_as_json_before_the_packed_format_are_still_read(store: Any) -> None:
    append_batch(store, [entry(2.0)])
    with store.transaction() as db:  # an entry as the first release wrote it
        db.execute(
            "INSERT INTO prediction_log (segment, model, version, at, rows, inputs, outputs)"
            " SELECT segment, model, 1, 1.0, 2, ?, ? FROM prediction_log",
            (
                b'{"x": [5, null], "c": ["b", "b"]}',
                b'{"prediction": ["no", "yes"], "labels": ["no", "yes"],'
                b' "proba": [[0.9, 0.1], [0.4, 0.6]]}',
            ),
        )
    frame = read_window(store, "m")
    assert frame["x"].tolist()[0] == 5 and np.isnan(frame["x"][1]) and frame["x"][3] == 1
    assert frame["c"].tolist() == ["b", "b", "a", "a"]
    assert frame["prediction"].tolist() == ["no", "yes", "yes", "yes"]
    assert frame["proba_yes"].tolist() == [0.1, 0.6, 0.75, 0.75]


def test_big_and_single_row_requests_read_back_as_one_number_column(store: Any) -> None:
    big = np.linspace(0.0, 1.0, RAW_MIN_VALUES)
    append_batch(
        store,
        [
            entry(1.0, rows=RAW_MIN_VALUES, x=big, c=["a"] * RAW_MIN_VALUES),  # stored raw
            entry(2.0, rows=1, x=[7], c=["b"]),  # stored as JSON
            entry(3.0, rows=1, c=["c"]),  # no x at all
        ],
    )
    frame = read_window(store, "m")
    assert frame["x"].dtype == np.float64 and len(frame) == RAW_MIN_VALUES + 2
    assert frame["x"].tolist()[:-1] == [*big.tolist(), 7.0] and np.isnan(frame["x"].iloc[-1])
    assert frame["c"].tolist()[-3:] == ["a", "b", "c"]


def test_probabilities_that_do_not_match_the_labels_are_cut_or_padded(store: Any) -> None:
    odd = [[0.1, 0.2, 0.7], [0.5]]  # more values than labels, then fewer
    outputs = {"prediction": ["no", "yes"], "labels": ["no", "yes"], "proba": odd}
    append_batch(store, [LogEntry("m", 1, 1.0, 2, {"x": [1, 2]}, outputs)])
    frame = read_window(store, "m")
    assert frame["proba_no"].tolist() == [0.1, 0.5]
    assert frame["proba_yes"].tolist()[0] == 0.2 and np.isnan(frame["proba_yes"][1])


def test_monitor_judges_the_traffic_a_server_answered(tmp_path: Path, serve: Any, cli: Any) -> None:
    """The whole loop on live traffic: serve, log, then `specops monitor --from-log`."""
    from tests.serving.conftest import make_frame, train

    store = train(tmp_path / "loop")
    server: Server = serve("churn", "--store", store)
    client = server.connect()
    traffic = make_frame(600, seed=7).drop(columns="target")
    traffic["score"] += 1.5  # the world moved: scores are shifted in production
    for start in range(0, len(traffic), 200):
        status, _ = client.post_json("/invocations", split_payload(traffic[start : start + 200]))
        assert status == 200
    client.close()
    server.stop()  # a graceful stop flushes the log

    spec = tmp_path / "loop" / "spec.yaml"
    result = cli("monitor", spec, "--from-log", "--json")
    report = json.loads(result.out)
    assert report["rows"] == 600 and report["data"].startswith("prediction log of churn")
    columns = {c["column"]: c for c in report["columns"]}
    assert columns["score"]["status"] == "drift"
    assert columns["plan"]["status"] == "ok" and "prediction" in columns
    # one drifted column of ten is below the default dataset-drift share (half): exit 0
    assert result.code == 0 and report["dataset_drift"]["detected"] is False
    strict = cli("monitor", spec, "--from-log", "--json", "--set", "monitor.drift.share=0.1")
    assert strict.code == 1 and json.loads(strict.out)["dataset_drift"]["detected"] is True


def test_big_requests_of_every_form_read_back_as_sent(
    lgb_store: Path, serve: Any, sample_rows: pd.DataFrame
) -> None:
    """MLflow JSON, CSV and Open Inference binary tensors of 100 rows (stored packed), then
    one row (stored as JSON): each column reads back as one column with the sent values."""
    rows = pd.concat([sample_rows] * 5, ignore_index=True).head(100)
    assert len(rows) == 100 >= RAW_MIN_VALUES
    started = time.time()
    server: Server = serve("churn", "--store", lgb_store)
    client = server.connect()
    assert client.post_json("/invocations", split_payload(rows))[0] == 200
    csv = rows.to_csv(index=False)
    assert client.request("POST", "/invocations", csv, content_type="text/csv")[0] == 200
    body, headers = binary_tensors(rows)
    answer = client.request(
        "POST", "/v2/models/churn/infer", body, "application/octet-stream", headers
    )
    assert answer[0] == 200, answer[2]
    assert client.post_json("/invocations", split_payload(rows.head(1)))[0] == 200
    client.close()
    server.stop()

    logged = read_window(lgb_store, "churn", since=started)
    split = split_payload(rows)["dataframe_split"]  # pandas writes JSON with 10 digits
    as_json = pd.DataFrame(split["data"], columns=split["columns"]).astype(rows.dtypes)
    sent = pd.concat([as_json, rows, rows, as_json.head(1)], ignore_index=True)
    assert len(logged) == len(sent) == 301
    for name in sent.columns:
        if sent[name].dtype.kind in "fiub":
            assert logged[name].dtype == np.float64, name
            expected = sent[name].to_numpy(np.float64)
            assert np.array_equal(logged[name].to_numpy(), expected, equal_nan=True), name
        else:
            assert logged[name].tolist() == sent[name].tolist(), name


def binary_tensors(frame: pd.DataFrame) -> tuple[bytes, dict[str, str]]:
    """An Open Inference request: numbers and booleans as raw tensors, text as JSON."""
    inputs, chunks = [], []
    for name in frame.columns:
        column = frame[name]
        tensor: dict[str, Any] = {"name": name, "shape": [len(frame)]}
        kinds = {"b": ("BOOL", np.bool_), "i": ("INT64", np.int64), "f": ("FP64", np.float64)}
        if column.dtype.kind in kinds:
            datatype, dtype = kinds[column.dtype.kind]
            raw = column.to_numpy(dtype).tobytes()
            tensor.update(datatype=datatype, parameters={"binary_data_size": len(raw)})
            chunks.append(raw)
        else:
            tensor.update(datatype="BYTES", data=column.tolist())
        inputs.append(tensor)
    header = json.dumps({"inputs": inputs}).encode()
    return header + b"".join(chunks), {"Inference-Header-Content-Length": str(len(header))}


def test_a_full_disk_drops_log_entries_with_one_line_and_keeps_serving(
    lgb_store: Path, sample_rows: pd.DataFrame, tmp_path: Path
) -> None:
    """The writer logged a full traceback per failed flush; a full disk is not a bug."""
    import os
    import shutil
    import subprocess

    from tests.serving.conftest import start_server

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        store = disk / ".specops"
        shutil.copytree(lgb_store, store, ignore=shutil.ignore_patterns("serve", "live"))
        server = start_server("churn", "--store", store)
        try:
            stats = os.statvfs(disk)
            with (disk / "filler").open("wb") as handle:
                os.posix_fallocate(handle.fileno(), 0, stats.f_bavail * stats.f_frsize - 8192)
            client = server.connect()
            for _ in range(5):
                status, _ = client.post_json("/invocations", split_payload(sample_rows))
                assert status == 200
            time.sleep(2)  # a flush or two
            assert client.get("/ping")[0] == 200
            (disk / "filler").unlink()  # space again: the writer (still alive) logs again
            since = time.time()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(read_window(store, "churn", since)) < 3:
                client.post_json("/invocations", split_payload(sample_rows.head(3)))
                time.sleep(0.5)
            client.close()
            assert len(read_window(store, "churn", since)) >= 3
        finally:
            server.stop()
        _, err = server.process.communicate(timeout=10)
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)
    assert "prediction log: " in err and "no space left on device" in err, err
    assert "Traceback" not in err, err
