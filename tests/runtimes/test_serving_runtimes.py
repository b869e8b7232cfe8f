"""Serving and ``specops predict`` through a version's runtime, on real servers.

The runtime here is a third-party plugin installed as pip would leave it (a module
and its dist-info on ``PYTHONPATH``), so the training run, the ``specops serve``
processes and ``specops predict`` all find it through its entry point, as they would
find a GPU runtime. ``tally`` scores the raw columns it is handed through the
package's own path (so its answers are the native ones exactly when the server
decoded the request right) and appends the rows it scored to ``$TALLY_FILE``, which
shows which requests it answered. ``skewed`` swaps the classes' probabilities: its
verification at registration fails. ``TALLY_BROKEN=load`` makes ``tally`` fail to
load where it serves (a machine without a compiler); ``TALLY_BROKEN=skew`` makes it
load but answer otherwise than native (a stale build).

Every answer is compared with ``ModelPackage.predict`` in this process (native),
value for value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import install_plugin, stored_package
from tests.serving.conftest import (
    NATIVE,
    SPEC,
    Server,
    make_frame,
    split_payload,
    start_server,
)

PLUGIN = '''
"""Test runtimes for serving: tally (right, counts what it scores) and skewed (wrong)."""
import json
import os

from framework import EXACT, RuntimeUnavailable, hookimpl

SPECOPS_HOOK_API = ">=1.3,<2"


class TallyScorer:
    def __init__(self, package, skew):
        self.package = package
        self.names = list(package.signature.names)
        self.skew = skew

    def predict(self, columns, rows):
        import pandas as pd

        frame = pd.DataFrame({name: columns[name] for name in self.names}, index=range(rows))
        predictions, _ = self.package.predict(frame)
        if self.skew and predictions.proba is not None:
            predictions.proba = predictions.proba[:, ::-1].copy()
            predictions.codes = predictions.proba.argmax(axis=1)
        elif self.skew:
            predictions.codes = predictions.codes + 1.0
        if os.environ.get("TALLY_BROKEN") == "raise" and rows > 1:
            raise RuntimeError("the compiled form crashed on a batch")
        tally = os.environ.get("TALLY_FILE")
        if tally:
            with open(tally, "a") as out:
                out.write(f"{rows}\\n")
        return predictions


class TallyRuntime:
    name = "tally"
    tolerance = EXACT
    skew = False

    def why_not(self, package):
        return None

    def compile(self, package, directory):
        (directory / "tally.json").write_text(json.dumps(package.signature.names))

    def load(self, package, directory):
        broken = os.environ.get("TALLY_BROKEN", "")
        if broken == "load":
            raise RuntimeUnavailable("no C compiler here (TALLY_BROKEN=load)")
        if json.loads((directory / "tally.json").read_text()) != package.signature.names:
            raise ValueError("tally.json does not match the package")
        return TallyScorer(package, self.skew or broken == "skew")


class SkewedRuntime(TallyRuntime):
    name = "skewed"
    skew = True


@hookimpl
def specops_register_runtimes(register):
    register("tally", TallyRuntime, summary="test runtime: the package's path, tallied")
    register("skewed", SkewedRuntime, summary="test runtime: classes swapped")
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    install_plugin(site, "specops-tally-runtime", "tally_runtime", PLUGIN, "tally_runtime")
    return site


def environment(site: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TALLY_")}
    return {**env, "PYTHONPATH": str(site), "PYTHONUNBUFFERED": "1", **extra}


def specops(site: Path, *args: str | Path, **extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "framework.cli.main", *map(str, args)]
    return subprocess.run(
        command, capture_output=True, text=True, env=environment(site, **extra), timeout=300
    )


def train(
    site: Path,
    directory: Path,
    *,
    name: str,
    runtime: str,
    task: str = "binary",
    model: str = "lightgbm",
    params: str = "{n_estimators: 15, num_leaves: 7}",
    preprocess: str = "",
    deploy: str = "",
    **env: str,
) -> Path:
    """A run of a spec with ``serve: {runtime: RUNTIME}``, in a process that has the plugin."""
    directory.mkdir(parents=True, exist_ok=True)
    classes = {"binary": 2, "multiclass": 3, "regression": 0}[task]
    make_frame(300, 1, classes).to_csv(directory / "data.csv", index=False)
    metric, minimum = ("r2", -100) if task == "regression" else ("accuracy", 0.0)
    spec = SPEC.format(
        name=name,
        task=task,
        model=model,
        params=params,
        preprocess=preprocess,
        metric=metric,
        minimum=minimum,
    )
    spec = spec.replace(NATIVE, f"serve: {{runtime: {runtime}}}")
    (directory / "spec.yaml").write_text(spec + deploy)
    done = specops(site, "run", directory / "spec.yaml", "--json", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    return directory / ".specops"


@pytest.fixture(scope="module")
def binary_store(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bin/1``, served by tally; its run also scored ``new.csv`` with the batch target."""
    directory = tmp_path_factory.mktemp("bin")
    awkward_rows(seed=20, rows=BATCH_ROWS).to_csv(directory / "new.csv", index=False)
    deploy = (
        "deploy:\n  - {type: registry}\n"
        "  - {type: batch, params: {input: new.csv, output: scored.csv}}\n"
    )
    tally = str(directory / "run.tally")
    return train(site, directory, name="bin", runtime="tally", deploy=deploy, TALLY_FILE=tally)


BATCH_ROWS = 77


def models(*args: str | Path) -> int:
    """``specops models ...`` in this process (moving an alias loads no plugin's code)."""
    from framework.cli.main import main

    return main(["models", *map(str, args)])


def serve(site: Path, *args: str | Path, **extra: str) -> Server:
    return start_server(*args, "--no-request-log", env=environment(site, **extra))


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def awkward_rows(seed: int, rows: int = 60) -> pd.DataFrame:
    """Rows as clients send them: nulls in every column kind, unseen categories, ints."""
    frame = make_frame(rows, seed).drop(columns="target").astype(object)
    rng = np.random.default_rng(seed)
    frame.loc[rng.random(rows) < 0.15, "score"] = None
    frame.loc[rng.random(rows) < 0.15, "plan"] = "enterprise"  # never seen in training
    frame.loc[rng.random(rows) < 0.15, "region"] = None
    frame.loc[rng.random(rows) < 0.15, "active"] = None
    frame.loc[rng.random(rows) < 0.2, "ratio"] = 1
    frame.loc[0] = None  # one row with every value missing
    return frame


def tallied(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def assert_answers(answer: dict[str, Any], expected: Any) -> None:
    assert answer["predictions"] == expected.values.tolist()
    if expected.proba is not None:
        assert np.array_equal(np.asarray(answer["probabilities"]), expected.proba)


def as_sent(payload: dict[str, Any]) -> pd.DataFrame:
    """The rows a ``dataframe_split`` payload carries (pandas writes 10 significant digits)."""
    split = payload["dataframe_split"]
    return pd.DataFrame(split["data"], columns=split["columns"], dtype=object)


def triton_inputs(rows: pd.DataFrame) -> list[Any]:
    import tritonclient.http as triton

    inputs = []
    for name in rows.columns:
        column = rows[name]
        if pd.api.types.is_bool_dtype(column):
            array, datatype = column.to_numpy(dtype=bool), "BOOL"
        elif pd.api.types.is_numeric_dtype(column):
            array, datatype = column.to_numpy(dtype=np.float64), "FP64"
        else:
            array, datatype = column.to_numpy(dtype=object), "BYTES"
        tensor = triton.InferInput(name, [len(rows)], datatype)
        tensor.set_data_from_numpy(array, binary_data=True)
        inputs.append(tensor)
    return inputs


def test_a_compiled_runtime_answers_json_csv_and_binary_as_native(
    site: Path, binary_store: Path, servers: list[Server], tmp_path: Path
) -> None:
    tally = tmp_path / "tally.txt"
    server = serve(site, "bin", "--store", binary_store, TALLY_FILE=str(tally))
    servers.append(server)
    assert "(1 worker(s), tally runtime)" in server.banner
    native = stored_package(binary_store, "bin")
    client = server.connect()
    status, version = client.get("/version")
    assert status == 200 and version["runtime"] == "tally", version
    assert "tally" not in version["runtimes_not_used"]
    assert tallied(tally) == [1, 1]  # loading: the check against native, then the warm-up

    rows = awkward_rows(seed=4)
    payload = split_payload(rows)
    expected, _ = native.predict(as_sent(payload))
    status, answer = client.post_json("/invocations", payload)
    assert status == 200, answer
    assert_answers(answer, expected)
    records = {"dataframe_records": json.loads(rows.to_json(orient="records"))}
    status, answer = client.post_json("/invocations", records)
    assert status == 200, answer
    assert_answers(answer, expected)
    single = split_payload(rows.iloc[[3]])
    status, answer = client.post_json("/invocations", single)
    assert status == 200, answer
    assert_answers(answer, native.predict(as_sent(single))[0])
    assert tallied(tally)[2:] == [len(rows), len(rows), 1]  # the runtime answered each

    status, _, body = client.request(
        "POST", "/invocations", rows.to_csv(index=False), content_type="text/csv"
    )
    assert status == 200, body
    assert_answers(json.loads(body), native.predict(rows)[0])
    assert tallied(tally)[-1] == len(rows)

    # numbers sent as text: only pandas reads them, and answers as it always did
    as_text = rows.copy()
    as_text["income"] = as_text["income"].map(lambda v: None if pd.isna(v) else str(v))
    before = len(tallied(tally))
    payload = split_payload(as_text)
    status, answer = client.post_json("/invocations", payload)
    assert status == 200, answer
    assert_answers(answer, native.predict(as_sent(payload))[0])
    assert len(tallied(tally)) == before  # the pandas path answered, not the runtime
    status, answer = client.post_json(
        "/invocations", split_payload(rows.assign(age=["x"] * len(rows)))
    )
    assert status == 400 and "'age'" in answer["message"]
    client.close()

    import tritonclient.http as triton

    plain = make_frame(80, 12).drop(columns="target")
    plain.loc[plain.index[::7], "plan"] = "enterprise"
    expected, _ = native.predict(plain)
    triton_client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    result = triton_client.infer("bin", triton_inputs(plain))
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predictions")]
    assert labels == expected.values.tolist()
    assert np.array_equal(result.as_numpy("probabilities"), expected.proba)
    triton_client.close()
    assert tallied(tally)[-1] == len(plain)


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        ("load", "failed to load here: no C compiler here (TALLY_BROKEN=load)"),
        ("skew", "verified, but loaded here it predicts another label than the native path"),
    ],
)
def test_a_compiled_form_that_fails_here_serves_natively_and_says_why(
    site: Path, binary_store: Path, tmp_path: Path, broken: str, why: str
) -> None:
    tally = tmp_path / "tally.txt"
    server = serve(site, "bin", "--store", binary_store, TALLY_FILE=str(tally), TALLY_BROKEN=broken)
    try:
        client = server.connect()
        status, version = client.get("/version")
        assert status == 200 and version["runtime"] == "native", version
        assert why in version["runtimes_not_used"]["tally"]
        rows = awkward_rows(seed=8)
        payload = split_payload(rows)
        status, answer = client.post_json("/invocations", payload)
        assert status == 200, answer
        assert_answers(answer, stored_package(binary_store, "bin").predict(as_sent(payload))[0])
        client.close()
        served_by_tally = sum(tallied(tally))
    finally:
        server.stop()
    assert served_by_tally <= 1  # the skewed form answered only the check of one row
    log = server.process.stderr.read() if server.process.stderr else ""
    assert "WARNING" in log and "the tally runtime is not used" in log and why in log, log


def test_a_runtime_raising_on_a_request_is_answered_natively_and_counted(
    site: Path, binary_store: Path, servers: list[Server]
) -> None:
    server = serve(site, "bin", "--store", binary_store, TALLY_BROKEN="raise")
    servers.append(server)
    client = server.connect()
    assert client.get("/version")[1]["runtime_errors"] == 0
    for seed in (30, 31):
        payload = split_payload(awkward_rows(seed=seed, rows=10))
        status, answer = client.post_json("/invocations", payload)
        assert status == 200, answer
        assert_answers(answer, stored_package(binary_store, "bin").predict(as_sent(payload))[0])
    version = client.get("/version")[1]
    assert version["runtime"] == "tally" and version["runtime_errors"] == 2
    client.close()
    server.stop()
    log = server.process.stderr.read() if server.process.stderr else ""
    assert log.count("the tally runtime failed on a request; answered by the native path") == 1
    assert "RuntimeError: the compiled form crashed on a batch" in log


def test_hot_swap_between_versions_with_different_runtimes(
    site: Path, tmp_path_factory: pytest.TempPathFactory, servers: list[Server], tmp_path: Path
) -> None:
    directory = tmp_path_factory.mktemp("swap")
    store = train(site, directory, name="hs", runtime="tally")
    train(site, directory, name="hs", runtime="skewed", params="{n_estimators: 4}")
    assert models("rollback", "hs", "--store", store) == 0
    tally = tmp_path / "tally.txt"
    server = serve(site, "hs", "--store", store, "--poll-ms", "100", TALLY_FILE=str(tally))
    servers.append(server)
    payload = split_payload(awkward_rows(seed=10, rows=30))
    sent = as_sent(payload)
    client = server.connect()

    def answer_of(version: int) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while client.get("/version")[1]["version"] != version:
            assert time.monotonic() < deadline, f"the server did not switch to version {version}"
            time.sleep(0.05)
        status, answer = client.post_json("/invocations", payload)
        assert status == 200, answer
        assert_answers(answer, stored_package(store, f"hs/{version}").predict(sent)[0])
        return client.get("/version")[1]

    first = answer_of(1)
    assert first["runtime"] == "tally"
    assert tallied(tally)[-1] == len(sent)
    served_by_tally = len(tallied(tally))
    assert models("promote", "hs/2", "--store", store) == 0
    second = answer_of(2)
    assert second["runtime"] == "native"
    assert second["runtimes_not_used"]["skewed"].startswith("not verified: ")
    assert len(tallied(tally)) == served_by_tally  # version 2 has no tally form: native answered
    assert models("rollback", "hs", "--store", store) == 0
    assert answer_of(1)["runtime"] == "tally"
    assert tallied(tally)[-1] == len(sent)
    client.close()


def test_predict_runtime_writes_what_native_writes(
    site: Path, binary_store: Path, tmp_path: Path
) -> None:
    rows = awkward_rows(seed=14, rows=150)
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    args = ("predict", "bin", "--store", binary_store, "-i", source)
    outputs = {}
    for runtime in ("native", None):  # None: the version's own serve.runtime, tally
        output = tmp_path / f"{runtime}.csv"
        tally = tmp_path / f"{runtime}.tally"
        chosen = ("--runtime", runtime) if runtime else ()
        done = specops(site, *args, "-o", output, *chosen, "--json", TALLY_FILE=str(tally))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["runtime"] == (runtime or "tally")
        assert sum(tallied(tally)) == (0 if runtime else len(rows))
        outputs[runtime] = output.read_bytes()
    assert outputs[None] == outputs["native"]

    broken = specops(
        site, *args, "-o", tmp_path / "b.csv", "--runtime", "tally", TALLY_BROKEN="load"
    )
    assert broken.returncode == 0, broken.stderr
    assert "the tally runtime is not used" in broken.stderr and "no C compiler" in broken.stderr
    assert (tmp_path / "b.csv").read_bytes() == outputs["native"]

    typo = specops(site, *args, "-o", tmp_path / "t.csv", "--runtime", "taly")
    assert typo.returncode == 2 and "did you mean 'tally'" in typo.stderr, typo.stderr
    assert "Traceback" not in typo.stderr and not (tmp_path / "t.csv").exists()


def test_serve_runtime_flag_overrides_the_versions_own(
    site: Path, binary_store: Path, servers: list[Server], tmp_path: Path
) -> None:
    tally = tmp_path / "tally.txt"
    server = serve(
        site, "bin", "--store", binary_store, "--runtime", "native", TALLY_FILE=str(tally)
    )
    servers.append(server)
    assert "native runtime, fast path" in server.banner
    client = server.connect()
    version = client.get("/version")[1]
    assert version["runtime"] == "native"
    assert version["runtimes_not_used"]["tally"] == "verified, but native was asked for"
    payload = split_payload(awkward_rows(seed=16, rows=20))
    status, answer = client.post_json("/invocations", payload)
    assert status == 200
    assert_answers(answer, stored_package(binary_store, "bin").predict(as_sent(payload))[0])
    client.close()
    assert not tally.exists()

    typo = specops(
        site, "serve", "bin", "--store", binary_store, "--runtime", "taly", "--port", "0"
    )
    assert typo.returncode == 2 and "did you mean" in typo.stderr and "tally" in typo.stderr
    assert "Traceback" not in typo.stderr


def test_the_batch_target_scores_with_the_specs_runtime(
    site: Path, binary_store: Path, tmp_path: Path
) -> None:
    directory = binary_store.parent
    assert tallied(directory / "run.tally")[-1] == BATCH_ROWS  # the batch target's one chunk
    args = ("predict", "bin", "--store", binary_store, "-i", directory / "new.csv")
    done = specops(site, *args, "-o", tmp_path / "native.csv", "--runtime", "native")
    assert done.returncode == 0, done.stderr
    assert (directory / "scored.csv").read_bytes() == (tmp_path / "native.csv").read_bytes()


# ---------------------------------------------------------------------------
# the real runtimes (installed with specops: their entry points)
# ---------------------------------------------------------------------------

REAL = {
    "onnx": ("binary", "logistic_regression", "[{type: impute}, {type: one_hot}]"),
    "numpy": ("regression", "ridge", "[{type: impute}, {type: one_hot}, {type: scale}]"),
}


def within(found: dict[str, Any], expected: Any, tolerance: Any) -> None:
    """Labels identical; probabilities and values within the runtime's own tolerance."""
    if expected.proba is None:
        native = np.asarray(expected.values, dtype=np.float64)
        error = np.abs(np.asarray(found["predictions"]) - native) / np.maximum(1.0, np.abs(native))
        assert float(error.max()) <= tolerance.value
        return
    assert found["predictions"] == expected.values.tolist()
    error = np.abs(np.asarray(found["probabilities"]) - expected.proba)
    assert float(error.max()) <= tolerance.proba


@pytest.mark.parametrize("runtime", sorted(REAL))
def test_a_real_runtime_serves_json_csv_and_binary_as_native(
    runtime: str, tmp_path: Path, servers: list[Server]
) -> None:
    from framework.plugins import get_plugins
    from framework.runtimes.lookup import build
    from tests.serving.conftest import train as train_here

    if runtime not in get_plugins().registry.types("runtime"):
        pytest.skip(f"the {runtime} runtime is not installed")
    task, model, steps = REAL[runtime]
    store = train_here(
        tmp_path,
        name=runtime,
        task=task,
        model=model,
        params="{}",
        preprocess=f"preprocess: {steps}\n",
        rows=300,
        runtime=runtime,
    )
    server = start_server(runtime, "--store", store, "--no-request-log")
    servers.append(server)
    tolerance = build(runtime, get_plugins()).tolerance
    native = stored_package(store, runtime)
    client = server.connect()
    version = client.get("/version")[1]
    assert version["runtime"] == runtime, version["runtimes_not_used"]
    rows = awkward_rows(seed=22)
    payload = split_payload(rows)
    status, answer = client.post_json("/invocations", payload)
    assert status == 200, answer
    within(answer, native.predict(as_sent(payload))[0], tolerance)
    status, _, body = client.request(
        "POST", "/invocations", rows.to_csv(index=False), content_type="text/csv"
    )
    assert status == 200, body
    within(json.loads(body), native.predict(rows)[0], tolerance)
    for single in (0, 1, 2):  # all missing, then ordinary rows one by one
        payload = split_payload(rows.iloc[[single]])
        status, answer = client.post_json("/invocations", payload)
        assert status == 200, answer
        within(answer, native.predict(as_sent(payload))[0], tolerance)
    client.close()

    import tritonclient.http as triton

    plain = make_frame(50, 23).drop(columns="target")
    plain.loc[plain.index[::5], "plan"] = "enterprise"
    expected, _ = native.predict(plain)
    triton_client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    result = triton_client.infer(runtime, triton_inputs(plain))
    answer = {"predictions": result.as_numpy("predictions").tolist()}
    if expected.proba is not None:
        answer["predictions"] = [v.decode() for v in answer["predictions"]]
        answer["probabilities"] = result.as_numpy("probabilities")
    within(answer, expected, tolerance)
    triton_client.close()


def test_the_runtime_reaches_detached_servers_and_workers(tmp_path: Path) -> None:
    """``--detach`` (and the http target) re-run ``specops serve`` from the settings, worker
    processes read them from the environment: ``--runtime`` survives both."""
    from framework.cli.main import build_parser
    from framework.errors import UserError
    from framework.serving.command import settings_from_args
    from framework.serving.daemon import serve_argv
    from framework.serving.settings import ServeSettings

    settings = ServeSettings(ref="churn", store=str(tmp_path), runtime="onnx", port=0)
    argv = serve_argv(settings)
    assert argv[argv.index("--runtime") + 1] == "onnx"
    assert settings_from_args(build_parser().parse_args(argv[3:])) == settings
    assert "--runtime" not in serve_argv(ServeSettings(ref="churn", store=str(tmp_path)))
    assert json.loads(settings.to_env())["runtime"] == "onnx"
    with pytest.raises(UserError, match=r"--no-fast-path .* cannot go with --runtime onnx"):
        settings_from_args(build_parser().parse_args([*argv[3:], "--no-fast-path"]))


class Counting:
    """A scorer that counts the rows it scores (the LightGBM fast path's own scorer inside)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.rows: list[int] = []

    def predict(self, columns: Any, rows: int) -> Any:
        self.rows.append(rows)
        return self.inner.predict(columns, rows)


def test_big_requests_go_to_the_runtime_chosen_for_throughput(tmp_path: Path) -> None:
    """``auto`` may choose one runtime for single rows and another for big requests: each
    request is scored by the one for its size, and ``/version`` says both."""
    from framework.serving.batch import Batch
    from framework.serving.fastpath import LightGBMScorer
    from framework.serving.served import BIG_ROWS, ServedModel
    from tests.serving.conftest import train as train_here

    store = train_here(tmp_path, name="lanes", rows=300)
    package = stored_package(store, "lanes")
    big = Counting(LightGBMScorer.for_package(package))
    served = ServedModel(package, "lanes", 1, big_runtime="fastest", big_scorer=big)
    assert served.runtime == "native" and served.fast is not None
    describe = served.describe()
    assert describe["big_requests"] == {"rows": BIG_ROWS, "runtime": "fastest"}
    for rows in (1, BIG_ROWS - 1, BIG_ROWS, 3 * BIG_ROWS):
        frame = make_frame(rows, rows).drop(columns="target")
        columns = {
            name: [None if pd.isna(v) else v for v in frame[name].tolist()] for name in frame
        }
        predictions = served.predict(Batch(columns, rows))
        expected, _ = package.predict(frame)
        assert predictions.values.tolist() == expected.values.tolist()
        assert np.array_equal(predictions.proba, expected.proba)
    assert big.rows == [BIG_ROWS, 3 * BIG_ROWS]
    same = ServedModel(package, "lanes", 1, big_runtime="native")
    assert same.big_runtime is None and "big_requests" not in same.describe()


def test_auto_serves_single_rows_and_big_requests_with_their_fastest(tmp_path: Path) -> None:
    """The speeds registration recorded decide: here numpy is made the fastest for one row
    and onnx for many (the recorded numbers are set in memory), so a server loads both."""
    from framework.plugins import get_plugins
    from framework.serving.model_holder import serve_package
    from tests.serving.conftest import train as train_here

    installed = set(get_plugins().registry.types("runtime"))
    if not {"numpy", "onnx"} <= installed:
        pytest.skip("needs the numpy and onnx runtimes")
    store = train_here(
        tmp_path,
        name="both",
        model="logistic_regression",
        params="{}",
        preprocess="preprocess: [{type: impute}, {type: one_hot}]\n",
        rows=300,
        runtime="auto",
    )
    package = stored_package(store, "both")
    verdicts = package.metadata["runtimes"]
    assert verdicts["numpy"]["verified"] and verdicts["onnx"]["verified"], verdicts
    verdicts["numpy"].update(single_row_us=1.0, rows_per_second=10.0)
    verdicts["onnx"].update(single_row_us=1e6, rows_per_second=1e12)
    served = serve_package(package, "both", 1, get_plugins())
    assert served.runtime == "numpy" and served.big_runtime == "onnx"
    assert "onnx" not in served.describe()["runtimes_not_used"]
    pinned = serve_package(package, "both", 1, get_plugins(), runtime="numpy")
    assert pinned.runtime == "numpy" and pinned.big_runtime is None
