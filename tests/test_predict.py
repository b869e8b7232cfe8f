"""`specops predict` and the `batch` deploy target: real runs, then real files scored.

Every comparison is with the in-process ``ModelPackage.predict`` on the same rows,
so a batch is scored exactly as any other prediction.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO
from tests.helpers import stored_package

SPEC = """
name: score
task: binary
seed: 3
data:
  source: {type: csv, params: {path: train.csv}}
  target: churned
  exclude: [customer_id]
model:
  type: lightgbm
  params: {n_estimators: 20, num_leaves: 7, min_child_samples: 5}
gate:
  roc_auc: {min: 0.5}
"""

CODES = np.array(["01", "02", "A1", "B2"])  # half look like numbers: they must stay text
COLORS = np.array(["red", "green", "blue"])


def make_rows(rows: int, seed: int = 0) -> pd.DataFrame:
    """Customers with numeric, text-code and colour features and a yes/no target."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = rng.integers(0, 50, rows)
    code = CODES[rng.integers(0, len(CODES), rows)]
    color = COLORS[rng.integers(0, len(COLORS), rows)]
    logit = 1.5 * x1 - 0.04 * (x2 - 25) + (code == "A1") - 0.8 * (color == "red")
    churned = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "x1": x1.round(4),
            "x2": x2,
            "code": code,
            "color": color,
            "churned": churned,
        }
    )


@pytest.fixture
def trained(cli, write_spec) -> Path:
    """A spec directory whose store holds ``score/1``, trained on 600 rows."""
    spec = write_spec(SPEC)
    make_rows(600).to_csv(spec.parent / "train.csv", index=False)
    result = cli("run", spec)
    assert result.code == 0, result.err
    return spec.parent


def scoring_rows(directory: Path, rows: int = 200, name: str = "new.csv") -> Path:
    """New rows to score, with the target dropped and an extra column added."""
    frame = make_rows(rows, seed=1).drop(columns="churned")
    frame["note"] = "extra"
    path = directory / name
    frame.to_csv(path, index=False)
    return path


def in_process(directory: Path, frame: pd.DataFrame, ref: str = "score") -> tuple:
    """Predictions of the stored version for ``frame``, loaded as any caller would."""
    predictions, _ = stored_package(directory / ".specops", ref).predict(frame)
    return predictions.values, predictions.proba


def predict(cli, directory: Path, *args: str | Path):
    return cli("predict", *args, "--store", directory / ".specops")


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"customer_id": str})
    return pd.read_parquet(path)


def assert_same_predictions(out: pd.DataFrame, expected: tuple) -> None:
    values, proba = expected
    assert out["prediction"].tolist() == list(values)
    np.testing.assert_allclose(out[["proba_no", "proba_yes"]].to_numpy(), proba, rtol=1e-12)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predictions_match_the_in_process_model(cli, trained: Path, suffix: str) -> None:
    source = scoring_rows(trained)
    frame = pd.read_csv(source)
    if suffix == ".parquet":
        source = trained / "new.parquet"
        frame.to_parquet(source, index=False)
    output = trained / f"scored{suffix}"
    result = predict(
        cli, trained, "score", "-i", source, "-o", output, "--id-column", "customer_id"
    )
    assert result.code == 0, result.err
    assert "scored 200 rows with score/1" in result.out
    assert "ignored columns: note" in result.out
    out = read(output)
    assert list(out.columns) == ["customer_id", "prediction", "proba_no", "proba_yes"]
    assert out["customer_id"].tolist() == frame["customer_id"].tolist()
    assert set(out["prediction"]) <= {"no", "yes"}
    np.testing.assert_allclose(out["proba_no"] + out["proba_yes"], 1.0)
    assert_same_predictions(out, in_process(trained, frame))


def test_json_report_names_ignored_columns_and_rows(cli, trained: Path) -> None:
    source = scoring_rows(trained)
    output = trained / "out" / "scored.parquet"  # a new directory is created
    result = predict(cli, trained, "score@champion", "-i", source, "-o", output, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["status"] == "ok" and report["model"] == "score/1"
    assert report["rows"] == 200 and report["rows_per_second"] > 0
    assert report["ignored_columns"] == ["customer_id", "note"]  # no --id-column this time
    assert report["columns"] == ["prediction", "proba_no", "proba_yes"]
    assert output.exists() and not list(output.parent.glob(".*partial"))


def test_chunked_scoring_equals_unchunked(cli, trained: Path) -> None:
    csv = scoring_rows(trained, rows=103)
    parquet = trained / "new.parquet"
    pd.read_csv(csv).to_parquet(parquet, index=False, row_group_size=20)
    runs = {"whole": (csv, 100_000), "csv_chunks": (csv, 7), "parquet_chunks": (parquet, 7)}
    outputs = {}
    for name, (source, chunk_rows) in runs.items():
        outputs[name] = trained / f"{name}.parquet"
        args = ("-i", source, "-o", outputs[name], "--chunk-rows", str(chunk_rows))
        result = predict(cli, trained, "score", *args, "--id-column", "customer_id")
        assert result.code == 0, result.err
    whole = read(outputs["whole"])
    assert len(whole) == 103
    pd.testing.assert_frame_equal(whole, read(outputs["csv_chunks"]))
    pd.testing.assert_frame_equal(whole, read(outputs["parquet_chunks"]))


def test_chunk_dtypes_do_not_depend_on_what_a_chunk_holds(cli, trained: Path) -> None:
    """One chunk's x1 is all empty, another's codes all look like numbers ('01', '02')."""
    frame = make_rows(30, seed=2).drop(columns="churned")
    frame.loc[:9, "x1"] = np.nan
    frame.loc[10:19, "code"] = ["01", "02"] * 5
    source = trained / "odd.csv"
    frame.to_csv(source, index=False)
    output = trained / "odd.csv.out.csv"
    result = predict(cli, trained, "score", "-i", source, "-o", output, "--chunk-rows", "10")
    assert result.code == 0, result.err
    expected = in_process(trained, pd.read_csv(source, dtype={"code": str}))
    assert_same_predictions(read(output), expected)


def test_unseen_category_is_scored_as_missing(cli, trained: Path) -> None:
    frame = make_rows(3, seed=4).drop(columns="churned")
    frame["color"] = ["purple", None, "red"]
    source = trained / "unseen.csv"
    frame.to_csv(source, index=False)
    output = trained / "unseen.parquet"
    result = predict(cli, trained, "score", "-i", source, "-o", output)
    assert result.code == 0, result.err
    out = read(output)
    as_missing = frame.assign(color=[None, None, "red"])
    assert_same_predictions(out, in_process(trained, as_missing))


def test_missing_column_is_exit_2_naming_it_and_the_file(cli, trained: Path) -> None:
    source = trained / "short.csv"
    make_rows(5).drop(columns=["churned", "color"]).to_csv(source, index=False)
    output = trained / "short.out.csv"
    result = predict(cli, trained, "score", "-i", source, "-o", output)
    assert result.code == 2
    assert "missing column(s) the model needs: color" in result.err
    assert str(source) in result.err and "Traceback" not in result.err
    assert not output.exists()


def test_impossible_values_are_exit_2_naming_column_value_and_row(cli, trained: Path) -> None:
    frame = make_rows(5).drop(columns="churned").astype({"x2": object})
    frame.loc[3, "x2"] = "lots"
    source = trained / "bad.csv"
    frame.to_csv(source, index=False)
    result = predict(cli, trained, "score", "-i", source, "-o", trained / "bad.out.csv")
    assert result.code == 2
    assert f"{source}: column 'x2' must be numeric" in result.err
    assert "'lots' (rows 3)" in result.err and "line N + 2" in result.err


def test_dates_where_numbers_are_needed_are_exit_2(cli, trained: Path) -> None:
    frame = make_rows(5).drop(columns="churned")
    frame["x1"] = pd.date_range("2024-01-01", periods=5)
    source = trained / "dates.parquet"
    frame.to_parquet(source, index=False)
    result = predict(cli, trained, "score", "-i", source, "-o", trained / "dates.out.csv")
    assert result.code == 2
    assert f"{source}: column 'x1' must be numeric but holds dates or times" in result.err


def test_failure_late_in_the_file_leaves_no_output(cli, trained: Path) -> None:
    frame = make_rows(100).drop(columns="churned").astype({"x2": object})
    frame.loc[95, "x2"] = "n/a?"
    source = trained / "late.csv"
    frame.to_csv(source, index=False)
    output = trained / "late.parquet"
    result = predict(cli, trained, "score", "-i", source, "-o", output, "--chunk-rows", "10")
    assert result.code == 2 and "rows 95" in result.err
    assert not output.exists()
    assert not [p.name for p in trained.iterdir() if p.name.startswith(".late")]
    output.write_text("the previous output")  # an existing output is left as it was
    assert (
        predict(cli, trained, "score", "-i", source, "-o", output, "--chunk-rows", "10").code == 2
    )
    assert output.read_text() == "the previous output"


def test_unknown_reference_lists_what_exists(cli, trained: Path) -> None:
    source = scoring_rows(trained)
    result = predict(cli, trained, "score/9", "-i", source, "-o", trained / "x.csv")
    assert result.code == 2 and "has no version 9; versions: 1" in result.err
    result = predict(cli, trained, "scroe", "-i", source, "-o", trained / "x.csv")
    assert result.code == 2 and "did you mean 'score'" in result.err


def test_bad_file_names_are_exit_2(cli, trained: Path) -> None:
    source = scoring_rows(trained)
    result = predict(cli, trained, "score", "-i", source, "-o", trained / "out.xlsx")
    assert result.code == 2 and "cannot tell the format of output" in result.err
    result = predict(cli, trained, "score", "-i", trained / "nope.csv", "-o", trained / "o.csv")
    assert result.code == 2 and "input not found" in result.err
    result = predict(
        cli, trained, "score", "-i", source, "-o", trained / "o.csv", "--id-column", "cust_id"
    )
    assert result.code == 2 and "no id column 'cust_id'; did you mean 'customer_id'" in result.err


def test_the_input_under_another_name_is_never_the_output(cli, trained: Path) -> None:
    """Through a bind mount (or another case of the name on a case-insensitive file
    system) the input's path does not resolve to the output's: the rename at the end
    replaced the input with its own predictions."""
    data = trained / "data"
    data.mkdir()
    source = scoring_rows(data)
    before = source.read_bytes()
    alias = trained / "alias"
    alias.mkdir()
    bound = subprocess.run(["mount", "--bind", str(data), str(alias)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        result = predict(cli, trained, "score", "-i", source, "-o", alias / source.name)
    finally:
        subprocess.run(["umount", "--lazy", str(alias)], check=True)
    assert result.code == 2, result.err
    assert f"the output would overwrite the input {source}" in result.err
    assert source.read_bytes() == before


def test_outputs_that_would_clash_are_exit_2_and_write_nothing(cli, trained: Path) -> None:
    source = scoring_rows(trained)
    before = source.read_bytes()
    result = predict(cli, trained, "score", "-i", source, "-o", source)
    assert result.code == 2 and f"the output would overwrite the input {source}" in result.err
    assert source.read_bytes() == before

    frame = pd.read_csv(source)
    frame["prediction"] = "an earlier score"
    frame.to_csv(source, index=False)
    output = trained / "o.csv"
    clash = predict(cli, trained, "score", "-i", source, "-o", output, "--id-column", "prediction")
    assert clash.code == 2 and not output.exists()
    assert (
        "the id column 'prediction' has the name of an output column; "
        "outputs: prediction, proba_no, proba_yes"
    ) in clash.err


def test_a_chunk_size_below_1_is_refused_by_the_parser(cli, trained: Path, capsys) -> None:
    source = scoring_rows(trained)
    with pytest.raises(SystemExit) as exit_info:
        predict(cli, trained, "score", "-i", source, "-o", trained / "o.csv", "--chunk-rows", "0")
    assert exit_info.value.code == 2
    assert "expected a whole number >= 1, got '0'" in capsys.readouterr().err
    assert not (trained / "o.csv").exists()


def test_multiclass_has_one_probability_per_label(cli, write_spec) -> None:
    spec = write_spec(
        """
        name: iris
        task: multiclass
        data:
          source: {type: csv, params: {path: iris.csv}}
          target: species
        model: {type: lightgbm, params: {n_estimators: 10, min_child_samples: 5}}
        gate: {accuracy: {min: 0.5}}
        """
    )
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.data.assign(species=iris.target_names[iris.target])
    frame.to_csv(spec.parent / "iris.csv", index=False)
    assert cli("run", spec).code == 0
    output = spec.parent / "iris.out.csv"
    result = predict(cli, spec.parent, "iris", "-i", spec.parent / "iris.csv", "-o", output)
    assert result.code == 0, result.err
    out = read(output)
    names = [f"proba_{label}" for label in iris.target_names]
    assert list(out.columns) == ["prediction", *names]
    np.testing.assert_allclose(out[names].sum(axis=1), 1.0)
    values, proba = in_process(spec.parent, frame, "iris")
    assert out["prediction"].tolist() == list(values)
    np.testing.assert_allclose(out[names].to_numpy(), proba, rtol=1e-12)


def test_batch_deploy_target_scores_during_the_run(cli, write_spec) -> None:
    deploy = """
    deploy:
      - {type: registry}
      - type: batch
        params: {input: data/new.csv, output: out/scored.parquet, id_column: customer_id}
    """
    spec = write_spec(SPEC + textwrap.dedent(deploy))
    make_rows(600).to_csv(spec.parent / "train.csv", index=False)
    (spec.parent / "data").mkdir()
    invalid = cli("validate", spec, "--set", "deploy.1.params.output=out/scored.xlsx")
    assert invalid.code == 2 and "batch input not found" in invalid.err
    assert "batch output must end in .csv, .parquet, .pq" in invalid.err
    source = scoring_rows(spec.parent / "data")
    result = cli("run", spec, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    batch = [s for s in report["steps"] if s["name"] == "deploy" and s["component"] == "batch"]
    assert "scored 200 rows with score/1" in batch[0]["detail"]
    out = read(spec.parent / "out" / "scored.parquet")
    assert out["customer_id"].tolist() == pd.read_csv(source)["customer_id"].tolist()
    assert_same_predictions(out, in_process(spec.parent, pd.read_csv(source)))


MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_kb(directory: Path, source: Path, chunk_rows: int) -> int:
    """Peak RSS of a `specops predict` process: the only child of a fresh wrapper."""
    command = [sys.executable, "-m", "framework.cli.main", "predict", "score"]
    command += ["-i", str(source), "-o", str(directory / "peak.parquet")]
    command += ["--store", str(directory / ".specops"), "--chunk-rows", str(chunk_rows)]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=True,
    )
    return int(done.stdout.strip())


def wide_rows(rows: int) -> pd.DataFrame:
    """Scoring rows padded with 12 extra numeric columns, so size shows in memory."""
    frame = make_rows(rows, seed=5).drop(columns="churned")
    rng = np.random.default_rng(6)
    padding = pd.DataFrame(rng.normal(size=(rows, 12)), columns=[f"pad{i}" for i in range(12)])
    return pd.concat([frame, padding], axis=1)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_memory_does_not_grow_with_the_file(trained: Path, suffix: str) -> None:
    """Peak RSS scoring 800k rows is close to scoring 200k rows: the file is streamed."""
    peaks = []
    for rows in (200_000, 800_000):
        source = trained / f"rows_{rows}{suffix}"
        frame = wide_rows(rows)
        if suffix == ".csv":
            frame.to_csv(source, index=False)
        else:
            frame.to_parquet(source, index=False, row_group_size=20_000)
        del frame
        peaks.append(peak_rss_kb(trained, source, chunk_rows=10_000))
        source.unlink()
    small, large = peaks
    assert large < 1.3 * small, f"peak RSS {small} kB at 200k rows, {large} kB at 800k rows"


# ---------------------------------------------------------------------------
# the rules every scoring path shares (docs/serving.md): extra columns, booleans,
# unseen categories; and a rejected version is named before it is used
# ---------------------------------------------------------------------------


def test_strict_columns_refuses_extra_columns_and_writes_nothing(cli, trained: Path) -> None:
    source = scoring_rows(trained)
    output = trained / "scored.csv"
    args = ("score", "-i", source, "-o", output, "--strict-columns")
    result = predict(cli, trained, *args)
    assert result.code == 2, result.out
    assert "column(s) the model does not take: customer_id, note" in result.err
    assert "Traceback" not in result.err and not output.exists()
    result = predict(cli, trained, *args, "--id-column", "customer_id")
    assert result.code == 2 and "does not take: note;" in result.err
    clean = trained / "clean.csv"
    pd.read_csv(source).drop(columns="note").to_csv(clean, index=False)
    result = predict(cli, trained, "score", "-i", clean, "-o", output, "--strict-columns",
                     "--id-column", "customer_id")  # fmt: skip
    assert result.code == 0, result.err
    assert "ignored" not in result.out


def test_unseen_categories_are_counted_per_column(cli, trained: Path) -> None:
    frame = make_rows(50, seed=4).drop(columns="churned")
    frame.loc[:6, "code"] = "Z9"
    frame.loc[7:8, "code"] = "Q1"
    frame.loc[:2, "color"] = "purple"
    source = trained / "unseen.csv"
    frame.to_csv(source, index=False)
    output = trained / "scored.csv"
    args = ("score", "-i", source, "-o", output, "--id-column", "customer_id", "--chunk-rows", "4")
    result = predict(cli, trained, *args)
    assert result.code == 0, result.err
    assert "unseen categories, scored as missing: code 9 (e.g. 'Z9', 'Q1'); color 3" in result.out
    report = json.loads(predict(cli, trained, *args, "--json").out)
    assert report["unseen_categories"] == {
        "code": {"count": 9, "examples": ["Z9", "Q1"]},
        "color": {"count": 3, "examples": ["purple"]},
    }
    assert_same_predictions(read(output), in_process(trained, frame))
    clean = predict(cli, trained, "score", "-i", scoring_rows(trained), "-o", output, "--json")
    assert json.loads(clean.out)["unseen_categories"] == {}


def test_true_and_false_in_a_number_column_are_one_and_zero(cli, trained: Path) -> None:
    frame = make_rows(20, seed=5).drop(columns="churned")
    frame["x2"] = [1, 0, 0, 1] * 5
    words = frame.assign(x2=["true", "0", "FALSE", "1"] * 5)  # words among numbers
    numbers, flags = trained / "numbers.csv", trained / "flags.csv"
    frame.to_csv(numbers, index=False)
    words.to_csv(flags, index=False)
    for source in (numbers, flags):
        output = source.with_name(f"scored-{source.name}")
        result = predict(cli, trained, "score", "-i", source, "-o", output)
        assert result.code == 0, result.err
    assert read(trained / "scored-flags.csv").equals(read(trained / "scored-numbers.csv"))
    assert_same_predictions(read(trained / "scored-flags.csv"), in_process(trained, frame))


def test_scoring_with_a_rejected_version_warns_and_says_why(cli, trained: Path) -> None:
    spec = trained / "spec.yaml"
    rejected = cli("run", spec, "--set", "gate.roc_auc.min=0.9999")
    assert rejected.code == 1, rejected.err
    source = scoring_rows(trained)
    output = trained / "scored.csv"
    result = predict(cli, trained, "score/2", "-i", source, "-o", output)
    assert result.code == 0, result.err
    assert "warning: score/2 was rejected by the gate" in result.err
    assert "roc_auc" in result.err  # the gate's reason
    report = json.loads(predict(cli, trained, "score/2", "-i", source, "-o", output, "--json").out)
    assert len(report["warnings"]) == 1 and "score/2 was rejected" in report["warnings"][0]
    champion = predict(cli, trained, "score", "-i", source, "-o", output, "--json")
    assert json.loads(champion.out)["warnings"] == [] and "warning" not in champion.err


def split_files(frame: pd.DataFrame, folder: Path, suffix: str, parts: int = 3) -> list[Path]:
    """``frame`` written as ``parts`` files of ``folder`` (row order kept, by file name)."""
    folder.mkdir(exist_ok=True)
    files = []
    for number, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        files.append(folder / f"day={number:02d}{suffix}")
        if suffix == ".csv":
            frame.iloc[rows].to_csv(files[-1], index=False)
        else:
            frame.iloc[rows].to_parquet(files[-1], index=False, row_group_size=7)
    return files


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_glob_or_directory_scores_like_the_whole_file(cli, trained: Path, suffix: str) -> None:
    source = scoring_rows(trained, rows=101)
    frame = pd.read_csv(source, dtype={"customer_id": str})
    split_files(frame, trained / "parts", suffix)
    inputs = [trained / "parts" / f"*{suffix}"] + ([trained / "parts"] if suffix != ".csv" else [])
    whole = trained / "whole.parquet"
    args = ("--id-column", "customer_id", "--chunk-rows", "10")
    assert predict(cli, trained, "score", "-i", source, "-o", whole, *args).code == 0
    for number, partitioned in enumerate(inputs):
        output = trained / f"parts-{number}.parquet"
        result = predict(cli, trained, "score", "-i", partitioned, "-o", output, *args, "--json")
        assert result.code == 0, result.err
        report = json.loads(result.out)
        assert report["rows"] == 101 and report["ignored_columns"] == ["note"]
        pd.testing.assert_frame_equal(read(output), read(whole))


def test_a_bad_row_in_one_file_of_a_glob_names_that_file_and_row(cli, trained: Path) -> None:
    frame = make_rows(30, seed=5).drop(columns="churned").astype({"x2": object})
    frame.loc[24, "x2"] = "lots"  # the third file's row 4 (line 6)
    files = split_files(frame, trained / "bad-parts", ".csv")
    output = trained / "bad-parts.parquet"
    result = predict(cli, trained, "score", "-i", trained / "bad-parts" / "*.csv", "-o", output)
    assert result.code == 2
    assert f"{files[2]}: column 'x2' must be numeric" in result.err
    assert "(rows 4)" in result.err and "line N + 2" in result.err
    assert not output.exists()


def test_every_file_of_a_glob_must_hold_the_model_columns(cli, trained: Path) -> None:
    frame = make_rows(30, seed=6).drop(columns="churned")
    files = split_files(frame, trained / "short-parts", ".parquet")
    frame.iloc[:3].drop(columns="color").to_parquet(files[1], index=False)
    output = trained / "short.csv"
    result = predict(cli, trained, "score", "-i", trained / "short-parts", "-o", output)
    assert result.code == 2
    assert f"{files[1]}: missing column(s) the model needs: color" in result.err
    assert not output.exists()


def test_partitioned_inputs_that_cannot_be_read_are_exit_2(cli, trained: Path) -> None:
    folder = trained / "mixed"
    files = split_files(make_rows(20).drop(columns="churned"), folder, ".csv", parts=2)
    make_rows(5).to_parquet(folder / "z.parquet")
    cases = {
        folder / "*": "matches both CSV and Parquet files",
        folder / "*.tsv": "no file matches",
        folder / "*.csv": "the output would overwrite the input",
    }
    for pattern, message in cases.items():
        output = files[0] if message.startswith("the output") else trained / "never.csv"
        result = predict(cli, trained, "score", "-i", pattern, "-o", output)
        assert result.code == 2 and message in result.err, result.err
    assert not (trained / "never.csv").exists()


def test_batch_deploy_target_scores_a_glob_of_files(cli, write_spec) -> None:
    deploy = """
    deploy:
      - type: batch
        params: {input: "data/day=*.csv", output: out/scored.csv, id_column: customer_id}
    """
    spec = write_spec(SPEC + textwrap.dedent(deploy))
    make_rows(600).to_csv(spec.parent / "train.csv", index=False)
    invalid = cli("validate", spec)
    assert invalid.code == 2 and "batch input matches no file" in invalid.err
    frame = make_rows(50, seed=8).drop(columns="churned")
    split_files(frame, spec.parent / "data", ".csv")
    result = cli("run", spec, "--json")
    assert result.code == 0, result.err
    out = read(spec.parent / "out" / "scored.csv")
    assert out["customer_id"].tolist() == frame["customer_id"].tolist()
    assert_same_predictions(out, in_process(spec.parent, frame, "score/1"))


def test_batch_target_writing_into_its_own_input_is_refused_at_validate(cli, write_spec) -> None:
    """An output the input's glob would read again is refused before anything trains
    (not at deploy, after the version was registered)."""
    deploy = """
    deploy:
      - type: batch
        params: {input: "data/*.csv", output: data/scored.csv}
    """
    spec = write_spec(SPEC + textwrap.dedent(deploy))
    make_rows(600).to_csv(spec.parent / "train.csv", index=False)
    split_files(make_rows(50, seed=8).drop(columns="churned"), spec.parent / "data", ".csv")
    result = cli("validate", spec)
    assert result.code == 2
    assert "is matched by the input pattern" in result.err
    assert "deploy.0.params.output" in result.err or "deploy[0]" in result.err


def test_an_output_writer_aborted_before_its_first_chunk_deletes_nothing(tmp_path: Path) -> None:
    """abort() removes only the partial file its writer created: before the first chunk
    there is none, and a file of that name (however it got there) is left alone."""
    from framework.scoring.outputs import ChunkWriter

    writer = ChunkWriter(tmp_path / "scored.csv")
    writer.partial.write_text("not specops'")
    writer.abort()
    assert writer.partial.read_text() == "not specops'"
    assert not (tmp_path / "scored.csv").exists()
