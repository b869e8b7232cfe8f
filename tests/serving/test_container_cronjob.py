"""Continuous training in Kubernetes: ``monitor.schedule`` makes the container target also
write a CronJob that runs ``specops monitor SPEC --from-log --retrain`` on the shared store.

The manifests are checked against the real Kubernetes schemas (kubernetes-validate,
strict) and the "restricted" Pod Security Standard, like the Deployment's; no secret is
ever in a file of the build context: the store's address and credentials come from a
Secret the pods read.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from framework.monitoring.schedule import cron_problem
from tests.serving.test_deploy_targets import KUBERNETES_VERSIONS, restricted_violations

PASSWORD = "hunter2-literal-pw"
"""Written literally in the spec's store URL: must never reach the build context."""


@pytest.mark.parametrize(
    "schedule",
    [
        "0 * * * *",
        "*/15 2-4,6 1 JAN-mar mon-fri",
        "30 2 * * 1-5",
        "0 0 1 */2 7",
        "5/10 * * * *",
        "@daily",
        "@hourly",
        "  0 3 * * *  ",
    ],
)
def test_cron_schedules_kubernetes_takes_pass(schedule: str) -> None:
    assert cron_problem(schedule) is None


@pytest.mark.parametrize(
    ("schedule", "said"),
    [
        ("0 * * *", "a schedule has 5 fields (minute hour day-of-month month day-of-week)"),
        ("0 * * * * *", "has 6"),
        ("", "has 0"),
        ("75 * * * *", "minute '75': 75 is out of range 0-59"),
        ("0 24 * * *", "hour '24': 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month '0': 0 is out of range 1-31"),
        ("0 0 * 13 *", "month '13': 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week '8': 8 is out of range 0-7"),
        ("0 0 * JANUARY *", "month 'JANUARY': 'JANUARY' is not a number or a name"),
        ("5-1 * * * *", "minute '5-1': range 5-1 runs backwards"),
        ("*/0 * * * *", "step '0' is not a positive number"),
        ("*/99 * * * *", "step 99 is larger than the field's range 0-59"),
        ("1,,2 * * * *", "an empty item in a list"),
        ("-1 * * * *", "'' is not a number"),
        ("@sometimes", "unknown macro '@sometimes'"),
        ("TZ=UTC 0 * * * *", "a time zone in the schedule is not supported"),
        ("0 ２ * * *", "hour '２': '２' is not a number"),
    ],
)
def test_cron_schedules_kubernetes_refuses_are_refused_naming_the_field(
    schedule: str, said: str
) -> None:
    problem = cron_problem(schedule)
    assert problem is not None and said in problem, problem


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """A real model version that passed its gate (framework.testing), and its context."""
    from framework.testing.deploy_contract import real_release

    return real_release(tmp_path_factory.mktemp("release"))


def spec_document(schedule: str | None, store: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": "contract",
        "task": "binary",
        "seed": 0,
        "data": {
            "source": {"type": "sklearn_dataset", "params": {"name": "breast_cancer"}},
            "target": "target",
        },
        "model": {"type": "lightgbm", "params": {"n_estimators": 5, "num_leaves": 4}},
        "deploy": [{"type": "container", "params": {"path": "ctx"}}],
        "monitor": {"on_drift": "retrain"},
    }
    if schedule is not None:
        document["monitor"]["schedule"] = schedule
    if store is not None:
        document["store"] = store
    return document


def deploy(
    released: tuple[Any, Any],
    directory: Path,
    document: dict[str, Any] | None,
    store_url: str | None,
    **params: Any,
) -> Path:
    from plugins.container import ContainerTarget

    release, ctx = released
    moves.clear()
    release = replace(
        release,
        spec_document=document,
        store_url=store_url,
        set_alias=lambda alias, reason: moves.append((alias, reason)),
    )
    ctx = replace(ctx, base_dir=directory)
    target = ContainerTarget(path="ctx", **params)
    assert target.validate(ctx) == []
    target.deploy(release, ctx)
    return directory / "ctx"


moves: list[tuple[str, str]] = []
"""The alias moves the last deploy() asked for."""


def manifest(context: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((context / "k8s" / name).read_text())


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item["valueFrom"]["secretKeyRef"] for item in container["env"]}


def test_a_schedule_writes_a_valid_restricted_cronjob_running_monitor_retrain_on_the_shared_store(
    released: tuple[Any, Any], tmp_path: Path
) -> None:
    import kubernetes_validate

    store = {
        "url": f"postgresql://mlops:{PASSWORD}@db.internal/specops",
        "artifacts": "s3://models/specops",
        "params": {"endpoint_url": "${env:S3_ENDPOINT:-}"},
    }
    document = spec_document("*/30 * * * 1-5", store)
    context = deploy(
        released,
        tmp_path,
        document,
        "postgresql://mlops@db.internal/specops",
        store_secret="team-store",
        monitor_timeout=900,
    )
    cronjob = manifest(context, "cronjob.yaml")
    deployment = manifest(context, "deployment.yaml")
    service = manifest(context, "service.yaml")
    for version in KUBERNETES_VERSIONS:
        for each in (cronjob, deployment, service):
            kubernetes_validate.validate(each, version, strict=True)  # raises if invalid

    assert cronjob["kind"] == "CronJob" and cronjob["apiVersion"] == "batch/v1"
    spec = cronjob["spec"]
    assert spec["schedule"] == "*/30 * * * 1-5" and spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"  # two retrainings would race for the champion
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] == 900
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert restricted_violations(pod) == []
    [container] = pod["containers"]
    assert container["command"] == [
        "specops", "monitor", "/opt/spec/spec.yaml", "--from-log", "--since", "champion",
        "--retrain",
    ]  # fmt: skip
    assert container["workingDir"] == "/tmp"  # the only writable place
    env = env_of(container)
    assert env["SPECOPS_STORE"] == {"name": "team-store", "key": "SPECOPS_STORE"}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "PGPASSWORD"):
        assert env[key] == {"name": "team-store", "key": key, "optional": True}
    assert env["S3_ENDPOINT"] == {"name": "team-store", "key": "S3_ENDPOINT", "optional": True}

    # the monitor's pods are never behind the Service nor counted as the Deployment's
    selector = deployment["spec"]["selector"]["matchLabels"]
    monitor_labels = job["template"]["metadata"]["labels"]
    assert not selector.items() <= monitor_labels.items()
    assert not service["spec"]["selector"].items() <= monitor_labels.items()

    # the servers follow the champion in the shared store, named by the same Secret
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    assert server["command"][:3] == ["specops", "serve", "contract@champion"]
    assert moves == [("champion", "gate passed")]  # a restarted pod serves the champion
    assert env_of(server)["SPECOPS_STORE"] == {"name": "team-store", "key": "SPECOPS_STORE"}
    assert restricted_violations(deployment["spec"]["template"]["spec"]) == []

    # the image carries the spec the CronJob runs; it deploys to the registry's champion
    assert "COPY spec/ /opt/spec/\n" in (context / "Dockerfile").read_text()
    image_spec = yaml.safe_load((context / "spec" / "spec.yaml").read_text())
    assert image_spec["deploy"] == {"type": "registry", "params": {"alias": "champion"}}
    assert image_spec["monitor"] == {"on_drift": "retrain", "schedule": "*/30 * * * 1-5"}
    assert image_spec["store"]["path"] == "/tmp/.specops"
    assert image_spec["store"]["params"] == {"endpoint_url": "${env:S3_ENDPOINT:-}"}
    assert "url" not in image_spec["store"]  # the Secret's SPECOPS_STORE says where
    document["data"]["source"]["params"]["name"] = f"postgresql://u:{PASSWORD}@h/x"
    context = deploy(released, tmp_path / "again", document, None)
    assert PASSWORD not in (context / "spec" / "spec.yaml").read_text()  # masked anywhere

    # no credential anywhere in what would be built or applied
    for path in context.rglob("*"):
        if path.is_file():
            assert PASSWORD not in path.read_text(errors="replace"), path


def schema_has_schedule() -> bool:
    schema = Path(__file__).parents[2] / "schemas" / "spec.schema.json"
    return "schedule" in json.loads(schema.read_text())["properties"]["monitor"]["properties"]


@pytest.mark.skipif(not schema_has_schedule(), reason="monitor.schedule is not in the schema yet")
def test_the_image_spec_validates_as_a_spec(
    released: tuple[Any, Any], tmp_path: Path, cli: Any
) -> None:
    """What the CronJob runs is a spec specops accepts (not just YAML)."""
    context = deploy(released, tmp_path, spec_document("@hourly"), None)
    result = cli("validate", context / "spec" / "spec.yaml", "--json")
    assert result.code == 0, result.err


def test_a_shared_store_without_a_schedule_follows_the_champion_and_writes_no_cronjob(
    released: tuple[Any, Any], tmp_path: Path
) -> None:
    import kubernetes_validate

    context = deploy(
        released, tmp_path, spec_document(None), "postgresql://db/specops", follow="stable"
    )
    assert not (context / "k8s" / "cronjob.yaml").exists()
    assert not (context / "spec").exists()
    deployment = manifest(context, "deployment.yaml")
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(deployment, version, strict=True)
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    assert server["command"][2] == "contract@stable"
    assert moves == [("stable", "gate passed")]
    assert server["workingDir"] == "/tmp"
    assert env_of(server)["SPECOPS_STORE"]["name"] == "specops-store"  # the default Secret


def test_a_local_store_without_a_schedule_serves_the_packaged_version_as_before(
    released: tuple[Any, Any], tmp_path: Path
) -> None:
    context = deploy(released, tmp_path, spec_document(None), None, token_secret="tok")
    assert not (context / "k8s" / "cronjob.yaml").exists()
    [server] = manifest(context, "deployment.yaml")["spec"]["template"]["spec"]["containers"]
    assert "command" not in server  # the image's CMD: serve --package /opt/model
    assert moves == []  # a local store: the container target promotes nothing, as before
    assert [item["name"] for item in server["env"]] == ["SPECOPS_SERVE_TOKEN"]
    assert "COPY spec/" not in (context / "Dockerfile").read_text()


def test_a_schedule_that_is_not_cron_never_reaches_a_manifest(
    released: tuple[Any, Any], tmp_path: Path
) -> None:
    from framework.errors import UserError

    with pytest.raises(UserError, match=r"monitor\.schedule: hour '25': 25 is out of range"):
        deploy(released, tmp_path, spec_document("0 25 * * *"), None)
    assert not (tmp_path / "ctx").exists()


@pytest.mark.skipif(not schema_has_schedule(), reason="monitor.schedule is not in the schema yet")
def test_specops_run_with_a_schedule_writes_the_cronjob_and_validate_refuses_a_bad_schedule(
    tmp_path: Path, cli: Any
) -> None:
    import kubernetes_validate

    from tests.serving.conftest import train

    deploy = "deploy={type: container, params: {path: ctx}}"
    train(tmp_path, name="sched", extra=("--set", deploy, "--set", "monitor.schedule='0 3 * * *'"))
    context = tmp_path / "ctx"
    cronjob = manifest(context, "cronjob.yaml")
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(cronjob, version, strict=True)
    assert cronjob["spec"]["schedule"] == "0 3 * * *"
    image_spec = context / "spec" / "spec.yaml"
    assert yaml.safe_load(image_spec.read_text())["name"] == "sched"
    assert cli("validate", image_spec).code == 0
    [server] = manifest(context, "deployment.yaml")["spec"]["template"]["spec"]["containers"]
    assert server["command"][2] == "sched@champion"  # the loop needs it

    refused = cli("validate", tmp_path / "spec.yaml", "--set", "monitor.schedule='0 3 * *'")
    assert refused.code == 2 and "monitor.schedule" in refused.err and "5 fields" in refused.err


def test_a_source_of_local_files_becomes_the_runs_data_snapshot_in_the_image_spec(
    released: tuple[Any, Any], tmp_path: Path
) -> None:
    """data.csv is not in the image; the version's snapshot in the shared store is."""
    document = spec_document("@daily")
    document["data"]["source"] = {"type": "csv", "params": {"path": "data.csv"}}
    context = deploy(released, tmp_path, document, "postgresql://db/specops")
    lineage = json.loads((context / "model" / "model.json").read_text())["lineage"]
    assert lineage["data_snapshot"]  # the run kept one (store.snapshot_data: true)
    image_spec = yaml.safe_load((context / "spec" / "spec.yaml").read_text())
    assert image_spec["data"]["source"] == {
        "type": "snapshot",
        "params": {"data": lineage["data_hash"]},
    }
    assert image_spec["data"]["target"] == "target"


def test_a_long_model_name_gives_a_cronjob_name_kubernetes_takes(
    released: tuple[Any, Any], tmp_path: Path
) -> None:
    """Kubernetes refuses CronJob names over 52 characters (kubernetes-validate does
    not check it: the schema has no length)."""
    release, ctx = released
    long = replace(release, name="a-very-long-model-name-" * 4)
    context = deploy((long, ctx), tmp_path, spec_document("@daily"), None)
    name = manifest(context, "cronjob.yaml")["metadata"]["name"]
    assert len(name) <= 52 and name.endswith("-monitor") and name.startswith("specops-a-very")
    assert len(manifest(context, "deployment.yaml")["metadata"]["name"]) <= 63
