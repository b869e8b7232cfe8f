"""Promote and rollback from the UI: only with ``--allow-writes``, only by a form of this UI.

The moves are the CLI's: ``Store.set_alias`` (``models promote``) and
``Store.rollback`` (``models rollback``), on a store opened for writing just for
the move, recorded in the alias history with the actor ``USER (ui)`` and the
reason the form gave. A POST is refused (403, a page saying why) when writes are
off, when its CSRF token was not made by this server process (an HMAC of its
per-process secret, valid for ``TOKEN_SECONDS``), or when the browser says it came
from another site (``Origin`` / ``Sec-Fetch-Site``). Forms are never cached
(every answer carries ``cache-control: no-store``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from typing import TYPE_CHECKING, Any

from framework.errors import StoreError
from framework.ui import html as h

if TYPE_CHECKING:
    from framework.ui.app import Request

TOKEN_SECONDS = 4 * 3600
MAX_REASON = 500
WRITES_OFF = h.Html(
    "this UI is read-only: start it with <code>specops ui --allow-writes</code> to promote or "
    "roll back from here, or use <code>specops models promote</code> / "
    "<code>specops models rollback</code>"
)


# CSRF ---------------------------------------------------------------------------


def csrf_token(request: Request, now: float | None = None) -> str:
    """A token for a form of this server: ``issued.signature`` (HMAC-SHA256 of the
    issue time under the server's secret)."""
    issued = str(int(now if now is not None else time.time()))
    return f"{issued}.{_sign(request.settings.secret, issued)}"


def _sign(secret: bytes, issued: str) -> str:
    return hmac.new(secret, f"specops-ui-form:{issued}".encode(), hashlib.sha256).hexdigest()


def csrf_field(request: Request) -> h.Html:
    """The hidden input every POST form of the UI carries."""
    return h.Html(f'<input type="hidden" name="csrf" value="{h.esc(csrf_token(request))}">')


def foreign_origin(request: Request) -> str | None:
    """Why the browser says this request came from another site, or None. Asked
    before a body is parsed: a cross-site post costs its sender nothing and the
    server no more than this."""
    site = request.headers.get("sec-fetch-site", "")
    if site and site not in ("same-origin", "none"):
        return f"the request came from another site (Sec-Fetch-Site: {site})"
    origin = request.headers.get("origin", "")
    host = request.headers.get("host", "")
    if origin and origin != "null" and origin.split("://", 1)[-1] != host:
        return f"the request came from another origin ({origin})"
    return None


def check_csrf(request: Request, form: dict[str, list[str]]) -> str | None:
    """Why this POST is not one of our forms, or None when it is."""
    foreign = foreign_origin(request)
    if foreign is not None:
        return foreign
    token = (form.get("csrf") or [""])[0]
    issued, _, signature = token.partition(".")
    if not issued.isdigit() or not signature:
        return "the form carried no valid token: reload the page and try again"
    if not hmac.compare_digest(signature, _sign(request.settings.secret, issued)):
        return "the form's token was not made by this server (restarted?): reload the page"
    if time.time() - int(issued) > TOKEN_SECONDS:
        return "the form is too old: reload the page and try again"
    return None


# forms shown on the model and version pages ----------------------------------------


def promote_form(request: Request, name: str, version: int, status: str) -> h.Html:
    """A form moving an alias (default champion) to ``name/version``; a note when off."""
    if status != "registered":
        return h.tag("p", f"a {status} version cannot be promoted", class_="muted")
    if not request.settings.allow_writes:
        return h.Html(
            '<p class="muted">read-only UI: promote with <code>specops models promote</code> '
            "or start <code>specops ui --allow-writes</code></p>"
        )
    action = h.version_url(name, version) + "/promote"
    return h.Html(
        f'<form class="inline" method="post" action="{h.esc(action)}">{csrf_field(request)}'
        '<label>alias <input name="alias" value="champion" size="10" '
        'pattern="[a-z][a-z0-9_\\-]*" required></label> '
        '<label>reason <input name="reason" size="30" maxlength="500"></label> '
        f'<button type="submit">Promote {h.esc(f"{name}/{version}")}</button></form>'
    )


def rollback_form(request: Request, name: str, alias: str) -> h.Html:
    """A button undoing the alias's latest move (what ``models rollback`` does)."""
    if not request.settings.allow_writes:
        return h.Html("")
    action = h.model_url(name) + "/rollback"
    return h.Html(
        f'<form class="inline" method="post" action="{h.esc(action)}">{csrf_field(request)}'
        f'<input type="hidden" name="alias" value="{h.esc(alias)}">'
        '<input name="reason" size="20" maxlength="500" placeholder="reason"> '
        f'<button type="submit">Roll back {h.esc(alias)}</button></form>'
    )


# the POST handlers -------------------------------------------------------------------


def promote(request: Request) -> h.Response:
    refused = _refusal(request)
    if refused is not None:
        return refused
    form = request.form()
    name, version = request.params["name"], _version(request.params["version"])
    alias = _alias((form.get("alias") or ["champion"])[0])
    note = (form.get("reason") or [""])[0].strip()[:MAX_REASON]
    reason = f"manual promote: {note}" if note else "manual promote"
    if version is None or alias is None:
        return _bad(request, "give a version number and an alias (lowercase letters, digits)")
    try:
        with _writable(request) as store:
            current = store.alias(name, alias)
            model = store.version(name, version)
            if model is None:
                return h.error_page(404, "Not found", f"model {name} has no version {version}")
            if current != version:
                store.set_alias(name, alias, version, actor=_actor(), reason=reason)
    except StoreError as exc:  # rejected, damaged package: the store's own refusal
        return _bad(request, str(exc))
    return h.redirect(h.version_url(name, version) + "#aliases")


def rollback(request: Request) -> h.Response:
    refused = _refusal(request)
    if refused is not None:
        return refused
    form = request.form()
    name = request.params["name"]
    alias = _alias((form.get("alias") or ["champion"])[0])
    note = (form.get("reason") or [""])[0].strip()[:MAX_REASON] or None
    if alias is None:
        return _bad(request, "give an alias (lowercase letters, digits, '-' and '_')")
    try:
        with _writable(request) as store:
            store.rollback(name, alias, actor=_actor(), note=note)
    except StoreError as exc:  # nothing to roll back to: the store's own refusal
        return _bad(request, str(exc))
    return h.redirect(h.model_url(name) + "#aliases")


def _refusal(request: Request) -> h.Response | None:
    """A 403 page when writes are off or the form is not ours."""
    if not request.settings.allow_writes:
        return h.error_page(403, "Writes are off", WRITES_OFF, store=request.store_label)
    why = check_csrf(request, request.form())
    if why is not None:
        return h.error_page(403, "Refused", why, store=request.store_label)
    return None


def _bad(request: Request, message: str) -> h.Response:
    from framework.redact import scrub_text

    return h.error_page(400, "Cannot do that", scrub_text(message), store=request.store_label)


def _writable(request: Request) -> Any:
    """The store opened for writing for one move, closed after (the page's reads
    keep their own read-only connection)."""
    from contextlib import closing

    from framework.refs import store_address
    from framework.store import Store

    address = store_address(request.settings.store, request.settings.artifacts)
    return closing(Store.open_existing(address, write=True))


def _version(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


def _alias(text: str) -> str | None:
    from framework.refs import ALIAS_PATTERN

    text = text.strip()
    return text if ALIAS_PATTERN.match(text) else None


def _actor() -> str:
    """Who moved an alias from the UI: the login name of the UI's process."""
    import getpass

    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        user = os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
    return f"{user} (ui)"


ROUTES = [
    ("POST", "/models/{name}/versions/{version}/promote", promote),
    ("POST", "/models/{name}/rollback", rollback),
]
