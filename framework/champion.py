"""The gate's comparison with the champion, on rows neither model trained on.

``max_drop`` asks whether the candidate is worse than the champion. Scoring the
champion on the candidate's test split is only fair on rows the champion did not
train on: after another seed, another split or a retraining window, many of them
were in its training data and its score there is inflated. So the test rows whose
fingerprint (:mod:`framework.training_rows`) is among the champion's training
rows, or among the candidate's own (a repeated row), are left out, and both
models are scored on the rest. When too few rows remain to say anything, the
champion's recorded metrics (its scores on its own test split) are used, and the
note says so. Every outcome is one sentence, shown in the gate's detail.

The champion's training rows are its fingerprint blob (a local run) or its content
rule (a run on Dask, :class:`framework.training_rows.ContentRows`); both answer
"may it have trained on this row?", the rule conservatively. :func:`compare` runs in
this process on a pandas test split; the Dask executor (plugins/dask_execution/gate.py)
rescores on the workers and builds the same :class:`Comparison` from the pieces
here (:func:`champion_for`, :func:`too_few`, :func:`rescored`, :func:`recorded`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from framework.errors import DataError
from framework.package import ModelPackage
from framework.store import CHAMPION, Store
from framework.training_rows import TrainingRows, in_training, load

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework.package import Predictions
    from framework.plugins import Plugins
    from framework.store import ModelVersion

MIN_ROWS = 30
"""Fewest test rows neither model trained on for a rescored comparison; below it (or
when a class of the test split is missing from them) the recorded metrics are used."""

Scorer = Callable[["np.ndarray", "np.ndarray", Any], dict[str, float]]
"""The run's metrics from (y_true, predicted codes, y_score)."""


@dataclass(frozen=True)
class CandidateTest:
    """What the gate knows of the candidate: its test rows, their scores, its training rows."""

    name: str
    task: str
    lineage: dict[str, Any]
    labels: list[Any] | None
    frame: pd.DataFrame  # the ingested table, every column
    positions_test: np.ndarray
    y_test: np.ndarray
    predictions: Predictions
    training: TrainingRows
    test_hashes: np.ndarray  # fingerprints of test_rows over training.columns

    @cached_property
    def test_rows(self) -> pd.DataFrame:
        """The raw test rows, copied out only when a champion is scored on them."""
        return self.frame.iloc[self.positions_test]


@dataclass(frozen=True)
class Comparison:
    """The champion's metrics to compare with, and on what.

    ``basis``: ``none`` (no champion), ``same_rows`` (same data and split: recorded
    metrics are its scores on these rows), ``rescored`` (scored on ``rows`` test rows),
    ``recorded`` (its metrics from its own registration, on other rows).
    ``candidate`` holds the candidate's scores on those rows when they are not its
    whole test split.
    """

    note: str
    basis: str = "none"
    champion: dict[str, float] | None = None
    candidate: dict[str, float] | None = None
    version: str | None = None
    rows: int | None = None
    test_rows: int | None = None
    in_champion_training: int | None = None

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found.pop("champion")
        found.pop("candidate")
        return found


def compare(store: Store, plugins: Plugins, candidate: CandidateTest, score: Scorer) -> Comparison:
    """The champion's metrics on rows neither trained on, or its recorded ones, and why."""
    total = len(candidate.y_test)
    found = champion_for(store, plugins, candidate.name, candidate.lineage, candidate.labels, total)
    if isinstance(found, Comparison):
        return found
    champion, package = found
    chosen = _rows_neither_trained_on(store, champion, candidate)
    keep = chosen.keep
    kept = int(keep.sum())
    too_few = chosen.unknown is None and _too_few(keep, total, candidate)
    if too_few:
        return recorded(champion, total, too_few, chosen.in_champion)
    try:
        rows = candidate.test_rows if kept == total else candidate.test_rows[keep]
        predictions, _ = package.predict(rows)
        theirs = score(candidate.y_test[keep], predictions.codes, predictions.score(candidate.task))
        mine = None
        if kept < total:
            mine = score(
                candidate.y_test[keep],
                candidate.predictions.codes[keep],
                _subset(candidate.predictions.score(candidate.task), keep),
            )
    except DataError as exc:
        return recorded(champion, total, cannot_score(exc))
    except ValueError as exc:  # a metric undefined on these rows
        return recorded(champion, total, metric_undefined(exc))
    return rescored(champion, theirs, mine, kept, total, chosen)


def champion_for(
    store: Store,
    plugins: Plugins,
    name: str,
    lineage: dict[str, Any],
    labels: list[Any] | None,
    total: int,
) -> Comparison | tuple[ModelVersion, ModelPackage]:
    """What every executor decides before scoring anything: no champion, a champion
    trained on the same rows, or one whose classes differ (each a Comparison); else
    the champion's version and its loaded package, to rescore."""
    number = store.alias(name, CHAMPION)
    if number is None:
        return Comparison("no champion yet")
    champion = store.version(name, number)
    if champion is None:
        return Comparison("champion alias points at a missing version")
    if _same_rows(champion, lineage):
        # Same data, same split: it trained on exactly the candidate's training rows and
        # its recorded metrics are its scores on these test rows. Check its files still.
        for relative, digest in champion.files.items():
            store.artifacts.verified(digest, f"{relative} of {champion.ref}")
        return Comparison(
            f"champion {champion.ref} trained on the same rows (same data and split): "
            f"both scored on all {total:,} test rows",
            "same_rows",
            champion.metrics,
            version=champion.ref,
            rows=total,
            test_rows=total,
            in_champion_training=0,
        )
    package = ModelPackage.from_store(store, champion, plugins)
    if package.labels is not None and set(map(str, package.labels)) != set(map(str, labels or [])):
        return recorded(champion, total, "its classes differ from this data's")
    return champion, package


def rescored(
    champion: ModelVersion,
    theirs: dict[str, float],
    mine: dict[str, float] | None,
    kept: int,
    total: int,
    chosen: RowChoice,
) -> Comparison:
    """Both scored on ``kept`` of the ``total`` test rows (``mine``: None when all)."""
    return Comparison(
        chosen.unknown or _honest_note(champion.ref, kept, total, chosen),
        "rescored",
        theirs,
        mine,
        version=champion.ref,
        rows=kept,
        test_rows=total,
        in_champion_training=chosen.in_champion,
    )


def cannot_score(error: object) -> str:
    """Why the recorded metrics are used: the champion's error (or its text) on these rows."""
    return f"it cannot score this data: {error}"


def metric_undefined(error: object) -> str:
    return f"a metric cannot be computed on the rows left: {error}"


def unknown_rows(champion: ModelVersion, total: int) -> str:
    """Why every row is used when the champion recorded no training rows."""
    return (
        f"champion's training rows unknown ({champion.ref} was registered by an "
        f"older specops): compared on all {total:,} test rows"
    )


def unmatched_columns(champion: ModelVersion, missing: list[str], total: int) -> str:
    """Why every row is used when the champion's hashed columns are not all here."""
    return (
        f"champion {champion.ref}'s training rows cannot be matched (column(s) "
        f"{', '.join(missing)} not in this data): compared on all {total:,} test rows"
    )


@dataclass(frozen=True)
class RowChoice:
    """The test rows to compare on and why the others were left out."""

    keep: np.ndarray
    in_champion: int | None = None  # None: the champion's training rows are unknown
    repeats: int = 0  # test rows identical to one the candidate trained on
    unknown: str | None = None  # why every row is used, when it is not known which to leave


def _rows_neither_trained_on(
    store: Store, champion: ModelVersion, candidate: CandidateTest
) -> RowChoice:
    """Leave out test rows the champion trained on, and repeats of the candidate's own."""
    import numpy as np

    total = len(candidate.y_test)
    theirs = load(store, champion.lineage, champion.ref)
    if theirs is None:
        return RowChoice(np.ones(total, dtype=bool), unknown=unknown_rows(champion, total))
    missing = [c for c in theirs.columns if c not in candidate.test_rows.columns]
    if missing:
        return RowChoice(
            np.ones(total, dtype=bool), unknown=unmatched_columns(champion, missing, total)
        )
    same_columns = theirs.columns == candidate.training.columns
    # a blob or a content rule (a version trained on Dask): either tells its rows
    in_champion = in_training(
        theirs, candidate.test_rows, candidate.test_hashes if same_columns else None
    )
    repeats = candidate.training.contains(candidate.test_hashes) & ~in_champion
    return RowChoice(~(in_champion | repeats), int(in_champion.sum()), int(repeats.sum()))


def _too_few(keep: np.ndarray, total: int, candidate: CandidateTest) -> str:
    """Why the rows left cannot stand for the test split, or ''."""
    lacking: list[int] = []
    if candidate.labels is not None:
        import numpy as np

        lacking = sorted(set(np.unique(candidate.y_test)) - set(np.unique(candidate.y_test[keep])))
    return too_few(int(keep.sum()), total, lacking, candidate.labels)


def too_few(kept: int, total: int, lacking: list[int], labels: list[Any] | None) -> str:
    """Why ``kept`` of ``total`` test rows cannot stand for the test split, or ''.
    ``lacking``: class codes of the test split absent from the rows kept."""
    if kept == 0 or (kept < MIN_ROWS and kept < total):
        return (
            f"only {kept:,} of {total:,} test rows neither model trained on "
            f"(at least {MIN_ROWS} needed)"
        )
    if labels is not None and lacking:
        names = ", ".join(str(labels[int(code)]) for code in lacking)
        return (
            f"the {kept:,} of {total:,} test rows neither model trained on "
            f"hold no row of class {names}"
        )
    return ""


def _honest_note(ref: str, kept: int, total: int, chosen: RowChoice) -> str:
    """``champion bc/1 and candidate scored on 412 rows neither trained on (188 ...)``."""
    if kept == total:
        return (
            f"champion {ref} and candidate scored on all {total:,} test rows; "
            "neither trained on any of them"
        )
    why = [f"{chosen.in_champion:,} test rows were in the champion's training data"]
    if chosen.repeats:
        why.append(f"{chosen.repeats:,} repeat rows the candidate trained on")
    return (
        f"champion {ref} and candidate scored on {kept:,} rows neither trained on "
        f"({', '.join(why)})"
    )


def recorded(
    champion: ModelVersion, total: int, why: str, in_champion: int | None = None
) -> Comparison:
    """The champion's metrics from its own registration: on its test split, not these rows."""
    return Comparison(
        f"champion {champion.ref}'s recorded metrics used: {why}",
        "recorded",
        champion.metrics,
        version=champion.ref,
        test_rows=total,
        in_champion_training=in_champion,
    )


def _same_rows(champion: ModelVersion, lineage: dict[str, Any]) -> bool:
    """Same data and the same split: the champion trained on the candidate's training rows."""
    data = champion.lineage.get("data_hash")
    return bool(data) and (
        data == lineage.get("data_hash")
        and champion.lineage.get("split_hash") == lineage.get("split_hash")
    )


def _subset(values: Any, keep: np.ndarray) -> Any:
    return None if values is None else values[keep]
