"""The contract of a deploy target: it writes only where it was pointed, marks what it
wrote, replaces its own output and refuses everything else.

A deploy path comes from a spec, and a typo (``path: .``) must not delete a user's
files (see :mod:`framework.ownership`). The check deploys a real released model
version (trained by a tiny spec through the real engine) into a sandbox and compares
every file of the sandbox before and after.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from framework.components import DeployOutcome, Release, StepContext
from framework.errors import UserError
from framework.hookspecs import hookimpl
from framework.ownership import MARKER, file_marker
from framework.testing.project import SpecopsProject

RELEASE_SPEC = """
name: contract
task: binary
seed: 0
data:
  source: {type: sklearn_dataset, params: {name: breast_cancer}}
  target: target
model: {type: lightgbm, params: {n_estimators: 5, num_leaves: 4}}
deploy:
  - {type: capture_release}
"""


class _Capture:
    """An in-process deploy target that keeps a copy of the Release the engine hands it
    (the engine removes the package folder it deploys from once the run ends)."""

    release: Release | None = None
    keep: Path | None = None

    def deploy(self, release: Release, ctx: StepContext) -> DeployOutcome:
        assert _Capture.keep is not None
        shutil.copytree(release.package_dir, _Capture.keep)
        _Capture.release = replace(release, package_dir=_Capture.keep)
        return DeployOutcome("captured")


class _CapturePlugin:
    @hookimpl
    def specops_register_deploy_targets(self, register: Any) -> None:
        register("capture_release", _Capture, None, summary="keeps the release (testing)")


def real_release(directory: Path) -> tuple[Release, StepContext]:
    """A model version that passed its gate in a real run in ``directory``, and the
    context its deploy targets got (spec folder, store, run id)."""
    from framework.package import ModelPackage

    project = SpecopsProject(directory, [("capture", _CapturePlugin())])
    _Capture.keep = project.directory / "release"
    try:
        result = project.run(RELEASE_SPEC)
        release = _Capture.release
    finally:
        _Capture.release = _Capture.keep = None
    if result.code != 0 or release is None:
        raise RuntimeError(f"the release for the deploy check could not be made: {result}")
    plugins, package = project.plugins, release.package_dir
    release.load = lambda: ModelPackage(package, plugins)
    ctx = StepContext(
        spec_name="contract",
        task="binary",
        target="target",
        base_dir=project.directory.resolve(),
        run_id=result.report["run_id"],
        store_root=project.store.resolve(),
    )
    return release, ctx


def check_deploy_target(
    make_target: Callable[[str], Any], directory: Path, *, name: str = "deployed"
) -> DeployOutcome:
    """Assert that the target ``make_target(path)`` builds (``path`` is the absolute deploy
    path its params would name) deploys a real release into ``path`` and nowhere else,
    leaves the deploy marker (a ``.specops-deploy.json`` in a directory it wrote, or the
    sidecar ``.NAME.specops-deploy.json`` beside a file), deploys again over its own
    output, and refuses (``validate`` finding or :class:`framework.UserError`) a path
    holding a user's files and the spec's own folder, changing nothing there.
    ``directory`` is an empty scratch folder (``tmp_path``); ``name`` the last part of
    the deploy path (``"predictions.csv"`` for a target that wants a suffix). Returns
    the first outcome."""
    directory = Path(directory).resolve()
    release, ctx = real_release(directory / "project")
    deployed = directory / "out" / name
    label = type(make_target(str(deployed))).__name__

    before = _files(directory)
    outcome = _deploy(make_target, deployed, release, ctx, label)
    if not isinstance(outcome, DeployOutcome) or not isinstance(outcome.summary, str):
        raise AssertionError(f"{label}: deploy must return a framework.DeployOutcome")
    changed = _changes(before, _files(directory))
    allowed = {deployed, file_marker(deployed)}
    stray = [p for p in changed if p not in allowed and deployed not in p.parents]
    if stray:
        raise AssertionError(
            f"{label}: deploy to {deployed} also changed files elsewhere: "
            + ", ".join(str(p) for p in stray[:5])
        )
    if deployed.is_dir():
        if not (deployed / MARKER).is_file():
            raise AssertionError(
                f"{label}: the directory it wrote has no {MARKER}; write it with "
                "framework.replace_directory (or write_release_package), so the next deploy "
                "knows it may replace it"
            )
    elif deployed.is_file():
        if not file_marker(deployed).is_file():
            raise AssertionError(
                f"{label}: the file it wrote has no {file_marker(deployed).name} beside it; call "
                "framework.mark_file after writing, so the next deploy knows it may replace it"
            )
    else:
        raise AssertionError(f"{label}: deploy returned but wrote nothing at {deployed}")

    again = replace(ctx, run_id=f"{ctx.run_id}-again")
    _deploy(
        make_target, deployed, release, again, label, what="a second deploy over its own output"
    )

    users = deployed.with_name(f"users{deployed.suffix}")
    if deployed.is_dir():
        users.mkdir(parents=True)
        (users / "notes.txt").write_text("a user's notes\n")
    else:
        users.parent.mkdir(parents=True, exist_ok=True)
        users.write_text("a user's file\n")
    for place, why in ((users, "a user's files"), (ctx.base_dir, "the spec's folder")):
        before = _files(directory)
        refused = _refused(make_target, place, release, again, label)
        if not refused:
            raise AssertionError(
                f"{label}: deployed over {place}, which holds {why}; refuse it (use "
                "framework.protected_refusal and file_refusal, or replace_directory)"
            )
        changed = _changes(before, _files(directory))
        if changed:
            raise AssertionError(
                f"{label}: refused {place} but changed {', '.join(map(str, changed[:5]))}"
            )
    return outcome


def _deploy(
    make_target: Callable[[str], Any],
    path: Path,
    release: Release,
    ctx: StepContext,
    name: str,
    what: str = "a deploy to a new path",
) -> Any:
    target = make_target(str(path))
    findings = list(getattr(target, "validate", lambda _ctx: [])(ctx) or [])
    if findings:
        raise AssertionError(
            f"{name}: validate refused {what} ({path}): " + "; ".join(f.message for f in findings)
        )
    try:
        return target.deploy(release, ctx)
    except UserError as exc:
        raise AssertionError(f"{name}: {what} ({path}) was refused: {exc}") from None


def _refused(
    make_target: Callable[[str], Any], path: Path, release: Release, ctx: StepContext, name: str
) -> bool:
    target = make_target(str(path))  # validate may refuse too, but the disk can change
    try:  # between validate and deploy: the deploy itself must refuse
        target.deploy(release, ctx)
    except UserError:
        return True
    return False


def _files(root: Path) -> dict[Path, str]:
    return {
        path: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    }


def _changes(before: dict[Path, str], after: dict[Path, str]) -> list[Path]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
