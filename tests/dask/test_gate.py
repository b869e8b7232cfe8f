"""The gate on a Dask cluster gives the local gate's Comparison: the champion is
rescored on the workers on the candidate's test rows it did not train on, whether
its training rows are a fingerprint blob (trained locally) or a content rule
(trained on Dask), with the same notes and the same metric values."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from framework import StepContext, training_rows
from framework.champion import CandidateTest, Comparison, compare
from framework.execution.rows import ContentRule, content_split, mix
from framework.package import Predictions, write_package
from framework.plugins import load_plugins
from framework.signature import infer_signature
from framework.store import Store
from plugins.dask_execution.evaluation import evaluate
from plugins.dask_execution.gate import compare_distributed
from plugins.dask_execution.split import split_distributed
from plugins.models.lightgbm_model import LightGBMModel

NAME, TARGET = "bc", "target"
TEST_SIZE = 0.25


@dataclass
class Data:
    frame: pd.DataFrame
    features: list[str]
    hashed: list[str]
    hashes: np.ndarray


@pytest.fixture(scope="module")
def data() -> Data:
    loaded = load_breast_cancer(as_frame=True)
    frame = loaded.data.round(4)
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame[TARGET] = loaded.target.to_numpy()
    features = [c for c in frame.columns if c != TARGET]
    hashed = [*features, TARGET]
    return Data(frame, features, hashed, training_rows.row_hashes(frame, hashed))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / ".specops")
    yield opened
    opened.close()


def _fit(frame: pd.DataFrame, features: list[str]) -> LightGBMModel:
    model = LightGBMModel(n_estimators=30, num_leaves=7)
    model.fit(
        frame[features], frame[TARGET].to_numpy(), StepContext(NAME, "binary", TARGET, Path("."))
    )
    return model


def _register_champion(
    store: Store,
    data: Data,
    seed: int,
    record: str,
    tmp: Path,
    test_size: float = TEST_SIZE,
    extra: str | None = None,
) -> None:
    """Train a version on a content split (seed), record its rows as a blob or a rule,
    and make it the champion. ``extra``: a feature column the candidate's data lacks."""
    rule = ContentRule(test_size, seed)
    train, _ = content_split(data.hashes, rule)
    frame, features = data.frame, data.features
    if extra:
        frame = frame.assign(**{extra: np.arange(len(frame)) % 3})
        features = [*features, extra]
    model = _fit(frame.iloc[train], features)
    signature, _ = infer_signature(frame[features], {})
    package = write_package(
        tmp / f"package-{record}",
        model=model,
        transform=None,
        signature=signature,
        metadata={"name": NAME, "task": "binary", "model_type": "lightgbm", "labels": [0, 1]},
    )
    if record == "none":  # registered by a specops that recorded no training rows
        entry = None
    elif record == "blob":
        entry, _ = training_rows.record(
            store, training_rows.TrainingRows.of(data.hashes[train], data.hashed)
        )
    else:
        u = mix(data.hashes, seed)
        threshold = int(np.sort(u)[int(np.ceil(len(u) * test_size)) - 1])
        entry = training_rows.content_rule(
            columns=data.hashed,
            seed=seed,
            test_size=test_size,
            stratify=False,
            target=TARGET,
            train_rows=len(train),
            threshold=threshold,
        )
    spec = SimpleNamespace(
        name=NAME, path=tmp / "spec.yaml", spec_hash="0", document={}, profile=None
    )
    store.begin_run("champion-run", spec, {}, {})
    version = store.add_version(
        name=NAME,
        run_id="champion-run",
        status="registered",
        model_type="lightgbm",
        package_dir=package,
        signature=signature.to_dict(),
        metrics={"roc_auc": 0.99, "accuracy": 0.97},
        lineage={"data_hash": "champion-data"} | ({"training_rows": entry} if entry else {}),
    )
    store.end_run("champion-run", "passed", {})
    store.set_aliases(NAME, version.version, [("champion", "test")], actor="test")


def _metrics() -> dict[str, Any]:
    plugins = load_plugins()
    built = {name: plugins.build("metric", name) for name in plugins.registry.types("metric")}
    return {name: m for name, m in built.items() if "binary" in m.tasks}


def _both(store: Store, data: Data, client: Any, seed: int, partitions: int = 3):
    """The candidate (seed) compared locally and on the cluster: (local, dask)."""
    import dask.dataframe as dd

    plugins = load_plugins()
    metrics = _metrics()
    train, test = content_split(data.hashes, ContentRule(TEST_SIZE, seed))
    model = _fit(data.frame.iloc[train], data.features)
    # local
    proba = model.predict_proba(data.frame.iloc[test][data.features])
    candidate = CandidateTest(
        NAME,
        "binary",
        {"data_hash": "candidate-data"},
        [0, 1],
        data.frame,
        test,
        data.frame[TARGET].to_numpy()[test],
        Predictions(proba.argmax(axis=1), None, proba),
        training_rows.TrainingRows.of(data.hashes[train], data.hashed),
        data.hashes[test],
    )

    def score(y_true: Any, y_pred: Any, y_score: Any) -> dict[str, float]:
        return {n: float(m.compute(y_true, y_pred, y_score)) for n, m in metrics.items()}

    local = compare(store, plugins, candidate, score)
    # on the cluster
    split = split_distributed(
        dd.from_pandas(data.frame, npartitions=partitions),
        ContentRule(TEST_SIZE, seed),
        columns=data.hashed,
    )
    predictions = evaluate(
        client,
        model,
        None,
        split.test[data.features],
        split.test[TARGET],
        "binary",
        2,
        metrics,
    )
    on_dask = compare_distributed(
        client,
        store,
        plugins,
        name=NAME,
        task="binary",
        lineage={"data_hash": "candidate-data"},
        labels=[0, 1],
        test_rows=split.test,
        predictions=predictions,
        metrics=metrics,
    )
    return local, on_dask


def _same(local: Comparison, on_dask: Comparison) -> None:
    assert on_dask.to_dict() == local.to_dict()
    assert on_dask.champion == pytest.approx(local.champion, rel=1e-12)
    if local.candidate is None:
        assert on_dask.candidate is None
    else:
        assert on_dask.candidate == pytest.approx(local.candidate, rel=1e-12)


@pytest.mark.parametrize("record", ["blob", "rule"])
def test_rescored_on_the_cluster_as_locally(
    dask_client: Any, store: Store, data: Data, tmp_path: Path, record: str
) -> None:
    _register_champion(store, data, seed=1, record=record, tmp=tmp_path)
    local, on_dask = _both(store, data, dask_client, seed=2)
    assert local.basis == "rescored"
    assert 0 < local.in_champion_training < local.test_rows  # another seed: overlap
    assert "rows neither trained on" in local.note
    _same(local, on_dask)


def test_a_content_rule_leaves_out_exactly_the_rows_a_blob_does_on_the_same_data(
    dask_client: Any, data: Data, tmp_path: Path
) -> None:
    found = {}
    for record in ("blob", "rule"):
        store = Store(tmp_path / record / ".specops")
        try:
            _register_champion(store, data, seed=5, record=record, tmp=tmp_path / record)
            found[record] = _both(store, data, dask_client, seed=8)[1]
        finally:
            store.close()
    assert found["rule"].to_dict()["in_champion_training"] == found["blob"].in_champion_training
    assert found["rule"].rows == found["blob"].rows
    assert found["rule"].champion == pytest.approx(found["blob"].champion, rel=1e-12)


@pytest.mark.parametrize("record", ["blob", "rule"])
def test_too_few_rows_left_use_the_recorded_metrics_as_locally(
    dask_client: Any, store: Store, data: Data, tmp_path: Path, record: str
) -> None:
    # the champion trained on 97 % of the rows: about 4 of the candidate's test rows are left
    _register_champion(store, data, seed=6, record=record, tmp=tmp_path, test_size=0.03)
    local, on_dask = _both(store, data, dask_client, seed=2)
    assert local.basis == "recorded"
    assert "test rows neither model trained on (at least 30 needed)" in local.note
    _same(local, on_dask)


def test_no_champion_and_a_champion_that_trained_on_no_test_row_as_locally(
    dask_client: Any, store: Store, data: Data, tmp_path: Path
) -> None:
    local, on_dask = _both(store, data, dask_client, seed=2)
    assert on_dask.note == local.note == "no champion yet"
    _register_champion(store, data, seed=3, record="rule", tmp=tmp_path)
    # the same seed: the champion trained on every candidate training row, none of the
    # test rows; a different test size would differ. Here: same rows, all kept
    local, on_dask = _both(store, data, dask_client, seed=3)
    assert local.basis == on_dask.basis == "rescored"
    assert on_dask.in_champion_training == 0
    assert on_dask.note == local.note
    assert on_dask.note.endswith("neither trained on any of them")
    assert on_dask.candidate is None  # the candidate's whole split: its own metrics stand


def test_a_champion_with_unknown_training_rows_is_compared_on_all_rows_as_locally(
    dask_client: Any, store: Store, data: Data, tmp_path: Path
) -> None:
    _register_champion(store, data, seed=1, record="none", tmp=tmp_path)
    local, on_dask = _both(store, data, dask_client, seed=2)
    assert local.note.startswith("champion's training rows unknown (bc/1 was registered")
    assert local.in_champion_training is None
    _same(local, on_dask)


def test_a_champion_that_cannot_score_these_rows_is_judged_by_its_recorded_metrics(
    dask_client: Any, store: Store, data: Data, tmp_path: Path
) -> None:
    _register_champion(store, data, seed=1, record="none", tmp=tmp_path, extra="branch")
    local, on_dask = _both(store, data, dask_client, seed=2)
    assert local.basis == "recorded"
    assert "it cannot score this data" in local.note and "branch" in local.note
    _same(local, on_dask)


def test_the_gate_works_whatever_the_partitioning(
    dask_client: Any, store: Store, data: Data, tmp_path: Path
) -> None:
    _register_champion(store, data, seed=1, record="rule", tmp=tmp_path)
    one = _both(store, data, dask_client, seed=4, partitions=1)[1]
    seven = _both(store, data, dask_client, seed=4, partitions=7)[1]
    assert one.to_dict() == seven.to_dict()
    assert one.champion == pytest.approx(seven.champion, rel=1e-12)
