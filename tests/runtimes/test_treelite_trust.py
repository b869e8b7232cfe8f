"""A package's ``runtimes/treelite/trees.tl`` is never handed to Treelite's C++
deserializer: a crafted package (``serve --package DIR``) could put any bytes there. The
trees are imported again from the package's own model (validated before it loads) and the
stored bytes must be exactly theirs; another model's valid checkpoint, or garbage, makes
the version serve natively and say why, and neither reaches ``deserialize_bytes``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugins.runtimes import treelite_cache
from plugins.runtimes.treelite import NOT_THE_TREES, compile_trees
from tests.helpers import materialized

pytestmark = pytest.mark.skipif(
    treelite_cache.compiler() is None, reason="no C compiler on this machine"
)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, never the user's."""
    monkeypatch.setenv("SPECOPS_RUNTIME_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "treelite"


def _another_models_checkpoint(features: int) -> bytes:
    import lightgbm as lgb
    import treelite

    rng = np.random.default_rng(3)
    X = rng.random((200, features))
    booster = lgb.train(
        {"objective": "binary", "verbose": -1}, lgb.Dataset(X, (X[:, 0] > 0.5).astype(int)), 3
    )
    return bytes(treelite.frontend.from_lightgbm(booster).serialize_bytes())


def test_a_package_whose_trees_are_not_its_models_serves_natively_and_says_why(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import treelite

    from framework.package import ModelPackage
    from framework.plugins import get_plugins
    from framework.serving.model_holder import serve_package
    from tests.serving.conftest import train

    plugins = get_plugins()
    if "treelite" not in plugins.registry.types("runtime"):
        pytest.skip("the treelite entry point is not installed (pyproject)")
    store = train(tmp_path / "work", name="trust", rows=300, runtime="treelite")
    folder = materialized(store, "trust/1", tmp_path / "package")
    stored = folder / "runtimes" / "treelite" / "trees.tl"
    package = ModelPackage(folder, plugins)
    assert stored.read_bytes() == compile_trees(package)  # deterministic, as registered
    served = serve_package(package, "trust", 1, plugins, runtime="treelite").describe()
    assert served["runtime"] == "treelite", served["runtimes_not_used"]
    built = sorted(cache.glob("*/*/lib.so"))

    handed: list[int] = []
    original = treelite.Model.deserialize_bytes

    def watched(data: bytes) -> object:
        handed.append(len(data))
        return original(data)

    monkeypatch.setattr(treelite.Model, "deserialize_bytes", staticmethod(watched))
    features = package.model._booster.num_feature()
    for content in (_another_models_checkpoint(features), b"\x00garbage" * 100):
        stored.write_bytes(content)
        package = ModelPackage(folder, plugins)
        described = serve_package(package, "trust", 1, plugins, runtime="treelite").describe()
        assert described["runtime"] == "native"
        assert described["runtimes_not_used"]["treelite"] == (
            f"verified, but failed to load here: {NOT_THE_TREES}"
        )
    assert handed == []
    assert sorted(cache.glob("*/*/lib.so")) == built  # nothing was built from those bytes


def test_a_package_whose_tables_are_edited_serves_natively_and_says_why(tmp_path: Path) -> None:
    """The transform and model tables beside the trees are read only when they are what
    the model compiles to: a hand-made one could ask for tables of any size."""
    import json

    from framework.package import ModelPackage
    from framework.plugins import get_plugins
    from framework.serving.model_holder import serve_package
    from tests.serving.conftest import train

    plugins = get_plugins()
    if "treelite" not in plugins.registry.types("runtime"):
        pytest.skip("the treelite entry point is not installed (pyproject)")
    store = train(tmp_path / "work", name="tables", rows=300, runtime="treelite")
    folder = materialized(store, "tables/1", tmp_path / "package")
    tables = folder / "runtimes" / "treelite" / "model.json"
    edited = json.loads(tables.read_text())
    edited["n_classes"] = 100_000_000
    tables.write_text(json.dumps(edited, separators=(",", ":")))
    described = serve_package(
        ModelPackage(folder, plugins), "tables", 1, plugins, runtime="treelite"
    ).describe()
    assert described["runtime"] == "native"
    why = described["runtimes_not_used"]["treelite"]
    assert "runtimes/treelite/model.json is not what this model compiles to" in why, why
