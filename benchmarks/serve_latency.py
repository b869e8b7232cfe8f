"""Online serving speed: `specops serve` next to `mlflow models serve`, same models, one run.

Three **cases**, each a model trained by ``specops run`` on the generated 23-column
table of ``engine_overhead.py`` (20 numeric, 3 text columns) and served by both:

* ``lightgbm``: LightGBM, 200 trees (``--trees``), 31 leaves, no preprocessing;
* ``forest``: ``impute`` (median) + ``one_hot`` + ``random_forest`` (``--forest-trees``
  trees, depth ``--forest-depth``);
* ``logistic``: ``scale`` (standard) + ``one_hot`` + ``logistic_regression``.

**Variants** of each case, each a separate server process on 127.0.0.1: ``specops serve``
(what a user gets: the runtime ``auto`` picks), ``specops serve --runtime NAME`` for each
runtime (``--runtimes``; native, onnx, numpy, treelite as they are registered), and
``mlflow models serve`` of the very same fitted model when ``--peer-python`` has mlflow
(see ``serve_peers.py``; its answers are checked against specops' before anything is
timed). The LightGBM case adds ``specops serve --no-request-log`` (what the prediction log
costs) and ``--no-fast-path`` (every request through pandas) when the server has the flag.

**Load**: the client is this process, one keep-alive ``http.client`` connection, one
request at a time:

* single rows: ``--requests`` requests of one row (200 different rows, cycled) as MLflow's
  ``dataframe_split``: latency median and p99, requests/s;
* big batches (the LightGBM case; every case with ``--big-all``): ``--big-requests``
  requests of ``--big-rows`` rows, as ``dataframe_split`` JSON and, for specops, as Open
  Inference binary tensors (numbers as raw FP64, text as JSON strings): rows/s.

**The model's own time**, measured in this process each round: LightGBM's ``predict`` from
a ready float matrix, the scikit-learn pipeline's ``transform`` + ``predict_proba`` from a
conformed DataFrame, and each runtime's scorer from raw columns, for one row (median over
the 200) and for one big request's rows. No server answers faster than its model; "beyond
the model" is a server's time per big request minus its model's own time (MLflow's and the
native variants' model is the native one). Variants take turns within each round
(``--rounds``); the report gives medians over rounds.

Targets (issue 14): LightGBM single rows >= 12x MLflow's requests/s with a median under
0.5 ms; the two preprocessing specs >= 5x MLflow's requests/s; 10,000-row requests >= 3.5x
MLflow's rows/s with binary tensors and >= 2.3x with JSON; time beyond the model per
10,000-row request <= 1/3 of MLflow's with JSON and <= 1/6 with binary tensors.

    python benchmarks/serve_latency.py --peer-python .venv/bin/python --output serve.md
    python benchmarks/serve_latency.py --quick                        # smoke: small, 1 round
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import select
import shutil
import signal
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
    notes_lines,
    percentile,
    prepare_runtimes,
    publish,
    rotated,
    specops_command,
    train_with_specops,
)
from engine_overhead import DATA_DIR, MODEL_PARAMS, WORK_DIR, ensure_dataset, spec_text
from serve_peers import peer_usable, positive_score, start_mlflow

MODEL_NAME = "serve-bench"
START_SECONDS = 180
BANNER = re.compile(r" on (http://127\.0\.0\.1:(\d+))")
SINGLE_ROWS = 200
"""Different rows the single-row requests cycle through."""
TOLERANCE = 1e-6
"""Largest difference in a probability between two servers of the same model (float32
runtimes are verified to 1e-6; the native ones agree exactly)."""

TARGETS = {
    "single_rps_lightgbm": 12.0,
    "single_median_ms_lightgbm": 0.5,
    "single_rps_preprocessing": 5.0,
    "big_rows_binary": 3.5,
    "big_rows_json": 2.3,
    "beyond_json": 1 / 3,
    "beyond_binary": 1 / 6,
}
QUICK = {
    "rows": 2000,
    "requests": 50,
    "warmup": 10,
    "big_requests": 2,
    "big_rows": 1000,
    "rounds": 1,
    "trees": 20,
    "forest_trees": 10,
    "forest_depth": 6,
}


# ----------------------------------------------------------------------------
# cases: the models served
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One model: how the spec declares it and what the report calls it."""

    key: str
    title: str
    preprocess: list[dict[str, Any]]
    model: dict[str, Any]
    sklearn: bool

    def spec(self, data: Path, store: Path, seed: int) -> str:
        import yaml

        text = spec_text(data, store, seed, name=MODEL_NAME, gate={"roc_auc": {"min": 0.5}})
        spec = yaml.safe_load(text)
        spec["model"] = self.model
        if self.preprocess:
            spec["preprocess"] = self.preprocess
        return yaml.safe_dump(spec, sort_keys=False)

    def work_name(self, rows: int, seed: int) -> str:
        params = "_".join(f"{k}{v}" for k, v in sorted(self.model.get("params", {}).items()))
        return f"{self.key}_{rows}_{seed}_{params}".replace(".", "p")


def make_cases(args: argparse.Namespace) -> list[Case]:
    lightgbm = {"type": "lightgbm", "params": {**MODEL_PARAMS, "n_estimators": args.trees}}
    forest = {
        "type": "random_forest",
        "params": {"n_estimators": args.forest_trees, "max_depth": args.forest_depth},
    }
    one_hot = {"type": "one_hot"}
    every = {
        "lightgbm": Case("lightgbm", f"LightGBM, {args.trees} trees", [], lightgbm, False),
        "forest": Case(
            "forest",
            f"impute + one_hot + random_forest ({args.forest_trees} trees, "
            f"depth {args.forest_depth})",
            [{"type": "impute", "params": {"strategy": "median"}}, one_hot],
            forest,
            True,
        ),
        "logistic": Case(
            "logistic",
            "scale + one_hot + logistic_regression",
            [{"type": "scale", "params": {"method": "standard"}}, one_hot],
            {"type": "logistic_regression"},
            True,
        ),
    }
    unknown = sorted(set(args.cases) - set(every))
    if unknown:
        raise SystemExit(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(every)}")
    return [every[key] for key in args.cases]


def train(case: Case, work: Path, data: Path, seed: int) -> Path:
    """Train the case's model with ``specops run`` (once per work dir); returns the store."""
    store = work / ".specops"
    if (store / "store.db").exists():
        return store
    work.mkdir(parents=True, exist_ok=True)
    spec = work / "spec.yaml"
    spec.write_text(case.spec(data, store, seed), encoding="utf-8")
    train_with_specops(spec, cwd=None)
    return store


# ----------------------------------------------------------------------------
# servers
# ----------------------------------------------------------------------------


@dataclass
class Variant:
    """One server under test and what it measured, per round."""

    name: str
    flags: list[str] = field(default_factory=list)
    runtime: str | None = None
    """The runtime asked for with --runtime (None: the server's choice)."""
    peer: bool = False
    big: bool = False
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    serving: str | None = None
    """The runtime the server says it answers with (``/version``), when it says."""
    single: list[dict[str, float]] = field(default_factory=list)
    big_json: list[float] = field(default_factory=list)
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


def serve_flags() -> set[str]:
    """The options this specops' ``serve`` has (``--runtime`` arrives with issue 14)."""
    done = subprocess.run(
        [*specops_command(), "serve", "--help"], capture_output=True, text=True, check=False
    )
    return set(re.findall(r"--[a-z][a-z-]+", done.stdout))


def registered_runtimes() -> list[str]:
    """The runtime kind's registered names, native first (none before issue 14)."""
    try:
        from framework.plugins import get_plugins

        names = list(get_plugins().registry.types("runtime"))
    except Exception:  # an older specops: no runtime kind
        return []
    return sorted(names, key=lambda name: (name != "native", name))


def start_specops(store: Path, extra: list[str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    argv = [*specops_command(), "serve", MODEL_NAME, "--store", str(store), "--port", "0"]
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
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    raise RuntimeError(f"specops serve {' '.join(extra)} did not start: {' '.join(tail)}")


def served_runtime(port: int) -> str | None:
    """What ``/version`` says about the runtime answering (None before issue 14)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/version")
    document = json.loads(connection.getresponse().read())
    connection.close()
    runtime = document.get("runtime")
    return str(runtime) if runtime else None


def not_used_reason(port: int, runtime: str) -> str | None:
    """Why the server does not serve with ``runtime`` (``/version``'s runtimes_not_used)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/version")
    document = json.loads(connection.getresponse().read())
    connection.close()
    reasons = document.get("runtimes_not_used")
    return str(reasons.get(runtime)) if isinstance(reasons, dict) and runtime in reasons else None


def variants_for(
    case: Case, runtimes: list[str], flags: set[str], peer_ok: bool, big_all: bool, extras: bool
) -> list[Variant]:
    """The servers of one case; ``extras``: LightGBM without the request log, and through
    pandas (what the log and the fast path are worth)."""
    big = case.key == "lightgbm" or big_all
    found = [Variant("specops serve", big=big)]
    if "--runtime" in flags:
        found += [
            Variant(f"specops serve --runtime {r}", ["--runtime", r], r, big=big) for r in runtimes
        ]
    if case.key == "lightgbm" and extras:
        if "--no-request-log" in flags:
            found.append(Variant("specops serve --no-request-log", ["--no-request-log"], big=big))
        if "--no-fast-path" in flags:
            found.append(Variant("specops serve --no-fast-path", ["--no-fast-path"], big=big))
    if peer_ok:
        found.append(Variant("mlflow models serve", peer=True, big=big))
    return found


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


@dataclass
class Payloads:
    """What the client sends: single rows, one big request in both forms, and their rows."""

    singles: list[bytes]
    single_frame: Any
    big_json: bytes
    big_v2: bytes
    big_v2_header: int
    big_frame: Any

    @property
    def v2_headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(self.big_v2_header),
        }


def frames(data: Path, big_rows: int) -> tuple[Any, Any]:
    """The single-row requests' rows and one big request's rows (the same every time)."""
    import pandas as pd

    frame = pd.read_parquet(data).drop(columns="target")
    big = frame.sample(n=min(big_rows, len(frame)), random_state=0, replace=big_rows > len(frame))
    return frame.head(SINGLE_ROWS), big


def payloads(data: Path, big_rows: int) -> Payloads:
    head, big = frames(data, big_rows)
    split = json.loads(head.to_json(orient="split", index=False))
    singles = [
        json.dumps({"dataframe_split": {"columns": split["columns"], "data": [row]}}).encode()
        for row in split["data"]
    ]
    body = json.dumps(
        {"dataframe_split": json.loads(big.to_json(orient="split", index=False))}
    ).encode()
    v2, header = v2_body(big)
    return Payloads(singles, head, body, v2, header, big)


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


def check_agreement(reference: Variant, other: Variant, bodies: list[bytes]) -> float:
    """The largest difference in the positive-class probability between two servers over
    50 single rows; more than :data:`TOLERANCE` ends the benchmark (not the same model)."""
    a = http.client.HTTPConnection("127.0.0.1", reference.port, timeout=60)
    b = http.client.HTTPConnection("127.0.0.1", other.port, timeout=60)
    worst = 0.0
    for body in bodies[:50]:
        ours = positive_score(post(a, body), reference.peer)
        theirs = positive_score(post(b, body), other.peer)
        worst = max(worst, abs(ours - theirs))
    a.close()
    b.close()
    if worst > TOLERANCE:
        raise SystemExit(
            f"{other.name} and {reference.name} disagree by up to {worst}: not the same model"
        )
    return worst


# ----------------------------------------------------------------------------
# the model's own time, in this process
# ----------------------------------------------------------------------------


class ModelAlone:
    """Times one form of the case's model without a server: ``native`` (the model's own
    library) or a runtime's scorer. Run in a child process per form (:func:`model_alone`):
    runtimes bring their own thread pools (OpenMP in LightGBM and in Treelite's compiled
    library, ONNX Runtime's), and one left spinning slows the next one measured."""

    def __init__(self, package_dir: Path, single: Any, big: Any, runtime: str) -> None:
        from framework.package import ModelPackage
        from framework.plugins import get_plugins
        from framework.scoring.raw import raw_columns
        from framework.signature import conform

        plugins = get_plugins()
        self.package = ModelPackage(package_dir, plugins)
        signature = self.package.signature
        self.single_rows = [conform(single.iloc[[i]], signature)[0] for i in range(len(single))]
        self.big_rows = conform(big, signature)[0]
        self.runtime = runtime
        self.scorer: Any = None
        if runtime == "native":
            self.native = self._native()
            return
        directory = package_dir / "runtimes" / runtime
        entry = plugins.registry.find("runtime", runtime)
        if entry is None or not directory.is_dir():
            raise RuntimeError("not compiled for this version")
        self.scorer = entry.factory().load(self.package, directory)
        self.raw_single = [raw_columns(f, signature) for f in self.single_rows]
        self.raw_big = raw_columns(self.big_rows, signature)

    def _native(self) -> Any:
        """The native model's predict on a conformed frame: LightGBM's booster on its
        float matrix (as ``booster.predict(DataFrame)`` builds it), else transform +
        ``predict_proba``."""
        import numpy as np

        model, transform = self.package.model, self.package.transform
        booster = getattr(model, "_booster", None)
        if booster is not None and transform is None:
            import pandas as pd

            features = booster.feature_name()
            categorical = [
                n for n in features if isinstance(self.big_rows[n].dtype, pd.CategoricalDtype)
            ]
            order = dict(zip(categorical, booster.pandas_categorical or [], strict=True))

            def matrix(frame: Any) -> Any:
                """Text as its position in LightGBM's own category order (NaN: missing)."""
                columns = []
                for name in features:
                    series = frame[name]
                    if name in order:
                        codes = pd.Index(order[name]).get_indexer(series.astype(object))
                        columns.append(np.where(codes < 0, np.nan, codes.astype(np.float64)))
                    else:
                        columns.append(series.to_numpy(np.float64))
                return np.column_stack(columns)

            self.single_inputs = [matrix(f) for f in self.single_rows]
            self.big_input = matrix(self.big_rows)
            reference = model.predict_proba(self.big_rows)[:, -1]
            if not np.allclose(booster.predict(self.big_input), reference, rtol=0, atol=1e-12):
                raise SystemExit("the model-alone matrix does not reproduce LightGBM's predictions")
            return booster.predict

        def pipeline(frame: Any) -> Any:
            features = transform.transform(frame) if transform is not None else frame
            return model.predict_proba(features)

        self.single_inputs = self.single_rows
        self.big_input = self.big_rows
        return pipeline

    def measure(self, singles: bool = True) -> dict[str, float]:
        """ms for one big request and, with ``singles``, for one row."""
        if self.scorer is None:
            return self._time(self.native, self.single_inputs, self.big_input, singles)
        return self._time(self.scorer.predict, self.raw_single, self.raw_big, singles, raw=True)

    def _time(
        self, predict: Any, singles: list[Any], big: Any, with_singles: bool, raw: bool = False
    ) -> dict[str, float]:
        """``predict(x)``, or a scorer's ``predict(columns, rows)`` when ``raw``."""
        rows = len(self.big_rows)
        if raw:
            calls = [lambda x=x: predict(x, 1) for x in singles] if with_singles else []
            return self._time_calls(calls, lambda: predict(big, rows))
        calls = [lambda x=x: predict(x) for x in singles] if with_singles else []
        return self._time_calls(calls, lambda: predict(big))

    @staticmethod
    def _time_calls(singles: list[Any], big: Any, repeats: int = 5) -> dict[str, float]:
        times = {}
        if singles:
            for call in singles[:10]:
                call()
            one = []
            for call in singles:
                started = time.perf_counter()
                call()
                one.append(time.perf_counter() - started)
            times["single_ms"] = median(one) * 1e3
        many = []
        big()
        for _ in range(repeats):
            started = time.perf_counter()
            big()
            many.append(time.perf_counter() - started)
        times["big_ms"] = median(many) * 1e3
        return times


def model_alone_child(request: str) -> int:
    """The child side of :func:`model_alone`: time one form, print its times as JSON."""
    asked = json.loads(request)
    single, big = frames(Path(asked["data"]), asked["big_rows"])
    alone = ModelAlone(Path(asked["package"]), single, big, asked["runtime"])
    print(json.dumps(alone.measure(singles=asked["singles"])))
    return 0


def model_alone(
    package: Path, data: Path, big_rows: int, runtimes: list[str], singles: bool, notes: list[str]
) -> dict[str, dict[str, float]]:
    """Each form's own times, each measured in a fresh child process (see
    :class:`ModelAlone`); a form that cannot be timed is a note, once."""
    times = {}
    for runtime in runtimes:
        asked = {"package": str(package), "data": str(data), "big_rows": big_rows}
        asked.update(runtime=runtime, singles=singles)
        done = subprocess.run(
            [sys.executable, __file__, "--model-alone", json.dumps(asked)],
            capture_output=True,
            text=True,
            check=False,
            env=bench_env(),
        )
        if done.returncode == 0:
            times[runtime] = json.loads(done.stdout.strip().splitlines()[-1])
            continue
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        note = f"{runtime}'s own time not measured: {why}"
        if note not in notes:
            notes.append(note)
    return times


# ----------------------------------------------------------------------------
# running one case
# ----------------------------------------------------------------------------


def verdicts_of(package: Path) -> dict[str, Any]:
    """What registration recorded per runtime (``model.json`` ``runtimes``; empty before)."""
    found = json.loads((package / "model.json").read_text()).get("runtimes")
    return found if isinstance(found, dict) else {}


def registration_note(package: Path) -> str:
    """One line: each runtime's verdict at registration, as ``models show`` gives it."""
    parts = []
    for name, verdict in verdicts_of(package).items():
        if not verdict.get("verified"):
            parts.append(f"{name} not verified ({verdict.get('why') or 'no reason recorded'})")
            continue
        speed = []
        if verdict.get("single_row_us") is not None:
            speed.append(f"{verdict['single_row_us']:,.1f} µs a row")
        if verdict.get("rows_per_second") is not None:
            speed.append(f"{verdict['rows_per_second']:,.0f} rows/s")
        if verdict.get("compile_seconds") is not None:
            speed.append(f"compiled in {verdict['compile_seconds']:.2f} s")
        parts.append(f"{name} verified ({', '.join(speed)})")
    return "registration: " + ("; ".join(parts) if parts else "no runtime verdicts recorded")


def say(text: str) -> None:
    """Progress on stderr (the report goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run_case(
    case: Case,
    args: argparse.Namespace,
    flags: set[str],
    runtimes: list[str],
    peer: tuple[bool, str],
) -> dict[str, Any]:
    data, _ = ensure_dataset(args.rows, args.seed, args.data_dir)
    work = args.work_dir / case.work_name(args.rows, args.seed)
    say(f"{case.key}: training (once per work dir)")
    store = train(case, work, data, args.seed)
    package = export_package(store, MODEL_NAME, work / "package")
    if set(runtimes) - {"native"} and not verdicts_of(package):
        say(f"{case.key}: the cached model predates compiled runtimes: training again")
        shutil.rmtree(store)
        store = train(case, work, data, args.seed)
        package = export_package(store, MODEL_NAME, work / "package")
    load = payloads(data, args.big_rows)
    notes = [registration_note(package)]
    if not args.no_prepare:  # what a deploy runs before serving (the container's builder)
        notes.append(prepare_runtimes(store, MODEL_NAME, work))
    compiled = [r for r in runtimes if r != "native" and (package / "runtimes" / r).is_dir()]
    forms = ["native", *compiled]
    peer_ok, peer_note = peer
    notes.append(f"peer: {peer_note}" if peer_ok else f"MLflow peer skipped: {peer_note}")
    extras = not args.quick
    variants = variants_for(case, runtimes, flags, peer_ok, args.big_all, extras)
    started: list[Variant] = []
    model_ms: list[dict[str, dict[str, float]]] = []
    try:
        for variant in variants:
            say(f"{case.key}: starting {variant.name}")
            log = work / f"{re.sub(r'[^a-z0-9]+', '_', variant.name)}.log"
            try:
                if variant.peer:
                    variant.process, variant.port = start_mlflow(
                        args.peer_python, package, work, log
                    )
                else:
                    variant.process, variant.port = start_specops(store, variant.flags, log)
                    variant.serving = served_runtime(variant.port)
                    if variant.runtime and variant.serving != variant.runtime:
                        why = not_used_reason(variant.port, variant.runtime) or "not said"
                        notes.append(f"{variant.name} serves {variant.serving}: {why}")
            except RuntimeError as exc:
                notes.append(f"{variant.name} skipped: {exc}")
                continue
            started.append(variant)
        reference = started[0]
        for variant in started[1:]:
            worst = check_agreement(reference, variant, load.singles)
            notes.append(
                f"{variant.name} agrees with {reference.name} on 50 rows (max |Δ| {worst:g})"
            )
        for round_number in range(args.rounds):
            say(f"{case.key}: round {round_number + 1} of {args.rounds}")
            model_ms.append(model_alone(package, data, args.big_rows, forms, True, notes))
            for variant in rotated(started, round_number):
                measure_variant(variant, load, args)
                if variant.big:
                    form = [runtime_of(variant)] if runtime_of(variant) in forms else []
                    model_ms.append(model_alone(package, data, args.big_rows, form, False, notes))
    finally:
        for variant in variants:
            variant.stop()
    return summarise_case(case, started, model_ms, notes, args.big_rows)


def measure_variant(variant: Variant, load: Payloads, args: argparse.Namespace) -> None:
    variant.single.append(measure_single(variant.port, load.singles, args.requests, args.warmup))
    if not variant.big:
        return
    variant.big_json.append(
        measure_big(variant.port, load.big_json, args.big_rows, args.big_requests)
    )
    if not variant.peer:
        path = f"/v2/models/{MODEL_NAME}/infer"
        variant.big_v2.append(
            measure_big(
                variant.port, load.big_v2, args.big_rows, args.big_requests, path, load.v2_headers
            )
        )


# ----------------------------------------------------------------------------
# summary and report
# ----------------------------------------------------------------------------


def model_times(
    model_ms: list[dict[str, dict[str, float]]], runtime: str
) -> dict[str, float] | None:
    """Medians of the model's own times (one row: once a round; a big request: also beside
    every big-batch measurement)."""
    rounds = [m[runtime] for m in model_ms if runtime in m]
    if not rounds:
        return None
    return {key: median([r[key] for r in rounds if key in r]) for key in ("single_ms", "big_ms")}


def runtime_of(variant: Variant) -> str:
    """Whose model time applies to a variant: the runtime it serves with (native for MLflow,
    and for a server that does not say)."""
    if variant.peer:
        return "native"
    said = (variant.serving or "").split(" ")[0]
    return said or variant.runtime or "native"


def summarise_case(
    case: Case,
    variants: list[Variant],
    model_ms: list[dict[str, dict[str, float]]],
    notes: list[str],
    big_rows: int,
) -> dict[str, Any]:
    rows = []
    for v in variants:
        model = model_times(model_ms, runtime_of(v)) or model_times(model_ms, "native") or {}
        row: dict[str, Any] = {
            "variant": v.name,
            "peer": v.peer,
            "serving": v.serving,
            "median_ms": median([r["median_ms"] for r in v.single]),
            "p99_ms": median([r["p99_ms"] for r in v.single]),
            "rps": median([r["rps"] for r in v.single]),
            "model_single_ms": model.get("single_ms"),
            "model_big_ms": model.get("big_ms"),
        }
        for form, values in (("json", v.big_json), ("binary", v.big_v2)):
            if values:
                rate = median(values)
                row[f"{form}_rows_per_s"] = rate
                row[f"{form}_ms"] = big_rows / rate * 1e3
                row[f"{form}_beyond_ms"] = row[f"{form}_ms"] - (model.get("big_ms") or 0.0)
        rows.append(row)
    peer = next((r for r in rows if r["peer"]), None)
    for row in rows:
        if peer is None:
            continue
        row["rps_ratio"] = row["rps"] / peer["rps"]
        for form in ("json", "binary"):
            if f"{form}_rows_per_s" in row and "json_rows_per_s" in peer:
                row[f"{form}_rows_ratio"] = row[f"{form}_rows_per_s"] / peer["json_rows_per_s"]
                ours, theirs = row[f"{form}_beyond_ms"], peer["json_beyond_ms"]
                if ours > 0 and theirs > 0:
                    row[f"{form}_beyond_ratio"] = ours / theirs
                elif "faster than its model" not in " ".join(notes):
                    notes.append(
                        "a server answered a big request faster than its model alone took "
                        "in the client process (a busy machine): that ratio is left out (-)"
                    )
    return {
        "case": case.key,
        "title": case.title,
        "rows": rows,
        "model_ms": {
            name: model_times(model_ms, name) for name in (model_ms[0] if model_ms else {})
        },
        "notes": notes,
    }


def verdicts(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each issue target against ``specops serve`` (the default variant) of its case."""
    found = []

    def default(case: dict[str, Any]) -> dict[str, Any] | None:
        return next((r for r in case["rows"] if r["variant"] == "specops serve"), None)

    def add(target: str, value: float | None, limit: float, higher: bool, shown: str) -> None:
        met = None if value is None else (value >= limit if higher else value <= limit)
        found.append({"target": target, "value": value, "limit": limit, "met": met, "shown": shown})

    for case in cases:
        row = default(case)
        if row is None:
            continue
        ratio = row.get("rps_ratio")
        if case["case"] == "lightgbm":
            limit = TARGETS["single_rps_lightgbm"]
            add("LightGBM single rows: requests/s vs MLflow", ratio, limit, True, f">= {limit:g}x")
            limit = TARGETS["single_median_ms_lightgbm"]
            add("LightGBM single rows: median ms", row["median_ms"], limit, False, f"< {limit} ms")
            for form, key, beyond in (
                ("binary", "big_rows_binary", "beyond_binary"),
                ("json", "big_rows_json", "beyond_json"),
            ):
                limit = TARGETS[key]
                add(f"10k rows, {form}: rows/s vs MLflow", row.get(f"{form}_rows_ratio"), limit,
                    True, f">= {limit:g}x")  # fmt: skip
                limit = TARGETS[beyond]
                shown = f"<= 1/{round(1 / limit)}"
                add(f"10k rows, {form}: time beyond the model vs MLflow's",
                    row.get(f"{form}_beyond_ratio"), limit, False, shown)  # fmt: skip
        else:
            limit = TARGETS["single_rps_preprocessing"]
            add(f"{case['title']}: single rows, requests/s vs MLflow", ratio, limit, True,
                f">= {limit:g}x")  # fmt: skip
    return found


def _f(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def render(report: dict[str, Any]) -> str:
    lines = ["# specops serve: latency and throughput", "", *machine_lines(report["machine"])]
    lines += [
        "",
        f"Single rows: {report['requests']} requests per round; big batches: "
        f"{report['big_requests']} requests of {report['big_rows']:,} rows; "
        f"{report['rounds']} round(s), medians over rounds; {report['train_rows']:,} training "
        "rows. Ratios are to `mlflow models serve` of the same model, measured in this run. "
        "The model's own time is measured in the client process (see benchmarks/README.md).",
    ]
    for case in report["cases"]:
        lines += ["", f"## {case['title']}", ""]
        table = []
        for row in case["rows"]:
            table.append(
                [
                    row["variant"] + (f" (serving: {row['serving']})" if row["serving"] else ""),
                    _f(row["median_ms"], ".3f"),
                    _f(row["p99_ms"], ".2f"),
                    _f(row["rps"], ",.0f"),
                    _f(row.get("rps_ratio"), ".1f", "x"),
                    _f(row["model_single_ms"], ".3f"),
                ]
            )
        header = ["variant", "1-row median ms", "p99 ms", "requests/s", "vs MLflow"]
        lines.append(markdown_table([*header, "model's own ms per row"], table))
        big = [r for r in case["rows"] if "json_rows_per_s" in r]
        if big:
            lines += ["", f"{report['big_rows']:,}-row requests:", ""]
            table = []
            for row in big:
                for form in ("json", "binary"):
                    if f"{form}_rows_per_s" not in row:
                        continue
                    table.append(
                        [
                            row["variant"],
                            "JSON" if form == "json" else "binary tensors",
                            _f(row[f"{form}_rows_per_s"], ",.0f"),
                            _f(row.get(f"{form}_rows_ratio"), ".2f", "x"),
                            _f(row[f"{form}_ms"], ".1f"),
                            _f(row["model_big_ms"], ".1f"),
                            _f(row[f"{form}_beyond_ms"], ".1f"),
                            _f(row.get(f"{form}_beyond_ratio"), ".2f", "x"),
                        ]
                    )
            header = ["variant", "body", "rows/s", "vs MLflow", "ms per request"]
            header += ["model's own ms", "beyond the model ms", "beyond vs MLflow's"]
            lines.append(markdown_table(header, table))
        timed = ", ".join(
            f"{name} {t['single_ms']:.3f} ms per row, {t['big_ms']:.1f} ms per big request"
            for name, t in case["model_ms"].items()
            if t
        )
        lines += ["", f"The model alone: {timed}."]
        lines += notes_lines(case["notes"])
    lines += ["", "## Targets (issue 14), for `specops serve` as started by default", ""]
    table = [
        [
            v["target"],
            v["shown"],
            _f(v["value"], ".3f"),
            "n/a" if v["met"] is None else ("met" if v["met"] else "**missed**"),
        ]
        for v in report["verdicts"]
    ]
    lines.append(markdown_table(["target", "limit", "measured", "verdict"], table))
    lines += notes_lines(report["notes"])
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke: small sizes, one round")
    parser.add_argument(
        "--no-prepare",
        action="store_true",
        help="skip `specops runtimes prepare` before serving (auto then uses only what "
        "needs no build on this machine)",
    )
    parser.add_argument("--rows", type=int, default=200_000, help="rows to train on")
    parser.add_argument("--requests", type=int, default=5000, help="single-row requests/round")
    parser.add_argument("--warmup", type=int, default=200, help="untimed single-row requests")
    parser.add_argument("--big-requests", type=int, default=20, help="big requests per round")
    parser.add_argument("--big-rows", type=int, default=10_000, help="rows per big request")
    parser.add_argument("--big-all", action="store_true", help="big batches for every case")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; variants take turns")
    parser.add_argument("--seed", type=int, default=42, help="data and model seed")
    parser.add_argument(
        "--trees", type=int, default=MODEL_PARAMS["n_estimators"], help="LightGBM trees"
    )
    parser.add_argument("--forest-trees", type=int, default=100, help="random forest trees")
    parser.add_argument("--forest-depth", type=int, default=10, help="random forest depth")
    parser.add_argument(
        "--cases",
        default="lightgbm,forest,logistic",
        help="comma-separated: lightgbm,forest,logistic",
    )
    parser.add_argument(
        "--runtimes",
        default="all",
        help="runtimes to start a `--runtime NAME` server for: all registered ones, none, "
        "or a comma-separated list",
    )
    parser.add_argument("--peer-python", help="a Python with mlflow, lightgbm, scikit-learn, skops")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="dataset cache")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR / "serve_latency")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--model-alone"]:
        return model_alone_child(sys.argv[2])
    args = parse_args(argv)
    facts = machine()
    flags = serve_flags()
    registered = registered_runtimes()
    if args.runtimes == "all":
        runtimes = registered
    elif args.runtimes == "none":
        runtimes = []
    else:
        runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    notes = [*env_notes()]
    if "--runtime" not in flags:
        notes.append("this specops serve has no --runtime option: one server per case")
    cases = make_cases(args)
    results = []
    for case in cases:
        peer = peer_usable(args.peer_python, case.sklearn)
        results.append(run_case(case, args, flags, runtimes, peer))
    report = {
        "machine": facts,
        "notes": notes,
        "requests": args.requests,
        "big_requests": args.big_requests,
        "big_rows": args.big_rows,
        "rounds": args.rounds,
        "train_rows": args.rows,
        "runtimes": runtimes,
        "cases": results,
        "verdicts": verdicts(results),
    }
    publish(report, render(report), args.output, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
