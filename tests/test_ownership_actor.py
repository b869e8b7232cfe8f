"""The ownership rule's refusals name who asked: a deploy, or specops predict (whose
partitioned output follows the same rule), in every message, including the check made
again after the output was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.errors import UserError
from framework.export import replace_directory
from framework.ownership import (
    DEPLOY,
    PREDICT,
    file_refusal,
    mark_file,
    replace_refusal,
    write_marker,
)


def _theirs(path: Path) -> Path:
    path.mkdir()
    (path / "notes.md").write_text("mine")
    return path


@pytest.mark.parametrize(
    ("actor", "who", "last"),
    [
        (DEPLOY, "a deploy only replaces", "the last deploy"),
        (PREDICT, "specops predict only replaces", "the last specops predict"),
    ],
)
def test_every_refusal_names_its_actor(tmp_path: Path, actor: str, who: str, last: str) -> None:
    theirs = replace_refusal(_theirs(tmp_path / "theirs"), actor=actor)
    assert theirs is not None and who in theirs and "did not write (it has no" in theirs

    ours = tmp_path / "ours"
    ours.mkdir()
    write_marker(ours, {"target": "test"})
    (ours / "added.txt").write_text("later")
    grown = replace_refusal(ours, actor=actor)
    assert grown is not None and f"holds files {last} did not write: added.txt" in grown

    afile = tmp_path / "out.csv"
    afile.write_text("a\n1\n")
    mark_file(afile, {"target": "test"})
    afile.write_text("a\n2\n")
    changed = file_refusal(afile, actor=actor)
    assert changed is not None and f"changed since {last} wrote it" in changed and who in changed
    other = {DEPLOY: "specops predict", PREDICT: "a deploy"}[actor]
    assert all(other not in text for text in (theirs, grown, changed))


def test_replace_directory_refuses_in_predicts_words_when_the_output_changes_meanwhile(
    tmp_path: Path,
) -> None:
    """The second check (the output became someone else's while the parts were written)
    used to say "a deploy": predict rewrote the first check's text only."""
    output = tmp_path / "scored"

    def write(staging: Path) -> None:
        (staging / "part-00000.parquet").write_bytes(b"x")
        _theirs(output)  # a user's folder appears at the output meanwhile

    with pytest.raises(UserError) as caught:
        replace_directory(output, write, owner={"target": "predict"}, actor=PREDICT)
    assert "specops predict only replaces a directory it wrote itself" in str(caught.value)
    assert "a deploy" not in str(caught.value)
    assert (output / "notes.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scored"]  # no staging left
