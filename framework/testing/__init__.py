"""Testing helpers for plugin authors: run specs with your plugin, check its contracts.

Installed with specops as a pytest plugin (like pytest's ``pytester``): the
``specops_project`` fixture gives a :class:`SpecopsProject` in ``tmp_path``, and the
``check_*`` functions check one component against its kind's contract on small real
data, raising ``AssertionError`` with a message that says what to fix::

    from framework.testing import check_model, check_registration

    import my_plugin

    def test_registration():
        check_registration(my_plugin)

    def test_model_round_trip():
        check_model(my_plugin.MyModel, task="binary")

    def test_a_spec_runs(specops_project):
        specops_project.register(my_plugin)
        result = specops_project.run(SPEC)
        assert result.code == 0, result

Nothing here is imported by specops itself; heavy libraries load inside the checks.
See docs/plugin_testing.md for a plugin's whole test file.
"""

from __future__ import annotations

from framework.testing.data_contracts import (
    check_check,
    check_source,
    check_split,
    check_transform,
)
from framework.testing.deploy_contract import check_deploy_target, real_release
from framework.testing.drift_contract import check_drift_test
from framework.testing.model_contracts import check_metric, check_model
from framework.testing.project import CommandResult, SpecopsProject
from framework.testing.registration import check_registration, registrations
from framework.testing.samples import TARGET, context, features_and_target, table

__all__ = [
    "TARGET",
    "CommandResult",
    "SpecopsProject",
    "check_check",
    "check_deploy_target",
    "check_drift_test",
    "check_metric",
    "check_model",
    "check_registration",
    "check_source",
    "check_split",
    "check_transform",
    "context",
    "features_and_target",
    "real_release",
    "registrations",
    "table",
]
