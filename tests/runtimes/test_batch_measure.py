"""``rows_per_second`` is measured on a batch of ``BATCH_ROWS`` rows, not only on the
verification rows: runtimes with a start-up cost per call rank differently on 2,000 rows
than on ``predict``'s chunks. A real run (small data) with a made-up runtime that keeps
the batches it was asked to score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from framework.runtimes.compile import BATCH_ROWS
from tests.runtimes.made_up import Echo, NativeThrough
from tests.runtimes.test_compile import SPEC, make_project, stored_model_json

ASKED: list[tuple[dict[str, Any], int, Any]] = []


class Counting(Echo):
    """Echo, keeping each batch it scores and its predictions."""

    name = "counting"

    def load(self, package: Any, directory: Path) -> Any:
        inner = NativeThrough(package, package.signature.names)

        class Scorer:
            def predict(self, columns: Any, rows: int) -> Any:
                assert all(len(values) == rows for values in columns.values())
                predictions = inner.predict(columns, rows)
                ASKED.append((dict(columns), rows, predictions))
                return predictions

        return Scorer()


def test_rows_per_second_is_measured_on_a_large_batch_of_the_test_rows(tmp_path: Path) -> None:
    ASKED.clear()
    project = make_project(tmp_path, Counting)
    result = project.run(SPEC.replace("RUNTIME", "auto"))
    assert result.code == 0, result
    verdicts = stored_model_json(project)["runtimes"]
    counting, native = verdicts["counting"], verdicts["native"]
    assert counting["verified"] is True, counting
    assert counting["rows_per_second"] > 0 and native["rows_per_second"] > 0

    sizes = [rows for _, rows, _ in ASKED]
    # verification (all rows), one-row calls, the test rows, then the large batch: at
    # least once, at most 3 times (within the 0.05 s measuring budget)
    assert sizes[0] == counting["rows"]
    assert 1 <= sizes.count(BATCH_ROWS) <= 3 and sizes[-1] == BATCH_ROWS
    verification = ASKED[0][0]
    batch, _, predictions = ASKED[-1]
    # the large batch is the test rows repeated: breast_cancer has no missing values and
    # every probe row has one, so the repeat period is where the probes begin
    has_nan = np.column_stack([np.isnan(v) for v in verification.values()]).any(axis=1)
    tested = int(np.argmax(has_nan))
    assert 0 < tested < counting["rows"] and has_nan[tested:].all()
    for name, values in batch.items():
        np.testing.assert_array_equal(values, np.resize(verification[name][:tested], BATCH_ROWS))
    # scored as the native path scores the same rows
    first = ASKED[0][2].proba[:tested]
    np.testing.assert_array_equal(predictions.proba, np.resize(first, (BATCH_ROWS, 2)))
