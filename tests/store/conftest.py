"""The PostgreSQL fixtures of the team tests (a real throwaway cluster), for the store
tests that also run on PostgreSQL (marked ``team``)."""

from tests.team.postgres_server import postgres_db, postgres_server  # noqa: F401
