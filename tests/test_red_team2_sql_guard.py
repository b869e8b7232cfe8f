"""red-team-2: queries that hid a write or a side effect from the SQL statement check.

The check reads a query as one dialect; each database reads it its own way. A word
hidden in what the check took for a quoted name, a comment or a string was run by
PostgreSQL (``ARRAY[f()]``: brackets are subscripts there) or MySQL (``#`` comments,
``--`` without a space, ``/*! ... */`` executable comments, ``$a$`` as a name).
"""

from __future__ import annotations

import time

import pytest

from plugins.sql_guard import statement_problem


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        # PostgreSQL array subscripts/constructors: the words inside are code
        ("SELECT ARRAY[pg_sleep(100)] AS x", "pg_sleep"),
        ("SELECT ARRAY[(SELECT dblink_exec('dbname=x', 'DROP TABLE t'))] AS x", "dblink_exec"),
        ("SELECT (ARRAY[pg_read_file('/etc/hostname')])[1] AS x", "pg_read_file"),
        ("SELECT a[1; DROP TABLE t; SELECT 1]", "more than one statement"),
        # MySQL comment and string forms
        ("SELECT * FROM t # '\nINTO OUTFILE '/tmp/x' -- '", "INTO"),
        ("SELECT 1--1 INTO OUTFILE '/tmp/x'", "INTO"),
        ("SELECT * FROM t /*! INTO OUTFILE '/tmp/x' */", "INTO"),
        ("SELECT * FROM t /*!50100 INTO DUMPFILE '/tmp/x' */", "INTO"),
        ("SELECT * FROM t /*M! INTO OUTFILE '/tmp/x' */", "INTO"),
        ("SELECT $a$ FROM t INTO OUTFILE '/tmp/pwn' -- $a$", "INTO"),
        # functions that run a query given as text, touch server files, stall or lock
        ("SELECT query_to_xml('DROP TABLE t', true, true, '')", "query_to_xml"),
        ("SELECT pg_file_write('/tmp/x', 'y', false)", "pg_file_write"),
        ("SELECT set_config('statement_timeout', '0', false)", "set_config"),
        ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
        ("SELECT LOAD_FILE('/etc/passwd')", "load_file"),
        ("SELECT sleep(100000)", "sleep"),
        ("SELECT * FROM t FOR SHARE", "FOR SHARE"),
        ("SELECT * FROM t FOR KEY SHARE", "FOR KEY SHARE"),
        ("SELECT * FROM t LOCK IN SHARE MODE", "LOCK IN SHARE MODE"),
    ],
)
def test_a_write_hidden_from_one_reading_is_found_by_another(query: str, problem: str) -> None:
    found = statement_problem(query)

    assert found is not None and problem in found, (query, found)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM people",
        "SELECT [my col], \"x\" FROM t WHERE a = 'it''s' /* note */",
        "SELECT a # b AS x FROM t",
        'SELECT share, "update" FROM t',
        "SELECT `a``b` FROM t",
        "SELECT ARRAY[1, 2][1] AS x",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x -- done",
        "SELECT 'a -- b', \"c # d\" FROM t",
    ],
)
def test_ordinary_reads_still_pass(query: str) -> None:
    assert statement_problem(query) is None


def test_the_check_stays_linear_in_the_query() -> None:
    """Four readings of a 256 KiB query: well under a second each on a busy machine."""
    query = "SELECT " + "a, " * 87_000 + "b FROM t"

    started = time.perf_counter()
    assert statement_problem(query) is None
    assert time.perf_counter() - started < 5
