"""Fixtures shared by the team-store tests: one PostgreSQL cluster and one S3 server
per session, whichever module asks first (each module may import them too: both are
process-wide singletons, so a second import starts nothing)."""

from __future__ import annotations

from tests.team.mlflow_server import mlflow_server  # noqa: F401
from tests.team.postgres_server import postgres_db, postgres_server, postgres_url  # noqa: F401
from tests.team.s3_server import s3_prefix, s3_server  # noqa: F401
