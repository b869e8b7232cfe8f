"""Library warnings, caught per step and told in one line instead of dumped on stderr.

scikit-learn's ``ConvergenceWarning`` arrives as a paragraph with two URLs, in the
middle of the progress display, and says nothing about which step raised it. Caught
here, each distinct warning becomes ``Category: first sentence (xN)`` in the step's
detail and its outputs, so it is recorded with the run and shown in ``runs show``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

URL = re.compile(r"\s*\(?https?://\S+\)?")
MAX_TEXT = 160


@contextmanager
def caught_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning raised inside, none printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def summarize(caught: list[warnings.WarningMessage]) -> list[str]:
    """Distinct warnings, each ``Category: first line`` with a count when repeated."""
    counts: dict[str, int] = {}
    for record in caught:
        text = URL.sub("", str(record.message)).strip().splitlines()
        first = text[0].strip() if text else ""
        if len(first) > MAX_TEXT:
            first = first[: MAX_TEXT - 1] + "…"
        line = f"{record.category.__name__}: {first}" if first else record.category.__name__
        counts[line] = counts.get(line, 0) + 1
    return [line if n == 1 else f"{line} (x{n})" for line, n in counts.items()]
