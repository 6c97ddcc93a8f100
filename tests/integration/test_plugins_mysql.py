"""The sql plugin on MySQL/MariaDB for real: Debian's MariaDB started by the
test run on loopback (tests/mariadb.py), with TLS verified against a CA made
for the run. The same guarantees as PostgreSQL: read-only even for a user who
may write, injection stays data, the row limit, a byte cap on what is read,
the statement timeout, the egress policy, one message for an unreachable port."""

from __future__ import annotations

import json

import pytest
from plugin_fixtures import (
    ACCOUNT,
    COURSES,
    call_kind,
    loopback_only,  # noqa: F401 (fixture)
    mariadb_server,  # noqa: F401 (fixture)
    sql_connection,
    sql_plugin,
)
from support import make_tenant, prompt

from smarter_local.openai_server import completion, tool_calls

pytestmark = [pytest.mark.usefixtures("loopback_only"), pytest.mark.mariadb]

# Smarter's Stackademy query, in MySQL's dialect (CONCAT, a trailing semicolon).
MYSQL_QUERY = (
    "SELECT course_code, course_name, cost FROM courses "
    "WHERE ((description LIKE CONCAT('%', {keyword}, '%')) OR ({keyword} IS NULL)) "
    "AND (cost <= {max_cost} OR {max_cost} IS NULL) ORDER BY course_code;"
)
SECRETS = {"my": "reader-pw"}
INJECTIONS = ["'; DROP TABLE courses; --", "' OR '1'='1", "x' UNION SELECT owner, value, 0 FROM secrets -- ", "\\'; DELETE FROM courses; -- ", "%' OR 1=1 #"]


def _kind():
    from smarter_plugins.sql import SqlPlugin

    return SqlPlugin()


def _conn(server, **extra):
    fields = dict(dbEngine="django.db.backends.mysql", hostname=server.host, port=server.port, database="courses", username="reader",
                  password="my", useSsl=False)
    fields.update(extra)
    return sql_connection(**{k: v for k, v in fields.items() if v is not None})


def _plugin(**kwargs):
    return sql_plugin(query=kwargs.pop("query", MYSQL_QUERY), **kwargs)


def _count(server) -> int:
    import pymysql

    db = pymysql.connect(host=server.host, port=server.port, user=server.user, password=server.password, database="courses")
    try:
        with db.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM courses")
            return cursor.fetchone()[0]
    finally:
        db.close()


def _spec(server, **extra):
    return _kind().validate_connection(_conn(server, **extra))["connection"]


def _context(secret="reader-pw", timeout=5):
    from smarter.llm.plugins import PluginContext

    return PluginContext(ACCOUNT, lambda n: None, lambda n: secret, timeout, ())


def test_smarter_s_mysql_connection_form_is_stored_as_mysql(mariadb_server):
    spec = _spec(mariadb_server)
    assert (spec["dbEngine"], spec["port"], spec["sslMode"], spec["secret"]) == ("mysql", mariadb_server.port, "disable", "my")
    assert _kind().validate_connection(sql_connection(dbEngine="mariadb", hostname="127.0.0.1", database="d", username="u"))["connection"]["port"] == 3306


def test_a_mysql_plugin_answers_rows_with_arguments_bound(mariadb_server):
    result = call_kind(_kind(), _plugin(), _conn(mariadb_server), {"keyword": "Python", "max_cost": 500}, secrets=SECRETS)
    assert result["rows"] == [
        {"course_code": "CS101", "course_name": "Intro to Python", "cost": 300},
        {"course_code": "CS201", "course_name": "Data structures", "cost": 450},
    ]


def test_mysql_null_arguments_and_the_row_limit(mariadb_server):
    result = call_kind(_kind(), _plugin(limit=3), _conn(mariadb_server), {}, secrets=SECRETS)
    assert (result["row_count"], result["truncated"]) == (3, True)


@pytest.mark.parametrize("attack", INJECTIONS)
def test_sql_injection_in_arguments_stays_data_in_mysql(mariadb_server, attack):
    result = call_kind(_kind(), _plugin(), _conn(mariadb_server), {"keyword": attack}, secrets=SECRETS)
    assert result["rows"] == []
    assert _count(mariadb_server) == len(COURSES)


def test_mysql_runs_in_a_read_only_transaction_even_for_a_user_who_may_write(mariadb_server):
    from smarter.llm.plugins import PluginCallError
    from smarter_plugins import sql_engines

    spec = _spec(mariadb_server)
    # The reader holds INSERT/UPDATE/DELETE; a write that slipped past validation still fails.
    with pytest.raises(PluginCallError, match="READ ONLY"):
        sql_engines.run_mysql(spec, "DELETE FROM courses", {}, 10, 5, _context(), {})
    with pytest.raises(PluginCallError, match="READ ONLY"):
        sql_engines.run_mysql(spec, "UPDATE courses SET cost = 0", {}, 10, 5, _context(), {})
    assert _count(mariadb_server) == len(COURSES)


def test_mysql_statement_timeout(mariadb_server):
    from smarter.llm.plugins import PluginCallError
    from smarter_plugins import sql_engines

    spec = _spec(mariadb_server)
    with pytest.raises(PluginCallError, match="longer than 1 s"):
        sql_engines.run_mysql(spec, "SELECT SLEEP(5)", {}, 10, 1.0, _context(), {})


def test_what_mysql_sends_is_capped_in_bytes_before_it_is_in_memory(mariadb_server, monkeypatch):
    from smarter.llm.plugins import PluginCallError
    from smarter_plugins import sql_engines

    sql_engines._mysql_class().read_cap = 64 * 1024
    try:
        with pytest.raises(PluginCallError, match="larger than"):
            sql_engines.run_mysql(_spec(mariadb_server), "SELECT REPEAT('x', 1000000) AS big", {}, 10, 5, _context(), {})
    finally:
        sql_engines._mysql_class().read_cap = sql_engines.MYSQL_MAX_READ_BYTES


def test_mysql_wrong_password_and_closed_port_are_clean_errors(mariadb_server):
    from smarter.llm.plugins import PluginCallError

    with pytest.raises(PluginCallError, match="cannot connect to the database: Access denied"):
        call_kind(_kind(), _plugin(), _conn(mariadb_server), {}, secrets={"my": "wrong"})
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(PluginCallError, match=r"no answer, refused, not MySQL\)"):
        call_kind(_kind(), _plugin(), _conn(mariadb_server, port=closed), {}, secrets=SECRETS)


def test_mysql_egress_is_the_operator_s_policy(mariadb_server, monkeypatch):
    from smarter import config
    from smarter.errors import ManifestError

    monkeypatch.setenv("SMARTER_EGRESS_ALLOW", "")
    config.settings.cache_clear()
    try:
        with pytest.raises(ManifestError, match="spec.connection.hostname"):
            _kind().validate_connection(_conn(mariadb_server))
    finally:
        monkeypatch.undo()
        config.settings.cache_clear()


# --- TLS --------------------------------------------------------------------------------


def test_mysql_over_tls_verified_against_the_ca_of_a_secret(mariadb_server):
    conn = _conn(mariadb_server, useSsl=True, hostname="127.0.0.1", sslCa="db_ca")
    result = call_kind(_kind(), _plugin(), conn, {"keyword": "Python"}, secrets={**SECRETS, "db_ca": mariadb_server.tls["ca"]})
    assert result["row_count"] == 2


def test_mysql_tls_refuses_a_server_its_ca_did_not_sign(mariadb_server):
    from smarter.llm.plugins import PluginCallError

    # No sslCa: the system store does not know the run's CA.
    with pytest.raises(PluginCallError, match="TLS certificate did not verify"):
        call_kind(_kind(), _plugin(), _conn(mariadb_server, useSsl=True), {}, secrets=SECRETS)


def test_mysql_client_certificate_from_secrets(mariadb_server):
    from smarter.llm.plugins import PluginCallError

    tls = {"db_ca": mariadb_server.tls["ca"], "db_cert": mariadb_server.tls["client_cert"], "db_key": mariadb_server.tls["client_key"], "my": "tls-pw"}
    conn = _conn(mariadb_server, useSsl=True, username="tlsreader", sslCa="db_ca", sslCert="db_cert", sslKey="db_key")
    assert call_kind(_kind(), _plugin(), conn, {}, secrets=tls)["row_count"] == len(COURSES)
    # The same user without its certificate is refused by the server (REQUIRE X509).
    with pytest.raises(PluginCallError, match="Access denied"):
        call_kind(_kind(), _plugin(), _conn(mariadb_server, useSsl=True, username="tlsreader", sslCa="db_ca"), {}, secrets=tls)


@pytest.mark.parametrize(("fields", "message"), [
    ({"sslCa": "/path/to/ca.pem"}, "not a file"),
    ({"sslCert": "db_cert"}, "both sslCert and sslKey"),
    ({"sslCa": "db_ca", "useSsl": False}, "need TLS"),
])
def test_tls_fields_name_secrets_and_are_checked_at_apply(mariadb_server, fields, message):
    from smarter.errors import ManifestError

    with pytest.raises(ManifestError, match=message):
        _kind().validate_connection(_conn(mariadb_server, **{"useSsl": True, **fields}))


# --- end to end -------------------------------------------------------------------------


def test_a_mysql_plugin_answers_through_the_prompt_api(aws, openai_server, mariadb_server):
    from smarter.store import aws as smarter_aws
    from smarter_admin import manifests

    smarter_aws.client("secretsmanager").create_secret(Name=f"smarter/accounts/{ACCOUNT}/my", SecretString="reader-pw")
    manifests.apply_documents([{"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}}, _conn(mariadb_server)])
    tenant = make_tenant(ACCOUNT, plugins=[_plugin()])
    openai_server.enqueue(body=tool_calls(("course_db", {"keyword": "Python", "max_cost": 500})))
    openai_server.enqueue(body=completion("Two."))
    result = prompt(tenant, "Python courses under 500?")
    assert result.status == 200
    content = json.loads(openai_server.requests[-1]["json"]["messages"][-1]["content"])
    assert [r["course_code"] for r in content["rows"]] == ["CS101", "CS201"]
