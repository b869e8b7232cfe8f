"""How close is KS on a stored profile to KS on the full training data?

specops never rereads training data to monitor: KS (and Wasserstein) run against
the ECDF the profile keeps at 1,001 quantile points (plus tail points). This script
measures the cost of that choice against ``scipy.stats.ks_2samp`` on the full data,
and against the alternative of keeping a 10,000-row reservoir sample per column,
on seven distributions (continuous, heavy-tailed, integer, zero-inflated, rounded)
and several sample sizes. It prints the worst |D - D_full| of each approach and how
often its verdict (p < 0.05) agrees with the full-data test.

    /work/venv/bin/python benchmarks/ks_profile_accuracy.py            # up to 200,000 rows
    /work/venv/bin/python benchmarks/ks_profile_accuracy.py --large    # adds 1,000,000
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from scipy import stats

from framework.monitoring.profile import numeric_profile
from framework.plugins import load_plugins

RESERVOIR = 10_000


def cases(rng: np.random.Generator) -> dict[str, tuple]:
    return {
        "normal, shift 0.02": (
            lambda n: rng.normal(size=n),
            lambda n: rng.normal(0.02, 1, n),
        ),
        "normal, none": (lambda n: rng.normal(size=n), lambda n: rng.normal(size=n)),
        "normal, scale 1.05": (lambda n: rng.normal(size=n), lambda n: rng.normal(0, 1.05, n)),
        "lognormal, shift": (
            lambda n: rng.lognormal(size=n),
            lambda n: rng.lognormal(0.03, 1, n),
        ),
        "integers 1-72": (
            lambda n: rng.integers(1, 73, n).astype(float),
            lambda n: rng.integers(1, 75, n).astype(float),
        ),
        "zero-inflated": (
            lambda n: np.where(rng.random(n) < 0.3, 0, rng.exponential(size=n)),
            lambda n: np.where(rng.random(n) < 0.33, 0, rng.exponential(size=n)),
        ),
        "rounded to 0.01": (
            lambda n: np.round(rng.normal(65, 20, n), 2),
            lambda n: np.round(rng.normal(65.5, 20, n), 2),
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="KS on a profile vs KS on the full data")
    parser.add_argument("--large", action="store_true", help="add 1,000,000 x 1,000,000")
    args = parser.parse_args(argv)
    sizes = [(100_000, 200), (100_000, 5_000), (20_000, 20_000), (200_000, 200_000)]
    if args.large:
        sizes.append((1_000_000, 1_000_000))
    ks = load_plugins().build("drift_test", "ks")
    rng = np.random.default_rng(0)
    worst = {"profile": 0.0, "reservoir": 0.0}
    agree = {"profile": 0, "reservoir": 0}
    total = 0
    print(f"{'case':20} {'n_ref':>9} {'n_cur':>9} {'D full':>8} {'profile':>9} {'reservoir':>9}")
    for name, (make_ref, make_cur) in cases(rng).items():
        for n_ref, n_cur in sizes:
            reference, current = make_ref(n_ref), make_cur(n_cur)
            full = stats.ks_2samp(reference, current)
            result = ks.statistic(numeric_profile("x", reference), pd.Series(np.sort(current)))
            d_profile = float(result.detail.split("D = ")[1].split(" ")[0])
            sample = stats.ks_2samp(rng.choice(reference, RESERVOIR, replace=False), current)
            total += 1
            for key, d, p in (
                ("profile", d_profile, result.statistic),
                ("reservoir", sample.statistic, sample.pvalue),
            ):
                worst[key] = max(worst[key], abs(d - full.statistic))
                agree[key] += (p < 0.05) == (full.pvalue < 0.05)
            print(
                f"{name:20} {n_ref:>9,} {n_cur:>9,} {full.statistic:8.5f} "
                f"{d_profile - full.statistic:+9.5f} {sample.statistic - full.statistic:+9.5f}"
            )
    for key in worst:
        print(
            f"{key}: worst |D - D_full| = {worst[key]:.5f}; "
            f"verdict agrees in {agree[key]} of {total} cases"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
