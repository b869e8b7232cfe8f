"""Bad data and a damaged store: a clear message, exit 2, no traceback, nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import store_rows

CSV_SPEC = """
name: tiny
task: binary
data:
  source: {type: csv, params: {path: data.csv}}
  target: label
model:
  type: lightgbm
  params: {n_estimators: 5, min_child_samples: 1}
"""


def make_csv(directory: Path, rows: list[str], header: str = "age,city,label") -> None:
    (directory / "data.csv").write_text("\n".join([header, *rows]) + "\n")


GOOD_ROWS = [f"{20 + i},{'ab'[i % 2]},{i % 2}" for i in range(40)]


def snapshot(directory: Path) -> dict[str, list[tuple]]:
    """Everything the store says about models: must not change on bad input."""
    store = directory / ".specops"
    if not (store / "store.db").exists():
        return {}
    return {
        table: store_rows(store, f"SELECT * FROM {table} ORDER BY 1, 2")
        for table in ("model_versions", "aliases", "alias_history")
    }


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (
            GOOD_ROWS,
            "age,city,lable",
            "target column 'label' is not in the data; did you mean 'lable'?",
        ),
        ([], "age,city,label", "has no rows"),
        ([f"{i},a,1" for i in range(30)], "age,city,label", "has a single class (1)"),
        (
            [*GOOD_ROWS[:30], "abc,a,1", *GOOD_ROWS[30:]],
            "age,city,label",
            "column 'age' looks numeric",
        ),
        (
            [*GOOD_ROWS, "33,a,"],
            "age,city,label",
            "target 'label' has 1 missing value(s) (rows 40)",
        ),
        (
            [f"{i},a,{i % 3}" for i in range(30)],
            "age,city,label",
            "has 3 classes but the task is binary",
        ),
    ],
    ids=["target-missing", "empty", "one-class", "text-in-numeric", "target-nan", "three-classes"],
)
def test_bad_data_is_exit_2_with_a_message(cli, write_spec, rows, header, message) -> None:
    spec = write_spec(CSV_SPEC)
    make_csv(spec.parent, GOOD_ROWS)
    assert cli("run", spec).code == 0  # a champion exists before the bad data arrives
    before = snapshot(spec.parent)
    make_csv(spec.parent, rows, header)
    result = cli("run", spec)
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err
    assert snapshot(spec.parent) == before


def test_text_in_numeric_column_names_the_value_and_row(cli, write_spec) -> None:
    spec = write_spec(CSV_SPEC)
    make_csv(spec.parent, [*GOOD_ROWS[:30], "abc,a,1", *GOOD_ROWS[30:]])
    result = cli("run", spec)
    assert result.code == 2
    assert "1 non-numeric value(s): 'abc' (rows 30)" in result.err
    assert "hint: fix the data, or declare the column categorical in data.features" in result.err


def test_declared_numeric_column_with_text(cli, write_spec) -> None:
    declared = CSV_SPEC.replace(
        "  target: label\n", "  target: label\n  features: {age: numeric, city: categorical}\n"
    )
    spec = write_spec(declared)
    make_csv(spec.parent, [*GOOD_ROWS, "old,a,1"])
    result = cli("run", spec)
    assert result.code == 2
    assert "column 'age' is declared numeric but has 1 non-numeric value(s): 'old'" in result.err


def test_missing_file_at_run_time_is_exit_2_before_the_store_is_touched(cli, write_spec) -> None:
    spec = write_spec(CSV_SPEC)
    result = cli("run", spec)
    assert result.code == 2
    assert "data.csv" in result.err and "not found" in result.err
    assert not (spec.parent / ".specops").exists()


def test_corrupt_champion_artifact_is_refused_and_nothing_changes(cli, bc_spec: Path) -> None:
    assert cli("run", bc_spec).code == 0
    directory = bc_spec.parent
    before = snapshot(directory)
    files = json.loads(
        store_rows(directory / ".specops", "SELECT files_json FROM model_versions")[0][0]
    )
    digest = files["model/model.txt"]
    model_blob = directory / ".specops" / "artifacts" / digest[:2] / digest[2:]
    original = model_blob.read_bytes()
    model_blob.write_bytes(original[: len(original) // 2])  # truncated
    result = cli("run", bc_spec)
    assert result.code == 2
    assert "is corrupt" in result.err and "refusing to load it" in result.err
    assert "of bc/1" in result.err
    assert snapshot(directory) == before
    model_blob.write_bytes(original.replace(b"tree", b"tref", 1))  # tampered, same size
    result = cli("run", bc_spec)
    assert result.code == 2 and "is corrupt" in result.err
    assert snapshot(directory) == before


def test_bad_input_never_prints_a_traceback_but_debug_does(cli_process, write_spec) -> None:
    spec = write_spec(CSV_SPEC)
    make_csv(spec.parent, GOOD_ROWS, "age,city,lable")
    plain = cli_process("run", spec)
    assert plain.code == 2
    assert "Traceback" not in plain.err and "target column 'label' is not in the data" in plain.err
    debug = cli_process("run", spec, "--debug")
    assert debug.code == 2 and "Traceback" in debug.err


def test_json_callers_get_the_error_on_stdout(cli, write_spec) -> None:
    import json

    spec = write_spec(CSV_SPEC)
    make_csv(spec.parent, GOOD_ROWS, "age,city,lable")
    result = cli("run", spec, "--json")
    assert result.code == 2
    report = json.loads(result.out)
    assert report["status"] == "error" and report["exit_code"] == 2
    assert report["column"] == "label" and "did you mean 'lable'" in report["error"]


def test_declared_boolean_reads_yes_no_and_refuses_other_words(cli, write_spec) -> None:
    declared = CSV_SPEC.replace(
        "  target: label\n", "  target: label\n  features: {age: numeric, city: boolean}\n"
    )
    spec = write_spec(declared)
    rows = [f"{20 + i},{'yes' if i % 3 else 'no'},{i % 2}" for i in range(40)]
    make_csv(spec.parent, rows)
    assert cli("run", spec).code == 0
    make_csv(spec.parent, [*rows, "33,maybe,1"])
    result = cli("run", spec)
    assert result.code == 2
    assert "column 'city' is declared boolean but has 1 other value(s): 'maybe'" in result.err


def test_a_datetime_feature_is_refused_with_a_hint(cli, write_spec) -> None:
    declared = CSV_SPEC.replace(
        "{path: data.csv}", "{path: data.csv, parse_dates: [city]}"
    ).replace("  target: label\n", "  target: label\n  features: [age, city]\n")
    spec = write_spec(declared)
    make_csv(spec.parent, [f"{20 + i},2024-01-{1 + i % 28:02d},{i % 2}" for i in range(40)])
    result = cli("run", spec)
    assert result.code == 2
    assert "column 'city' holds dates or times" in result.err
    assert "data.exclude" in result.err


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("exclude: [cty]", "excluded column 'cty' is not in the data; did you mean 'city'?"),
        ("features: [age, cty]", "feature column 'cty' is not in the data; did you mean 'city'?"),
        ("exclude: [age, city]", "no feature columns left after removing the target and exclude"),
    ],
    ids=["exclude-typo", "feature-typo", "nothing-left"],
)
def test_columns_the_data_does_not_have_are_exit_2(cli, write_spec, section, message) -> None:
    spec = write_spec(CSV_SPEC)
    make_csv(spec.parent, GOOD_ROWS)
    assert cli("run", spec).code == 0
    before = snapshot(spec.parent)
    spec.write_text(CSV_SPEC.replace("  target: label\n", f"  target: label\n  {section}\n"))
    result = cli("run", spec)
    assert result.code == 2
    assert f"data error: {message}" in result.err and "Traceback" not in result.err
    assert snapshot(spec.parent) == before


def test_an_unknown_dataset_version_is_exit_2_listing_recent_ones(cli, write_spec) -> None:
    spec = write_spec(CSV_SPEC)
    make_csv(spec.parent, GOOD_ROWS)
    assert cli("run", spec).code == 0
    (data_hash,) = store_rows(spec.parent / ".specops", "SELECT hash FROM datasets")[0]
    spec.write_text(
        CSV_SPEC.replace(
            "{type: csv, params: {path: data.csv}}",
            "{type: snapshot, params: {data: deadbeef, store: .specops}}",
        )
    )
    result = cli("run", spec)
    assert result.code == 2
    assert "no dataset version 'deadbeef'" in result.err and data_hash[:12] in result.err


def test_thousands_of_problems_print_the_first_fifty_and_a_count(cli, write_spec) -> None:
    spec = write_spec("name: x\ntask: binary\n" + "".join(f"extra{i}: 1\n" for i in range(200)))

    result = cli("validate", spec)

    assert result.code == 2
    assert "... and " in result.err and "more (--json lists every one)" in result.err
    assert result.err.count("error:") == 50
    listed = cli("validate", spec, "--json")
    assert len(json.loads(listed.out)[0]["problems"]) > 200


LONG_NAME = "x" * 300
DEEP = "/".join(["a"] * 2100)


@pytest.mark.parametrize(
    ("where", "path", "said"),
    [
        ("deploy", "out/a\\0b", "a path contains a NUL character"),
        ("source", "data\\0.csv", "a path contains a NUL character"),
        ("store", "st\\0ore", "a path contains a NUL character"),
        ("deploy", f"out/{LONG_NAME}", "has a name of 300 bytes"),  # at validate, with line
        ("source", f"{DEEP}.csv", "path too long for the file system"),
        ("store", f"out/{LONG_NAME}", "path too long for the file system"),
    ],
)
def test_a_path_no_file_system_takes_is_bad_input_for_every_kind_of_path(
    cli, write_spec, tmp_path: Path, where: str, path: str, said: str
) -> None:
    """A NUL (a YAML escape) or an over-long name in a deploy path, a source path or
    the store path: a ValueError or ENAMETOOLONG was blamed on whichever plugin met
    it first ("a bug in that plugin"), exit 3."""
    source = "{type: sklearn_dataset, params: {name: breast_cancer}}"
    if where == "source":
        source = f'{{type: csv, params: {{path: "{path}"}}}}'
    deploy = (
        f'deploy: [{{type: directory, params: {{path: "{path}"}}}}]' if where == "deploy" else ""
    )
    store = f'store: {{path: "{path}"}}' if where == "store" else ""
    spec = write_spec(
        f"""
        name: bc
        task: binary
        data: {{source: {source}, target: target}}
        model: {{type: lightgbm, params: {{n_estimators: 5}}}}
        {deploy}
        {store}
        """
    )
    validated, ran = cli("validate", spec), cli("run", spec)
    assert validated.code in (0, 2), validated.err  # the store path is first used by run
    assert ran.code == 2, ran.err
    for result in (validated, ran):
        assert "bug" not in result.err and len(result.err) < 1000, result.err  # shortened
    assert said in ran.err, ran.err
    store = tmp_path / ".specops"
    if (store / "store.db").exists():
        assert store_rows(store, "SELECT count(*) FROM model_versions") == [(0,)]
