"""Fixtures shared by the team-store tests: one PostgreSQL cluster, one S3 server and one
MLflow server per session, whichever module asks first (each module may import them too:
all are process-wide singletons, so a second import starts nothing).

Every test here is marked ``team``: it talks to real servers (slower; CI runs them).
"""

from __future__ import annotations

import pytest

from tests.team.mlflow_server import mlflow_server  # noqa: F401
from tests.team.postgres_server import postgres_db, postgres_server, postgres_url  # noqa: F401
from tests.team.s3_server import s3_prefix, s3_server  # noqa: F401


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/team/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.team)
