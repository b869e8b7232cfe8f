"""HTML for the UI: one escaping helper, the page layout, links, tables and the headers.

Every value that came from the store (model names, params, errors, file names) goes
through :func:`esc`; markup built here is an :class:`Html` string, which ``esc``
passes through unchanged, so a helper can take either plain values or markup and
nothing is escaped twice or forgotten. Pages are strings, not templates: a page is
a few dozen lines of Python, and there is no template language to escape wrongly.

The CSS is inline (no file to fetch, works offline) and allowed by its hash in the
Content-Security-Policy, so no other style or any script can run unless a page
hands its own inline script to :func:`page`, which allows exactly that script.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode


class Html(str):
    """Markup that is already safe: ``esc`` returns it as is.

    ``Html + x`` escapes ``x`` and stays markup; an f-string or ``"".join`` gives a
    plain ``str`` again: wrap the result in ``Html(...)`` (having escaped every value
    in it) or build it with :func:`join` / :func:`tag`.
    """

    __slots__ = ()

    def __add__(self, other: Any) -> Html:
        return Html(str.__add__(self, esc(other)))

    def __radd__(self, other: Any) -> Html:
        return Html(str.__add__(esc(other), self))


def esc(value: Any) -> Html:
    """``value`` as text safe anywhere in HTML (body or a quoted attribute); None is ''."""
    if isinstance(value, Html):
        return value
    if value is None:
        return Html("")
    return Html(html.escape(str(value), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    """Escape each part and join them (markup parts stay markup)."""
    return Html(esc(sep).join(esc(p) for p in parts))


def tag(name: str, content: Any = "", **attrs: Any) -> Html:
    """``<name attrs>content</name>``; attribute values escaped, ``class_`` -> ``class``,
    None and False attributes left out, True written bare."""
    written = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        written.append(f" {key}" if value is True else f' {key}="{esc(value)}"')
    return Html(f"<{name}{''.join(written)}>{esc(content)}</{name}>")


# values ---------------------------------------------------------------------


def number(value: Any, digits: int = 4) -> Html:
    """A metric or statistic: up to ``digits`` significant decimals; '' for None/NaN."""
    if value is None or isinstance(value, bool):
        return esc(value)
    if isinstance(value, int):
        return esc(value)
    if isinstance(value, float):
        if math.isnan(value):
            return esc("NaN")
        if math.isinf(value):
            return esc("∞" if value > 0 else "-∞")
        if abs(value) >= 1e4 or 0 < abs(value) < 10**-digits:
            return esc(f"{value:.{digits}g}")  # 2.9e+06, 1.2e-12: not 0.0000
        return esc(f"{value:.{digits}f}")
    return esc(value)


def when(iso: str | None) -> Html:
    """A stored ISO timestamp, shortened to the second, with the full value on hover."""
    if not iso:
        return esc("")
    short = iso.replace("T", " ")[:19]
    return tag("time", short, datetime=iso, title=iso, class_="nowrap")


def short_hash(digest: str | None, length: int = 12) -> Html:
    """A sha256 shortened for tables, whole on hover."""
    if not digest:
        return esc("")
    return tag("code", digest[:length], title=digest)


def status(value: str | None) -> Html:
    """A run or version status as a coloured badge (the class names its colour)."""
    text = value or "unknown"
    kind = {
        "ok": "good",
        "passed": "good",
        "registered": "good",
        "no_drift": "good",
        "rejected": "bad",
        "failed": "bad",
        "error": "bad",
        "drift": "bad",
        "damaged": "bad",
        "interrupted": "warn",
        "running": "info",
        "failed_checks": "bad",
        "degraded": "warn",
    }.get(text, "plain")
    return tag("span", text, class_=f"badge {kind}")


# links ----------------------------------------------------------------------
# Every page's URL is built here, so pages agree on where the others are.


def url(path: str, **query: Any) -> str:
    """``path`` with a query string; None values are left out, lists repeat the key."""
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        if value is None or value == "":
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs += [(key, str(v)) for v in values]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def segment(value: Any) -> str:
    """One path segment: everything but unreserved characters percent-encoded."""
    return quote(str(value), safe="")


def models_url() -> str:
    return "/models"


def model_url(name: str) -> str:
    return f"/models/{segment(name)}"


def version_url(name: str, version: int) -> str:
    return f"/models/{segment(name)}/versions/{int(version)}"


def runs_url(**query: Any) -> str:
    """The runs table; query: model, status, trigger, sort, order, page."""
    return url("/runs", **query)


def run_url(run_id: str) -> str:
    return f"/runs/{segment(run_id)}"


def compare_url(run_ids: Sequence[str]) -> str:
    return url("/compare", run=list(run_ids))


def monitoring_url(model: str | None = None) -> str:
    return "/monitoring" if model is None else f"/monitoring/{segment(model)}"


def monitor_run_url(monitor_id: str) -> str:
    return f"/monitoring/runs/{segment(monitor_id)}"


def spec_url(**query: Any) -> str:
    return url("/spec", **query)


def link(href: str, text: Any, **attrs: Any) -> Html:
    """``<a href>``: ``href`` built by the ``*_url`` helpers (escaped here again)."""
    return tag("a", text, href=href, **attrs)


def model_link(name: str) -> Html:
    return link(model_url(name), name)


def version_link(name: str, version: int, text: Any = None) -> Html:
    return link(version_url(name, version), text if text is not None else f"{name}/{version}")


def run_link(run_id: str | None, text: Any = None) -> Html:
    if not run_id:
        return esc("")
    return link(run_url(run_id), tag("code", text if text is not None else run_id), class_="nowrap")


# building blocks ------------------------------------------------------------


def table(
    headers: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    classes: str = "",
    row_classes: Sequence[str] | None = None,
    empty: str = "nothing here yet",
) -> Html:
    """A table; each cell escaped unless it is markup. ``row_classes`` marks rows
    (e.g. ``changed``); a numeric cell is right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(rows):
        css = row_classes[index] if row_classes and index < len(row_classes) else ""
        cells = "".join(
            f'<td class="num">{number(c)}</td>'
            if isinstance(c, (int, float)) and not isinstance(c, bool)
            else f"<td>{esc(c)}</td>"
            for c in row
        )
        body.append(f'<tr class="{esc(css)}">{cells}</tr>' if css else f"<tr>{cells}</tr>")
    if not body:
        return tag("p", empty, class_="empty")
    return Html(
        f'<table class="{esc(classes)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def facts(pairs: Iterable[tuple[Any, Any]]) -> Html:
    """A definition list of label/value pairs (values escaped unless markup)."""
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs)
    return Html(f'<dl class="facts">{items}</dl>')


def section(title: Any, content: Any, *, id: str | None = None) -> Html:
    return Html(f"<section{_id(id)}><h2>{esc(title)}</h2>{esc(content)}</section>")


def notice(text: Any, kind: str = "info") -> Html:
    """A boxed message: ``info``, ``warn`` or ``bad`` (a damaged artifact, a refusal)."""
    return tag("div", text, class_=f"notice {kind}", role="status" if kind == "info" else "alert")


def pager(path: str, query: Mapping[str, Any], page: int, has_next: bool) -> Html:
    """Previous/next links keeping the other query arguments; pages count from 1."""
    parts = []
    if page > 1:
        parts.append(link(url(path, **{**query, "page": page - 1}), "← newer", rel="prev"))
    parts.append(tag("span", f"page {page}", class_="page"))
    if has_next:
        parts.append(link(url(path, **{**query, "page": page + 1}), "older →", rel="next"))
    return tag("nav", join(parts, " "), class_="pager")


def _id(value: str | None) -> str:
    return f' id="{esc(value)}"' if value else ""


# the page --------------------------------------------------------------------

NAV = (("models", "Models", "/models"), ("runs", "Runs", "/runs"),
       ("monitoring", "Monitoring", "/monitoring"), ("spec", "Spec", "/spec"))  # fmt: skip

CSS = """
:root{--fg:#1d2330;--muted:#5d6778;--line:#d9dee7;--bg:#f7f8fa;--accent:#2456a6;
--good:#1f7a3a;--bad:#b3261e;--warn:#8a5a00;--info:#2456a6}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
header{background:#1d2330;color:#fff;padding:0 20px;display:flex;gap:24px;align-items:center}
header .brand{font-weight:700;padding:12px 0;color:#fff;text-decoration:none}
header nav a{color:#c9d3e6;text-decoration:none;padding:12px 10px;display:inline-block}
header nav a.here{color:#fff;border-bottom:3px solid #7aa7ff}
header .store{margin-left:auto;color:#9aa6bb;font-size:12px}
main{padding:16px 24px;max-width:1400px}
h1{font-size:22px;margin:8px 0 12px}h2{font-size:17px;margin:22px 0 8px}
a{color:var(--accent)}
table{border-collapse:collapse;background:#fff;margin:6px 0;min-width:40%}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
span.meas{display:block;text-align:right;font-variant-numeric:tabular-nums}
tr.changed td{background:#fff4d6}
td.changed{background:#fff4d6}
.pass{color:var(--good)}.fail{color:var(--bad)}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#fff;border:1px solid var(--line);padding:8px;overflow:auto;max-height:480px}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;
background:#e6e9ef;color:var(--fg)}
.badge.good{background:#dff3e4;color:var(--good)}.badge.bad{background:#fbe3e1;color:var(--bad)}
.badge.warn{background:#fcefd2;color:var(--warn)}.badge.info{background:#e1eafc;color:var(--info)}
.notice{border:1px solid var(--line);border-left:5px solid var(--info);background:#fff;
padding:8px 12px;margin:10px 0}
.notice.bad{border-left-color:var(--bad)}.notice.warn{border-left-color:var(--warn)}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:6px 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.empty{color:var(--muted)}
nav.pager{margin:10px 0;display:flex;gap:14px}
.muted{color:var(--muted)}
.nowrap{white-space:nowrap}
svg{background:#fff;border:1px solid var(--line);max-width:100%;height:auto}
form.inline{display:inline}
button{font:inherit;padding:3px 10px;cursor:pointer}
""".strip()


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


CSS_HASH = _csp_hash(CSS)


def csp(scripts: Sequence[str] = ()) -> str:
    """The Content-Security-Policy of a page: only this server, the inline CSS by its
    hash, and only the inline scripts the page itself carries (by hash)."""
    script_src = " ".join(_csp_hash(s) for s in scripts) or "'none'"
    return (
        "default-src 'none'; "
        f"style-src {CSS_HASH}; "
        f"script-src {script_src}; "
        "img-src 'self' data:; "
        "form-action 'self'; "
        "base-uri 'none'; "
        "frame-ancestors 'none'"
    )


SECURITY_HEADERS = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cache-control", "no-store"),
]
"""Sent with every answer. ``no-store``: pages show a store that changes (a new run
must show on reload) and write forms carry a CSRF token that must not be cached."""


@dataclass
class Response:
    """What a handler returns: status, body, content type and extra headers."""

    status: int
    body: str | bytes
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    scripts: tuple[str, ...] = ()
    """Inline scripts the body carries: the CSP allows exactly these."""
    csp: str | None = None
    """A Content-Security-Policy of its own (e.g. a stored report shown sandboxed);
    None: the UI's policy (:func:`csp`)."""

    def encoded(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body

    def all_headers(self) -> list[tuple[str, str]]:
        return [
            ("content-type", self.content_type),
            ("content-security-policy", self.csp or csp(self.scripts)),
            *SECURITY_HEADERS,
            *self.headers,
        ]


def page(
    title: Any,
    body: Any,
    *,
    nav: str = "",
    status_code: int = 200,
    scripts: Sequence[str] = (),
    store: str = "",
    crumbs: Sequence[tuple[str, Any]] = (),
) -> Response:
    """A whole page: header with the four sections (``nav`` marks the current one),
    breadcrumbs, the title as <h1>, then ``body`` (markup or text, escaped if text).

    ``scripts``: inline JavaScript sources to put at the end of the body; the CSP
    allows exactly these by hash (keep them small, no external files).
    """
    links = "".join(
        link(href, label, class_="here" if key == nav else None) for key, label, href in NAV
    )
    trail = ""
    if crumbs:
        trail = tag(
            "p", join([link(href, text) for href, text in crumbs], " / "), class_="muted crumbs"
        )
    script_tags = "".join(f"<script>{s}</script>" for s in scripts)
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="/favicon.ico" type="image/svg+xml">'
        f"<title>{esc(title)} · specops</title><style>{CSS}</style></head><body>"
        f'<header><a class="brand" href="/">specops</a><nav>{links}</nav>'
        f'<span class="store" title="the store this UI reads">{esc(store)}</span></header>'
        f"<main>{trail}<h1>{esc(title)}</h1>{esc(body)}</main>{script_tags}</body></html>"
    )
    return Response(status_code, document, scripts=tuple(scripts))


def error_page(status_code: int, title: str, message: Any, *, store: str = "") -> Response:
    """A page saying what went wrong (404, 403, 400...), never a traceback."""
    return page(title, notice(message, "bad"), status_code=status_code, store=store)


def redirect(location: str, status_code: int = 303) -> Response:
    """See other: ``location`` must be a path on this server (starts with one '/')."""
    if not location.startswith("/") or location.startswith("//"):
        location = "/"
    location = quote(location, safe="/?&=%:@!$'()*+,;~-._#")  # a header is ASCII
    return Response(status_code, b"", "text/plain", headers=[("location", location)])
