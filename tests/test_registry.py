"""`specops models ...` and `specops store ...` through the CLI, on a store real runs made."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from framework.store.store import AliasMove, Store, undo_stack
from tests.helpers import (
    aliases_and_history,
    build_store,
    champion,
    store_execute,
    store_rows,
)


def blob_of(store: Path, version: int, file: str) -> Path:
    """Where one file of ``bc/VERSION`` is stored."""
    files = store_rows(store, f"SELECT files_json FROM model_versions WHERE version = {version}")
    digest = json.loads(files[0][0])[file]
    return store / "artifacts" / digest[:2] / digest[2:]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("registry"))


@pytest.fixture
def store(built: Path, tmp_path: Path) -> Path:
    """A private copy of the module's store, so a test may move aliases or break blobs."""
    target = tmp_path / "store"
    shutil.copytree(built, target)
    return target


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("LOGNAME", "alice")
    monkeypatch.setenv("USER", "alice")


# models list / show -----------------------------------------------------------------


def test_models_list_shows_versions_statuses_and_aliases(cli, store: Path) -> None:
    result = cli("models", "list", "--store", store, "--json")
    assert result.code == 0, result.err
    (model,) = json.loads(result.out)["models"]
    assert model["name"] == "bc" and model["aliases"] == {"champion": 3}
    versions = {v["version"]: v for v in model["versions"]}
    assert {n: v["status"] for n, v in versions.items()} == {
        1: "registered",
        2: "rejected",
        3: "registered",
    }
    assert versions[3]["aliases"] == ["champion"] and versions[1]["aliases"] == []
    assert versions[1]["key_metrics"] == ["roc_auc"]  # the metric the gate judges
    assert 0.9 < versions[1]["metrics"]["roc_auc"] <= 1.0

    table = cli("models", "list", "--store", store)
    assert table.code == 0
    assert "registered" in table.out and "rejected" in table.out
    shown = f"roc_auc {versions[3]['metrics']['roc_auc']:.4f}"  # as the JSON says, 4 digits
    assert "@champion" in table.out and shown in table.out


def test_models_show_by_name_means_the_champion(cli, store: Path) -> None:
    result = cli("models", "show", "bc", "--store", store, "--json")
    assert result.code == 0, result.err
    shown = json.loads(result.out)
    assert shown["ref"] == "bc/3" and shown["status"] == "registered"
    assert shown["aliases"] == ["champion"]
    assert shown["params"]["model.params.n_estimators"] == 12
    assert shown["params"]["model.type"] == "lightgbm"
    assert len(shown["signature"]["columns"]) == 30
    lineage = shown["lineage"]
    assert len(lineage["spec_hash"]) == 64 and len(lineage["data_hash"]) == 64
    assert "lightgbm" in lineage["packages"]
    files = {f["path"]: f for f in shown["files"]}
    assert {"model.json", "signature.json", "model/model.txt"} <= set(files)
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in files.values())
    history = [(m["from_version"], m["to_version"], m["reason"]) for m in shown["alias_history"]]
    assert history == [(None, 1, "gate passed"), (1, 3, "gate passed")]
    assert shown["alias_history"][0]["actor"].startswith("run ")

    table = cli("models", "show", "bc", "--store", store)
    assert table.code == 0
    for text in ("bc/3", "alias history of bc", "model/model.txt", "n_estimators", "data hash"):
        assert text in table.out


def test_models_show_by_version_and_by_alias(cli, store: Path) -> None:
    rejected = json.loads(cli("models", "show", "bc/2", "--store", store, "--json").out)
    assert rejected["status"] == "rejected" and rejected["run_status"] == "rejected"
    by_alias = json.loads(cli("models", "show", "bc@champion", "--store", store, "--json").out)
    assert by_alias["version"] == 3


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", "no model named 'nope'"),
        ("bc/9", "model 'bc' has no version 9; versions: 1, 2, 3"),
        ("bc@staging", "model 'bc' has no alias 'staging'; aliases: @champion -> 3"),
        ("bc//x", "not a model reference"),
    ],
)
def test_unknown_refs_exit_2_and_say_what_exists(cli, store: Path, ref: str, message: str) -> None:
    result = cli("models", "show", ref, "--store", store)
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err


def test_a_missing_store_is_exit_2_and_not_created(cli, tmp_path: Path) -> None:
    result = cli("models", "list", "--store", tmp_path / "nowhere")
    assert result.code == 2
    assert "no specops store at" in result.err
    assert not (tmp_path / "nowhere").exists()


def test_the_store_can_come_from_the_environment(cli, store: Path, monkeypatch) -> None:
    monkeypatch.setenv("SPECOPS_STORE", str(store))
    result = cli("models", "list", "--json")
    assert result.code == 0 and json.loads(result.out)["store"] == str(store)


# promote --------------------------------------------------------------------------


def test_promote_moves_the_alias_and_records_who_and_why(cli, store: Path) -> None:
    result = cli("models", "promote", "bc/1", "--reason", "hotfix", "--store", store)
    assert result.code == 0, result.err
    assert "bc@champion: 3 -> 1" in result.out and "manual promote: hotfix" in result.out
    assert champion(store) == 1
    query = "SELECT from_version, to_version, actor, reason FROM alias_history"
    last = store_rows(store, query)[-1]
    assert last == (3, 1, "alice (cli)", "manual promote: hotfix")

    plain = cli("models", "promote", "bc/3", "--store", store, "--json")
    moved = json.loads(plain.out)
    assert moved["moved"] is True and moved["reason"] == "manual promote"
    assert (moved["from_version"], moved["to_version"]) == (1, 3)


def test_promoting_a_rejected_version_is_refused_and_nothing_moves(cli, store: Path) -> None:
    before = aliases_and_history(store)
    result = cli("models", "promote", "bc/2", "--store", store)
    assert result.code == 2
    assert "bc/2 was rejected" in result.err
    assert "registered versions of bc: 1, 3" in result.err
    assert aliases_and_history(store) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bc/9"], "model 'bc' has no version 9; versions: 1, 2, 3"),
        (["nope/1"], "no model named 'nope'"),
        (["bc@staging"], "model 'bc' has no alias 'staging'"),
        (["bc/1", "--alias", "Champion!"], "not an alias name"),
    ],
)
def test_promoting_what_does_not_exist_is_exit_2_and_nothing_moves(
    cli, store: Path, args: list[str], message: str
) -> None:
    before = aliases_and_history(store)
    result = cli("models", "promote", *args, "--store", store)
    assert result.code == 2
    assert message in result.err
    assert aliases_and_history(store) == before


def test_promoting_the_current_version_moves_nothing(cli, store: Path) -> None:
    before = aliases_and_history(store)
    result = cli("models", "promote", "bc/3", "--store", store)
    assert result.code == 0
    assert "nothing moved: bc@champion already points at bc/3" in result.out
    assert aliases_and_history(store) == before


def test_promote_to_another_alias(cli, store: Path) -> None:
    assert cli("models", "promote", "bc/1", "--alias", "staging", "--store", store).code == 0
    staged = json.loads(cli("models", "show", "bc@staging", "--store", store, "--json").out)
    assert staged["version"] == 1 and staged["aliases"] == ["staging"]
    assert champion(store) == 3
    listed = json.loads(cli("models", "list", "--store", store, "--json").out)
    assert listed["models"][0]["aliases"] == {"champion": 3, "staging": 1}


# rollback -------------------------------------------------------------------------


def test_rollback_walks_back_through_history_like_an_undo_stack(cli, store: Path) -> None:
    # history so far: (none -> 1 gate), (1 -> 3 gate); add a manual promote 3 -> 1
    assert cli("models", "promote", "bc/1", "--store", store).code == 0

    first = cli("models", "rollback", "bc", "--store", store, "--json")
    assert first.code == 0, first.err
    undo = json.loads(first.out)
    assert (undo["from_version"], undo["to_version"], undo["reason"]) == (1, 3, "rollback")
    assert undo["undid"]["reason"] == "manual promote" and undo["next_rollback_to"] == 1
    assert champion(store) == 3

    second = cli("models", "rollback", "bc", "--reason", "bad release", "--store", store)
    assert second.code == 0
    assert "bc@champion: 3 -> 1" in second.out
    assert "a further rollback has nothing to return to" in second.out
    assert champion(store) == 1

    before = aliases_and_history(store)
    third = cli("models", "rollback", "bc", "--store", store)
    assert third.code == 2
    assert "bc@champion has nothing to roll back to: version 1 is the first" in third.err
    assert aliases_and_history(store) == before

    # a promotion after rollbacks is the first thing the next rollback undoes
    assert cli("models", "promote", "bc/3", "--store", store).code == 0
    assert cli("models", "rollback", "bc", "--store", store).code == 0
    assert champion(store) == 1
    reasons = [r[0] for r in store_rows(store, "SELECT reason FROM alias_history ORDER BY id")]
    assert reasons == [
        "gate passed",
        "gate passed",
        "manual promote",
        "rollback",
        "rollback: bad release",
        "manual promote",
        "rollback",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "models: bc"),
        (["bc", "--alias", "staging"], "model 'bc' has no alias 'staging'; aliases: @champion"),
        (["bc@staging"], "model 'bc' has no alias 'staging'"),
        (["bc/1"], "rollback takes a model name, not a version (bc/1)"),
    ],
)
def test_rollback_of_what_does_not_exist_is_exit_2_and_nothing_moves(
    cli, store: Path, args: list[str], message: str
) -> None:
    before = aliases_and_history(store)
    result = cli("models", "rollback", *args, "--store", store)
    assert result.code == 2
    assert message in result.err
    assert aliases_and_history(store) == before


def test_rollback_help_states_the_rule(cli, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("models", "rollback", "--help")
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "undo stack" in text and "repeated rollbacks walk further back" in text
    assert "exit code 2" in text


def _move(number: int, old: int | None, new: int, reason: str) -> AliasMove:
    return AliasMove(number, "m", "champion", old, new, "t", "x", reason)


def test_undo_stack_pops_on_rollback_and_ignores_moves_that_went_nowhere() -> None:
    history = [
        _move(1, None, 1, "gate passed"),
        _move(2, 1, 2, "gate passed"),
        _move(3, 2, 2, "manual promote"),  # moved nothing: not undoable
        _move(4, 2, 3, "gate passed"),
        _move(5, 3, 2, "rollback"),
        _move(6, 2, 4, "manual promote: try"),
    ]
    assert [m.id for m in undo_stack(history)] == [1, 2, 6]
    assert [m.id for m in undo_stack([*history, _move(7, 4, 2, "rollback: oops")])] == [1, 2]


# store verify / gc ------------------------------------------------------------------


def test_verify_passes_on_a_clean_store(cli, store: Path) -> None:
    result = cli("store", "verify", "--store", store, "--json")
    assert result.code == 0, result.out
    report = json.loads(result.out)
    assert report["ok"] is True and report["problems"] == []
    assert report["checked"]["versions"] == 3 and report["checked"]["blobs"] >= 4
    assert "is consistent" in cli("store", "verify", "--store", store).out


def test_a_changed_artifact_is_named_by_verify_but_show_still_works(cli, store: Path) -> None:
    blob = blob_of(store, 3, "model/model.txt")
    blob.chmod(0o644)
    blob.write_text(blob.read_text().replace("tree", "TREE", 1))

    assert cli("models", "show", "bc/3", "--store", store).code == 0  # lists, does not load
    result = cli("store", "verify", "--store", store, "--json")
    assert result.code == 1
    problem = next(p for p in json.loads(result.out)["problems"] if "bc/3" in p["where"])
    assert problem["kind"] == "corrupt_blob"
    assert problem["where"] == "model bc/3 file model/model.txt"
    assert problem["path"] == str(blob)
    table = cli("store", "verify", "--store", store)
    assert table.code == 1 and "model bc/3 file model/model.txt" in table.out
    assert "problem" in table.out and "found" in table.out


def test_verify_finds_missing_blobs_dangling_aliases_and_orphan_versions(cli, store: Path) -> None:
    blob_of(store, 1, "model.json").unlink()
    store_execute(store, "INSERT INTO aliases VALUES ('bc', 'staging', 7, 'now')")
    store_execute(store, "UPDATE model_versions SET run_id = 'gone' WHERE version = 2")
    store_execute(store, "UPDATE aliases SET version = 2 WHERE alias = 'champion'")

    result = cli("store", "verify", "--store", store, "--json")
    assert result.code == 1
    found = {(p["kind"], p["where"]) for p in json.loads(result.out)["problems"]}
    assert ("missing_blob", "model bc/1 file model.json") in found
    assert ("dangling_alias", "alias bc@staging") in found
    assert ("alias_to_unregistered", "alias bc@champion") in found
    assert ("alias_history_mismatch", "alias bc@champion") in found
    assert ("orphan_version", "bc/2") in found


def make_leftovers(store: Path) -> tuple[Path, Path, Path]:
    """An unreferenced blob, a half-written blob and a package directory a kill left."""
    source = store.parent / "orphan.txt"
    source.write_text("nobody names me")
    opened = Store.open_existing(store)
    try:
        digest = opened.artifacts.put_file(source)
        blob = opened.artifacts.path_of(digest)
    finally:
        opened.close()
    incoming = store / "artifacts" / ".incoming-abc123"
    incoming.write_bytes(b"x" * 10)
    package = store / ".package-xyz" / "package"
    package.mkdir(parents=True)
    (package / "model.json").write_bytes(b"y" * 20)
    return blob, incoming, package.parent


def test_gc_lists_then_deletes_only_what_nothing_references(cli, store: Path) -> None:
    blob, incoming, package = make_leftovers(store)
    referenced = store_rows(store, "SELECT f.value FROM model_versions, json_each(files_json) f")

    young = cli("store", "gc", "--store", store, "--json")  # default --min-age: all too young
    assert young.code == 0
    assert json.loads(young.out)["garbage"] == [] and len(json.loads(young.out)["kept_young"]) == 3

    dry = cli("store", "gc", "--min-age", "0", "--store", store, "--json")
    report = json.loads(dry.out)
    listed = {(g["kind"], g["path"], g["size"]) for g in report["garbage"]}
    assert listed == {
        ("blob", str(blob), len("nobody names me")),
        ("temp", str(incoming), 10),
        ("temp", str(package), 20),
    }
    assert report["deleted"] == [] and blob.exists() and package.exists()
    table = cli("store", "gc", "--min-age", "0", "--store", store)
    assert "dry run: nothing deleted (--apply deletes them)" in table.out
    assert "unreferenced blob" in table.out and ".package-xyz" in table.out

    applied = cli("store", "gc", "--min-age", "0", "--apply", "--store", store, "--json")
    assert applied.code == 0
    assert len(json.loads(applied.out)["deleted"]) == 3
    assert not blob.exists() and not incoming.exists() and not package.exists()
    for (digest,) in referenced:
        assert (store / "artifacts" / digest[:2] / digest[2:]).is_file()
    assert cli("store", "verify", "--store", store).code == 0
    assert "nothing to collect" in cli("store", "gc", "--min-age", "0", "--store", store).out


def test_gc_refuses_a_negative_min_age_and_deletes_nothing(cli, store: Path) -> None:
    blob, incoming, package = make_leftovers(store)
    result = cli("store", "gc", "--min-age", "-1", "--apply", "--store", store)
    assert result.code == 2 and "--min-age must be 0 or more seconds, not -1" in result.err
    assert blob.exists() and incoming.exists() and package.exists()


def test_gc_keeps_a_blob_a_version_started_naming_after_it_looked(store: Path) -> None:
    from framework.store.integrity import collect, find_garbage

    blob, _, _ = make_leftovers(store)
    opened = Store.open_existing(store)
    try:
        garbage = find_garbage(opened)
        assert blob in [g.path for g in garbage]
        digest = blob.parent.name + blob.name
        with opened.transaction() as db:  # a run registers a version naming that blob
            db.execute(
                "UPDATE model_versions SET files_json = json_set(files_json, '$.extra', ?)"
                " WHERE version = 1",
                (digest,),
            )
        deleted = collect(opened, garbage)
    finally:
        opened.close()
    assert blob.exists() and blob not in [g.path for g in deleted]


def test_a_version_restores_a_blob_gc_removed_before_its_row_was_written(
    store: Path, tmp_path: Path
) -> None:
    package = tmp_path / "package"
    package.mkdir()
    (package / "model.json").write_text('{"fresh": true}')
    opened = Store.open_existing(store)
    put_file = opened.artifacts.put_file
    calls: list[Path] = []

    def put_then_lose(path: Path) -> str:  # gc ran between put_file and the transaction
        digest = put_file(path)
        if not calls:
            opened.artifacts.path_of(digest).unlink()
        calls.append(path)
        return digest

    opened.artifacts.put_file = put_then_lose  # type: ignore[method-assign]
    try:
        run_id = opened.versions("bc")[0].run_id
        version = opened.add_version(
            name="bc",
            run_id=run_id,
            status="rejected",
            model_type="lightgbm",
            package_dir=package,
            signature={},
            metrics={},
            lineage={},
        )
        assert opened.artifacts.path_of(version.files["model.json"]).is_file()
        assert calls == [package / "model.json"] * 2  # stored again under the lock
    finally:
        opened.close()


def test_registry_commands_import_no_data_library(store: Path) -> None:
    code = (
        "import sys\n"
        "from framework.cli.main import main\n"
        f"store = {str(store)!r}\n"
        "for argv in (['models', 'list'], ['models', 'show', 'bc'], ['runs', 'list'],\n"
        "             ['store', 'verify'], ['store', 'gc']):\n"
        "    assert main([*argv, '--store', store, '--json']) == 0, argv\n"
        "heavy = {'pandas', 'numpy', 'sklearn', 'lightgbm', 'pyarrow', 'skops', 'rich'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
