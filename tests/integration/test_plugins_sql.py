"""The sql plugin: SQLite and PostgreSQL for real, Aurora through moto's RDS
Data API; end to end through the prompt API; injection attempts stay data;
write statements are refused when applied and cannot run anyway."""

from __future__ import annotations

import json

import pytest
from plugin_fixtures import (
    ACCOUNT,
    COURSES,
    call_kind,
    loopback_only,  # noqa: F401 (fixture)
    make_sqlite,
    postgres_cluster,  # noqa: F401 (fixture)
    sql_connection,
    sql_plugin,
    sqlite_count,
)
from support import journal_records, make_tenant, prompt

from smarter_local.openai_server import completion, tool_calls

pytestmark = pytest.mark.usefixtures("loopback_only")

INJECTIONS = [
    "'; DROP TABLE courses; --",
    "' OR '1'='1",
    "x' UNION SELECT owner, value, 0 FROM secrets --",
    "Python%' OR 1=1 --",
    "\\'; DELETE FROM courses; --",
]


def _kind():
    from smarter_plugins.sql import SqlPlugin

    return SqlPlugin()


def _run(plugin: dict, connection: dict, arguments: dict, **kwargs):
    return call_kind(_kind(), plugin, connection, arguments, **kwargs)


def _tenant_with(*docs: dict, plugins: list[dict]):
    from smarter_admin import manifests

    manifests.apply_documents([{"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}}, *docs])
    return make_tenant(ACCOUNT, plugins=plugins)


@pytest.fixture
def sqlite_db(tmp_path):
    return make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))


# --- SQLite -------------------------------------------------------------------------------


def test_sqlite_plugin_end_to_end_through_the_prompt_api(aws, openai_server, sqlite_db):
    tenant = _tenant_with(sql_connection(dbEngine="sqlite", database=sqlite_db), plugins=[sql_plugin()])
    openai_server.enqueue(body=tool_calls(("course_db", {"keyword": "Python", "max_cost": 500})))
    openai_server.enqueue(body=completion("Two Python courses."))

    result = prompt(tenant, "Python courses under 500?")

    assert result.status == 200
    content = json.loads(openai_server.requests[-1]["json"]["messages"][-1]["content"])
    assert content == {
        "columns": ["course_code", "course_name", "cost"],
        "rows": [
            {"course_code": "CS101", "course_name": "Intro to Python", "cost": 300.0},
            {"course_code": "CS201", "course_name": "Data structures", "cost": 450.0},
        ],
        "row_count": 2,
    }
    entry = journal_records(tenant.account, tenant.client)[0]["tool_calls"][0]
    assert (entry["plugin"], entry["kind"], entry["outcome"]) == ("course_db", "sql", "ok")


def test_missing_optional_arguments_are_bound_as_null(sqlite_db):
    result = _run(sql_plugin(), sql_connection(dbEngine="sqlite", database=sqlite_db), {})
    assert result["row_count"] == len(COURSES)


def test_numbers_sent_as_strings_are_accepted_and_bad_types_are_an_error(sqlite_db):
    from smarter.llm.plugins import PluginCallError

    conn = sql_connection(dbEngine="sqlite", database=sqlite_db)
    assert _run(sql_plugin(), conn, {"max_cost": "500"})["row_count"] == 2
    with pytest.raises(PluginCallError, match="max_cost must be of type number"):
        _run(sql_plugin(), conn, {"max_cost": "cheap"})


@pytest.mark.parametrize("attack", INJECTIONS)
def test_sql_injection_in_arguments_stays_data_in_sqlite(sqlite_db, attack):
    result = _run(sql_plugin(), sql_connection(dbEngine="sqlite", database=sqlite_db), {"keyword": attack})
    assert result["rows"] == []  # matched as a literal string, which no description contains
    assert sqlite_count(sqlite_db) == len(COURSES)
    assert sqlite_count(sqlite_db, "secrets") == 1


def test_undeclared_arguments_never_reach_the_query(sqlite_db):
    result = _run(sql_plugin(), sql_connection(dbEngine="sqlite", database=sqlite_db), {"keyword": "Python", "course_code": "x' OR 1=1"})
    assert result["row_count"] == 2


def test_row_limit_applies_and_says_so(tmp_path):
    path = make_sqlite(str(tmp_path / ACCOUNT / "big.db"), rows=500)
    result = _run(sql_plugin(limit=7), sql_connection(dbEngine="sqlite", database=path), {})
    assert result["row_count"] == 7
    assert result["truncated"] is True


def test_sqlite_file_is_opened_read_only_even_if_a_write_slips_past_validation(sqlite_db):
    # Bypass apply-time validation (an item edited in the table): the call re-checks,
    # and the connection itself is read-only.
    from smarter.llm.plugins import PluginCallError, PluginContext

    conn = {"kind": "SqlConnection", "spec": {"connection": {"dbEngine": "sqlite", "database": sqlite_db}}}
    stored = sql_plugin(query="DELETE FROM courses")
    stored["spec"]["sqlData"]["parameters"] = {"type": "object", "properties": {}, "required": []}
    with pytest.raises(PluginCallError, match="only reads|must be a SELECT"):
        _kind().call(stored, {}, PluginContext(ACCOUNT, lambda n: conn, lambda n: "", 5, ()))
    from smarter_plugins import sql_engines

    with pytest.raises(PluginCallError, match="the query failed"):
        sql_engines.run_sqlite(conn["spec"]["connection"], "DELETE FROM courses", {}, 10, 5, PluginContext(ACCOUNT, lambda n: conn, lambda n: "", 5, ()), {})
    assert sqlite_count(sqlite_db) == len(COURSES)


def test_a_missing_sqlite_file_is_an_error_not_a_new_database(tmp_path):
    from smarter.llm.plugins import PluginCallError

    with pytest.raises(PluginCallError, match="cannot open the database"):
        _run(sql_plugin(), sql_connection(dbEngine="sqlite", database="nope.db"), {})
    assert not (tmp_path / ACCOUNT / "nope.db").exists()


# --- manifests: writes refused with the field path -----------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM courses",
        "UPDATE courses SET cost = 0",
        "INSERT INTO courses VALUES ('x', 'y', 'z', 1)",
        "DROP TABLE courses",
        "SELECT 1; DROP TABLE courses",
        "WITH gone AS (DELETE FROM courses RETURNING *) SELECT * FROM gone",
        "SELECT * INTO copy FROM courses",
        "SELECT * FROM courses FOR UPDATE",
        "PRAGMA writable_schema = ON",
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "SELECT pg_sleep(10)",
    ],
)
def test_write_statements_are_refused_when_applied_with_the_field_path(aws, query):
    from smarter.errors import ManifestError
    from smarter_admin import manifests

    manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}})
    manifests.apply(sql_connection(dbEngine="sqlite", database="none.db"))
    with pytest.raises(ManifestError) as caught:
        manifests.apply(sql_plugin(query=query, parameters=None, testValues=None))
    assert caught.value.path == "spec.sqlData.sqlQuery"


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"query": "SELECT * FROM courses WHERE course_code = '{code}'", "parameters": [{"name": "code"}], "testValues": None}, "spec.sqlData.sqlQuery", "inside quotes"),
        ({"query": "SELECT * FROM courses WHERE course_code = {code}", "parameters": None, "testValues": None}, "spec.sqlData.sqlQuery", "not a declared parameter"),
        ({"query": "SELECT * FROM courses WHERE course_code = :code", "parameters": [{"name": "code"}], "testValues": None}, "spec.sqlData.sqlQuery", "{name}"),
        ({"parameters": [{"name": "keyword", "type": "text"}]}, "spec.sqlData.parameters.0.type", ""),
        ({"limit": 0}, "spec.sqlData.limit", ""),
        ({"sqlQuery_typo": "x"}, "spec.sqlData.sqlQuery_typo", "Extra inputs"),
    ],
)
def test_invalid_sql_plugins_are_refused_with_the_field_path(change, path, reason):
    from smarter.errors import ManifestError

    change = dict(change)
    query = change.pop("query", None)
    plugin = sql_plugin(**({"query": query} if query else {}), **change)
    plugin["metadata"].pop("account")
    with pytest.raises(ManifestError) as caught:
        _kind().validate(plugin)
    assert caught.value.path == path
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("connection", "path"),
    [
        ({"dbEngine": "oracle"}, "spec.connection.dbEngine"),
        ({"dbEngine": "postgresql", "database": "x", "username": "u"}, "spec.connection"),
        # Smarter's `password` names a Secret; a password itself does not fit a name and is refused.
        ({"dbEngine": "postgresql", "hostname": "h", "database": "x", "username": "u", "password": "hunter2 and more!"}, "spec.connection.password"),
        ({"dbEngine": "postgresql", "hostname": "h", "database": "x", "username": "u", "password": "a", "secret": "b"}, "spec.connection.password"),
        ({"dbEngine": "postgresql", "hostname": "h", "database": "x", "username": "u", "sslCa": "-----BEGIN CERTIFICATE-----"}, "spec.connection.sslCa"),
        ({"dbEngine": "postgresql", "hostname": "h", "database": "x", "username": "u", "authenticationMethod": "tcpip_ssh"}, "spec.connection.authenticationMethod"),
        ({"dbEngine": "aurora", "resourceArn": "not-an-arn", "secret": "db"}, "spec.connection"),
        ({"dbEngine": "sqlite", "database": "x.db", "secret": "a/b"}, "spec.connection.secret"),
    ],
)
def test_invalid_sql_connections_are_refused_with_the_field_path(connection, path):
    from smarter.errors import ManifestError

    with pytest.raises(ManifestError) as caught:
        _kind().validate_connection(sql_connection(**connection))
    assert caught.value.path == path


def test_a_plugin_needs_its_connection_to_exist_in_the_account(aws):
    from smarter.errors import ManifestError
    from smarter_admin import manifests

    manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}})
    with pytest.raises(ManifestError) as caught:
        manifests.apply(sql_plugin())
    assert caught.value.path == "spec.connection"
    assert "no SqlConnection named 'catalogue_db'" in caught.value.reason


def test_one_file_defines_connection_plugin_and_client(aws, sqlite_db, openai_server):
    import yaml

    from smarter_admin import manifests

    text = yaml.safe_dump_all(
        [
            {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}},
            {"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "advisor", "account": ACCOUNT}, "spec": {"config": {"provider": "openai"}, "plugins": ["course_db"]}},
            sql_plugin(),
            sql_connection(dbEngine="sqlite", database=sqlite_db),
        ]
    )
    results = manifests.apply_documents(manifests.load_documents(text))
    assert [r["kind"] for r in results] == ["Account", "SqlConnection", "SqlPlugin", "LLMClient"]


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture
def pg_conn(postgres_cluster):
    return sql_connection(
        dbEngine="postgresql", hostname=postgres_cluster.host, port=postgres_cluster.port,
        database=postgres_cluster.database, username="reader", secret="pg", sslMode="disable",
    )


PG_SECRETS = {"pg": "reader-pw"}


@pytest.mark.postgres
def test_postgresql_plugin_end_to_end_through_the_prompt_api(aws, openai_server, postgres_cluster):
    from smarter.store import aws as smarter_aws

    smarter_aws.client("secretsmanager").create_secret(
        Name=f"smarter/accounts/{ACCOUNT}/pg", SecretString=json.dumps({"username": "reader", "password": "reader-pw"})
    )
    conn = sql_connection(
        dbEngine="postgresql", hostname=postgres_cluster.host, port=postgres_cluster.port,
        database=postgres_cluster.database, secret="pg", sslMode="disable", username="reader",
    )
    tenant = _tenant_with(conn, plugins=[sql_plugin()])
    openai_server.enqueue(body=tool_calls(("course_db", {"keyword": "Python", "max_cost": 500})))
    openai_server.enqueue(body=completion("Two."))
    result = prompt(tenant, "Python courses under 500?")
    assert result.status == 200
    content = json.loads(openai_server.requests[-1]["json"]["messages"][-1]["content"])
    assert content["rows"] == [
        {"course_code": "CS101", "course_name": "Intro to Python", "cost": 300},
        {"course_code": "CS201", "course_name": "Data structures", "cost": 450},
    ]


@pytest.mark.postgres
def test_postgresql_null_arguments_and_limit(pg_conn):
    result = _run(sql_plugin(limit=3), pg_conn, {}, secrets=PG_SECRETS)
    assert result["row_count"] == 3
    assert result["truncated"] is True


@pytest.mark.postgres
@pytest.mark.parametrize("attack", INJECTIONS)
def test_sql_injection_in_arguments_stays_data_in_postgresql(pg_conn, postgres_cluster, attack):
    result = _run(sql_plugin(), pg_conn, {"keyword": attack}, secrets=PG_SECRETS)
    assert result["rows"] == []
    import pg8000.native

    db = pg8000.native.Connection(postgres_cluster.user, host=postgres_cluster.host, port=postgres_cluster.port, password=postgres_cluster.password)
    assert db.run("SELECT count(*) FROM courses")[0][0] == len(COURSES)
    db.close()


@pytest.mark.postgres
def test_postgresql_runs_in_a_read_only_transaction_even_for_a_user_who_may_write(pg_conn, postgres_cluster):
    # The reader role holds INSERT/UPDATE/DELETE; a write that slipped past validation still fails.
    from smarter.llm.plugins import PluginCallError, PluginContext
    from smarter_plugins import sql_engines

    spec = _kind().validate_connection(pg_conn)["connection"]
    context = PluginContext(ACCOUNT, lambda n: None, lambda n: "reader-pw", 5, ())
    with pytest.raises(PluginCallError, match="read-only transaction"):
        sql_engines.run_postgresql(spec, "SELECT purge_courses()", {}, 10, 5, context, {})
    with pytest.raises(PluginCallError, match="read-only transaction"):
        sql_engines.run_postgresql(spec, "SELECT * FROM courses FOR UPDATE", {}, 10, 5, context, {})
    with pytest.raises(PluginCallError, match="data-modifying"):
        sql_engines.run_postgresql(spec, "WITH d AS (DELETE FROM courses RETURNING *) SELECT * FROM d", {}, 10, 5, context, {})
    import pg8000.native

    db = pg8000.native.Connection(postgres_cluster.user, host=postgres_cluster.host, port=postgres_cluster.port, password=postgres_cluster.password)
    assert db.run("SELECT count(*) FROM courses")[0][0] == len(COURSES)
    db.close()


@pytest.mark.postgres
def test_postgresql_statement_timeout(pg_conn):
    from smarter.llm.plugins import PluginCallError, PluginContext
    from smarter_plugins import sql_engines

    spec = _kind().validate_connection(pg_conn)["connection"]
    context = PluginContext(ACCOUNT, lambda n: None, lambda n: "reader-pw", 1, ())
    with pytest.raises(PluginCallError, match="longer than"):
        # generate_series is harmless; a cross join makes it slow enough.
        sql_engines.run_postgresql(spec, "SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b", {}, 10, 1.0, context, {})


@pytest.mark.postgres
def test_postgresql_wrong_password_is_a_clean_error(pg_conn):
    from smarter.llm.plugins import PluginCallError

    with pytest.raises(PluginCallError, match="cannot connect"):
        _run(sql_plugin(), pg_conn, {}, secrets={"pg": "wrong"})


# --- Aurora (RDS Data API on moto) ------------------------------------------------------------


AURORA_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:courses"


def test_aurora_plugin_end_to_end_through_the_prompt_api(aws, openai_server):
    import urllib.request

    from smarter.store import aws as smarter_aws

    smarter_aws.client("secretsmanager").create_secret(Name=f"smarter/accounts/{ACCOUNT}/aurora", SecretString="{}")
    results = {
        "results": [
            {
                "records": [[{"stringValue": "CS101"}, {"doubleValue": 300.0}, {"isNull": True}], [{"stringValue": "CS201"}, {"longValue": 450}, {"booleanValue": True}]],
                "columnMetadata": [{"name": "course_code", "label": "course_code"}, {"name": "cost", "label": "cost"}, {"name": "flag", "label": "flag"}],
            }
        ]
    }
    urllib.request.urlopen(urllib.request.Request(f"{aws}/moto-api/static/rds-data/statement-results", data=json.dumps(results).encode(), method="POST")).read()
    conn = sql_connection(dbEngine="aurora", resourceArn=AURORA_ARN, secret="aurora", database="courses")
    tenant = _tenant_with(conn, plugins=[sql_plugin()])
    openai_server.enqueue(body=tool_calls(("course_db", {"keyword": "Python"})))
    openai_server.enqueue(body=completion("Two."))
    assert prompt(tenant, "courses?").status == 200
    content = json.loads(openai_server.requests[-1]["json"]["messages"][-1]["content"])
    assert content["rows"] == [
        {"course_code": "CS101", "cost": 300.0, "flag": None},
        {"course_code": "CS201", "cost": 450, "flag": True},
    ]


# --- Smarter's Stackademy-style query: CONCAT around a parameter ----------------------------

CONCAT_QUERY = (
    "SELECT course_code, course_name, cost FROM courses "
    "WHERE description LIKE CONCAT('%', {keyword}, '%') AND ({max_cost} IS NULL OR cost <= {max_cost}) ORDER BY course_code"
)


def test_concat_around_a_parameter_runs_on_sqlite(sqlite_db):
    result = _run(sql_plugin(query=CONCAT_QUERY), sql_connection(dbEngine="sqlite", database=sqlite_db), {"keyword": "Python", "max_cost": 500})
    assert [r["course_code"] for r in result["rows"]] == ["CS101", "CS201"]


@pytest.mark.postgres
def test_concat_around_a_parameter_runs_on_postgresql(pg_conn):
    """PostgreSQL cannot infer the type of $1 inside CONCAT(...); the call is
    retried with the declared types (text, numeric) instead of failing."""
    result = _run(sql_plugin(query=CONCAT_QUERY), pg_conn, {"keyword": "Python", "max_cost": 500}, secrets=PG_SECRETS)
    assert [r["course_code"] for r in result["rows"]] == ["CS101", "CS201"]
    result = _run(sql_plugin(query=CONCAT_QUERY), pg_conn, {"keyword": "Python"}, secrets=PG_SECRETS)
    assert [r["course_code"] for r in result["rows"]] == ["CS101", "CS201"]
