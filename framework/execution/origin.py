"""Who chose a spec value: the spec file, the command line, or the environment.

A spec file is untrusted input (docs/security.md): it may come from a pull request and
may name data and components, never what runs code with the rights of the user who
runs specops. Some executor params do exactly that: the address of a Dask scheduler
(the Dask client unpickles what the scheduler and its workers send back, and ships
them the data and the ``${env:...}`` secrets the tasks carry). An executor asks
:func:`value_origin` in its ``validate`` and refuses such a value when the spec file
chose it, unless the operator allowed it (:func:`allowed_by_env`).

- ``COMMAND_LINE``: ``--set`` gave the key or a section holding it (``monitor
  --address`` is such a ``--set``), see :meth:`framework.spec.model.Spec.was_set`;
- ``ENVIRONMENT``: the whole value is one ``${env:NAME}`` placeholder and ``NAME`` is
  set (a default after ``:-`` is the file's choice, not the environment's);
- ``SPEC_FILE``: anything else (the file, or one of its profiles).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.spec.model import Spec

SPEC_FILE = "spec file"
COMMAND_LINE = "command line"
ENVIRONMENT = "environment"

_WHOLE_PLACEHOLDER = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


def value_origin(spec: Spec, path: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Where the value at ``path`` (``("execution", "params", "address")``) came from."""
    if spec.was_set(".".join(path)):
        return COMMAND_LINE
    env = os.environ if env is None else env
    value = _dig(spec.document, path)  # the document keeps ${env:...} placeholders
    if isinstance(value, str):
        whole = _WHOLE_PLACEHOLDER.fullmatch(value.strip())
        if whole is not None and whole.group(1) in env:
            return ENVIRONMENT
    return SPEC_FILE


def allowed_by_env(value: str, variable: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether ``value`` is in the comma-separated list the environment variable holds:
    the operator's allow-list for values a spec file may name."""
    env = os.environ if env is None else env
    listed = {item.strip() for item in env.get(variable, "").split(",")}
    return value.strip() in listed - {""}


def _dig(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, Mapping):  # the spec's params are read-only mappings
            return None
        data = data.get(key)
    return data
