"""Web UI speed: every page of `specops ui` on a store of 5,000 runs and 500 versions.

The store is tests/ui/fixture_store.py's: a few real runs of the subscriptions
example (train, drift -> retrain -> promote, a rejection, a failed check) and the
bulk modelled on them over a quarter (4 more models, monitor runs with drift
statistics, champion moves and rollbacks). It is built by a child process (this
script stays stdlib only), or reused from ``--store-dir`` when one was built there.

``specops ui --port 0`` serves it as a separate process; the client is this
process, one keep-alive ``http.client`` connection, one request at a time, each
timed from sending the request to reading the last byte of the page. Every page
type is timed (several views of the runs table: filters, metric sort, a deep page),
``--requests`` times per round after one untimed warm-up request, pages in a
rotated order each round (``--rounds``). The report gives each page's median and
p95 over every timed request against the issue's target: every page < 200 ms.

``--postgres`` serves the same store from PostgreSQL instead (the team store's
metadata backend): a throwaway local cluster started with the team tests' harness
(tests/team/postgres_server.py; needs the PostgreSQL server binaries), the fixture
copied into it with ``specops store copy``, blobs in a local folder.

    python benchmarks/ui_pages.py --output benchmarks/results/ui_pages.md
    python benchmarks/ui_pages.py --postgres --output benchmarks/results/ui_pages_postgres.md
    python benchmarks/ui_pages.py --quick            # 60 runs, 2 requests: a smoke test
    python benchmarks/ui_pages.py --stale 3000 --output benchmarks/results/ui_pages_stale.md

``--stale N``: about N of the runs that made no version were killed (a CI machine whose
jobs died): still marked running, their lock files left in ``live/``. The running and
interrupted filters must cost the same as on the plain fixture.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from _common import (
    REPO,
    bench_env,
    env_notes,
    machine,
    machine_lines,
    markdown_table,
    median,
    notes_lines,
    percentile,
    publish,
    rotated,
    specops_command,
)

TARGET_MS = 200.0
BUILT = "ui_store.json"
"""Written beside a built fixture: its facts, so a later run reuses it."""
ADDRESS = re.compile(r"specops ui: (http://127\.0\.0\.1:(\d+))/")


@dataclass(frozen=True)
class Case:
    """One page to time: what it is and its path."""

    page: str
    view: str
    path: str
    upload: str = ""
    """A spec's text to POST to ``path`` as the upload form does (with the form's token)."""

    @property
    def key(self) -> str:
        return f"POST {self.path}" if self.upload else self.path


def build_store(
    directory: Path, runs: int, versions: int, monitors: int, stale: int = 0
) -> dict[str, Any]:
    """The fixture in ``directory`` (built by a child process), or the one already there."""
    facts_file = directory / BUILT
    if facts_file.is_file():
        facts = json.loads(facts_file.read_text())
        built = (facts["runs"], facts["versions"], facts.get("stale_runs", 0))
        if built == (runs, versions, stale):
            return {**facts, "reused": True}
        raise SystemExit(
            f"{directory} holds a fixture of {built[0]} runs / {built[1]} versions / "
            f"{built[2]} killed, not {runs} / {versions} / {stale}: give another --store-dir"
        )
    if directory.exists() and any(directory.iterdir()):
        raise SystemExit(f"--store-dir {directory} is not empty and holds no {BUILT}")
    code = (
        "import json, sys; from dataclasses import asdict; from pathlib import Path;"
        " from tests.ui.fixture_store import build_ui_store;"
        " built = build_ui_store(Path(sys.argv[1]), runs=int(sys.argv[2]),"
        " versions=int(sys.argv[3]), monitors_per_model=int(sys.argv[4]),"
        " stale_runs=int(sys.argv[5]));"
        " print(json.dumps(asdict(built), default=str))"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, str(directory), str(runs), str(versions), str(monitors),
         str(stale)],
        cwd=REPO, env=bench_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"building the fixture failed:\n{done.stderr[-3000:]}")
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    facts["stale_runs"] = stale
    facts["build_s"] = round(time.perf_counter() - started, 2)
    facts_file.write_text(json.dumps(facts, indent=2))
    return facts


def cases(facts: dict[str, Any], runs: list[str]) -> list[Case]:
    """Every page type, with the views of the runs table a user clicks through."""
    busiest = facts["busiest_model"]
    newest = facts.get("newest_version", 1)
    model = quote(busiest, safe="")
    per_page = 50
    deep = max(facts["runs"] // per_page // 2, 1)
    table = [
        ("newest first", {}),
        ("one model, passed", {"model": busiest, "status": "passed"}),
        ("rejected, monitor-triggered", {"status": "rejected", "trigger": "monitor"}),
        ("sorted by roc_auc", {"sort": "metric:roc_auc", "order": "desc"}),
        (f"page {deep}", {"page": deep}),
        (f"sorted by duration, page {max(deep // 2, 1)}", {"sort": "duration",
                                                            "page": max(deep // 2, 1)}),
        # running / interrupted are judged from the live locks: killed runs must not cost
        ("running", {"status": "running"}),
        ("interrupted", {"status": "interrupted"}),
        ("interrupted, page 5", {"status": "interrupted", "page": 5}),
        ("one model, interrupted", {"model": busiest, "status": "interrupted"}),
        ("sorted by status", {"sort": "status"}),
    ]  # fmt: skip
    compared = "&".join(f"run={quote(r, safe='')}" for r in runs[:10])
    return [
        Case("models", "every model", "/models"),
        Case("model", f"{busiest}: versions and chart", f"/models/{model}"),
        Case("version", f"{busiest}/{newest}: lineage, aliases", f"/models/{model}/versions/{newest}"),  # noqa: E501
        Case("version", "subscriptions/2: real package", "/models/subscriptions/versions/2"),
        *(Case("runs", view, "/runs" + (f"?{urlencode(q)}" if q else "")) for view, q in table),
        Case("run", "drift-triggered retraining", f"/runs/{quote(facts['retrain_run'], safe='')}"),
        Case("run", "an error at train", f"/runs/{quote(facts['error_run'], safe='')}"),
        Case("compare", f"{len(runs[:10])} runs", f"/compare?{compared}"),
        Case("monitoring", "every monitored model", "/monitoring"),
        Case("monitoring", f"{busiest}: drift over a quarter", f"/monitoring/{model}"),
        Case("monitor run", "the real drift report",
             f"/monitoring/runs/{quote(facts['monitor_run'], safe='')}"),
        Case("monitor report", "the stored HTML report, hash-checked",
             f"/monitoring/runs/{quote(facts['monitor_run'], safe='')}/report"),
        Case("spec plan", "spec.yaml", "/spec?path=spec.yaml"),
        Case("spec plan", "spec.yaml uploaded", "/spec", upload=uploadable(facts)),
    ]  # fmt: skip


def uploadable(facts: dict[str, Any]) -> str:
    """The fixture's spec as a user would upload it: its data file by absolute path
    (an upload's relative paths resolve beside it, not in the UI's directory)."""
    text = Path(facts["spec"]).read_text(encoding="utf-8")
    return text.replace("path: data/", f"path: {Path(facts['root']) / 'data'}/")


def store_facts(facts: dict[str, Any]) -> tuple[int, list[str]]:
    """The busiest model's newest version and ten of its runs to compare (a child
    process reads them, so this one imports nothing of specops)."""
    code = (
        "import json, sys; from pathlib import Path; from framework.store import Store;"
        " store = Store(Path(sys.argv[1]), write=False);"
        " versions = store.versions(sys.argv[2]);"
        " print(json.dumps([versions[-1].version, [v.run_id for v in versions[-10:]]]));"
        " store.close()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, facts["store"], facts["busiest_model"]],
        cwd=REPO, env=bench_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    newest, runs = json.loads(done.stdout)
    return int(newest), list(runs)


def start_ui(facts: dict[str, Any]) -> tuple[subprocess.Popen[str], str, int]:
    """``specops ui --port 0`` on the fixture, from its directory (the spec page's
    paths are relative to it); returns the process, host:port and port."""
    process = subprocess.Popen(
        [*specops_command(), "ui", "--port", "0", "--store", facts["store"]],
        cwd=facts["root"], env=bench_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    seen = []
    watchdog = threading.Timer(60, process.kill)  # a hung start ends the wait
    watchdog.start()
    try:
        for line in process.stdout:
            seen.append(line)
            found = ADDRESS.search(line)
            if found:  # keep reading what it logs, so a full pipe never blocks it
                threading.Thread(target=seen.extend, args=(process.stdout,), daemon=True).start()
                return process, found.group(1), int(found.group(2))
    finally:
        watchdog.cancel()
    process.wait(timeout=10)
    raise SystemExit(f"specops ui exited {process.returncode}:\n{''.join(seen)[-3000:]}")


def fetch(
    connection: http.client.HTTPConnection, case: Case, token: str = ""
) -> tuple[float, int, int]:
    """One GET (or the upload form's POST), timed to the last byte: (ms, status, bytes)."""
    headers = {"Host": "127.0.0.1"}
    body = None
    if case.upload:
        boundary = "specops-bench-boundary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="spec"; '
            f'filename="spec.yaml"\r\nContent-Type: application/x-yaml\r\n\r\n'
            f"{case.upload}\r\n--{boundary}--\r\n"
        ).encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    started = time.perf_counter()
    connection.request("POST" if body else "GET", case.path, body=body, headers=headers)
    response = connection.getresponse()
    read = response.read()
    return (time.perf_counter() - started) * 1000, response.status, len(read)


def form_token(connection: http.client.HTTPConnection) -> str:
    """The upload form's CSRF token (valid for hours: one for the whole measurement)."""
    connection.request("GET", "/spec", headers={"Host": "127.0.0.1"})
    found = re.search(rb'name="csrf" value="([^"]+)"', connection.getresponse().read())
    return found.group(1).decode() if found else ""


def measure(port: int, pages: list[Case], requests: int, rounds: int) -> dict[str, Any]:
    """Every page ``requests`` times a round (after one warm-up), pages rotated per round."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times: dict[str, list[float]] = {c.key: [] for c in pages}
    statuses: dict[str, set[int]] = {c.key: set() for c in pages}
    sizes: dict[str, int] = {}
    try:
        token = form_token(connection) if any(c.upload for c in pages) else ""
        for case in pages:
            _, status, size = fetch(connection, case, token)  # warm-up: first use of each page
            statuses[case.key].add(status)
            sizes[case.key] = size
        for round_number in range(rounds):
            for case in rotated(pages, round_number):
                for _ in range(requests):
                    ms, status, _ = fetch(connection, case, token)
                    times[case.key].append(ms)
                    statuses[case.key].add(status)
    finally:
        connection.close()
    rows = []
    for case in pages:
        values = times[case.key]
        rows.append(
            {
                "page": case.page,
                "view": case.view,
                "path": case.path,
                "requests": len(values),
                "median_ms": round(median(values), 2),
                "p95_ms": round(percentile(values, 95), 2),
                "max_ms": round(max(values), 2),
                "bytes": sizes[case.key],
                "statuses": sorted(statuses[case.key]),
                "passes": statuses[case.key] == {200} and percentile(values, 95) < TARGET_MS,
            }
        )
    return {"pages": rows}


@contextlib.contextmanager
def on_postgres(facts: dict[str, Any], artifacts: Path) -> Iterator[tuple[str, str]]:
    """The fixture copied into a database of a throwaway PostgreSQL cluster (blobs in
    ``artifacts``); yields the store URL to serve and a line for the report."""
    sys.path.insert(0, str(REPO))
    from tests.team.postgres_server import postgres_bin, shared_cluster  # team tests' harness

    cluster = shared_cluster()
    try:
        url = cluster.url(cluster.create_database())
        started = time.perf_counter()
        done = subprocess.run(
            [*specops_command(), "store", "copy", facts["store"], url, "--artifacts",
             str(artifacts)],
            cwd=REPO, env=bench_env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"specops store copy failed:\n{done.stderr[-3000:]}")
        took = time.perf_counter() - started
        server = subprocess.run(
            [str(postgres_bin() / "postgres"), "--version"], capture_output=True, text=True
        ).stdout.strip()
        yield url, f"{server}, a local cluster over TCP; blobs in a folder (copied in {took:.0f} s)"
    finally:
        cluster.stop()


def render(report: dict[str, Any]) -> str:
    facts = report["store"]
    lines = [
        f"# specops ui: page times on {facts['runs']:,} runs / {facts['versions']:,} versions",
        "",
        *machine_lines(report["machine"]),
        f"- store: {facts['runs']:,} runs, {facts['versions']:,} versions, 5 models, "
        "monitor runs over 90 days"
        + (
            f", about {facts['stale_runs']:,} runs killed (still marked running, their lock "
            "files left behind)"
            if facts.get("stale_runs")
            else ""
        )
        + " (tests/ui/fixture_store.py"
        + (f", built in {facts['build_s']} s)" if facts.get("build_s") else ")"),
        *([f"- metadata on PostgreSQL: {facts['backend']}"] if facts.get("backend") else []),
        f"- {report['requests']} timed requests per page per round, {report['rounds']} "
        "round(s), after one warm-up request; one keep-alive connection from a separate "
        "client process, time to the last byte",
        "",
        markdown_table(
            [
                "page",
                "view",
                "median ms",
                "p95 ms",
                "max ms",
                "KiB",
                "HTTP",
                f"< {TARGET_MS:.0f} ms",
            ],
            [
                [
                    r["page"],
                    r["view"],
                    f"{r['median_ms']:.1f}",
                    f"{r['p95_ms']:.1f}",
                    f"{r['max_ms']:.1f}",
                    f"{r['bytes'] / 1024:.0f}",
                    ",".join(map(str, r["statuses"])),
                    "pass" if r["passes"] else "FAIL",
                ]
                for r in report["pages"]
            ],
        ),
        "",
        f"Target: every page's p95 under {TARGET_MS:.0f} ms with HTTP 200. "
        + (
            "All pages pass."
            if all(r["passes"] for r in report["pages"])
            else "Failing: "
            + ", ".join(f"{r['page']} ({r['view']})" for r in report["pages"] if not r["passes"])
            + "."
        ),
        *notes_lines(report["notes"]),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--versions", type=int, default=500)
    parser.add_argument("--monitors", type=int, default=60, help="monitor runs per model")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--stale",
        type=int,
        default=0,
        metavar="N",
        help="about N runs killed: still marked running, their lock files left in live/",
    )
    parser.add_argument("--store-dir", type=Path, help="build the fixture here (reused if built)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 60 runs, 16 versions, 2 requests, 1 round")  # fmt: skip
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="serve the fixture from PostgreSQL: a throwaway local cluster (the team tests' "
        "harness; needs the server binaries), the store copied there with `specops store copy`",
    )
    parser.add_argument("--output", help="write the Markdown report here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.versions, args.monitors = 60, 16, 6
        args.requests, args.rounds = 2, 1

    with tempfile.TemporaryDirectory(prefix="specops-ui-bench-") as scratch:
        directory = args.store_dir or Path(scratch) / "store"
        facts = build_store(directory, args.runs, args.versions, args.monitors, args.stale)
        facts["newest_version"], runs = store_facts(facts)
        with contextlib.ExitStack() as stack:
            if args.postgres:
                facts["store"], facts["backend"] = stack.enter_context(
                    on_postgres(facts, Path(scratch) / "artifacts")
                )
            started = machine()
            process, _, port = start_ui(facts)
            try:
                measured = measure(port, cases(facts, runs), args.requests, args.rounds)
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    report = {
        "machine": started,
        "store": {
            k: facts[k]
            for k in ("runs", "versions", "stale_runs", "build_s", "reused", "backend")
            if k in facts
        },
        "requests": args.requests,
        "rounds": args.rounds,
        "target_ms": TARGET_MS,
        **measured,
        "notes": env_notes(),
    }
    publish(report, render(report), args.output, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
