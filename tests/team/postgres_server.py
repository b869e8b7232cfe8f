"""A real PostgreSQL server for the shared-store tests: a throwaway cluster.

``postgres_server`` (session) runs ``initdb`` and ``pg_ctl start`` in a temporary
directory, on a free port of 127.0.0.1, with the unix socket in that directory, and
deletes it all at the end. PostgreSQL refuses to run as root, so when the tests run
as root the server runs as the ``postgres`` user. TCP connections authenticate with
a password (``scram-sha-256``): the role the tests use, ``specops``, has one, so the
tests that look for secrets in output, rows and errors have a real one to look for.
The socket is trusted, for the tests' own administration (``postgres``).

``postgres_url`` (session) is the URL of one shared database; ``postgres_db`` gives
each test a database of its own (``CREATE DATABASE ... TEMPLATE template0``: a few
milliseconds), dropped afterwards. Advisory locks are per database, so tests never
queue behind each other's write locks.

The PostgreSQL binaries are looked for on PATH, then in ``/usr/lib/postgresql/*/bin``
(``SPECOPS_PG_BIN`` overrides). Missing: the tests skip, except under ``CI=true``,
where they fail (CI must run them, not skip them).

Use it from a test module with
``from tests.team.postgres_server import postgres_db, postgres_server  # noqa: F401``;
the cluster is one per process however many modules import the fixtures.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

USER = "specops"
PASSWORD = "pg-Secret-7Hq2xVb9Lw3Kp"
"""The test role's password: distinctive, so a test can grep for it anywhere."""
READER = "specops_reader"
READER_PASSWORD = "pg-Reader-Zt5mQ8wN1cR"
"""A role that may read every table of a test database and write none."""
SHARED_DATABASE = "specops"
START_TIMEOUT = 60


def postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    if override := os.environ.get("SPECOPS_PG_BIN"):
        return Path(override)
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent  # /usr/local/bin/pg_ctl may be a symlink
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running throwaway cluster: its port, socket directory and how to reach it."""

    bin_dir: Path
    base: Path
    port: int = 0
    start_seconds: float = 0.0
    """initdb + pg_ctl start, measured (the tests' price for a real server)."""
    _as_postgres: list[str] = field(default_factory=list)
    _databases: list[str] = field(default_factory=list)
    _stopped: bool = False
    _watchdog: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    def url(self, database: str, *, user: str = USER, password: str | None = PASSWORD) -> str:
        """``postgresql://user:password@127.0.0.1:port/database`` (TCP, password auth)."""
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [*self._as_postgres, str(self.bin_dir / tool), *args]
        return subprocess.run(
            command, capture_output=True, text=True, check=check, timeout=START_TIMEOUT
        )

    def start(self) -> None:
        began = time.monotonic()
        if os.geteuid() == 0:  # PostgreSQL refuses root: run it as its own user
            os.chown(self.base, _uid("postgres"), -1)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "--no-instructions",
            "-E",
            "UTF8",
            "--locale=C",
        )
        for _attempt in range(5):  # a free port may be taken between probe and bind
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            done = self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                str(START_TIMEOUT),
                "-o",
                options,
                "start",
                check=False,
            )
            if done.returncode == 0:
                break
        else:
            raise RuntimeError(f"PostgreSQL did not start: {self._log_tail()}")
        self.start_seconds = time.monotonic() - began
        self._watch()
        self.admin(
            f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'",
            f"CREATE ROLE {READER} LOGIN PASSWORD '{READER_PASSWORD}'",
            f"CREATE DATABASE {SHARED_DATABASE} OWNER {USER} TEMPLATE template0",
        )

    def _watch(self) -> None:
        """A sentinel process that stops and deletes the cluster once this process is
        gone without calling ``stop`` (SIGKILL, or ``timeout``'s SIGTERM: neither runs
        atexit), so an interrupted test session leaves no server behind."""
        pg_ctl = " ".join(
            shlex.quote(p) for p in [*self._as_postgres, str(self.bin_dir / "pg_ctl")]
        )
        script = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
            f"{pg_ctl} -D {shlex.quote(str(self.data))} -m immediate -w stop >/dev/null 2>&1; "
            f"rm -rf {shlex.quote(str(self.base))}"
        )
        self._watchdog = subprocess.Popen(
            ["/bin/sh", "-c", script],
            start_new_session=True,  # not in the test process's group: a ^C spares it
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text()[-2000:]
        return "(no server log)"

    def admin(self, *statements: str, database: str = "postgres") -> None:
        """Run statements as the superuser over the trusted socket."""
        import psycopg

        with psycopg.connect(
            host=str(self.base), port=self.port, user="postgres", dbname=database, autocommit=True
        ) as db:
            for statement in statements:
                db.execute(statement)

    def create_database(self) -> str:
        """A new empty database owned by ``specops`` that ``specops_reader`` may read."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin(f"CREATE DATABASE {name} OWNER {USER} TEMPLATE template0")
        self.admin(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {USER} IN SCHEMA public "
            f"GRANT SELECT ON TABLES TO {READER}",
            database=name,
        )
        self._databases.append(name)
        return name

    def drop_database(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def dump(self, database: str) -> str:
        """Everything the database holds, as ``pg_dump`` writes it (schema and rows)."""
        done = subprocess.run(
            [
                str(self.bin_dir / "pg_dump"),
                "-h",
                str(self.base),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                database,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return done.stdout

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.base, ignore_errors=True)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


@dataclass(frozen=True)
class PostgresDatabase:
    """One test's own database on the shared cluster."""

    cluster: PostgresCluster
    name: str

    @property
    def url(self) -> str:
        """With the password: what a user would put in ``SPECOPS_STORE``."""
        return self.cluster.url(self.name)

    @property
    def reader_url(self) -> str:
        """The same database through a role that may read and not write."""
        return self.cluster.url(self.name, user=READER, password=READER_PASSWORD)

    @property
    def display_url(self) -> str:
        """What specops may show of it: no password."""
        return self.cluster.url(self.name, password=None)

    def dump(self) -> str:
        return self.cluster.dump(self.name)


_cluster: PostgresCluster | None = None
_starting = threading.Lock()


def shared_cluster() -> PostgresCluster:
    """The process's one cluster, started on first use (stopped at session end or exit)."""
    global _cluster
    with _starting:
        if _cluster is None or _cluster._stopped:
            bin_dir = postgres_bin()
            if bin_dir is None or not (bin_dir / "initdb").exists():
                why = "PostgreSQL server binaries (initdb, pg_ctl) not found"
                if os.environ.get("CI", "").lower() == "true":
                    pytest.fail(f"{why}: CI must run the PostgreSQL tests (install postgresql)")
                pytest.skip(f"{why}; set SPECOPS_PG_BIN or install postgresql")
            if os.geteuid() == 0:
                try:
                    _uid("postgres")
                except KeyError:
                    pytest.fail("running as root and there is no `postgres` user to run the server")
            base = Path(tempfile.mkdtemp(prefix="specops-pg-"))
            cluster = PostgresCluster(bin_dir, base)
            try:
                cluster.start()
            except BaseException:
                cluster.stop()
                raise
            atexit.register(cluster.stop)
            _cluster = cluster
        return _cluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    """A running cluster for the whole session, deleted at the end."""
    cluster = shared_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresCluster) -> str:
    """The URL (password included) of one database shared by the session's tests."""
    return postgres_server.url(SHARED_DATABASE)


@pytest.fixture
def postgres_db(postgres_server: PostgresCluster) -> Iterator[PostgresDatabase]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = postgres_server.create_database()
    yield PostgresDatabase(postgres_server, name)
    postgres_server.drop_database(name)
