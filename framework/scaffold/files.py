"""The package-level files ``specops new-plugin`` writes around the components:
``pyproject.toml``, ``__init__.py`` (the hooks), the tests, the example spec, a README."""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.scaffold.components import Template

if TYPE_CHECKING:
    from framework.scaffold import PluginNames


def pyproject(names: PluginNames) -> str:
    from framework import __version__

    return f"""[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "{names.dist}"
version = "0.1.0"
description = "specops components: {names.stem}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["specops>={__version__}"]

[project.optional-dependencies]
test = ["pytest>=8.0"]

# specops finds the plugin through this entry point once the package is installed
[project.entry-points.specops]
{names.stem} = "{names.package}"

[tool.hatch.build.targets.wheel]
packages = ["src/{names.package}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""


def init_module(names: PluginNames, templates: list[Template]) -> str:
    imports = "\n".join(
        f"from {names.package}.{t.module} import " + ", ".join(sorted({t.cls, t.schema} - {"None"}))
        for t in sorted(templates, key=lambda t: t.module)
    )
    hooks = "\n\n".join(
        f"""@hookimpl
def {t.hook}(register: Register) -> None:
    register(
        "{names.stem}_{t.type_suffix}",
        {t.cls},
        {t.schema},
        summary="{t.summary}",
    )
"""
        for t in templates
    )
    kinds = ", ".join(t.kind for t in templates)
    return f'''"""specops plugin {names.dist}.

Components: {kinds}.

specops loads this module through the ``specops`` entry point in pyproject.toml and
calls each hook below once, with a ``register`` callback. Components import heavy
libraries inside their methods, so loading the plugin stays fast.
"""

from __future__ import annotations

from framework import Register, hookimpl

{imports}

SPECOPS_HOOK_API = ">=1.0,<2"


{hooks}'''


def tests_module(names: PluginNames, templates: list[Template]) -> str:
    tests = "".join(t.test for t in templates)
    body = tests + _spec_test(names)
    from framework import testing  # light: its checks import pandas only when called

    helpers = [h for h in testing.__all__ if f"{h}(" in body or h == "check_registration"]
    classes = "\n".join(
        f"from {names.package}.{t.module} import {t.cls}"
        for t in sorted(templates, key=lambda t: t.module)
    )
    uses_pytest = "@pytest." in body
    return f'''"""Tests of {names.dist}: each component against its kind's contract, and the
example spec through a real specops run. ``specops_project`` and the ``check_*``
helpers come with specops (framework.testing, a pytest plugin)."""

from __future__ import annotations

from pathlib import Path

{"import pytest" + chr(10) if uses_pytest else ""}from framework.testing import (
{"".join(f"    {h},{chr(10)}" for h in helpers)})

import {names.package} as plugin
{classes}

EXAMPLE = Path(__file__).resolve().parent.parent / "example.yaml"


def test_registration_follows_the_rules() -> None:
    check_registration(plugin, "{names.stem}")
{body}'''


def _spec_test(names: PluginNames) -> str:
    return f'''

def test_the_example_spec_runs(specops_project) -> None:
    specops_project.register(plugin, name="{names.stem}")
    result = specops_project.run(EXAMPLE.read_text())
    assert result.code == 0, result
    assert result.report["status"] == "passed"
'''


def example_spec(names: PluginNames, templates: list[Template]) -> str:
    kinds = {t.kind for t in templates}
    stem = names.stem
    lines = [
        f"# A spec using every component of {names.dist}: specops run example.yaml",
        f"name: {stem.replace('_', '-')}-example",
        "task: binary",
        "seed: 0",
        "data:",
    ]
    if "source" in kinds:
        lines.append(f"  source: {{type: {stem}_synthetic, params: {{rows: 600}}}}")
    else:
        lines.append("  source: {type: sklearn_dataset, params: {name: breast_cancer}}")
    lines.append("  target: target")
    if "split" in kinds:
        lines.append(f"  split: {{type: {stem}_every_nth, params: {{every: 4}}}}")
    if "check" in kinds:
        lines += ["checks:", f"  - {{type: {stem}_min_rows, params: {{min_rows: 50}}}}"]
    if "transform" in kinds:
        lines += ["preprocess:", f"  - {{type: {stem}_scale}}"]
    if "model" in kinds:
        lines.append(f"model: {{type: {stem}_centroid, params: {{temperature: 1.0}}}}")
    else:
        lines.append("model: {type: lightgbm, params: {n_estimators: 20, num_leaves: 7}}")
    metric = f"{stem}_balanced_accuracy" if "metric" in kinds else "accuracy"
    lines += ["gate:", f"  {metric}: {{min: 0.7}}"]
    if "deploy" in kinds:
        lines += [
            "deploy:",
            "  - {type: registry}",
            f"  - {{type: {stem}_manifest, params: {{path: out/{stem}.json}}}}",
        ]
    if "drift_test" in kinds:
        lines += [
            "monitor:",
            "  drift:",
            f"    numeric: {{type: {stem}_mean_shift, params: {{limit: 0.5}}}}",
        ]
    return "\n".join(lines) + "\n"


def readme(names: PluginNames, templates: list[Template]) -> str:
    rows = "\n".join(
        f"| {t.kind} | `{names.stem}_{t.type_suffix}` | `src/{names.package}/{t.module}.py` | "
        f"{t.summary} |"
        for t in templates
    )
    return f"""# {names.dist}

A specops plugin. Installed, its components are available to every spec:
`specops plugins` lists them under `{names.stem}`.

| kind | type | code | what it does |
| --- | --- | --- | --- |
{rows}

## Develop

```sh
pip install -e ".[test]"
pytest                       # each component against its contract, and example.yaml
specops run example.yaml     # the example spec, for real
```

The tests use specops' testing helpers (`framework.testing`): `check_*` checks a
component against its kind's contract, and the `specops_project` fixture runs a
spec with this plugin registered in process, against a temporary store. Rename the
types, change the components, keep the tests passing.
"""
