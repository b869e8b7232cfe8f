"""The target column in a request is ignored by the model and kept in the request log,
so `specops monitor --from-log` sees the true labels the clients sent."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from framework.prediction_log import read_window
from tests.serving.conftest import make_frame, train


def logged(store: Path, model: str, rows: int) -> pd.DataFrame:
    deadline = time.monotonic() + 20
    frame = read_window(store, model)
    while len(frame) < rows and time.monotonic() < deadline:
        time.sleep(0.1)
        frame = read_window(store, model)
    return frame


def test_labels_sent_in_every_mlflow_form_and_csv_are_logged_and_never_scored(
    tmp_path: Path, serve: Any
) -> None:
    store = train(tmp_path, name="lab", rows=300)
    server = serve("lab", "--store", store, "--poll-ms", "100")
    client = server.connect()
    rows = make_frame(4, 5)
    features = rows.drop(columns="target")
    split = json.loads(rows.to_json(orient="split", index=False))
    records = json.loads(rows.to_json(orient="records"))
    without = json.loads(features.to_json(orient="split", index=False))
    answers = []
    for body, content_type in [
        (json.dumps({"dataframe_split": split}), "application/json"),
        (json.dumps({"dataframe_records": records}), "application/json"),
        (json.dumps({"inputs": {k: [r[k] for r in records] for k in records[0]}}), None),
        (rows.to_csv(index=False), "text/csv"),
        (json.dumps({"dataframe_split": without}), "application/json"),  # no labels
    ]:
        status, headers, answer = client.request(
            "POST", "/invocations", body, content_type=content_type or "application/json"
        )
        assert status == 200, answer
        answers.append(json.loads(answer)["predictions"])
    client.close()
    assert all(answer == answers[-1] for answer in answers)  # the label changes nothing
    assert headers.get("specops-ignored-columns") is None  # the last sent none

    frame = logged(store, "lab", 5 * 4)
    assert len(frame) == 5 * 4
    truth = rows["target"].tolist()
    assert frame["target"].tolist()[:16] == truth * 4
    assert frame["target"].iloc[16:].isna().all()  # a request without labels has none

    # strict: the target is a column the model does not take, refused as any other
    strict = serve("lab", "--store", store, "--strict-columns", "--no-request-log")
    client = strict.connect()
    status, _, answer = client.request(
        "POST", "/invocations", json.dumps({"dataframe_split": split})
    )
    client.close()
    assert status == 400 and b"target" in answer


def test_labels_that_do_not_fit_are_left_out_of_the_log_and_the_request_is_answered(
    tmp_path: Path, serve: Any
) -> None:
    store = train(tmp_path, name="lab2", rows=300)
    server = serve("lab2", "--store", store)
    client = server.connect()
    records = json.loads(make_frame(2, 5).to_json(orient="records"))
    records[0]["target"] = {"nested": [1]}  # not one plain value
    status, _, answer = client.request(
        "POST", "/invocations", json.dumps({"dataframe_records": records})
    )
    client.close()
    assert status == 200 and len(json.loads(answer)["predictions"]) == 2
    frame = logged(store, "lab2", 2)
    assert len(frame) == 2 and "target" not in frame.columns
