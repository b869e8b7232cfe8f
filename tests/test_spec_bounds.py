"""A spec's cost is bounded by its size: bombs, huge files, deep nesting, odd keys and
numbers are each refused with exit 2, a located message and no traceback, quickly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import breast_cancer_spec, store_rows

PEAK_OF_CHILD = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(usage.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)
"""Runs ARGV and prints its peak resident size in KiB, exiting with its exit code."""

BILLION_LAUGHS = (
    'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    + "".join(
        f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
)


def test_billion_laughs_is_refused_at_its_line_in_well_under_a_second(
    cli_process, tmp_path: Path
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 1024
    started = time.perf_counter()
    result = cli_process("validate", path)
    elapsed = time.perf_counter() - started
    assert result.code == 2, result.err
    # 9**5 values by line 6: the first alias that crosses 100,000
    assert f"{path}:6:" in result.err
    assert "YAML aliases expand to more than 100,000 values (line 6)" in result.err
    assert "SPECOPS_MAX_SPEC_VALUES" in result.err
    assert "Traceback" not in result.err
    assert elapsed < 10, elapsed  # a guard only: ~0.15 s including interpreter start


def test_billion_laughs_in_process_costs_milliseconds(cli, tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    started = time.perf_counter()
    result = cli("validate", path)
    assert time.perf_counter() - started < 2
    assert result.code == 2


def test_a_50_mb_spec_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("w") as handle:
        handle.write("name: x\nitems:\n")
        handle.write("  - 1\n" * (50 * 1024 * 1024 // 6))
    # the child's own peak, read by a small fresh process that starts it: not
    # RUSAGE_CHILDREN (the largest child this test process ever reaped), nor the child's
    # own wait4 from here (Linux counts the forking process's size into a child's peak,
    # and this process may be large after the UI tests)
    command = [sys.executable, "-m", "framework.cli.main", "validate", str(path)]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", PEAK_OF_CHILD, *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    message = done.stderr
    assert f"{path}:1:1: error: spec file {path} is larger than 1,048,576 bytes" in message
    assert "SPECOPS_MAX_SPEC_BYTES" in message
    assert int(done.stdout) < 400_000  # KiB: the child never held the 50 MB file


def test_the_size_bound_is_overridable_and_a_bad_value_is_named(
    cli_process, tmp_path: Path
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(breast_cancer_spec(n_estimators=5))
    small = cli_process("validate", path, env={"SPECOPS_MAX_SPEC_BYTES": "100"})
    assert small.code == 2 and "larger than 100 bytes" in small.err
    bad = cli_process("validate", path, env={"SPECOPS_MAX_SPEC_BYTES": "lots"})
    assert bad.code == 2
    assert "SPECOPS_MAX_SPEC_BYTES must be a whole number >= 1, found 'lots'" in bad.err
    assert "Traceback" not in bad.err
    roomy = cli_process("validate", path, env={"SPECOPS_MAX_SPEC_VALUES": "1000000"})
    assert roomy.code == 0, roomy.err


def test_500_deep_nesting_names_the_line(cli, write_spec) -> None:
    path = write_spec("name: x\ntask: binary\nextra:\n  deep: " + "[" * 500 + "]" * 500 + "\n")
    result = cli("validate", path)
    assert result.code == 2
    assert f"{path}:4:" in result.err
    assert "the spec is nested deeper than 64 levels (line 4)" in result.err


def test_deep_nesting_in_a_profile_is_refused_before_merging(cli, write_spec) -> None:
    deep = "{a: " * 300 + "1" + "}" * 300
    path = write_spec(breast_cancer_spec(5) + f"profiles:\n  p: {deep}\n")
    result = cli("validate", path, "--profile", "p")
    assert result.code == 2
    assert "nested deeper than 64 levels" in result.err


def test_an_alias_inside_its_own_value_is_refused(cli, write_spec) -> None:
    path = write_spec("name: x\nloop: &a [1, *a]\n")
    result = cli("validate", path)
    assert result.code == 2
    assert (
        f"{path}:2:" in result.err and "alias *a refers to a value that contains it" in result.err
    )


def test_small_aliases_still_work(cli, write_spec) -> None:
    path = write_spec(
        breast_cancer_spec(5).replace(
            "roc_auc: {min: 0.9, max_drop: 0.01}", "roc_auc: &t {min: 0.5}\n  accuracy: *t"
        )
    )
    result = cli("validate", path)
    assert result.code == 0, result.err


@pytest.mark.parametrize(
    ("written", "found"),
    [
        ("0: x", "'0' is read as an integer"),
        ("1.5: x", "'1.5' is read as a number"),
        ("true: x", "'true' is read as a boolean"),
        ("~: x", "'~' is read as null"),
        ("2024-01-01: x", "'2024-01-01' is read as a date"),
        ("!!binary aGk=: x", "found binary data (!!binary)"),
    ],
)
def test_keys_that_are_not_text_are_located(cli, write_spec, written: str, found: str) -> None:
    path = write_spec(breast_cancer_spec(5).replace("num_leaves: 7", f"num_leaves: 7, {written}"))
    for command in ("validate", "plan"):
        result = cli(command, path)
        assert result.code == 2, result.err
        assert f"{path}:9:" in result.err
        assert f"keys must be text; {found}" in result.err
        assert "internal error" not in result.err


def test_null_and_integer_keys_together_are_two_problems_not_a_sort_error(cli, write_spec) -> None:
    path = write_spec("name: x\ntask: binary\nmodel: {params: {null: x, 1: y}}\n")
    result = cli("validate", path, "--json")
    assert result.code == 2
    problems = json.loads(result.out)[0]["problems"]
    messages = [p["message"] for p in problems]
    assert "keys must be text; 'null' is read as null" in messages
    assert "keys must be text; '1' is read as an integer" in messages


def test_a_set_value_with_a_non_text_key_is_refused(cli, bc_spec: Path) -> None:
    result = cli("validate", bc_spec, "--set", "model.params={0: x}")
    assert result.code == 2
    assert "--set model.params={0: x}: error: keys must be text" in result.err


def test_a_set_value_bomb_is_refused(cli, bc_spec: Path) -> None:
    bomb = "[" + ", ".join(["&a [1,1,1,1,1,1,1,1,1,1]"] + ["*a"] * 20000) + "]"
    result = cli("validate", bc_spec, "--set", f"model.params.x={bomb}")
    assert result.code == 2
    assert "more than 100,000 values" in result.err


def test_a_value_its_tag_does_not_fit_is_located(cli, write_spec) -> None:
    path = write_spec("name: x\ntask: !!int binary\n")
    result = cli("validate", path)
    assert result.code == 2
    assert f"{path}:2:7: error: malformed YAML: 'binary' cannot be read as !!int" in result.err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("seed: 1", "seed: 99999999999999999999999"),
            "seed: an integer of 23 digits is too large",
        ),
        (("seed: 1", "seed: 4294967296"), "seed: must be <= 4294967295"),
        (("n_estimators: 5", "n_estimators: " + "9" * 400), "an integer of 400 digits"),
        (("num_leaves: 7", "num_leaves: .inf"), "num_leaves: inf is not a finite number"),
        (
            (
                "target: target",
                "target: target\n  split: {type: random, params: {test_size: .nan}}",
            ),
            "data.split.params.test_size: nan is not a finite number",
        ),
        (("min: 0.9", "min: -.inf"), "gate.roc_auc.min: -inf is not a finite number"),
    ],
)
def test_numbers_a_spec_cannot_mean_are_refused(
    cli, write_spec, edit: tuple[str, str], message: str
) -> None:
    path = write_spec(breast_cancer_spec(5).replace(*edit))
    result = cli("validate", path)
    assert result.code == 2, result.err
    assert message in result.err
    assert result.err.count("error:") == 1  # not again as a broken bound


def test_nan_from_set_and_from_the_environment(cli, bc_spec: Path, monkeypatch) -> None:
    by_set = cli("validate", bc_spec, "--set", "model.params.learning_rate=.nan")
    assert by_set.code == 2
    assert "model.params.learning_rate: nan is not a finite number" in by_set.err
    text = bc_spec.read_text().replace("num_leaves: 7", "num_leaves: 7, learning_rate: '${env:LR}'")
    bc_spec.write_text(text)
    monkeypatch.setenv("LR", ".nan")
    by_env = cli("validate", bc_spec)
    assert by_env.code == 2
    assert "model.params.learning_rate: expected number, found a string" in by_env.err
    monkeypatch.setenv("LR", "0.1")
    assert cli("validate", bc_spec).code == 0


def test_exponent_without_a_dot_gets_a_hint(cli, write_spec) -> None:
    path = write_spec(breast_cancer_spec(5).replace("num_leaves: 7", "learning_rate: 5e-2"))
    result = cli("validate", path)
    assert result.code == 2
    assert "found a string '5e-2'" in result.err
    assert "hint: YAML reads 5e-2 as text (an exponent needs a dot); write 5.0e-2" in result.err
    integer = write_spec(breast_cancer_spec(5).replace("n_estimators: 5", "n_estimators: 1e2"))
    assert "write 100" in cli("validate", integer).err


def test_a_tab_is_named_as_a_tab(cli, write_spec) -> None:
    path = write_spec(breast_cancer_spec(5).replace("  target: target", "\ttarget: target"))
    result = cli("validate", path)
    assert result.code == 2
    assert "(a tab character)" in result.err
    assert "hint: line 6 has a tab character at column 1: YAML indents with spaces only" in (
        result.err
    )


def test_an_unknown_task_is_one_problem(cli, write_spec) -> None:
    path = write_spec(
        breast_cancer_spec(5).replace("task: binary", "task: Multiclass") + "  rmse: {max: 3}\n"
    )
    result = cli("validate", path)
    assert result.code == 2
    assert "task: 'Multiclass' is not one of: binary, multiclass, regression" in result.err
    assert "Did you mean 'multiclass'?" in result.err
    assert "1 problem found" in result.err
    assert "for Multiclass" not in result.err


PROFILES = """profiles:
  small:
    model: {params: {n_estimators: 3, num_leaves: 3}}
  tiny:
    model: {params: {n_estimators: 2}}
"""


def test_several_profiles_apply_in_order_and_are_all_recorded(cli, write_spec) -> None:
    path = write_spec(breast_cancer_spec(5) + PROFILES)
    later_wins = json.loads(
        cli("plan", path, "--json", "--profile", "small", "--profile", "tiny").out
    )
    assert later_wins["profile"] == "small, tiny"
    model = next(s for s in later_wins["steps"] if s["step"] == "train")
    assert '"n_estimators": 2' in json.dumps(model) and '"num_leaves": 3' in json.dumps(model)
    other_order = json.loads(
        cli("plan", path, "--json", "--profile", "tiny", "--profile", "small").out
    )
    model = next(s for s in other_order["steps"] if s["step"] == "train")
    assert '"n_estimators": 3' in json.dumps(model)

    unknown = cli("validate", path, "--profile", "small", "--profile", "tnyi")
    assert unknown.code == 2 and "unknown profile 'tnyi'; did you mean 'tiny'?" in unknown.err

    cli("run", path, "--json", "--profile", "small", "--profile", "tiny")
    assert store_rows(path.parent / ".specops", "SELECT profile FROM runs") == [("small, tiny",)]


def test_a_model_seed_beyond_what_scikit_learn_accepts_is_refused_at_validate(
    cli, write_spec
) -> None:
    path = write_spec(
        breast_cancer_spec(5)
        .replace("type: lightgbm", "type: random_forest")
        .replace("n_estimators: 5, num_leaves: 7", "random_state: 4294967296")
    )
    result = cli("validate", path)
    assert result.code == 2
    assert "model.params.random_state: must be <= 4294967295" in result.err


def test_suggestions_take_any_key() -> None:
    from framework.suggest import did_you_mean

    assert did_you_mean(0, ["0x", 1]) == "; did you mean '0x'?"
    assert did_you_mean(None, [None, True]) == "; did you mean 'None'?"


def test_a_huge_value_is_quoted_short(cli, write_spec) -> None:
    path = write_spec(breast_cancer_spec(5).replace("name: bc", "name: " + "y" * 500_000))
    result = cli("validate", path)
    assert result.code == 2
    assert "name: 500,000 characters long, at most 128 allowed" in result.err
    assert len(result.err) < 1000
    items = ", ".join(["1"] * 50_000)
    listed = write_spec(breast_cancer_spec(5).replace("seed: 1", f"seed: [{items}]"))
    result = cli("validate", listed)
    assert result.code == 2 and len(result.err) < 1000


def test_a_profile_of_20000_keys_merges_in_linear_time(cli, write_spec) -> None:
    keys = "".join(f"    k{i}: 1\n" for i in range(20_000))
    path = write_spec(breast_cancer_spec(5) + "profiles:\n  p:\n" + keys)
    started = time.perf_counter()
    result = cli("validate", path, "--profile", "p")
    assert time.perf_counter() - started < 20  # was over 120 s: one pass per key
    assert result.code == 2
    assert f"{path}:14:5: error: unknown key 'k0' in the spec" in result.err
    listed = json.loads(cli("validate", path, "--profile", "p", "--json").out)[0]["problems"]
    last = listed[-1]
    assert (last["line"], last["message"]) == (20_000 + 13, "unknown key 'k19999' in the spec")


def test_unique_lists_are_checked_in_linear_time(cli, write_spec) -> None:
    items = "a, " + ", ".join(str(i) for i in range(30_000))  # mixed: jsonschema cannot sort
    path = write_spec(
        breast_cancer_spec(5).replace("  target: target", f"  target: target\n  exclude: [{items}]")
    )
    started = time.perf_counter()
    result = cli("validate", path)
    assert time.perf_counter() - started < 20  # was over 100 s: every pair compared
    assert result.code == 2
    repeated = write_spec(
        breast_cancer_spec(5).replace("  target: target", "  target: target\n  exclude: [a, b, a]")
    )
    assert "data.exclude: has a repeated item: 'a'" in cli("validate", repeated).err


def test_the_depth_bound_cannot_be_raised_past_what_python_can_walk(
    cli, write_spec, monkeypatch
) -> None:
    path = write_spec("name: x\nlist: " + "[" * 700 + "]" * 700 + "\n")
    monkeypatch.setenv("SPECOPS_MAX_SPEC_DEPTH", "1000")
    result = cli("validate", path)
    assert result.code == 2
    assert "SPECOPS_MAX_SPEC_DEPTH must be at most 256, found '1000'" in result.err
    monkeypatch.setenv("SPECOPS_MAX_SPEC_DEPTH", "256")
    deep = write_spec(breast_cancer_spec(5) + "extra: " + "[" * 250 + "]" * 250 + "\n", "deep.yaml")
    assert "unknown key 'extra'" in cli("validate", deep).err


@pytest.mark.parametrize(
    ("model", "param"),
    [
        ("random_forest", "n_estimators"),
        ("extra_trees", "n_estimators"),
        ("logistic_regression", "max_iter"),
        ("hist_gradient_boosting", "max_iter"),
        ("lightgbm", "n_estimators"),
    ],
)
def test_a_training_budget_typo_is_refused_not_trained_for_days(
    cli, write_spec, model: str, param: str
) -> None:
    spec = breast_cancer_spec(5).replace(
        "  type: lightgbm\n  params: {n_estimators: 5, num_leaves: 7}",
        f"  type: {model}\n  params: {{{param}: 1000000000}}",
    )
    result = cli("validate", write_spec(spec))
    assert result.code == 2
    assert f"model.params.{param}" in result.err and "100000" in result.err
