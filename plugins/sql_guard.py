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

import re
import sqlite3
from pathlib import Path
from typing import Any

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
        "dblink",
        "dblink_exec",
    )
)
"""Functions that read files, write, or signal the server: refused by name."""


def _lexer(string: str) -> re.Pattern[str]:
    """Tokens of SQL; ``string`` is the pattern of a complete string literal."""
    return re.compile(
        rf"""
        (?P<comment>--[^\n]*|/\*.*?\*/)
        |(?P<string>{string}|\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)
        |(?P<quoted>"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])
        |(?P<open>/\*|['"`\[]|\$[A-Za-z_]*\$)
        |(?P<word>[A-Za-z_][A-Za-z0-9_$]*)
        |(?P<semicolon>;)
        |(?P<other>.)
        """,
        re.VERBOSE | re.DOTALL,
    )


# Standard SQL doubles a quote inside a string; MySQL (and PostgreSQL's E'...') also
# escape one with a backslash. The query is checked both ways, so a statement hidden
# in what one reading calls a string is still found by the other.
_LEXERS = (_lexer(r"'(?:[^']|'')*'"), _lexer(r"'(?:[^'\\]|\\.|'')*'"))

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
        if kind == "comment" or (kind == "other" and text.isspace()):
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


def connect_sqlite_read_only(path: Path) -> sqlite3.Connection:
    """A connection to ``path`` that cannot write it or any other file.

    ``mode=ro`` refuses writes to the database; the authorizer refuses every
    statement but a read (PRAGMA, ATTACH, VACUUM INTO included), and no database
    may be attached, which is how ``VACUUM INTO`` would write its copy.
    """
    connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
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
