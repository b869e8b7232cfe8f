"""The hand-written baseline ``engine_overhead.py`` compares ``specops run`` with.

The same work a spec with a parquet source, a stratified split and a lightgbm
model asks for, written the way one would without a framework: read, cast text
to ``category``, split, fit, score, save. Nothing else: no lineage, no store, no
signature, no checks. Prints one JSON line: ``{"roc_auc": ..., "rows": ...}``.

    python benchmarks/bare_lightgbm.py benchmarks/.data/synthetic_200000_42.parquet

The LightGBM params are the ones the spec's lightgbm model trains with, spelt
out: the spec's own (n_estimators, learning_rate, num_leaves) plus what specops
adds by default (deterministic=True, force_col_wise=True, seed = the spec's
seed), so both sides do the same amount of boosting work.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train LightGBM on a Parquet file, no framework.")
    parser.add_argument("data", type=Path, help="the Parquet file")
    parser.add_argument("--target", default="target", help="the binary target column")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--num-leaves", type=int, default=31)
    parser.add_argument("--model-out", type=Path, help="where to save the booster (default: tmp)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    frame = pd.read_parquet(args.data)
    text = frame.select_dtypes(include=["object", "string"]).columns
    frame[text] = frame[text].astype("category")
    y = frame.pop(args.target)

    x_train, x_test, y_train, y_test = train_test_split(
        frame, y, test_size=args.test_size, stratify=y, random_state=args.seed
    )
    model = LGBMClassifier(
        n_estimators=args.n_estimators,
        learning_rate=args.learning_rate,
        num_leaves=args.num_leaves,
        random_state=args.seed,
        deterministic=True,
        force_col_wise=True,
        verbosity=-1,
    )
    model.fit(x_train, y_train)
    auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])

    with tempfile.TemporaryDirectory() as tmp:
        out = args.model_out or Path(tmp) / "model.txt"
        model.booster_.save_model(str(out))

    print(json.dumps({"roc_auc": float(auc), "rows": len(frame), "test_rows": len(x_test)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
