"""specops' pytest plugin (entry point ``pytest11: specops``): fixtures for plugin tests.

Loaded into every pytest run of an environment where specops is installed, so it
imports nothing heavy and nothing at all from specops until a fixture is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from framework.testing.project import SpecopsProject


@pytest.fixture
def specops_project(tmp_path: Path) -> SpecopsProject:
    """A :class:`framework.testing.SpecopsProject` in a fresh folder: register your plugin
    with ``.register(module)``, then ``.run(spec_text)`` runs ``specops run`` in process
    against the project's own store and returns the exit code, output and JSON report."""
    from framework.testing.project import SpecopsProject

    return SpecopsProject(tmp_path / "project")
