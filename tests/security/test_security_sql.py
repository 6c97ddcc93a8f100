"""SQL plugins as a hostile tenant writes them (issue 10, cases 3, 4 and 9):
an allow-list of read-only statement shapes and functions (identifiers
unquoted and case-folded), SQLite confined to the account's directory with a
cap on any value, per-value and per-result byte caps, and PostgreSQL TLS that
verifies by default and sends nothing over TLS when disabled.

Real PostgreSQL (tests/postgres.py, as its superuser where that makes the
attack worse), real SQLite files, a real TLS server on loopback."""

from __future__ import annotations

import json
import os
import resource
import socket
import ssl
import threading
import time

import pytest
from hostile import model_calls, plugin_test, refused_and_journaled, smarter_apply, tamper_connection, tamper_plugin, tenant_with
from plugin_fixtures import ACCOUNT, make_sqlite, postgres_cluster, sql_connection, sql_plugin  # noqa: F401

from smarter import config

pytestmark = pytest.mark.usefixtures("aws")

OTHER_ACCOUNT = "2718-2818-2845"


def _put_secret(name: str, value: str) -> None:
    from smarter.store import aws

    aws.client("secretsmanager").create_secret(Name=f"smarter/accounts/{ACCOUNT}/{name}", SecretString=value)


@pytest.fixture
def superuser_conn(postgres_cluster):
    """A connection as the cluster's superuser: the worst case a tenant could configure."""
    _put_secret("su", postgres_cluster.password)
    return sql_connection(dbEngine="postgresql", hostname=postgres_cluster.host, port=postgres_cluster.port,
                          database=postgres_cluster.database, username=postgres_cluster.user, secret="su", sslMode="disable")


# --- case 3: the function check is an allow-list that quoting cannot bypass -----------------

HOSTILE_QUERIES = [
    """SELECT "pg_read_file"('/etc/passwd')""",
    """SELECT "PG_READ_FILE"('/etc/passwd')""",
    """SELECT pg_catalog."pg_read_file"('/etc/passwd')""",
    """SELECT * FROM pg_read_file('/etc/passwd') AS f(line)""",
    """SELECT "pg_terminate_backend"(pid) FROM pg_stat_activity""",
    """SELECT "set_config"('default_transaction_read_only', 'off', false)""",
    "SELECT pg_sleep_for('10 seconds')",
    "SELECT pg_try_advisory_lock(1)",
    "SELECT pg_advisory_xact_lock(1)",
    "SELECT lo_from_bytea(0, 'x')",
    "SELECT dblink_connect('host=10.0.0.5')",
    "SELECT query_to_xml('DELETE FROM courses', true, true, '')",
    "SELECT purge_courses()",
    "SELECT nextval('s')",
    "SELECT repeat('x', 300000000)",
    "SELECT course_code FROM courses WHERE course_code = {keyword} UNION SELECT \"current_setting\"('data_directory')",
    "WITH gone AS (DELETE FROM courses RETURNING *) SELECT * FROM gone",
    "SELECT * FROM courses FOR UPDATE",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_case3_apply_refuses_functions_outside_the_allow_list(tmp_path, query):
    result = smarter_apply(
        tmp_path,
        sql_connection(dbEngine="postgresql", hostname="db.example.com", database="d", username="u", secret="pw"),
        sql_plugin(query=query, parameters=[{"name": "keyword", "type": "string"}], testValues=None),
    )
    assert result.code != 0, result
    assert "spec.sqlData.sqlQuery: a plugin query only reads" in result.err


@pytest.mark.postgres
def test_case3_a_stored_quoted_pg_read_file_never_runs_even_as_superuser(openai_server, superuser_conn):
    tenant = tenant_with(superuser_conn, plugins=[sql_plugin()])
    tamper_plugin("course_db", lambda spec: spec["sqlData"].update(sqlQuery="""SELECT "pg_read_file"('/etc/passwd') AS f WHERE {keyword} IS NULL OR {max_cost} IS NULL"""))
    outcome = model_calls(openai_server, tenant, "course_db", {})
    refused_and_journaled(outcome, "the plugin's query is not allowed", "pg_read_file")
    assert "root:" not in json.dumps(outcome.record)


@pytest.mark.postgres
def test_case3_pg_terminate_backend_cannot_kill_another_session(openai_server, superuser_conn, postgres_cluster):
    import pg8000.native

    victim = pg8000.native.Connection(postgres_cluster.user, host=postgres_cluster.host, port=postgres_cluster.port,
                                      database=postgres_cluster.database, password=postgres_cluster.password, application_name="victim")
    try:
        tenant = tenant_with(superuser_conn, plugins=[sql_plugin()])
        tamper_plugin("course_db", lambda spec: spec["sqlData"].update(
            sqlQuery="""SELECT "pg_terminate_backend"(pid) FROM pg_stat_activity WHERE application_name = 'victim' AND ({keyword} IS NULL OR {max_cost} IS NULL)"""))
        refused_and_journaled(model_calls(openai_server, tenant, "course_db", {}), "pg_terminate_backend")
        assert victim.run("SELECT 1") == [[1]]  # still alive
    finally:
        victim.close()


@pytest.mark.postgres
def test_case3_plugin_test_refuses_a_stored_set_config(superuser_conn):
    tenant_with(superuser_conn, plugins=[sql_plugin()])
    tamper_plugin("course_db", lambda spec: spec["sqlData"].update(sqlQuery="""SELECT "set_config"('statement_timeout', '0', false) WHERE {keyword} IS NULL OR {max_cost} IS NULL"""))
    result = plugin_test("course_db")
    assert result.code == 1
    assert "the plugin's query is not allowed" in result.err and "set_config" in result.err


@pytest.mark.postgres
def test_ordinary_read_queries_still_run_on_postgresql(openai_server, superuser_conn):
    tenant = tenant_with(superuser_conn, plugins=[sql_plugin(query=(
        "SELECT upper(course_code) AS code, round(cost) AS cost, coalesce(description, '') AS d, count(*) OVER () AS n "
        "FROM courses WHERE lower(description) LIKE '%' || lower({keyword}) || '%' OR {max_cost} IS NULL ORDER BY 1"))])
    outcome = model_calls(openai_server, tenant, "course_db", {"keyword": "python"})
    assert outcome.entry["outcome"] == "ok", outcome.entry
    assert [r["code"] for r in outcome.result["rows"]] == ["CS101", "CS201", "CS301", "CS401"]


# --- case 4: SQLite confined to the account's directory, values capped ---------------------


@pytest.mark.parametrize("database", ["/proc/self/environ", "/etc/passwd", "../2718-2818-2845/courses.db", "../../courses.db", "file:/etc/passwd?mode=ro", "/tmp"])
def test_case4_apply_refuses_sqlite_files_outside_the_account_directory(tmp_path, database):
    result = smarter_apply(tmp_path, sql_connection(dbEngine="sqlite", database=database))
    assert result.code != 0, result
    assert "spec.connection.database" in result.err


def test_case4_another_accounts_file_by_absolute_path_is_refused(tmp_path):
    other = make_sqlite(str(tmp_path / OTHER_ACCOUNT / "courses.db"))
    result = smarter_apply(tmp_path, sql_connection(dbEngine="sqlite", database=other))
    assert result.code != 0
    assert "outside this account's SQLite directory" in result.err


def test_case4_a_symlink_out_of_the_account_directory_is_refused(tmp_path):
    make_sqlite(str(tmp_path / OTHER_ACCOUNT / "courses.db"))
    os.makedirs(tmp_path / ACCOUNT, exist_ok=True)
    os.symlink(tmp_path / OTHER_ACCOUNT / "courses.db", tmp_path / ACCOUNT / "link.db")
    result = smarter_apply(tmp_path, sql_connection(dbEngine="sqlite", database="link.db"))
    assert result.code != 0
    assert "outside this account's SQLite directory" in result.err


def test_case4_a_stored_path_outside_is_refused_at_call_time_and_errors_do_not_tell_which_files_exist(openai_server, tmp_path):
    make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    tenant = tenant_with(sql_connection(dbEngine="sqlite", database="courses.db"), plugins=[sql_plugin()])
    messages = {}
    for database in ("/proc/self/environ", "/nonexistent/file.db"):
        tamper_connection(sql_connection(dbEngine="sqlite", database=database))
        from smarter import cache

        cache.clear_all()
        outcome = model_calls(openai_server, tenant, "course_db", {"keyword": "x"})
        messages[database] = refused_and_journaled(outcome, "refused:", "outside this account's SQLite directory").replace(database, "X")
    assert len(set(messages.values())) == 1
    # Inside the directory, a missing file and a non-SQLite file answer alike too.
    (tmp_path / ACCOUNT / "notes.txt").write_text("not a database")
    inside = {}
    for name in ("missing.db", "notes.txt"):
        tamper_connection(sql_connection(dbEngine="sqlite", database=name))
        from smarter import cache

        cache.clear_all()
        outcome = model_calls(openai_server, tenant, "course_db", {"keyword": "x"})
        inside[name] = refused_and_journaled(outcome, "cannot open the database").replace(name, "X")
    assert len(set(inside.values())) == 1


def test_sqlite_is_off_when_the_operator_sets_no_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTER_SQLITE_ROOT", "")
    config.settings.cache_clear()
    result = smarter_apply(tmp_path, sql_connection(dbEngine="sqlite", database="courses.db"))
    assert result.code != 0
    assert "SQLite connections are off on this platform" in result.err


def test_case4_a_model_chosen_size_cannot_blow_up_memory(openai_server, tmp_path):
    make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    tenant = tenant_with(sql_connection(dbEngine="sqlite", database="courses.db"),
                         plugins=[sql_plugin(query="SELECT length({keyword}) AS n WHERE {max_cost} IS NULL OR 1",
                                             parameters=[{"name": "keyword", "type": "string"}, {"name": "max_cost", "type": "integer"}], testValues=None)])
    # The query that took 900 MB, stored as if it predated the allow-list:
    tamper_plugin("course_db", lambda spec: spec["sqlData"].update(sqlQuery="SELECT printf('%.*c', {max_cost}, 'x') AS blob WHERE {keyword} IS NULL OR 1"))
    outcome = model_calls(openai_server, tenant, "course_db", {"max_cost": 300_000_000})
    refused_and_journaled(outcome, "printf")


def test_case4_the_engine_caps_any_value_even_past_the_allow_list(tmp_path):
    # The last line of defence on its own: SQLite's length limit stops the value being built.
    from smarter.llm.plugins import PluginCallError, PluginContext
    from smarter_plugins import sql_engines

    make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    context = PluginContext(ACCOUNT, lambda n: None, lambda n: "", 5.0, ())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    # printf('%.*c', n) loops n times in one step, past any timeout: it is replaced by a refusal.
    for sql in ("SELECT printf('%.*c', 300000000, 'x')", "SELECT format('%.*c', 300000000, 'x')", "SELECT zeroblob(300000000)"):
        with pytest.raises(PluginCallError, match="not allowed in a plugin query"):
            sql_engines.run_sqlite({"database": "courses.db"}, sql, {}, 10, 5.0, context, {})
    # Values built by allowed functions stop at the length limit.
    with pytest.raises(PluginCallError, match="string or blob too big"):
        sql_engines.run_sqlite({"database": "courses.db"}, "SELECT group_concat(hex(a.description || b.description || c.description || d.description)) FROM courses a, courses b, courses c, courses d, courses e, courses f, courses g, courses h", {}, 10, 5.0, context, {})
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50, f"peak memory grew {grown_mb:.0f} MB"
    assert time.monotonic() - started < 2


def test_a_runaway_sqlite_query_stops_at_the_timeout(tmp_path):
    from smarter.llm.plugins import PluginCallError, PluginContext
    from smarter_plugins import sql_engines

    make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    context = PluginContext(ACCOUNT, lambda n: None, lambda n: "", 1.0, ())
    started = time.monotonic()
    with pytest.raises(PluginCallError, match="longer than 1 s"):
        sql_engines.run_sqlite({"database": "courses.db"}, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c", {}, 10, 1.0, context, {})
    assert time.monotonic() - started < 2.0


def test_values_and_results_are_capped_in_bytes(openai_server, tmp_path):
    import sqlite3

    path = make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (id INTEGER, body TEXT)")
    db.executemany("INSERT INTO notes VALUES (?, ?)", [(i, "n" * (100_000 if i == 0 else 5_000)) for i in range(200)])
    db.commit()
    db.close()
    tenant = tenant_with(sql_connection(dbEngine="sqlite", database="courses.db"), plugins=[sql_plugin(
        query="SELECT id, body FROM notes WHERE {keyword} IS NULL OR {max_cost} IS NULL ORDER BY id", limit=1000)])
    outcome = model_calls(openai_server, tenant, "course_db", {})
    from smarter_plugins.sql import MAX_RESULT_BYTES, MAX_VALUE_BYTES

    assert outcome.entry["outcome"] == "ok"
    rows = outcome.result["rows"]
    assert len(rows[0]["body"].encode()) <= MAX_VALUE_BYTES + 16 and rows[0]["body"].endswith("…[cut]")
    assert 0 < len(rows) < 200 and outcome.result["truncated"] is True
    assert len(json.dumps(rows).encode()) <= MAX_RESULT_BYTES
    assert "values longer than" in outcome.result["note"] and "fit in" in outcome.result["note"]


# --- case 9: PostgreSQL TLS ---------------------------------------------------------------


class FakePostgres:
    """Records the first message a client sends; answers an SSLRequest with 'S'
    and a TLS handshake using `context` (or 'N' without one)."""

    def __init__(self, context: ssl.SSLContext | None):
        self.context = context
        self.first: list[int] = []
        self.handshakes = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    head = conn.recv(8)
                    code = int.from_bytes(head[4:8], "big")
                    self.first.append(code)
                    if code == 80877103:  # SSLRequest
                        if self.context is None:
                            conn.sendall(b"N")
                            continue
                        conn.sendall(b"S")
                        tls = self.context.wrap_socket(conn, server_side=True)
                        self.handshakes += 1
                        tls.recv(1)
                except (OSError, ssl.SSLError):
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tls_material(tmp_path):
    """A CA and a server certificate for 'db.test' (cryptography)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "db.test")])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("db.test")]), critical=False).sign(ca_key, hashes.SHA256()))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    return {"ca": str(tmp_path / "ca.pem"), "server": server}


def _pg_call(openai_server, port: int, ssl_mode: str | None, host: str = "db.test", monkeypatch=None):
    from smarter import cache
    from smarter.tenancy import egress

    monkeypatch.setattr(egress, "resolve", lambda h, p: ["127.0.0.1"] if h == "db.test" else [])
    conn = {"dbEngine": "postgresql", "hostname": host, "port": port, "database": "d", "username": "u"}
    if ssl_mode:
        conn["sslMode"] = ssl_mode
    tenant = tenant_with(sql_connection(dbEngine="sqlite", database="courses.db"), plugins=[sql_plugin()])
    tamper_connection(sql_connection(**conn))
    cache.clear_all()
    return model_calls(openai_server, tenant, "course_db", {"keyword": "x"})


def test_case9_verify_full_is_the_default_and_refuses_an_unknown_certificate(openai_server, tls_material, monkeypatch):
    server = FakePostgres(tls_material["server"])
    try:
        outcome = _pg_call(openai_server, server.port, None, monkeypatch=monkeypatch)
        refused_and_journaled(outcome, "TLS certificate did not verify")
    finally:
        server.close()


def test_case9_require_verifies_the_certificate_too(openai_server, tls_material, monkeypatch):
    server = FakePostgres(tls_material["server"])
    try:
        refused_and_journaled(_pg_call(openai_server, server.port, "require", monkeypatch=monkeypatch), "TLS certificate did not verify")
    finally:
        server.close()


def test_case9_the_operator_ca_bundle_verifies_the_named_host_over_the_checked_address(openai_server, tls_material, monkeypatch):
    monkeypatch.setenv("SMARTER_DB_CA_BUNDLE", tls_material["ca"])
    config.settings.cache_clear()
    server = FakePostgres(tls_material["server"])
    try:
        outcome = _pg_call(openai_server, server.port, "verify-full", monkeypatch=monkeypatch)
        message = outcome.result["error"]
        assert "did not verify" not in message  # the handshake passed; the fake server then hangs up
        assert server.handshakes == 1
    finally:
        server.close()


def test_case9_disable_sends_no_ssl_request_at_all(openai_server, monkeypatch):
    server = FakePostgres(None)
    try:
        _pg_call(openai_server, server.port, "disable", monkeypatch=monkeypatch)
        assert server.first == [196608]  # a StartupMessage (protocol 3.0), never an SSLRequest
    finally:
        server.close()


def test_case9_a_server_without_tls_is_refused_unless_disable_is_asked_for(openai_server, monkeypatch):
    server = FakePostgres(None)
    try:
        refused_and_journaled(_pg_call(openai_server, server.port, "verify-full", monkeypatch=monkeypatch), "offers no TLS (sslMode verify-full)")
        assert server.first == [80877103]
    finally:
        server.close()


# --- issue 30, point 4: system catalogs refused, every PostgreSQL connection bounded ---------

CATALOG_QUERIES = [
    ("postgresql", "TABLE pg_shadow"),
    ("postgresql", "SELECT usename, passwd FROM pg_catalog.pg_shadow"),
    ("postgresql", 'SELECT * FROM "PG_CATALOG"."pg_authid"'),
    ("postgresql", "SELECT name, setting FROM pg_settings"),
    ("postgresql", "SELECT course_code FROM courses WHERE course_code IN (SELECT rolname FROM pg_roles)"),
    ("postgresql", "SELECT table_name FROM information_schema.tables"),
    ("postgresql", "SELECT * FROM postgres.pg_catalog.pg_class"),
    ("sqlite", "SELECT sql FROM sqlite_master"),
    ("sqlite", "SELECT name FROM sqlite_schema"),
    ("sqlite", "SELECT * FROM main.sqlite_temp_master"),
    # MySQL's own schemas, refused in any dialect (MySQL connections land in parallel).
    ("postgresql", "SELECT user, authentication_string FROM mysql.user"),
    ("postgresql", "SELECT * FROM performance_schema.threads"),
    ("postgresql", "SELECT * FROM sys.processlist"),
]


@pytest.mark.parametrize("engine, query", CATALOG_QUERIES)
def test_apply_refuses_queries_that_read_a_system_catalog(tmp_path, engine, query):
    connection = (sql_connection(dbEngine="postgresql", hostname="db.example.com", database="d", username="u", secret="pw")
                  if engine == "postgresql" else sql_connection(dbEngine="sqlite", database="courses.db"))
    result = smarter_apply(tmp_path, connection, sql_plugin(query=query + " WHERE {keyword} IS NULL" if "WHERE" not in query else query + " AND {keyword} IS NULL",
                                                            parameters=[{"name": "keyword", "type": "string"}], testValues=None))
    assert result.code != 0, result
    assert "spec.sqlData.sqlQuery: a plugin query only reads the account's own tables" in result.err
    assert "is a system catalog" in result.err


@pytest.mark.postgres
@pytest.mark.parametrize("query, leak", [
    ("TABLE pg_shadow", "SCRAM-SHA-256"),
    ("SELECT name, setting FROM pg_settings WHERE {keyword} IS NULL OR {max_cost} IS NULL", "data_directory"),
])
def test_a_stored_catalog_query_never_runs_even_as_superuser(openai_server, superuser_conn, query, leak):
    tenant = tenant_with(superuser_conn, plugins=[sql_plugin()])
    tamper_plugin("course_db", lambda spec: spec["sqlData"].update(sqlQuery=query))
    outcome = model_calls(openai_server, tenant, "course_db", {})
    refused_and_journaled(outcome, "the plugin's query is not allowed", "system catalog")
    assert leak not in json.dumps(outcome.record)


def test_the_sqlite_engine_refuses_its_schema_table_even_past_the_check(tmp_path):
    from smarter.llm.plugins import PluginCallError, PluginContext
    from smarter_plugins import sql_engines

    make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    context = PluginContext(ACCOUNT, lambda n: None, lambda n: "", 5.0, ())
    for sql in ("SELECT sql FROM sqlite_master", "SELECT name FROM sqlite_schema"):
        with pytest.raises(PluginCallError, match="prohibited"):
            sql_engines.run_sqlite({"database": "courses.db"}, sql, {}, 10, 5.0, context, {})
    columns, rows, _ = sql_engines.run_sqlite({"database": "courses.db"}, "SELECT count(*) FROM courses", {}, 10, 5.0, context, {})
    assert rows[0][0] > 0


@pytest.mark.postgres
def test_every_postgresql_connection_carries_a_timeout_and_a_memory_bound(postgres_cluster, superuser_conn):
    """Even where the operator's database default is generous, a plugin's
    connection runs with its own bounds from the first statement."""
    from smarter.llm.plugins import PluginContext
    from smarter_plugins import sql_engines

    postgres_cluster.run("ALTER DATABASE postgres SET work_mem = '1GB';\nALTER DATABASE postgres SET statement_timeout = 0")
    try:
        context = PluginContext(ACCOUNT, lambda n: None, lambda n: postgres_cluster.password, 5.0, ())
        conn = {"dbEngine": "postgresql", "hostname": postgres_cluster.host, "port": postgres_cluster.port,
                "database": postgres_cluster.database, "username": postgres_cluster.user, "secret": "su", "sslMode": "disable"}
        # current_setting is not on the allow-list: the engine is called directly, as the settings' own check.
        _, rows, _ = sql_engines.run_postgresql(
            conn, "SELECT current_setting('work_mem'), current_setting('statement_timeout'), current_setting('lock_timeout'), "
                  "current_setting('idle_in_transaction_session_timeout'), current_setting('transaction_read_only')", {}, 10, 2.5, context, {})
        assert rows == [["4MB", "2500ms", "2500ms", "2500ms", "on"]]
    finally:
        postgres_cluster.run("ALTER DATABASE postgres RESET work_mem;\nALTER DATABASE postgres RESET statement_timeout")


@pytest.mark.postgres
def test_a_string_agg_blow_up_stops_at_the_server_timeout(openai_server, postgres_cluster, superuser_conn):
    """The query that built 96 MB on the server in 4.8 s: stopped by the server
    when the connection's one second is up, not when the value is built."""
    one_second = sql_connection(**{**superuser_conn["spec"]["connection"], "timeout": 1})
    tenant = tenant_with(one_second, plugins=[sql_plugin(query=(
        "SELECT length(string_agg(md5(g::text) || md5(g::text), '')) AS n FROM generate_series(1, 40000000) g "
        "WHERE {keyword} IS NULL OR {max_cost} IS NULL"))])
    started = time.monotonic()
    outcome = model_calls(openai_server, tenant, "course_db", {})
    refused_and_journaled(outcome, "ran longer than 1 s")
    assert time.monotonic() - started < 5
