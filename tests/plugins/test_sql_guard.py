"""The sql source's two guards, fuzzed: whatever a query says, a SQLite file is never changed.

Queries are built from the pieces that matter (statement words, ``;``, quotes, comments,
the words that write) so most examples are near misses, not noise.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing, suppress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework import DataError
from plugins.sources import SqlSource
from plugins.sql_guard import connect_sqlite_read_only, statement_problem

PIECES = [
    "SELECT",
    "WITH x AS (",
    ")",
    "*",
    "a",
    "FROM people",
    "FROM x",
    ";",
    "'",
    "''",
    "\\'",
    '"',
    "--",
    "\n",
    "/*",
    "*/",
    "$$",
    "DROP TABLE people",
    "DELETE FROM people",
    "INSERT INTO people VALUES (1)",
    "UPDATE people SET a = 2",
    "VACUUM INTO 'copy.db'",
    "ATTACH 'other.db' AS o",
    "PRAGMA journal_mode = delete",
    "CREATE TABLE t (a)",
    "INTO t2",
    "RETURNING *",
    "load_extension('x')",
    "COMMIT",
    "BEGIN",
    "ROLLBACK",
]


def fingerprint(directory: Path) -> dict[str, str]:
    """Every file in the directory by content: a change or a new file shows."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("shop")
    with sqlite3.connect(directory / "shop.db") as connection:
        connection.execute("CREATE TABLE people (a INTEGER)")
        connection.executemany("INSERT INTO people VALUES (?)", [(1,), (2,), (3,)])
    return directory / "shop.db"


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map(" ".join))
def test_no_query_changes_the_database_and_none_crashes_the_check(
    shop: Path, tmp_path: Path, query: str
) -> None:
    before = fingerprint(shop.parent)

    problem = statement_problem(query)  # never raises
    with suppress(DataError):
        SqlSource(path="shop.db", query=query)._load_sqlite(shop)  # second guard alone
    assert fingerprint(shop.parent) == before

    if problem is None:
        # The first guard alone: what it lets through changes nothing even on a
        # writable connection that runs every statement in the string (as psycopg does).
        scratch = tmp_path / "scratch"
        scratch.mkdir(exist_ok=True)
        copy = scratch / "shop.db"
        copy.write_bytes(shop.read_bytes())
        was = fingerprint(scratch)
        with closing(sqlite3.connect(copy)) as writable, suppress(sqlite3.Error):
            writable.executescript(query)
        assert fingerprint(scratch) == was, query


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("SELECT * FROM people", None),
        ('select a as "update" from people', None),
        ("SELECT 'DROP TABLE people; --' FROM people", None),
        ("SELECT 1 -- ; DROP TABLE people", None),
        ("SELECT $$;DROP$$", "more than one statement"),  # MySQL: $$ is a name, then ';'
        ("SELECT $$ DROP $$", "DROP"),
        ("SELECT 'open", "unterminated"),
        ("SELECT 1 /* open", "unterminated"),
        ("", "empty"),
        ("   ;  ", "empty"),
        ("VALUES (1)", "must be a SELECT"),
        ("SELECT 1;;", None),
        ("SELECT 1; SELECT 2", "more than one statement"),
        ("SELECT a FROM people FOR UPDATE", "UPDATE"),
        ("SELECT a INTO OUTFILE '/tmp/x' FROM people", "INTO"),
        ("WITH d AS (DELETE FROM people RETURNING a) SELECT * FROM d", "DELETE"),
        ("SELECT load_extension('evil.so')", "side effects"),
        ("SELECT nextval('s')", "side effects"),
    ],
)
def test_statement_check_cases(query: str, problem: str | None) -> None:
    found = statement_problem(query)

    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_read_only_connection_still_reads(shop: Path) -> None:
    with connect_sqlite_read_only(shop) as connection:
        rows = connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
            "SELECT count(*) FROM people JOIN n ON n.i = people.a"
        ).fetchone()
        names = connection.execute("SELECT name FROM sqlite_master").fetchall()
    assert rows == (3,) and names == [("people",)]


@pytest.mark.parametrize("query", ["-- nothing", "/* nothing */", ";"])
def test_a_statement_with_no_result_is_a_data_error_past_validate(shop: Path, query: str) -> None:
    """Found by the fuzz test: pandas raised TypeError (exit 3) on no result set."""
    with pytest.raises(DataError, match=r"the query on SQLite database .*shop\.db returned no"):
        SqlSource(path="shop.db", query=query)._load_sqlite(shop)
