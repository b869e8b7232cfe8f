"""Store reads the pages share: bounded, paginated, never loading a model package.

The UI opens the store as the registry commands do (``Store.open_existing`` on the
address ``--store``/$SPECOPS_STORE/the nearest .specops names, read-only) and reads
it only through :mod:`framework.store`'s API, so it works on a shared store too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAGE_SIZE = 50
"""Rows per page of every paginated table."""
KEY_METRICS = 3
"""Metrics shown per version when the spec's gate names none."""


def open_store(store: str | None, artifacts: str | None = None) -> Any:
    """The existing store ``--store``/``--artifacts`` name, opened for reading."""
    from framework.refs import store_address
    from framework.store import Store

    return Store.open_existing(store_address(store, artifacts), write=False)


@dataclass(frozen=True)
class Page:
    """One page of a listing: its rows, its number (from 1) and whether more follow."""

    rows: list[Any]
    number: int
    has_next: bool


def paginate(rows: list[Any], number: int, size: int = PAGE_SIZE) -> Page:
    """A page of rows fetched with ``LIMIT size + 1`` (the extra row says 'more')."""
    return Page(rows[:size], number, len(rows) > size)


def key_metrics(gate: Any, metrics: dict[str, float]) -> list[str]:
    """The metrics a version is judged by: those its spec's gate names, else the
    first few by name (what ``models list`` shows)."""
    named = [m for m in gate if m in metrics] if isinstance(gate, dict) else []
    return named or sorted(metrics)[:KEY_METRICS]
