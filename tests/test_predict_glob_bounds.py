"""A glob input is walked within bounds and never through a link for ``**``: ``--input
'/**/*.csv'`` walked the whole file system, and a folder link looping back made every
level of the loop match the same files again (each scored again, rows multiplied)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from tests.test_predict import SPEC, make_rows, predict, trained  # noqa: F401  (fixture)


def test_a_link_loop_under_a_glob_scores_each_file_once(cli, trained: Path) -> None:  # noqa: F811
    folder = trained / "incoming"
    (folder / "day1").mkdir(parents=True)
    make_rows(40, seed=2).drop(columns="churned").to_csv(folder / "day1" / "a.csv", index=False)
    os.symlink(folder, folder / "day1" / "again")  # incoming/day1/again -> incoming
    output = trained / "scored.csv"
    result = predict(cli, trained, "score", "-i", f"{folder}/**/*.csv", "-o", output)
    assert result.code == 0, result.err
    assert "scored 40 rows" in result.out
    assert len(output.read_text().splitlines()) == 41


def test_a_glob_past_its_bounds_is_exit_2_naming_it(cli, trained: Path, monkeypatch) -> None:  # noqa: F811
    folder = trained / "many"
    folder.mkdir()
    rows = make_rows(5, seed=2).drop(columns="churned")
    for number in range(12):
        rows.to_csv(folder / f"part{number:02d}.csv", index=False)
    monkeypatch.setenv("SPECOPS_MAX_GLOB_ENTRIES", "10")
    output = trained / "scored.csv"
    result = predict(cli, trained, "score", "-i", f"{folder}/**/*.csv", "-o", output)
    assert result.code == 2
    assert "looks at more than 10 directory entries" in result.err
    assert "Traceback" not in result.err
    assert not output.exists()


def test_the_batch_target_says_so_at_validate(cli, write_spec, monkeypatch) -> None:
    deploy = """
    deploy:
      - type: batch
        params: {input: "data/**/*.csv", output: out/scored.csv}
    """
    spec = write_spec(SPEC + textwrap.dedent(deploy))
    make_rows(600).to_csv(spec.parent / "train.csv", index=False)
    data = spec.parent / "data"
    data.mkdir()
    for number in range(12):
        (data / f"part{number:02d}.csv").write_text("x1\n1\n")
    monkeypatch.setenv("SPECOPS_MAX_GLOB_ENTRIES", "10")
    result = cli("validate", spec)
    assert result.code == 2
    assert "looks at more than 10 directory entries" in result.err
    assert "Traceback" not in result.err
