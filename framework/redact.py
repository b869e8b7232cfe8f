"""Keeping secrets out of what specops prints and stores.

Two kinds of secret, two mechanisms:

- **Values from the environment.** When a spec's ``${env:NAME}`` is filled in,
  the value is remembered (:func:`remember`). From then on every text this process
  writes to the store, the console, a tracker or an error message passes through
  :func:`redact`, which puts ``${env:NAME}`` back where the value stood: the reader
  learns *where* a value came from, never *what* it is. The forms a value takes on
  the way out are covered too: URL-quoted, JSON- and Python-escaped, a path
  normalised by ``pathlib``, a number as specops formats it.
- **Credentials written literally** (``postgresql://app:pw@host``,
  ``?password=pw``): :func:`hide_credentials` masks them as ``***``.

Short values are the catch: ``MIN_ROWS=5`` cannot be hidden without turning every
``5`` in every message into a placeholder. The rule (see :meth:`Secrets.remember`):
a value is remembered when it is at least :data:`MIN_LENGTH` characters long or
its key looks secret (``password``, ``token``, ``url``, ...). Values of
:data:`ANYWHERE_LENGTH` characters or more are replaced wherever they occur;
shorter ones only where they stand alone (not glued to a letter or a digit), so
``5000`` hides in ``>= 5000`` but not inside ``50000``.

The registry is per command: ``specops`` opens a fresh one for each command
(:func:`scope`), so one command's values never mask another's output.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

MIN_LENGTH = 4
"""Environment values shorter than this are not secrets unless their key says so."""

ANYWHERE_LENGTH = 8
"""Values at least this long are replaced even inside a longer word."""

SHORTEST_SECRET = 3
"""Shorter values are never remembered, whatever their key: two characters are guessed
in a few thousand tries, so hiding them protects nothing, while every ``x`` in
``569 rows x 31 columns`` would become a placeholder."""

MASK = "***"

SECRET_KEY = re.compile(
    r"pass|pwd|secret|token|credential|auth|api_?key|private|signature|dsn|url|uri|conn",
    re.IGNORECASE,
)
"""A key whose value may be or hold a secret: hidden however short (see the rule above)."""

_SECRET_NAME = r"pass|pwd|secret|token|credential|auth|api_?key|private|signature"
CREDENTIAL_KEY = re.compile(_SECRET_NAME, re.IGNORECASE)
"""A key (or URL query parameter) whose whole value is a credential; a ``url`` is not,
only the password inside it."""

IDENTIFIER_KEYS = frozenset({"name", "alias"})
"""Keys whose values name things the registry is looked up by (the spec's model name,
a deploy target's alias): stored as they are, or ``specops models show NAME`` and
``NAME@alias`` would find nothing. A name is never a secret."""

PLACEHOLDER = re.compile(r"\$\{env:[^}]*\}")

_SCHEME = re.compile(r"(?<![a-z0-9+.-])[0-9+.-]*(?P<scheme>[a-z][a-z0-9+.-]*://)", re.IGNORECASE)
"""Where a ``scheme://`` begins: at the first letter of a run of scheme characters, never
further inside it (the leftmost start ``re`` finds; trying every later one was the
quadratic part)."""
_HEAD_END = re.compile(r"[:@/\s'\"]")
_SECRET_END = re.compile(r"[\s?#'\"]")

_SECRET_PARAM = re.compile(
    # the lookahead (a key run, then "="; no secret name can be found otherwise) keeps a
    # long run of key characters from being searched for a name at every position
    r"(?P<head>(?:^|[?&;\s,])(?=[A-Za-z0-9_.-]*=)[A-Za-z0-9_.-]*"
    rf"(?:{_SECRET_NAME})"
    r"[A-Za-z0-9_.-]*=)(?P<secret>[^&;\s#'\"]*?)(?=[&;\s#'\"]|:\s|:?$)",
    re.IGNORECASE,
)
"""``?password=pw``, ``&token=...``, libpq's ``password=pw``: a secret-named parameter."""


def hide_credentials(value: Any) -> Any:
    """``postgresql://user:pw@host`` -> ``postgresql://user:***@host``, anywhere inside;
    ``?password=pw`` -> ``?password=***``. A ``${env:...}`` placeholder stays: it says
    where the value comes from and is no secret itself."""
    if isinstance(value, str):
        if "@" not in value and "=" not in value:
            return value
        value = _hide_userinfo(value)
        return _SECRET_PARAM.sub(lambda m: _masked(m, "{}"), value)
    if isinstance(value, dict):
        return {k: hide_credentials(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [hide_credentials(v) for v in value]
    return value


def _masked(match: re.Match[str], shape: str) -> str:
    secret = match.group("secret")
    if not secret or secret == MASK or PLACEHOLDER.fullmatch(secret):
        return match.group(0)
    return match.group("head") + shape.format(MASK)


def _userinfo(text: str) -> Iterator[tuple[int, int, str, str]]:
    r"""``(start, end, head, secret)`` of each ``scheme://user:password@`` in ``text``
    (the password may hold ``/`` or ``@`` written unquoted: it runs to the last ``@``
    before the query, a quote or a space), as ``finditer`` would find them with
    ``(?P<head>[a-z][a-z0-9+.-]*://[^:@/\s'"]*):(?P<secret>[^\s?#'"]*)@`` (ignoring
    case), but in time linear in ``text``: that pattern, run by ``re``, tried every start
    inside a long word (a 40,000-letter spec value ending in ``@`` took 19 s).

    The head ends at its first ``:@/``, space or quote (it must be a ``:``); the secret
    runs to the last ``@`` before the next space, ``?``, ``#`` or quote. That end, and the
    last ``@`` before it, are found once for every start sharing them."""
    position = 0
    stop = -1  # the secret's end found last, and the last "@" before it
    last_at = -1
    for scheme in _SCHEME.finditer(text):
        start = scheme.start("scheme")
        if start < position:  # inside the previous match
            continue
        found = _HEAD_END.search(text, scheme.end())
        if found is None or found.group() != ":":
            continue
        colon = found.start()
        if colon + 1 > stop:  # a new stretch: its end, and its last "@"
            ended = _SECRET_END.search(text, colon + 1)
            stop = ended.start() if ended else len(text)
            last_at = text.rfind("@", colon + 1, stop)
        if last_at <= colon:
            continue
        position = last_at + 1
        yield start, position, text[start:colon], text[colon + 1 : last_at]


def _hide_userinfo(text: str) -> str:
    """``text`` with each URL password :func:`_userinfo` finds masked (as ``_masked``)."""
    pieces = []
    done = 0
    for start, end, head, secret in _userinfo(text):
        if not secret or secret == MASK or PLACEHOLDER.fullmatch(secret):
            continue
        pieces += [text[done:start], head, f":{MASK}@"]
        done = end
    return "".join(pieces) + text[done:] if pieces else text


class Secrets:
    """The values this command took from the environment, and what replaces each."""

    def __init__(self) -> None:
        self._replacements: dict[str, str] = {}  # a form of a value -> its placeholder
        self._order: list[str] | None = None  # forms, longest first
        self._credentials: dict[str, str] = {}  # a password or token -> what hashes see
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._replacements)

    def remember(self, name: str, value: str, key: str = "") -> None:
        """Record that ``value`` came from ``${env:name}`` (at spec key ``key``).

        Remembered when ``len(value) >= MIN_LENGTH`` or the key looks secret; a
        credential inside it (a URL's password, a ``token=`` parameter) is
        remembered on its own as well, since a message may quote a masked URL.
        Identifiers (:data:`IDENTIFIER_KEYS`) are not remembered.
        """
        if key in IDENTIFIER_KEYS:
            return
        secret_key = bool(SECRET_KEY.search(key))
        forms: dict[str, str] = {}
        if len(value) >= MIN_LENGTH or (secret_key and len(value) >= SHORTEST_SECRET):
            placeholder = f"${{env:{name}}}"
            for form in _forms(value):
                if len(form) >= MIN_LENGTH or (secret_key and len(form) >= SHORTEST_SECRET):
                    forms.setdefault(form, placeholder)
            for part in _url_parts(value):  # "database not found: /srv/x.db" quotes a part
                for form in _forms(part):
                    if len(form) >= ANYWHERE_LENGTH:
                        forms.setdefault(form, placeholder)
        whole = value and CREDENTIAL_KEY.search(key)
        credentials = {value: f"${{env:{name}}}"} if whole else {}
        for part in _credentials_in(value):
            credentials.setdefault(part, MASK)
            for form in _forms(part):
                if len(form) >= SHORTEST_SECRET:
                    forms.setdefault(form, MASK)
        with self._lock:
            added = {f: r for f, r in forms.items() if f not in self._replacements}
            if added:
                self._replacements.update(added)
                self._order = None
            for secret, replacement in credentials.items():
                self._credentials.setdefault(secret, replacement)

    def without_credentials(self, value: Any) -> Any:
        """``value`` with credentials (values of secret-looking keys, passwords inside
        URLs) replaced, and every other environment value left in: what a stored hash
        may be computed from without becoming a way to test guesses at a password."""
        if isinstance(value, str):
            for secret in sorted(self._credentials, key=len, reverse=True):
                value = value.replace(secret, self._credentials[secret])
            return value
        if isinstance(value, dict):
            return {k: self.without_credentials(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.without_credentials(v) for v in value]
        return value

    def redact(self, text: str) -> str:
        """``text`` with every remembered value replaced by its placeholder.

        Plain substring search (``str.find``), longest form first, a match never
        overlapping an earlier one: a regex with the word-boundary lookarounds short
        values need was ~100x slower on a megabyte of JSON.
        """
        if not self._replacements or not text:
            return text
        present = [form for form in self._ordered() if form in text]
        if not present:
            return text
        starts: list[int] = []  # sorted starts of the spans taken so far
        spans: dict[int, tuple[int, str]] = {}  # start -> (end, replacement)
        for form in present:
            short = len(form) < ANYWHERE_LENGTH
            at = text.find(form)
            while at != -1:
                end = at + len(form)
                if (short and _glued(text, at, end)) or _overlaps(starts, spans, at, end):
                    at = text.find(form, at + 1)
                    continue
                bisect.insort(starts, at)
                spans[at] = (end, self._replacements[form])
                at = text.find(form, end)
        pieces, done = [], 0
        for at in starts:
            end, replacement = spans[at]
            pieces += [text[done:at], replacement]
            done = end
        pieces.append(text[done:])
        return "".join(pieces)

    def _ordered(self) -> list[str]:
        with self._lock:
            if self._order is None:
                self._order = sorted(self._replacements, key=len, reverse=True)
            return self._order


def _glued(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] touches a letter or digit on either side."""
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    return before.isalnum() or after.isalnum()


def _overlaps(starts: list[int], spans: dict[int, tuple[int, str]], start: int, end: int) -> bool:
    index = bisect.bisect_right(starts, start)
    if index and spans[starts[index - 1]][0] > start:
        return True
    return index < len(starts) and starts[index] < end


def _forms(value: str) -> list[str]:
    """The ways ``value`` may be written out: as is, quoted, escaped, normalised."""
    forms = [value, quote(value, safe=""), quote(value, safe="/:@"), quote_plus(value)]
    forms.append(json.dumps(value)[1:-1])
    forms.append(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.append(repr(value)[1:-1])
    if "%" in value:
        forms.append(unquote(value))
    if os.sep in value or "/" in value:
        forms.append(os.path.normpath(value))
    forms += _number_forms(value)
    return [f for f in dict.fromkeys(forms) if f]


def _number_forms(value: str) -> list[str]:
    """A number read from text is printed again its own way: ``5000.0`` as ``5000``."""
    try:
        number = float(value)
    except ValueError:
        return []
    if number != number or number in (float("inf"), float("-inf")):
        return []
    forms = [str(number), f"{number:.10g}"]  # as Python and the checks print it
    if number.is_integer():
        forms.append(str(int(number)))
    return forms


def _url_parts(value: str) -> list[str]:
    """A URL's host and path, which a driver's message quotes on their own ("could not
    connect to db.internal", "SQLite database not found: /srv/sales.db")."""
    if "://" not in value:
        return []
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        return []
    path = parts.path
    return [host, path, "/" + path.lstrip("/")] if path.strip("/") else [host]


def _credentials_in(value: str) -> list[str]:
    """Passwords and secret parameters inside a URL or DSN, raw and decoded."""
    found = [secret for _, _, _, secret in _userinfo(value)]
    found += [m.group("secret") for m in _SECRET_PARAM.finditer(value)]
    try:
        parts = urlsplit(value)
        if parts.password:
            found.append(parts.password)
        found += [v for k, v in parse_qsl(parts.query) if CREDENTIAL_KEY.search(k)]
    except ValueError:
        pass
    return [s for s in dict.fromkeys(found) if s and s != MASK and not PLACEHOLDER.search(s)]


_active = Secrets()


def remember(name: str, value: str, key: str = "") -> None:
    """Record an environment value in this command's registry (see :class:`Secrets`)."""
    _active.remember(name, value, key)


def redact(value: Any) -> Any:
    """``value`` (text, or dicts and lists of it) with environment values replaced by
    their placeholders. Nothing else changes; values that are not text pass through."""
    if not _active:
        return value
    return _redacted(value, _active)


def _redacted(value: Any, secrets: Secrets) -> Any:
    if isinstance(value, str):
        return secrets.redact(value)
    if isinstance(value, dict):
        return {_redacted(k, secrets): _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(_redacted(v, secrets) for v in value)
    return value


def hashable(value: Any) -> Any:
    """What a hash stored with a run (spec hash, config hash) is computed from: the
    effective spec with this command's credentials replaced by their placeholders
    (see :meth:`Secrets.without_credentials`) and literal URL passwords masked. Other
    environment values stay in, so ``reproduce`` still tells whether they changed."""
    return hide_credentials(_active.without_credentials(value) if _active else value)


def scrub(value: Any) -> Any:
    """What may leave the process as a message: environment values replaced and
    credentials masked (:func:`redact`, then :func:`hide_credentials`)."""
    return hide_credentials(redact(value))


def scrub_text(text: str) -> str:
    """:func:`scrub` for one string (typed, for callers that need a ``str`` back)."""
    result = scrub(text)
    return result if isinstance(result, str) else str(result)


def scrub_fields(record: Any, *names: str) -> Any:
    """A copy of the dataclass ``record`` with the fields ``names`` scrubbed."""
    from dataclasses import replace

    return replace(record, **{name: scrub(getattr(record, name)) for name in names})


EXCEPTION_TEXTS = ("message", "hint", "filename", "filename2", "strerror", "detail", "msg")
"""Attributes an exception's message is built from (``OSError`` quotes ``filename``)."""


def scrub_exception(error: BaseException) -> BaseException:
    """Scrub an exception's message in place, so that whoever prints it later (a
    tracker's ``specops_step_error``, the CLI, a ``--debug`` traceback) shows no
    environment value. Attributes that refuse to be set are left as they are."""
    with suppress(AttributeError, TypeError):
        error.args = tuple(scrub(a) for a in error.args)
    for name in EXCEPTION_TEXTS:
        value = getattr(error, name, None)
        if isinstance(value, str) and (cleaned := scrub_text(value)) != value:
            with suppress(AttributeError, TypeError):
                setattr(error, name, cleaned)
    return error


@contextmanager
def scope() -> Iterator[Secrets]:
    """A fresh registry for one command; the previous one is back afterwards."""
    global _active
    previous, _active = _active, Secrets()
    try:
        yield _active
    finally:
        _active = previous


class RedactingStream:
    """A text stream that redacts what is written to it: the console's last line of
    defence, for output no caller redacted (a plugin's print, a ``--debug`` traceback).
    Everything but ``write`` is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if _active and isinstance(text, str):
            text = _active.redact(text)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def redacted_streams() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` redacted for the length of the block."""
    import sys

    saved = sys.stdout, sys.stderr
    sys.stdout = RedactingStream(saved[0])  # type: ignore[assignment]
    sys.stderr = RedactingStream(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


# -- the store's side: no row is written with a remembered value in it ------------


def _redacted_number(value: Any, secrets: Secrets) -> Any:
    """A number whose printed form is a remembered value of :data:`ANYWHERE_LENGTH`
    characters or more (``0.30000017``, a drift threshold from the environment) as
    its placeholder; any other value unchanged. Shorter numbers stay numbers: a metric
    of 0.95 must not vanish because ``${env:MIN_AUC}`` is 0.95."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    for form in (repr(value), f"{value:.10g}"):
        if len(form) >= ANYWHERE_LENGTH and (redacted := secrets.redact(form)) != form:
            return redacted
    return value


def _redacted_stored(value: Any, secrets: Secrets) -> Any:
    """:func:`_redacted`, numbers included (see :func:`_redacted_number`)."""
    if isinstance(value, dict):
        return {_redacted(k, secrets): _redacted_stored(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted_stored(v, secrets) for v in value]
    return _redacted(_redacted_number(value, secrets), secrets)


def redact_stored(value: Any) -> Any:
    """What a store may keep of ``value`` (text, numbers, dicts and lists of them):
    :func:`redact`, and a long number from the environment as its placeholder. For
    records written outside SQLite (a monitor's JSON report blob)."""
    return _redacted_stored(value, _active) if _active else value


def _redacted_parameter(value: Any) -> Any:
    if not isinstance(value, str):
        return _redacted_number(value, _active)
    redacted = _active.redact(value)
    if redacted == value or value[:1] not in "{[":
        return redacted  # no remembered form in it at all, or not JSON
    try:  # JSON text: redact its numbers too; the replacement must not cut an escape
        return json.dumps(_redacted_stored(json.loads(value), _active))
    except ValueError:
        return redacted


def redact_parameters(parameters: Any) -> Any:
    """SQL parameters (a sequence or a mapping) with remembered values replaced."""
    if not _active:
        return parameters
    if isinstance(parameters, dict):
        return {k: _redacted_parameter(v) for k, v in parameters.items()}
    return tuple(_redacted_parameter(v) for v in parameters)


class RedactingCursor(sqlite3.Cursor):
    """A cursor that redacts every text parameter before SQLite sees it."""

    def execute(self, sql: str, parameters: Any = (), /) -> RedactingCursor:
        return super().execute(sql, redact_parameters(parameters))

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> RedactingCursor:
        return super().executemany(sql, (redact_parameters(p) for p in seq_of_parameters))


class RedactingConnection(sqlite3.Connection):
    """``sqlite3.connect(..., factory=RedactingConnection)``: every statement on this
    connection, through ``execute``, ``executemany`` or a cursor, stores
    ``${env:NAME}``, never the value, whichever method of the store wrote it."""

    def cursor(self, factory: Any = RedactingCursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any:  # type: ignore[override]
        return self.cursor().executemany(sql, seq_of_parameters)
