"""The built-in deploy targets' own promises: schemas, findings and errors.

Deploying a real release is covered end to end by tests/test_run.py and
tests/test_predict.py; here the targets meet a bad path before any release exists.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from framework import StepContext, UserError
from plugins import batch, deploy
from plugins.deploy import DirectoryTarget
from tests.helpers import heavy_imports


@pytest.fixture
def ctx(tmp_path: Path) -> StepContext:
    return StepContext(spec_name="t", task="binary", target="y", base_dir=tmp_path)


def test_registers_every_deploy_target_with_a_valid_closed_schema() -> None:
    registered: dict[str, Any] = {}

    def register(type_name: str, factory: Any, params_schema: Any = None, *, summary: str = ""):
        registered[type_name] = (factory, params_schema, summary)

    deploy.specops_register_deploy_targets(register)
    batch.specops_register_deploy_targets(register)

    assert set(registered) == {"registry", "directory", "batch"}
    for factory, schema, summary in registered.values():
        Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False
        assert callable(factory) and summary


def test_directory_target_under_a_file_is_a_finding(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file, not a directory")

    [finding] = DirectoryTarget(path="out/model").validate(ctx)

    assert finding.key == "path"
    assert finding.message == f"{tmp_path / 'out'} exists and is not a directory"
    assert DirectoryTarget(path="new/dir/model").validate(ctx) == []


def test_directory_target_that_cannot_be_written_is_a_user_error(
    ctx: StepContext, tmp_path: Path
) -> None:
    """Without validate (a library caller), the OS error still names the target."""
    (tmp_path / "out").write_text("a file, not a directory")
    never_read: Any = SimpleNamespace(name="m", version=1)  # the write fails before it is read

    with pytest.raises(UserError) as caught:
        DirectoryTarget(path="out/model").deploy(never_read, ctx)

    assert str(caught.value).startswith(
        f"cannot write the model package to {tmp_path / 'out' / 'model'}: "
    )
    assert (tmp_path / "out").read_text() == "a file, not a directory"


def test_importing_the_plugins_leaves_heavy_libraries_unimported() -> None:
    heavy = ("pandas", "numpy", "sklearn", "lightgbm", "pyarrow")

    assert heavy_imports(["plugins.deploy", "plugins.batch"], heavy) == []
