"""LightGBM trained on the cluster is reproducible and its stored text names no host.

Data-parallel LightGBM finds each worker's histogram bins from the rows that worker
holds, so where the scheduler happened to put the partitions used to change the model.
These tests hand ``fit_distributed`` the same rows held on the workers in two different
ways (as two runs' ingests may leave them) on the shared 2-worker LocalCluster, and
compare the saved bytes. Real data (scikit-learn's breast cancer table), real training.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from framework import StepContext
from plugins.dask_execution.training import RankedClient, groups, place, sorted_workers
from plugins.models.lightgbm_model import (
    NETWORK_TIME_OUT,
    LightGBMModel,
    _without_cluster,
)

PARAMS = {"n_estimators": 30, "num_leaves": 15}
PARTS = 4


def _context() -> StepContext:
    return StepContext("reproducible", "binary", "target", Path("."), seed=3)


def _table() -> tuple[pd.DataFrame, pd.Series]:
    data = load_breast_cancer(as_frame=True)
    return data.data, pd.Series(data.target.to_numpy(), index=data.data.index, name="target")


def _held(client: Any, frame: Any, owners: list[int]) -> Any:
    """``frame`` (pandas) as a dask collection of ``PARTS`` partitions, partition ``i``
    computed and held on worker ``owners[i]`` (by sorted address): where an ingest's
    tasks happened to run."""
    import dask.dataframe as dd

    workers = sorted_workers(client)
    parts = dd.from_pandas(frame, npartitions=PARTS).to_delayed()
    futures = [
        client.compute(part, workers=[workers[owner]], allow_other_workers=False)
        for part, owner in zip(parts, owners, strict=True)
    ]
    return dd.from_delayed(futures, meta=frame.iloc[:0], verify_meta=False)


def _fit_held(client: Any, owners: list[int], **params: Any) -> LightGBMModel:
    X, y = _table()
    model = LightGBMModel(**PARAMS, **params)
    model.fit_distributed(_held(client, X, owners), _held(client, y, owners), _context(), client)
    return model


def _saved(model: LightGBMModel, directory: Path) -> bytes:
    model.save(directory)
    return (directory / "model.txt").read_bytes()


def test_same_rows_held_on_other_workers_give_a_byte_identical_model(
    dask_client: Any, tmp_path: Path
) -> None:
    # partitions 0,1 on one worker and 2,3 on the other; then interleaved, then all on
    # one; four fits, as LightGBM's machine ranks came in a random order per fit too
    placements = [[0, 0, 1, 1], [1, 0, 1, 0], [1, 1, 1, 1], [0, 1, 1, 0]]
    models = [_fit_held(dask_client, owners) for owners in placements]
    saved = {_saved(model, tmp_path / str(number)) for number, model in enumerate(models)}
    assert len(saved) == 1
    assert all(model.fit_info == {"workers": 2} for model in models)
    X, _ = _table()
    assert np.array_equal(models[0].predict_proba(X), models[-1].predict_proba(X))


def test_balanced_class_weights_are_placed_with_their_rows(
    dask_client: Any, tmp_path: Path
) -> None:
    first = _fit_held(dask_client, [0, 0, 1, 1], class_weight="balanced")
    second = _fit_held(dask_client, [1, 1, 0, 0], class_weight="balanced")
    unweighted = _fit_held(dask_client, [1, 1, 0, 0])
    assert _saved(first, tmp_path / "first") == _saved(second, tmp_path / "second")
    assert _saved(first, tmp_path / "first") != _saved(unweighted, tmp_path / "unweighted")


def test_saved_model_text_names_no_host_port_or_cluster_size(
    dask_client: Any, tmp_path: Path
) -> None:
    model = _fit_held(dask_client, [0, 1, 0, 1])
    text = _saved(model, tmp_path / "model").decode()
    parameters = text[text.index("\nparameters:") : text.index("end of parameters")]
    ports = [address.rsplit(":", 1)[1] for address in sorted_workers(dask_client)]
    assert "127.0.0.1" not in text
    for line in ("[num_machines: 1]", "[local_listen_port: 12400]", "[machines: ]"):
        assert line in parameters
    assert "[time_out: 120]" in parameters  # LightGBM's default, not the fit's own
    assert "[num_threads: 0]" in parameters  # as a local fit with n_jobs unset writes
    assert not any(re.search(rf"\b{port}\b", parameters) for port in ports)
    # and the file loads back into a model predicting exactly like the trained one
    X, _ = _table()
    reloaded = LightGBMModel.load(tmp_path / "model")
    assert np.array_equal(reloaded.predict_proba(X), model.predict_proba(X))


def test_rewriting_the_network_params_keeps_every_prediction(dask_client: Any) -> None:
    """The booster ``lightgbm.dask`` hands back carries this cluster's machines and
    ports; the rewrite keeps the trees, so predictions are equal to the last bit."""
    import dask.dataframe as dd
    from lightgbm.dask import DaskLGBMRegressor

    X, y = _table()
    estimator = DaskLGBMRegressor(
        client=dask_client, n_estimators=10, objective="binary", verbosity=-1
    )
    estimator.fit(dd.from_pandas(X, npartitions=PARTS), dd.from_pandas(y, npartitions=PARTS))
    booster = estimator.to_local().booster_
    before = booster.model_to_string()
    assert "[machines: 127.0.0.1:" in before  # the problem being fixed

    rebuilt = _without_cluster(booster, {"num_threads": 2})
    after = rebuilt.model_to_string()
    assert "[machines: ]" in after and "127.0.0.1" not in after
    assert "[num_threads: 2]" in after
    assert after[after.index("end of parameters") :] == before[before.index("end of parameters") :]
    assert after[: after.index("\nparameters:")] == before[: before.index("\nparameters:")]
    assert np.array_equal(rebuilt.predict(X), booster.predict(X))
    assert np.array_equal(rebuilt.predict(X, raw_score=True), booster.predict(X, raw_score=True))


def test_the_fit_waits_minutes_for_a_lost_peer_and_the_stored_text_says_local_defaults(
    dask_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LightGBM's network waits ``time_out`` minutes for a peer (120 by default): the fit
    itself runs with specops' few minutes, so a worker lost mid-fit frees the survivors
    soon; the model stored afterwards carries the local fit's value, not the cluster's."""
    import dask.dataframe as dd

    import plugins.models.lightgbm_model as lightgbm_model

    trained_with: list[str] = []
    rewrite = lightgbm_model._without_cluster

    def seen(booster: Any, local_params: dict[str, Any]) -> Any:
        trained_with.append(booster.model_to_string())
        return rewrite(booster, local_params)

    monkeypatch.setattr(lightgbm_model, "_without_cluster", seen)
    X, y = _table()
    model = LightGBMModel(**PARAMS)
    model.fit_distributed(
        dd.from_pandas(X, npartitions=PARTS),
        dd.from_pandas(y, npartitions=PARTS),
        _context(),
        dask_client,
    )
    (text,) = trained_with
    assert f"[time_out: {NETWORK_TIME_OUT}]" in text and NETWORK_TIME_OUT < 120
    assert "[time_out: 120]" in model._booster.model_to_string()


def test_training_on_fewer_workers_records_the_count(dask_client: Any) -> None:
    X, y = _table()
    model = _fit_held(dask_client, [0, 1, 0, 1])
    single = LightGBMModel(**PARAMS)
    import dask.dataframe as dd

    single.fit_distributed(
        dd.from_pandas(X, npartitions=PARTS),
        dd.from_pandas(y, npartitions=PARTS),
        _context(),
        dask_client,
        workers=1,
    )
    assert single.fit_info == {"workers": 1} and model.fit_info == {"workers": 2}
    # one worker holds every row: the booster LightGBM's single-machine learner makes
    assert single.predict_proba(X).shape == (len(X), 2)


@pytest.mark.parametrize(
    ("partitions", "workers", "expected"),
    [
        (5, 2, [[0, 2, 4], [1, 3]]),
        (4, 2, [[0, 2], [1, 3]]),
        (1, 2, [[0]]),
        (3, 3, [[0], [1], [2]]),
    ],
)
def test_partition_i_goes_to_worker_i_mod_n(
    partitions: int, workers: int, expected: list[list[int]]
) -> None:
    assert groups(partitions, workers) == expected


def test_place_holds_each_group_on_its_worker_in_partition_order(dask_client: Any) -> None:
    X, _ = _table()
    held = _held(dask_client, X, [1, 1, 0, 0])
    placed = place(dask_client, [held])
    assert placed.workers == sorted_workers(dask_client)
    (futures,) = placed.futures
    where = dask_client.who_has(futures)
    assert [list(where[future.key]) for future in futures] == [[w] for w in placed.workers]
    first, second = dask_client.gather(futures)
    bounds = [held.partitions[i].compute().index.tolist() for i in range(PARTS)]
    assert first.index.tolist() == bounds[0] + bounds[2]
    assert second.index.tolist() == bounds[1] + bounds[3]


def test_ranked_client_lists_who_has_in_the_order_asked(dask_client: Any) -> None:
    """lightgbm.dask ranks its machines in ``who_has``'s order; distributed's own is a
    set's (random key order): the ranked view follows the futures given, every time."""
    futures = [dask_client.submit(int, number, pure=False) for number in range(12)]
    ranked = RankedClient(dask_client)
    for shift in range(3):
        asked = futures[shift:] + futures[:shift]
        assert list(ranked.who_has(asked)) == [future.key for future in asked]
    assert ranked.ncores() == dask_client.ncores()  # everything else is the client's
