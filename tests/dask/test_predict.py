"""Batch scoring on the shared LocalCluster: the same predictions as local ``specops
predict`` on the same rows, a partitioned Parquet output written all or nothing, and
never over a directory specops did not write.

The model is trained with the local path (``specops run``) so these tests depend on
nothing but scoring.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framework.errors import DataError, UserError
from plugins.dask_execution.scoring import score_partitioned
from tests.helpers import stored_package
from tests.test_predict import SPEC, make_rows, predict


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding ``score/1`` (binary LightGBM), trained locally on 600 rows."""
    from framework.cli.main import main

    directory = tmp_path_factory.mktemp("dask-predict")
    (directory / "spec.yaml").write_text(SPEC.lstrip())
    make_rows(600).to_csv(directory / "train.csv", index=False)
    assert main(["run", str(directory / "spec.yaml"), "--json"]) == 0
    return directory


@pytest.fixture(scope="module")
def package(trained: Path):
    return stored_package(trained / ".specops", "score")


def partitioned(directory: Path, suffix: str, parts: int = 3, rows: int = 90) -> Path:
    """New rows in ``parts`` files (the target dropped, an extra column added)."""
    frame = make_rows(rows, seed=7).drop(columns="churned")
    frame["note"] = "extra"
    folder = directory / f"new-{suffix}-{parts}"
    folder.mkdir(exist_ok=True)
    for number, rows_of in enumerate(np.array_split(np.arange(rows), parts)):
        chunk = frame.iloc[rows_of]
        path = folder / f"day={number:02d}{suffix}"
        if suffix == ".csv":
            chunk.to_csv(path, index=False)
        else:
            chunk.to_parquet(path, index=False, row_group_size=10)
    return folder


def whole(frame_dir: Path, suffix: str) -> pd.DataFrame:
    files = sorted(frame_dir.glob(f"*{suffix}"))
    if suffix == ".csv":
        return pd.concat([pd.read_csv(f, dtype={"customer_id": str}) for f in files])
    return pd.concat([pd.read_parquet(f) for f in files])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predictions_equal_local_predict_on_the_same_rows(
    cli, dask_client, trained: Path, package, suffix: str
) -> None:
    folder = partitioned(trained, suffix)
    pattern = folder / f"*{suffix}"
    local = trained / f"local{suffix}.parquet"
    result = predict(
        cli, trained, "score", "-i", pattern, "-o", local, "--id-column", "customer_id"
    )
    assert result.code == 0, result.err
    output = trained / f"dask-out-{suffix[1:]}"
    done = score_partitioned(
        dask_client, package, pattern, output, id_column="customer_id", piece_rows=20
    )
    assert done.rows == 90 and done.ignored_columns == ["note"]
    parts = sorted(p.name for p in output.iterdir() if not p.name.startswith("."))
    pieces = 3 if suffix == ".csv" else 6  # Parquet: 30-row files cut at 20 rows: 2 each
    assert parts == [f"part-{n:05d}.parquet" for n in range(pieces)]
    expected = pd.read_parquet(local)
    scored = pd.read_parquet(output)  # pyarrow skips the hidden ownership marker
    pd.testing.assert_frame_equal(scored.reset_index(drop=True), expected, check_exact=True)
    assert scored["customer_id"].tolist() == whole(folder, suffix)["customer_id"].tolist()
    assert not [p for p in trained.iterdir() if p.name.startswith(f".dask-out-{suffix[1:]}")]


def test_unseen_categories_are_counted_as_locally(cli, dask_client, trained: Path, package):
    folder = partitioned(trained, ".parquet", parts=2, rows=40)
    first = folder / "day=01.parquet"
    frame = pd.read_parquet(first)
    frame.loc[frame.index[:3], "color"] = ["purple", "teal", "purple"]
    frame.to_parquet(first, index=False)
    local = predict(cli, trained, "score", "-i", folder, "-o", trained / "u.csv", "--json")
    assert local.code == 0, local.err
    done = score_partitioned(dask_client, package, folder, trained / "unseen-out")
    report = done.to_dict()
    assert report["unseen_categories"] == json.loads(local.out)["unseen_categories"]
    assert report["unseen_categories"]["color"] == {"count": 3, "examples": ["purple", "teal"]}


def test_a_bad_row_in_one_part_leaves_no_output_and_no_temporary_directory(
    dask_client, trained: Path, package
) -> None:
    folder = partitioned(trained, ".csv", parts=4, rows=80)
    broken = pd.read_csv(folder / "day=02.csv", dtype={"customer_id": str})
    broken["x2"] = broken["x2"].astype(object)
    broken.loc[5, "x2"] = "n/a?"
    broken.to_csv(folder / "day=02.csv", index=False)
    output = trained / "failed-out"
    with pytest.raises(DataError) as caught:
        score_partitioned(dask_client, package, folder / "*.csv", output, chunk_rows=7)
    assert f"{folder / 'day=02.csv'}: column 'x2' must be numeric" in caught.value.message
    assert "rows 5" in caught.value.message
    assert not output.exists()
    assert not [p.name for p in trained.iterdir() if p.name.startswith(".failed-out")]


def test_an_earlier_output_is_replaced_whole_and_kept_on_failure(
    dask_client, trained: Path, package
) -> None:
    folder = partitioned(trained, ".parquet", parts=2, rows=40)
    output = trained / "again"
    score_partitioned(dask_client, package, folder, output)
    first = sorted(p.name for p in output.iterdir())
    score_partitioned(dask_client, package, folder / "day=00.parquet", output)  # one part now
    now = sorted(p.name for p in output.iterdir())
    assert now == [".specops-deploy.json", "part-00000.parquet"]
    assert len(pd.read_parquet(output)) == 20 and len(first) == 3
    with pytest.raises(UserError, match="no file matches"):
        score_partitioned(dask_client, package, folder / "*.csv", output)
    assert len(pd.read_parquet(output)) == 20


@pytest.mark.parametrize("kind", ["user folder", "file", "added file"])
def test_a_directory_specops_did_not_write_is_refused_naming_it(
    dask_client, trained: Path, package, kind: str
) -> None:
    folder = partitioned(trained, ".parquet", parts=2, rows=40)
    target = trained / f"precious-{kind.replace(' ', '-')}"
    if kind == "user folder":
        target.mkdir()
        (target / "notes.txt").write_text("keep me")
    elif kind == "file":
        target.write_text("keep me")
    else:
        score_partitioned(dask_client, package, folder, target)
        (target / "notes.txt").write_text("keep me")
    before = sorted(p.name for p in target.iterdir()) if target.is_dir() else None
    with pytest.raises(UserError) as caught:
        score_partitioned(dask_client, package, folder, target)
    assert str(target) in str(caught.value)
    if target.is_dir():
        assert sorted(p.name for p in target.iterdir()) == before
        assert (target / "notes.txt").read_text() == "keep me"
    else:
        assert target.read_text() == "keep me"


def test_the_output_may_not_hold_the_input(dask_client, trained: Path, package) -> None:
    folder = partitioned(trained, ".parquet", parts=2, rows=40)
    with pytest.raises(UserError, match=r"overwrite the input|holds the input"):
        score_partitioned(dask_client, package, folder / "*.parquet", folder)
    with pytest.raises(UserError, match="directory of Parquet parts"):
        score_partitioned(dask_client, package, folder, trained / "out.csv")


def test_specops_predict_on_a_cluster_at_an_address(cli, dask_address, trained: Path) -> None:
    folder = partitioned(trained, ".parquet", parts=2, rows=60)
    local = trained / "cli-local.parquet"
    assert predict(cli, trained, "score", "-i", folder, "-o", local).code == 0
    output = trained / "cli-dask"
    args = ("-i", folder, "-o", output, "--execution", "dask", "--address", dask_address)
    result = predict(cli, trained, "score", *args, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["rows"] == 60 and report["output"] == str(output)
    assert report["ignored_columns"] == ["customer_id", "note"]
    pd.testing.assert_frame_equal(pd.read_parquet(output), pd.read_parquet(local))
    text = predict(cli, trained, "score", *args)  # again: its own output is replaced
    assert text.code == 0, text.err
    assert "scored 60 rows with score/1" in text.out and str(output) in text.out


def test_specops_predict_starts_a_local_cluster_without_an_address(cli, trained: Path) -> None:
    folder = partitioned(trained, ".csv", parts=2, rows=40)
    output = trained / "own-cluster"
    result = predict(
        cli, trained, "score", "-i", folder / "*.csv", "-o", output, "--execution", "dask"
    )
    assert result.code == 0, result.err
    assert "scored 40 rows" in result.out
    assert len(pd.read_parquet(output)) == 40


def test_bad_execution_options_are_exit_2(cli, trained: Path) -> None:
    folder = partitioned(trained, ".parquet", parts=2, rows=40)
    out = trained / "never"
    result = predict(cli, trained, "score", "-i", folder, "-o", out, "--address", "tcp://x:1")
    assert result.code == 2 and "add --execution dask" in result.err
    result = predict(cli, trained, "score", "-i", folder, "-o", out, "--execution", "dusk")
    assert result.code == 2 and "dask" in result.err and "Traceback" not in result.err
    assert not out.exists()


def test_an_unreadable_file_of_the_input_is_named(dask_client, trained: Path, package) -> None:
    folder = partitioned(trained, ".parquet", parts=3, rows=30)
    damaged = folder / "day=01.parquet"
    damaged.write_bytes(b"PAR1 this is not a Parquet file")
    with pytest.raises(DataError) as caught:
        score_partitioned(dask_client, package, folder, trained / "damaged-out")
    assert str(damaged) in str(caught.value)
    assert not (trained / "damaged-out").exists()
