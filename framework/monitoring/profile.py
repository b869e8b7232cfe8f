"""Reference profiles: what monitoring knows about the training data, without rereading it.

Written into every model package as ``profile.json`` at register time: one compact
entry per feature (from the training split) and one for the model's prediction
(on the held-out test split: predictions on the rows a model learnt from are
over-confident, and would make every new batch look drifted).

A numeric column keeps its exact ECDF at 1,001 quantile points (``grid`` with the
counts ``le`` = rows <= point and ``lt`` = rows < point, so point masses and
ties are exact), decile bins, a few quantiles, and its distinct values when it
has at most 20. KS and Wasserstein are computed against that ECDF, interpolated
linearly between points: measured against SciPy on the full data, KS's D is off
by at most 0.0002 (see docs/monitoring.md); a 10,000-row reservoir sample was
70 times less accurate and is not kept. A categorical column keeps its category
counts (the 1,000 most frequent; the rest pooled as ``other``).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.columns import PREDICTION
from framework.errors import StoreError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from framework.store import ModelVersion, Store

PROFILE_FILE = "profile.json"
FORMAT = 1
GRID_POINTS = 1001  # ECDF resolution: quantile levels 0, 0.001, ..., 1
TAIL_POINTS = 32  # extra levels in each tail, 8 per decade from 1e-7 to 1e-3
DECILES = 10  # bins for PSI, Jensen-Shannon and chi-square on continuous columns
ATOMS_MAX = 20  # numeric columns with at most this many distinct values keep each value
CATEGORIES_MAX = 1000
SHOWN_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
OTHER = "(other)"
UNSEEN = "(unseen)"


@dataclass
class ColumnProfile:
    """One column of the reference: counts, and its distribution in a fixed, small form.

    This is what a drift test's ``statistic(reference, current)`` receives as
    ``reference``. Numeric fields are empty (None, ``{}``, ``[]``) for categorical
    columns and the other way round; every field is empty when ``count`` is 0.
    """

    name: str
    """The column's name (``"prediction"`` for the model's output)."""
    role: str
    """``"numeric"`` or ``"categorical"``: which fields below are filled."""
    source: str
    """``"feature"`` (profiled on the training split) or ``"prediction"`` (on the test split)."""
    count: int
    """Non-missing values profiled."""
    nulls: int
    """Missing values (NaN and infinities for numeric columns)."""
    min: float | None = None
    """Numeric: the smallest value."""
    max: float | None = None
    """Numeric: the largest value."""
    mean: float | None = None
    """Numeric: the mean."""
    std: float | None = None
    """Numeric: the population standard deviation (0.0 for a constant column)."""
    distinct: int | None = None
    """Numeric: how many distinct values."""
    quantiles: dict[str, float] = field(default_factory=dict)
    """Numeric: a few quantiles keyed by level as text: ``"0.01"``, ``"0.05"``, ``"0.25"``,
    ``"0.5"``, ``"0.75"``, ``"0.95"``, ``"0.99"``."""
    grid: list[float] = field(default_factory=list)
    """Numeric: the ECDF's points, ascending, distinct (about 1,001 quantiles plus tails)."""
    le: list[int] = field(default_factory=list)
    """Numeric: per ``grid`` point, how many values are <= it."""
    lt: list[int] = field(default_factory=list)
    """Numeric: per ``grid`` point, how many values are < it (``le - lt`` is its count)."""
    bins: dict[str, list[float]] = field(default_factory=dict)
    """Numeric: decile bins, ``{"edges": [...], "counts": [...]}`` (one more edge than counts)."""
    atoms: dict[str, list[float]] = field(default_factory=dict)
    """Numeric with at most 20 distinct values: ``{"values": [...], "counts": [...]}``."""
    categories: dict[str, int] = field(default_factory=dict)
    """Categorical: count per category (as text), the 1,000 most frequent."""
    other: int = 0
    """Categorical: the count of values pooled beyond those 1,000 categories."""

    @property
    def null_share(self) -> float:
        """The share of missing values, ``nulls / (count + nulls)``."""
        total = self.count + self.nulls
        return self.nulls / total if total else 0.0

    # numeric: the ECDF and the quantile function ----------------------------

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import numpy as np

        return (
            np.asarray(self.grid, dtype="float64"),
            np.asarray(self.le, dtype="float64") / self.count,
            np.asarray(self.lt, dtype="float64") / self.count,
        )

    def ks_distance(self, ordered: np.ndarray) -> float:
        """Two-sample KS D between the reference and sorted values, vectorised.

        Exact at the grid points (both sides' counts are exact there); between
        them the reference ECDF is interpolated linearly, and the new values'
        ECDF is exact at each value, on both sides of each jump.
        """
        import numpy as np

        grid, le, lt = self._arrays()
        n = len(ordered)
        cur_le = np.searchsorted(ordered, grid, side="right")
        cur_lt = np.searchsorted(ordered, grid, side="left")
        distance = max(float(np.abs(cur_le / n - le).max()), float(np.abs(cur_lt / n - lt).max()))
        # values equal to a grid point were judged exactly above; the rest interpolate
        marks = np.zeros(n + 1, dtype="int64")
        np.add.at(marks, cur_lt, 1)
        np.add.at(marks, cur_le, -1)
        on_grid = np.cumsum(marks[:n]) > 0
        reference = np.interp(ordered, np.repeat(grid, 2), np.column_stack([lt, le]).ravel())
        steps = np.arange(n, dtype="float64") / n
        gap = np.maximum(np.abs(steps + 1 / n - reference), np.abs(steps - reference))
        gap[on_grid] = 0.0
        return max(distance, float(gap.max()) if n else 0.0)

    def quantile(self, levels: np.ndarray) -> np.ndarray:
        """The reference's quantile function at ``levels`` (flat over point masses)."""
        import numpy as np

        grid, le, lt = self._arrays()
        return np.interp(levels, np.column_stack([lt, le]).ravel(), np.repeat(grid, 2))

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """The share of reference values <= each point (interpolated between grid points)."""
        import numpy as np

        grid, le, lt = self._arrays()
        inside = np.interp(points, np.repeat(grid, 2), np.column_stack([lt, le]).ravel())
        exact = np.searchsorted(grid, points)
        hit = (exact < len(grid)) & (grid[np.minimum(exact, len(grid) - 1)] == points)
        inside[hit] = le[exact[hit]]
        return inside

    def wasserstein(self, ordered: np.ndarray) -> float:
        """First Wasserstein distance to sorted values: mean |x_i - Q_ref((i + 0.5) / n)|."""
        import numpy as np

        n = len(ordered)
        levels = (np.arange(n, dtype="float64") + 0.5) / n
        return float(np.abs(ordered - self.quantile(levels)).mean())

    # cells: the common ground of PSI, Jensen-Shannon and chi-square ----------

    def cells(self, current: pd.Series) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Labels, reference counts and new counts per cell.

        Categorical: one cell per category, plus ``(other)`` and ``(unseen)``
        for categories pooled in the profile or never seen in training. Numeric
        with at most 20 distinct values: one cell per value (and ``(unseen)``);
        otherwise the reference's deciles, the outer two open-ended. ``current``
        holds non-missing values (sorted, for numeric columns).
        """
        import numpy as np

        if self.role == "categorical":
            counts = current.value_counts()
            counts = counts[counts > 0]
            names = list(self.categories)
            new = {str(k): int(v) for k, v in counts.items()}
            ref = [self.categories[c] for c in names]
            cur = [new.pop(c, 0) for c in names]
            labels = list(names)
            if self.other:
                labels.append(OTHER)
                ref.append(self.other)
                cur.append(0)  # values pooled in training are indistinguishable from unseen
            if new:
                labels.append(UNSEEN)
                ref.append(0)
                cur.append(sum(new.values()))
            return labels, np.asarray(ref, dtype="float64"), np.asarray(cur, dtype="float64")
        values = current.to_numpy(dtype="float64")
        if self.atoms:
            atoms = np.asarray(self.atoms["values"], dtype="float64")
            left = np.searchsorted(values, atoms, side="left")
            right = np.searchsorted(values, atoms, side="right")
            cur = (right - left).astype("float64")
            labels = [_number(v) for v in atoms]
            ref = np.asarray(self.atoms["counts"], dtype="float64")
            rest = len(values) - cur.sum()
            if rest:
                labels.append(UNSEEN)
                ref = np.append(ref, 0.0)
                cur = np.append(cur, rest)
            return labels, ref, cur
        edges = np.asarray(self.bins["edges"], dtype="float64")
        inner = edges[1:-1]
        ref = np.asarray(self.bins["counts"], dtype="float64")
        positions = np.searchsorted(values, inner, side="left")
        cur = np.diff(np.concatenate([[0], positions, [len(values)]])).astype("float64")
        labels = [f"< {_number(inner[0])}"]
        labels += [f"{_number(a)} to {_number(b)}" for a, b in itertools.pairwise(inner)]
        labels.append(f">= {_number(inner[-1])}")
        return labels, ref, cur

    def to_dict(self) -> dict[str, Any]:
        """The fields of its role as plain JSON data (what ``profile.json`` holds)."""
        # getattr, not dataclasses.asdict: asdict deep-copies every list of the
        # ECDF grid (tens of thousands of numbers), which cost a quarter second a run
        keep = (
            ("categories", "other")
            if self.role == "categorical"
            else ("min", "max", "mean", "std", "distinct", "quantiles", "grid", "le", "lt", "bins")
            + (("atoms",) if self.atoms else ())
        )
        base = ("name", "role", "source", "count", "nulls")
        return {k: getattr(self, k) for k in (*base, *keep)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnProfile:
        """The profile :meth:`to_dict` wrote; handy to build a reference in a test."""
        return cls(**data)


def _number(value: float) -> str:
    return f"{value:.6g}"


@dataclass
class Profile:
    """Every watched column of the reference, by name."""

    columns: dict[str, ColumnProfile]
    rows: int
    prediction_rows: int
    task: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "task": self.task,
                "rows": self.rows,
                "prediction_rows": self.prediction_rows,
                "grid_points": GRID_POINTS,
                "columns": [c.to_dict() for c in self.columns.values()],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Profile:
        data = json.loads(text)
        columns = [ColumnProfile.from_dict(c) for c in data["columns"]]
        return cls(
            {c.name: c for c in columns}, data["rows"], data["prediction_rows"], data["task"]
        )


# ---------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------


def grid_levels() -> np.ndarray:
    """Quantile levels of the ECDF grid: every 0.001, and finer into both tails
    (down to 1e-7), where heavy-tailed columns would otherwise bend Wasserstein."""
    import numpy as np

    tails = np.geomspace(1e-7, 1e-3, TAIL_POINTS, endpoint=False)
    return np.unique(np.concatenate([np.linspace(0.0, 1.0, GRID_POINTS), tails, 1 - tails]))


def numeric_profile(name: str, values: np.ndarray, source: str = "feature") -> ColumnProfile:
    """Profile one numeric column; non-finite values count as missing."""
    import numpy as np

    values = np.asarray(values, dtype="float64")
    finite = np.isfinite(values)
    ordered = np.sort(values[finite])
    n = len(ordered)
    profile = ColumnProfile(name, "numeric", source, n, int(len(values) - n))
    if n == 0:
        return profile
    points = ordered[np.unique(np.rint((n - 1) * grid_levels()).astype("int64"))]
    grid = np.unique(points)
    deciles = np.unique(ordered[np.rint((n - 1) * np.linspace(0, 1, DECILES + 1)).astype(int)])
    inner = deciles[1:-1] if len(deciles) > 2 else deciles[:0]
    positions = np.searchsorted(ordered, inner, side="left")
    bin_counts = np.diff(np.concatenate([[0], positions, [n]]))
    distinct = int(np.count_nonzero(np.diff(ordered))) + 1
    profile.min, profile.max = float(ordered[0]), float(ordered[-1])
    profile.mean, profile.std = float(ordered.mean()), float(ordered.std())
    profile.distinct = distinct
    profile.quantiles = {f"{q:g}": float(ordered[round((n - 1) * q)]) for q in SHOWN_QUANTILES}
    profile.grid = grid.tolist()
    profile.le = np.searchsorted(ordered, grid, side="right").tolist()
    profile.lt = np.searchsorted(ordered, grid, side="left").tolist()
    edges = np.concatenate([[ordered[0]], inner, [ordered[-1]]])
    profile.bins = {"edges": edges.tolist(), "counts": bin_counts.tolist()}
    if distinct <= ATOMS_MAX:
        atoms, counts = np.unique(ordered, return_counts=True)
        profile.atoms = {"values": atoms.tolist(), "counts": counts.tolist()}
    return profile


def numeric_from_counts(
    name: str,
    values: np.ndarray,
    counts: np.ndarray,
    nulls: int,
    source: str,
    mean: float,
    std: float,
) -> ColumnProfile:
    """Profile a numeric column known by its distinct finite values (ascending) and their
    counts: exactly what :func:`numeric_profile` gives on the rows (``mean`` and ``std``,
    computed elsewhere, aside). For statistics aggregated over partitions."""
    import numpy as np

    values = np.asarray(values, dtype="float64")
    counts = np.asarray(counts, dtype="int64")
    running = np.cumsum(counts)
    n = int(running[-1]) if len(running) else 0
    profile = ColumnProfile(name, "numeric", source, n, int(nulls))
    if n == 0:
        return profile

    def at(ranks: np.ndarray) -> np.ndarray:  # the order statistics ordered[ranks]
        return values[np.searchsorted(running, ranks, side="right")]

    grid = np.unique(at(np.unique(np.rint((n - 1) * grid_levels()).astype("int64"))))
    deciles = np.unique(at(np.rint((n - 1) * np.linspace(0, 1, DECILES + 1)).astype(int)))
    inner = deciles[1:-1] if len(deciles) > 2 else deciles[:0]
    below = running - counts  # rows < each value
    where = np.searchsorted(values, grid)
    edges = np.concatenate([[values[0]], inner, [values[-1]]])
    positions = below[np.searchsorted(values, inner)]
    return numeric_from_summary(
        profile,
        minimum=float(values[0]),
        maximum=float(values[-1]),
        mean=mean,
        std=std,
        distinct=len(values),
        quantiles={f"{q:g}": at(np.asarray([round((n - 1) * q)]))[0] for q in SHOWN_QUANTILES},
        grid=grid,
        le=running[where],
        lt=below[where],
        edges=edges,
        bin_counts=np.diff(np.concatenate([[0], positions, [n]])),
        atoms=(values, counts) if len(values) <= ATOMS_MAX else None,
    )


def numeric_from_summary(
    profile: ColumnProfile,
    *,
    minimum: float,
    maximum: float,
    mean: float,
    std: float,
    distinct: int,
    quantiles: dict[str, float],
    grid: np.ndarray,
    le: np.ndarray,
    lt: np.ndarray,
    edges: np.ndarray,
    bin_counts: np.ndarray,
    atoms: tuple[np.ndarray, np.ndarray] | None,
) -> ColumnProfile:
    """Fill a numeric profile (``count`` and ``nulls`` set) from its statistics, however
    they were computed: the fields :func:`numeric_profile` writes, in its format."""
    profile.min, profile.max = float(minimum), float(maximum)
    profile.mean, profile.std = float(mean), float(std)
    profile.distinct = int(distinct)
    profile.quantiles = {key: float(value) for key, value in quantiles.items()}
    profile.grid = [float(v) for v in grid]
    profile.le = [int(v) for v in le]
    profile.lt = [int(v) for v in lt]
    profile.bins = {"edges": [float(v) for v in edges], "counts": [int(v) for v in bin_counts]}
    if atoms is not None:
        profile.atoms = {
            "values": [float(v) for v in atoms[0]],
            "counts": [int(v) for v in atoms[1]],
        }
    return profile


def categorical_profile(name: str, series: pd.Series, source: str = "feature") -> ColumnProfile:
    """Profile one categorical column: category counts, the rarest pooled past 1,000."""
    return categorical_from_counts(
        name, series.value_counts(dropna=True), int(series.isna().sum()), source
    )


def categorical_from_counts(
    name: str, counts: pd.Series, nulls: int, source: str = "feature"
) -> ColumnProfile:
    """Profile a categorical column from its counts per category (most frequent first,
    as ``value_counts`` orders them): also for counts aggregated over partitions."""
    counts = counts[counts > 0]
    kept = counts.iloc[:CATEGORIES_MAX]
    return ColumnProfile(
        name,
        "categorical",
        source,
        int(counts.sum()),
        nulls,
        categories={str(k): int(v) for k, v in kept.items()},
        other=int(counts.iloc[CATEGORIES_MAX:].sum()),
    )


def column_profile(name: str, series: pd.Series, role: str, source: str) -> ColumnProfile:
    if role == "numeric":
        return numeric_profile(
            name, series.to_numpy(dtype="float64", na_value=float("nan")), source
        )
    return categorical_profile(name, series, source)


def prediction_series(predictions: Any, task: str, labels: list[Any] | None) -> pd.Series:
    """What monitoring calls the prediction: the positive-class score (binary), the
    predicted label (multiclass) or the predicted value (regression)."""
    import numpy as np
    import pandas as pd

    if task == "binary" and predictions.proba is not None:
        return pd.Series(predictions.proba[:, 1], name=PREDICTION)
    if task == "multiclass":
        names = np.asarray([str(v) for v in (labels or [])], dtype=object)
        codes = np.asarray(predictions.codes, dtype="int64")
        values = names[codes] if len(names) else codes.astype(str)
        return pd.Series(values, name=PREDICTION, dtype="category")
    return pd.Series(np.asarray(predictions.codes, dtype="float64"), name=PREDICTION)


def prediction_role(task: str) -> str:
    return "categorical" if task == "multiclass" else "numeric"


def build_profile(
    features: pd.DataFrame,
    roles: dict[str, str],
    predictions: Any,
    task: str,
    labels: list[Any] | None,
) -> Profile:
    """The reference profile of training features and held-out predictions."""
    columns = {name: column_profile(name, features[name], roles[name], "feature") for name in roles}
    predicted = prediction_series(predictions, task, labels)
    columns[PREDICTION] = column_profile(PREDICTION, predicted, prediction_role(task), "prediction")
    return Profile(columns, len(features), len(predicted), task)


def write_profile(
    package_dir: Path,
    features: pd.DataFrame,
    signature: Any,
    predictions: Any,
    task: str,
    labels: list[Any] | None,
) -> Path:
    """Write ``profile.json`` into a model package (called by the engine's register step)."""
    profile = build_profile(features, profile_roles(signature), predictions, task, labels)
    return save_profile(package_dir, profile)


def profile_roles(signature: Any) -> dict[str, str]:
    """Each feature's profile role: categorical, or numeric (booleans included)."""
    return {
        c.name: ("categorical" if c.role == "categorical" else "numeric") for c in signature.columns
    }


def save_profile(package_dir: Path, profile: Profile) -> Path:
    """Write ``profile.json`` into a model package."""
    path = package_dir / PROFILE_FILE
    path.write_text(profile.to_json())
    return path


def load_profile(store: Store, version: ModelVersion) -> Profile:
    """A stored version's reference profile, hash-checked; a clear error when it has none."""
    digest = version.files.get(PROFILE_FILE)
    if digest is None:
        raise StoreError(
            f"{version.ref} has no reference profile ({PROFILE_FILE}): it was trained before "
            "monitoring existed; run `specops run SPEC` to train a version that has one"
        )
    path = store.artifacts.verified(digest, f"{PROFILE_FILE} of {version.ref}")
    try:
        return Profile.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{PROFILE_FILE} of {version.ref} is unreadable: {exc}") from exc
