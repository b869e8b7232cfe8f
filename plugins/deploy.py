"""Built-in deploy targets: promote in the registry, or export a model package."""

from __future__ import annotations

from typing import Any

from framework import (
    DeployOutcome,
    Finding,
    Register,
    Release,
    StepContext,
    UserError,
    hookimpl,
    replace_directory,
    write_release_package,
)

REGISTRY_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "alias": {
            "description": "The alias to point at the new version.",
            "type": "string",
            "pattern": "^[a-z][a-z0-9_-]*$",
            "default": "champion",
        }
    },
}

DIRECTORY_PARAMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": {
            "description": "Where to write the package; relative to the spec. Replaced atomically.",
            "type": "string",
            "minLength": 1,
        }
    },
}


class RegistryTarget:
    """Make the new version the champion (or another alias) of its model name."""

    def __init__(self, alias: str = "champion") -> None:
        self.alias = alias

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome:
        release.set_alias(self.alias, "gate passed")
        return DeployOutcome(
            f"{release.name}@{self.alias} -> version {release.version}"
            " (moved once every deploy target has succeeded)",
            location=f"{release.name}/{release.version}",
        )


class DirectoryTarget:
    """Export a self-contained model package: model, transform, signature, metadata."""

    def __init__(self, path: str) -> None:
        self.path = path

    def validate(self, ctx: StepContext) -> list[Finding]:
        target = ctx.path(self.path)
        for place in (target, *target.parents):
            if place.exists():
                if not place.is_dir():
                    return [Finding(f"{place} exists and is not a directory", key="path")]
                break
        return []

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome:
        target = ctx.path(self.path)
        try:
            replace_directory(target, lambda staging: write_release_package(release, staging))
        except OSError as exc:
            raise UserError(f"cannot write the model package to {target}: {exc}") from exc
        return DeployOutcome(f"package written to {target}", location=str(target))


@hookimpl
def specops_register_deploy_targets(register: Register) -> None:
    register(
        "registry",
        RegistryTarget,
        REGISTRY_PARAMS,
        summary="Promote the new version to an alias (champion) in the model registry",
    )
    register(
        "directory",
        DirectoryTarget,
        DIRECTORY_PARAMS,
        summary="Export a self-contained model package to a directory",
    )
