"""Batch scoring through a runtime's scorer: each chunk checked as ``package.predict``
checks it, handed over as raw columns, and written exactly as the native path writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework.errors import DataError
from framework.runtimes.native import PackageScorer
from framework.scoring import score_file
from tests.helpers import stored_package
from tests.test_predict import SPEC, make_rows


class Recording:
    """A real scorer (the package's own, through a DataFrame) that keeps what it was handed."""

    def __init__(self, package: Any) -> None:
        self.inner = PackageScorer(package)
        self.chunks: list[tuple[dict[str, np.ndarray], int]] = []

    def predict(self, columns: Any, rows: int) -> Any:
        self.chunks.append((dict(columns), rows))
        return self.inner.predict(columns, rows)


@pytest.fixture
def package(cli, write_spec) -> Any:
    """``score/1``: LightGBM on numbers and two text categories, trained on 600 rows."""
    spec = write_spec(SPEC)
    make_rows(600).to_csv(spec.parent / "train.csv", index=False)
    result = cli("run", spec)
    assert result.code == 0, result.err
    return stored_package(spec.parent / ".specops", "score")


def scoring_file(folder: Path, suffix: str) -> tuple[Path, pd.DataFrame]:
    """Rows with a missing number, a missing and an unseen category, and an extra column."""
    frame = make_rows(120, seed=5).drop(columns="churned")
    frame.loc[3, "x1"] = np.nan
    frame.loc[4, "color"] = None
    frame.loc[5, "color"] = "purple"  # never seen in training
    frame["note"] = "extra"
    path = folder / f"rows{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path, frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_scorer_writes_what_the_native_path_writes(
    package: Any, tmp_path: Path, suffix: str
) -> None:
    source, _ = scoring_file(tmp_path, suffix)
    native = score_file(package, source, tmp_path / "native.parquet", chunk_rows=50)
    scorer = Recording(package)
    compiled = score_file(
        package, source, tmp_path / "compiled.parquet", chunk_rows=50, scorer=scorer
    )

    assert compiled.rows == native.rows == 120
    assert [rows for _, rows in scorer.chunks] == [50, 50, 20]
    assert compiled.ignored_columns == native.ignored_columns == ["customer_id", "note"]
    assert compiled.unseen_categories["color"].examples == ["purple"]
    expected = pd.read_parquet(tmp_path / "native.parquet")
    assert pd.read_parquet(tmp_path / "compiled.parquet").equals(expected)


def test_raw_columns_are_floats_and_category_values_with_none(package: Any, tmp_path: Path) -> None:
    source, frame = scoring_file(tmp_path, ".parquet")
    scorer = Recording(package)
    score_file(package, source, tmp_path / "out.csv", chunk_rows=1000, scorer=scorer)

    ((columns, rows),) = scorer.chunks
    assert rows == 120 and sorted(columns) == ["code", "color", "x1", "x2"]
    assert columns["x1"].dtype == np.float64 and np.isnan(columns["x1"][3])
    assert columns["x2"].dtype == np.float64
    np.testing.assert_array_equal(columns["x2"], frame["x2"].to_numpy(np.float64))
    color = columns["color"]
    assert color.dtype == object
    assert color[4] is None and color[5] is None  # missing, and unseen (scored as missing)
    assert list(color[6:]) == frame["color"].iloc[6:].tolist()
    assert all(type(value) is str for value in columns["code"])  # "01" stays text


def test_bad_values_are_refused_by_name_before_the_scorer_sees_them(
    package: Any, tmp_path: Path
) -> None:
    frame = make_rows(10, seed=6).drop(columns="churned").astype({"x2": object})
    frame.loc[7, "x2"] = "lots"
    source = tmp_path / "bad.csv"
    frame.to_csv(source, index=False)
    scorer = Recording(package)

    with pytest.raises(DataError, match=r"x2.*'lots'.*rows 7") as caught:
        score_file(package, source, tmp_path / "out.parquet", scorer=scorer)

    assert str(source) in caught.value.message
    assert scorer.chunks == []
    assert not (tmp_path / "out.parquet").exists()
