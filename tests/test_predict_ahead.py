"""`specops predict`'s pipeline: chunks read one ahead on a thread, the runtime loaded while
the first chunk is read, probabilities written without dictionaries, jemalloc for Arrow.

The read-ahead must be invisible in what a user sees: the same rows in the same order,
the same error at the same chunk, nothing written on a failure, no thread left behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from framework.errors import DataError, UserError
from framework.runtimes.native import PackageScorer
from framework.scoring import score_file
from framework.scoring.ahead import read_ahead
from tests.conftest import REPO
from tests.helpers import stored_package
from tests.test_predict import SPEC, make_rows


def ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "specops-read-ahead"]


class Source:
    """A generator that records what was produced, on which thread, and its closing."""

    def __init__(self, items: int | None, fail_at: int | None = None) -> None:
        self.items, self.fail_at = items, fail_at
        self.produced: list[int] = []
        self.closed_on: str | None = None

    def __iter__(self) -> Iterator[int]:
        return self.run()

    def run(self) -> Iterator[int]:
        try:
            number = 0
            while self.items is None or number < self.items:
                if number == self.fail_at:
                    raise ValueError(f"bad chunk {number}")
                self.produced.append(number)
                yield number
                number += 1
        finally:
            self.closed_on = threading.current_thread().name


def test_items_come_out_in_order_and_the_reader_is_closed_on_its_thread() -> None:
    source = Source(25)
    with read_ahead(iter(source)) as items:
        assert list(items) == list(range(25))
    assert source.closed_on == "specops-read-ahead"
    assert ahead_threads() == []


def test_an_error_comes_out_after_every_item_before_it() -> None:
    source = Source(10, fail_at=4)
    seen = []
    with pytest.raises(ValueError, match="bad chunk 4"), read_ahead(iter(source)) as items:
        for item in items:
            seen.append(item)
    assert seen == [0, 1, 2, 3]
    assert ahead_threads() == []


def test_a_consumer_that_stops_stops_the_reader_a_bounded_distance_ahead() -> None:
    source = Source(None)  # endless: only the consumer's leaving ends it
    failing = pytest.raises(RuntimeError, match="scoring failed")
    with failing, read_ahead(iter(source), depth=1) as items:
        for item in items:
            if item == 3:
                assert len(source.produced) <= 3 + 3  # queued, in production, taken
                raise RuntimeError("scoring failed")
    assert source.closed_on == "specops-read-ahead"
    assert len(source.produced) <= 3 + 3
    assert ahead_threads() == []


@pytest.fixture
def package(cli, write_spec) -> Any:
    """``score/1``: LightGBM on numbers and two text categories, trained on 600 rows."""
    spec = write_spec(SPEC)
    make_rows(600).to_csv(spec.parent / "train.csv", index=False)
    result = cli("run", spec)
    assert result.code == 0, result.err
    return stored_package(spec.parent / ".specops", "score")


def rows_file(folder: Path, rows: int = 250, suffix: str = ".parquet") -> tuple[Path, pd.DataFrame]:
    frame = make_rows(rows, seed=7).drop(columns="churned")
    path = folder / f"rows{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False, row_group_size=60)  # several row groups
    return path, frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_scorer_loaded_while_reading_scores_every_row_once_in_order(
    package: Any, tmp_path: Path, suffix: str
) -> None:
    source, frame = rows_file(tmp_path, suffix=suffix)
    calls = []

    def load() -> PackageScorer:
        calls.append(threading.current_thread().name)
        return PackageScorer(package)

    output = tmp_path / "out.parquet"
    result = score_file(package, source, output, chunk_rows=40, load_scorer=load)
    assert calls == [threading.current_thread().name]  # once, here, not on the reader
    assert result.rows == len(frame)
    expected, _ = package.predict(frame)
    out = pd.read_parquet(output)
    assert out["prediction"].tolist() == list(expected.values)
    np.testing.assert_array_equal(out[["proba_no", "proba_yes"]].to_numpy(), expected.proba)
    assert ahead_threads() == []


def test_a_runtime_that_fails_to_load_writes_nothing_and_leaves_no_reader(
    package: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "scoring"
    folder.mkdir()
    source, _ = rows_file(folder)
    output = folder / "out.parquet"

    def load() -> Any:
        raise UserError("no such runtime here")

    with pytest.raises(UserError, match="no such runtime"):
        score_file(package, source, output, chunk_rows=40, load_scorer=load)
    assert [p.name for p in folder.iterdir()] == ["rows.parquet"]  # no output, no partial
    assert ahead_threads() == []


def test_a_bad_value_in_a_late_row_group_names_its_row_and_writes_nothing(
    package: Any, tmp_path: Path
) -> None:
    frame = make_rows(250, seed=7).drop(columns="churned").astype({"x2": str})
    frame.loc[230, "x2"] = "n/a?"  # numbers as text read as numbers, up to this one
    source = tmp_path / "late.parquet"
    frame.to_parquet(source, index=False, row_group_size=60)
    output = tmp_path / "out.parquet"
    with pytest.raises(DataError, match="rows 230") as raised:
        score_file(package, source, output, chunk_rows=40, scorer=PackageScorer(package))
    assert str(source) in raised.value.message
    assert not output.exists()
    assert ahead_threads() == []


def test_probabilities_are_written_without_dictionaries_labels_with_them(
    package: Any, tmp_path: Path
) -> None:
    source, frame = rows_file(tmp_path)
    output = tmp_path / "out.parquet"
    score_file(package, source, output, chunk_rows=100)
    metadata = pq.ParquetFile(output).metadata
    names = metadata.schema.names
    for group in range(metadata.num_row_groups):
        for index, name in enumerate(names):
            encodings = metadata.row_group(group).column(index).encodings
            dictionary = any("DICTIONARY" in e for e in encodings)
            assert dictionary == (name == "prediction"), (name, encodings)
    expected, _ = package.predict(frame)
    out = pd.read_parquet(output)
    assert out["prediction"].tolist() == list(expected.values)
    np.testing.assert_array_equal(out[["proba_no", "proba_yes"]].to_numpy(), expected.proba)


POOL = """
import json, sys
import pyarrow as pa
from framework.scoring.memory import steady_memory_pool
before = pa.default_memory_pool().backend_name
with steady_memory_pool() as set_to:
    inside = pa.default_memory_pool().backend_name
print(json.dumps([set_to, inside, pa.default_memory_pool().backend_name == before]))
"""


def pool_in_child(env_pool: str | None) -> list[Any]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_pool:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_pool
    done = subprocess.run(
        [sys.executable, "-c", POOL], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_predict_reads_with_jemalloc_unless_the_user_chose_a_pool() -> None:
    import pyarrow as pa

    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without it: the default stays
        assert pool_in_child(None)[0] is None
        return
    assert pool_in_child(None) == ["jemalloc", "jemalloc", True]  # and the old one after
    assert pool_in_child("system") == [None, "system", True]
