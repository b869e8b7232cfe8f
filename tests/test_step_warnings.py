"""Library warnings are caught per step: one line in the step's detail and the run record,
nothing dumped on stderr."""

from __future__ import annotations

import json
from pathlib import Path

UNSCALED_LOGISTIC = """
name: lr
task: binary
seed: 1
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
model:
  type: logistic_regression
  params: {max_iter: 5}
gate:
  roc_auc: {min: 0.5}
"""


def test_a_convergence_warning_is_one_line_in_the_train_step(cli_process, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(UNSCALED_LOGISTIC)

    result = cli_process("run", spec)

    assert result.code == 0, result.err
    shown = result.out + result.err
    assert "https://" not in shown and "Increase the number of iterations" not in shown
    train = next(line for line in shown.splitlines() if "lbfgs" in line)
    assert " train " in train
    assert "warning: ConvergenceWarning: lbfgs failed to converge" in train

    store = tmp_path / ".specops"
    runs = json.loads(cli_process("runs", "list", "--json", "--store", store).out)["runs"]
    record = cli_process("runs", "show", runs[0]["run_id"], "--json", "--store", store)
    said = json.loads(record.out)["warnings"]["train"]
    assert said[0].startswith("ConvergenceWarning: lbfgs failed to converge")
    assert "https://" not in said[0]
    table = cli_process("runs", "show", runs[0]["run_id"], "--store", store).out
    assert "warning in train: ConvergenceWarning: lbfgs failed to converge" in table
