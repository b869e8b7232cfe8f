"""Regenerate churn.csv and churn.parquet: a small synthetic telecom churn table.

Deterministic (seeded), so the files in the repo can be rebuilt byte for byte:
    python specs/data/make_churn.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 1200
HERE = Path(__file__).parent


def make(rows: int = ROWS, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], rows, p=[0.55, 0.25, 0.2])
    internet = rng.choice(["fiber", "dsl", "none"], rows, p=[0.45, 0.4, 0.15])
    payment = rng.choice(["card", "bank-transfer", "electronic-check", "mailed-check"], rows)
    tenure = rng.integers(1, 73, rows)
    monthly = np.round(rng.normal(65, 20, rows).clip(18, 120), 2)
    calls = rng.poisson(1.5, rows)
    logit = (
        -1.2
        + 1.3 * (contract == "month-to-month")
        - 0.9 * (contract == "two-year")
        + 0.6 * (internet == "fiber")
        + 0.5 * (payment == "electronic-check")
        - 0.04 * tenure
        + 0.015 * (monthly - 65)
        + 0.35 * calls
    )
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    total = np.round(monthly * tenure * rng.normal(1, 0.05, rows), 2)
    total[rng.random(rows) < 0.03] = np.nan  # new accounts without a bill yet
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "contract": contract,
            "internet_service": internet,
            "payment_method": payment,
            "support_calls": calls,
            "churned": np.where(churned, "yes", "no"),
        }
    )


if __name__ == "__main__":
    frame = make()
    frame.to_csv(HERE / "churn.csv", index=False)
    frame.to_parquet(HERE / "churn.parquet", index=False)
    print(f"wrote {len(frame)} rows; churn rate {(frame.churned == 'yes').mean():.2f}")
