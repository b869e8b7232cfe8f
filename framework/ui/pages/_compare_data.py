"""The compare view's data: what ``specops runs diff`` says, for two runs or more.

``runs diff`` compares two runs (:func:`framework.cli.registry_commands.diff_rows`):
each row a (section, key) with both values and whether they differ. For N runs the
first run is diffed against each other one with that same function and the rows are
merged: a row's value for run i is what diff_rows gave for it, and the row changed
when any pair said so. So the UI and the CLI can never disagree about what changed
(float noise included: diff_rows' ``_same`` decides).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from framework.store import Store

MAX_RUNS = 20
"""More columns than this is not a comparison anyone reads; the cost stays bounded."""

SECTIONS = ("run", "spec", "params", "data", "packages", "plugins", "metrics", "model")


@dataclass(frozen=True)
class CompareRow:
    section: str
    key: str
    values: list[Any]
    changed: bool
    differs: list[bool]
    """Per run: does its value differ from the first run's (what to highlight)."""


@dataclass(frozen=True)
class Comparison:
    """The runs compared (ids in the order asked) and one row per compared fact."""

    run_ids: list[str]
    rows: list[CompareRow]
    missing: list[str]
    """Ids asked for that name no run (shown as a notice, not an error page)."""

    @property
    def changed(self) -> int:
        return sum(row.changed for row in self.rows)


def chosen_ids(values: list[str]) -> list[str]:
    """The run ids a form sent (``?run=A&run=B``, or one comma-separated value), each
    once, in order, at most :data:`MAX_RUNS`."""
    ids = [part.strip() for value in values for part in value.split(",")]
    return list(dict.fromkeys(i for i in ids if i and len(i) <= 200))[:MAX_RUNS]


def compare(store: Store, run_ids: list[str]) -> Comparison:
    """Rows of params, metrics, plugin versions (and the rest ``runs diff`` shows) for
    the runs named, in the order named."""
    from framework.cli.registry_commands import diff_rows

    runs, missing = [], []
    for run_id in run_ids:
        run = find(store, run_id)
        if run is None:
            missing.append(run_id)
        elif run.id not in {r.id for r in runs}:
            runs.append(run)
    if not runs:
        return Comparison([], [], missing)
    first = runs[0]
    merged: dict[tuple[str, str], CompareRow] = {}
    order: dict[tuple[str, str], tuple[int, int, int]] = {}
    for index, other in enumerate(runs[1:] or [first], start=1):
        for position, row in enumerate(diff_rows(store, first, other)):
            key = (row["section"], row["key"])
            if key not in merged:
                merged[key] = CompareRow(
                    row["section"], row["key"], [None] * len(runs), False, [False] * len(runs)
                )
                order[key] = (_rank(row["section"]), index, position)
            entry = merged[key]
            entry.values[0] = row["a"]
            if len(runs) > 1:
                entry.values[index] = row["b"]
                entry.differs[index] = bool(row["changed"])
    for key, entry in merged.items():
        # a row no pair emitted for run i: absent there, as in the first run (both None)
        if any(entry.differs):
            merged[key] = replace(entry, changed=True)
    rows = [merged[key] for key in sorted(merged, key=order.__getitem__)]
    return Comparison([run.id for run in runs], rows, missing)


def find(store: Store, run_id: str) -> Any:
    """The run of that id, or of the one run whose id starts so (as the CLI accepts)."""
    run = store.run(run_id)
    if run is None:
        ids = store.run_ids(run_id)
        run = store.run(ids[0]) if len(ids) == 1 else None
    return run


def _rank(section: str) -> int:
    return SECTIONS.index(section) if section in SECTIONS else len(SECTIONS)
