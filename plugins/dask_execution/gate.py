"""The gate's comparison with the champion on a Dask cluster: the same Comparison as
the local path (:mod:`framework.champion`), the rows never leaving the workers.

Public function (plain inputs: the store, plugins, dask frames, the evaluation's
predictions, metric components)::

    compare_distributed(client, store, plugins, *, name, task, lineage, labels,
                        test_rows: dd.DataFrame, predictions: TestPredictions,
                        metrics: dict[str, metric component],
                        checked: Callable[[dict], dict] | None = None) -> Comparison

``test_rows`` is the test split with every column of the table (the champion may
read columns the candidate does not), partitioned exactly like the frames the
predictions were made from (``predictions.parts[i]`` holds the rows of partition i).

What happens, in the local path's order and with its notes: no champion, a
champion trained on the same rows, or one with other classes are decided from the
store alone (:func:`framework.champion.champion_for`). Otherwise each test
partition finds, on its worker, the rows the champion may have trained on: its
fingerprint blob (a local run's) is broadcast to every worker for a membership
test, or its content rule (a Dask run's) is applied (conservative: see
:mod:`framework.training_rows`). One worker adds up the rows kept and the classes
they hold; too few, and the champion's recorded metrics are used. Else the
champion's package (loaded here, shipped to the workers) predicts the kept rows
of each partition where they lie, and one worker computes both models' exact
metrics on those rows. Only counts and metric values reach the client.

A candidate split by content never has a test row identical to one of its
training rows (identical rows share a side). A split by time can: the time column is
not hashed, so the same features and target on two days fall on both sides. Those
repeats are left out as locally: the fingerprints both sides share are found by a
distributed join of the distinct ones (only the shared ones reach the client) and
each test partition drops its rows among them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from framework import DataError
from framework.execution import (
    Comparison,
    RowChoice,
    cannot_score,
    champion_for,
    in_training,
    load_training_rows,
    metric_undefined,
    recorded,
    rescored,
    too_few,
    unknown_rows,
    unmatched_columns,
)
from plugins.dask_execution.evaluation import TRUE, TestPredictions, arrays

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from distributed import Client

    from framework.execution import Plugins, Store


def keep_partition(
    part: pd.DataFrame,
    rows: Any,
    fingerprints: pd.Series | None = None,
    repeated: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """The partition's rows neither model trained on (all of them when the champion's
    training rows are unknown, ``rows`` None), and how many of the others are repeats
    of the candidate's training rows (``fingerprints`` among ``repeated``) rather than
    the champion's: the local path's :class:`framework.champion.RowChoice`."""
    import numpy as np

    if rows is None or len(part) == 0:
        return np.ones(len(part), dtype=bool), 0
    keep = ~in_training(rows, part)
    if fingerprints is None or repeated is None or len(repeated) == 0:
        return keep, 0
    repeat = np.isin(fingerprints.to_numpy(dtype="uint64"), repeated) & keep
    return keep & ~repeat, int(repeat.sum())


def shared_fingerprints(test: Any, train: Any) -> np.ndarray:
    """The fingerprints found on both sides of a split (lazy uint64 series): a join of
    each side's distinct values on the cluster, so only the shared ones are gathered."""
    column = "fingerprint"
    mine = test.rename(column).drop_duplicates().to_frame()
    theirs = train.rename(column).drop_duplicates().to_frame()
    shared = mine.merge(theirs, on=column, how="inner")[column]
    return shared.compute().to_numpy(dtype="uint64")


def row_stats(count: int, *parts: Any) -> tuple[int, list[int], list[int]]:
    """On one worker: rows kept, and the class codes of the test split and of the kept
    rows (``parts``: the keep masks, then the prediction frames)."""
    import numpy as np

    keeps, predicted = parts[:count], parts[count:]
    kept = int(sum(int(k.sum()) for k in keeps))
    every: set[int] = set()
    left: set[int] = set()
    for keep, frame in zip(keeps, predicted, strict=True):
        codes = frame[TRUE].to_numpy()
        every.update(np.unique(codes).tolist())
        left.update(np.unique(codes[keep]).tolist())
    return kept, sorted(every), sorted(left)


def champion_partition(part: pd.DataFrame, keep: np.ndarray, package: Any) -> Any:
    """The champion's predictions on the kept rows of one partition, as a frame
    (``code``, then its probabilities), or ``("data", message)`` when it cannot
    score these rows (the local path's DataError)."""
    import pandas as pd

    rows = part[keep]
    if len(rows) == 0:
        return None
    try:
        predictions, _ = package.predict(rows)
    except DataError as exc:
        return ("data", str(exc))
    frame = pd.DataFrame({"code": predictions.codes})
    if predictions.proba is not None:
        for i in range(predictions.proba.shape[1]):
            frame[f"proba_{i}"] = predictions.proba[:, i]
    return frame


def both_scores(
    metrics: dict[str, Any], task: str, count: int, whole: bool, *parts: Any
) -> dict[str, Any]:
    """On one worker: the champion's and (unless ``whole``) the candidate's metrics on
    the kept rows. ``parts``: keep masks, candidate frames, champion frames."""
    import pandas as pd

    keeps, mine, theirs = parts[:count], parts[count : 2 * count], parts[2 * count :]
    problem = next((p for p in theirs if isinstance(p, tuple)), None)
    if problem is not None:
        return {"data": problem[1]}
    kept_mine = [frame[keep] for keep, frame in zip(keeps, mine, strict=True)]
    y_true, my_codes, my_score = arrays(kept_mine, task)
    champion = pd.concat([f for f in theirs if f is not None], ignore_index=True)
    codes = champion["code"].to_numpy()
    proba = champion[[c for c in champion.columns if c.startswith("proba_")]].to_numpy()
    score = None if task == "regression" else (proba[:, 1] if task == "binary" else proba)
    if task == "regression":
        codes = codes.astype("float64")
    try:
        found = {"theirs": {n: m.compute(y_true, codes, score) for n, m in metrics.items()}}
        found["mine"] = (
            None
            if whole
            else {n: m.compute(y_true, my_codes, my_score) for n, m in metrics.items()}
        )
    except ValueError as exc:  # a metric undefined on these rows
        return {"metric": str(exc)}
    return found


def compare_distributed(
    client: Client,
    store: Store,
    plugins: Plugins,
    *,
    name: str,
    task: str,
    lineage: dict[str, Any],
    labels: list[Any] | None,
    test_rows: Any,
    predictions: TestPredictions,
    metrics: dict[str, Any],
    checked: Callable[[dict[str, Any]], dict[str, float]] | None = None,
    repeats: tuple[Any, Any] | None = None,
) -> Comparison:
    """The champion's metrics on test rows neither model trained on, or its recorded
    ones, and why: :func:`framework.champion.compare` for a split on the cluster.
    ``checked`` turns metric values computed on a worker into checked floats (the
    executor passes ``lambda v: scope.checked_metrics(v)[0]``). ``repeats``: the
    fingerprints of the test and the training rows (lazy series, the test's
    partitioned like ``test_rows``) when the split may put identical rows on both
    sides (a split by time), so test rows repeating a training row are left out."""
    from dask import delayed

    total = predictions.total
    found = champion_for(store, plugins, name, lineage, labels, total)
    if isinstance(found, Comparison):
        return found
    champion, package = found
    if test_rows.npartitions != len(predictions.parts):
        raise ValueError(
            f"test_rows has {test_rows.npartitions} partitions, the predictions "
            f"{len(predictions.parts)}: they must be partitioned alike"
        )
    theirs = load_training_rows(store, champion.lineage, champion.ref)
    unknown = None
    if theirs is None:
        unknown = unknown_rows(champion, total)
    else:
        missing = [c for c in theirs.columns if c not in test_rows.columns]
        if missing:
            unknown, theirs = unmatched_columns(champion, missing, total), None
    # a blob is 8 bytes a row; hash=False: keys of its own (see evaluation.evaluate)
    [shipped_rows] = client.scatter([theirs], broadcast=True, hash=False)
    # the test rows are read twice (which to keep, then the champion's predictions):
    # held on the workers meanwhile rather than recomputed from the source
    parts = client.persist(test_rows).to_delayed()
    fingerprints: list[Any] = [None] * len(parts)
    shipped_repeats = None
    if repeats is not None and theirs is not None:
        test_fingerprints, train_fingerprints = repeats
        fingerprints = client.persist(test_fingerprints).to_delayed()
        [shipped_repeats] = client.scatter(
            [shared_fingerprints(test_fingerprints, train_fingerprints)],
            broadcast=True,
            hash=False,
        )
    chosen = [
        delayed(keep_partition, nout=2)(part, shipped_rows, prints, shipped_repeats)
        for part, prints in zip(parts, fingerprints, strict=True)
    ]
    count = len(chosen)
    # one compute for both halves: each partition's choice is made once
    found = client.compute([c[0] for c in chosen] + [c[1] for c in chosen])
    keeps, repeated = found[:count], sum(client.gather(found[count:]))
    kept, every, left = client.submit(row_stats, count, *keeps, *predictions.parts).result()
    in_champion = None if unknown else total - kept - repeated
    if unknown is None:
        lacking = sorted(set(every) - set(left)) if labels is not None else []
        why = too_few(kept, total, lacking, labels)
        if why:
            return recorded(champion, total, why, in_champion)
    [shipped_package] = client.scatter([package], broadcast=True, hash=False)
    champion_parts = client.compute(
        [
            delayed(champion_partition)(part, keep, shipped_package)
            for part, keep in zip(parts, keeps, strict=True)
        ]
    )
    scored = client.submit(
        both_scores,
        metrics,
        task,
        count,
        kept == total,
        *keeps,
        *predictions.parts,
        *champion_parts,
    ).result()
    if "data" in scored:
        return recorded(champion, total, cannot_score(scored["data"]))
    if "metric" in scored:
        return recorded(champion, total, metric_undefined(scored["metric"]))
    check = checked or _floats
    mine = None if scored["mine"] is None else check(scored["mine"])
    choice = RowChoice(_nothing(), in_champion, repeated, unknown)
    return rescored(champion, check(scored["theirs"]), mine, kept, total, choice)


def _floats(values: dict[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in values.items()}


def _nothing() -> Any:
    import numpy as np

    return np.zeros(0, dtype=bool)
