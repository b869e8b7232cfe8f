"""Real stores for the UI page tests, made by real `specops run` / `specops monitor`
commands, and a tiny HTTP client for the real server (no browser needed).

Hostile values are planted where a user could write them: a spec description with
markup, a literal URL password and an ``${env:...}`` secret; a data file whose one
class is markup (so the run's error message quotes it).
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import SPECS

HOSTILE = "<script>alert('x')</script>"
PASSWORD = "hunter2pass"
SECRET_NAME = "UI_PAGES_SECRET"
SECRET_VALUE = "topsecret-value-123"

SPEC = f"""
name: bc
description: "{HOSTILE} & see postgresql://me:{PASSWORD}@db/x ${{env:{SECRET_NAME}}}"
task: binary
seed: 1
data:
  source: {{type: sklearn_dataset, params: {{name: breast_cancer}}}}
  target: target
checks:
  - {{type: row_count, params: {{min: 10}}}}
model:
  type: lightgbm
  params: {{n_estimators: 10, num_leaves: 7}}
gate:
  roc_auc: {{min: 0.9, max_drop: 0.01}}
"""

BROKEN = """
name: broken
task: binary
data:
  source: {type: csv, params: {path: one_class.csv}}
  target: y
model:
  type: lightgbm
  params: {n_estimators: 5}
"""


@dataclass(frozen=True)
class RunsStore:
    root: Path
    store: Path
    first: str
    """bc/1, the first champion."""
    rejected: str
    """bc/2: the gate's roc_auc minimum could not be met."""
    third: str
    """bc/3: n_estimators 12 instead of 10."""
    failed_checks: str
    """A run whose row_count check failed (nothing trained)."""
    error: str
    """A run that stopped at ingest with a data error quoting the hostile class."""


def _run(*args: str | Path) -> None:
    from framework.cli.main import main

    main(["run", *map(str, args), "--json"])


def build_runs_store(root: Path) -> RunsStore:
    """Five real runs of two specs in one store (``root/.specops``), newest last."""
    from framework.store import Store

    spec = root / "spec.yaml"
    spec.write_text(SPEC.lstrip())
    (root / "one_class.csv").write_text(
        "a,b,y\n" + "".join(f"{i},{i % 7},{HOSTILE}\n" for i in range(40))
    )
    (root / "broken.yaml").write_text(BROKEN.lstrip())
    os.environ[SECRET_NAME] = SECRET_VALUE
    try:
        _run(spec)
        _run(spec, "--set", "gate.roc_auc.min=0.9999")
        _run(spec, "--set", "model.params.n_estimators=12")
        _run(spec, "--set", "checks=[{type: row_count, params: {min: 100000}}]")
        _run(root / "broken.yaml")
    finally:
        os.environ.pop(SECRET_NAME, None)
    store = Store.open_existing(root / ".specops", write=False)
    try:
        ids = list(reversed(store.run_ids()))  # oldest first
        statuses = [store.run(i).status for i in ids]
    finally:
        store.close()
    assert statuses == ["passed", "rejected", "passed", "failed_checks", "error"], statuses
    return RunsStore(root, root / ".specops", *ids)


@dataclass(frozen=True)
class MonitorStore:
    root: Path
    store: Path
    model: str
    monitor_ids: list[str]
    """Oldest first; each wrote an HTML report."""
    columns: int
    """Columns each monitor run judged."""


def build_monitor_store(root: Path, runs: int = 3) -> MonitorStore:
    """The monitoring example trained once, then monitored ``runs`` times (the July
    batch drifts; on_drift=report keeps one champion), each with an HTML report."""
    from framework.cli.main import main
    from framework.store import Store

    (root / "data").mkdir(parents=True)
    for name in ("subscriptions_jan_jun.csv", "subscriptions_jul_sep.csv"):
        shutil.copy(SPECS / "data" / name, root / "data" / name)
    text = (SPECS / "subscriptions_monitor.yaml").read_text()
    spec = root / "spec.yaml"
    spec.write_text(text.replace("n_estimators: 120", "n_estimators: 20"))
    assert main(["run", str(spec), "--json"]) == 0
    batches = ["subscriptions_jan_jun.csv", "subscriptions_jul_sep.csv"]
    for index in range(runs):
        batch = root / "data" / batches[index % 2]
        report = root / f"report{index}.html"
        main(["monitor", str(spec), "--data", str(batch), "--set", "monitor.on_drift=report",
              "--report", str(report), "--json"])  # fmt: skip
    store = Store.open_existing(root / ".specops", write=False)
    try:
        monitors = store.monitor_runs("subscriptions")
        columns = store.monitor_columns([m["id"] for m in monitors])
    finally:
        store.close()
    counts = {len(found) for found in columns.values()}
    assert len(monitors) == runs and len(counts) == 1, (len(monitors), counts)
    return MonitorStore(
        root, root / ".specops", "subscriptions", [m["id"] for m in monitors], counts.pop()
    )


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def fetch(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    """GET (or POST ``data``) and return what came back, error statuses included."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, _lower(error.headers), error.read())


def _lower(headers: object) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}  # type: ignore[attr-defined]


def count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text))


def assert_safe_page(answer: Answer) -> None:
    """Every UI page: no script, the UI's CSP, never a traceback."""
    assert "content-security-policy" in answer.headers
    assert "script-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers.get("x-content-type-options") == "nosniff"
    assert "<script" not in answer.text.lower()
    assert "Traceback" not in answer.text
