"""The built-in ``mlflow`` tracker: each run also in an MLflow experiment, for teams on MLflow.

```yaml
tracking:
  - {type: mlflow, params: {uri: "http://127.0.0.1:5000", experiment: churn}}
```

At the run's end it logs, in one MLflow run: the params (as ``specops runs show`` lists
them), the metrics, each step's seconds (``step_seconds.<step>``), tags for the lineage
(spec, config, split and data hashes, git commit, specops, library and plugin versions,
the model version and its status), the gate's verdicts (a tag per judged metric and
``specops/gate.json``), the effective spec as stored (``specops/spec.json``: secrets as
their ``${env:...}`` placeholders) and the model version as an MLflow model (``model/``:
what ``specops models export --format mlflow`` writes, the specops package inside).

Why all at the end, not step by step: one burst of requests, so a server that is down
costs one bounded wait (``timeout_seconds`` x ``max_retries``, checked first with a
``/health`` probe), not one per step. The MLflow run gets the run's real start time.
A failure is a warning and a line in the run's ``observer_errors``; specops' own store
records the run whatever MLflow does.

Every call goes through an ``MlflowClient`` made for this tracker's URI: the global
``mlflow.set_tracking_uri`` is never touched, so a process may track to two servers.
MLflow reads its HTTP time-out and retries from the environment on each request; the
tracker sets them only around its own calls (and restores them after).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
import time
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from framework import Finding, RunInfo, StepContext, hookimpl

SPECOPS_HOOK_API = ">=1.1,<2"

PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "uri": {
            "type": "string",
            "minLength": 1,
            "description": "The MLflow tracking URI (http://host:5000); default: the "
            "MLFLOW_TRACKING_URI environment variable.",
        },
        "experiment": {
            "type": "string",
            "minLength": 1,
            "maxLength": 500,
            "description": "The MLflow experiment, made if missing; default: the spec's name.",
        },
        "log_model": {
            "type": "boolean",
            "default": True,
            "description": "Log the model version as an MLflow model (artifact path model/).",
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 600,
            "default": 10,
            "description": "How long one request to the server may take.",
        },
        "max_retries": {
            "type": "integer",
            "minimum": 0,
            "maximum": 10,
            "default": 2,
            "description": "Retries of a failed request (MLflow's default, 7, waits minutes).",
        },
    },
}

MAX_PARAM_VALUE = 6000  # MLflow's limits (mlflow.utils.validation)
MAX_TAG_VALUE = 8000
MAX_KEY = 250
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
MLFLOW_STATUS = {
    "passed": "FINISHED",
    "rejected": "FINISHED",  # the lifecycle ran; the gate said no (tag specops.status)
    "failed_checks": "FINISHED",
    "error": "FAILED",
    "interrupted": "KILLED",
}
_BAD_KEY = re.compile(r"[^/\w.\- :]")


class MlflowTracker:
    """Logs each specops run to an MLflow tracking server (or any MLflow tracking URI)."""

    def __init__(
        self,
        uri: str | None = None,
        experiment: str | None = None,
        log_model: bool = True,
        timeout_seconds: float = 10,
        max_retries: int = 2,
    ) -> None:
        self.uri = uri
        self.experiment = experiment
        self.log_model = log_model
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self.records: Any = None  # framework.trackers.RunRecords, given by bind()
        self._started: dict[str, int] = {}

    def validate(self, ctx: StepContext) -> list[Finding]:
        """What is wrong before any run: no MLflow client, no server named."""
        import importlib.util

        found = []
        if importlib.util.find_spec("mlflow") is None:
            found.append(
                Finding(
                    "the mlflow tracker needs the MLflow client",
                    hint="pip install 'specops[mlflow]'",
                )
            )
        if not self.uri and not os.environ.get("MLFLOW_TRACKING_URI"):
            found.append(
                Finding(
                    "no MLflow server named: set uri, or MLFLOW_TRACKING_URI",
                    key="uri",
                    hint='uri: "http://mlflow.internal:5000"',
                )
            )
        elif ctx.store_root is not None and (problem := self._in_store(Path(ctx.store_root))):
            found.append(Finding(problem, key="uri", hint='uri: "http://mlflow.internal:5000"'))
        return found

    def _in_store(self, store: Path) -> str | None:
        """Why the tracking URI may not be used with the store at ``store``, or None.

        MLflow creates and migrates its own tables in whatever SQLite file a ``sqlite:``
        URI names (``runs``, ``metrics``, ``params``: specops' names too), and a file
        store writes its folders wherever a path points: never inside specops' store."""
        target = _local_target(self.tracking_uri)
        if target is None:
            return None
        where, root = os.path.realpath(target), os.path.realpath(store)
        if where == root or where.startswith(root.rstrip(os.sep) + os.sep):
            return (
                f"the MLflow tracking URI names {target}, inside specops' store {store}: "
                "MLflow would create and migrate its own tables there; give MLflow a "
                "database or folder of its own"
            )
        return None

    def bind(self, records: Any) -> None:
        """Receive what it may read of runs from specops' store (``RunRecords``)."""
        self.records = records

    # lifecycle --------------------------------------------------------------

    @hookimpl
    def specops_run_start(self, run: RunInfo) -> None:
        self._started[run.run_id] = _now_ms()

    @hookimpl
    def specops_run_end(self, run: RunInfo) -> None:
        started = self._started.pop(run.run_id, None) or _now_ms()
        store = getattr(self.records, "store_folder", None)  # the store this run used
        if store is not None and (problem := self._in_store(store)):
            raise ValueError(problem)  # before MLflow opens it: reported, the run goes on
        with self._bounded_requests():
            self._probe()
            self._log(run, started)

    # logging ----------------------------------------------------------------

    @property
    def tracking_uri(self) -> str:
        uri = self.uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise RuntimeError("no MLflow tracking URI: set params.uri or MLFLOW_TRACKING_URI")
        return uri

    def _log(self, run: RunInfo, started: int) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param

        client = MlflowClient(tracking_uri=self.tracking_uri)
        experiment = self._experiment(client, self.experiment or run.spec_name)
        created = client.create_run(
            experiment, start_time=started, tags=self._tags(run), run_name=_run_name(run)
        )
        mlflow_run = created.info.run_id
        status = "FAILED"
        try:
            now = _now_ms()
            params = [Param(key, value) for key, value in self._params(run).items()]
            metrics = [Metric(key, value, now, step) for key, value, step in _metrics(run)]
            for start in range(0, len(params), PARAMS_PER_BATCH):
                client.log_batch(mlflow_run, params=params[start : start + PARAMS_PER_BATCH])
            for start in range(0, len(metrics), METRICS_PER_BATCH):
                client.log_batch(mlflow_run, metrics=metrics[start : start + METRICS_PER_BATCH])
            self._artifacts(client, mlflow_run, run)
            status = MLFLOW_STATUS.get(run.status, "FINISHED")
        finally:
            client.set_terminated(mlflow_run, status=status, end_time=_now_ms())
        where = _without_credentials(self.tracking_uri).rstrip("/")
        if urlsplit(where).scheme in ("http", "https"):
            where += f"/#/experiments/{experiment}/runs/{mlflow_run}"
        print(f"tracked in MLflow: {where}", file=sys.stderr)

    @staticmethod
    def _experiment(client: Any, name: str) -> str:
        """The experiment's id, made if missing (another process may make it first)."""
        from mlflow.exceptions import MlflowException

        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return client.create_experiment(name)
        except MlflowException:
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def _params(self, run: RunInfo) -> dict[str, str]:
        stored = self.records.params(run.run_id) if self.records is not None else {}
        data = run.outputs.get("data") or {}
        for key in ("rows", "columns"):
            if key in data:
                stored[f"data.{key}"] = data[key]
        return {
            _key(key): _clip(_text(self._hide(value)), MAX_PARAM_VALUE)
            for key, value in stored.items()
        }

    def _tags(self, run: RunInfo) -> dict[str, str]:
        outputs = run.outputs
        lineage = outputs.get("lineage") or {}
        git = lineage.get("git") or {}
        packages = lineage.get("packages") or {}
        tags: dict[str, Any] = {
            "mlflow.source.name": run.spec_path,
            "mlflow.source.type": "JOB",
            "mlflow.source.git.commit": git.get("commit"),
            "specops.run_id": run.run_id,
            "specops.spec_name": run.spec_name,
            "specops.task": run.task,
            "specops.status": run.status,
            "specops.spec_hash": lineage.get("spec_hash"),
            "specops.config_hash": lineage.get("config_hash"),
            "specops.split_hash": lineage.get("split_hash"),
            "specops.data_hash": lineage.get("data_hash"),
            "specops.git_commit": git.get("commit"),
            "specops.git_dirty": git.get("dirty"),
            "specops.version": packages.get("specops"),
            "specops.error": outputs.get("error"),
            "specops.champion_note": outputs.get("champion_note"),
        }
        for name, version in packages.items():
            tags[f"specops.package.{name}"] = version
        for component, plugin in (lineage.get("plugins") or {}).items():
            if isinstance(plugin, dict):
                tags[f"specops.plugin.{component}"] = (
                    f"{plugin.get('plugin', '')} ({plugin.get('dist', '')} "
                    f"{plugin.get('version', '')})"
                )
        execution = lineage.get("execution")
        if isinstance(execution, dict):
            tags["specops.execution"] = execution.get("type") or json.dumps(execution)
        model = outputs.get("model") or {}
        if model.get("name") and model.get("version") is not None:
            tags["specops.model"] = f"{model['name']}/{model['version']}"
            tags["specops.model_status"] = model.get("status")
        tags.update(_gate_tags(run))
        return {
            _key(key): _clip(_text(self._hide(value)), MAX_TAG_VALUE)
            for key, value in tags.items()
            if value is not None and value != ""
        }

    def _artifacts(self, client: Any, mlflow_run: str, run: RunInfo) -> None:
        spec = self.records.spec(run.run_id) if self.records is not None else None
        if spec is not None:
            client.log_dict(mlflow_run, spec, "specops/spec.json")
        verdicts = run.outputs.get("verdicts")
        if verdicts is not None:
            gate = {
                "passed": _gate_passed(run),
                "verdicts": verdicts,
                "champion_note": run.outputs.get("champion_note"),
                "comparison": run.outputs.get("comparison"),
            }
            client.log_dict(mlflow_run, self._hide(gate), "specops/gate.json")
        steps = [
            {
                "name": step.name,
                "component": step.component,
                "plugin": step.plugin,
                "status": step.status,
                "seconds": round(step.seconds, 4),
                "detail": step.detail,
            }
            for step in run.steps
        ]
        record = {"run_id": run.run_id, "status": run.status, "steps": steps}
        record["lineage"] = run.outputs.get("lineage")
        client.log_dict(mlflow_run, self._hide(record), "specops/run.json")
        model = run.outputs.get("model") or {}
        if self.log_model and self.records is not None and model.get("version") is not None:
            with tempfile.TemporaryDirectory(prefix="specops-mlflow-") as scratch:
                written = self.records.export(
                    model["name"], int(model["version"]), Path(scratch) / "model"
                )
                client.log_artifacts(mlflow_run, str(written), "model")

    def _hide(self, value: Any) -> Any:
        return self.records.hide(value) if self.records is not None else value

    # bounding the cost of a server that does not answer -----------------------

    @contextmanager
    def _bounded_requests(self) -> Iterator[None]:
        """MLflow's HTTP time-out and retries for this tracker's calls only."""
        wanted = {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(self.timeout_seconds))),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.max_retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
            # MLflow prints the run's URL on stdout, where `specops run --json` writes JSON
            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        }
        saved = {name: os.environ.get(name) for name in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _probe(self) -> None:
        """One short request before any other: a server that is down or does not answer
        fails here, once, within ``timeout_seconds``, not after MLflow's retries."""
        uri = self.tracking_uri
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https"):
            return  # a local tracking store (file:, sqlite:): nothing to reach
        shown = _without_credentials(uri)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"  # an IPv6 address
        if parts.port:
            netloc += f":{parts.port}"
        import urllib.error  # here, not at load: every run loads this plugin
        import urllib.request

        path = parts.path.rstrip("/") + "/health"
        request = urllib.request.Request(urlunsplit((parts.scheme, netloc, path, "", "")))
        if parts.username is not None:  # urllib takes no user:password@ in the URL
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            request.add_header("Authorization", "Basic " + b64encode(pair.encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds):
                return
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403, 404):  # it answers; /health may be elsewhere or guarded
                return
            raise ConnectionError(f"the MLflow server at {shown} answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConnectionError(
                f"the MLflow server at {shown} did not answer within "
                f"{self.timeout_seconds:g} s ({reason}); the run is recorded in specops' store"
            ) from None


def _local_target(uri: str) -> str | None:
    """The local file or folder a tracking URI writes to (``sqlite:///rel.db``,
    ``sqlite:////abs.db``, ``file:///dir``, a plain path), or None (a server, memory)."""
    lowered = uri.lower()
    if lowered.startswith("sqlite:"):
        rest = uri[len("sqlite:") :].split("?", 1)[0]
        rest = rest[2:] if rest.startswith("//") else rest  # the (empty) authority
        path = rest[1:] if rest.startswith("/") else rest  # sqlite:///rel, sqlite:////abs
        return None if path in ("", ":memory:") else os.path.expanduser(path)
    if lowered.startswith("file:"):
        return unquote(urlsplit(uri).path) or None
    if "://" in uri or lowered.startswith("databricks") or not uri:
        return None  # http(s), postgresql, databricks...: not a local file
    return os.path.expanduser(uri)  # a plain path: MLflow's file store


def _gate_passed(run: RunInfo) -> bool | None:
    gate = next((step for step in run.steps if step.name == "gate"), None)
    if gate is None or gate.status not in ("passed", "failed"):
        return None
    return gate.status == "passed"


def _gate_tags(run: RunInfo) -> dict[str, Any]:
    passed = _gate_passed(run)
    if passed is None:
        return {}
    tags: dict[str, Any] = {"specops.gate": "passed" if passed else "failed"}
    for verdict in run.outputs.get("verdicts") or []:
        if not isinstance(verdict, dict) or verdict.get("passed") is None:
            continue
        outcome = "passed" if verdict["passed"] else "failed"
        said = "; ".join(str(v) for v in (verdict.get("rule"), verdict.get("detail")) if v)
        tags[f"specops.gate.{verdict.get('metric')}"] = f"{outcome}: {said}" if said else outcome
    return tags


def _metrics(run: RunInfo) -> list[tuple[str, float, int]]:
    """(key, value, step): the evaluation metrics, then each step's seconds (a step run
    more than once, ``deploy`` per target, as MLflow steps 0, 1, ...)."""
    found = [
        (_key(name), float(value), 0)
        for name, value in (run.outputs.get("metrics") or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    seen: dict[str, int] = {}
    for step in run.steps:
        position = seen[step.name] = seen.get(step.name, -1) + 1
        found.append((_key(f"step_seconds.{step.name}"), float(step.seconds), position))
    return found


def _run_name(run: RunInfo) -> str:
    return f"{run.spec_name} {run.run_id}"


def _key(key: str) -> str:
    """A key MLflow takes: ``checks[0].type`` -> ``checks.0.type``, others as ``_``."""
    key = re.sub(r"\[(\d+)\]", r".\1", key)
    return _BAD_KEY.sub("_", key)[:MAX_KEY]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _clip(text: str, limit: int) -> str:
    marker = "... (cut: see specops runs show)"
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def _without_credentials(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _now_ms() -> int:
    return int(time.time() * 1000)


@hookimpl
def specops_register_trackers(register: Any) -> None:
    register(
        "mlflow",
        MlflowTracker,
        params_schema=PARAMS_SCHEMA,
        summary="Log each run (params, metrics, lineage, gate, model) to an MLflow server",
    )
