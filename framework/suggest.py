"""'Did you mean' suggestions for misspelt keys and type names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def closest(word: Any, candidates: Iterable[Any]) -> str | None:
    """The most similar candidate, or None when nothing is close enough to help.

    The word and the candidates are compared as text: a table's column names may be
    numbers, and a misspelt key may have been read as one.
    """
    matches = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: Any, candidates: Iterable[Any]) -> str:
    """A ``"; did you mean 'x'?"`` suffix, or an empty string."""
    match = closest(word, candidates)
    return f"; did you mean '{match}'?" if match else ""
