"""Fuzzing the spec loader: whatever a spec says, the answer is 0, 1 or 2, never a bug.

Hypothesis writes YAML documents of odd shapes (numbers too big for 64 bits, NaN,
keys that are not text, binary, dates, aliases, tabs) and mutates the example specs
(a key deleted, a value replaced, a key added, a line doubled, a tab inserted), then
runs them through ``specops validate`` and ``specops plan`` in this process. Any exit
other than 0, 1 or 2 fails. Derandomized, so CI sees the same examples every time.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.cli.main import main
from framework.spec.source import read_spec_text
from tests.conftest import SPECS

EXAMPLES = sorted(SPECS.glob("*.yaml"))
EXAMPLE_DATA = {path.name: read_spec_text(path).data for path in EXAMPLES}

# SPECOPS_FUZZ_EXAMPLES=5000 SPECOPS_FUZZ_RANDOM=1 explores further, off CI.
FUZZ = settings(
    max_examples=int(os.environ.get("SPECOPS_FUZZ_EXAMPLES", "200")),
    derandomize=not os.environ.get("SPECOPS_FUZZ_RANDOM"),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Scalars a YAML file can hold that a spec author might write by accident or malice.
ODD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=10**400),
    st.integers(min_value=-(10**400), max_value=-(2**63) + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, 5e-324]),
    st.text(max_size=20),
    st.sampled_from(["5e-2", "1e3", "binary", "lightgbm", "", " ", "${env:HOME}", "\t", "~"]),
    st.binary(max_size=8),
)
ODD_KEYS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["name", "task", "data", "model", "params", "type", "gate", "profiles"]),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.binary(max_size=4),
)
ODD_VALUES = st.recursive(
    ODD_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(ODD_KEYS, children, max_size=4)
    ),
    max_leaves=20,
)

# Bits of YAML text whose combinations the structured strategies cannot produce.
YAML_TOKENS = st.sampled_from(
    [
        "name: x\n",
        "task: binary\n",
        "data:\n",
        "  ",
        "- ",
        ": ",
        "\n",
        "\t",
        "&a ",
        "*a",
        "&b [*a, *a, *a]\n",
        "<<: *a\n",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "? ",
        "!!binary aGk=",
        "!!str ",
        "!!int ",
        "!!python/tuple [1]",
        "---\n",
        "...\n",
        "%YAML 1.1\n",
        "'",
        '"',
        "#",
        "~",
        ".nan",
        "-.inf",
        "99999999999999999999999",
        "0x1F",
        "0o17",
        "1_000",
        "2024-01-01",
        "yes",
        "on",
        "=",
        "|\n  x\n",
        ">\n  x\n",
        "\ufeff",
        "\x00",
        "\u2028",
    ]
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose data/ is the examples' data, so mutated specs find their files."""
    directory = tmp_path_factory.mktemp("fuzz")
    os.symlink(SPECS / "data", directory / "data")
    return directory


def exit_code(*args: str) -> int:
    """``specops ARGS`` in this process, its output swallowed; its exit code."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(list(args))


def assert_handled(path: Path, text: str | bytes) -> None:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    for command in ("validate", "plan"):
        code = exit_code(command, str(path))
        assert code in (0, 1, 2), f"specops {command} exited {code} on:\n{text!r}"


def dump(data: Any) -> str:
    """YAML for ``data``, odd keys and binary included (the full dumper writes them)."""
    return yaml.dump(data, sort_keys=False, allow_unicode=True, width=10**6)


@FUZZ
@given(data=ODD_VALUES)
def test_any_yaml_document(workdir: Path, data: Any) -> None:
    assert_handled(workdir / "random.yaml", dump(data))


@FUZZ
@given(tokens=st.lists(YAML_TOKENS, max_size=30))
def test_any_yaml_text(workdir: Path, tokens: list[str]) -> None:
    assert_handled(workdir / "text.yaml", "".join(tokens))


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in ``data``, the root included."""
    found = [path]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, path + (index,))
    return found


def _mutate(spec: Any, path: tuple[Any, ...], action: str, value: Any, key: Any) -> Any:
    if not path:
        return value if action == "replace" else spec
    parent = spec
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][key] = value
    elif action == "add" and isinstance(parent[last], list):
        parent[last].append(value)
    else:
        parent[last] = value
    return spec


@FUZZ
@given(
    example=st.sampled_from(sorted(EXAMPLE_DATA)),
    choice=st.integers(min_value=0),
    action=st.sampled_from(["delete", "replace", "add"]),
    value=ODD_VALUES,
    key=ODD_KEYS,
)
def test_mutated_example_spec(
    workdir: Path, example: str, choice: int, action: str, value: Any, key: Any
) -> None:
    import copy

    spec = copy.deepcopy(EXAMPLE_DATA[example])
    paths = _paths(spec)
    spec = _mutate(spec, paths[choice % len(paths)], action, value, key)
    assert_handled(workdir / "mutated.yaml", dump(spec))


@FUZZ
@given(
    example=st.sampled_from(EXAMPLES),
    line=st.integers(min_value=0),
    edit=st.sampled_from(["tab", "double", "drop", "dedent", "token"]),
    token=YAML_TOKENS,
)
def test_text_edit_of_example_spec(
    workdir: Path, example: Path, line: int, edit: str, token: str
) -> None:
    lines = example.read_text().splitlines(keepends=True)
    at = line % len(lines)
    if edit == "tab":
        lines[at] = "\t" + lines[at].lstrip(" ")
    elif edit == "double":
        lines.insert(at, lines[at])
    elif edit == "drop":
        del lines[at]
    elif edit == "dedent":
        lines[at] = lines[at][1:]
    else:
        cut = len(lines[at]) // 2
        lines[at] = lines[at][:cut] + token + lines[at][cut:]
    assert_handled(workdir / "edited.yaml", "".join(lines))


SET_KEYS = st.lists(
    st.sampled_from(["model", "params", "data", "split", "seed", "gate", "0", "1", "x", "~"]),
    min_size=1,
    max_size=5,
).map(".".join)


@FUZZ
@given(
    key=SET_KEYS,
    value=ODD_VALUES,
    profiles=st.lists(st.sampled_from(["parquet", "small", "", "nope", "0"]), max_size=3),
)
def test_odd_overrides_and_profiles(
    workdir: Path, key: str, value: Any, profiles: list[str]
) -> None:
    path = workdir / "churn.yaml"
    if not path.exists():
        path.write_text((SPECS / "churn_csv.yaml").read_text())
    text = yaml.dump(value, default_flow_style=True, width=10**6).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    args = ["--set", f"{key}={text}"] + [arg for name in profiles for arg in ("--profile", name)]
    code = exit_code("validate", str(path), *args)
    assert code in (0, 2), f"specops validate {args} exited {code}"


# Through the real CLI process, as a user would meet them: the cases the issue named.
CLI_CASES = {
    "int_key": "name: x\ntask: binary\nmodel: {type: lightgbm, params: {0: x}}\n",
    "null_and_int_keys": "name: x\ntask: binary\nmodel: {params: {null: x, 1: y}}\n",
    "binary_key": "name: x\n!!binary aGk=: y\n",
    "bool_key_root": "true: x\nname: x\n",
    "huge_seed": "name: x\ntask: binary\nseed: 99999999999999999999999\n",
    "nan": "name: x\ntask: binary\ndata: {split: {params: {test_size: .nan}}}\n",
    "deep": "name: x\nlist: " + "[" * 500 + "]" * 500 + "\n",
    "alias_bomb": "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ),
    "tab": "name: x\n\ttask: binary\n",
}


def test_cli_process_never_shows_a_traceback(cli_process, tmp_path: Path) -> None:
    paths = []
    for case, text in sorted(CLI_CASES.items()):
        paths.append(tmp_path / f"{case}.yaml")
        paths[-1].write_text(text)
    results = [cli_process("validate", *paths)]  # one process checks every file
    results += [cli_process("plan", path) for path in paths[:3]]  # a process each
    for result in results:
        assert result.code == 2, result.err
        assert "Traceback" not in result.err
        assert "internal error" not in result.err
    assert results[0].err.count("problem") >= len(paths), results[0].err
