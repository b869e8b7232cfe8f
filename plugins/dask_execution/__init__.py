"""The ``dask`` executor: a spec's lifecycle on a Dask cluster (``execution: {type: dask}``).

Registered through ``specops_register_executors`` like every built-in, so a third
party's executor (Ray, say) plugs in the same way. Importing this package is cheap:
dask, distributed, pandas and LightGBM are imported by the executor's methods, only
when a run, ``plan`` or ``predict`` needs them (``pip install 'specops[dask]'``).

Modules: ``cluster`` (connect or start a LocalCluster), ``executor`` (the
``DaskExecutor`` that wires the steps), and one module per step, each owned by the
step's engineers (``ingest``, ``checks``, ``snapshot``, ``split``, ``transforms``,
``categories``, ``training``, ``evaluation``, ``gate``, ``profile``, ``scoring``,
``monitoring``).
"""

from __future__ import annotations

from typing import Any

from framework import Register, hookimpl

MEMORY = r"^\s*(auto|\d+(\.\d+)?(\s*([kKmMgGtTpP]i?[bB]?|[bB]))?)\s*$"
"""What Dask's ``parse_bytes`` reads for a memory limit: ``auto``, ``4GiB``, ``512 MB``. The
spaces before a unit belong to the unit's optional group: two adjacent runs of optional
spaces (before an optional unit, and before the end) made a string of spaces cost
quadratic time (60,000 spaces: 11 s to validate; a 1 MiB spec, hours)."""

PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "address": {
            "type": "string",
            "minLength": 1,
            "description": (
                "A running Dask scheduler, tcp://HOST:PORT (dask-kubernetes, "
                "dask-jobqueue, `dask scheduler`). Its workers need specops and the spec's "
                "plugins installed. Without it, specops starts a LocalCluster on this "
                "machine and closes it after the run."
            ),
        },
        "n_workers": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1024,
            "description": "LocalCluster worker processes (default: Dask's choice for the cores).",
        },
        "threads_per_worker": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1024,
            "description": "LocalCluster threads per worker (default: Dask's choice).",
        },
        "memory_limit": {
            "oneOf": [
                {"type": "string", "pattern": MEMORY},
                {"type": "integer", "minimum": 0},
            ],
            "description": (
                "LocalCluster memory per worker: 4GiB, 512MB, a number of bytes, auto "
                "(the machine's memory shared among workers), or 0 for no limit."
            ),
        },
        "dashboard_address": {
            "type": ["string", "null"],
            "default": "127.0.0.1:8787",
            "description": (
                "Where a LocalCluster serves Dask's dashboard (HOST:PORT; a busy port "
                "moves on); null turns it off. Printed when the cluster starts."
            ),
        },
        "persist": {
            "type": "boolean",
            "default": True,
            "description": (
                "Hold the ingested table in the workers' memory for the run, so the "
                "source is read once; false rereads it at each step (for a table larger "
                "than the cluster's memory: Dask spills to disk otherwise)."
            ),
        },
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 3600,
            "default": 30,
            "description": "Seconds to wait for the scheduler to answer and workers to join.",
        },
    },
}


def _dask_executor(**params: Any) -> Any:
    """The executor, its module imported only when a spec names ``dask``."""
    from plugins.dask_execution.executor import DaskExecutor

    return DaskExecutor(**params)


@hookimpl
def specops_register_executors(register: Register) -> None:
    register(
        "dask",
        _dask_executor,
        PARAMS,
        summary="Run on a Dask cluster: an existing scheduler, or a LocalCluster",
    )
