"""A spec's plan as a graph: point at a spec under the UI's directory (``?path=``) or
upload one (POST), and see every step with its plugin and effective params, what
``specops plan`` prints; a spec with problems shows them as ``specops validate``
does (status 400), a path outside the UI's directory is refused (403).

Reading and planning are :mod:`framework.ui.pages._spec_data`'s; nothing here
touches the store, so the upload form changes nothing; it still carries the UI's
CSRF token like every POST form of the UI (a cross-site form must not make the UI
read and plan files).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framework.errors import UserError
from framework.ui import html as h
from framework.ui import svg
from framework.ui.html import Html
from framework.ui.pages._spec_data import (
    MAX_UPLOAD_BYTES,
    PlanView,
    Refused,
    SpecProblems,
    plan_path,
    plan_upload,
)

NODE_KINDS = {
    "ingest": "data",
    "train": "run",
    "evaluate": "run",
    "gate": "alias",
    "register": "version",
    "deploy": "deployment",
}


def _root(request: Any) -> Path:
    """The directory the UI was started in: specs are read only under it."""
    return Path(request.settings.root)


def spec_page(request: Any) -> h.Response:
    given = request.arg("path")
    profile = request.arg("profile")
    if not given:
        return _page(request, "Spec plan", _forms(request, ""))
    try:
        result = plan_path(_root(request), given, profile)
    except Refused as exc:
        body = h.join([h.notice(str(exc), "bad"), _forms(request, given)])
        return _page(request, "Spec refused", body, status=403)
    return _result(request, result, given)


def upload_page(request: Any) -> h.Response:
    foreign = _foreign(request)  # before the body is parsed: a cross-site post costs nothing
    if foreign is not None:
        body = h.join([h.notice(foreign, "bad"), _forms(request, "")])
        return _page(request, "Upload refused", body, status=403)
    try:
        fields, files = _posted(request)
    except UserError as exc:
        body = h.join([h.notice(str(exc), "bad"), _forms(request, "")])
        return _page(request, "Bad upload", body, status=400)
    refusal = _csrf_problem(request, fields)
    if refusal is not None:
        body = h.join([h.notice(refusal, "bad"), _forms(request, "")])
        return _page(request, "Upload refused", body, status=403)
    text, name = files.get("spec", (b"", ""))
    if not text.strip():
        text, name = (fields.get("text") or "").encode(), "pasted.yaml"
    if not text.strip():
        body = h.join([h.notice("choose a spec file or paste one", "bad"), _forms(request, "")])
        return _page(request, "No spec", body, status=400)
    try:
        result = plan_upload(text, name, fields.get("profile") or None, root=_root(request))
    except UserError as exc:
        body = h.join([h.notice(str(exc), "bad"), _forms(request, "")])
        return _page(request, "Spec refused", body, status=413)
    return _result(request, result, "")


def _page(request: Any, title: str, body: Any, *, status: int = 200) -> h.Response:
    return h.page(title, body, nav="spec", status_code=status, store=request.store_label)


# forms -------------------------------------------------------------------------


def _forms(request: Any, given: str) -> Html:
    path_form = Html(
        '<form method="get" action="/spec"><label>spec path (under '
        f"{h.esc(_root(request))}) "
        f'<input type="text" name="path" size="50" value="{h.esc(given)}" '
        'placeholder="specs/churn.yaml"></label> '
        '<label>profile <input type="text" name="profile" size="12"></label> '
        '<button type="submit">Show plan</button></form>'
    )
    upload_form = Html(
        '<form method="post" action="/spec" enctype="multipart/form-data">'
        f"{_csrf_field(request)}"
        '<p><label>upload a spec <input type="file" name="spec" accept=".yaml,.yml"></label></p>'
        '<p><label>or paste it<br><textarea name="text" rows="10" cols="90"></textarea>'
        "</label></p>"
        '<p><label>profile <input type="text" name="profile" size="12"></label> '
        '<button type="submit">Show plan</button></p></form>'
    )
    note = Html(
        f'<p class="muted">at most {MAX_UPLOAD_BYTES // 1024} KiB; an uploaded spec is checked '
        "without this server's environment, and its relative paths are not this machine's "
        "files: point at its path to see it as <code>specops plan</code> would</p>"
    )
    return h.join([h.section("A spec on this machine", path_form),
                   h.section("Or upload one", h.join([upload_form, note]))])  # fmt: skip


def _csrf_field(request: Any) -> Html:
    from framework.ui.writes import csrf_field

    return csrf_field(request)


def _foreign(request: Any) -> str | None:
    from framework.ui.writes import foreign_origin

    return foreign_origin(request)


def _csrf_problem(request: Any, fields: dict[str, str]) -> str | None:
    """Why the POST is not our own form (another site, no token), or None. The upload
    writes nothing, but a cross-site form must not make the UI read and plan files."""
    from framework.ui.writes import check_csrf

    return check_csrf(request, {k: [v] for k, v in fields.items()})


def _posted(request: Any) -> tuple[dict[str, str], dict[str, tuple[bytes, str]]]:
    """The form's text fields and its files (name -> (bytes, file name)), from a
    multipart or a urlencoded body (the app bounds its size)."""
    kind = request.headers.get("content-type", "")
    if kind.lower().startswith("multipart/form-data"):
        return _multipart(kind, request.body)
    return {k: v[0] for k, v in request.form().items() if v}, {}


MAX_PARTS = 8
"""Parts a posted form may have: ours has four (csrf, spec, text, profile)."""


def _multipart(kind: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[bytes, str]]]:
    """The top-level parts of a ``multipart/form-data`` body, at most ``MAX_PARTS``
    (more is a :class:`UserError`). A part's content is never parsed further: a
    nested multipart is just bytes, so no body can make the parse recurse or cost
    more than a few passes over its (bounded) bytes."""
    boundary = _header_param(f"content-type: {kind}", "boundary")
    if not boundary or len(boundary) > 70:
        raise UserError("the upload is not a multipart form (no boundary)")
    # the preamble, the parts, then what follows the closing delimiter
    pieces = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"), MAX_PARTS + 2)
    if len(pieces) > MAX_PARTS + 2:
        raise UserError(f"the upload has more than {MAX_PARTS} parts: it is not this page's form")
    fields: dict[str, str] = {}
    files: dict[str, tuple[bytes, str]] = {}
    for piece in pieces[1:]:  # pieces[0] is the preamble
        if piece.startswith(b"--"):
            break  # the closing delimiter
        head, _, payload = piece.partition(b"\r\n\r\n")
        disposition = next(
            (line for line in head.decode("latin-1").split("\r\n")
             if line.lower().startswith("content-disposition:")),
            "",
        )  # fmt: skip
        name = _header_param(disposition, "name")
        if not name:
            continue
        filename = _header_param(disposition, "filename")
        if filename is not None:
            files.setdefault(name, (payload, filename))
        else:
            fields.setdefault(name, payload.decode("utf-8", errors="replace"))
    return fields, files


def _header_param(header: str, key: str) -> str | None:
    """``key="value"`` of one MIME header line (``content-type: ...; boundary=x``)."""
    from email.message import Message

    message = Message()  # the compat32 policy: plain parameter splitting, no header tree
    name, _, value = header.partition(":")
    message[name.strip()] = value.strip()
    found = message.get_param(key, header=name.strip())
    if isinstance(found, tuple):  # RFC 2231 (charset, language, value)
        found = found[2]
    return None if found is None else str(found)


# the result --------------------------------------------------------------------


def _result(request: Any, result: PlanView | SpecProblems, given: str) -> h.Response:
    if isinstance(result, SpecProblems):
        lines = "\n\n".join(result.lines)
        hidden = result.count - len(result.lines)
        parts = [
            h.notice(
                f"{result.count} problem{'s' if result.count != 1 else ''} in {result.source}: "
                "no plan until they are fixed",
                "bad",
            ),
            h.tag("pre", h.tag("code", lines), class_="problems"),
        ]
        if hidden > 0:
            more = f"<p>... and {hidden} more (<code>specops validate --json</code>)</p>"
            parts.append(Html(more))
        if result.note:
            parts.append(h.notice(result.note, "info"))
        parts.append(_forms(request, given))
        return _page(request, "Spec has problems", h.join(parts), status=400)
    return _page(request, f"Plan of {result.name}", h.join([_plan(result), _forms(request, given)]))


def _plan(view: PlanView) -> Html:
    execution = view.execution
    facts = h.facts(
        [
            ("spec", h.tag("code", view.source)),
            ("name", view.name),
            ("task", view.task),
            ("profile", view.profile or "-"),
            ("execution", f"{execution.get('type')} ({execution.get('plugin')} "
                          f"{execution.get('version')})"),
            ("store", h.tag("code", view.store)),
        ]
    )  # fmt: skip
    return h.join(
        [
            facts,
            h.section("Steps", plan_graph(view)),
            h.section("Steps and their effective params", _steps_table(view)),
        ]
    )


def plan_graph(view: PlanView) -> Html:
    """The run's steps left to right: checks side by side between ingest and split,
    transforms in a chain, evaluate, gate and register after train, deploy targets
    side by side after register (what ``specops run`` does, in that order)."""
    nodes: list[svg.Node] = []
    edges: list[tuple[str, str]] = []
    previous: list[str] = []

    def add(stage: list[tuple[str, str, str]], *, parallel: bool) -> None:
        nonlocal previous
        ids = []
        for node_id, label, detail in stage:
            step = node_id.split("-", 1)[0]
            nodes.append(svg.Node(node_id, label, NODE_KINDS.get(step, "step"), detail))
            sources = previous if parallel or not ids else [ids[-1]]
            edges.extend((source, node_id) for source in sources)
            ids.append(node_id)
        if ids:
            previous = ids if parallel else [ids[-1]]

    def entries(step: str) -> list[tuple[str, str, str]]:
        return [
            (f"{step}-{index}", f"{step}: {s['type']}", f"{s['plugin']} {s['version']}")
            for index, s in enumerate(view.steps)
            if s["step"] == step
        ]

    add(entries("ingest"), parallel=True)
    add(entries("check"), parallel=True)
    add(entries("split"), parallel=True)
    add(entries("transform"), parallel=False)
    add(entries("train"), parallel=True)
    add([("evaluate-0", "evaluate", f"{len(view.metrics)} metrics")], parallel=True)
    add([("gate-0", "gate", f"{len(view.gate)} threshold(s)")], parallel=True)
    add([("register-0", "register", "registry")], parallel=True)
    add(entries("deploy"), parallel=True)
    return svg.graph(nodes, edges, title=f"plan of {view.name}")


def _steps_table(view: PlanView) -> Html:
    rows = []
    deploy_at = next((i for i, s in enumerate(view.steps) if s["step"] == "deploy"), None)
    for index, step in enumerate(view.steps):
        if index == deploy_at:
            rows += _core_rows(view)
        rows.append(
            [
                step["step"],
                step["type"],
                f"{step['plugin']} {step['version']}",
                _params(step.get("params") or {}, step.get("defaults") or ()),
                step.get("note") or "",
            ]
        )
    if deploy_at is None:
        rows += _core_rows(view)
    return h.table(["step", "component", "plugin", "effective params", "note"], rows)


def _core_rows(view: PlanView) -> list[list[Any]]:
    return [
        ["evaluate", "metrics", "specops", ", ".join(view.metrics), ""],
        ["gate", "thresholds", "specops", "; ".join(view.gate) or "no thresholds", ""],
        ["register", "registry", "specops", f"store={view.store}", ""],
    ]


def _params(params: dict[str, Any], defaults: Any) -> Html:
    """``key=value`` per line; a default filled in from the schema is marked."""
    lines = []
    for key, value in params.items():
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        mark = h.tag("span", " (default)", class_="muted") if key in defaults else ""
        lines.append(h.join([h.tag("code", f"{key}={shown}"), mark]))
    return h.join(lines, Html("<br>")) if lines else h.esc("")


ROUTES = [("GET", "/spec", spec_page), ("POST", "/spec", upload_page)]
