"""red-team-2: a batch's category value is the sender's; what monitor shows of it is bounded.

A CSV whose one field is 10 MB (quoted, with or without newlines) was printed whole
in the drift detail ("category never seen in training: 'lll...'"): the console spent
30-50 s wrapping it, and each monitor record stored it three times (detail, summary,
plot labels: 30 MB). Now each value is cut to 60 characters with its length.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult
from tests.test_data_limits import frame

Cli = Callable[..., CliResult]


def test_a_long_unseen_category_is_quoted_cut_and_stored_cut(
    cli: Cli, limits_champion: Path, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.csv"
    lines = frame().to_csv(index=False).splitlines()
    long_value = "line\n" * 200_000  # 1 MB in one quoted field
    lines.insert(2, f'5,"{long_value}",1')
    batch.write_text("\n".join(lines) + "\n")

    started = time.perf_counter()
    result = cli("monitor", limits_champion / "spec.yaml", "--data", batch, "--json")
    took = time.perf_counter() - started

    assert result.code in (0, 1), result.err
    assert "line\\nline" in result.out and "(1,000,000 characters)" in result.out
    assert len(result.out) < 100_000  # the value once, cut: not a megabyte
    record = json.loads(result.out)
    assert long_value not in json.dumps(record)
    assert took < 30
