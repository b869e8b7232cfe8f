"""The spec page over HTTP from the real UI server: a spec's plan as a graph with each
step's plugin and params, from a path under the UI's directory or an upload; paths
outside refused; bad specs shown as `specops validate` shows them, with a 4xx."""

from __future__ import annotations

import html
import re
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.pages_stores import Answer, assert_safe_page, count, fetch

HOSTILE = "<script>alert(1)</script>"
SECRET_DIR = "/tmp/ui-spec-secret-dir-4711"

SPEC = f"""
name: planned
task: binary
data:
  source: {{type: sklearn_dataset, params: {{name: breast_cancer}}}}
  target: target
checks:
  - {{type: row_count, params: {{min: 10}}}}
  - {{type: required_columns, params: {{columns: ["{HOSTILE}"]}}}}
preprocess:
  - {{type: impute, params: {{strategy: median}}}}
  - {{type: scale}}
model:
  type: lightgbm
  params: {{n_estimators: 10}}
gate:
  roc_auc: {{min: 0.9}}
deploy:
  - type: registry
  - type: directory
    params: {{path: "${{env:UI_SPEC_DIR}}"}}
"""

BAD = """
name: bad
task: binary
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
model:
  type: lightgbn
  params: {n_estimators: many}
colour: blue
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("specs")
    root = folder / "project"
    (root / "specs").mkdir(parents=True)
    (root / "specs" / "spec.yaml").write_text(SPEC.lstrip())
    (root / "bad.yaml").write_text(BAD.lstrip())
    (root / "notes.txt").write_text("name: not a spec file\n")
    outside = folder / "outside.yaml"
    outside.write_text("name: outside-secret-spec\n")
    (root / "link.yaml").symlink_to(outside)
    return root


@pytest.fixture(scope="module")
def base(root: Path) -> Iterator[str]:
    import os

    from framework.ui.server import running

    os.environ["UI_SPEC_DIR"] = SECRET_DIR
    try:
        with running(store=str(root / ".specops"), root=root) as url:
            yield url
    finally:
        os.environ.pop("UI_SPEC_DIR", None)


def _csrf(base: str) -> str:
    form = fetch(f"{base}/spec").text
    return re.search(r'name="csrf" value="([^"]+)"', form).group(1)


def _upload(
    base: str,
    text: bytes,
    *,
    filename: str = "up.yaml",
    csrf: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST the upload form as a browser does: multipart/form-data."""
    boundary = uuid.uuid4().hex
    parts = []
    if csrf is not None:
        parts.append(
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="csrf"\r\n\r\n{csrf}\r\n'.encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="spec"; '
        f'filename="{filename}"\r\nContent-Type: application/x-yaml\r\n\r\n'.encode()
        + text
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return fetch(
        f"{base}/spec",
        data=b"".join(parts),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **(headers or {})},
    )


def test_the_form_page(base: str) -> None:
    answer = fetch(f"{base}/spec")
    assert answer.status == 200
    assert_safe_page(answer)
    assert '<form method="get" action="/spec">' in answer.text
    assert 'enctype="multipart/form-data"' in answer.text and 'name="csrf"' in answer.text


def test_a_spec_path_shows_its_plan_as_a_graph_with_plugins_and_params(base: str) -> None:
    answer = fetch(f"{base}/spec?path=specs/spec.yaml")
    assert answer.status == 200
    assert_safe_page(answer)
    text = answer.text
    graph = re.search(r'<svg [^>]*class="graph".*?</svg>', text, re.S).group(0)
    # ingest, 2 checks, split, 2 transforms, train, evaluate, gate, register, 2 deploys
    assert 'data-nodes="12"' in graph and 'data-edges="12"' in graph
    assert count(r'<g class="node ', graph) == 12
    for label in ("ingest: sklearn_dataset", "check: row_count", "check: required_columns",
                  "split: stratified", "transform: impute", "transform: scale",
                  "train: lightgbm", "deploy: registry", "deploy: directory"):  # fmt: skip
        assert f">{label}</text>" in graph
    # the table: each step's plugin and effective params, defaults marked
    assert "<code>n_estimators=10</code>" in text
    assert '<code>learning_rate=0.1</code><span class="muted"> (default)</span>' in text
    assert "<code>strategy=median</code>" in text
    assert "roc_auc: min 0.9" in text
    # hostile values are text; the environment's value is its placeholder
    assert HOSTILE not in text and html.escape(HOSTILE) in text
    assert "<code>path=${env:UI_SPEC_DIR}</code>" in text and SECRET_DIR not in text


@pytest.mark.parametrize(
    "given",
    ["../outside.yaml", "specs/../../outside.yaml", "link.yaml", "/etc/passwd", "notes.txt"],
)
def test_paths_outside_the_directory_or_not_specs_are_refused(
    base: str, root: Path, given: str
) -> None:
    answer = fetch(f"{base}/spec?path={given}")
    assert answer.status == 403
    assert_safe_page(answer)
    assert "outside-secret-spec" not in answer.text  # the file's content is never read
    assert "root:x:" not in answer.text  # nor /etc/passwd's
    said = "not a spec file" if given == "notes.txt" else "outside the directory the UI was"
    assert said in answer.text


def test_an_absolute_path_under_the_directory_is_read(base: str, root: Path) -> None:
    answer = fetch(f"{base}/spec?path={root / 'specs' / 'spec.yaml'}")
    assert answer.status == 200 and 'data-nodes="12"' in answer.text


def test_a_bad_spec_shows_the_problems_validate_prints_with_a_400(
    base: str, root: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    validated = cli("validate", "bad.yaml")
    assert validated.code == 2
    answer = fetch(f"{base}/spec?path=bad.yaml")
    assert answer.status == 400
    assert_safe_page(answer)
    *problems, found = validated.err.splitlines()
    assert found == "2 problems found"  # the unknown model type and the unknown key
    for line in problems:
        assert html.escape(line) in answer.text
    assert "2 problems in bad.yaml" in answer.text
    missing = fetch(f"{base}/spec?path=nothing-here.yaml")
    assert missing.status == 400 and "spec file not found: nothing-here.yaml" in missing.text


def test_an_uploaded_spec_is_planned(base: str) -> None:
    text = SPEC.replace('"${env:UI_SPEC_DIR}"', "build/model").encode()
    answer = _upload(base, text, csrf=_csrf(base))
    assert answer.status == 200
    assert_safe_page(answer)
    assert 'data-nodes="12"' in answer.text and "<code>up.yaml</code>" in answer.text
    assert HOSTILE not in answer.text and html.escape(HOSTILE) in answer.text


def test_an_upload_is_read_without_the_servers_environment(base: str) -> None:
    answer = _upload(base, SPEC.encode(), filename="<b>env.yaml", csrf=_csrf(base))
    assert answer.status == 400
    assert "environment variable UI_SPEC_DIR is not set" in answer.text
    assert "read without this server&#x27;s environment" in answer.text
    assert SECRET_DIR not in answer.text
    assert "<b>" not in answer.text and "_b_env.yaml:21:20: error" in answer.text


def test_a_bad_upload_shows_the_yaml_problem(base: str) -> None:
    answer = _upload(base, b"name: x\n  bad: [\n", csrf=_csrf(base))
    assert answer.status == 400
    assert_safe_page(answer)
    assert "up.yaml:2:6: error: malformed YAML" in answer.text
    assert "specops-ui-spec-" not in answer.text  # nor the server's temporary directory


def test_uploads_without_our_token_or_from_another_site_are_refused(base: str) -> None:
    text = SPEC.encode()
    assert _upload(base, text).status == 403
    assert _upload(base, text, csrf="123.forged").status == 403
    foreign = _upload(base, text, csrf=_csrf(base), headers={"Origin": "http://evil.example"})
    assert foreign.status == 403 and "another origin" in foreign.text


def test_an_upload_too_large_is_refused_before_it_is_read(base: str) -> None:
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(base)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    try:  # a browser sends the length first: the answer comes before the body is read
        connection.putrequest("POST", "/spec")
        connection.putheader("Content-Type", "multipart/form-data; boundary=x")
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.endheaders()
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    empty = _upload(base, b"", csrf=_csrf(base))
    assert empty.status == 400 and "choose a spec file or paste one" in empty.text


def test_a_pasted_spec_is_planned(base: str) -> None:
    from urllib.parse import urlencode

    text = textwrap.dedent(SPEC).replace('"${env:UI_SPEC_DIR}"', "build/model")
    body = urlencode({"csrf": _csrf(base), "text": text}).encode()
    answer = fetch(
        f"{base}/spec",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 200 and "Plan of planned" in answer.text


ON_THIS_MACHINE = """
name: probe
task: binary
description: read from /etc and ../elsewhere (prose, not a path)
data:
  source: {{type: csv, params: {{path: "{path}"}}}}
  target: churned
model: {{type: lightgbm}}
"""


@pytest.mark.parametrize(
    "path",
    [
        "{outside}",  # a file that exists
        "{outside}.missing",  # one that does not: the same answer, so no oracle
        "/etc/*.conf",  # a glob would list a folder
        "~/secret.csv",
        "../outside.csv",
        "data/../../outside.csv",
        "${{env:NOT_SET_ANYWHERE:-/etc}}/passwd.csv",
    ],
)
def test_an_upload_naming_this_machines_files_is_refused_before_they_are_looked_at(
    base: str, root: Path, path: str
) -> None:
    outside = root.parent / "outside.yaml"
    text = ON_THIS_MACHINE.format(path=path.format(outside=outside)).encode()
    answer = _upload(base, text, csrf=_csrf(base))
    assert answer.status == 400
    assert_safe_page(answer)
    assert "an uploaded spec may not name this machine&#x27;s files outside" in answer.text
    assert "up.yaml:6:" in answer.text and "data.source.params.path" in answer.text
    # nothing was asked of the file: not found, no match, nor a plan
    for said in ("not found", "no data files match", "Plan of probe"):
        assert said not in answer.text


def test_an_upload_may_name_files_under_the_ui_directory(base: str, root: Path) -> None:
    data = root / "specs" / "rows.csv"
    data.write_text("a,churned\n1,0\n2,1\n")
    for path in (str(data), str(root / "specs" / "*.csv")):
        answer = _upload(base, ON_THIS_MACHINE.format(path=path).encode(), csrf=_csrf(base))
        assert answer.status == 200 and "Plan of probe" in answer.text
    # not through a link under it that leads outside
    (root / "specs" / "out").symlink_to(root.parent)
    answer = _upload(
        base, ON_THIS_MACHINE.format(path=f"{root}/specs/out/*.yaml").encode(), csrf=_csrf(base)
    )
    assert answer.status == 400 and "may not name this machine" in answer.text


def test_the_same_spec_by_its_path_is_planned_with_this_machines_files(
    base: str, root: Path
) -> None:
    data = root.parent / "elsewhere.csv"  # the operator's own spec may read anywhere
    data.write_text("a,churned\n1,0\n2,1\n")
    (root / "specs" / "local.yaml").write_text(ON_THIS_MACHINE.format(path=data))
    answer = fetch(f"{base}/spec?path=specs/local.yaml")
    assert answer.status == 200 and "Plan of probe" in answer.text


def _multipart_body(boundary: str, parts: list[bytes]) -> bytes:
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def _nested(depth: int) -> bytes:
    """A multipart body nested ``depth`` deep (the email parser recursed on it)."""
    return b"".join(
        f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n".encode()
        for i in range(depth)
    ) + b"".join(f"--b{i}--\r\n".encode() for i in reversed(range(depth)))


def test_a_nested_or_many_part_upload_is_a_400_not_a_500(base: str) -> None:
    # 2,000 deep: the email parser recursed on it and answered 500 after 1.6 s
    answer = fetch(
        f"{base}/spec",
        data=_nested(2000),
        headers={"Content-Type": "multipart/form-data; boundary=b0"},
    )
    assert answer.status == 403 and "no valid token" in answer.text  # read, found no token
    # 1 MiB of one-line parts took the UI's one worker 5.7 s before the token was looked at
    parts = [
        f'--B\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n'.encode()
        for i in range(15_000)
    ]
    answer = fetch(
        f"{base}/spec",
        data=_multipart_body("B", parts),
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert answer.status == 400 and "more than 8 parts" in answer.text
    unbounded = fetch(f"{base}/spec", data=b"x", headers={"Content-Type": "multipart/form-data"})
    assert unbounded.status == 400 and "no boundary" in unbounded.text


def test_a_cross_site_upload_is_refused_before_its_body_is_parsed(base: str) -> None:
    answer = fetch(
        f"{base}/spec",
        data=_nested(2000),  # parsed, this body was a 500
        headers={
            "Content-Type": "multipart/form-data; boundary=b0",
            "Sec-Fetch-Site": "cross-site",
        },
    )
    assert answer.status == 403 and "another site" in answer.text
