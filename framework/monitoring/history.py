"""``specops monitor history NAME``: each column's statistic across past monitor runs."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from framework.errors import StoreError
from framework.suggest import did_you_mean

if TYPE_CHECKING:
    from framework.store import Store

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None]) -> str:
    """One character per run, scaled to the column's own range; a gap for no value."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    if not present:
        return " " * len(values)
    low, high = min(present), max(present)
    span = high - low
    chars = []
    for value in values:
        if value is None or not math.isfinite(value):
            chars.append(" ")
        elif span == 0:
            chars.append(BARS[0])
        else:
            chars.append(BARS[round((value - low) / span * (len(BARS) - 1))])
    return "".join(chars)


TEXT_CHARACTERS = 200
"""The longest text of a monitor run's row shown (its decision, data, statuses): a row
edited in the store with a 100 KB decision printed 9.7 MB of table."""

INTEGERS = ("rows", "version", "exit_code", "promoted_version")
NUMBERS = ("drift_share",)
TEXTS = ("id", "started_at", "data", "decision", "retrain_run_id", "retrain_status")


def _is_number(value: Any, whole: bool = False) -> bool:
    kinds = (int,) if whole else (int, float)
    return value is None or (isinstance(value, kinds) and not isinstance(value, bool))


def _damaged(run_id: Any, field: str, value: Any) -> StoreError:
    return StoreError(
        f"monitor run {str(run_id)[:60]}'s record is damaged: {field} is {str(value)[:40]!r} "
        "(a row edited in the store, or written by something else); run `specops store verify`"
    )


def _require_numbers(row: dict[str, Any], fields: tuple[str, ...], run_id: Any) -> None:
    for field in fields:
        if not _is_number(row.get(field)):
            raise _damaged(run_id, field, row.get(field))


def _require_intact(run: dict[str, Any]) -> None:
    """Numbers where the table formats numbers, and text cut to :data:`TEXT_CHARACTERS`:
    a row someone else wrote is named as damaged, never a crash of the table (exit 3)."""
    for field in INTEGERS:
        if not _is_number(run.get(field), whole=True):
            raise _damaged(run.get("id"), field, run.get(field))
    _require_numbers(run, NUMBERS, run.get("id"))
    for field in TEXTS:
        value = run.get(field)
        if value is not None and not isinstance(value, str):
            value = str(value)
        if isinstance(value, str) and len(value) > TEXT_CHARACTERS:
            value = value[:TEXT_CHARACTERS] + f"... ({len(value):,} characters)"
        run[field] = value


def history(store: Store, name: str, limit: int = 20) -> dict[str, Any]:
    """The last ``limit`` monitor runs of a model and each column's trend across them."""
    runs = store.monitor_runs(name, limit=limit)
    if not runs:
        known = store.monitored_models()
        raise StoreError(
            f"no monitor runs recorded for '{name}' in {store.display_url}"
            f"{did_you_mean(name, known)}; monitored models: {', '.join(known) or 'none yet'}"
        )
    ids = [r["id"] for r in runs]  # as stored: the columns are found by them
    for run in runs:
        _require_intact(run)
    by_run = store.monitor_columns(ids)
    for run_id, cells in by_run.items():
        for cell in cells:  # (a threshold may be a ${env:...} placeholder: shown as text)
            where = f"{run_id} (column {str(cell.get('column_name'))[:60]!r})"
            _require_numbers(cell, ("statistic",), where)
    # each run's columns by name, oldest run first; a column's first sighting fixes its place
    per_run = [{c["column_name"]: c for c in by_run[run_id]} for run_id in ids]
    names = dict.fromkeys(column for run in per_run for column in run)
    columns = []
    for column in names:
        cells = [run.get(column) for run in per_run]
        values = [c["statistic"] if c else None for c in cells]
        tests = sorted({c["test"] for c in cells if c and c["test"]})
        last = next((c for c in reversed(cells) if c and c["statistic"] is not None), None)
        columns.append(
            {
                "column": column,
                "tests": tests,
                "values": values,
                "statuses": [c["status"] if c else None for c in cells],
                "drifted_runs": sum(1 for c in cells if c and c["status"] == "drift"),
                "last": last["statistic"] if last else None,
                "threshold": last["threshold"] if last else None,
                "drift_if": last["drift_if"] if last else None,
                "trend": sparkline(values),
            }
        )
    return {
        "model": name,
        "runs": [
            {
                key: run[key]
                for key in (
                    "id",
                    "started_at",
                    "version",
                    "data",
                    "rows",
                    "decision",
                    "exit_code",
                    "dataset_drift",
                    "drift_share",
                    "retrain_run_id",
                    "retrain_status",
                    "promoted_version",
                )
            }
            for run in runs
        ],
        "columns": columns,
    }
