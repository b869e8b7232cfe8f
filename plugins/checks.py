"""Built-in data checks: the assertions a spec makes about its ingested table.

Each check returns one :class:`CheckOutcome` per column it judges, passing ones
included, so the run's table shows what was checked and not only what failed.
A column the table lacks is a failed outcome, never an exception: one typo
should not hide the verdicts of every other check. Everything is vectorised,
because checks run on the full table (millions of rows).

Every check also has ``run_distributed(ddf, ctx)`` for ``execution: dask``: the same
outcomes, word for word, from distributed aggregates of a ``dask.dataframe``
(:mod:`plugins.dask_execution.checks`); the table never reaches this process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from framework import CheckOutcome, Finding, Register, StepContext, did_you_mean, hookimpl, role_of

if TYPE_CHECKING:
    import pandas as pd

EXAMPLES_SHOWN = 5  # offending values named in a detail


# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------


def _missing_column(check: str, column: str, frame: pd.DataFrame) -> CheckOutcome:
    return CheckOutcome(
        check=check,
        passed=False,
        column=column,
        observed="missing",
        expected="present",
        detail=f"column '{column}' not found{did_you_mean(column, frame.columns)}",
    )


def _plain(value: Any) -> Any:
    """A JSON-friendly Python value: numpy scalars unwrapped, timestamps as ISO text."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _text(value: Any) -> str:
    """A value as a user wrote it: ``10`` not ``10.0000001``, dates without noise."""
    value = _plain(value)
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _bounds_text(low: Any, high: Any, inclusive: bool = True) -> str:
    """``">= 0, <= 10"``: the requirement in the words of a comparison."""
    ge, le = (">=", "<=") if inclusive else (">", "<")
    parts = []
    if low is not None:
        parts.append(f"{ge} {_text(low)}")
    if high is not None:
        parts.append(f"{le} {_text(high)}")
    return ", ".join(parts)


def _counts(values: pd.Series | pd.DataFrame) -> pd.Series:
    """How often each value occurs, most frequent first; a DataFrame gives composite
    keys as tuples. ``value_counts`` keeps it vectorised."""
    counts = values.value_counts()
    return counts[counts > 0]  # a categorical lists its unused categories with 0


def _examples(counts: pd.Series, distinct: int | None = None) -> str:
    """The most frequent offending values (``_counts``): ``'x' (3 rows), 'y' (1 row)``.
    ``distinct``: how many values there are when ``counts`` holds only the first few."""
    shown = ", ".join(
        f"{_plain(v)!r} ({n} row{'s' if n != 1 else ''})"
        for v, n in counts.head(EXAMPLES_SHOWN).items()
    )
    more = (len(counts) if distinct is None else distinct) - EXAMPLES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _as_list(columns: str | list[str] | None) -> list[str]:
    if columns is None:
        return []
    return [columns] if isinstance(columns, str) else list(columns)


COLUMN_LIST: dict[str, Any] = {"type": "array", "items": {"type": "string"}, "minItems": 1}


# ---------------------------------------------------------------------------
# required_columns
# ---------------------------------------------------------------------------

REQUIRED_COLUMNS_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "columns": {**COLUMN_LIST, "description": "Columns the table must have."},
    },
    "required": ["columns"],
}


class RequiredColumns:
    """Fails for each listed column the table lacks, suggesting a close name."""

    name: ClassVar[str] = "required_columns"

    def __init__(self, columns: list[str]) -> None:
        self.columns = _as_list(columns)

    def run(self, frame: pd.DataFrame, ctx: StepContext) -> list[CheckOutcome]:
        return [
            CheckOutcome(self.name, True, column, "present", "present", "column present")
            if column in frame.columns
            else _missing_column(self.name, column, frame)
            for column in self.columns
        ]

    def run_distributed(self, ddf: Any, ctx: StepContext) -> list[CheckOutcome]:
        return self.run(ddf, ctx)  # names only: the dask frame's metadata answers


# ---------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------

DTYPE_KINDS: tuple[str, ...] = (
    "numeric",
    "integer",
    "float",
    "categorical",
    "string",
    "boolean",
    "datetime",
)

DTYPES_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "columns": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"enum": list(DTYPE_KINDS)},
            "description": (
                "Column name -> expected kind. 'numeric' excludes booleans; 'categorical' "
                "is any column specops treats as categorical (text or category dtype)."
            ),
        },
    },
    "required": ["columns"],
}


def _has_kind(series: pd.Series, kind: str) -> bool:
    """Whether a column's dtype is of ``kind``; roles match :mod:`framework.columns`."""
    import pandas as pd
    from pandas.api import types

    dtype = series.dtype
    if kind in ("numeric", "categorical", "boolean", "datetime"):
        return role_of(series) == kind
    if kind == "integer":
        return types.is_integer_dtype(dtype)
    if kind == "float":
        return types.is_float_dtype(dtype)
    if kind == "string":
        # Given the series, pandas also recognises an object column holding only text.
        return types.is_string_dtype(series) and not isinstance(dtype, pd.CategoricalDtype)
    raise ValueError(f"unknown dtype kind {kind!r}")


def _whole_numbers_with_nulls(series: pd.Series) -> bool:
    """A float column that would be integer but for missing values (pandas upcasts)."""
    from pandas.api import types

    if not types.is_float_dtype(series.dtype) or not series.isna().any():
        return False
    values = series.dropna()
    return bool((values == values.round()).all())


class Dtypes:
    """Fails for each column whose dtype is not of the expected kind."""

    name: ClassVar[str] = "dtypes"

    def __init__(self, columns: dict[str, str]) -> None:
        self.columns = dict(columns)

    def validate(self, ctx: StepContext) -> list[Finding]:
        return [
            Finding(
                f"unknown dtype kind {kind!r} for column '{column}'"
                + did_you_mean(kind, DTYPE_KINDS),
                key="columns",
                hint=f"one of: {', '.join(DTYPE_KINDS)}",
            )
            for column, kind in self.columns.items()
            if kind not in DTYPE_KINDS
        ]

    def run(self, frame: pd.DataFrame, ctx: StepContext) -> list[CheckOutcome]:
        return [self._judge(frame, column, kind) for column, kind in self.columns.items()]

    def _judge(self, frame: pd.DataFrame, column: str, kind: str) -> CheckOutcome:
        if column not in frame.columns:
            return _missing_column(self.name, column, frame)
        series = frame[column]
        return self._verdict(
            column,
            kind,
            str(series.dtype),
            _has_kind(series, kind),
            lambda: _whole_numbers_with_nulls(series),
        )

    def _verdict(
        self, column: str, kind: str, observed: str, has: bool, whole: Callable[[], bool]
    ) -> CheckOutcome:
        if has:
            return CheckOutcome(self.name, True, column, observed, kind, f"{observed} is {kind}")
        detail = f"dtype {observed} is not {kind}"
        if kind == "integer" and whole():
            detail += " (whole numbers, but missing values make pandas store them as float)"
        return CheckOutcome(self.name, False, column, observed, kind, detail)

    def run_distributed(self, ddf: Any, ctx: StepContext) -> list[CheckOutcome]:
        """Kinds from the dtypes; values are looked at only where the local check looks
        (an object column judged as text, a float column expected to be whole numbers)."""
        from plugins.dask_execution.checks import per_partition

        outcomes = []
        for column, kind in self.columns.items():
            if column not in ddf.columns:
                outcomes.append(_missing_column(self.name, column, ddf))
                continue
            meta = ddf._meta[column]
            has = _has_kind(meta, kind)
            if kind == "string" and meta.dtype == object:  # values decide, as for pandas
                has = all(per_partition(ddf[[column]], _all_text, column))

            def whole(column: str = column) -> bool:
                facts = per_partition(ddf[[column]], _whole_facts, column)
                nulls = any(f[0] for f in facts)
                return nulls and all(f[1] for f in facts)

            outcomes.append(self._verdict(column, kind, str(meta.dtype), has, whole))
        return outcomes


def _all_text(part: pd.DataFrame, number: int, column: str) -> bool:
    return _has_kind(part[column], "string")


def _whole_facts(part: pd.DataFrame, number: int, column: str) -> tuple[bool, bool]:
    """(has missing values, every present value is a whole number) of one partition."""
    from pandas.api import types

    series = part[column]
    if not types.is_float_dtype(series.dtype):
        return False, False
    values = series.dropna()
    return bool(series.isna().any()), bool((values == values.round()).all())


# ---------------------------------------------------------------------------
# range
# ---------------------------------------------------------------------------

BOUND: dict[str, Any] = {"type": ["number", "string"]}

RANGE_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "columns": {**COLUMN_LIST, "description": "Columns to check."},
        "column": {"type": "string", "description": "One column to check (or use columns)."},
        "min": {**BOUND, "description": "Lowest allowed value (a date string for datetimes)."},
        "max": {**BOUND, "description": "Highest allowed value (a date string for datetimes)."},
        "inclusive": {
            "type": "boolean",
            "default": True,
            "description": "Whether min and max themselves are allowed.",
        },
    },
    "required": [],
}


class Range:
    """Fails for each column with values outside [min, max]; missing values are ignored."""

    name: ClassVar[str] = "range"

    def __init__(
        self,
        columns: list[str] | None = None,
        column: str | None = None,
        min: float | str | None = None,
        max: float | str | None = None,
        inclusive: bool = True,
    ) -> None:
        self.columns = _as_list(columns) + _as_list(column)
        self.low = min
        self.high = max
        self.inclusive = inclusive
        self._named_both = columns is not None and column is not None

    def validate(self, ctx: StepContext) -> list[Finding]:
        findings = []
        if not self.columns or self._named_both:
            findings.append(Finding("range needs exactly one of column or columns"))
        if self.low is None and self.high is None:
            findings.append(Finding("range needs min, max or both", hint="for example min: 0"))
        low, high = self.low, self.high
        if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
            findings.append(Finding(f"min {self.low} is above max {self.high}", key="min"))
        return findings

    def run(self, frame: pd.DataFrame, ctx: StepContext) -> list[CheckOutcome]:
        return [self._judge(frame, column) for column in self.columns]

    def _judge(self, frame: pd.DataFrame, column: str, facts: Any = None) -> CheckOutcome:
        """One column's verdict; ``facts`` (rows, present, min, max, below, above) are
        computed here from the frame, or given (by ``run_distributed``)."""
        if column not in frame.columns:
            return _missing_column(self.name, column, frame)
        series = frame[column]
        expected = _bounds_text(self.low, self.high, self.inclusive)
        role = role_of(series)
        if role not in ("numeric", "datetime"):
            detail = f"dtype {series.dtype} is neither numeric nor datetime"
            return CheckOutcome(self.name, False, column, str(series.dtype), expected, detail)
        try:
            low, high = (_bound_for(series, b) for b in (self.low, self.high))
        except (TypeError, ValueError) as exc:
            return CheckOutcome(self.name, False, column, str(series.dtype), expected, str(exc))
        if facts is None:
            facts = _range_facts(frame, 0, column, low, high, self.inclusive)
        rows, present, smallest, largest, below, above = facts
        if present == 0:
            return CheckOutcome(self.name, True, column, "all missing", expected, "no values")
        observed = f"min {_text(smallest)}, max {_text(largest)}"
        problems = []
        if low is not None and below:
            problems.append(
                f"{below} of {present} values below {_text(low)} (min seen {_text(smallest)})"
            )
        if high is not None and above:
            problems.append(
                f"{above} of {present} values above {_text(high)} (max seen {_text(largest)})"
            )
        nulls = rows - present
        ignored = f" ({nulls} missing ignored)" if nulls else ""
        if problems:
            return CheckOutcome(
                self.name, False, column, observed, expected, "; ".join(problems) + ignored
            )
        detail = f"all {present} values {expected}{ignored}"
        return CheckOutcome(self.name, True, column, observed, expected, detail)

    def run_distributed(self, ddf: Any, ctx: StepContext) -> list[CheckOutcome]:
        """Counts, min and max per partition, combined: the local verdicts."""
        from plugins.dask_execution.checks import per_partition

        outcomes = []
        for column in self.columns:
            meta = ddf._meta
            facts = None
            if column in ddf.columns and role_of(meta[column]) in ("numeric", "datetime"):
                try:
                    low, high = (_bound_for(meta[column], b) for b in (self.low, self.high))
                except (TypeError, ValueError):
                    pass  # _judge says why, from the metadata alone
                else:
                    parts = per_partition(
                        ddf[[column]], _range_facts, column, low, high, self.inclusive
                    )
                    facts = _combine_range_facts(parts)
            outcomes.append(self._judge(meta, column, facts))
        return outcomes


def _range_facts(
    frame: pd.DataFrame, number: int, column: str, low: Any, high: Any, inclusive: bool
) -> tuple[int, int, Any, Any, int, int]:
    """(rows, present values, min, max, below low, above high) of one frame or partition."""
    series = frame[column]
    values = series.dropna()
    if values.empty:
        return len(series), 0, None, None, 0, 0
    below = above = 0
    if low is not None:
        below = int((values < low).sum() if inclusive else (values <= low).sum())
    if high is not None:
        above = int((values > high).sum() if inclusive else (values >= high).sum())
    return len(series), len(values), values.min(), values.max(), below, above


def _combine_range_facts(parts: list[tuple[int, int, Any, Any, int, int]]) -> tuple[Any, ...]:
    seen = [p for p in parts if p[1]]
    return (
        sum(p[0] for p in parts),
        sum(p[1] for p in parts),
        min((p[2] for p in seen), default=None),
        max((p[3] for p in seen), default=None),
        sum(p[4] for p in parts),
        sum(p[5] for p in parts),
    )


def _bound_for(series: pd.Series, bound: Any) -> Any:
    """A spec bound in the column's terms: a timestamp for datetimes, else a number."""
    if bound is None:
        return None
    if role_of(series) == "datetime":
        import pandas as pd

        if not isinstance(bound, str):
            raise ValueError(f"bound {bound!r} is not a date, but the column holds datetimes")
        stamp = pd.Timestamp(bound)
        tz = getattr(series.dtype, "tz", None)
        if tz is not None and stamp.tzinfo is None:
            stamp = stamp.tz_localize(tz)
        elif tz is None and stamp.tzinfo is not None:
            raise ValueError(f"bound {bound!r} has a time zone, but the column's times have none")
        return stamp
    if isinstance(bound, bool) or not isinstance(bound, (int, float)):
        raise ValueError(f"bound {bound!r} is not a number, but the column is numeric")
    return bound


# ---------------------------------------------------------------------------
# allowed_values
# ---------------------------------------------------------------------------

ALLOWED_VALUES_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "column": {"type": "string", "description": "The column to check."},
        "values": {
            "type": "array",
            "items": {"type": ["string", "number", "boolean"]},
            "minItems": 1,
            "description": "The only values allowed; missing values are not judged.",
        },
    },
    "required": ["column", "values"],
}


class AllowedValues:
    """Fails when a column holds a value outside a fixed set (a typo, a new category)."""

    name: ClassVar[str] = "allowed_values"

    def __init__(self, column: str, values: list[Any]) -> None:
        self.column = column
        self.values = list(values)

    def run(self, frame: pd.DataFrame, ctx: StepContext) -> list[CheckOutcome]:
        if self.column not in frame.columns:
            return [_missing_column(self.name, self.column, frame)]
        series = frame[self.column]
        values = series.dropna()
        offending = values[~values.isin(self.values)]
        return [self._verdict(len(values), len(offending), _counts(offending))]

    def _verdict(
        self, present: int, offending: int, counts: pd.Series, distinct: int | None = None
    ) -> CheckOutcome:
        if offending == 0:
            detail = f"all {present} values allowed"
            return CheckOutcome(self.name, True, self.column, [], self.values, detail)
        observed = [_plain(v) for v in counts.index[:EXAMPLES_SHOWN]]
        detail = f"{offending} of {present} values not allowed: {_examples(counts, distinct)}"
        return CheckOutcome(self.name, False, self.column, observed, self.values, detail)

    def run_distributed(self, ddf: Any, ctx: StepContext) -> list[CheckOutcome]:
        """The offending values counted on the cluster; the five most frequent come back."""
        from plugins.dask_execution.checks import counted

        if self.column not in ddf.columns:
            return [_missing_column(self.name, self.column, ddf)]
        column, allowed = self.column, self.values
        found = counted(
            ddf[[column]],
            [column],
            lambda rows: ~rows[column].isin(allowed),
            shown=EXAMPLES_SHOWN,
            also=[ddf[column].count()],
        )
        return [self._verdict(int(found.also[0]), found.rows, found.top, found.distinct)]


# ---------------------------------------------------------------------------
# max_null_fraction
# ---------------------------------------------------------------------------

MAX_NULL_FRACTION_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "Highest allowed fraction of missing values per column.",
        },
        "columns": {**COLUMN_LIST, "description": "Columns to check (default: all)."},
    },
    "required": ["max"],
}


class MaxNullFraction:
    """Fails for each column whose share of missing values exceeds ``max``."""

    name: ClassVar[str] = "max_null_fraction"

    def __init__(self, max: float, columns: list[str] | None = None) -> None:
        self.max = max
        self.columns = _as_list(columns) if columns is not None else None

    def run(self, frame: pd.DataFrame, ctx: StepContext) -> list[CheckOutcome]:
        wanted = self.columns if self.columns is not None else [str(c) for c in frame.columns]
        present = [c for c in wanted if c in frame.columns]
        null_counts = frame[present].isna().sum()  # one vectorised pass for all columns
        return self._verdicts(frame, wanted, null_counts, len(frame))

    def run_distributed(self, ddf: Any, ctx: StepContext) -> list[CheckOutcome]:
        """Missing values counted per partition and summed."""
        from plugins.dask_execution.checks import per_partition

        wanted = self.columns if self.columns is not None else [str(c) for c in ddf.columns]
        present = list(dict.fromkeys(c for c in wanted if c in ddf.columns))
        parts = per_partition(ddf[present] if present else ddf, _null_counts, present)
        nulls = {c: sum(p[1][c] for p in parts) for c in present}
        return self._verdicts(ddf, wanted, nulls, sum(p[0] for p in parts))

    def _verdicts(
        self, frame: Any, wanted: list[str], null_counts: Any, rows: int
    ) -> list[CheckOutcome]:
        expected = f"<= {_text(self.max)}"
        outcomes = []
        for column in wanted:
            if column not in frame.columns:
                outcomes.append(_missing_column(self.name, column, frame))
                continue
            nulls = int(null_counts[column])
            fraction = nulls / rows if rows else 0.0
            passed = fraction <= self.max
            detail = f"{nulls} of {rows} values missing ({fraction:.1%})"
            outcomes.append(
                CheckOutcome(self.name, passed, column, round(fraction, 4), expected, detail)
            )
        return outcomes


def _null_counts(part: pd.DataFrame, number: int, columns: list[str]) -> tuple[int, dict]:
    counts = part[columns].isna().sum()
    return len(part), {c: int(counts[c]) for c in columns}


# ---------------------------------------------------------------------------
# unique
# ---------------------------------------------------------------------------

UNIQUE_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "columns": {**COLUMN_LIST, "description": "Columns whose values must not repeat."},
        "together": {
            "type": "boolean",
            "default": False,
            "description": "Judge the columns as one composite key instead of one by one.",
        },
    },
    "required": ["columns"],
}


class Unique:
    """Fails when values (or composite keys) repeat; rows with a missing key are skipped.

    Missing values are skipped as SQL's UNIQUE does: ``max_null_fraction`` judges them.
    """

    name: ClassVar[str] = "unique"

    def __init__(self, columns: list[str], together: bool = False) -> None:
        self.columns = _as_list(columns)
        self.together = together

    def run(self, frame: pd.DataFrame, ctx: StepContext) -> list[CheckOutcome]:
        missing = [c for c in self.columns if c not in frame.columns]
        if self.together:
            if missing:
                return [_missing_column(self.name, c, frame) for c in missing]
            return [self._judge(frame, self.columns)]
        return [
            _missing_column(self.name, c, frame) if c in missing else self._judge(frame, [c])
            for c in self.columns
        ]

    def _judge(self, frame: pd.DataFrame, key: list[str]) -> CheckOutcome:
        rows = frame[key].dropna(how="any")
        duplicated = rows.duplicated(keep="first")
        count = int(duplicated.sum())
        if count == 0:
            return self._verdict(key, len(rows), 0, None)
        repeated = rows[rows.duplicated(keep=False)]
        counts = _counts(repeated[key[0]] if len(key) == 1 else repeated)
        return self._verdict(key, len(rows), count, counts)

    def _verdict(
        self,
        key: list[str],
        rows: int,
        count: int,
        counts: pd.Series | None,
        distinct: int | None = None,
    ) -> CheckOutcome:
        label = ", ".join(key)
        what = "key" if len(key) > 1 else "value"
        if count == 0 or counts is None:
            detail = f"all {rows} {what}s unique"
            return CheckOutcome(self.name, True, label, 0, 0, detail)
        examples = _examples(counts, distinct)
        detail = f"{count} of {rows} rows repeat an earlier {what}: {examples}"
        return CheckOutcome(self.name, False, label, count, 0, detail)

    def run_distributed(self, ddf: Any, ctx: StepContext) -> list[CheckOutcome]:
        """Keys counted on the cluster: repeats = rows - distinct keys; the five most
        repeated come back."""
        missing = [c for c in self.columns if c not in ddf.columns]
        if self.together:
            if missing:
                return [_missing_column(self.name, c, ddf) for c in missing]
            return [self._judge_distributed(ddf, self.columns)]
        return [
            _missing_column(self.name, c, ddf)
            if c in missing
            else self._judge_distributed(ddf, [c])
            for c in self.columns
        ]

    def _judge_distributed(self, ddf: Any, key: list[str]) -> CheckOutcome:
        from plugins.dask_execution.checks import counted

        found = counted(ddf[key], key, shown=EXAMPLES_SHOWN, repeated_only=True)
        count = found.rows - found.distinct
        return self._verdict(key, found.rows, count, found.top, found.repeated)


# ---------------------------------------------------------------------------
# row_count
# ---------------------------------------------------------------------------

ROW_COUNT_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "min": {"type": "integer", "minimum": 0, "description": "Fewest rows allowed."},
        "max": {"type": "integer", "minimum": 0, "description": "Most rows allowed."},
    },
    "required": [],
}


class RowCount:
    """Fails when the table is smaller or larger than expected (a truncated export, say)."""

    name: ClassVar[str] = "row_count"

    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        self.low = min
        self.high = max

    def validate(self, ctx: StepContext) -> list[Finding]:
        if self.low is None and self.high is None:
            return [Finding("row_count needs min, max or both", hint="for example min: 1000")]
        if self.low is not None and self.high is not None and self.low > self.high:
            return [Finding(f"min {self.low} is above max {self.high}", key="min")]
        return []

    def run(self, frame: pd.DataFrame, ctx: StepContext) -> list[CheckOutcome]:
        return self._verdict(len(frame))

    def run_distributed(self, ddf: Any, ctx: StepContext) -> list[CheckOutcome]:
        """Rows counted on the workers (from Parquet footers where Dask can)."""
        return self._verdict(len(ddf))

    def _verdict(self, rows: int) -> list[CheckOutcome]:
        expected = _bounds_text(self.low, self.high)
        too_few = self.low is not None and rows < self.low
        too_many = self.high is not None and rows > self.high
        if too_few:
            detail = f"{rows} rows, fewer than {self.low}"
        elif too_many:
            detail = f"{rows} rows, more than {self.high}"
        else:
            detail = f"{rows} rows"
        return [CheckOutcome(self.name, not (too_few or too_many), None, rows, expected, detail)]


CHECKS: tuple[tuple[type, dict[str, Any], str], ...] = (
    (RequiredColumns, REQUIRED_COLUMNS_PARAMS, "Require columns to be present"),
    (Dtypes, DTYPES_PARAMS, "Require column dtypes (numeric, string, datetime, ...)"),
    (Range, RANGE_PARAMS, "Require values within min/max"),
    (AllowedValues, ALLOWED_VALUES_PARAMS, "Require values from a fixed set"),
    (MaxNullFraction, MAX_NULL_FRACTION_PARAMS, "Limit the fraction of missing values"),
    (Unique, UNIQUE_PARAMS, "Require unique values or composite keys"),
    (RowCount, ROW_COUNT_PARAMS, "Require a number of rows"),
)


@hookimpl
def specops_register_checks(register: Register) -> None:
    for check_class, schema, summary in CHECKS:
        register(check_class.name, check_class, schema, summary=summary)
