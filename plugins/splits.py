"""Built-in splitters: random, stratified and time-based train/test splits.

All are deterministic for a seed (``seed`` param, else the run's ``ctx.seed``) so a
rerun trains and evaluates on the same rows. Each returns the row positions of its
train and test sides rather than frames, so no column is copied until the engine
selects the rows, and a row can be traced back to the source.

``random`` and ``stratified`` choose rows by content (``method: content``, the
default): a row is a test row when its mixed content fingerprint is among the
``ceil(rows * test_size)`` smallest (per class when stratified), see
``framework.execution.rows``. So the split does not depend on row order, partitions
or workers (pandas and Dask choose the same rows), and identical rows always land on
the same side. ``method: shuffle`` is scikit-learn's shuffled split of positions, as
specops did before; ``reproduce`` uses it for runs recorded before the content rule.

How executors use a splitter (the plugin-facing protocol)::

    splitter.content_rule(ctx) -> ContentRule | None   # None: it needs the whole frame
    splitter.distributed: bool                          # False: refuse on a cluster
    splitter.time_rule(cutoff, train_rows) -> dict      # time: its rows' lineage record
    splitter.split(frame, ctx) -> (train_positions, test_positions)   # local, legacy

The executor computes the fingerprints once (features + target) and applies the rule
itself; ``split(frame, ctx)`` stays for direct callers and hashes every column of
``frame`` (so a frame holding more columns than the features splits differently).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework import DataError, Finding, Register, StepContext, did_you_mean, hookimpl, role_of

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework.execution.rows import ContentRule

DEFAULT_TEST_SIZE = 0.2

TEST_SIZE: dict[str, Any] = {
    "type": "number",
    "exclusiveMinimum": 0,
    "exclusiveMaximum": 1,
    "default": DEFAULT_TEST_SIZE,
    "description": "Fraction of rows held out for the test set.",
}
SEED: dict[str, Any] = {
    "type": "integer",
    "minimum": 0,
    "maximum": 2**32 - 1,  # what numpy's and scikit-learn's generators accept
    "description": "Random seed for this split (default: the spec's seed).",
}


def _require_column(frame: pd.DataFrame, column: str, role: str) -> pd.Series:
    if column not in frame.columns:
        raise DataError(
            f"{role} column '{column}' not found{did_you_mean(column, frame.columns)}",
            column=column,
            hint=f"columns: {', '.join(str(c) for c in frame.columns)}",
        )
    return frame[column]


def _by_positions(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions in their original order, so the split is a selection, not a
    shuffle; positions, not frames, so no column is copied until the engine needs it."""
    import numpy as np

    return np.sort(train), np.sort(test)


def _positions_split(
    frame: pd.DataFrame, test_size: float, seed: int, stratify: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's split of row positions, with its complaints turned into DataError."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    try:
        train, test = train_test_split(
            np.arange(len(frame)), test_size=test_size, random_state=seed, stratify=stratify
        )
    except ValueError as exc:  # too few rows for this test_size, too many classes, ...
        raise DataError(
            f"cannot split {len(frame)} rows with test_size {test_size}: {exc}",
            hint="change test_size or provide more rows",
        ) from exc
    return _by_positions(train, test)


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so messages read ``'b'`` not ``np.str_('b')``."""
    return value.item() if hasattr(value, "item") else value


METHODS = ("content", "shuffle")
METHOD: dict[str, Any] = {
    "enum": list(METHODS),
    "default": "content",
    "description": "content: a row's side follows from its values and the seed, the same "
    "locally and on a cluster, and duplicated rows stay on one side; shuffle: a shuffled "
    "split of row positions (how specops split before content; local execution only).",
}

RANDOM_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"test_size": TEST_SIZE, "seed": SEED, "method": METHOD},
    "required": [],
}
"""The params of both random splits: ``random`` and ``stratified``."""


def frame_fingerprints(frame: pd.DataFrame) -> np.ndarray:
    """Every column of ``frame`` hashed per row: the fingerprints ``split`` uses when it is
    called directly (the executors pass features + target instead)."""
    from framework.training_rows import row_hashes

    return row_hashes(frame, [str(name) for name in frame.columns])


class RandomSplit:
    """Holds out a random fraction of rows: for rows that are independent of each other."""

    stratify = False

    def __init__(
        self,
        test_size: float = DEFAULT_TEST_SIZE,
        seed: int | None = None,
        method: str = "content",
    ) -> None:
        self.test_size = test_size
        self.seed = seed
        self.method = method

    @property
    def distributed(self) -> bool:
        """A content split runs on any executor; a shuffle needs the whole frame."""
        return self.method == "content"

    def _seed(self, ctx: StepContext) -> int:
        return ctx.seed if self.seed is None else self.seed

    def content_rule(self, ctx: StepContext) -> ContentRule | None:
        """The rule the executor applies to the row fingerprints; None for ``shuffle``."""
        if self.method != "content":
            return None
        from framework.execution.rows import ContentRule

        return ContentRule(self.test_size, self._seed(ctx), stratify=self.stratify)

    def split(self, frame: pd.DataFrame, ctx: StepContext) -> tuple[np.ndarray, np.ndarray]:
        rule = self.content_rule(ctx)
        if rule is None:
            return _positions_split(frame, self.test_size, self._seed(ctx))
        from framework.execution.rows import content_split

        return content_split(frame_fingerprints(frame), rule)


class StratifiedSplit(RandomSplit):
    """A random split that keeps each target class's share equal in train and test.

    Without it a rare class can end up missing from the test set altogether.
    """

    def validate(self, ctx: StepContext) -> list[Finding]:
        if ctx.task != "regression":
            return []
        return [
            Finding(
                "a stratified split needs classes, but the task is regression",
                key=None,
                hint="use type: random or time",
            )
        ]

    stratify = True

    def split(self, frame: pd.DataFrame, ctx: StepContext) -> tuple[np.ndarray, np.ndarray]:
        import pandas as pd

        target = _require_column(frame, ctx.target, "target")
        rule = self.content_rule(ctx)
        if rule is not None:
            from framework.execution.rows import content_split

            return content_split(frame_fingerprints(frame), rule, target, column=ctx.target)
        # Codes, with missing values as a class of their own: sklearn cannot sort NaN.
        codes, classes = pd.factorize(target, sort=True, use_na_sentinel=False)
        counts = pd.Series(codes).value_counts()
        lonely = [classes[code] for code in counts[counts < 2].index]
        if lonely:
            names = ", ".join(repr(_plain(c)) for c in lonely)
            which = f"class {names} has" if len(lonely) == 1 else f"classes {names} have"
            raise DataError(
                f"target {which} fewer than 2 rows: cannot be in both train and test",
                column=ctx.target,
                hint="remove or merge rare classes, or use type: random",
            )
        return _positions_split(frame, self.test_size, self._seed(ctx), stratify=codes)


class TimeSplit:
    """Tests on the latest rows, trains on the earlier ones: no peeking into the future.

    Rows sharing a timestamp stay on the same side, so the test set can be a little
    larger than ``test_size``. Each side's positions come in time order (ties in
    table order): only the time column is sorted, no other column is copied.
    """

    distributed = True
    """On a cluster the cutoff is found by an exact distributed selection over the times
    (plugins/dask_execution/split.py): the same rows as here."""

    def __init__(
        self,
        column: str,
        test_size: float = DEFAULT_TEST_SIZE,
        cutoff: str | float | None = None,
    ) -> None:
        self.column = column
        self.test_size = test_size
        self.cutoff = cutoff

    def content_rule(self, ctx: StepContext) -> None:
        """None: a time split is no content rule, it orders the rows by time."""
        return None

    def time_rule(self, cutoff: Any, train_rows: int) -> dict[str, Any]:
        """The lineage's record of the rows a split at ``cutoff`` trained on (rows
        earlier than it): what the gate and monitoring leave out when this version is
        the champion, for an executor that keeps no fingerprints of them."""
        from framework.training_rows import time_rule

        return time_rule(
            column=self.column,
            cutoff=cutoff,
            train_rows=train_rows,
            test_size=self.test_size,
            given=self.cutoff is not None,
        )

    def split(self, frame: pd.DataFrame, ctx: StepContext) -> tuple[np.ndarray, np.ndarray]:
        times = _require_column(frame, self.column, "time")
        self.check_times(times)
        self.check_complete(int(times.isna().sum()))
        order = times.argsort(kind="stable").to_numpy()
        ordered = times.iloc[order]
        cutoff = self._cutoff(ordered)
        first_test = int(ordered.searchsorted(cutoff, side="left"))
        train, test = order[:first_test], order[first_test:]
        self.check_sides(len(train), len(test), cutoff, times.min(), times.max())
        return train, test

    def check_times(self, times: pd.Series) -> None:
        """A time column must hold datetimes or numbers (``times`` may hold no rows)."""
        if role_of(times) not in ("datetime", "numeric"):
            raise DataError(
                f"time column '{self.column}' has dtype {times.dtype}, not datetime or numeric",
                column=self.column,
                hint=f"parse it as a date, e.g. parse_dates: [{self.column}] in a csv source",
            )

    def check_complete(self, missing: int) -> None:
        if missing:
            raise DataError(
                f"time column '{self.column}' has {missing} missing values: "
                "those rows belong to neither side",
                column=self.column,
                hint="drop or fill them before splitting",
            )

    def check_sides(self, train: int, test: int, cutoff: Any, first: Any, last: Any) -> None:
        if train == 0 or test == 0:
            side = "train" if train == 0 else "test"
            raise DataError(
                f"time split at {cutoff} leaves the {side} set empty "
                f"('{self.column}' runs from {first} to {last})",
                column=self.column,
                hint="choose a cutoff inside that range, or a different test_size",
            )

    def latest_rows(self, rows: int) -> int:
        """Without a cutoff: how many of the latest rows the test side starts from."""
        import math

        return max(1, math.ceil(self.test_size * rows))

    def _cutoff(self, ordered_times: pd.Series) -> Any:
        """The first test time: the spec's cutoff, or the time test_size rows from the end."""

        if self.cutoff is None:
            return ordered_times.iloc[-self.latest_rows(len(ordered_times))]
        return self.given_cutoff(ordered_times)

    def given_cutoff(self, times: pd.Series) -> Any:
        """The spec's ``cutoff`` as a value comparable with ``times`` (which may hold no
        rows: only its dtype is read), or the DataError saying why it is not."""
        import pandas as pd

        ordered_times = times
        if role_of(ordered_times) == "numeric":
            try:
                return float(self.cutoff)
            except (TypeError, ValueError) as exc:
                raise DataError(
                    f"cutoff {self.cutoff!r} is not a number, but '{self.column}' is numeric",
                    column=self.column,
                ) from exc
        try:
            if isinstance(self.cutoff, (int, float)):  # would silently mean epoch nanoseconds
                raise ValueError("a number")
            stamp = pd.Timestamp(self.cutoff)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"cutoff {self.cutoff!r} is not a date, but '{self.column}' holds datetimes",
                column=self.column,
                hint="write it as an ISO date in quotes, e.g. '2024-01-31'",
            ) from exc
        tz = getattr(ordered_times.dtype, "tz", None)
        if tz is None and stamp.tzinfo is not None:
            raise DataError(
                f"cutoff {self.cutoff!r} has a time zone, but '{self.column}' holds times "
                "without one",
                column=self.column,
                hint="write the cutoff without a time zone, e.g. '2024-01-31'",
            )
        return stamp.tz_localize(tz) if tz is not None and stamp.tzinfo is None else stamp


TIME_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "column": {"type": "string", "description": "Datetime or numeric column to order by."},
        "test_size": {**TEST_SIZE, "description": "Fraction of the latest rows held out."},
        "cutoff": {
            "type": ["string", "number"],
            "description": "Rows with column >= cutoff are test (overrides test_size).",
        },
    },
    "required": ["column"],
}


@hookimpl
def specops_register_splits(register: Register) -> None:
    register("random", RandomSplit, RANDOM_PARAMS, summary="Random train/test split")
    register(
        "stratified",
        StratifiedSplit,
        RANDOM_PARAMS,
        summary="Random split keeping target class shares",
    )
    register("time", TimeSplit, TIME_PARAMS, summary="Latest rows as the test set")
