"""Same rows, same answers: the fast path, the pandas path, the server and `specops predict`.

The fast path builds LightGBM's input matrix without pandas; these tests hold it
to the package's own answers value for value (``==`` on floats, not approx),
including missing numbers, unseen and missing categories, integers in float
columns and booleans, and check that it steps aside for values it cannot read
exactly (numbers sent as strings, booleans in a numeric column).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.serving.conftest import Server, make_frame, split_payload, train


def load(store: Path, ref: str) -> Any:
    from framework.package import ModelPackage
    from framework.plugins import get_plugins
    from framework.refs import resolve
    from framework.serving.served import ServedModel
    from framework.store import Store

    opened = Store.open_existing(store)
    try:
        version = resolve(opened, ref)
        package = ModelPackage.from_store(opened, version, get_plugins())
    finally:
        opened.close()
    return ServedModel(package, version.name, version.version)


def awkward_rows(seed: int = 5, rows: int = 400) -> pd.DataFrame:
    """Ordinary rows plus the values a client really sends: nulls, unseen categories, ints."""
    frame = make_frame(rows, seed).drop(columns="target").astype(object)
    rng = np.random.default_rng(seed)
    frame.loc[rng.random(rows) < 0.1, "score"] = None
    frame.loc[rng.random(rows) < 0.1, "plan"] = "enterprise"  # never seen in training
    frame.loc[rng.random(rows) < 0.1, "region"] = None
    frame.loc[rng.random(rows) < 0.1, "active"] = None
    frame.loc[rng.random(rows) < 0.2, "ratio"] = 1  # an int in a float column
    return frame


def as_batch(frame: pd.DataFrame) -> Any:
    from framework.serving.batch import Batch

    columns = {
        name: [None if isinstance(v, float) and np.isnan(v) else v for v in frame[name].tolist()]
        for name in frame.columns
    }
    return Batch(columns, len(frame))


def assert_same(a: Any, b: Any) -> None:
    assert a.values.tolist() == b.values.tolist()
    if a.proba is None:
        assert b.proba is None
    else:
        assert np.array_equal(a.proba, b.proba)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A LightGBM model per task, and one with preprocessing (pandas path only)."""
    root = tmp_path_factory.mktemp("same")
    return {
        "binary": train(root / "binary", name="bin"),
        "multiclass": train(root / "multi", name="multi", task="multiclass"),
        "regression": train(root / "reg", name="reg", task="regression"),
        "transformed": train(
            root / "tr",
            name="tr",
            model="logistic_regression",
            params="{}",
            preprocess="preprocess:\n  - {type: scale}\n",
        ),
    }


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_fast_path_equals_the_package(stores: dict[str, Path], task: str) -> None:
    served = load(stores[task], {"binary": "bin", "multiclass": "multi", "regression": "reg"}[task])
    assert served.fast is not None
    rows = awkward_rows()
    fast = served.fast.predict(as_batch(rows))
    assert fast is not None, "the fast path declined ordinary rows"
    packaged, _ = served.package.predict(rows)
    assert_same(fast, packaged)
    assert_same(fast, served.predict_pandas(as_batch(rows)))


def test_fast_path_steps_aside_for_values_it_cannot_read_exactly(
    stores: dict[str, Path],
) -> None:
    served = load(stores["binary"], "bin")
    rows = awkward_rows(rows=20)
    as_text = rows.copy()
    as_text["income"] = as_text["income"].map(lambda v: None if v is None else str(v))
    batch = as_batch(as_text)
    assert served.fast.predict(batch) is None
    assert_same(served.predict(batch), served.package.predict(as_text)[0])
    # a boolean in a number column is 1/0 on every path, so the fast path takes it
    flagged = rows.copy()
    flagged["score"] = [True, False, *rows["score"].tolist()[2:]]
    fast = served.fast.predict(as_batch(flagged))
    assert fast is not None
    assert_same(fast, served.package.predict(flagged)[0])
    assert_same(fast, served.predict_pandas(as_batch(flagged)))


def test_models_with_preprocessing_use_the_pandas_path(stores: dict[str, Path]) -> None:
    served = load(stores["transformed"], "tr")
    assert served.fast is None
    rows = make_frame(50, 8).drop(columns="target")
    assert_same(served.predict(as_batch(rows)), served.package.predict(rows)[0])


def test_server_fast_and_pandas_paths_and_specops_predict_agree(
    stores: dict[str, Path], serve: Any, tmp_path: Path, cli: Any
) -> None:
    rows = make_frame(200, 21).drop(columns="target")
    fast_server: Server = serve("bin", "--store", stores["binary"], "--no-request-log")
    slow_server: Server = serve(
        "bin", "--store", stores["binary"], "--no-request-log", "--no-fast-path"
    )
    assert "fast path" in fast_server.banner and "pandas path" in slow_server.banner
    answers = []
    for server in (fast_server, slow_server):
        client = server.connect()
        status, answer = client.post_json("/invocations", split_payload(rows))
        assert status == 200, answer
        answers.append(answer)
        client.close()
    assert answers[0] == answers[1]

    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    output = tmp_path / "scored.csv"
    result = cli(
        "predict", "bin", "--store", stores["binary"], "--input", source, "--output", output
    )
    assert result.code == 0, result.err
    scored = pd.read_csv(output)
    assert scored["prediction"].tolist() == answers[0]["predictions"]
    proba = scored[[c for c in scored.columns if c.startswith("proba_")]].to_numpy()
    assert np.array_equal(proba, np.asarray(answers[0]["probabilities"]))


def test_server_answers_multiclass_and_regression_like_the_package(
    stores: dict[str, Path], serve: Any
) -> None:
    rows = awkward_rows(seed=9, rows=50)
    payload = {"dataframe_records": json.loads(rows.to_json(orient="records"))}
    for task, name in (("multiclass", "multi"), ("regression", "reg")):
        server: Server = serve(name, "--store", stores[task], "--no-request-log")
        client = server.connect()
        status, answer = client.post_json("/invocations", payload)
        assert status == 200, answer
        expected, _ = load(stores[task], name).package.predict(rows)
        assert answer["predictions"] == expected.values.tolist()
        if task == "multiclass":
            assert np.array_equal(np.asarray(answer["probabilities"]), expected.proba)
        else:
            assert "probabilities" not in answer
        client.close()
