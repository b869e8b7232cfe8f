"""Scoring into parts: a writer that has not finished dying never leaves its partial
file in the published output.

A SIGKILLed Dask worker keeps its open files until the kernel has torn it down, which
can lag the kill (a process inside a slow fsync dies when the fsync returns); Dask may
also run a finished part again after the run has its results. Either writer's partial
file lives in the staging directory's scratch folder, which is removed whole before
the output is published. Here a real second process holds a partial file open and
locked there for the whole run, as such a writer would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from framework.scoring.parts import run_parts_here, score_to_parts
from tests.helpers import stored_package
from tests.test_predict import SPEC, make_rows

HOLD_A_PARTIAL = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, b"PAR1 half a part")
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from framework.cli.main import main

    directory = tmp_path_factory.mktemp("parts")
    (directory / "spec.yaml").write_text(SPEC.lstrip())
    make_rows(300).to_csv(directory / "train.csv", index=False)
    assert main(["run", str(directory / "spec.yaml"), "--json"]) == 0
    return directory


def test_a_partial_file_held_by_a_dying_writer_is_not_published(trained: Path) -> None:
    package = stored_package(trained / ".specops", "score")
    folder = trained / "new"
    folder.mkdir()
    for number in range(3):
        make_rows(50, seed=number).drop(columns="churned").to_csv(
            folder / f"day={number}.csv", index=False
        )
    holders: list[subprocess.Popen[str]] = []

    def parts_and_a_dying_writer(package, job, pieces, arrived) -> None:
        partial = job.scratch / ".part-00001.parquet.specops-99999-abcdef.partial"
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_A_PARTIAL, str(partial)], stdout=subprocess.PIPE, text=True
        )
        holders.append(holder)
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        run_parts_here(package, job, pieces, arrived)

    output = trained / "scored"
    try:
        done = score_to_parts(package, folder / "*.csv", output, parts_and_a_dying_writer)
        names = sorted(p.name for p in output.iterdir())
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
    assert holders and done.rows == 150
    assert names == [".specops-deploy.json"] + [f"part-{n:05d}.parquet" for n in range(3)]
    assert len(pd.read_parquet(output)) == 150
    assert not [p for p in trained.iterdir() if p.name.startswith(".scored")]
