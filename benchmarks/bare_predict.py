"""The hand-written baseline ``predict_throughput.py`` compares ``specops predict`` with.

Batch scoring the way one would write it without a framework: read the Parquet
file's feature columns with pandas, cast text to ``category``, call
``Booster.predict`` with the model's ``model.txt`` and write the label and the
class probabilities to Parquet. Nothing else: no signature check, no chunking, no
hash check of the model, no atomic rename. Prints one JSON line:
``{"rows": ..., "seconds": ...}``.

    python benchmarks/bare_predict.py DATA.parquet model.txt OUT.parquet
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Score a Parquet file with LightGBM, no framework."
    )
    parser.add_argument("data", type=Path, help="the Parquet file to score")
    parser.add_argument("model", type=Path, help="the LightGBM model.txt")
    parser.add_argument("output", type=Path, help="where to write the predictions (Parquet)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    booster = lgb.Booster(model_file=str(args.model))
    frame = pd.read_parquet(args.data, columns=booster.feature_name())
    text = frame.select_dtypes(include=["object", "string"]).columns
    frame[text] = frame[text].astype("category")

    positive = booster.predict(frame)
    pd.DataFrame(
        {
            "prediction": (positive > 0.5).astype("int64"),  # labels 0/1, argmax of (1-p, p)
            "proba_0": 1.0 - positive,
            "proba_1": positive,
        }
    ).to_parquet(args.output, index=False)

    seconds = time.perf_counter() - started
    print(json.dumps({"rows": int(np.size(positive)), "seconds": round(seconds, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
