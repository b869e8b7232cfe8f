"""Keeping the sql source to reading: a statement check and read-only connections.

Two guards, because either alone has holes. The statement check runs at
``specops validate`` and refuses, with a reason, anything that is not one
SELECT (or ``WITH ... SELECT``): it strips comments and string literals, then
refuses a second statement and any keyword that writes or changes the session
(DROP, INSERT, ATTACH, VACUUM, PRAGMA, SELECT ... INTO, ...). It is
conservative on purpose: a column named ``update`` must be quoted.

A keyword list cannot know every function with a side effect, so the connection
is the second guard. SQLite is opened ``mode=ro`` with an authorizer that allows
only reads and a limit of zero attached databases (``mode=ro`` alone still lets
``VACUUM INTO`` and ``ATTACH`` create files). Server databases run the query in
a read-only transaction that is always rolled back; the real guarantee there is
a database role that can only read, which docs/guide.md asks for.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from framework import UserError

WRITE_KEYWORDS = frozenset(
    (
        "alter",
        "attach",
        "copy",
        "create",
        "delete",
        "detach",
        "drop",
        "grant",
        "insert",
        "into",
        "merge",
        "pragma",
        "revoke",
        "truncate",
        "update",
        "upsert",
        "vacuum",
    )
)
"""Words refused anywhere in a query. Whatever the first word, it must be SELECT or
WITH, so a statement of its own (SET, CALL, BEGIN, ...) is refused there; these are
the words that write from inside a SELECT: a data-modifying CTE, ``SELECT ... INTO``
(a new table, or MySQL's ``INTO OUTFILE``), a row lock (``FOR UPDATE``), or an
attach, pragma or schema change that should never appear in a read at all."""

SIDE_EFFECT_FUNCTIONS = frozenset(
    (
        "load_extension",
        "writefile",
        "readfile",
        "edit",
        "fts3_tokenizer",
        "nextval",
        "setval",
        "lo_import",
        "lo_export",
        "lo_unlink",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "dblink",
        "dblink_exec",
        # PostgreSQL: run a query given as text (the check never sees it), server files
        # (adminpack writes them, whatever the transaction), session state, signals, WAL
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "pg_stat_file",
        "pg_ls_logdir",
        "pg_ls_waldir",
        "pg_ls_tmpdir",
        "pg_ls_archive_statusdir",
        "pg_file_write",
        "pg_file_rename",
        "pg_file_unlink",
        "pg_file_sync",
        "pg_logdir_ls",
        "lo_create",
        "lo_creat",
        "lo_from_bytea",
        "lo_put",
        "set_config",
        "pg_notify",
        "pg_advisory_lock",
        "pg_advisory_lock_shared",
        "pg_advisory_xact_lock",
        "pg_advisory_xact_lock_shared",
        "pg_try_advisory_lock",
        "pg_try_advisory_lock_shared",
        "pg_rotate_logfile",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_promote",
        # MySQL/MariaDB: a server file, a stall, a named lock, UDFs that run commands
        "load_file",
        "sleep",
        "benchmark",
        "get_lock",
        "sys_exec",
        "sys_eval",
    )
)
"""Functions that read files, write, run text as a query, hold locks, stall or signal
the server: refused by name (a column of that name must be double-quoted)."""

ROW_LOCKS = (("for", "share"), ("for", "key", "share"), ("lock", "in", "share", "mode"))
"""Word sequences that lock the rows read (``FOR UPDATE`` is refused by its UPDATE):
a read must not make other sessions wait."""


def _lexer(
    string: str,
    *,
    line_comment: str = r"--[^\n]*",
    quoted: str = r'"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]',
    quotes: str = "'\"`[",
    dollar: bool = True,
    code_comment: str = "",
) -> re.Pattern[str]:
    """Tokens of SQL as one dialect reads them: ``string`` is the pattern of a complete
    string literal, ``line_comment`` of a comment to the end of the line, ``quoted`` of
    a quoted identifier, ``quotes`` the characters that open either; ``dollar`` reads
    PostgreSQL's ``$tag$...$tag$`` as a string; ``code_comment`` is a comment opener
    whose inside the server runs (MySQL's ``/*!``)."""
    opens = "/\\*|[" + re.escape(quotes) + "]" + (r"|\$[A-Za-z_]*\$" if dollar else "")
    dollars = r"|\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$" if dollar else ""
    code = f"(?P<code>{code_comment})|" if code_comment else ""
    return re.compile(
        rf"""
        {code}(?P<comment>{line_comment}|/\*.*?\*/)
        |(?P<string>{string}{dollars})
        |(?P<quoted>{quoted})
        |(?P<open>{opens})
        |(?P<word>[A-Za-z_][A-Za-z0-9_$]*)
        |(?P<semicolon>;)
        |(?P<other>.)
        """,
        re.VERBOSE | re.DOTALL,
    )


# One query, read the ways the databases specops reaches read it: a statement hidden in
# what one reading calls a string, a comment or a quoted name is still found by another.
# - standard SQL (SQLite, SQL Server): a quote inside a string is doubled; "x", `x` and
#   [x] are names;
# - with backslash escapes (MySQL, PostgreSQL's E'...');
# - PostgreSQL: [ ] are array subscripts (ARRAY[f()]), not a quoted name: the words inside
#   are code;
# - MySQL: '...' and "..." are strings with backslash escapes, # starts a comment, -- only
#   when a space follows (1--1 is arithmetic), /*! ... */ is run, not a comment, and
#   $a$ is a name, not a string.
_LEXERS = (
    _lexer(r"'(?:[^']|'')*'"),
    _lexer(r"'(?:[^'\\]|\\.|'')*'"),
    _lexer(r"'(?:[^']|'')*'", quoted=r'"(?:[^"]|"")*"', quotes="'\""),
    _lexer(
        r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"",
        line_comment=r"\#[^\n]*|--(?=[\s\x00-\x1f]|\Z)[^\n]*",
        quoted=r"`(?:[^`]|``)*`",
        quotes="'\"`",
        dollar=False,
        code_comment=r"/\*M?!\d*",
    ),
)

_SQLITE_READS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
    | {sqlite3.SQLITE_TRANSACTION}  # BEGIN/ROLLBACK: a driver's, and harmless read-only
    | ({sqlite3.SQLITE_RECURSIVE} if hasattr(sqlite3, "SQLITE_RECURSIVE") else set())
)


def statement_problem(sql: str) -> str | None:
    """Why ``sql`` is not a single read-only SELECT, or None when it is one."""
    for lexer in _LEXERS:
        problem = _problem(sql, lexer)
        if problem is not None:
            return problem
    return None


def _problem(sql: str, lexer: re.Pattern[str]) -> str | None:
    words: list[str] = []
    after_semicolon = False
    for match in lexer.finditer(sql):
        kind, text = match.lastgroup, match.group()
        if kind in ("comment", "code") or (kind == "other" and text.isspace()):
            continue
        if kind == "open":
            return f"the query has an unterminated {text!r} (string, identifier or comment)"
        if kind == "semicolon":
            after_semicolon = True
        elif after_semicolon:
            return "the query holds more than one statement (text after ';')"
        elif kind == "word":
            words.append(text.lower())
    if not words:
        return "the query is empty"
    if words[0] not in ("select", "with"):
        return f"the query must be a SELECT (or WITH ... SELECT), not {words[0].upper()}"
    for word in words:
        if word in WRITE_KEYWORDS:
            return (
                f"the query uses {word.upper()}, which can change data; only reads are "
                "allowed (double-quote a column or table of that name)"
            )
        if word in SIDE_EFFECT_FUNCTIONS:
            return f"the query calls {word}, which has side effects; only reads are allowed"
    starts = [i for i, word in enumerate(words) if word in ("for", "lock")]
    for lock in ROW_LOCKS:
        if any(tuple(words[i : i + len(lock)]) == lock for i in starts):
            locking = " ".join(lock).upper()
            return f"the query locks the rows it reads ({locking}); only reads are allowed"
    if "select" not in words:
        return "the query must contain a SELECT"
    return None


# ---------------------------------------------------------------------------
# read-only connections
# ---------------------------------------------------------------------------


READABLE_PRAGMAS = frozenset({"read_uncommitted"})
"""Pragmas a driver may read (never set) on connecting: SQLAlchemy reads this one to
learn the isolation level. A query of the user's may name no pragma at all."""


def _authorize_reads(action: int, arg1: Any, arg2: Any, database: Any, trigger: Any) -> int:
    """SQLite authorizer: reading tables, pure functions and transaction control only."""
    if action == sqlite3.SQLITE_PRAGMA:
        readable = str(arg1).lower() in READABLE_PRAGMAS and arg2 is None
        return sqlite3.SQLITE_OK if readable else sqlite3.SQLITE_DENY
    if action not in _SQLITE_READS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() in SIDE_EFFECT_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


QUERY_SECONDS_ENV = "SPECOPS_SQL_TIMEOUT"
QUERY_SECONDS = 600
"""How long a SQLite query may run, in seconds: a recursive CTE without an end, or a
join of a table with itself, returns nothing for hours while holding the run."""


def query_seconds() -> int:
    """The time limit of one SQLite query: ``$SPECOPS_SQL_TIMEOUT``, else 600 s."""
    raw = os.environ.get(QUERY_SECONDS_ENV, "").strip()
    if not raw:
        return QUERY_SECONDS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(f"{QUERY_SECONDS_ENV} must be a whole number of seconds >= 1, got {raw!r}")
    return value


VALUE_BYTES = 1 << 20
"""The longest text or blob value (and row) a SQLite query may return: a feature is
never a megabyte, and ``zeroblob(10^9)`` per row filled memory before any count."""


def _deadline_handler(seconds: int) -> Any:
    """A progress handler that stops the statement after ``seconds`` (SQLite then says
    "interrupted"), or at Ctrl-C, which SQLite's C loop would otherwise not see."""
    deadline = time.monotonic() + seconds
    interrupted = False

    def handler() -> int:
        nonlocal interrupted
        try:
            return int(interrupted or time.monotonic() > deadline)
        except KeyboardInterrupt:  # raised here, it would be swallowed by sqlite3
            interrupted = True
            return 1

    return handler


def connect_sqlite_read_only(path: Path) -> sqlite3.Connection:
    """A connection to ``path`` that cannot write it or any other file, nor run a
    statement longer than :func:`query_seconds`.

    ``mode=ro`` refuses writes to the database; the authorizer refuses every
    statement but a read (PRAGMA, ATTACH, VACUUM INTO included), and no database
    may be attached, which is how ``VACUUM INTO`` would write its copy.
    """
    seconds = query_seconds()
    connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        connection.set_progress_handler(_deadline_handler(seconds), 10_000)
        connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, VALUE_BYTES)
        connection.set_authorizer(_authorize_reads)
    except Exception:
        connection.close()
        raise
    return connection


def begin_read_only(connection: Any) -> Any:
    """Begin a transaction on a SQLAlchemy connection, read-only where the database
    can be told so (PostgreSQL, MySQL/MariaDB); the caller always rolls it back.

    The session is made read-only first, and that is committed: a string of
    statements (``SELECT 1; ROLLBACK; DROP TABLE t``, which psycopg sends as one)
    could otherwise end the read-only transaction, undo a ``SET`` made inside it,
    and write in the next one. Only a read-only role also stops a string that sets
    the session back to read-write, which the statement check refuses by its ``;``.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        connection.commit()
    elif dialect in ("mysql", "mariadb"):
        connection.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
        connection.commit()
    transaction = connection.begin()
    if dialect == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
    return transaction
