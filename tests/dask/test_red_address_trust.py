"""A spec file cannot send the run to a Dask cluster on another machine (RED finding F1).

The Dask client unpickles what a scheduler and its workers send back: a hostile
scheduler named in a pull request's spec ran shell commands inside `specops run`
(reproduced with a stock `dask worker --preload`), and it receives the data and the
`${env:...}` secrets the tasks carry. An address on another machine must come from the
operator: the command line, the environment (`${env:NAME}`), or the allow-list
`$SPECOPS_DASK_ADDRESSES`. A scheduler on this machine (127.0.0.1: started here, or a
`kubectl port-forward`) may be named in the spec.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

ELSEWHERE = "tcp://203.0.113.10:8786"  # TEST-NET-3: never routed; a connection would hang

SPEC = """\
name: trust
task: binary
execution:
  type: dask
  params:
    address: {address}
    timeout: 20
data:
  source: {{type: parquet, params: {{path: parts}}}}
  target: target
model:
  type: lightgbm
profiles:
  from_env:
    execution: {{params: {{address: '${{env:RED_SCHEDULER}}'}}}}
  env_default:
    execution: {{params: {{address: '${{env:RED_UNSET:-{address}}}'}}}}
  here:
    execution: {{params: {{address: 'tcp://127.0.0.1:8786'}}}}
"""


def _write(tmp_path: Path, address: str) -> Path:
    import pandas as pd

    (tmp_path / "parts").mkdir(exist_ok=True)
    frame = pd.DataFrame({"x": [float(i) for i in range(40)], "target": ["a", "b"] * 20})
    frame.to_parquet(tmp_path / "parts" / "part-0.parquet")
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(SPEC.format(address=address)))
    return path


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SPECOPS_DASK_ADDRESSES", raising=False)
    monkeypatch.delenv("RED_UNSET", raising=False)
    return _write(tmp_path, ELSEWHERE)


def test_a_spec_file_naming_a_remote_scheduler_is_refused_before_connecting(
    cli, spec: Path
) -> None:
    for command in ("validate", "plan", "run"):
        started = time.monotonic()
        result = cli(command, spec)
        said = result.out + result.err
        assert result.code == 2, (command, said)
        assert time.monotonic() - started < 15  # refused at validate: no 20 s connect
        assert "spec.yaml:6:" in said and "execution.params.address" in said
        assert f"the spec file chooses the Dask scheduler {ELSEWHERE}" in said
        assert "SPECOPS_DASK_ADDRESSES" in said and "--set execution.params.address" in said
    # a default after :- is the file's choice too
    assert cli("validate", spec, "--profile", "env_default").code == 2
    assert not (spec.parent / ".specops").exists()  # nothing stored


def test_the_operator_chooses_a_remote_scheduler(
    cli, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the command line
    assert cli("validate", spec, "--set", "execution.params.address=tcp://10.9.9.9:8786").code == 0
    # the environment, through ${env:NAME}
    monkeypatch.setenv("RED_SCHEDULER", ELSEWHERE)
    assert cli("validate", spec, "--profile", "from_env").code == 0
    # the allow-list, for a team that keeps its cluster's address in its specs
    monkeypatch.setenv("SPECOPS_DASK_ADDRESSES", f"tcp://other:8786, {ELSEWHERE}")
    assert cli("validate", spec).code == 0
    monkeypatch.setenv("SPECOPS_DASK_ADDRESSES", "tcp://other:8786")
    assert cli("validate", spec).code == 2


def test_a_scheduler_on_this_machine_may_be_named(cli, spec: Path) -> None:
    assert cli("validate", spec, "--profile", "here").code == 0
    tricky = "tcp://127.0.0.1.example.com:8786"  # a name, not the loopback address
    spec.write_text(spec.read_text().replace(f"address: {ELSEWHERE}", f"address: {tricky}"))
    assert cli("validate", spec).code == 2


def test_a_spec_file_cannot_open_the_dashboard_to_the_network(cli, spec: Path) -> None:
    text = spec.read_text()
    spec.write_text(
        text.replace(f"    address: {ELSEWHERE}\n", "    dashboard_address: '0.0.0.0:8787'\n")
    )
    result = cli("validate", spec)  # validate only: no LocalCluster starts
    said = result.out + result.err
    assert result.code == 2, said
    assert "serves the Dask dashboard on 0.0.0.0:8787" in said
    assert "execution.params.dashboard_address" in said
    wide = "execution.params.dashboard_address=0.0.0.0:8788"
    assert cli("validate", spec, "--set", wide).code == 0  # the operator's choice
    loopback = "execution.params.dashboard_address=127.0.0.1:0"
    assert cli("validate", spec, "--set", loopback).code == 0
