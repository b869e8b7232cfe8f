"""The signature's training categories computed on a cluster equal the local ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from framework.signature import infer_signature, training_categories
from plugins.dask_execution.categories import apply_categories, training_categories_distributed

dd = pytest.importorskip("dask.dataframe")


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_training_categories_match_the_local_split(dask_client: Any, partitions: int) -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "plan": rng.choice(["free", "pro", "team", "gold", None], size=200),
            "size": rng.choice(["S", "M", "L"], size=200),
            "x": rng.normal(size=200),
        }
    )
    signature, features = infer_signature(frame, {})
    train, test = features.iloc[:150], features.iloc[150:]
    train = train[train["plan"] != "gold"]  # a category only the test split has
    local_signature, local_train, local_test = training_categories(signature, train, test)

    got = training_categories_distributed(signature, dd.from_pandas(train, npartitions=partitions))

    assert got == local_signature
    assert "gold" not in got.columns[0].categories
    coded = apply_categories(dd.from_pandas(test, npartitions=partitions), got).compute()
    pd.testing.assert_frame_equal(coded, local_test)
    coded_train = apply_categories(dd.from_pandas(train, npartitions=partitions), got).compute()
    pd.testing.assert_frame_equal(coded_train, local_train)
