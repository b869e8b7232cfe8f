"""Choosing a local store and its artifacts: ``--store`` (a directory or a ``sqlite:``
URL), ``SPECOPS_STORE`` for a run, ``--artifacts`` / ``SPECOPS_ARTIFACTS`` recorded at
first use, and a used store never switched to other artifacts behind its rows' back.
Real runs, the CLI in process; the shared backends are in tests/team/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import breast_cancer_spec, store_rows


@pytest.fixture(autouse=True)
def no_chosen_store(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SPECOPS_STORE", "SPECOPS_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


def _spec(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "spec.yaml"
    path.write_text(breast_cancer_spec(n_estimators=10).lstrip())
    return path


def test_specops_store_chooses_where_a_run_goes_and_sqlite_urls_name_it(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(tmp_path / "project")
    elsewhere = tmp_path / "team-store"
    monkeypatch.setenv("SPECOPS_STORE", str(elsewhere))
    ran = cli("run", spec, "--json")
    assert ran.code == 0, ran.err
    assert (elsewhere / "store.db").is_file()
    assert not (spec.parent / ".specops" / "store.db").exists()

    monkeypatch.delenv("SPECOPS_STORE")
    listed = cli("models", "list", "--store", f"sqlite:///{elsewhere}", "--json")
    assert listed.code == 0, listed.err
    report = json.loads(listed.out)
    assert report["store"] == str(elsewhere)
    assert [m["name"] for m in report["models"]] == ["bc"]


def test_artifacts_given_for_a_new_store_are_recorded_and_used_without_saying_again(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(tmp_path / "project")
    blobs = tmp_path / "blobs"
    monkeypatch.setenv("SPECOPS_ARTIFACTS", str(blobs))
    assert cli("run", spec, "--json").code == 0
    store = spec.parent / ".specops"
    assert store_rows(store, "SELECT key, value FROM store_settings") == [("artifacts", str(blobs))]
    assert not (store / "artifacts").exists() and any(blobs.rglob("*"))

    monkeypatch.delenv("SPECOPS_ARTIFACTS")
    verified = cli("store", "verify", "--store", store, "--json")
    assert verified.code == 0, verified.out + verified.err
    assert json.loads(verified.out)["checked"]["blobs"] > 0

    other = tmp_path / "other-blobs"
    refused = cli("models", "list", "--store", store, "--artifacts", other)
    assert refused.code == 2
    assert f"keeps its artifacts at {blobs}" in refused.err and str(other) in refused.err


def test_a_used_store_is_not_switched_to_other_artifacts(cli: Any, tmp_path: Path) -> None:
    spec = _spec(tmp_path / "project")
    assert cli("run", spec, "--json").code == 0
    store = spec.parent / ".specops"
    before = store_rows(store, "SELECT name, alias, version FROM aliases")

    refused = cli("models", "promote", "bc/1", "--store", store, "--artifacts", tmp_path / "x")
    assert refused.code == 2
    assert f"keeps its artifacts beside it ({store / 'artifacts'})" in refused.err
    assert "specops store copy" in refused.err
    assert store_rows(store, "SELECT key FROM store_settings") == []  # nothing recorded
    assert store_rows(store, "SELECT name, alias, version FROM aliases") == before
    assert not (tmp_path / "x").exists()


def test_run_takes_store_and_artifacts_flags_over_the_environment(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(tmp_path / "project")
    monkeypatch.setenv("SPECOPS_STORE", str(tmp_path / "from-env"))
    chosen, blobs = tmp_path / "chosen", tmp_path / "chosen-blobs"
    ran = cli("run", spec, "--json", "--store", chosen, "--artifacts", blobs)
    assert ran.code == 0, ran.err
    assert (chosen / "store.db").is_file() and any(blobs.rglob("*"))
    assert not (tmp_path / "from-env").exists()
    assert store_rows(chosen, "SELECT value FROM store_settings") == [(str(blobs),)]

    again = cli("run", spec, "--json")  # no flags: the environment's store again
    assert again.code == 0, again.err
    assert (tmp_path / "from-env" / "store.db").is_file()


def test_a_commands_store_and_artifacts_end_with_the_command(cli: Any, tmp_path: Path) -> None:
    """A program (a notebook, a test) that runs the engine after a command in the same
    process gets its spec's own store, not the artifacts the command was given."""
    from framework.engine import Engine
    from framework.plugins import get_plugins
    from framework.spec import load_spec

    blobs = tmp_path / "command-blobs"
    ran = cli("run", _spec(tmp_path / "first"), "--json", "--artifacts", blobs)
    assert ran.code == 0, ran.err

    plugins = get_plugins()
    later = Engine(load_spec(_spec(tmp_path / "second"), plugins), plugins).run()
    assert later.exit_code == 0
    own = tmp_path / "second" / ".specops"
    assert store_rows(own, "SELECT value FROM store_settings") == []  # its own blob folder
    assert any((own / "artifacts").rglob("*/*"))


def test_a_password_in_a_misplaced_argument_is_masked_in_argparse_s_error(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = _spec(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli("validate", spec, "--store", "postgresql://app:Sw0rdfish-9x@db.internal/specops")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err and "postgresql://app:***@db.internal" in err
    assert "Sw0rdfish-9x" not in err


def test_a_store_url_of_an_unknown_scheme_exits_2_naming_it_and_what_is_installed(
    cli: Any,
) -> None:
    listed = cli("models", "list", "--store", "mysql://app:Sw0rdfish-9x@db.internal/specops")
    assert listed.code == 2 and "Traceback" not in listed.err
    assert "'mysql://'" in listed.err and "installed: " in listed.err and "sqlite" in listed.err
    assert "Sw0rdfish-9x" not in listed.err
    plugins = cli("plugins")
    assert plugins.code == 0 and "metadata_store" in plugins.out and "artifact_store" in plugins.out
