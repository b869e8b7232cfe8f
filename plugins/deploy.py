"""Built-in deploy targets: promote in the registry, or export a model package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from framework import (
    DeployOutcome,
    Finding,
    Register,
    Release,
    StepContext,
    UserError,
    deploy_path_findings,
    hookimpl,
    protected_refusal,
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
            "description": "Where to write the package; relative to the spec. Replaced atomically, "
            "and only if an earlier deploy wrote it (or it is empty).",
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
    """Export a self-contained model package: model, transform, signature, metadata.

    ``path`` is replaced only if an earlier deploy wrote it (or it is empty): see
    :mod:`framework.ownership`. The spec's folder, the store and their parents are
    refused at ``specops validate``.
    """

    kind = "directory"

    def __init__(self, path: str) -> None:
        self.path = path

    def validate(self, ctx: StepContext) -> list[Finding]:
        return deploy_path_findings(ctx.path(self.path), ctx)

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome:
        target = ctx.path(self.path)
        replace_package(
            target,
            ctx,
            release,
            self.kind,
            lambda staging: write_release_package(release, staging),
            what="the model package",
        )
        return DeployOutcome(f"package written to {target}", location=str(target))


def replace_package(
    target: Path,
    ctx: StepContext,
    release: Release,
    kind: str,
    write: Callable[[Path], None],
    *,
    what: str,
) -> None:
    """Write a deploy directory the one safe way: never a protected place, only over
    a directory a deploy wrote, marked with who wrote it; OS errors name the target."""
    refusal = protected_refusal(target, ctx)
    if refusal:
        raise UserError(refusal)
    owner = {
        "target": kind,
        "model": release.name,
        "version": release.version,
        "run_id": ctx.run_id,
    }
    try:
        replace_directory(target, write, owner=owner)
    except OSError as exc:
        raise UserError(f"cannot write {what} to {target}: {exc}") from exc


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
