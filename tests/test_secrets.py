"""Values from ``${env:...}`` are never stored, shown or logged; URL passwords are masked.

Each test runs the real CLI on a real store, then looks for the secret in every byte
the command left behind (the store's database, its WAL, its blobs) and in everything
it printed, on stdout and stderr, as text and as ``--json``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from framework.redact import hide_credentials, redact, remember, scope, scrub
from tests.helpers import breast_cancer_spec, store_rows

PASSWORD = "p/ss@w0rd"  # a '/' and an '@': the old pattern stopped at either
QUERY_SECRET = "Qs3cretTok"
DB_URL = f"nosuchdb://app:{PASSWORD}@db.internal/sales?password={QUERY_SECRET}&sslmode=require"
SECRETS = (PASSWORD, QUERY_SECRET, "p%2Fss%40w0rd", DB_URL)


def every_byte(store: Path) -> bytes:
    """Everything a store holds on disk: database, WAL, blobs."""
    return b"".join(p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file())


def assert_nowhere(secrets: tuple[str, ...], *texts: str | bytes) -> None:
    for text in texts:
        data = text if isinstance(text, bytes) else text.encode()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} leaked"


def last_run(store: Path) -> str:
    return store_rows(store, "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")[0][0]


SQL_SPEC = """
name: sales
task: binary
data:
  source: {type: sql, params: {url: "${env:DB_URL}", table: orders}}
  target: churned
model: {type: lightgbm}
"""


def test_a_database_url_from_the_environment_is_never_stored_or_shown(
    cli, cli_process, write_spec, monkeypatch
) -> None:
    pytest.importorskip("sqlalchemy")
    monkeypatch.setenv("DB_URL", DB_URL)
    spec = write_spec(SQL_SPEC)
    store = spec.parent / ".specops"

    plan, plan_json = cli("plan", spec), cli("plan", spec, "--json")
    run = cli("run", spec)
    run_json = cli("run", spec, "--json")
    debug = cli_process("run", spec, "--debug")  # a traceback, hook tracing: its own process
    assert run.code == run_json.code == debug.code == 2
    assert "cannot use database url" in run.err  # the error still says what went wrong
    shown = cli("runs", "show", last_run(store), "--store", store, "--json")
    table = cli("runs", "show", last_run(store), "--store", store)
    listed = cli("runs", "list", "--store", store, "--json")
    first, second = [r for (r,) in store_rows(store, "SELECT id FROM runs")][:2]
    diff = cli("runs", "diff", first, second, "--store", store, "--json")

    outputs = [plan, plan_json, run, run_json, debug, shown, table, listed, diff]
    assert_nowhere(SECRETS, every_byte(store), *(r.out + r.err for r in outputs))
    report = json.loads(shown.out)
    assert report["params"]["data.source.params.url"] == "${env:DB_URL}"
    assert "password=***" in report["error"] and ":***@" in report["error"]
    assert json.loads(plan_json.out)["steps"][0]["params"]["url"] == "${env:DB_URL}"
    spec_json = store_rows(store, "SELECT spec_json FROM runs LIMIT 1")[0][0]
    assert json.loads(spec_json)["data"]["source"]["params"]["url"] == "${env:DB_URL}"

    # the stored spec hash is no oracle: another password, the same hash; another host
    # (not a secret) still tells the runs apart
    monkeypatch.setenv("DB_URL", DB_URL.replace(PASSWORD, "0ther-pw"))
    assert cli("run", spec, "--json").code == 2
    assert len({h for (h,) in store_rows(store, "SELECT spec_hash FROM runs")}) == 1
    monkeypatch.setenv("DB_URL", DB_URL.replace("db.internal", "db2.internal"))
    assert cli("run", spec, "--json").code == 2
    assert len({h for (h,) in store_rows(store, "SELECT spec_hash FROM runs")}) == 2


def test_a_literal_url_password_with_a_slash_is_masked_in_plan_and_store(cli, write_spec) -> None:
    pytest.importorskip("sqlalchemy")
    spec = write_spec(SQL_SPEC.replace("${env:DB_URL}", DB_URL))
    store = spec.parent / ".specops"
    plan = cli("plan", spec, "--json")
    run = cli("run", spec, "--json")
    assert run.code == 2
    assert_nowhere((PASSWORD, QUERY_SECRET), plan.out, run.out, run.err, every_byte(store))
    url = json.loads(plan.out)["steps"][0]["params"]["url"]
    assert url == "nosuchdb://app:***@db.internal/sales?password=***&sslmode=require"
    params = json.loads(cli("runs", "show", last_run(store), "--store", store, "--json").out)
    assert params["params"]["data.source.params.url"] == url


def test_an_error_quoting_a_path_from_the_environment_stores_the_placeholder(
    cli, write_spec, monkeypatch, tmp_path: Path
) -> None:
    hidden = tmp_path / "Hidden-Customer-Dir"
    hidden.mkdir()
    database = hidden / "sales.db"
    database.write_bytes(b"this is not a SQLite database, but it exists" * 100)
    monkeypatch.setenv("SALES_DB", str(database))
    spec = write_spec(SQL_SPEC.replace('url: "${env:DB_URL}"', 'path: "${env:SALES_DB}"'))
    store = spec.parent / ".specops"

    run = cli("run", spec, "--json")
    assert run.code == 2
    shown = cli("runs", "show", last_run(store), "--store", store, "--json")
    assert_nowhere(("Hidden-Customer-Dir",), run.out, run.err, shown.out, every_byte(store))
    error = json.loads(shown.out)["error"]
    assert "SQLite database ${env:SALES_DB}: file is not a database" in error

    database.unlink()  # now validation finds it missing, and says so by placeholder
    missing = cli("validate", spec)
    missing_json = cli("run", spec, "--json")
    assert missing.code == missing_json.code == 2
    assert "data file not found: ${env:SALES_DB}" in missing.err
    assert_nowhere(("Hidden-Customer-Dir",), missing.err, missing_json.out, missing_json.err)


def test_check_params_from_the_environment_stay_out_of_outcomes(
    cli, write_spec, monkeypatch
) -> None:
    monkeypatch.setenv("MIN_ROWS", "987654")
    monkeypatch.setenv("NEEDED_COLUMN", "Zq7_internal_column")
    spec = write_spec(
        breast_cancer_spec(n_estimators=5).replace(
            "model:",
            "checks:\n"
            "  - {type: row_count, params: {min: '${env:MIN_ROWS}'}}\n"
            "  - {type: required_columns, params: {columns: ['${env:NEEDED_COLUMN}']}}\n"
            "model:",
        )
    )
    store = spec.parent / ".specops"
    run = cli("run", spec)
    run_json = cli("run", spec, "--json")
    assert run.code == run_json.code == 1  # the checks said no
    shown = cli("runs", "show", last_run(store), "--store", store, "--json")
    secrets = ("987654", "Zq7_internal_column")
    assert_nowhere(secrets, run.out, run.err, run_json.out, shown.out, every_byte(store))
    checks = {c["check"]: c for c in json.loads(run_json.out)["checks"]}
    assert checks["row_count"]["expected"] == ">= ${env:MIN_ROWS}"
    assert "fewer than ${env:MIN_ROWS}" in checks["row_count"]["detail"]
    assert checks["required_columns"]["column"] == "${env:NEEDED_COLUMN}"


def test_reproduce_refills_the_placeholders_from_the_environment(
    cli, write_spec, monkeypatch
) -> None:
    monkeypatch.setenv("MAX_ROWS", "7654321")
    spec = write_spec(
        breast_cancer_spec(n_estimators=5).replace(
            "model:", "checks:\n  - {type: row_count, params: {max: '${env:MAX_ROWS}'}}\nmodel:"
        )
    )
    store = spec.parent / ".specops"
    assert cli("run", spec).code == 0
    result = cli("reproduce", last_run(store), "--store", store, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["matched"] is True
    assert_nowhere(("7654321",), result.out, result.err, every_byte(store))


def test_monitor_checks_from_the_environment_stay_out_of_records_and_reports(
    cli, write_spec, monkeypatch, tmp_path: Path
) -> None:
    from sklearn.datasets import load_breast_cancer

    batch = tmp_path / "batch.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(batch, index=False)
    monkeypatch.setenv("MON_COLUMN", "Mon_Secret_Column")
    monkeypatch.setenv("MON_MIN", "987654")
    spec = write_spec(
        breast_cancer_spec(n_estimators=5)
        + "monitor:\n  checks:\n"
        + '    - {type: required_columns, params: {columns: ["${env:MON_COLUMN}"]}}\n'
        + '    - {type: row_count, params: {min: "${env:MON_MIN}"}}\n'
    )
    assert cli("run", spec).code == 0
    report = tmp_path / "report.html"
    monitored = cli("monitor", spec, "--data", batch, "--report", report)
    as_json = cli("monitor", spec, "--data", batch, "--json")
    assert monitored.code == as_json.code == 1, monitored.err  # the checks said no
    texts = (monitored.out, monitored.err, as_json.out, report.read_text())
    secrets = ("Mon_Secret_Column", "987654")
    assert_nowhere(secrets, *texts, every_byte(spec.parent / ".specops"))
    assert "${env:MON_COLUMN}" in as_json.out and "${env:MON_MIN}" in as_json.out


def test_a_part_of_a_url_from_the_environment_quoted_alone_is_not_stored_or_shown(
    cli, write_spec, monkeypatch, tmp_path: Path
) -> None:
    """A driver's message quotes the URL's path or host on its own ("SQLite database not
    found: /srv/...db"): only the whole URL and its password were remembered."""
    missing = tmp_path / "Private-Finance-Share" / "ledger.db"
    monkeypatch.setenv("LEDGER_URL", f"sqlite:///{missing}?password=Pw-Ledger-9")
    spec = write_spec(SQL_SPEC.replace("${env:DB_URL}", "${env:LEDGER_URL}"))

    run, as_json = cli("run", spec), cli("run", spec, "--json", "--debug")

    assert run.code == as_json.code == 2, run.err
    assert "SQLite database not found: ${env:LEDGER_URL}" in run.err
    texts = (run.out, run.err, as_json.out, as_json.err)
    assert_nowhere(
        ("Private-Finance-Share", "Pw-Ledger-9"), *texts, every_byte(tmp_path / ".specops")
    )


def test_numbers_from_the_environment_stay_out_of_gate_and_drift_records(
    cli, write_spec, monkeypatch, tmp_path: Path
) -> None:
    """A gate threshold, a drift share and a drift test's threshold from the environment:
    all three are numbers (two of them were refused as text: only the first placeholder
    of the spec's core was read as a number), and the store kept their values inside
    JSON records, the monitor's column rows and its report blob."""
    from sklearn.datasets import load_breast_cancer

    batch = tmp_path / "batch.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(batch, index=False)
    values = {"GATE_MIN": "0.80000041", "SHARE": "0.30000017", "PSI": "0.20000023"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    spec = write_spec(
        breast_cancer_spec(n_estimators=5).replace("min: 0.9,", 'min: "${env:GATE_MIN}",')
        + "monitor:\n  drift:\n    share: ${env:SHARE}\n    columns:\n"
        + '      prediction: {type: psi, params: {threshold: "${env:PSI}"}}\n'
    )
    assert cli("run", spec).code == 0
    report = tmp_path / "report.html"
    monitored = cli("monitor", spec, "--data", batch, "--report", report, "--json")
    history = cli("monitor", "history", "bc", "--store", spec.parent / ".specops")
    history_json = cli("monitor", "history", "bc", "--store", spec.parent / ".specops", "--json")

    assert monitored.code == 0, monitored.err
    assert history.code == history_json.code == 0, history.err
    texts = (monitored.out, monitored.err, history.out, history_json.out, report.read_text())
    assert_nowhere(tuple(values.values()), *texts, every_byte(spec.parent / ".specops"))
    assert "${env:PSI}" in history_json.out


def test_a_tracker_plugin_sees_placeholders_not_values(
    monkeypatch, write_spec, tmp_path: Path
) -> None:
    """Third-party trackers get the same scrubbed step details and outputs the store keeps."""
    from framework.engine import Engine
    from framework.errors import DataError
    from framework.plugins import get_plugins, hookimpl
    from framework.spec import load_spec

    seen: list[str] = []

    class Tracker:
        @hookimpl
        def specops_step_error(self, run, step, error) -> None:
            seen.extend([step.detail, str(error)])

        @hookimpl
        def specops_run_end(self, run) -> None:
            seen.append(json.dumps(run.outputs, default=str))

    empty = tmp_path / "Secret-Mount" / "sales.csv"
    empty.parent.mkdir()
    empty.write_text("")
    monkeypatch.setenv("SALES_CSV", str(empty))
    spec_text = breast_cancer_spec(n_estimators=5).replace(
        "{type: sklearn_dataset, params: {name: breast_cancer}}",
        "{type: csv, params: {path: '${env:SALES_CSV}'}}",
    )
    plugins = get_plugins()
    tracker = Tracker()
    plugins.register(tracker, name="test-secrets-tracker")
    try:
        with scope(), pytest.raises(DataError):
            Engine(load_spec(write_spec(spec_text), plugins), plugins).run()
    finally:
        plugins.unregister(tracker)
    assert seen and all("Secret-Mount" not in text for text in seen)
    assert "CSV file is empty: ${env:SALES_CSV}" in seen[0]


def test_plan_and_run_tables_show_no_part_of_a_long_value(
    cli, write_spec, monkeypatch, tmp_path: Path
) -> None:
    """A table cell wraps or is cut where the terminal ends: redaction happens before."""
    store = tmp_path / "Confidential-Mount-Point-Of-The-Team" / "nested" / ".specops"
    monkeypatch.setenv("STORE_DIR", str(store))
    monkeypatch.setenv("COLUMNS", "70")
    spec = write_spec(
        breast_cancer_spec(n_estimators=5).replace(
            "model:", 'store: {path: "${env:STORE_DIR}"}\nmodel:'
        )
    )
    plan, run = cli("plan", spec), cli("run", spec)
    assert plan.code == run.code == 0, run.err
    assert "store=${env:" in plan.out  # the rest may wrap onto the next line
    assert_nowhere(("Confidential",), plan.out, plan.err, run.out, run.err)


def test_names_from_the_environment_stay_usable_in_the_registry(
    cli, write_spec, monkeypatch
) -> None:
    """A model name and an alias identify things; redacting them would lose the model."""
    monkeypatch.setenv("MODEL_NAME", "churn-staging")
    monkeypatch.setenv("ALIAS", "candidate")
    spec = write_spec(
        breast_cancer_spec(n_estimators=5)
        .replace("name: bc", 'name: "${env:MODEL_NAME}"')
        .replace("gate:", 'deploy: {type: registry, params: {alias: "${env:ALIAS}"}}\ngate:')
    )
    store = spec.parent / ".specops"
    assert cli("run", spec).code == 0
    shown = cli("models", "show", "churn-staging@candidate", "--store", store, "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["name"] == "churn-staging"


# -- the redaction rules, unit by unit ----------------------------------------------


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("postgresql://app:p/ss@h/db", "postgresql://app:***@h/db"),
        ("postgresql://app:p@ss@h/db", "postgresql://app:***@h/db"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "postgresql://app@h/db?password=X1&sslmode=require",
            "postgresql://app@h/db?password=***&sslmode=require",
        ),
        ("https://h/x?token=abc;pwd=def", "https://h/x?token=***;pwd=***"),
        ("host=h password=s3 dbname=d", "host=h password=*** dbname=d"),
        ("failed on mysql://u:pw@h/db: refused", "failed on mysql://u:***@h/db: refused"),
        ("postgresql://app:${env:PW}@h/db", "postgresql://app:${env:PW}@h/db"),
        ("mail a@b.com and c=d", "mail a@b.com and c=d"),
    ],
)
def test_hide_credentials(written: str, shown: str) -> None:
    assert hide_credentials(written) == shown
    assert hide_credentials({"k": [written]}) == {"k": [shown]}


def test_short_values_are_redacted_only_where_they_stand_alone() -> None:
    with scope():
        remember("MIN_ROWS", "5000")
        remember("FLAG", "1")  # not a secret: every "1" would go
        remember("PIN", "427", key="password")  # short, but its key says secret
        remember("PW", "x", key="password")  # too short to protect anything: not hidden
        remember("TOKEN", "abcdefgh12345")
        assert redact(">= 5000 rows, 50000 seen, 5000.0") == (
            ">= ${env:MIN_ROWS} rows, 50000 seen, ${env:MIN_ROWS}"
        )
        assert redact("1 of 1") == "1 of 1"
        assert redact("pin 427, 4270") == "pin ${env:PIN}, 4270"
        assert redact("569 rows x 31 columns") == "569 rows x 31 columns"
        assert redact("xxabcdefgh12345yy") == "xx${env:TOKEN}yy"
        assert redact({"a": ["abcdefgh12345"]}) == {"a": ["${env:TOKEN}"]}
        remember("SHORT", "ab12")  # a glued short value must not hide a long one after it
        remember("LONG", "12secretvalue")
        assert redact("xab12secretvalue, ab12") == "xab${env:LONG}, ${env:SHORT}"
    assert redact("abcdefgh12345") == "abcdefgh12345"  # the command's scope has ended


def test_encoded_forms_and_url_parts_are_redacted() -> None:
    with scope():
        remember("DB_URL", DB_URL, key="url")
        remember("DATA", "./data/Private_Folder/x.csv", key="path")
        quoted = "nosuchdb%3A%2F%2Fapp%3Ap%2Fss%40w0rd%40db.internal"
        assert "${env:DB_URL}" in redact(f"u={DB_URL}")
        assert QUERY_SECRET not in scrub(
            "nosuchdb://app:***@db.internal/sales?password=" + QUERY_SECRET
        )
        assert redact(f"decoded {PASSWORD} here") == "decoded *** here"
        assert "p%2Fss" not in redact(f"{quoted}%2Fsales")
        assert redact("/abs/data/Private_Folder/x.csv") == "/abs/${env:DATA}"
        assert redact(json.dumps({"p": DB_URL})) == '{"p": "${env:DB_URL}"}'


def test_the_store_connection_redacts_every_write(tmp_path: Path) -> None:
    from framework.redact import RedactingConnection

    db = sqlite3.connect(tmp_path / "x.db", factory=RedactingConnection, isolation_level=None)
    db.execute("CREATE TABLE t (a TEXT)")
    with scope():
        remember("SECRET", 'sec"ret\\value')
        db.execute("INSERT INTO t VALUES (?)", ('say sec"ret\\value',))
        db.executemany("INSERT INTO t VALUES (?)", [(json.dumps({"k": 'sec"ret\\value'}),)])
        db.cursor().execute("INSERT INTO t VALUES (:a)", {"a": 'sec"ret\\value!'})
    rows = [r[0] for r in db.execute("SELECT a FROM t")]
    assert rows == ["say ${env:SECRET}", '{"k": "${env:SECRET}"}', "${env:SECRET}!"]
    assert json.loads(rows[1]) == {"k": "${env:SECRET}"}
