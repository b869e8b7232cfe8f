"""The built-in ``local`` executor: the lifecycle's data work in pandas, in this process.

It is what a spec with no ``execution:`` key runs on. The implementation lives in
:mod:`framework.execution.local` because ``specops plan`` reads a source with the
same functions; this module only registers it, exactly as a third-party executor
(``dask`` in :mod:`plugins.dask_execution`, or a Ray one) registers itself.
"""

from __future__ import annotations

from typing import Any

from framework import hookimpl
from framework.execution.local import LocalExecutor

LOCAL_PARAMS: dict[str, Any] = {
    "type": "object",
    "description": "No params: the local executor runs in the specops process.",
    "properties": {},
    "additionalProperties": False,
}


@hookimpl
def specops_register_executors(register: Any) -> None:
    register(
        "local",
        LocalExecutor,
        LOCAL_PARAMS,
        summary="Run every step with pandas in this process (the default)",
    )
