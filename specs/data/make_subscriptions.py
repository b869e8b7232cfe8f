"""Regenerate the subscriptions example: nine months of a streaming service's customers.

The monitoring example (specs/subscriptions_monitor.yaml) trains on January to June
and monitors July to September, when a price rise lands: fees go up, customers move
to the basic plan, a new sign-up channel (the app) appears, and long-standing
customers, who used to stay, now leave over the price. Deterministic (seeded), so
the files in the repo can be rebuilt byte for byte:

    python specs/data/make_subscriptions.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
PER_MONTH = 400
PRICE_RISE_MONTH = 7


def month(number: int, rng: np.random.Generator, first_id: int) -> pd.DataFrame:
    rows = PER_MONTH
    after = number >= PRICE_RISE_MONTH
    plans = ["basic", "plus", "pro"]
    plan = rng.choice(plans, rows, p=[0.62, 0.28, 0.10] if after else [0.45, 0.37, 0.18])
    base_fee = np.select([plan == "basic", plan == "plus"], [12.0, 18.0], 26.0)
    fee = np.round(base_fee * (1.3 if after else 1.0) + rng.normal(0, 1.5, rows), 2)
    channels = ["web", "store", "partner", "app"]
    channel = rng.choice(
        channels, rows, p=[0.45, 0.2, 0.15, 0.2] if after else [0.55, 0.3, 0.15, 0]
    )
    tenure = rng.integers(1, 61, rows)
    hours = np.round(rng.gamma(3.0, 9.0 if after else 11.0, rows), 1)
    tickets = rng.poisson(1.6 if after else 1.0, rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    if after:  # the price rise: the loyal, long-tenure customers now leave too
        logit = -1.7 + 0.05 * tenure - 0.02 * hours + 0.35 * tickets + 0.7 * (channel == "app")
    else:
        logit = -0.2 - 0.05 * tenure - 0.03 * hours + 0.3 * tickets + 0.5 * (plan == "basic")
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    hours[rng.random(rows) < 0.02] = np.nan  # usage not reported yet
    return pd.DataFrame(
        {
            "customer_id": [f"S{first_id + i:06d}" for i in range(rows)],
            "month": number,
            "plan": plan,
            "channel": channel,
            "region": region,
            "monthly_fee": fee,
            "tenure_months": tenure,
            "watch_hours": hours,
            "support_tickets": tickets,
            "churned": np.where(churned, "yes", "no"),
        }
    )


def make(seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.concat([month(m, rng, (m - 1) * PER_MONTH) for m in range(1, 10)], ignore_index=True)


if __name__ == "__main__":
    frame = make()
    early = frame[frame.month < PRICE_RISE_MONTH]
    late = frame[frame.month >= PRICE_RISE_MONTH]
    early.to_csv(HERE / "subscriptions_jan_jun.csv", index=False)
    late.to_csv(HERE / "subscriptions_jul_sep.csv", index=False)
    for name, part in (("jan-jun", early), ("jul-sep", late)):
        print(f"{name}: {len(part)} rows; churn rate {(part.churned == 'yes').mean():.2f}")
