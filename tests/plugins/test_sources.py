"""The built-in sources, on real files written to tmp_path."""

from __future__ import annotations

import importlib.util
import re
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from framework import DataError, StepContext
from plugins import sources
from plugins.sources import (
    CsvSource,
    ParquetSource,
    SklearnDatasetSource,
    SnapshotSource,
    SqlSource,
)
from tests.helpers import heavy_imports

HAS_SQLALCHEMY = importlib.util.find_spec("sqlalchemy") is not None


@pytest.fixture
def ctx(tmp_path: Path) -> StepContext:
    return StepContext(spec_name="t", task="binary", target="target", base_dir=tmp_path)


@pytest.fixture
def people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31, 45, 27],
            "city": ["Oslo", "Lima", None],
            "joined": ["2021-01-05", "2022-03-10", "2023-07-01"],
        }
    )


def test_registers_every_source_with_a_valid_schema() -> None:
    registered: dict[str, Any] = {}

    def register(type_name: str, factory: Any, params_schema: Any = None, *, summary: str = ""):
        registered[type_name] = (factory, params_schema, summary)

    sources.specops_register_sources(register)

    assert set(registered) == {"csv", "parquet", "sql", "sklearn_dataset", "snapshot"}
    for factory, schema, summary in registered.values():
        Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False
        assert callable(factory) and summary


@pytest.mark.parametrize("module", ["plugins.sources", "plugins.checks", "plugins.splits"])
def test_registering_imports_no_heavy_library(module: str) -> None:
    heavy = ("pandas", "numpy", "sklearn", "pyarrow", "sqlalchemy")

    assert heavy_imports([module], heavy) == []


# ---------------------------------------------------------------------------
# csv
# ---------------------------------------------------------------------------


def test_csv_reads_relative_to_the_spec_with_dates_and_na_values(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path
) -> None:
    people.assign(age=["31", "?", "27"]).to_csv(tmp_path / "people.csv", index=False)
    source = CsvSource(path="people.csv", na_values=["?"], parse_dates=["joined"])

    frame = source.load(ctx)

    assert list(frame.columns) == ["age", "city", "joined"]
    assert frame["age"].isna().tolist() == [False, True, False]
    assert frame["age"].dtype == "float64"
    assert pd.api.types.is_datetime64_any_dtype(frame["joined"])
    assert frame["joined"].iloc[1] == pd.Timestamp("2022-03-10")
    assert frame["city"].tolist()[:2] == ["Oslo", "Lima"]
    assert source.validate(ctx) == []
    assert "people.csv" in source.describe()


def test_csv_columns_and_separator(ctx: StepContext, people: pd.DataFrame, tmp_path: Path) -> None:
    people.to_csv(tmp_path / "people.tsv", sep="\t", index=False)

    frame = CsvSource(path="people.tsv", sep="\t", columns=["city", "age"]).load(ctx)

    assert list(frame.columns) == ["city", "age"]  # the spec's order, not the file's
    assert frame["age"].tolist() == [31, 45, 27]


def test_csv_missing_file_is_a_finding_and_a_data_error(ctx: StepContext, tmp_path: Path) -> None:
    source = CsvSource(path="nowhere.csv")

    [finding] = source.validate(ctx)
    assert finding.key == "path"
    assert finding.message == f"data file not found: {tmp_path / 'nowhere.csv'}"
    with pytest.raises(DataError, match=r"data file not found: .*nowhere.csv"):
        source.load(ctx)


def test_csv_misspelt_column_names_it_and_suggests(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path
) -> None:
    people.to_csv(tmp_path / "people.csv", index=False)

    suggestion = "'agee' not found in people.csv; did you mean 'age'?"
    with pytest.raises(DataError, match=re.escape(suggestion)):
        CsvSource(path="people.csv", columns=["agee"]).load(ctx)


@pytest.mark.parametrize(
    ("content", "params", "message"),
    [
        (b"", {}, "CSV file is empty"),
        (b"a,b\n", {}, "has no rows"),
        (b"name\ncaf\xe9\n", {}, "cannot decode .* as utf-8"),
        (b'a,b\n1,2\n3,"4\n', {}, "cannot parse CSV file"),
    ],
)
def test_csv_unreadable_files_raise_data_error_naming_the_file(
    ctx: StepContext, tmp_path: Path, content: bytes, params: dict[str, Any], message: str
) -> None:
    (tmp_path / "bad.csv").write_bytes(content)

    with pytest.raises(DataError, match=message) as caught:
        CsvSource(path="bad.csv", **params).load(ctx)
    assert "bad.csv" in caught.value.message


def test_csv_misspelt_parse_dates_column_names_it(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path
) -> None:
    people.to_csv(tmp_path / "people.csv", index=False)

    suggestion = "column 'joind' not found in people.csv; did you mean 'joined'?"
    with pytest.raises(DataError, match=re.escape(suggestion)) as caught:
        CsvSource(path="people.csv", parse_dates=["joind"]).load(ctx)
    assert caught.value.column == "joind"


def test_csv_good_file_is_read_once(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header is read apart only to explain a failed read, never on every load."""
    people.to_csv(tmp_path / "people.csv", index=False)
    reads: list[dict[str, Any]] = []
    read_csv = pd.read_csv

    def counting(*args: Any, **kwargs: Any) -> pd.DataFrame:
        reads.append(kwargs)
        return read_csv(*args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", counting)

    CsvSource(path="people.csv", columns=["city", "age"], parse_dates=[]).load(ctx)

    assert len(reads) == 1


def test_csv_findings_for_a_directory_and_unread_date_columns(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "folder.csv").mkdir()
    people.to_csv(tmp_path / "people.csv", index=False)

    [directory] = CsvSource(path="folder.csv").validate(ctx)
    [unread] = CsvSource(path="people.csv", columns=["age"], parse_dates=["joined"]).validate(ctx)

    assert directory.key == "path"
    assert directory.message == (
        f"expected a CSV file but found a directory: {tmp_path / 'folder.csv'}"
    )
    assert unread.key == "parse_dates"
    assert unread.message == "parse_dates names columns not listed in columns: joined"


def test_csv_encoding_param_reads_latin1(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(b"name\ncaf\xe9\n")

    frame = CsvSource(path="latin.csv", encoding="latin-1").load(ctx)

    assert frame["name"].tolist() == ["café"]


# ---------------------------------------------------------------------------
# parquet
# ---------------------------------------------------------------------------


def test_parquet_file_keeps_dtypes_and_reads_chosen_columns(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path
) -> None:
    people.assign(joined=pd.to_datetime(people["joined"])).to_parquet(tmp_path / "p.parquet")

    whole = ParquetSource(path="p.parquet").load(ctx)
    some = ParquetSource(path="p.parquet", columns=["joined", "age"]).load(ctx)

    assert whole["age"].tolist() == [31, 45, 27]
    assert pd.api.types.is_datetime64_any_dtype(whole["joined"])
    assert list(some.columns) == ["joined", "age"]


def test_parquet_directory_reads_every_file(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "parts").mkdir()
    people.iloc[:2].to_parquet(tmp_path / "parts" / "a.parquet", index=False)
    people.iloc[2:].to_parquet(tmp_path / "parts" / "b.parquet", index=False)

    frame = ParquetSource(path="parts").load(ctx)

    assert sorted(frame["age"].tolist()) == [27, 31, 45]


def test_parquet_errors(ctx: StepContext, people: pd.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "junk.parquet").write_text("not parquet at all")
    people.to_parquet(tmp_path / "p.parquet")

    [finding] = ParquetSource(path="gone.parquet").validate(ctx)
    assert finding.key == "path" and "gone.parquet" in finding.message
    with pytest.raises(DataError, match=r"cannot read Parquet (data|file) .*junk.parquet"):
        ParquetSource(path="junk.parquet").load(ctx)
    suggestion = "'cty' not found in p.parquet; did you mean 'city'?"
    with pytest.raises(DataError, match=re.escape(suggestion)):
        ParquetSource(path="p.parquet", columns=["cty"]).load(ctx)


def test_parquet_partition_columns_can_be_chosen(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path
) -> None:
    """A hive partition key (``region=n/``) is a column like any other, as pandas reads it."""
    regions = people.assign(region=["n", "s", "n"]).drop(columns="city")
    regions.to_parquet(tmp_path / "parts", partition_cols=["region"], index=False)

    frame = ParquetSource(path="parts", columns=["region", "age"]).load(ctx)

    assert list(frame.columns) == ["region", "age"]
    assert sorted(zip(frame["age"], frame["region"].astype(str), strict=True)) == [
        (27, "n"),
        (31, "n"),
        (45, "s"),
    ]
    suggestion = "column 'regoin' not found in parts; did you mean 'region'?"
    with pytest.raises(DataError, match=re.escape(suggestion)):
        ParquetSource(path="parts", columns=["regoin", "age"]).load(ctx)


# ---------------------------------------------------------------------------
# sql
# ---------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path, people: pd.DataFrame) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        people.to_sql("people", connection, index=False)
    return path


def test_sqlite_table_and_query(ctx: StepContext, database: Path) -> None:
    table = SqlSource(path="shop.db", table="people").load(ctx)
    query = SqlSource(path="shop.db", query="SELECT age FROM people WHERE age > 30").load(ctx)

    assert table["city"].tolist()[:2] == ["Oslo", "Lima"]
    assert table["age"].tolist() == [31, 45, 27]
    assert query["age"].tolist() == [31, 45]
    assert "shop.db" in SqlSource(path="shop.db", table="people").describe()


def test_sqlite_is_opened_read_only(ctx: StepContext, database: Path) -> None:
    with pytest.raises(DataError, match="must be a SELECT"):
        SqlSource(path="shop.db", query="DELETE FROM people RETURNING age").load(ctx)

    assert SqlSource(path="shop.db", table="people").load(ctx).shape[0] == 3


WRITES = {
    "drop": "DROP TABLE people",
    "vacuum_into": "VACUUM INTO '{dir}/copy.db'",
    "attach": "ATTACH '{dir}/attached.db' AS other",
    "second_statement": "SELECT 1; DROP TABLE people",
    "cte_insert": "WITH x AS (INSERT INTO people (age) VALUES (1) RETURNING age) SELECT * FROM x",
    "pragma": "PRAGMA journal_mode = delete",
    "select_into": "SELECT * INTO backup FROM people",
    "commented": "SELECT 1 /* ; */ ; -- fine\nDELETE FROM people",
    "backslash_string": "SELECT 'x\\'' ; DROP TABLE people; -- '",
}
WRITES_SQLITE_RUNS = {k: v for k, v in WRITES.items() if k != "backslash_string"}
"""SQLite reads no backslash escape: there that last one is a read of two strings."""


@pytest.mark.parametrize("statement", WRITES.values(), ids=WRITES.keys())
def test_statements_that_could_write_are_refused_at_validate(
    ctx: StepContext, database: Path, statement: str
) -> None:
    query = statement.format(dir=database.parent)

    [finding] = SqlSource(path="shop.db", query=query).validate(ctx)

    assert finding.key == "query"
    assert "read" in (finding.hint or "")
    with pytest.raises(DataError, match=re.escape(finding.message)):
        SqlSource(path="shop.db", query=query).load(ctx)
    assert_untouched(database)


def assert_untouched(database: Path) -> None:
    """The table is there with its rows, and no file was created beside the database."""
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM people").fetchone() == (3,)
        tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("people",)]
    assert sorted(p.name for p in database.parent.iterdir()) == ["shop.db"]


READS = [
    "SELECT * FROM people",
    'select age, "update" from (select age, 1 as "update" from people) -- drop',
    "WITH old AS (SELECT * FROM people WHERE age > 30) SELECT * FROM old;",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
    "SELECT people.*, i FROM people JOIN n ON n.i = 1",
    "SELECT age, 'a;b -- DROP' AS note FROM people /* comment */",
]


@pytest.mark.parametrize("query", READS)
def test_reads_pass_validate_and_load(ctx: StepContext, database: Path, query: str) -> None:
    assert SqlSource(path="shop.db", query=query).validate(ctx) == []
    assert len(SqlSource(path="shop.db", query=query).load(ctx)) >= 2


@pytest.mark.parametrize("statement", WRITES_SQLITE_RUNS.values(), ids=WRITES_SQLITE_RUNS.keys())
def test_the_connection_refuses_a_write_that_got_past_validate(
    database: Path, statement: str
) -> None:
    source = SqlSource(path="shop.db", query=statement.format(dir=database.parent))

    with pytest.raises(DataError, match=r"(SQL failed|cannot open).*shop\.db"):
        source._load_sqlite(database)  # the second guard alone, validate bypassed

    assert_untouched(database)


@pytest.mark.skipif(not HAS_SQLALCHEMY, reason="needs SQLAlchemy")
@pytest.mark.parametrize("statement", WRITES_SQLITE_RUNS.values(), ids=WRITES_SQLITE_RUNS.keys())
def test_a_sqlite_url_is_read_only_too(
    database: Path, statement: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(database.parent)  # sqlite:///shop.db is relative to the working dir
    source = SqlSource(url="sqlite:///shop.db", query=statement.format(dir=database.parent))

    with pytest.raises(DataError, match=r"SQL failed on sqlite:///shop\.db"):
        source._load_sqlalchemy("sqlite:///shop.db")

    assert_untouched(database)


def test_query_with_no_rows_or_columns_says_so(ctx: StepContext, database: Path) -> None:
    no_rows = SqlSource(path="shop.db", query="SELECT * FROM people WHERE age > 99")

    with pytest.raises(DataError, match=r"the query on SQLite database .*shop\.db has no rows"):
        no_rows.load(ctx)


def test_sqlite_errors_name_the_database(ctx: StepContext, database: Path) -> None:
    with pytest.raises(DataError, match="no such table: peple") as caught:
        SqlSource(path="shop.db", table="peple").load(ctx)
    assert "shop.db" in caught.value.message
    assert "did you mean 'people'" in (caught.value.hint or "")

    with pytest.raises(DataError, match="has no rows"):
        SqlSource(path="shop.db", query="SELECT * FROM people WHERE age > 99").load(ctx)


def test_sqlite_path_that_is_no_database_says_so(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "folder.db").mkdir()
    (tmp_path / "notes.db").write_text("not a database")

    with pytest.raises(DataError, match=r"cannot open SQLite database .*folder\.db"):
        SqlSource(path="folder.db", table="people").load(ctx)
    with pytest.raises(DataError, match=r"SQL failed on SQLite database .*notes\.db: file is not"):
        SqlSource(path="notes.db", table="people").load(ctx)


def test_sql_findings_without_loading(ctx: StepContext, database: Path) -> None:
    def messages(**params: Any) -> list[tuple[str, str | None]]:
        return [(f.message, f.key) for f in SqlSource(**params).validate(ctx)]

    assert messages(path="shop.db", table="people") == []
    assert messages(path="shop.db") == [("sql source needs exactly one of query or table", None)]
    both = messages(path="shop.db", table="people", query="SELECT 1")
    assert both == [("sql source needs exactly one of query or table", None)]
    injected = messages(path="shop.db", table="people; DROP TABLE people")
    assert injected == [("table 'people; DROP TABLE people' is not a plain table name", "table")]
    [(missing, key)] = messages(path="other.db", table="people")
    assert key == "path" and missing.endswith("other.db")
    assert messages(table="people")[0][0].startswith("sql source needs exactly one of path")


def test_sql_bad_table_name_is_refused_at_load_too(ctx: StepContext, database: Path) -> None:
    with pytest.raises(DataError, match="not a plain table name"):
        SqlSource(path="shop.db", table='people" --').load(ctx)


@pytest.mark.skipif(HAS_SQLALCHEMY, reason="checks the message shown without SQLAlchemy")
def test_sql_url_without_sqlalchemy_says_how_to_install(ctx: StepContext) -> None:
    source = SqlSource(url="postgresql://user:secret@db/shop", table="people")

    [finding] = source.validate(ctx)
    assert finding.key == "url" and finding.hint == "pip install 'specops[sql]'"
    with pytest.raises(DataError) as caught:
        source.load(ctx)
    assert caught.value.hint == "pip install 'specops[sql]'"
    assert "secret" not in source.describe()


@pytest.mark.skipif(not HAS_SQLALCHEMY, reason="needs SQLAlchemy")
def test_sql_url_through_sqlalchemy(ctx: StepContext, database: Path) -> None:
    url = f"sqlite:///{database}"

    assert SqlSource(url=url, table="people").load(ctx)["age"].tolist() == [31, 45, 27]
    frame = SqlSource(url=url, query="SELECT city FROM people WHERE age < 30").load(ctx)
    assert frame["city"].isna().tolist() == [True]
    with pytest.raises(DataError, match=r"SQL failed on .*shop.db: no such table: missing$"):
        SqlSource(url=url, table="missing").load(ctx)


@pytest.mark.skipif(not HAS_SQLALCHEMY, reason="needs SQLAlchemy")
def test_sql_unusable_url_is_a_data_error_without_the_password(ctx: StepContext) -> None:
    with pytest.raises(DataError) as caught:
        SqlSource(url="nosuchdb://user:secret@host/shop", table="people").load(ctx)

    assert caught.value.message.startswith("cannot use database url nosuchdb://user:***@host/shop:")
    assert "secret" not in caught.value.message


# ---------------------------------------------------------------------------
# sklearn_dataset
# ---------------------------------------------------------------------------


def test_sklearn_dataset_iris(ctx: StepContext) -> None:
    codes = SklearnDatasetSource(name="iris").load(ctx)
    names = SklearnDatasetSource(name="iris", target_names=True).load(ctx)

    assert codes.shape == (150, 5)
    assert codes.columns[-1] == "target"
    assert sorted(codes["target"].unique().tolist()) == [0, 1, 2]
    assert set(names["target"]) == {"setosa", "versicolor", "virginica"}
    assert names["target"].dtype == "str"
    assert (names.drop(columns="target") == codes.drop(columns="target")).all().all()


def test_sklearn_dataset_regression_and_findings(ctx: StepContext) -> None:
    diabetes = SklearnDatasetSource(name="diabetes")

    assert diabetes.load(ctx)["target"].dtype == "float64"
    assert diabetes.validate(ctx) == []
    [finding] = SklearnDatasetSource(name="diabetes", target_names=True).validate(ctx)
    assert finding.key == "target_names"
    other_target = StepContext(spec_name="t", task="binary", target="y", base_dir=Path())
    [finding] = SklearnDatasetSource(name="wine").validate(other_target)
    assert finding.hint == "set target: target"


def test_sklearn_dataset_unknown_name_suggests_at_validate_and_load(ctx: StepContext) -> None:
    source = SklearnDatasetSource(name="iriss")

    [finding] = source.validate(ctx)
    assert finding.key == "name"
    assert finding.message == "unknown scikit-learn dataset 'iriss'; did you mean 'iris'?"
    assert finding.hint == "one of: breast_cancer, diabetes, digits, iris, wine"
    with pytest.raises(DataError, match=re.escape(finding.message)):
        source.load(ctx)
    [names] = SklearnDatasetSource(name="diabetes", target_names=True).validate(ctx)
    assert names.message == "diabetes is a regression dataset: it has no class names"


# ---------------------------------------------------------------------------
# snapshot
# ---------------------------------------------------------------------------


def test_snapshot_without_a_store_says_to_set_one(ctx: StepContext) -> None:
    assert ctx.store_root is None

    with pytest.raises(DataError, match=r"the snapshot source needs a store: set params\.store"):
        SnapshotSource(data="abcdef12").load(ctx)


# ---------------------------------------------------------------------------
# globs and directories (read as one table, locally)
# ---------------------------------------------------------------------------


def test_csv_glob_reads_every_match_in_name_order(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "parts").mkdir()
    people.iloc[2:].to_csv(tmp_path / "parts" / "b.csv", index=False)
    people.iloc[:2].to_csv(tmp_path / "parts" / "a.csv", index=False)
    (tmp_path / "parts" / ".hidden.csv").write_text("age\n99\n")

    source = CsvSource(path="parts/*.csv")
    frame = source.load(ctx)

    assert source.validate(ctx) == []
    assert frame["age"].tolist() == [31, 45, 27]  # a.csv, then b.csv; hidden skipped
    assert frame.index.tolist() == [0, 1, 2]


def test_a_glob_matching_nothing_is_a_finding_and_a_data_error(
    ctx: StepContext, tmp_path: Path
) -> None:
    for source in (CsvSource(path="none/*.csv"), ParquetSource(path="none/*.parquet")):
        [finding] = source.validate(ctx)
        assert finding.key == "path"
        assert finding.message == f"no data files match {tmp_path / 'none' / source.path[5:]}"
        with pytest.raises(DataError, match="no data files match"):
            source.load(ctx)


def test_an_empty_parquet_directory_is_a_finding(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    [finding] = ParquetSource(path="empty").validate(ctx)
    assert finding.key == "path"
    assert finding.message == f"directory {tmp_path / 'empty'} holds no Parquet files"
    with pytest.raises(DataError, match="holds no Parquet files"):
        ParquetSource(path="empty").load(ctx)


def test_limits_apply_to_every_file_a_glob_matches(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path
) -> None:
    people.to_csv(tmp_path / "a.csv", index=False)
    people.assign(extra=1, more=2).to_csv(tmp_path / "b.csv", index=False)
    [finding] = CsvSource(path="*.csv", max_columns=3).validate(ctx)
    assert "b.csv has 5 columns, more than the limit of 3" in finding.message
    with pytest.raises(DataError, match=r"b\.csv has 5 columns"):
        CsvSource(path="*.csv", max_columns=3).load(ctx)

    people.to_parquet(tmp_path / "a.parquet")
    people.assign(extra=1, more=2).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataError, match=r"b\.parquet has 5 columns"):
        ParquetSource(path="*.parquet", max_columns=4).load(ctx)
    with pytest.raises(DataError, match="declares 24 values"):
        ParquetSource(path="*.parquet", max_cells=10).load(ctx)


def test_a_fifo_matched_by_a_glob_is_refused_not_skipped(
    ctx: StepContext, people: pd.DataFrame, tmp_path: Path
) -> None:
    import os

    people.to_csv(tmp_path / "a.csv", index=False)
    os.mkfifo(tmp_path / "b.csv")
    [finding] = CsvSource(path="*.csv").validate(ctx)
    assert "b.csv is a FIFO (named pipe), not a regular file" in finding.message
    with pytest.raises(DataError, match="FIFO"):
        CsvSource(path="*.csv").load(ctx)


def test_csv_dtypes_param_reads_a_column_as_asked(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "codes.csv").write_text("zip,n\n01234,1\n98765,2\n")
    frame = CsvSource(path="codes.csv", dtypes={"zip": "str", "n": "float64"}).load(ctx)
    assert frame["zip"].tolist() == ["01234", "98765"]
    assert frame["n"].dtype == "float64"


def test_sql_partitioning_params_are_checked_at_validate(ctx: StepContext, database: Path) -> None:
    [on_query] = SqlSource(path=database.name, query="SELECT 1", index_col="id").validate(ctx)
    assert on_query.key == "index_col"
    assert on_query.message == "index_col partitions a table, not a query"
    [alone] = SqlSource(path=database.name, table="people", npartitions=4).validate(ctx)
    assert alone.key == "npartitions"
    assert SqlSource(path=database.name, table="people", index_col="id").validate(ctx) == []
