"""A LightGBM model's compiled trees come from its checked text, never from a Booster: a
``specops predict`` through them does not import LightGBM (nor scikit-learn, which
LightGBM imports), and scores exactly what LightGBM does.

Importing LightGBM cost ~0.6 s of CPU per ``specops predict``, more than half of its
start-up, for a Booster the compiled trees never used.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd
import pytest
import treelite

from framework.errors import StoreError
from plugins.models.lightgbm_model import LightGBMModel
from plugins.runtimes import treelite_cache
from plugins.runtimes.lightgbm_text import lightgbm_trees
from tests.conftest import REPO
from tests.helpers import materialized
from tests.runtimes.trees_packages import table, train
from tests.test_predict import SPEC, make_rows


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_trees_from_the_text_are_the_boosters_byte_for_byte(tmp_path: Path, task: str) -> None:
    package, _ = train(tmp_path, table(300, task=task), task, "lightgbm", {"n_estimators": 6})
    from_text = bytes(lightgbm_trees(package).serialize_bytes())  # before any booster
    from_booster = treelite.frontend.from_lightgbm(package.model._booster)
    assert from_text == bytes(from_booster.serialize_bytes())


LOAD = """
import json, sys
from pathlib import Path
from plugins.models.lightgbm_model import LightGBMModel
model = LightGBMModel.load(Path(sys.argv[1]))
seen = {"categories": model.pandas_categorical, "text": model.model_text,
        "imported": [m for m in ("lightgbm", "sklearn") if m in sys.modules]}
print(json.dumps(seen))
"""


def test_a_loaded_model_has_its_text_and_categories_without_lightgbm(tmp_path: Path) -> None:
    package, test = train(tmp_path, table(300), "binary", "lightgbm", {"n_estimators": 6})
    folder = tmp_path / "package" / "model"
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(folder)], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["imported"] == []
    assert seen["text"] == (folder / "model.txt").read_text(encoding="utf-8")
    booster = lgb.Booster(model_file=str(folder / "model.txt"))
    assert booster.pandas_categorical and seen["categories"] == booster.pandas_categorical
    # the booster, built on first use, predicts as one built at load did
    loaded = LightGBMModel.load(folder)
    assert loaded.pandas_categorical == booster.pandas_categorical
    features = package.transform.transform(test) if package.transform is not None else test
    pd.testing.assert_frame_equal(
        pd.DataFrame(loaded.predict_proba(features)),
        pd.DataFrame(package.model.predict_proba(features)),
        check_exact=True,
    )


def test_a_text_lightgbm_cannot_read_is_refused_when_first_used(tmp_path: Path) -> None:
    """What the text check lets through and LightGBM's reader refuses: the same StoreError,
    raised when the booster is built (a predict), not at load."""
    train(tmp_path, table(300), "binary", "lightgbm", {"n_estimators": 6})
    folder = tmp_path / "package" / "model"
    text = (folder / "model.txt").read_text(encoding="utf-8")
    (folder / "model.txt").write_text(text.replace("objective=binary", "objective=nonsense"))
    model = LightGBMModel.load(folder)
    with pytest.raises(StoreError, match=r"model\.txt is not a readable LightGBM model"):
        model.predict_proba(pd.DataFrame())


PREDICT = """
import json, sys
from framework.cli.main import main
code = main(sys.argv[1:])
print(json.dumps([m for m in ("lightgbm", "sklearn") if m in sys.modules]), file=sys.stderr)
sys.exit(code)
"""


def predict_in_child(store: Path, source: Path, output: Path, *extra: str) -> tuple[dict, list]:
    argv = ["predict", "score", "-i", str(source), "-o", str(output), "--store", str(store)]
    done = subprocess.run(
        [sys.executable, "-c", PREDICT, *argv, "--json", *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.skipif(treelite_cache.compiler() is None, reason="no C compiler on this machine")
def test_predict_through_compiled_trees_never_imports_lightgbm(
    cli: Any, write_spec: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECOPS_RUNTIME_CACHE", str(tmp_path / "cache"))  # children inherit
    spec = write_spec(SPEC)
    make_rows(600).to_csv(spec.parent / "train.csv", index=False)
    assert cli("run", spec).code == 0
    store = spec.parent / ".specops"
    package = materialized(store, "score", tmp_path / "package")
    prepared = cli("runtimes", "prepare", package)
    assert prepared.code == 0, prepared.err
    source = tmp_path / "rows.parquet"
    make_rows(300, seed=4).drop(columns="churned").to_parquet(source, index=False)

    compiled = tmp_path / "compiled.parquet"
    report, imported = predict_in_child(store, source, compiled, "--runtime", "treelite")
    assert report["runtime"] == "treelite", report["runtimes_not_used"]
    assert imported == []
    native, imported = predict_in_child(
        store, source, tmp_path / "native.parquet", "--runtime", "native"
    )
    assert native["runtime"] == "native" and imported == ["lightgbm", "sklearn"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(compiled),
        pd.read_parquet(tmp_path / "native.parquet"),
        check_exact=False,
        rtol=0,
        atol=1e-12,
    )
