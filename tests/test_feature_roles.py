"""Each feature's role is shown before training, and numbers that would silently become
categories (decimal commas) are named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

SPEC = """
name: prices
task: regression
seed: 1
data:
  source: {type: csv, params: {path: prices.csv}}
  target: price
model: {type: lightgbm, params: {n_estimators: 5}}
deploy: []
"""


def write_prices(directory: Path, decimal: str) -> Path:
    rng = np.random.default_rng(0)
    weight = rng.uniform(0.2, 3.0, 200).round(2)
    frame = pd.DataFrame(
        {
            "weight": [f"{w:.2f}".replace(".", decimal) for w in weight],
            "cut": rng.choice(["Fair", "Good", "Ideal"], 200),
            "price": (weight * 1000).round(),
        }
    )
    frame.to_csv(directory / "prices.csv", index=False)
    (directory / "spec.yaml").write_text(SPEC)
    return directory / "spec.yaml"


def test_the_ingest_step_says_each_features_role(cli, tmp_path: Path) -> None:
    spec = write_prices(tmp_path, ".")

    result = cli("run", spec, "--json")

    assert result.code == 0, result.err
    ingest = next(s for s in json.loads(result.out)["steps"] if s["name"] == "ingest")
    assert "1 numeric (weight)" in ingest["detail"]
    assert "1 categorical (cut)" in ingest["detail"]


def test_numbers_with_decimal_commas_are_named_not_made_categories(cli, tmp_path: Path) -> None:
    spec = write_prices(tmp_path, ",")

    for command in ("run", "plan"):
        result = cli(command, spec)
        assert result.code == 2, command
        assert "column 'weight' holds numbers written with a decimal comma" in result.err
        assert "decimal: ','" in result.err
        assert "Traceback" not in result.err


def test_the_csv_source_reads_decimal_commas_when_told(cli, tmp_path: Path) -> None:
    spec = write_prices(tmp_path, ",")
    spec.write_text(SPEC.replace("path: prices.csv}", "path: prices.csv, decimal: ','}"))

    result = cli("plan", spec, "--json")

    assert result.code == 0, result.err
    columns = {c["name"]: c for c in json.loads(result.out)["data"]["columns"]}
    assert columns["weight"]["role"] == "numeric"


def test_a_csv_separated_by_semicolons_says_which_sep_to_set(cli, tmp_path: Path) -> None:
    spec = write_prices(tmp_path, ",")
    frame = pd.read_csv(tmp_path / "prices.csv")
    frame.to_csv(tmp_path / "prices.csv", sep=";", index=False)

    result = cli("run", spec)

    assert result.code == 2
    assert "separated by ';', not ','" in result.err
    assert "set sep: ';'" in result.err and "decimal: ','" in result.err
