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


def history(store: Store, name: str, limit: int = 20) -> dict[str, Any]:
    """The last ``limit`` monitor runs of a model and each column's trend across them."""
    runs = store.monitor_runs(name, limit=limit)
    if not runs:
        known = store.monitored_models()
        raise StoreError(
            f"no monitor runs recorded for '{name}' in {store.display_url}"
            f"{did_you_mean(name, known)}; monitored models: {', '.join(known) or 'none yet'}"
        )
    by_run = store.monitor_columns([r["id"] for r in runs])
    # each run's columns by name, oldest run first; a column's first sighting fixes its place
    per_run = [{c["column_name"]: c for c in by_run[r["id"]]} for r in runs]
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
