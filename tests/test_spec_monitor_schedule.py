"""``monitor.schedule``: a cron expression checked by ``specops validate`` field by field
(whatever the deploy targets), and carried on the loaded spec for the container target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framework.plugins import get_plugins
from framework.spec.validate import load_spec
from tests.helpers import breast_cancer_spec


def _spec(tmp_path: Path, schedule: str) -> Path:
    path = tmp_path / "spec.yaml"
    text = breast_cancer_spec(n_estimators=10).lstrip()
    path.write_text(text + f'monitor:\n  on_drift: report\n  schedule: "{schedule}"\n')
    return path


def test_a_schedule_out_of_range_is_refused_at_its_key(cli: Any, tmp_path: Path) -> None:
    checked = cli("validate", _spec(tmp_path, "75 * * * *"))
    assert checked.code == 2
    text = checked.out + checked.err
    assert "monitor.schedule" in text and "minute '75'" in text


def test_a_valid_schedule_is_on_the_loaded_spec(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path, "@hourly"), get_plugins())
    assert spec.monitor is not None and spec.monitor.schedule == "@hourly"
    spec = load_spec(_spec(tmp_path, "30 2 * * 1-5"), get_plugins())
    assert spec.monitor.schedule == "30 2 * * 1-5"
