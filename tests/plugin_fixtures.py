"""Fixtures and manifest builders for the plugin tests: a scriptable HTTP
upstream on 127.0.0.1, a guard that fails any test trying to open a
connection off loopback, SQLite files, and a throwaway PostgreSQL cluster
(tests/postgres.py). Import the fixtures into a test module by name."""

from __future__ import annotations

import ipaddress
import json
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import pytest

ACCOUNT = "3141-5926-5359"


# --- never leave loopback --------------------------------------------------------------


class OffLoopback(AssertionError):
    pass


@pytest.fixture(autouse=False)
def loopback_only(monkeypatch):
    """Any connect() to an address outside 127.0.0.0/8 or ::1 fails the test
    instead of sending a packet: the SSRF checks must refuse before this."""
    real_connect = socket.socket.connect
    attempts: list[Any] = []

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None:
            try:
                loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                attempts.append(address)
                raise OffLoopback(f"a test tried to connect to {address}")
        return real_connect(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def local_names_only(host, *args, **kwargs):
        # No DNS query leaves the machine either: names other than localhost
        # must be answered by a test's own fake resolver.
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.strip("[]").split("%")[0])
        except ValueError:
            if name.lower().rstrip(".") != "localhost":
                attempts.append((name, "dns"))
                raise OffLoopback(f"a test tried to resolve {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", local_names_only)
    yield attempts
    assert not attempts, f"connections off loopback were attempted: {attempts}"


@pytest.fixture
def production_egress(monkeypatch):
    """The operator's egress policy as in production: nothing but public addresses."""
    from smarter import config

    monkeypatch.setenv("SMARTER_EGRESS_ALLOW", "")
    monkeypatch.setenv("SMARTER_EGRESS_DENY", "")
    monkeypatch.setenv("SMARTER_LOCAL_ALLOWED_HOSTS", "")
    config.settings.cache_clear()
    yield
    config.settings.cache_clear()


# --- a scriptable upstream -------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    """Routes: path (without query) -> function(handler) that writes the answer."""

    server: ThreadingHTTPServer
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def json(self, path: str, body: Any, status: int = 200) -> None:
        self.routes[path] = lambda h: send(h, status, json.dumps(body).encode(), "application/json")


def send(handler: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def redirect(location: str, status: int = 302) -> Callable[[BaseHTTPRequestHandler], None]:
    return lambda h: send(h, status, b"", "text/plain", {"Location": location})


def endless(chunk_size: int = 64 * 1024, total: int = 100 * 1024 * 1024) -> Callable[[BaseHTTPRequestHandler], None]:
    """Streams `total` bytes (100 MB) of a JSON-looking array; stops when the client hangs up."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        chunk = b"[" + b"1," * (chunk_size // 2 - 1) + b"1"
        sent = 0
        try:
            while sent < total:
                h.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.server.streamed = sent  # type: ignore[attr-defined]

    return handle


def silent(seconds: float = 30.0) -> Callable[[BaseHTTPRequestHandler], None]:
    """Accepts the request and never answers (until `seconds` pass or the client leaves)."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.connection.settimeout(seconds)
        try:
            h.connection.recv(1)  # returns when the client closes
        except OSError:
            pass

    return handle


@pytest.fixture
def upstream():
    state = Upstream(server=None)  # type: ignore[arg-type]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            route = state.routes.get(self.path.split("?", 1)[0])
            if route is None:
                send(self, 404, b'{"error": "no such route"}')
            else:
                route(self)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# --- manifests -------------------------------------------------------------------------


def api_connection(name: str = "catalogue_api", base_url: str = "http://127.0.0.1:1", **connection: Any) -> dict[str, Any]:
    return {
        "apiVersion": "smarter.sh/v1",
        "kind": "ApiConnection",
        "metadata": {"name": name, "account": ACCOUNT, "description": "the course catalogue"},
        "spec": {"connection": {"baseUrl": base_url, **connection}},
    }


def api_plugin(name: str = "course_catalogue", connection: str = "catalogue_api", *, directive: str = "always", terms: list[str] | None = None, **api_data: Any) -> dict[str, Any]:
    data = {
        "description": "Search the course catalogue.",
        "endpoint": "/courses",
        "method": "GET",
        "parameters": [
            {"name": "max_cost", "type": "number", "description": "the most a student will pay"},
            {"name": "keyword", "type": "string", "description": "a word in the course description"},
        ],
        "testValues": [{"name": "max_cost", "value": 500}, {"name": "keyword", "value": "Python"}],
    }
    data.update(api_data)
    return {
        "apiVersion": "smarter.sh/v1",
        "kind": "ApiPlugin",
        "metadata": {"name": name, "account": ACCOUNT, "pluginClass": "api", "description": "Course catalogue lookups."},
        "spec": {"selector": {"directive": directive, "searchTerms": terms or []}, "connection": connection, "apiData": data},
    }


def sql_connection(name: str = "catalogue_db", **connection: Any) -> dict[str, Any]:
    return {
        "apiVersion": "smarter.sh/v1",
        "kind": "SqlConnection",
        "metadata": {"name": name, "account": ACCOUNT, "description": "the course database"},
        "spec": {"connection": connection},
    }


COURSES_QUERY = (
    "SELECT course_code, course_name, cost FROM courses "
    "WHERE (description LIKE '%' || {keyword} || '%' OR {keyword} IS NULL) "
    "AND (cost <= {max_cost} OR {max_cost} IS NULL) ORDER BY course_code"
)


def sql_plugin(name: str = "course_db", connection: str = "catalogue_db", *, query: str = COURSES_QUERY, **sql_data: Any) -> dict[str, Any]:
    data = {
        "description": "Courses filtered by keyword and cost.",
        "sqlQuery": query,
        "parameters": [
            {"name": "keyword", "type": "string", "description": "a word in the course description"},
            {"name": "max_cost", "type": "number", "description": "the most a student will pay"},
        ],
        "testValues": [{"name": "keyword", "value": "Python"}, {"name": "max_cost", "value": 500}],
        "limit": 10,
    }
    data.update(sql_data)
    return {
        "apiVersion": "smarter.sh/v1",
        "kind": "SqlPlugin",
        "metadata": {"name": name, "account": ACCOUNT, "pluginClass": "sql", "description": "Course database lookups."},
        "spec": {"selector": {"directive": "always"}, "connection": connection, "sqlData": data},
    }


COURSES = [
    ("CS101", "Intro to Python", "Python from scratch", 300.0),
    ("CS201", "Data structures", "Lists, trees and graphs in Python", 450.0),
    ("CS301", "Databases", "SQL and relational design", 600.0),
    ("CS401", "Machine learning", "Neural networks and AI", 900.0),
]


def make_sqlite(path: str, rows: int = 0) -> str:
    """A courses database; `rows` extra filler rows for limit tests."""
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE courses (course_code TEXT PRIMARY KEY, course_name TEXT, description TEXT, cost REAL)")
    db.executemany("INSERT INTO courses VALUES (?, ?, ?, ?)", COURSES)
    db.executemany("INSERT INTO courses VALUES (?, ?, ?, ?)", [(f"ZZ{i:04d}", f"Filler {i}", "filler", 1.0) for i in range(rows)])
    db.execute("CREATE TABLE secrets (owner TEXT, value TEXT)")
    db.execute("INSERT INTO secrets VALUES ('other-tenant', 'do not leak')")
    db.commit()
    db.close()
    return path


def sqlite_count(path: str, table: str = "courses") -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


# --- PostgreSQL -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster():
    import needs
    import postgres

    if postgres.bin_dir() is None:
        needs.missing("PostgreSQL binaries (initdb, pg_ctl) are not installed: `make system-deps` (Debian's postgresql) enables these tests")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    cluster, stop = postgres.start(port)
    cluster.started_in = time.monotonic() - started  # type: ignore[attr-defined]
    cluster.run(
        "CREATE TABLE courses (course_code text PRIMARY KEY, course_name text, description text, cost numeric(8,2));\n"
        "INSERT INTO courses VALUES "
        + ", ".join(f"('{c}', '{n}', '{d}', {p})" for c, n, d, p in COURSES)
        + ";\nCREATE TABLE secrets (owner text, value text);\n"
        "INSERT INTO secrets VALUES ('other-tenant', 'do not leak');\n"
        "CREATE ROLE reader LOGIN PASSWORD 'reader-pw';\n"
        "GRANT SELECT, INSERT, UPDATE, DELETE ON courses TO reader;\n"
        "CREATE FUNCTION purge_courses() RETURNS bigint LANGUAGE sql AS 'WITH d AS (DELETE FROM courses RETURNING 1) SELECT count(*) FROM d'"
    )
    yield cluster
    stop()


# --- MySQL / MariaDB ----------------------------------------------------------------------


MARIADB_SETUP = (
    "CREATE DATABASE courses;\n"
    "CREATE TABLE courses.courses (course_code varchar(10) PRIMARY KEY, course_name text, description text, cost decimal(8,2));\n"
    "INSERT INTO courses.courses VALUES "
    + ", ".join(f"('{c}', '{n}', '{d}', {p})" for c, n, d, p in COURSES)
    + ";\nCREATE TABLE courses.secrets (owner text, value text);\n"
    "INSERT INTO courses.secrets VALUES ('other-tenant', 'do not leak');\n"
    # The reader may write: the plugin's READ ONLY transaction is what stops it.
    "CREATE USER 'reader'@'127.0.0.1' IDENTIFIED BY 'reader-pw';\n"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON courses.courses TO 'reader'@'127.0.0.1';\n"
    "CREATE USER 'tlsreader'@'127.0.0.1' IDENTIFIED BY 'tls-pw' REQUIRE X509;\n"
    "GRANT SELECT ON courses.courses TO 'tlsreader'@'127.0.0.1'"
)


@pytest.fixture(scope="session")
def mariadb_server():
    """Debian's MariaDB on a free loopback port with TLS (a CA made for the run),
    the courses table, a `reader` who may write and a `tlsreader` who needs a
    client certificate. Skipped, saying why, without mariadb-server."""
    import mariadb

    if mariadb.binaries() is None:
        pytest.skip("MariaDB binaries (mariadbd, mariadb-install-db) are not installed: `make system-deps` (Debian's mariadb-server) enables these tests")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    server, stop = mariadb.start(port, tls=True)
    server.started_in = time.monotonic() - started  # type: ignore[attr-defined]
    server.run(MARIADB_SETUP)
    yield server
    stop()


def call_kind(kind: Any, plugin: dict, connection: dict, arguments: dict, *, secrets: dict | None = None, allowed_hosts: tuple = (), timeout: float = 5.0) -> Any:
    """Validate both manifests and run one call through the kind alone, without AWS."""
    from smarter.llm.plugins import PluginCallError, PluginContext

    stored_conn = {**connection, "spec": kind.validate_connection(connection)}
    plugin = {**plugin, "metadata": {k: v for k, v in plugin["metadata"].items() if k != "account"}}
    stored = {**plugin, "spec": kind.validate(plugin)}

    def secret(name: str) -> str:
        if name not in (secrets or {}):
            raise PluginCallError(f"the secret {name!r} does not exist for this account")
        return secrets[name]

    return kind.call(stored, arguments, PluginContext(ACCOUNT, lambda name: stored_conn, secret, timeout, allowed_hosts))
