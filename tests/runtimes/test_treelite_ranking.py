"""``auto`` ranks the treelite runtime by its library built here, not by registration's
interpreter: `specops runtimes prepare` (or a first load asked for by name) times the
built library beside native and keeps the numbers beside it in the cache; a server and
``specops predict`` then serve with treelite when that measurement says it is faster, say
why in ``/version``, and serve natively (saying why) when it is not. Never a build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from plugins.runtimes import treelite_cache
from tests.helpers import materialized, stored_package

pytestmark = pytest.mark.skipif(
    treelite_cache.compiler() is None, reason="no C compiler on this machine"
)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, never the user's."""
    root = tmp_path / "cache"
    monkeypatch.setenv("SPECOPS_RUNTIME_CACHE", str(root))
    return root / "treelite"


def _rewrite(measured: Path, **speeds: float) -> None:
    data = json.loads(measured.read_text())
    data.update(speeds)
    measured.write_text(json.dumps(data))


def test_a_prepared_library_faster_than_native_is_what_auto_serves_and_predicts_with(
    tmp_path: Path, cache: Path
) -> None:
    from framework.cli.main import main
    from framework.plugins import get_plugins
    from framework.runtimes.native import PackageScorer
    from framework.serving.model_holder import serve_package
    from framework.serving.runtime_scoring import batch_scorer
    from tests.serving.conftest import train

    plugins = get_plugins()
    if "treelite" not in plugins.registry.types("runtime"):
        pytest.skip("the treelite entry point is not installed (pyproject)")
    store = train(tmp_path / "work", name="ranked", rows=300, runtime="auto")
    package = stored_package(store, "ranked")
    verdicts = package.metadata["runtimes"]
    assert verdicts["treelite"]["verified"], verdicts["treelite"]
    assert "interpreter" in verdicts["treelite"]["note"]  # registration timed GTIL

    # not built here: auto serves without it (ranked by the interpreter, or not built
    # yet), and never builds it
    before = serve_package(package, "ranked", 1, plugins).describe()
    assert before["runtime"] != "treelite"
    assert before["runtimes_not_used"]["treelite"].startswith("verified, but not ")
    assert not list(cache.glob("*/*/lib.so"))

    # the container builder's step (or an operator's): build, check and time it here
    folder = materialized(store, "ranked/1", tmp_path / "package")
    assert main(["runtimes", "prepare", str(folder)]) == 0
    [measured] = cache.glob("*/*/measured.json")
    timed = json.loads(measured.read_text())
    assert timed["rows"] == 5_000
    for key in ("single_row_us", "rows_per_second", "native_single_row_us"):
        assert timed[key] > 0, timed

    # faster here than native (and than what registration recorded for the others)
    _rewrite(
        measured,
        single_row_us=2.0,
        native_single_row_us=20.0,
        rows_per_second=9e6,
        native_rows_per_second=1e5,
    )
    for other in ("numpy", "onnx"):  # registration may have found those faster than native
        verdicts.pop(other, None)
    served = serve_package(package, "ranked", 1, plugins).describe()
    assert served["runtime"] == "treelite", served["runtimes_not_used"]
    assert served["runtimes_not_used"]["native"] == (
        "verified, but treelite is faster here (2 against 20 µs/row, timed side by side "
        "with treelite's form built on this machine)"
    )
    scorer, name, reasons = batch_scorer(package, None, plugins)
    assert name == "treelite" and scorer is not None
    assert reasons["native"].startswith("verified, but treelite is faster here (9e+06 against")
    rows = _columns(package)
    np.testing.assert_allclose(
        scorer.predict(rows, 40).proba,
        PackageScorer(package).predict(rows, 40).proba,
        rtol=0,
        atol=1e-9,
    )

    # slower here: native serves, and the reason is the measurement, not the interpreter
    _rewrite(
        measured,
        single_row_us=40.0,
        native_single_row_us=20.0,
        rows_per_second=1e5,
        native_rows_per_second=2e5,
    )
    slower = serve_package(package, "ranked", 1, plugins).describe()
    assert slower["runtime"] != "treelite"
    why = slower["runtimes_not_used"]["treelite"]
    assert why.startswith("verified, but not faster than native here ("), why
    recorded = verdicts["native"]["single_row_us"]
    assert f"{round(recorded * 2, 1):g} against {recorded:g} µs/row" in why


def _columns(package) -> dict[str, np.ndarray]:
    from framework.runtimes.columns import raw_columns
    from framework.signature import conform
    from tests.serving.conftest import make_frame

    frame = make_frame(40, 7).drop(columns="target")
    return raw_columns(conform(frame, package.signature)[0], package.signature)


def test_the_measurement_is_put_on_registrations_scale() -> None:
    """The ratio timed here, applied to native's recorded speed: comparable with the
    other runtimes' registration figures; a missing native figure leaves it as timed."""
    from framework.runtimes.choose import MEASURED_KEY, ranked_by

    verdict = {"runtime": "treelite", "verified": True, "single_row_us": 90.0}
    here = {
        "single_row_us": 10.0,
        "native_single_row_us": 20.0,
        "rows_per_second": 300_000.0,
        "native_rows_per_second": 100_000.0,
    }
    native = {"single_row_us": 30.0, "rows_per_second": 50_000.0}
    ranked = ranked_by(verdict, here, native)
    assert (ranked["single_row_us"], ranked["rows_per_second"]) == (15.0, 150_000.0)
    assert ranked[MEASURED_KEY] == here and verdict["single_row_us"] == 90.0
    alone = ranked_by(verdict, {"single_row_us": 10.0}, {})
    assert alone["single_row_us"] == 10.0 and "rows_per_second" not in alone


def test_models_show_names_the_runtime_a_server_started_here_would_use(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``models show`` judges a runtime that builds where it loads as this machine has
    it: built and timed here, it is ranked by that timing, as ``auto`` ranks it."""
    from framework.cli.main import main
    from framework.plugins import get_plugins
    from tests.serving.conftest import train

    if "treelite" not in get_plugins().registry.types("runtime"):
        pytest.skip("the treelite entry point is not installed (pyproject)")
    store = train(tmp_path / "work", name="shown", rows=300, runtime="auto")

    def shown() -> dict:
        capsys.readouterr()
        assert main(["models", "show", "shown/1", "--store", str(store), "--json"]) == 0
        return json.loads(capsys.readouterr().out)["runtimes"]

    folder = materialized(store, "shown/1", tmp_path / "package")
    assert main(["runtimes", "prepare", str(folder)]) == 0
    [measured] = cache.glob("*/*/measured.json")
    _rewrite(
        measured,
        single_row_us=0.01,
        native_single_row_us=20.0,
        rows_per_second=1e9,
        native_rows_per_second=1e5,
    )
    fast = shown()
    assert fast["serves"] == fast["scores"] == "treelite", fast
    assert "treelite" not in fast["once_built"]
    assert fast["verdicts"]["treelite"]["measured_here"]["single_row_us"] == 0.01

    _rewrite(
        measured,
        single_row_us=400.0,
        native_single_row_us=20.0,
        rows_per_second=1e3,
        native_rows_per_second=1e5,
    )
    slow = shown()
    assert slow["serves"] != "treelite" and slow["scores"] != "treelite", slow
    assert slow["reasons"]["treelite"].startswith("verified, but not faster than")

    for built in cache.glob("*/*/lib.so"):  # gone from this machine: to be built again
        built.unlink()
    gone = shown()
    assert gone["serves"] != "treelite"
    assert "measured_here" not in gone["verdicts"]["treelite"]
