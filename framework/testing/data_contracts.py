"""The contracts of the components that see the table before training: a source,
a check, a splitter and a transform.

Each check runs the component on real data and asserts what the engine relies on:
a table with rows and text column names, verdicts it can store, two disjoint
non-empty sides that a rerun reproduces, a transformer the stored pipeline can
fit, apply and load back.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.components import CheckOutcome, Finding, StepContext
from framework.testing.samples import context, table

if TYPE_CHECKING:
    import pandas as pd


def _name(component: Any) -> str:
    return type(component).__name__


def _findings(component: Any, ctx: StepContext) -> None:
    validate = getattr(component, "validate", None)
    if not callable(validate):
        return
    found = list(validate(ctx) or [])
    wrong = [f for f in found if not isinstance(f, Finding)]
    if wrong:
        raise AssertionError(
            f"{_name(component)}: validate must return framework.Finding objects, "
            f"returned {wrong[0]!r}"
        )
    if found:
        raise AssertionError(
            f"{_name(component)}: validate found problems with a setup meant to work: "
            + "; ".join(f.message for f in found)
        )


def check_source(source: Any, ctx: StepContext) -> pd.DataFrame:
    """Assert that ``source.load(ctx)`` returns a pandas DataFrame with rows, unique text
    column names and ``ctx.target`` among them, and that its ``validate`` (if any)
    finds nothing wrong. Returns the table."""
    import pandas as pd

    name = _name(source)
    if not callable(getattr(source, "load", None)):
        raise AssertionError(f"{name}: a source needs load(ctx) (framework.Source)")
    _findings(source, ctx)
    frame = source.load(ctx)
    if not isinstance(frame, pd.DataFrame):
        raise AssertionError(f"{name}: load returned {type(frame).__name__}, not a DataFrame")
    if len(frame) == 0:
        raise AssertionError(f"{name}: load returned a table with no rows")
    odd = [c for c in frame.columns if not isinstance(c, str)]
    if odd:
        raise AssertionError(
            f"{name}: column names must be text (a spec names them); found {odd[:3]!r}"
        )
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if repeated:
        raise AssertionError(f"{name}: column names must be unique; repeated: {repeated}")
    if ctx.target not in frame.columns:
        raise AssertionError(
            f"{name}: the target column {ctx.target!r} is not in the table "
            f"(columns: {', '.join(frame.columns[:10])})"
        )
    return frame


def check_check(check: Any, frame: pd.DataFrame, ctx: StepContext) -> list[CheckOutcome]:
    """Assert that ``check.run(frame, ctx)`` returns a non-empty list of
    :class:`framework.CheckOutcome` whose values the store can record (JSON), and leaves
    ``frame`` as it was. Returns the outcomes."""
    name = _name(check)
    _findings(check, ctx)
    before = frame.copy(deep=True)
    outcomes = check.run(frame, ctx)
    if not isinstance(outcomes, list) or not outcomes:
        raise AssertionError(f"{name}: run must return a non-empty list of CheckOutcome")
    for outcome in outcomes:
        if not isinstance(outcome, CheckOutcome):
            raise AssertionError(f"{name}: run returned {outcome!r}, not a framework.CheckOutcome")
        if not isinstance(outcome.passed, bool):
            raise AssertionError(f"{name}: CheckOutcome.passed must be True or False")
        try:
            json.dumps([outcome.observed, outcome.expected], allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise AssertionError(
                f"{name}: observed/expected must be JSON values (numbers, text, lists), "
                f"they are stored: {exc}"
            ) from None
    if not frame.equals(before) or list(frame.columns) != list(before.columns):
        raise AssertionError(f"{name}: run changed the table it judged; copy it instead")
    return outcomes


def check_split(splitter: Any, frame: pd.DataFrame, ctx: StepContext) -> tuple[Any, Any]:
    """Assert that ``splitter.split(frame, ctx)`` gives two non-empty, disjoint sides of
    row positions within the table (or two DataFrames), the same ones on a second call
    with the same seed. Returns ``(train, test)`` as integer positions."""
    import numpy as np
    import pandas as pd

    name = _name(splitter)
    _findings(splitter, ctx)

    def positions() -> tuple[Any, Any]:
        sides = splitter.split(frame, ctx)
        if not isinstance(sides, tuple | list) or len(sides) != 2:
            raise AssertionError(f"{name}: split must return (train, test)")
        out = []
        for side in sides:
            if isinstance(side, pd.DataFrame):
                side = frame.index.get_indexer(side.index)
            side = np.asarray(side)
            if side.dtype.kind not in "iu":
                raise AssertionError(
                    f"{name}: split must return integer row positions (or DataFrames), "
                    f"not {side.dtype}"
                )
            out.append(side)
        return out[0], out[1]

    train, test = positions()
    for label, side in (("train", train), ("test", test)):
        if len(side) == 0:
            raise AssertionError(f"{name}: the {label} side is empty")
        if side.min() < 0 or side.max() >= len(frame):
            raise AssertionError(f"{name}: the {label} side has positions outside the table")
    if np.intersect1d(train, test).size:
        raise AssertionError(f"{name}: train and test share rows")
    again = positions()
    if not (np.array_equal(train, again[0]) and np.array_equal(test, again[1])):
        raise AssertionError(
            f"{name}: a second split with seed {ctx.seed} gave other rows; use ctx.seed"
        )
    return train, test


def check_transform(transform: Any, frame: pd.DataFrame | None = None, ctx: Any = None) -> Any:
    """Assert that ``transform.build(frame, ctx)`` returns an unfitted transformer and
    columns of the table; the transformer outputs pandas (``set_output``), fits and
    transforms the rows keeping their number, and survives a skops round trip with
    the same output (specops stores it with skops and loads only trusted types).
    ``frame`` defaults to a small numeric sample. Returns the fitted transformer."""
    from framework.safe_format import load_skops, save_skops

    name = _name(transform)
    if frame is None:
        frame = table("binary", 120, categorical=False, missing=False).drop(columns="target")
    with tempfile.TemporaryDirectory(prefix="specops-check-") as folder:
        ctx = ctx or context(Path(folder))
        _findings(transform, ctx)
        built = transform.build(frame, ctx)
        if not isinstance(built, tuple | list) or len(built) != 2:
            raise AssertionError(f"{name}: build must return (transformer, columns)")
        transformer, columns = built
        columns = list(columns)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise AssertionError(f"{name}: build names columns not in the table: {missing}")
        if not columns:
            return None
        for method in ("fit", "transform", "set_output"):
            if not callable(getattr(transformer, method, None)):
                raise AssertionError(
                    f"{name}: the transformer has no {method}(); return a scikit-learn transformer"
                )
        _unfitted(transformer, name)
        transformer.set_output(transform="pandas")
        out = transformer.fit(frame[columns]).transform(frame[columns])
        if len(out) != len(frame):
            raise AssertionError(
                f"{name}: the transformer returned {len(out)} rows for {len(frame)}"
            )
        path = Path(folder) / "transform.skops"
        save_skops(transformer, path)
        try:
            loaded = load_skops(path)
        except Exception as exc:
            raise AssertionError(
                f"{name}: specops could not load the stored transformer back: {exc}"
            ) from None
        again = loaded.transform(frame[columns])
        if not _same_output(out, again):
            raise AssertionError(f"{name}: the stored transformer transforms differently")
    return transformer


def _same_output(a: Any, b: Any) -> bool:
    import numpy as np
    import pandas as pd

    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        except AssertionError:
            return False
        return True
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def _unfitted(transformer: Any, name: str) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(transformer)
    except (NotFittedError, TypeError):
        return
    raise AssertionError(
        f"{name}: build returned a fitted transformer; return it unfitted, the engine fits "
        "it on the training rows only"
    )
