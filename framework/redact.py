"""Keeping secrets out of what specops prints and stores."""

from __future__ import annotations

import re
from typing import Any

CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+):(?P<secret>[^@/\s]+)@")


def hide_credentials(value: Any) -> Any:
    """``postgresql://user:pw@host`` -> ``postgresql://user:***@host``, anywhere inside."""
    if isinstance(value, str):
        return CREDENTIALS.sub(r"\g<scheme>:***@", value)
    if isinstance(value, dict):
        return {k: hide_credentials(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [hide_credentials(v) for v in value]
    return value
