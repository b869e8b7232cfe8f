"""A version whose categories are of mixed types (text and numbers in one column) is
read by the pandas path only: the server must say so and serve natively, not fail to
load (it did: a failed assertion kept a live server on the old version after a promote)."""

from __future__ import annotations

from pathlib import Path

from framework import EXACT
from framework.plugins import get_plugins
from framework.serving.batch import Batch
from framework.serving.served import ServedModel
from tests.runtimes.trees_packages import table, train


def test_mixed_type_categories_are_served_natively_with_the_reason(tmp_path: Path) -> None:
    frame = table(200, seed=4)
    frame["plan"] = frame["plan"].where(frame.index % 3 != 0, 7)  # every third plan a number
    package, test = train(tmp_path, frame, "binary", "lightgbm", {"n_estimators": 5})
    runtime = get_plugins().registry.find("runtime", "numpy").factory()
    compiled = tmp_path / "numpy"
    compiled.mkdir()
    runtime.compile(package, compiled)
    scorer = runtime.load(package, compiled)
    served = ServedModel(package, "mixed", 1, runtime="numpy", scorer=scorer)

    problem = served.runtime_problem(EXACT, scorer)

    assert problem is not None and "pandas path" in problem
    row = {name: [test[name].iloc[0]] for name in served.input_names}
    natively, _ = package.predict(test.iloc[:1])
    assert served.predict(Batch(row, 1)).codes.tolist() == natively.codes.tolist()
