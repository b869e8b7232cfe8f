"""A content rule in a version's lineage tells which rows it may have trained on:
exactly its training rows on its own data, conservatively (never fewer) otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework import training_rows
from framework.errors import StoreError
from framework.execution.rows import (
    ContentRule,
    class_test_counts,
    content_split,
    kth_smallest,
    mix,
)
from framework.store import Store

SEED, TEST_SIZE = 17, 0.3


def _frame(rows: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows).round(3),
            "city": rng.choice(["Paris", "Lyon"], rows),
            "label": rng.choice([0, 1, 2], rows, p=[0.6, 0.3, 0.1]),
        }
    )


COLUMNS = ["x", "city", "label"]


def _stratified_entry(frame: pd.DataFrame) -> tuple[dict[str, Any], np.ndarray]:
    """The rule of a stratified content split (as the Dask split reports it), and the
    split's training mask."""
    hashes = training_rows.row_hashes(frame, COLUMNS)
    train, _ = content_split(hashes, ContentRule(TEST_SIZE, SEED, stratify=True), frame["label"])
    u = mix(hashes, SEED)
    counts = frame["label"].value_counts().to_dict()
    wanted = class_test_counts(counts, TEST_SIZE)
    thresholds = {
        label: kth_smallest(u[frame["label"].to_numpy() == label], k) for label, k in wanted.items()
    }
    entry = training_rows.content_rule(
        columns=COLUMNS,
        seed=SEED,
        test_size=TEST_SIZE,
        stratify=True,
        target="label",
        train_rows=len(train),
        thresholds=thresholds,
    )
    mask = np.zeros(len(frame), dtype=bool)
    mask[train] = True
    return entry, mask


def _loaded(entry: dict[str, Any], tmp_path: Path) -> Any:
    store = Store(tmp_path / ".specops")
    try:
        # through JSON, as the store keeps lineage
        lineage = json.loads(json.dumps({training_rows.LINEAGE_KEY: entry}))
        return training_rows.load(store, lineage, "bc/3")
    finally:
        store.close()


def test_a_stratified_rule_names_exactly_the_training_rows_on_its_own_data(tmp_path: Path) -> None:
    frame = _frame()
    entry, trained = _stratified_entry(frame)
    rule = _loaded(entry, tmp_path)
    assert isinstance(rule, training_rows.ContentRows)
    np.testing.assert_array_equal(training_rows.in_training(rule, frame), trained)


def test_labels_read_back_as_floats_or_text_still_match(tmp_path: Path) -> None:
    frame = _frame()
    entry, trained = _stratified_entry(frame)
    rule = _loaded(entry, tmp_path)
    as_floats = frame.assign(label=frame["label"].astype(float))  # a CSV with a missing label
    hashes = training_rows.row_hashes(frame, COLUMNS)  # row_hashes already equates 1 and 1.0
    np.testing.assert_array_equal(rule.contains(hashes, as_floats["label"].to_numpy()), trained)


def test_without_classes_or_for_an_unseen_class_rows_count_as_trained_on(tmp_path: Path) -> None:
    """Conservative: a row that may have been a training row is left out, never kept."""
    frame = _frame()
    entry, trained = _stratified_entry(frame)
    rule = _loaded(entry, tmp_path)
    hashes = training_rows.row_hashes(frame, COLUMNS)
    without = rule.contains(hashes)
    assert without[trained].all() and without.sum() > trained.sum()
    unseen = rule.contains(hashes, np.full(len(frame), "never seen", dtype=object))
    assert unseen.all()


def test_a_random_rule_and_members_match_a_blob_of_the_same_split(tmp_path: Path) -> None:
    frame = _frame()
    hashes = training_rows.row_hashes(frame, COLUMNS)
    train, test = content_split(hashes, ContentRule(TEST_SIZE, SEED))
    u = mix(hashes, SEED)
    entry = training_rows.content_rule(
        columns=COLUMNS,
        seed=SEED,
        test_size=TEST_SIZE,
        stratify=False,
        target="label",
        train_rows=len(train),
        threshold=int(u[test].max()),
    )
    store = Store(tmp_path / ".specops")
    try:
        blob, _ = training_rows.record(store, training_rows.TrainingRows.of(hashes[train], COLUMNS))
        assert entry["scheme"] == "content-split/1" and "blob" not in entry
        np.testing.assert_array_equal(
            training_rows.members(store, entry, frame), training_rows.members(store, blob, frame)
        )
        training_rows.ensure_stored(store, entry, b"")  # a rule has no blob: nothing to do
    finally:
        store.close()


@pytest.mark.parametrize(
    "damage",
    [
        {"threshold": "not a number"},
        {"threshold": -1},
        {"threshold": 1 << 64},
        {"seed": None},
        {"columns": None},
    ],
)
def test_a_damaged_rule_is_a_store_error_naming_the_version(
    tmp_path: Path, damage: dict[str, Any]
) -> None:
    entry = training_rows.content_rule(
        columns=COLUMNS,
        seed=SEED,
        test_size=TEST_SIZE,
        stratify=False,
        target="label",
        train_rows=10,
        threshold=5,
    )
    with pytest.raises(StoreError, match="training rows of bc/3: the content rule"):
        _loaded({**entry, **damage}, tmp_path)
