"""The UI over HTTP, no browser: a real server on 127.0.0.1 over a store real runs made.

What a user sees is asserted on the HTML: status codes, the values shown, hostile
names escaped, pagination, the damaged-artifact notice, and promote/rollback refused
without ``--allow-writes`` and recorded in the alias history with it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import aliases_and_history, build_store, champion, store_rows

HOSTILE_COLUMN = '<script>alert("col")</script>'
HOSTILE_CATEGORY = "<img src=x onerror=alert(1)>"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def get(url: str, headers: dict[str, str] | None = None) -> Reply:
    return _send(urllib.request.Request(url, headers=headers or {}))


def post(url: str, form: dict[str, str], headers: dict[str, str] | None = None) -> Reply:
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers=headers or {})
    request.add_header("content-type", "application/x-www-form-urlencoded")
    return _send(request)


def _send(request: urllib.request.Request) -> Reply:
    try:
        with OPENER.open(request, timeout=30) as answer:
            return Reply(
                answer.status,
                {k.lower(): v for k, v in answer.headers.items()},
                answer.read().decode(),
            )
    except urllib.error.HTTPError as error:
        return Reply(
            error.code, {k.lower(): v for k, v in error.headers.items()}, error.read().decode()
        )


def _hostile_spec(directory: Path) -> Path:
    """A CSV whose column name and category values are HTML, trained as model ``odd``."""
    import random

    rng = random.Random(3)
    lines = [f'"{HOSTILE_COLUMN.replace(chr(34), chr(34) * 2)}",kind,y']
    for _ in range(240):
        x = rng.random()
        kind = rng.choice([HOSTILE_CATEGORY, "a&b", "plain"])
        lines.append(f"{x:.4f},{kind},{int(x + rng.random() * 0.5 > 0.75)}")
    (directory / "odd.csv").write_text("\n".join(lines) + "\n")
    spec = directory / "odd.yaml"
    spec.write_text(
        "name: odd\ntask: binary\nseed: 2\n"
        "data:\n  source: {type: csv, params: {path: odd.csv}}\n  target: y\n"
        "preprocess:\n  - {type: one_hot, params: {columns: [kind]}}\n"
        "model:\n  type: lightgbm\n  params: {n_estimators: 5, num_leaves: 4}\n"
    )
    return spec


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bc/1 champion, bc/2 rejected, bc/3 champion; odd/1 with HTML in its names."""
    from framework.cli.main import main

    directory = tmp_path_factory.mktemp("ui-store")
    store = build_store(directory)
    spec = _hostile_spec(directory)
    assert main(["run", str(spec), "--store", str(store), "--json"]) == 0
    return store


@pytest.fixture
def store(made: Path, tmp_path: Path) -> Path:
    """A copy of the made store each test may change (promote, damage, a new run)."""
    copy = tmp_path / "copy" / ".specops"
    shutil.copytree(made, copy, ignore=shutil.ignore_patterns("live"))
    return copy


@pytest.fixture
def ui(store: Path) -> Iterator[str]:
    from framework.ui.server import running

    with running(str(store)) as base:
        yield base


# reading -----------------------------------------------------------------------------


def test_models_list_shows_each_model_with_its_champion_and_counts(ui: str) -> None:
    reply = get(ui + "/models")
    assert reply.status == 200
    assert 'href="/models/bc"' in reply.body and 'href="/models/odd"' in reply.body
    row = re.search(r'<a href="/models/bc">bc</a>.*?</tr>', reply.body).group(0)
    assert 'href="/models/bc/versions/3">v3<' in row  # the champion
    assert "3 <span" in row and "(2 registered)" in row
    assert "roc_auc" in row  # the gate's metric is the key metric
    assert get(ui + "/").headers["location"] == "/models"


def test_model_page_charts_the_key_metric_across_versions(ui: str, store: Path) -> None:
    reply = get(ui + "/models/bc")
    assert reply.status == 200
    chart = re.search(r'<svg[^>]*class="chart"[^>]*>.*?</svg>', reply.body).group(0)
    assert 'data-points="3"' in chart
    assert chart.count('<circle class="point') == 3
    assert chart.count('class="point bad"') == 1  # bc/2, rejected
    assert 'class="threshold"' in chart and "gate min 0.9000" in chart
    stored = store_rows(store, "SELECT metrics_json FROM model_versions WHERE version = 3")
    auc = json.loads(stored[0][0])["roc_auc"]
    assert f"v3: {auc:.4f}" in chart  # the point's tooltip is the stored value
    versions = re.search(r'<table class="versions">.*?</table>', reply.body).group(0)
    assert versions.count("<tr") == 4  # header + 3 versions, newest first
    assert versions.index("v3<") < versions.index("v2<") < versions.index("v1<")
    other = get(ui + "/models/bc?metric=log_loss").body
    assert "log_loss across versions of bc" in other


def test_version_page_judges_against_the_gate_and_the_champion_of_its_time(ui: str) -> None:
    reply = get(ui + "/models/bc/versions/2")
    assert reply.status == 200
    body = reply.body
    assert '<span class="badge bad">rejected</span>' in body
    metrics = re.search(r'<section id="metrics">.*?</section>', body).group(0)
    assert "champion at the time (bc/1)" in metrics
    auc_row = re.search(r"<tr[^>]*><td>roc_auc</td>.*?</tr>", metrics).group(0)
    assert 'class="fail">failed' in auc_row and "&gt;= 0.9999" in auc_row
    assert "short by" in auc_row
    assert "model.params.n_estimators" in body
    assert "mean radius" in body  # signature columns
    files = re.search(r'<section id="files">.*?</section>', body).group(0)
    assert files.count("hash ok") >= 3 and "model.json" in files
    lineage = re.search(r'<svg[^>]*class="graph"[^>]*>', body).group(0)
    nodes = int(re.search(r'data-nodes="(\d+)"', lineage).group(1))
    assert nodes >= 3  # data -> run -> version
    assert "Promote" not in body  # read-only: no form


def test_version_page_shows_alias_history_and_serving_runtime(ui: str, store: Path) -> None:
    body = get(ui + "/models/bc/versions/3").body
    aliases = re.search(r'<section id="aliases">.*?</section>', body).group(0)
    assert "points here now: champion" in aliases
    assert "gate passed" in aliases and ">v1<" in aliases  # moved from v1 to v3
    runtime = re.search(r'<section id="runtime">.*?</section>', body).group(0)
    serves = re.search(r"serves single rows with <strong>([^<]+)</strong>", runtime).group(1)
    digest = json.loads(
        store_rows(store, "SELECT files_json FROM model_versions WHERE name='bc' AND version=3")[0][
            0
        ]
    )["model.json"]
    recorded = json.loads((store / "artifacts" / digest[:2] / digest[2:]).read_text())
    verdicts = recorded.get("runtimes") or {}
    for name in verdicts:  # every recorded verdict is listed
        assert f"<td>{name}</td>" in runtime
    verified = [n for n, v in verdicts.items() if v.get("verified")]
    assert serves in [*verified, "native"]


def test_version_page_shows_the_signature_with_roles_dtypes_and_categories(ui: str) -> None:
    body = get(ui + "/models/odd/versions/1").body
    signature = re.search(r'<section id="signature">.*?</section>', body).group(0)
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>",
                      signature)  # fmt: skip
    by_column = {column: (role, dtype, categories) for column, role, dtype, categories in rows}
    assert set(by_column) == {"&lt;script&gt;alert(&quot;col&quot;)&lt;/script&gt;", "kind"}
    role, dtype, categories = by_column["kind"]
    assert (role, dtype) == ("categorical", "category")
    assert categories.split(", ") == ["&lt;img src=x onerror=alert(1)&gt;", "a&amp;b", "plain"]
    assert by_column["&lt;script&gt;alert(&quot;col&quot;)&lt;/script&gt;"][:2] == (
        "numeric",
        "float64",
    )


def test_hostile_names_are_escaped_everywhere(ui: str) -> None:
    for path in ("/models", "/models/odd", "/models/odd/versions/1"):
        body = get(ui + path).body
        assert "<script>alert" not in body and "<img src=x" not in body, path
    body = get(ui + "/models/odd/versions/1").body
    assert "&lt;script&gt;alert(&quot;col&quot;)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body  # a category of `kind`
    assert "a&amp;b" in body


def test_the_header_names_the_store_relative_to_the_ui_directory(store: Path) -> None:
    from framework.ui.server import running

    with running(str(store), root=store.parent) as base:
        inside = get(base + "/models").body
    with running(str(store), root=store.parent / "elsewhere") as base:
        outside = get(base + "/models").body
    assert 'title="the store this UI reads">.specops</span>' in inside
    assert f'title="the store this UI reads">{store}</span>' in outside


def test_unknown_things_are_404_and_wrong_methods_405(ui: str) -> None:
    assert get(ui + "/models/nope").status == 404
    assert get(ui + "/models/bc/versions/99").status == 404
    assert get(ui + "/models/bc/versions/x").status == 404
    assert get(ui + "/nowhere").status == 404
    long_path = get(ui + "/" + "a" * 60_000)  # a 404 names the path, it does not echo it
    assert long_path.status == 404 and "60,001 characters" in long_path.body
    assert len(long_path.body) < 20_000
    icon = get(ui + "/favicon.ico")  # asked for by every browser tab: never a 404
    assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"
    reply = post(ui + "/models", {})
    assert reply.status == 405 and reply.headers["allow"] == "GET"


def test_every_answer_carries_the_security_headers(ui: str) -> None:
    reply = get(ui + "/models/bc")
    csp = reply.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["cache-control"] == "no-store"
    # a page under another host name (DNS rebinding) is refused on a loopback server
    assert get(ui + "/models", {"Host": "evil.example:8765"}).status == 421


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A store of 220 versions written through the store's API (tests/ui/fixture_store.py),
    with the subscriptions example's real drift -> retrain -> promote loop."""
    from tests.ui.fixture_store import build_ui_store

    directory = tmp_path_factory.mktemp("ui-many") / "store"
    return build_ui_store(directory, runs=260, versions=220, monitors_per_model=2)


def test_the_model_page_draws_the_drift_retrain_promote_loop(many: Any) -> None:
    from framework.ui.server import running

    with running(str(many.store)) as base:
        body = get(base + "/models/subscriptions").body
    loop = re.search(r'<section id="loop">.*?</section>', body).group(0)
    titles = re.findall(r"<title>([^<]*)</title>", loop)
    assert "version: subscriptions/1 — judged" in titles
    assert any(t.startswith("monitor: monitor ") and "drifted" in t for t in titles)
    assert "version: subscriptions/2 — registered" in titles
    assert "alias: @champion — promoted v2" in titles
    assert 'data-edges="4"' in loop and f'href="/runs/{many.retrain_run}"' in loop


def test_versions_are_paginated(many: Any) -> None:
    from framework.ui.server import running

    fixture = many
    name = fixture.busiest_model
    count = store_rows(fixture.store, f"SELECT COUNT(*) FROM model_versions WHERE name='{name}'")
    assert count[0][0] > 50
    seen: list[int] = []
    with running(str(fixture.store)) as base:
        page, url = 1, f"/models/{name}"
        while url:
            body = get(base + url).body
            table = re.search(r'<table class="versions">.*?</table>', body).group(0)
            shown = [int(v) for v in re.findall(r'/versions/(\d+)">v\d+</a></td><td><span', table)]
            assert 0 < len(shown) <= 50
            seen += shown
            follow = re.search(r'<a href="([^"]+)" rel="next">', body)
            url = follow.group(1).replace("&amp;", "&") if follow else ""
            page += 1
        assert page - 1 == -(-count[0][0] // 50)
        assert seen == sorted(seen, reverse=True) and len(set(seen)) == count[0][0]
        chart = re.search(r'<svg[^>]*class="chart"[^>]*data-points="(\d+)"', body)
        assert int(chart.group(1)) == count[0][0]


def test_a_new_run_shows_on_reload(ui: str, store: Path, made: Path) -> None:
    from framework.cli.main import main

    assert 'data-points="3"' in get(ui + "/models/bc").body
    spec = made.parent / "spec.yaml"
    assert main(["run", str(spec), "--store", str(store), "--json"]) == 0
    body = get(ui + "/models/bc").body
    assert 'data-points="4"' in body and 'href="/models/bc/versions/4"' in body


def test_a_damaged_artifact_shows_as_damaged_not_as_an_error(ui: str, store: Path) -> None:
    files = json.loads(
        store_rows(store, "SELECT files_json FROM model_versions WHERE name='bc' AND version=1")[0][
            0
        ]
    )
    text = files["model/model.txt"]
    blob = store / "artifacts" / text[:2] / text[2:]
    blob.chmod(0o644)
    blob.write_text("tampered")
    missing = files["signature.json"]
    (store / "artifacts" / missing[:2] / missing[2:]).unlink()
    reply = get(ui + "/models/bc/versions/1")
    assert reply.status == 200
    assert '<div class="notice bad" role="alert"><strong>damaged</strong>: 2 of' in reply.body
    rows = re.search(r'<section id="files">.*?</section>', reply.body).group(0)
    assert rows.count('<span class="badge bad">damaged</span>') == 2
    assert "hash to" in rows and "no blob at" in rows
    assert get(ui + "/models/bc/versions/3").status == 200  # other versions unaffected


def test_a_crafted_file_list_is_shown_damaged_and_nothing_it_names_is_read(
    ui: str, store: Path, tmp_path: Path
) -> None:
    """A row whose blob name is a path (``//etc/shadow`` is /etc/shadow under the
    artifacts folder) or whose file leaves the package: the UI must not stat or hash
    what it names (the page showed such a file's size and "corrupt")."""
    from tests.helpers import store_execute

    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"s" * 12_347)  # a size to look for on the page
    files = json.loads(
        store_rows(store, "SELECT files_json FROM model_versions WHERE name='bc' AND version=1")[0][
            0
        ]
    )
    files["extra.bin"] = "/" + str(secret)  # artifacts / "//" / "tmp/...": the secret
    files["../../outside.json"] = files["model.json"]
    store_execute(
        store,
        "UPDATE model_versions SET files_json = '"
        + json.dumps(files).replace("'", "''")
        + "' WHERE name = 'bc' AND version = 1",
    )
    reply = get(ui + "/models/bc/versions/1")
    assert reply.status in (200, 503), reply.status  # damaged: shown, or the store refuses it
    assert "Traceback" not in reply.body and "Internal error" not in reply.body
    assert "12347" not in reply.body and "12,347" not in reply.body  # never stat'ed
    if reply.status == 200:
        rows = re.search(r'<section id="files">.*?</section>', reply.body).group(0)
        assert rows.count('<span class="badge bad">damaged</span>') == 2
        assert rows.count("not read (crafted or damaged)") == 2
        assert "<strong>damaged</strong>: 2 of" in reply.body
    assert get(ui + "/models/bc/versions/3").status == 200  # other versions unaffected


def test_unreadable_records_are_a_store_notice_not_a_crash(ui: str, store: Path) -> None:
    from tests.helpers import store_execute

    store_execute(store, "UPDATE model_versions SET metrics_json = '{not json' WHERE version = 2")
    for path in ("/models/bc", "/models/bc/versions/2"):
        reply = get(ui + path)
        assert reply.status == 503, path
        assert "<h1>Store unavailable</h1>" in reply.body and "store verify" in reply.body
    assert get(ui + "/models/odd").status == 200  # the rest of the store still shows


# writes --------------------------------------------------------------------------------


def test_writes_are_refused_without_allow_writes(ui: str, store: Path) -> None:
    before = aliases_and_history(store)
    body = get(ui + "/models/bc/versions/1").body
    assert "<form" not in body and "read-only UI" in body
    assert "<code>specops models promote</code>" in body and "`specops" not in body
    reply = post(ui + "/models/bc/versions/1/promote", {"alias": "champion"})
    assert reply.status == 403 and "<h1>Writes are off</h1>" in reply.body
    assert "--allow-writes" in reply.body
    assert post(ui + "/models/bc/rollback", {"alias": "champion"}).status == 403
    assert aliases_and_history(store) == before


def test_promote_and_rollback_with_allow_writes_are_recorded(store: Path) -> None:
    from framework.ui.server import running

    with running(str(store), allow_writes=True) as base:
        page = get(base + "/models/bc/versions/1").body
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert 'action="/models/bc/versions/1/promote"' in page
        before = aliases_and_history(store)
        forged = post(base + "/models/bc/versions/1/promote", {"alias": "champion", "csrf": "1.x"})
        assert forged.status == 403 and "<h1>Refused</h1>" in forged.body
        cross = post(
            base + "/models/bc/versions/1/promote",
            {"alias": "champion", "csrf": token},
            {"Sec-Fetch-Site": "cross-site"},
        )
        assert cross.status == 403
        assert aliases_and_history(store) == before

        done = post(
            base + "/models/bc/versions/1/promote",
            {"alias": "champion", "reason": "back to <b>v1</b>", "csrf": token},
        )
        assert done.status == 303 and done.headers["location"] == "/models/bc/versions/1#aliases"
        assert champion(store) == 1
        last = store_rows(store, "SELECT from_version, to_version, actor, reason FROM "
                          "alias_history ORDER BY id DESC LIMIT 1")[0]  # fmt: skip
        assert last[:2] == (3, 1) and last[2].endswith(" (ui)")
        assert last[3] == "manual promote: back to <b>v1</b>"
        shown = get(base + "/models/bc/versions/1").body
        assert "manual promote: back to &lt;b&gt;v1&lt;/b&gt;" in shown

        model = get(base + "/models/bc").body
        token = re.search(r'name="csrf" value="([^"]+)"', model).group(1)
        undone = post(base + "/models/bc/rollback", {"alias": "champion", "csrf": token})
        assert undone.status == 303
        assert champion(store) == 3
        reason = store_rows(store, "SELECT reason FROM alias_history ORDER BY id DESC LIMIT 1")
        assert reason[0][0] == "rollback"
        moves = re.search(r'<section id="moves">.*?</section>', get(base + "/models/bc").body)
        assert moves.group(0).index("<td>rollback</td>") < moves.group(0).index("manual promote")
        # a rejected version is refused by the store, as by the CLI: a page, not a 500
        refused = post(base + "/models/bc/versions/2/promote", {"alias": "champion", "csrf": token})
        assert refused.status == 400 and "only a registered version" in refused.body
        assert champion(store) == 3
        never = post(base + "/models/odd/rollback", {"alias": "champion", "csrf": token})
        assert never.status == 400 and "nothing to roll back to" in never.body


# the command ---------------------------------------------------------------------------


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "framework.cli.main", "ui", "--port", "0", *args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SPECOPS_UI_TOKEN": "", "SPECOPS_SERVE_TOKEN": ""},
    )  # fmt: skip
    line = process.stdout.readline() if process.stdout else ""
    found = re.match(r"specops ui: (http://[^/]+)/ ", line)
    if found is None:
        process.kill()
        raise AssertionError(f"no address announced: {line!r} {process.stderr.read()}")
    return process, found.group(1)


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=20)


def test_ui_command_serves_on_the_port_it_announces(store: Path) -> None:
    process, base = _start("--store", str(store))
    try:
        assert base.startswith("http://127.0.0.1:")
        assert get(base + "/models/bc").status == 200
    finally:
        assert _stop(process) == 0


def test_ui_command_needs_a_token_beyond_loopback(store: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "framework.cli.main", "ui", "--host", "0.0.0.0", "--store",
         str(store), "--port", "0"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "SPECOPS_UI_TOKEN": "", "SPECOPS_SERVE_TOKEN": ""},
    )  # fmt: skip
    assert refused.returncode == 2 and "give a token" in refused.stderr
    process, base = _start("--host", "0.0.0.0", "--store", str(store), "--token", "s3cret")
    try:
        assert get(base + "/models").status == 401
        assert get(base + "/models", {"Authorization": "Bearer wrong"}).status == 401
        assert get(base + "/models", {"Authorization": "Bearer s3cret"}).status == 200
        login = get(base + "/models/bc?token=s3cret")
        assert login.status == 303 and login.headers["location"] == "/models/bc"
        cookie = login.headers["set-cookie"].split(";")[0]
        assert "HttpOnly" in login.headers["set-cookie"]
        assert get(base + "/models/bc", {"Cookie": cookie}).status == 200
    finally:
        assert _stop(process) == 0


def test_a_token_login_keeps_the_page_and_its_arguments_and_stays_on_this_server(
    store: Path,
) -> None:
    from framework.ui.server import running

    with running(str(store), token="s3cret") as base:
        login = get(base + "/runs?model=bc&token=s3cret&status=passed")
        assert login.status == 303
        assert login.headers["location"] == "/runs?model=bc&status=passed"
        for odd in ("//evil.example/x", "/%5Cevil.example/x"):
            moved = get(base + odd + "?token=s3cret")
            assert moved.status == 303 and moved.headers["location"].startswith("/")
            assert not moved.headers["location"].startswith(("//", "/\\"))
        assert get(base + "/runs?token=wrong").status == 401


def test_ui_command_without_a_store_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "framework.cli.main", "ui", "--store", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "no specops store" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--port", "70000"], "expected a port 0-65535"),
        (["--token", ""], "--token is empty"),
        (["--token", " padded "], "token"),
    ],
)
def test_ui_command_refuses_a_bad_port_or_token_as_serve_does(
    store: Path, argv: list[str], said: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "framework.cli.main", "ui", "--store", str(store), *argv],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_ui_command_imports_nothing_heavy_until_it_runs() -> None:
    from tests.helpers import heavy_imports

    assert heavy_imports(["framework.cli.main", "framework.cli.ui"],
                         ["uvicorn", "framework.ui.app", "pandas"]) == []  # fmt: skip
