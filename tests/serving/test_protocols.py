"""Both protocols against a real server, with the clients people already use.

MLflow: MLflow's own scoring client (``mlflow-skinny``'s ``ScoringServerClient``)
plus every payload form from MLflow's serving documentation, sent byte for byte.
Open Inference: NVIDIA's ``tritonclient`` HTTP client, which speaks KServe V2
with the binary tensor extension by default. Every answer is compared with
``ModelPackage.predict`` on the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import stored_package
from tests.serving.conftest import FEATURES, Server, split_payload


@pytest.fixture(scope="module")
def expected(lgb_store: Path, sample_rows: pd.DataFrame) -> Any:
    """What the package predicts in process for the sample rows."""
    predictions, _ = stored_package(lgb_store, "churn").predict(sample_rows)
    return predictions


# ---------------------------------------------------------------------------
# MLflow scoring protocol
# ---------------------------------------------------------------------------


def test_mlflow_scoring_client_gets_the_packages_predictions(
    lgb_server: Server, sample_rows: pd.DataFrame, expected: Any
) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    client = ScoringServerClient("127.0.0.1", lgb_server.port)
    client.wait_server_ready(timeout=30)
    response = client.invoke(sample_rows)
    assert response.get_predictions()[0].tolist() == expected.values.tolist()
    assert np.array_equal(np.asarray(response["probabilities"]), expected.proba)
    version = json.loads(client.get_version())
    assert version["ref"] == "churn/1" and version["follows"] == "churn@champion"
    assert version["labels"] == ["no", "yes"]


def documented_payloads(rows: pd.DataFrame) -> dict[str, Any]:
    """The four JSON forms exactly as MLflow's docs write them."""
    records = json.loads(rows.to_json(orient="records"))
    columns = {name: [r[name] for r in records] for name in rows.columns}
    ordered_rows = [[r[name] for name in FEATURES] for r in records]
    return {
        "dataframe_split": split_payload(rows),
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs": {"inputs": columns},
        "instances_as_rows": {"instances": ordered_rows},
        "split_with_params": {**split_payload(rows), "params": {}},
    }


@pytest.mark.parametrize(
    "form",
    [
        "dataframe_split",
        "dataframe_records",
        "instances",
        "inputs",
        "instances_as_rows",
        "split_with_params",
    ],
)
def test_every_mlflow_json_form_answers_the_same(
    lgb_server: Server, sample_rows: pd.DataFrame, expected: Any, form: str
) -> None:
    client = lgb_server.connect()
    status, answer = client.post_json("/invocations", documented_payloads(sample_rows)[form])
    assert status == 200, answer
    assert answer["predictions"] == expected.values.tolist()
    assert np.array_equal(np.asarray(answer["probabilities"]), expected.proba)
    client.close()


def test_mlflow_csv_body(lgb_server: Server, sample_rows: pd.DataFrame, expected: Any) -> None:
    client = lgb_server.connect()
    status, headers, body = client.request(
        "POST", "/invocations", sample_rows.to_csv(index=False), content_type="text/csv"
    )
    assert status == 200, body
    assert json.loads(body)["predictions"] == expected.values.tolist()
    assert headers["specops-model"] == "churn/1"
    client.close()


def test_mlflow_health_and_version(lgb_server: Server) -> None:
    client = lgb_server.connect()
    assert client.get("/ping")[0] == 200
    assert client.get("/health")[0] == 200
    status, version = client.get("/version")
    assert status == 200 and version["version"] == 1 and version["task"] == "binary"
    assert [c["name"] for c in version["inputs"]] == FEATURES
    client.close()


# ---------------------------------------------------------------------------
# Open Inference Protocol (KServe V2) with tritonclient
# ---------------------------------------------------------------------------


def triton_inputs(rows: pd.DataFrame, binary: bool = True) -> list[Any]:
    import tritonclient.http as triton

    inputs = []
    for name in rows.columns:
        column = rows[name]
        if pd.api.types.is_bool_dtype(column):
            array, datatype = column.to_numpy(dtype=bool), "BOOL"
        elif pd.api.types.is_numeric_dtype(column):
            array, datatype = column.to_numpy(dtype=np.float64), "FP64"
        else:
            array, datatype = column.to_numpy(dtype=object), "BYTES"
        tensor = triton.InferInput(name, [len(rows)], datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_tritonclient_health_and_metadata(lgb_server: Server) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{lgb_server.port}")
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("churn")
    assert client.is_model_ready("churn", "1")
    assert not client.is_model_ready("nope")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata("churn")
    assert metadata["versions"] == ["1"]
    datatypes = {tensor["name"]: tensor["datatype"] for tensor in metadata["inputs"]}
    assert list(datatypes) == FEATURES
    assert datatypes["income"] == "FP64" and datatypes["plan"] == "BYTES"
    outputs = {tensor["name"]: tensor for tensor in metadata["outputs"]}
    assert outputs["predictions"]["datatype"] == "BYTES"
    assert outputs["probabilities"]["shape"] == [-1, 2]
    client.close()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_infer_per_column_inputs(
    lgb_server: Server, sample_rows: pd.DataFrame, expected: Any, binary: bool
) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{lgb_server.port}")
    outputs = None
    if not binary:
        outputs = [
            triton.InferRequestedOutput("predictions", binary_data=False),
            triton.InferRequestedOutput("probabilities", binary_data=False),
        ]
    result = client.infer("churn", triton_inputs(sample_rows, binary), outputs=outputs)
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predictions")]
    assert labels == expected.values.tolist()
    assert np.array_equal(result.as_numpy("probabilities"), expected.proba)
    assert result.get_response()["model_version"] == "1"
    client.close()


def test_tritonclient_whole_tensor_input(
    lgb_server: Server, sample_rows: pd.DataFrame, expected: Any
) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{lgb_server.port}")
    rows = sample_rows.head(20)
    as_text = rows.astype(object).where(rows.notna(), "").astype(str).to_numpy(dtype=object)
    tensor = triton.InferInput("input", list(as_text.shape), "BYTES")
    tensor.set_data_from_numpy(as_text)
    result = client.infer("churn", [tensor], outputs=[triton.InferRequestedOutput("predictions")])
    labels = [v.decode() for v in result.as_numpy("predictions")]
    assert labels == expected.values.tolist()[:20]
    client.close()


def test_v2_json_whole_tensor_of_numbers_and_versioned_path(
    lgb_server: Server, sample_rows: pd.DataFrame, expected: Any
) -> None:
    rows = json.loads(sample_rows.head(5).to_json(orient="values"))
    client = lgb_server.connect()
    document = {
        "id": "req-1",
        "inputs": [
            {"name": "rows", "shape": [5, len(FEATURES)], "datatype": "BYTES", "data": rows}
        ],
    }
    status, answer = client.post_json("/v2/models/churn/versions/1/infer", document)
    assert status == 200, answer
    assert answer["id"] == "req-1" and answer["model_version"] == "1"
    by_name = {o["name"]: o for o in answer["outputs"]}
    assert by_name["predictions"]["data"] == expected.values.tolist()[:5]
    assert by_name["probabilities"]["shape"] == [5, 2]
    assert np.allclose(by_name["probabilities"]["data"], expected.proba[:5].ravel(), rtol=0, atol=0)
    status, answer = client.post_json("/v2/models/churn/versions/7/infer", document)
    assert status == 404 and "version 7" in answer["error"]
    client.close()


def test_tritonclient_unknown_model_is_404(lgb_server: Server, sample_rows: pd.DataFrame) -> None:
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    client = triton.InferenceServerClient(url=f"127.0.0.1:{lgb_server.port}")
    with pytest.raises(InferenceServerException) as caught:
        client.infer("nope", triton_inputs(sample_rows.head(2)))
    assert caught.value.status() == "404" and "serves 'churn'" in caught.value.message()
    client.close()


def test_several_workers_answer_alike(
    lgb_store: Path, serve: Any, sample_rows: pd.DataFrame, expected: Any
) -> None:
    server: Server = serve("churn", "--store", lgb_store, "--workers", "2", "--no-request-log")
    payload = split_payload(sample_rows)
    for _ in range(6):  # new connections land on either worker
        client = server.connect()
        status, answer = client.post_json("/invocations", payload)
        client.close()
        assert status == 200 and answer["predictions"] == expected.values.tolist()


@pytest.mark.parametrize(
    "labels", [[0, 1], [3, -7, 2**62], [True, False], ["a", "b"], [1.5, 2.0], None]
)
def test_mlflow_answers_write_labels_as_a_list_of_them_would(labels) -> None:
    """Integer labels are written from an int64 array (cheaper); the bytes must be those
    of the plain list for every kind of label (booleans stay true/false)."""
    import numpy as np

    from framework.package import Predictions
    from framework.serving import jsonio
    from framework.serving.protocols.mlflow import _labels

    codes = np.random.default_rng(0).integers(0, len(labels) if labels else 2, 500)
    predictions = Predictions(codes if labels else codes.astype(float), labels, None)
    expected = jsonio.dumps({"predictions": predictions.values.tolist()})
    assert jsonio.dumps({"predictions": _labels(predictions)}) == expected


def test_mlflow_answers_follow_the_labels_of_each_version_in_turn() -> None:
    """The int64 table is kept for the labels list last answered with: a request of
    another version (another list, even of equal labels) gets its own labels."""
    import numpy as np

    from framework.package import Predictions
    from framework.serving import jsonio
    from framework.serving.protocols.mlflow import _labels

    codes = np.array([0, 1, 1, 0])
    for labels in ([0, 1], ["no", "yes"], [7, 9], [7, 9], [True, False], [0, 1]):
        predictions = Predictions(codes, list(labels), None)
        expected = jsonio.dumps({"predictions": predictions.values.tolist()})
        assert jsonio.dumps({"predictions": _labels(predictions)}) == expected, labels
