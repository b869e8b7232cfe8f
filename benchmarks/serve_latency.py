"""Online serving speed: `specops serve` next to `mlflow models serve`, same LightGBM model.

The model: LightGBM, 200 trees (``--trees``), 31 leaves, trained by ``specops run``
on the generated 23-column table of ``engine_overhead.py`` (20 numeric, 3 text
columns). The report also gives LightGBM's own predict time for one big request's
rows, timed in this process: no server can answer a big request faster than
that, so it shows how much of each server's time is the model and how much is
the server. Each server is a separate process on 127.0.0.1; the client is this
process, one keep-alive ``http.client`` connection, one request at a time:

* **single rows**: ``--requests`` requests of one row each (200 different rows,
  cycled), as MLflow's ``dataframe_split``; latency median and p99, requests/s;
* **big batches**: ``--big-requests`` requests of ``--big-rows`` rows; rows/s. For
  specops also as Open Inference binary tensors (numeric columns as raw FP64
  bytes, text columns as JSON strings), which skips JSON number parsing.

Variants: specops (fast path, the default), specops with ``--no-fast-path``
(every request through pandas, as ``ModelPackage.predict``), and MLflow's
scoring server when ``--peer-python`` has mlflow and lightgbm. MLflow serves the
very same booster file (logged as an MLflow "model from code" that casts the
text columns to the training categories, which LightGBM needs) and its answers
are checked against specops' before anything is timed. Variants take turns
within each round (``--rounds``); the report gives the median over rounds.
Targets (from the issue): single-row median < 1 ms and >= 5x MLflow's
requests/s; big batches >= 3x MLflow's rows/s.

    python benchmarks/serve_latency.py --peer-python /tmp/peers/bin/python
    python benchmarks/serve_latency.py --requests 200 --big-requests 2 --rounds 1  # smoke

Peer venv: ``python -m venv /tmp/peers && /tmp/peers/bin/pip install mlflow lightgbm``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    bench_env,
    env_notes,
    export_package,
    machine,
    machine_lines,
    markdown_table,
    median,
    percentile,
    publish,
    rotated,
    specops_command,
    train_with_specops,
)
from engine_overhead import DATA_DIR, MODEL_PARAMS, WORK_DIR, ensure_dataset, spec_text

TARGET_MEDIAN_MS = 1.0
TARGET_RPS_RATIO = 5.0
TARGET_ROWS_RATIO = 3.0
REFERENCE_MLFLOW = {"rps": 165.0, "rows_per_s": 49_000.0}
"""MLflow's numbers quoted in the issue (2 cores), used only when no peer is installed."""

START_SECONDS = 180
BANNER = re.compile(r" on (http://127\.0\.0\.1:(\d+))")

PEER_MODEL = '''\
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

PEER_SAVE = """\
import sys
import mlflow
code, booster, signature, out = sys.argv[1:5]
mlflow.pyfunc.save_model(
    path=out, python_model=code, artifacts={"booster": booster, "signature": signature}
)
"""


# ----------------------------------------------------------------------------
# servers
# ----------------------------------------------------------------------------


@dataclass
class Variant:
    """One server under test and what it measured, per round."""

    name: str
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    single: list[dict[str, float]] = field(default_factory=list)
    big: list[float] = field(default_factory=list)
    big_v2: list[float] = field(default_factory=list)
    note: str = ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def train(work: Path, data: Path, seed: int, trees: int) -> Path:
    """Train engine_overhead's model with ``specops run`` (once per work dir); returns the store."""
    store = work / ".specops"
    if (store / "store.db").exists():
        return store
    work.mkdir(parents=True, exist_ok=True)
    spec = work / "spec.yaml"
    gate = {"roc_auc": {"min": 0.5}}
    text = spec_text(
        data, store, seed, name="serve-bench", gate=gate, model_params={"n_estimators": trees}
    )
    spec.write_text(text, encoding="utf-8")
    train_with_specops(spec, cwd=None)
    return store


def start_specops(store: Path, extra: list[str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    argv = [*specops_command(), "serve", "serve-bench", "--store", str(store), "--port", "0"]
    process = subprocess.Popen(
        [*argv, *extra],
        stdout=subprocess.PIPE,
        stderr=open(log, "wb"),  # noqa: SIM115 - the child keeps it
        env={**bench_env(), "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            match = BANNER.search(process.stdout.readline().decode())
            if match:
                return process, int(match.group(2))
        if process.poll() is not None:
            break
    process.kill()
    raise SystemExit(f"specops serve did not start; see {log}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def peer_usable(python: str | None) -> tuple[bool, str]:
    if not python:
        return False, "no --peer-python given"
    if not Path(python).exists():
        return False, f"{python} does not exist"
    probe = subprocess.run(
        [python, "-c", "import mlflow, lightgbm; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return False, f"{python} lacks mlflow or lightgbm"
    return True, f"mlflow {probe.stdout.strip()}"


def run_or_exit(argv: list[str], what: str) -> None:
    """Run one untimed setup step; if it fails, end the benchmark with its stderr's tail."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed: {done.stderr[-2000:]}")


def start_mlflow(
    python: str, package: Path, work: Path, log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """Save the exported package's booster as an MLflow model, `mlflow models serve` it."""
    code = work / "mlflow_peer_model.py"
    code.write_text(PEER_MODEL)
    saver = work / "mlflow_peer_save.py"
    saver.write_text(PEER_SAVE)
    model_dir = work / "mlflow_model"
    shutil.rmtree(model_dir, ignore_errors=True)
    run_or_exit(
        [
            python,
            str(saver),
            str(code),
            str(package / "model" / "model.txt"),
            str(package / "signature.json"),
            str(model_dir),
        ],
        "saving the MLflow model",
    )
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


# ----------------------------------------------------------------------------
# load
# ----------------------------------------------------------------------------


def v2_body(frame: Any) -> tuple[bytes, int]:
    """An Open Inference request: numbers as binary FP64 tensors, text as JSON strings."""
    import numpy as np
    import pandas as pd

    inputs, chunks = [], []
    for name in frame.columns:
        column = frame[name]
        tensor: dict[str, Any] = {"name": name, "shape": [len(frame)]}
        if pd.api.types.is_numeric_dtype(column):
            raw = column.to_numpy(dtype=np.float64).tobytes()
            tensor.update(datatype="FP64", parameters={"binary_data_size": len(raw)})
            chunks.append(raw)
        else:
            tensor.update(datatype="BYTES", data=column.astype(str).tolist())
        inputs.append(tensor)
    header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    return header + b"".join(chunks), len(header)


def payloads(data: Path, big_rows: int) -> tuple[list[bytes], bytes, tuple[bytes, int], Any]:
    """200 single-row bodies, one big body as MLflow's dataframe_split and as V2, its rows."""
    import pandas as pd

    frame = pd.read_parquet(data).drop(columns="target")
    split = json.loads(frame.head(200).to_json(orient="split", index=False))
    singles = [
        json.dumps({"dataframe_split": {"columns": split["columns"], "data": [row]}}).encode()
        for row in split["data"]
    ]
    big = frame.sample(n=min(big_rows, len(frame)), random_state=0, replace=big_rows > len(frame))
    body = json.dumps(
        {"dataframe_split": json.loads(big.to_json(orient="split", index=False))}
    ).encode()
    return singles, body, v2_body(big), big


def model_matrix(package: Path, frame: Any) -> tuple[Any, Any]:
    """LightGBM's booster and the float matrix it builds from ``frame`` (text columns as
    positions in the training categories), checked against predicting ``frame`` itself."""
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    booster = lgb.Booster(model_file=str(package / "model" / "model.txt"))
    features = booster.feature_name()
    table = frame[features].copy()
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(table[c])]
    for name, categories in zip(categorical, booster.pandas_categorical or [], strict=True):
        table[name] = pd.Categorical(table[name], categories=categories)
    columns = []
    for name in features:
        if name in categorical:
            codes = table[name].cat.codes.to_numpy()
            columns.append(np.where(codes < 0, np.nan, codes.astype(np.float64)))
        else:
            columns.append(table[name].to_numpy(np.float64))
    matrix = np.column_stack(columns)
    if not np.array_equal(booster.predict(matrix), booster.predict(table)):
        raise SystemExit("the model-alone matrix does not reproduce LightGBM's own predictions")
    return booster, matrix


def model_alone(booster: Any, matrix: Any, repeats: int = 10) -> float:
    """Median ms of LightGBM's own predict of ``matrix`` on every core: no server is faster."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        booster.predict(matrix)
        times.append(time.perf_counter() - started)
    return median(times) * 1e3


def post(
    connection: http.client.HTTPConnection,
    body: bytes,
    path: str = "/invocations",
    headers: dict[str, str] | None = None,
) -> bytes:
    sent = headers or {"Content-Type": "application/json"}
    connection.request("POST", path, body=body, headers=sent)
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise SystemExit(f"request failed with {response.status}: {payload[:500]!r}")
    return payload


def measure_single(port: int, bodies: list[bytes], count: int, warmup: int) -> dict[str, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in range(warmup):
        post(connection, bodies[i % len(bodies)])
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        begin = time.perf_counter()
        post(connection, bodies[i % len(bodies)])
        latencies.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    connection.close()
    return {
        "median_ms": median(latencies) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "rps": count / elapsed,
    }


def measure_big(
    port: int,
    body: bytes,
    rows: int,
    count: int,
    path: str = "/invocations",
    headers: dict[str, str] | None = None,
) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    post(connection, body, path, headers)  # warm-up
    started = time.perf_counter()
    for _ in range(count):
        post(connection, body, path, headers)
    elapsed = time.perf_counter() - started
    connection.close()
    return rows * count / elapsed


def check_agreement(specops_port: int, peer_port: int, bodies: list[bytes]) -> str:
    """The peer serves the same model: its positive-class scores equal specops' exactly."""
    a = http.client.HTTPConnection("127.0.0.1", specops_port, timeout=60)
    b = http.client.HTTPConnection("127.0.0.1", peer_port, timeout=60)
    worst = 0.0
    for body in bodies[:50]:
        ours = json.loads(post(a, body))["probabilities"][0][1]
        theirs = json.loads(post(b, body))["predictions"][0]
        worst = max(worst, abs(ours - theirs))
    a.close()
    b.close()
    if worst > 1e-12:
        raise SystemExit(f"MLflow and specops disagree by up to {worst}: not the same model")
    return f"answers agree on 50 rows (max difference {worst:g})"


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------


def summarise(
    variants: list[Variant], peer_ok: bool, big_rows: int, model_ms: float
) -> dict[str, Any]:
    rows = []
    for v in variants:
        rows.append(
            {
                "variant": v.name,
                "median_ms": median([r["median_ms"] for r in v.single]),
                "p99_ms": median([r["p99_ms"] for r in v.single]),
                "rps": median([r["rps"] for r in v.single]),
                "rows_per_s": median(v.big) if v.big else None,
            }
        )
        if v.big_v2:
            rows.append(
                {
                    "variant": f"{v.name}, Open Inference binary tensors",
                    "median_ms": None,
                    "p99_ms": None,
                    "rps": None,
                    "rows_per_s": median(v.big_v2),
                }
            )
    baseline = next((r for r in rows if r["variant"] == "mlflow models serve"), None)
    reference = baseline or {**REFERENCE_MLFLOW, "variant": "MLflow (issue's numbers)"}
    for row in rows:
        row["rps_ratio"] = row["rps"] / reference["rps"] if row["rps"] else None
        row["rows_ratio"] = (
            row["rows_per_s"] / reference["rows_per_s"] if row["rows_per_s"] else None
        )
        row["big_ms"] = big_rows / row["rows_per_s"] * 1e3 if row["rows_per_s"] else None
        row["beyond_model_ms"] = row["big_ms"] - model_ms if row["big_ms"] else None
    budget_ms = big_rows / (TARGET_ROWS_RATIO * reference["rows_per_s"]) * 1e3
    return {
        "rows": rows,
        "baseline": reference["variant"],
        "measured_peer": peer_ok,
        "budget_ms": budget_ms,
    }


def render(report: dict[str, Any]) -> str:
    summary = report["summary"]
    lines = ["# specops serve: latency and throughput", "", *machine_lines(report["machine"])]
    lines += [f"- {note}" for note in report["notes"]]
    lines += [
        "",
        f"Single rows: {report['requests']} requests per round; big batches: "
        f"{report['big_requests']} requests of {report['big_rows']:,} rows; "
        f"{report['rounds']} round(s), medians over rounds. Ratios are to "
        f"**{summary['baseline']}**. The model: LightGBM, {report['trees']} trees.",
        "",
    ]
    table = []
    for row in summary["rows"]:
        specops = row["variant"].startswith("specops")
        if row["rps"] is None:
            table.append(
                [row["variant"], "-", "-", "-", "-"]
                + [f"{row['rows_per_s']:,.0f}", f"{row['rows_ratio']:.1f}x"]
                + [f"{row['big_ms']:.1f}", f"{row['beyond_model_ms']:.1f}"]
            )
            continue
        table.append(
            [
                row["variant"],
                f"{row['median_ms']:.3f}",
                f"{row['p99_ms']:.2f}",
                f"{row['rps']:,.0f}",
                f"{row['rps_ratio']:.1f}x",
                f"{row['rows_per_s']:,.0f}" if row["rows_per_s"] else "-",
                f"{row['rows_ratio']:.1f}x" if row["rows_ratio"] else "-",
                f"{row['big_ms']:.1f}" if row["big_ms"] else "-",
                f"{row['beyond_model_ms']:.1f}" if row["big_ms"] else "-",
            ]
        )
        if specops and row["variant"] == "specops serve":
            verdict = (
                ("pass" if row["median_ms"] < TARGET_MEDIAN_MS else "FAIL")
                + " / "
                + ("pass" if row["rps_ratio"] >= TARGET_RPS_RATIO else "FAIL")
                + " / "
                + ("pass" if (row["rows_ratio"] or 0) >= TARGET_ROWS_RATIO else "FAIL")
            )
            report["verdict"] = verdict
    lines.append(
        markdown_table(
            [
                "variant",
                "1-row median ms",
                "1-row p99 ms",
                "requests/s",
                "vs MLflow",
                "big-batch rows/s",
                "vs MLflow",
                "ms per big request",
                "of it beyond the model",
            ],
            table,
        )
    )
    rows_cap = report["big_rows"] / report["model_alone_ms"] * 1e3
    lines += [
        "",
        f"LightGBM alone (its own `predict` of one big request's {report['big_rows']:,} rows "
        f"from a ready float matrix, every core, timed in the client process each round) "
        f"takes {report['model_alone_ms']:.1f} ms: no server answers faster than "
        f"{rows_cap:,.0f} rows/s with this model on this machine. "
        f"{TARGET_ROWS_RATIO:g}x {summary['baseline']}'s rows/s needs "
        f"{summary['budget_ms']:.1f} ms per request, all in. The last column is each "
        "server's time per big request minus that.",
    ]
    lines += [
        "",
        f"Targets: median < {TARGET_MEDIAN_MS} ms, requests/s >= {TARGET_RPS_RATIO}x MLflow, "
        f"rows/s >= {TARGET_ROWS_RATIO}x MLflow. specops serve (median / rps / rows): "
        f"{report.get('verdict', 'n/a')}.",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows to train on")
    parser.add_argument("--requests", type=int, default=5000, help="single-row requests/round")
    parser.add_argument("--warmup", type=int, default=200, help="untimed single-row requests")
    parser.add_argument("--big-requests", type=int, default=20, help="big requests per round")
    parser.add_argument("--big-rows", type=int, default=10_000, help="rows per big request")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; variants take turns")
    parser.add_argument("--seed", type=int, default=42, help="data and model seed")
    parser.add_argument(
        "--trees", type=int, default=MODEL_PARAMS["n_estimators"], help="LightGBM trees"
    )
    parser.add_argument("--peer-python", help="a Python with mlflow and lightgbm installed")
    parser.add_argument(
        "--no-pandas-variant", action="store_true", help="skip specops --no-fast-path"
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="dataset cache")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR / "serve_latency")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine()
    data, _ = ensure_dataset(args.rows, args.seed, args.data_dir)
    work = args.work_dir / f"{args.rows}_{args.seed}_{args.trees}trees"
    store = train(work, data, args.seed, args.trees)
    singles, big_body, (v2_big, v2_header), big_frame = payloads(data, args.big_rows)
    package = export_package(store, "serve-bench", work / "package")
    booster, matrix = model_matrix(package, big_frame)
    model_ms: list[float] = []
    v2_headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(v2_header),
    }
    notes = [*env_notes()]
    variants = [Variant("specops serve")]
    if not args.no_pandas_variant:
        variants.append(Variant("specops serve --no-fast-path"))
    peer_ok, peer_note = peer_usable(args.peer_python)
    notes.append(f"peer: {peer_note}" if peer_ok else f"MLflow peer skipped: {peer_note}")
    try:
        for variant in variants:
            extra = ["--no-fast-path"] if "no-fast-path" in variant.name else []
            log = work / f"{variant.name.replace(' ', '_').replace('-', '')}.log"
            variant.process, variant.port = start_specops(store, extra, log)
        if peer_ok:
            peer = Variant("mlflow models serve")
            variant_log = work / "mlflow.log"
            peer.process, peer.port = start_mlflow(args.peer_python, package, work, variant_log)
            variants.append(peer)
            notes.append(check_agreement(variants[0].port, peer.port, singles))
        for round_number in range(args.rounds):
            model_ms.append(model_alone(booster, matrix))
            for variant in rotated(variants, round_number):
                variant.single.append(
                    measure_single(variant.port, singles, args.requests, args.warmup)
                )
                variant.big.append(
                    measure_big(variant.port, big_body, args.big_rows, args.big_requests)
                )
                if variant.name == "specops serve":
                    variant.big_v2.append(
                        measure_big(
                            variant.port,
                            v2_big,
                            args.big_rows,
                            args.big_requests,
                            "/v2/models/serve-bench/infer",
                            v2_headers,
                        )
                    )
    finally:
        for variant in variants:
            variant.stop()
    report = {
        "machine": facts,
        "notes": notes,
        "requests": args.requests,
        "big_requests": args.big_requests,
        "big_rows": args.big_rows,
        "rounds": args.rounds,
        "summary": summarise(variants, peer_ok, args.big_rows, median(model_ms)),
        "trees": args.trees,
        "model_alone_ms": median(model_ms),
    }
    publish(report, render(report), args.output, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
