"""``specops predict --output`` may not land inside its input or inside the store, on
either executor, and relative paths work with a cluster whose workers have another
working directory (RED F5)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from framework.errors import UserError
from plugins.dask_execution.scoring import score_partitioned
from tests.helpers import stored_package
from tests.test_predict import SPEC, make_rows, predict

DASK = ("--execution", "dask", "--address")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding ``score/1`` (binary LightGBM), trained locally on 600 rows."""
    from framework.cli.main import main

    directory = tmp_path_factory.mktemp("fix2-predict")
    (directory / "spec.yaml").write_text(SPEC.lstrip())
    make_rows(600).to_csv(directory / "train.csv", index=False)
    assert main(["run", str(directory / "spec.yaml"), "--json"]) == 0
    return directory


def partitioned(tmp_path: Path, rows: int = 40) -> Path:
    """New rows as two Parquet files in a folder of this test's own."""
    folder = tmp_path / "input"
    folder.mkdir()
    frame = make_rows(rows, seed=5).drop(columns="churned")
    half = rows // 2
    frame.iloc[:half].to_parquet(folder / "part-0.parquet", index=False)
    frame.iloc[half:].to_parquet(folder / "part-1.parquet", index=False)
    return folder


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_an_output_inside_the_input_directory_is_refused_naming_both(
    cli,
    dask_address,
    trained: Path,
    tmp_path: Path,
    executor: str,
) -> None:
    folder = partitioned(tmp_path, rows=40)
    before = listing(folder)
    output = folder / ("scored.parquet" if executor == "local" else "scored")
    extra = () if executor == "local" else (*DASK, dask_address)
    result = predict(cli, trained, "score", "-i", folder, "-o", output, *extra)
    assert result.code == 2, result.err
    assert "inside the input" in result.err
    assert str(output) in result.err and str(folder) in result.err
    assert "Traceback" not in result.err
    assert listing(folder) == before  # nothing written into the input


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_an_output_a_glob_input_would_read_again_is_refused(
    cli,
    dask_address,
    trained: Path,
    tmp_path: Path,
    executor: str,
) -> None:
    folder = partitioned(tmp_path, rows=40)
    pattern = folder / "*.parquet"
    output = folder / "scored.parquet"
    extra = () if executor == "local" else (*DASK, dask_address)
    result = predict(cli, trained, "score", "-i", pattern, "-o", output, *extra)
    assert result.code == 2, result.err
    assert str(output) in result.err and str(pattern) in result.err
    assert not output.exists()
    beside = tmp_path / "beside.parquet"  # outside the pattern: fine
    assert predict(cli, trained, "score", "-i", pattern, "-o", beside, *extra).code == 0


@pytest.mark.parametrize("executor", ["local", "dask"])
@pytest.mark.parametrize("inside", ["live", "artifacts/out", "newdir", ""])
def test_an_output_in_the_store_is_refused_and_the_store_is_left_alone(
    cli,
    dask_address,
    trained: Path,
    tmp_path: Path,
    executor: str,
    inside: str,
) -> None:
    folder = partitioned(tmp_path, rows=40)
    store = trained / ".specops"
    (store / "live").mkdir(exist_ok=True)
    before = listing(store)
    output = store / inside if inside else store
    if executor == "local":
        output, extra = output / "scored.parquet", ()
    else:
        extra = (*DASK, dask_address)
    result = predict(cli, trained, "score", "-i", folder, "-o", output, *extra)
    assert result.code == 2, result.err
    assert "the store" in result.err
    assert str(output) in result.err and str(store) in result.err
    assert listing(store) == before


def test_an_output_holding_the_store_is_refused(dask_client, trained: Path, tmp_path) -> None:
    package = stored_package(trained / ".specops", "score")
    folder = partitioned(tmp_path, rows=40)
    store = tmp_path / "project" / ".specops"
    store.mkdir(parents=True)
    with pytest.raises(UserError, match="holds the store") as caught:
        score_partitioned(dask_client, package, folder, tmp_path / "project", store=store)
    assert str(store) in str(caught.value)


def test_relative_paths_reach_workers_with_another_working_directory(
    cli,
    dask_address,
    trained: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = partitioned(tmp_path, rows=60)
    monkeypatch.chdir(tmp_path)  # the cluster's workers keep the directory they started in
    args = ("-i", folder.name, "-o", "scored-relative", *DASK, dask_address)
    result = predict(cli, trained, "score", *args)
    assert result.code == 0, result.err
    assert len(pd.read_parquet(tmp_path / "scored-relative")) == 60


def test_predict_says_predict_when_it_refuses_a_folder(
    cli,
    dask_address,
    trained: Path,
    tmp_path: Path,
) -> None:
    folder = partitioned(tmp_path, rows=40)
    target = tmp_path / "users-folder"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    result = predict(cli, trained, "score", "-i", folder, "-o", target, *DASK, dask_address)
    assert result.code == 2, result.err
    assert "predict only replaces a directory it wrote itself" in result.err
    assert "a deploy only" not in result.err
    assert (target / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "pattern, output",
    [
        ("input/../input/*.parquet", "input/scored.parquet"),  # spelt with ..
        ("input/**/*.parquet", "input/deeper/scored.parquet"),  # ** across folders
    ],
)
def test_a_glob_spelt_otherwise_still_sees_the_output(
    trained: Path, tmp_path: Path, pattern: str, output: str
) -> None:
    from framework.scoring import score_file

    partitioned(tmp_path)
    package = stored_package(trained / ".specops", "score")
    with pytest.raises(UserError, match="inside the input"):
        score_file(package, tmp_path / pattern, tmp_path / output)
    assert not (tmp_path / output).exists()
