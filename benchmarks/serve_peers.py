"""The peer ``serve_latency.py`` measures specops against: ``mlflow models serve`` of the
very same fitted model, saved the way an MLflow user would save it.

* LightGBM: the stored booster file, logged as an MLflow "model from code" that casts
  the text columns to the training categories (LightGBM refuses text columns otherwise)
  and returns the positive class's probability.
* scikit-learn (a spec with ``preprocess:`` steps): the stored transform and estimator
  (``transform.skops``, ``model/model.skops``) loaded with skops in the peer's Python,
  put in one ``Pipeline`` and saved with ``mlflow.sklearn.save_model(...,
  pyfunc_predict_fn="predict_proba")``: MLflow's own flavour for it.

The peer answers are checked against specops' before anything is timed. Stdlib only:
the peer's libraries live in the peer's Python (``--peer-python``), which may be
another virtual environment than the one that runs specops.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

START_SECONDS = 180

LIGHTGBM_MODEL = '''\
"""MLflow "model from code": the specops-trained LightGBM booster, categories restored."""
import json

import lightgbm as lgb
import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class Booster(PythonModel):
    def load_context(self, context):
        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        columns = json.load(open(context.artifacts["signature"]))["columns"]
        self.categorical = [c["name"] for c in columns if c["role"] == "categorical"]
        self.features = self.booster.feature_name()

    def predict(self, context, model_input, params=None):
        frame = model_input[self.features].copy()
        for name, categories in zip(self.categorical, self.booster.pandas_categorical):
            frame[name] = pd.Categorical(frame[name], categories=categories)
        return self.booster.predict(frame)


mlflow.models.set_model(Booster())
'''

LIGHTGBM_SAVE = """\
import sys
import mlflow
code, booster, signature, out = sys.argv[1:5]
mlflow.pyfunc.save_model(
    path=out, python_model=code, artifacts={"booster": booster, "signature": signature}
)
"""

SKLEARN_SAVE = """\
import sys
import mlflow
import skops.io as sio
from sklearn.pipeline import Pipeline
transform, model, out = sys.argv[1:4]

def load(path):
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))

steps = [("transform", load(transform))] if transform != "-" else []
pipeline = Pipeline([*steps, ("model", load(model))])
trusted = sio.get_untrusted_types(data=sio.dumps(pipeline))  # our own files, just loaded
mlflow.sklearn.save_model(
    pipeline, out, pyfunc_predict_fn="predict_proba", skops_trusted_types=trusted
)
"""


def peer_usable(python: str | None, sklearn: bool) -> tuple[bool, str]:
    """Whether ``python`` can serve the peer: mlflow and lightgbm (and scikit-learn and
    skops for the scikit-learn cases); the note says its mlflow version or what is missing."""
    if not python:
        return False, "no --peer-python given"
    if not Path(python).exists():
        return False, f"{python} does not exist"
    modules = "mlflow, lightgbm" + (", sklearn, skops" if sklearn else "")
    probe = subprocess.run(
        [python, "-c", f"import {modules}; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return False, f"{python} lacks one of {modules}"
    return True, f"mlflow {probe.stdout.strip()}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_or_exit(argv: list[str], what: str) -> None:
    """Run one untimed setup step; if it fails, end the benchmark with its stderr's tail."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed: {done.stderr[-2000:]}")


def save_model(python: str, package: Path, work: Path) -> Path:
    """The package's model saved as an MLflow model directory (by the peer's Python)."""
    model_dir = work / "mlflow_model"
    shutil.rmtree(model_dir, ignore_errors=True)
    booster = package / "model" / "model.txt"
    if booster.is_file():
        code = work / "mlflow_peer_model.py"
        code.write_text(LIGHTGBM_MODEL)
        saver = work / "mlflow_peer_save.py"
        saver.write_text(LIGHTGBM_SAVE)
        argv = [str(code), str(booster), str(package / "signature.json"), str(model_dir)]
    else:
        saver = work / "mlflow_peer_save_sklearn.py"
        saver.write_text(SKLEARN_SAVE)
        transform = package / "transform.skops"
        argv = [str(transform) if transform.is_file() else "-"]
        argv += [str(package / "model" / "model.skops"), str(model_dir)]
    run_or_exit([python, str(saver), *argv], "saving the MLflow model")
    return model_dir


def start_mlflow(
    python: str, package: Path, work: Path, log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """Save the exported package's model as an MLflow model and `mlflow models serve` it."""
    model_dir = save_model(python, package, work)
    port = free_port()
    mlflow_cli = [python, "-m", "mlflow", "models", "serve", "-m", str(model_dir)]
    process = subprocess.Popen(
        [*mlflow_cli, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        stdout=open(log, "wb"),  # noqa: SIM115 - the child keeps it
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": str(work / "mlruns"),
            # mlflow runs `uvicorn` by name: the peer venv's must come first
            "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
    )
    wait_ready(port, process, log)
    return process, port


def wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the MLflow server exited; see {log}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the MLflow server was not ready in {START_SECONDS} s; see {log}")


def positive_score(answer: bytes, peer: bool) -> float:
    """The first row's positive-class probability from a specops or an MLflow answer."""
    document: Any = json.loads(answer)
    if not peer:
        return float(document["probabilities"][0][-1])
    first = document["predictions"][0]
    return float(first[-1] if isinstance(first, list) else first)
