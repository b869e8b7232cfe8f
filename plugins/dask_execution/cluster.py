"""The cluster a Dask run uses: an existing scheduler at ``address``, or a LocalCluster.

``open_cluster(settings, say)`` is a context manager yielding a connected
``distributed.Client``. It closes only what it started: with ``address`` the client
disconnects and the cluster (a team's, shared) stays up; without it, the LocalCluster
specops started is shut down with its worker processes.

A LocalCluster binds its scheduler, workers and dashboard to 127.0.0.1 (nothing is
exposed to the network unless ``dashboard_address`` says otherwise), its processes talk
over TLS with credentials made for the run and held only here (no other local process
can connect to it), its workers keep their files in a private temporary folder, and its worker
processes run this Python, so they import specops' plugins like the client does;
their stdout is discarded (LightGBM's network prints there, and it is this process's
stdout, which ``--json`` owns), their logs still reach stderr. A
remote cluster's workers need specops (and every plugin the spec uses) installed in
the same versions: tasks carry plugin functions and components by reference.

Unreachable schedulers and clusters that do not start are bad input (``UserError``,
exit 2) naming the address with any credentials masked, never a traceback.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework import Finding, UserError

if TYPE_CHECKING:
    from distributed import Client

    from framework.execution import Spec

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for a scheduler to answer and for the first worker to join."""

DEFAULT_DASHBOARD = "127.0.0.1:8787"
"""Dask's usual dashboard port, on the loopback interface only; a busy port moves on."""


@dataclass(frozen=True)
class ClusterSettings:
    """Where to run: ``address`` of a running scheduler, or the LocalCluster's shape."""

    address: str | None = None
    n_workers: int | None = None
    threads_per_worker: int | None = None
    memory_limit: str | int | None = None
    dashboard_address: str | None = DEFAULT_DASHBOARD
    timeout: float = DEFAULT_TIMEOUT

    @property
    def local_shape(self) -> tuple[int, int]:
        """(workers, threads per worker) a LocalCluster gets: the given numbers, else
        Dask's own choice for this machine's cores (what LocalCluster would pick)."""
        if self.n_workers is not None and self.threads_per_worker is not None:
            return self.n_workers, self.threads_per_worker
        from dask.system import CPU_COUNT
        from distributed.deploy.utils import nprocesses_nthreads

        if self.n_workers is None and self.threads_per_worker is None:
            return nprocesses_nthreads(CPU_COUNT)
        if self.n_workers is None:
            return max(1, CPU_COUNT // self.threads_per_worker), self.threads_per_worker
        return self.n_workers, max(1, CPU_COUNT // max(self.n_workers, 1))

    def where(self) -> str:
        """One line for ``plan`` and the run: where the work goes."""
        if self.address:
            return f"the Dask scheduler at {shown_address(self.address)}"
        workers, threads = self.local_shape
        memory = self.memory_limit if self.memory_limit is not None else "auto"
        return (
            f"a LocalCluster on this machine: {workers} worker process(es) x {threads} "
            f"thread(s), memory limit {memory} per worker"
        )


def shown_address(address: str) -> str:
    """The address as it may be printed: a password in it is masked."""
    from framework.execution import hide_credentials, redact

    return redact(hide_credentials(address))


ALLOWED_ADDRESSES = "SPECOPS_DASK_ADDRESSES"
"""Environment variable: comma-separated scheduler addresses a spec file may name."""


def trust_findings(spec: Spec, settings: ClusterSettings) -> list[Finding]:
    """A spec file may not choose the cluster, nor open the dashboard to the network.

    Connecting to a scheduler runs code in this process (Dask's client unpickles the
    results and errors the scheduler and its workers send) and hands that cluster the
    data, the champion and every ``${env:...}`` value the tasks carry; a spec may come
    from a pull request (docs/security.md). So an address on another machine must come
    from the operator: the command line (``--set``, ``monitor --address``), the
    environment (``address: ${env:DASK_SCHEDULER}``) or the allow-list
    ``$SPECOPS_DASK_ADDRESSES``. A scheduler on this machine (127.0.0.1, localhost, ::1:
    one started here, or a ``kubectl port-forward``) is one its users started.
    """
    from framework.execution import SPEC_FILE, allowed_by_env, value_origin

    found: list[Finding] = []
    address = settings.address
    if (
        address
        and not _is_loopback(_host_of(address))
        and value_origin(spec, ("execution", "params", "address")) == SPEC_FILE
        and not allowed_by_env(address, ALLOWED_ADDRESSES)
    ):
        shown = shown_address(address)
        found.append(
            Finding(
                f"the spec file chooses the Dask scheduler {shown}: a spec cannot choose "
                "the cluster (a scheduler runs code in the specops process and receives "
                "the data and the secrets the tasks carry)",
                key="address",
                hint=(
                    f"pass it on the command line (--set execution.params.address={shown}"
                    "), write address: ${env:DASK_SCHEDULER}, or allow it: export "
                    f"{ALLOWED_ADDRESSES}={shown}"
                ),
            )
        )
    dashboard = settings.dashboard_address
    if (
        not address
        and dashboard
        and not _is_loopback(_host_of(dashboard))
        and value_origin(spec, ("execution", "params", "dashboard_address")) == SPEC_FILE
    ):
        found.append(
            Finding(
                f"the spec file serves the Dask dashboard on {dashboard}: a spec cannot "
                "open it beyond this machine (its pages show the workers' logs and tasks)",
                key="dashboard_address",
                hint=(
                    "use 127.0.0.1:PORT, or pass another host on the command line "
                    "(--set execution.params.dashboard_address=HOST:PORT)"
                ),
            )
        )
    return found


MAX_WORKERS = "SPECOPS_DASK_MAX_WORKERS"
"""Environment variable: most worker processes a LocalCluster may start (default: the
machine's cores, at least 4)."""


def max_local_workers() -> int:
    """The bound on a LocalCluster's worker processes: each costs about 60 MB idle and
    200-300 MB once it has run specops' tasks, so ``n_workers: 1024`` (a 20-byte spec
    line) would ask this machine for tens of gigabytes. More processes than cores buy
    nothing on one machine."""
    import os

    raw = os.environ.get(MAX_WORKERS, "").strip()
    if not raw:
        return max(os.cpu_count() or 1, 4)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(f"{MAX_WORKERS} must be a whole number of processes >= 1, got {raw!r}")
    return value


def size_findings(settings: ClusterSettings) -> list[Finding]:
    """A LocalCluster larger than the machine is refused before it starts."""
    limit = max_local_workers()
    if settings.address or settings.n_workers is None or settings.n_workers <= limit:
        return []
    return [
        Finding(
            f"n_workers {settings.n_workers} starts more worker processes than this machine "
            f"allows ({limit}: each takes 60-300 MB of memory)",
            key="n_workers",
            hint=(
                f"use at most {limit} (more threads_per_worker instead), point address at a "
                f"cluster, or raise {MAX_WORKERS}"
            ),
        )
    ]


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_of(address: str) -> str:
    """The host of ``HOST:PORT``, ``:PORT`` (every interface: ``""``) or a URL."""
    rest = address.split("://", 1)[-1]
    if rest.startswith("["):
        return rest[: rest.find("]") + 1]
    host = rest.rsplit(":", 1)[0] if ":" in rest else rest
    return host if host else "0.0.0.0"


@contextmanager
def open_cluster(settings: ClusterSettings, say: Callable[[str], None]) -> Iterator[Client]:
    """A client of the cluster ``settings`` name, closed afterwards; a LocalCluster
    started here is closed too, an existing cluster never."""
    _quiet_routine_logs()
    if settings.address:
        with _connect(settings) as client:
            yield client
        return
    with _local_cluster(settings, say) as client:
        yield client


@contextmanager
def _connect(settings: ClusterSettings) -> Iterator[Client]:
    from distributed import Client

    address = shown_address(settings.address or "")
    _reachable(settings.address or "", settings.timeout)
    _require_tls_config(settings.address or "")
    try:
        # the default client: every dask compute of the run (the step modules' own
        # .compute() and .persist()) goes to this cluster, not to local threads
        client = Client(settings.address, timeout=settings.timeout, set_as_default=True)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(
            f"cannot connect to the Dask scheduler at {address} within "
            f"{settings.timeout:g} s ({_reason(exc)})\n  {_CONNECT_HINT}"
        ) from None
    try:
        _wait_for_workers(client, 1, settings.timeout, f"the Dask scheduler at {address}")
        yield client
    finally:
        _close(client)


def _require_tls_config(address: str) -> None:
    """A ``tls://`` scheduler needs the CA (and usually a client certificate) from Dask's
    own configuration; without it the Client fails with a TypeError about an SSL
    context, which says nothing of what to set."""
    if not address.lower().startswith("tls://"):
        return
    from distributed.security import Security

    if not Security().tls_ca_file:
        raise UserError(
            f"the Dask scheduler at {shown_address(address)} speaks TLS, and no TLS "
            "certificate authority is configured for this client\n  hint: set Dask's TLS "
            "config (distributed.comm.tls.ca-file, .client.cert, .client.key), e.g. "
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE=ca.pem "
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT=cert.pem "
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY=key.pem"
        )


_CONNECT_HINT = (
    "hint: start the cluster, check execution.params.address (tcp://HOST:PORT), raise "
    "execution.params.timeout, or remove address to start a LocalCluster"
)


def _reachable(address: str, timeout: float) -> None:
    """Refuse an address that is not one, or where nothing listens, before a Client is
    made: a Client that fails to start leaves a half-built object that complains on
    the console when it is collected."""
    import socket

    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    shown = shown_address(address)
    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return  # other transports (ucx, inproc): the Client finds out
        host, port = parse_host_port(location, default_port=8786)
    except ValueError:
        raise UserError(
            f"execution.params.address {shown!r} is not a Dask scheduler address\n  "
            "hint: write tcp://HOST:PORT (tls://HOST:PORT for TLS)"
        ) from None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise UserError(
            f"cannot reach the Dask scheduler at {shown} within {timeout:g} s "
            f"({_reason(exc)})\n  {_CONNECT_HINT}"
        ) from None


@contextmanager
def _local_cluster(settings: ClusterSettings, say: Callable[[str], None]) -> Iterator[Client]:
    """A LocalCluster whose workers keep their spill and lock files in a folder of this
    run's own, not in the machine-wide /tmp/dask-scratch-space another user may own
    (spilled partitions are pickles the worker reads back); the folder goes with the
    cluster, whatever ended it (a SIGKILL of this process leaves it behind)."""
    scratch = tempfile.mkdtemp(prefix="specops-dask-")
    try:
        with _started_cluster(settings, say, scratch) as client:
            yield client
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def _started_cluster(
    settings: ClusterSettings, say: Callable[[str], None], scratch: str
) -> Iterator[Client]:
    import dask
    from distributed import Client, LocalCluster

    workers, threads = settings.local_shape
    options: dict[str, Any] = {
        "n_workers": workers,
        "threads_per_worker": threads,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": settings.dashboard_address,
    }
    if settings.memory_limit is not None:
        options["memory_limit"] = settings.memory_limit
    security = _local_security()
    if security is not None:
        options["security"] = security
    options["local_directory"] = scratch
    # each worker imports what the run's tasks need before it joins, while this process
    # imports what it needs too: both happen during the start, instead of one after the
    # other and with the cluster waiting at the first read and the first fit
    options["preload"] = [
        *(dask.config.get("distributed.worker.preload", None) or []),
        *_installed(WORKER_IMPORTS),
    ]
    importing = _import_in_background(CLIENT_IMPORTS)
    try:
        # the scheduler's own scratch folder too (dask's temporary-directory)
        with warnings.catch_warnings(), dask.config.set({"temporary-directory": scratch}):
            # "Port 8787 is already in use ... on port N instead": the link printed
            # below is the port actually used
            warnings.filterwarnings("ignore", message=".*already in use.*")
            cluster = LocalCluster(**options)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise UserError(
            f"cannot start a LocalCluster of {workers} worker(s) x {threads} thread(s): "
            f"{type(exc).__name__}: {exc}\n  "
            "hint: check execution.params (n_workers, threads_per_worker, memory_limit, "
            "dashboard_address)"
        ) from None
    finally:
        # joined before anything else runs here: no step imports these modules while
        # the thread still does (two threads importing one package can see it half made)
        importing.join()
    try:
        say(_started_line(cluster, workers, threads, settings.dashboard_address))
        if security is None:
            say(
                "note: the LocalCluster accepts any local process (plain tcp): install "
                "cryptography for TLS between its processes"
            )
        client = Client(cluster, timeout=settings.timeout, set_as_default=True)
        try:
            client.register_plugin(_quiet_stdout(), name="specops-quiet-stdout")
            _wait_for_workers(client, workers, settings.timeout, "the LocalCluster")
            yield client
        finally:
            _exit_quickly(client)
            _close(client)
    finally:
        with _muted(CLOSING_LOGGERS):
            cluster.close()


WORKER_IMPORTS = ("dask.dataframe", "pyarrow.parquet", "sklearn.metrics", "lightgbm.dask")
"""What a run's tasks import on a worker: the table's reader, scikit-learn (the metrics
and the fitted pipeline shipped to evaluate), the built-in distributed model. A new
worker otherwise imports each at the first task needing it, the cluster waiting (about
1 s for dask.dataframe, 0.5 s for scikit-learn on the benchmark machine). Preloaded by a
LocalCluster's workers before they join; a module not installed is left out."""

CLIENT_IMPORTS = ("dask.dataframe",)
"""What this process imports for the first step (the source's lazy table), meanwhile."""


def _installed(modules: tuple[str, ...]) -> list[str]:
    """The modules whose top-level package is installed (found without importing it)."""
    return [name for name in modules if importlib.util.find_spec(name.split(".")[0])]


def _import_in_background(modules: tuple[str, ...]) -> Any:
    """A started thread importing ``modules``; the caller joins it before going on."""
    import threading

    def load() -> None:
        from importlib import import_module

        for name in modules:
            try:
                import_module(name)
            except ImportError:  # the step that needs it says so
                continue

    thread = threading.Thread(target=load, name="specops-dask-imports", daemon=True)
    thread.start()
    return thread


ROUTINE_LOGGERS = ("distributed.shuffle._scheduler_plugin",)
"""Loggers that report routine work as WARNING lines ("Shuffle ... initialized by task"):
a LocalCluster's scheduler runs in this process, so they would land among the steps."""


def _quiet_routine_logs() -> None:
    """Keep distributed's routine notices out of the user's terminal; errors still show."""
    import logging

    for name in ROUTINE_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _close(client: Client) -> None:
    """Close the client. A run that ended while a task still waited (training stopped
    after a worker died) makes distributed log the cancelled wait as an ERROR with a
    traceback while the client shuts down: noise after a clear message, so its client
    logger is muted for the close only."""
    import logging

    logger = logging.getLogger("distributed.client")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        client.close()
    finally:
        logger.setLevel(level)


def _local_security() -> Any:
    """Mutual TLS for a LocalCluster, or None when ``cryptography`` is missing.

    Binding to 127.0.0.1 keeps other hosts out, not other users of this machine: any
    local process could connect to a plain ``tcp://`` scheduler and run code in the
    workers with the rights of the user running specops (and read the data, or swap
    the model before it is registered). ``Security.temporary()`` makes a self-signed
    certificate held only in this process's memory and handed to the workers it
    spawns, so a client without it is refused. Measured: no cost (cluster start and
    small computes within noise of plain tcp, 2 workers on this machine)."""
    import importlib.util

    if importlib.util.find_spec("cryptography") is None:
        return None
    from distributed.security import Security

    return Security.temporary()


def _quiet_stdout() -> Any:
    """A worker plugin sending the worker process's stdout to /dev/null. LocalCluster
    workers inherit this process's stdout, where LightGBM's network (C++, whatever its
    verbosity) prints its port search: it would land in ``specops run --json``'s
    output. Worker logs (Python logging, to stderr) are kept. Registered on the client,
    so a worker restarted by its nanny gets it too."""
    from distributed import WorkerPlugin

    class QuietStdout(WorkerPlugin):
        idempotent = True

        def setup(self, worker: Any) -> None:
            import os
            import sys

            sys.stdout.flush()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)

    return QuietStdout()


CLOSING_LOGGERS = ("distributed.batched", "distributed.core", "distributed.comm")
"""Loggers that report a worker's connection closing under a message being sent (an
INFO line with a traceback): routine when the workers of a finished run leave at once."""


@contextmanager
def _muted(names: tuple[str, ...]) -> Iterator[None]:
    """Those loggers silenced (but for CRITICAL) for the block, as they were afterwards."""
    import logging

    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _exit_quickly(client: Client) -> None:
    """Let this run's LocalCluster workers end without Python's interpreter teardown.

    A closing worker process otherwise frees, one object at a time, everything it held
    (the table, the split, LightGBM's copies) and runs every module's finalizers: 1.3 s
    of a 200k-row run's wall time, spent after the run is over, growing with the data.
    Registered only at the very end, on a cluster specops started and is closing (its
    spill folder is removed with the cluster, its results are in the store): the
    plugin's teardown, the first thing a closing worker runs, flushes the worker's
    output and leaves with ``os._exit``. A worker that cannot be reached any more is
    left to the ordinary close."""
    try:
        client.register_plugin(_quick_exit(), name="specops-quick-exit")
    except Exception:  # a cluster already failing: its normal close says why
        return


def _quick_exit() -> Any:
    from distributed import WorkerPlugin

    class QuickExit(WorkerPlugin):
        idempotent = True

        def teardown(self, worker: Any) -> None:
            import contextlib
            import os
            import sys

            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os._exit(0)

    return QuickExit()


def _started_line(cluster: Any, workers: int, threads: int, dashboard: str | None) -> str:
    line = (
        f"Dask LocalCluster: {workers} worker(s) x {threads} thread(s) at "
        f"{cluster.scheduler_address}"
    )
    link = cluster.dashboard_link if dashboard else ""
    if link:
        line += f"; dashboard {link}"
        if importlib.util.find_spec("bokeh") is None:
            line += " (its plots need `pip install bokeh`)"
    return line


def _wait_for_workers(client: Client, count: int, timeout: float, what: str) -> None:
    try:
        client.wait_for_workers(count, timeout=timeout)
    except (TimeoutError, OSError) as exc:
        have = len(client.scheduler_info().get("workers", {}))
        raise UserError(
            f"{what} has {have} worker(s) after {timeout:g} s, {count} needed "
            f"({type(exc).__name__})\n  "
            "hint: start workers (dask worker SCHEDULER_ADDRESS) or raise "
            "execution.params.timeout"
        ) from None


def _reason(exc: BaseException) -> str:
    """The complaint, with anything that looks like a password masked."""
    return shown_address(f"{type(exc).__name__}: {exc}")
