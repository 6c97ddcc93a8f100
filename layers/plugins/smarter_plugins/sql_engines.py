"""Running one read-only query on each kind of SqlConnection.

Every engine gets the query with `:name` bind parameters (sqltext.to_named)
and a dict of values; none of them ever formats a value into the SQL text.
Each answers (columns, rows, truncated) with at most `limit` rows.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import os
import re
import socket
import sqlite3
import ssl
import time
import uuid
from struct import error as struct_error
from typing import Any
from urllib.parse import quote

from smarter.cache import TTLCache
from smarter.config import settings
from smarter.llm.plugins import PluginCallError, PluginContext
from smarter.tenancy import egress, scoped_aws
from smarter.tenancy.account_secrets import account_secret_id

Rows = tuple[list[str], list[list[Any]], bool]
# A NULL argument is sent with the parameter's declared type, so that
# `{name} IS NULL` alone does not leave PostgreSQL guessing.
PG_TYPES = {"integer": 20, "number": 1700, "boolean": 16, "string": 25}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


def json_value(value: Any) -> Any:
    """A database value as JSON: exact numbers stay numbers, times become ISO 8601, bytes base64."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value) if value.is_finite() else str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


def _bindable(value: Any) -> Any:
    """Values the drivers take as one parameter: structures go as JSON text."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


# --- SQLite ------------------------------------------------------------------------------

_SQLITE_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def _sqlite_authorizer(action: int, table: str | None = None, *_: Any) -> int:
    """Reading only, and never the schema tables (sqlite_master lists every
    table, index and trigger of the file: the tenant's own tables are enough)."""
    if action == sqlite3.SQLITE_READ and table and table.lower().startswith("sqlite_"):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in _SQLITE_ALLOWED else sqlite3.SQLITE_DENY


def _concat(*values: Any) -> str:
    """PostgreSQL's and MySQL-style CONCAT: NULLs skipped, everything as text."""
    return "".join(str(v) for v in values if v is not None)


def _sqlite_functions(db: sqlite3.Connection) -> None:
    """Functions of PostgreSQL and MySQL that Smarter's example queries use and
    SQLite before 3.44 lacks; SQLite's own win where it has them."""
    (version,) = db.execute("SELECT sqlite_version()").fetchone()
    if tuple(int(p) for p in version.split(".")[:2]) < (3, 44):
        db.create_function("CONCAT", -1, _concat, deterministic=True)
    db.create_function("NOW", 0, lambda: datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"))


# No value (string or blob) a SQLite query builds may be larger than this: the
# engine stops with "string or blob too big" instead of filling the memory
# (printf('%.*c', 300000000, 'x') would take 300 MB in one opcode, beyond
# the reach of the progress handler).
SQLITE_MAX_VALUE_BYTES = 1024 * 1024


# Built-ins that build a value of a size the query chooses, or reach outside:
# replaced on each connection by a function that refuses. printf('%.*c', n, 'x')
# loops n times inside one opcode, so neither the length limit nor the progress
# handler would stop it before the timeout. (The manifest check refuses them
# first; this holds even for a stored query that slipped past it.)
_SQLITE_REFUSED_FUNCTIONS = (("printf", -1), ("format", -1), ("zeroblob", 1), ("randomblob", 1), ("load_extension", 1), ("load_extension", 2))


def _refuse_function(name: str):
    def refuse(*_: Any) -> None:
        raise sqlite3.DataError(f"the function {name} is not allowed in a plugin query")

    return refuse


class SqliteRefused(Exception):
    """A SQLite database path outside the account's directory, or SQLite off."""


def sqlite_path(account: str, database: str) -> str:
    """The file a SqlConnection's `database` means: a name inside
    {SMARTER_SQLITE_ROOT}/{account}/, never anywhere else. SQLite is off when
    the operator sets no root (the default, and the production template)."""
    root = settings().sqlite_root
    if not root:
        raise SqliteRefused("SQLite connections are off on this platform (the operator sets SMARTER_SQLITE_ROOT to allow them); use postgresql or aurora")
    if not account:
        raise SqliteRefused("a SQLite connection belongs to an account")
    base = os.path.realpath(os.path.join(root, account))
    name = database.strip()
    if name.startswith("file:") or any(c in name for c in "?#\0"):
        raise SqliteRefused("a file name inside the account's SQLite directory, such as courses.db (no URI, query or fragment)")
    path = os.path.realpath(name if os.path.isabs(name) else os.path.join(base, name))
    if os.path.commonpath([base, path]) != base or path == base:
        raise SqliteRefused(f"{database!r} is outside this account's SQLite directory; name a file inside it, such as courses.db")
    return path


def run_sqlite(conn: dict[str, Any], sql: str, params: dict[str, Any], limit: int, timeout: float, context: PluginContext, types: dict[str, str]) -> Rows:
    """Opened read-only (mode=ro, so a missing file is an error, never created),
    from the account's own directory only, with query_only on, an authorizer
    that denies anything but reading, and a cap on the size of any value."""
    try:
        path = sqlite_path(context.account, conn["database"])
    except SqliteRefused as exc:
        raise PluginCallError(f"refused: {exc}") from None
    uri = f"file:{quote(path)}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=min(timeout, 5.0), check_same_thread=False)
        db.execute("PRAGMA schema_version").fetchone()  # opening is lazy: fail here for a missing or non-SQLite file
    except sqlite3.Error:
        # One message whatever the reason, so that errors do not tell which files exist.
        raise PluginCallError(f"cannot open the database {conn['database']!r} (no such SQLite file in this account's directory)") from None
    try:
        _sqlite_functions(db)
        db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_MAX_VALUE_BYTES)
        for name, args in _SQLITE_REFUSED_FUNCTIONS:
            db.create_function(name, args, _refuse_function(name), deterministic=True)
        db.execute("PRAGMA query_only = ON")
        db.set_authorizer(_sqlite_authorizer)
        deadline = time.monotonic() + timeout
        db.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1_000)
        try:
            cursor = db.execute(sql, {k: _bindable(v) for k, v in params.items()})
            rows = cursor.fetchmany(limit + 1)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise PluginCallError(f"the query ran longer than {timeout:g} s") from None
            if "user-defined function raised exception" in str(exc):
                refused = ", ".join(dict.fromkeys(name for name, _ in _SQLITE_REFUSED_FUNCTIONS))
                raise PluginCallError(f"the query failed: it calls a function not allowed in a plugin query ({refused})") from None
            raise PluginCallError(f"the query failed: {exc}") from None
        except sqlite3.DataError as exc:  # string or blob too big
            raise PluginCallError(f"the query failed: {exc} (a value may be at most {SQLITE_MAX_VALUE_BYTES // 1024} KiB)") from None
        except sqlite3.DatabaseError as exc:
            raise PluginCallError(f"the query failed: {exc}") from None
        columns = [d[0] for d in cursor.description or []]
        return columns, [list(r) for r in rows[:limit]], len(rows) > limit
    finally:
        db.close()


# --- PostgreSQL --------------------------------------------------------------------------


def _pg_credentials(conn: dict[str, Any], context: PluginContext) -> tuple[str, str | None]:
    """(user, password): the secret is a password, or RDS's JSON form {username, password, ...}."""
    user, password = conn.get("username"), None
    if conn.get("secret"):
        password = context.secret(conn["secret"])
        try:
            parsed = json.loads(password)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            user = user or parsed.get("username")
            password = parsed.get("password")
    if not user:
        raise PluginCallError("the connection names no username")
    return user, password


def _pg_ssl(mode: str, conn: dict[str, Any] | None = None, context: PluginContext | None = None) -> ssl.SSLContext | bool:
    """disable: no TLS at all (pg8000 takes False; None would mean 'try TLS, unverified').
    Anything else verifies the server's certificate: against the CA the
    connection's `sslCa` Secret holds (PEM), else the operator's CA bundle
    (SMARTER_DB_CA_BUNDLE, the RDS bundle in AWS) or the system store;
    verify-full (the default) also checks that it names the host. `sslCert`
    and `sslKey` name the Secrets of a client certificate and its key."""
    if mode == "disable":
        return False
    conn = conn or {}
    ca = _tls_secret(conn, "sslCa", context)
    bundle = settings().db_ca_bundle
    if ca is not None:
        tls = ssl.create_default_context(cadata=ca)
    else:
        tls = ssl.create_default_context(cafile=bundle if bundle and os.path.isfile(bundle) else None)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.check_hostname = mode in ("verify-full", "require")  # require: as verify-full (libpq's unverified require is refused)
    tls.verify_mode = ssl.CERT_REQUIRED
    cert, key = _tls_secret(conn, "sslCert", context), _tls_secret(conn, "sslKey", context)
    if cert is not None:
        _load_client_certificate(tls, cert, key)
    return tls


def _tls_secret(conn: dict[str, Any], field: str, context: PluginContext | None) -> str | None:
    """The PEM text held by the Secret a TLS field names (None when the field is not set)."""
    name = conn.get(field)
    if not name or context is None:
        return None
    text = context.secret(name)
    if "-----BEGIN " not in text:
        raise PluginCallError(f"the Secret {name!r} named by {field} holds no PEM text (-----BEGIN ...)")
    return text


def _load_client_certificate(tls: ssl.SSLContext, cert: str, key: str | None) -> None:
    """ssl loads a certificate chain from files only: written to a private
    directory for the call, read, and removed at once."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="smarter-tls-") as folder:
        cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        for path, text in ((cert_path, cert), (key_path, key)):
            if text is not None:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
        try:
            tls.load_cert_chain(cert_path, key_path if key is not None else None)
        except (ssl.SSLError, ValueError):
            raise PluginCallError("the client certificate (sslCert) and its key (sslKey) could not be loaded: are both PEM, and do they match?") from None


def _unreachable(conn: dict[str, Any], engine: str = "PostgreSQL") -> str:
    mode = conn.get("sslMode", "verify-full")
    tls = "" if mode == "disable" else f", or it offers no TLS (sslMode {mode})"
    return f"cannot connect to the database at {conn['hostname']}:{conn.get('port', DEFAULT_PORTS.get(conn.get('dbEngine'), 5432))} (no answer, refused, not {engine}{tls})"


def _pg_socket(conn: dict[str, Any], timeout: float, engine: str = "PostgreSQL") -> socket.socket:
    """A TCP connection to the address the egress policy checked for the host."""
    try:
        return egress.connect(conn["hostname"], int(conn.get("port", DEFAULT_PORTS.get(conn.get("dbEngine"), 5432))), timeout)
    except egress.EgressRefused as exc:
        raise PluginCallError(f"refused: {exc}") from None
    except (egress.ResolveFailed, OSError):
        # One message for refused, unreachable and silent ports: errors must not make a port scanner.
        raise PluginCallError(_unreachable(conn, engine)) from None


# Memory a plugin query may use per sort or hash before it spills (the server's
# default is 4 MB; an operator's larger default must not apply to tenants' queries).
PG_WORK_MEM = "4MB"


def pg_session_settings(timeout: float) -> dict[str, str]:
    """Server settings sent in the startup packet, so they hold for every
    statement of the connection from the first: the query's time, its memory
    per operation, waits for locks and idle transactions, and read-only.
    A plugin query cannot change them: set_config and SET are refused."""
    ms = str(max(1, int(timeout * 1000)))
    return {
        "statement_timeout": ms,
        "lock_timeout": ms,
        "idle_in_transaction_session_timeout": ms,
        "work_mem": PG_WORK_MEM,
        "default_transaction_read_only": "on",
    }


def run_postgresql(conn: dict[str, Any], sql: str, params: dict[str, Any], limit: int, timeout: float, context: PluginContext, types: dict[str, str]) -> Rows:
    """In a READ ONLY transaction with a statement timeout and a memory bound
    (pg_session_settings), through a cursor
    so that only limit + 1 rows ever leave the server; always rolled back."""
    import pg8000.native  # pure Python: no compiled driver in the layer

    user, password = _pg_credentials(conn, context)
    sock = _pg_socket(conn, timeout + 1.5)
    try:
        db = pg8000.native.Connection(
            user,
            host=conn["hostname"],  # the name TLS verifies; the socket is already connected to the checked address
            sock=sock,
            port=int(conn.get("port", 5432)),
            database=conn.get("database"),
            password=password,
            # The server's statement_timeout should fire first, with a clear message;
            # the socket timeout is the backstop for a server that does not answer at all.
            timeout=timeout + 1.5,
            ssl_context=_pg_ssl(conn.get("sslMode", "verify-full"), conn, context),
            application_name="smarter-plugin",
            startup_params=pg_session_settings(timeout),
        )
    except pg8000.native.DatabaseError as exc:  # the server answered: authentication, no such database...
        sock.close()
        raise PluginCallError(f"cannot connect to the database: {_pg_message(exc)}") from None
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise PluginCallError(f"cannot connect to the database: its TLS certificate did not verify ({exc.verify_message}); sslMode {conn.get('sslMode', 'verify-full')}") from None
    except (pg8000.native.InterfaceError, OSError, ValueError, KeyError, IndexError):
        # Closed, silent, not PostgreSQL, or no TLS offered: one answer, so that errors make no port scanner.
        sock.close()
        raise PluginCallError(_unreachable(conn)) from None
    try:
        # Type 0 lets the server infer a value's type from the query, as for a
        # literal (what Smarter's psycopg2 sends). Where the query gives nothing to
        # infer from (`CONCAT('%', {keyword}, '%')`: could not determine data type
        # of parameter), it runs again with each parameter's declared type.
        inferred = {k: PG_TYPES.get(types.get(k, ""), 25) if v is None else 0 for k, v in params.items()}
        declared = {k: PG_TYPES.get(types.get(k, ""), 25) for k in params}
        for oids in (inferred, declared):
            db.run("START TRANSACTION READ ONLY")
            try:
                db.run(f"DECLARE smarter_rows NO SCROLL CURSOR FOR {sql}", types=oids or None, **{k: _bindable(v) for k, v in params.items()})
                break
            except pg8000.native.DatabaseError as exc:
                if _pg_code(exc) != INDETERMINATE_DATATYPE or oids is declared:
                    raise
                db.run("ROLLBACK")
        rows = db.run(f"FETCH FORWARD {int(limit) + 1} FROM smarter_rows")
        columns = [c["name"] for c in db.columns or []]
        return columns, [list(r) for r in rows[:limit]], len(rows) > limit
    except pg8000.native.DatabaseError as exc:
        message = _pg_message(exc)
        if "statement timeout" in message:
            raise PluginCallError(f"the query ran longer than {timeout:g} s") from None
        raise PluginCallError(f"the query failed: {message}") from None
    except (pg8000.native.InterfaceError, OSError) as exc:
        if "timed out" in str(exc):
            raise PluginCallError(f"the database did not answer within {timeout:g} s") from None
        raise PluginCallError(f"the database connection failed: {exc}") from None
    finally:
        try:
            db.run("ROLLBACK")
        except Exception:
            pass
        try:
            db.close()
        except Exception:
            pass


INDETERMINATE_DATATYPE = "42P18"


def _pg_code(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else None
    return detail.get("C", "") if isinstance(detail, dict) else ""


def _pg_message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, dict):
        return f"{detail.get('M', detail)} ({detail.get('C', '')})"
    return str(detail)


# --- MySQL and MariaDB -------------------------------------------------------------------

# What one query may read from the server, all packets counted: the rows
# themselves are cut to MAX_RESULT_BYTES later (sql.shape_result); this stops
# a row of a gigabyte before it is in memory.
MYSQL_MAX_READ_BYTES = 4 * 1024 * 1024
_BIND = re.compile(r":(p_[A-Za-z0-9_]+)")


class _ReadCapExceeded(Exception):
    pass


def _mysql_class():
    """PyMySQL's Connection, counting every byte it reads (imported on first use)."""
    global _MySQLConnection
    if _MySQLConnection is None:
        import pymysql

        class Capped(pymysql.connections.Connection):
            read_cap = MYSQL_MAX_READ_BYTES
            bytes_read = 0

            def _read_bytes(self, num_bytes):
                self.bytes_read += num_bytes
                if self.bytes_read > self.read_cap:
                    self._force_close()
                    raise _ReadCapExceeded()
                return super()._read_bytes(num_bytes)

        _MySQLConnection = Capped
    return _MySQLConnection


_MySQLConnection = None


def mysql_query(named: str) -> str:
    """`:p_name` bind parameters (sqltext.to_named) in PyMySQL's `%(p_name)s`
    form, every literal `%` doubled (PyMySQL formats the query with `%`), in
    code and in string literals alike; values are escaped by the driver."""
    from . import sqltext

    parts = []
    for seg in sqltext.segments(named):
        text = seg.text.replace("%", "%%")
        parts.append(_BIND.sub(lambda m: f"%({m.group(1)})s", text) if seg.kind == "code" else text)
    return "".join(parts)


def run_mysql(conn: dict[str, Any], sql: str, params: dict[str, Any], limit: int, timeout: float, context: PluginContext, types: dict[str, str]) -> Rows:
    """MySQL or MariaDB, with PyMySQL: a READ ONLY transaction with the
    server's statement timeout (max_statement_time on MariaDB,
    max_execution_time on MySQL), an unbuffered cursor so that only limit + 1
    rows are read, every read from the server counted against
    MYSQL_MAX_READ_BYTES, LOCAL INFILE off, the socket from the egress policy,
    TLS verified as for PostgreSQL (sslMode, sslCa, sslCert, sslKey); the
    connection is closed, never reused, without reading what is left."""
    import pymysql

    user, password = _pg_credentials(conn, context)
    mode = conn.get("sslMode", "verify-full")
    tls = _pg_ssl(mode, conn, context)
    sock = _pg_socket(conn, timeout + 1.5, "MySQL")
    Capped = _mysql_class()
    try:
        db = Capped(
            host=conn["hostname"],  # the name TLS verifies; the socket is already connected to the checked address
            port=int(conn.get("port", 3306)),
            user=user,
            password=password or "",
            database=conn.get("database"),
            connect_timeout=timeout + 1.5,
            read_timeout=timeout + 1.5,
            write_timeout=timeout + 1.5,
            local_infile=False,
            charset="utf8mb4",
            autocommit=False,
            defer_connect=True,
            **({"ssl_disabled": True} if tls is False else {"ssl": tls}),
            # The server parses string literals as sqltext.segments does (no backslash escapes).
            init_command="SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
        )
        db.connect(sock)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise PluginCallError(f"cannot connect to the database: its TLS certificate did not verify ({exc.verify_message}); sslMode {mode}") from None
    except pymysql.err.OperationalError as exc:
        sock.close()
        code = exc.args[0] if exc.args else 0
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ssl.SSLCertVerificationError):  # PyMySQL wraps it (2003)
            raise PluginCallError(f"cannot connect to the database: its TLS certificate did not verify ({cause.verify_message}); sslMode {mode}") from None
        if isinstance(code, int) and 1000 <= code < 2000:  # the server answered: access denied, no such database...
            raise PluginCallError(f"cannot connect to the database: {exc.args[1] if len(exc.args) > 1 else exc} ({code})") from None
        raise PluginCallError(_unreachable(conn, "MySQL")) from None
    except (pymysql.err.MySQLError, _ReadCapExceeded, OSError, ValueError, KeyError, IndexError, struct_error):
        sock.close()
        raise PluginCallError(_unreachable(conn, "MySQL")) from None
    try:
        cursor = db.cursor(pymysql.cursors.SSCursor)
        mariadb = "mariadb" in (db.get_server_info() or "").lower()
        if mariadb:
            cursor.execute(f"SET SESSION max_statement_time = {max(0.001, timeout):.3f}")
        else:
            cursor.execute(f"SET SESSION max_execution_time = {max(1, int(timeout * 1000))}")
        cursor.execute("START TRANSACTION READ ONLY")
        cursor.execute(mysql_query(sql), {k: _bindable(v) for k, v in params.items()} or None)
        rows = cursor.fetchmany(limit + 1)
        columns = [d[0] for d in cursor.description or []]
        return columns, [list(r) for r in rows[:limit]], len(rows) > limit
    except _ReadCapExceeded:
        raise PluginCallError(f"the answer was larger than {MYSQL_MAX_READ_BYTES // (1024 * 1024)} MiB; ask for fewer or smaller columns") from None
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args else 0
        message = exc.args[1] if len(exc.args) > 1 else str(exc)
        if code in (1969, 3024) or "max_statement_time" in str(message) or "execution time exceeded" in str(message):
            raise PluginCallError(f"the query ran longer than {timeout:g} s") from None
        if isinstance(code, int) and code >= 2000:  # client side: lost connection, timeout
            raise PluginCallError(f"the database did not answer within {timeout:g} s" if "timed out" in str(message) else f"the database connection failed: {message}") from None
        raise PluginCallError(f"the query failed: {message} ({code})") from None
    except OSError as exc:
        raise PluginCallError(f"the database did not answer within {timeout:g} s" if "timed out" in str(exc) else f"the database connection failed: {exc}") from None
    finally:
        # Closed without draining the unbuffered result: what the server has not sent stays there.
        result = getattr(db, "_result", None)
        if result is not None:
            result.unbuffered_active = False  # PyMySQL would read the rest on garbage collection
        db._force_close()


# --- Aurora through the RDS Data API -----------------------------------------------------


_arns = TTLCache(lambda: 300.0)


def _secret_arn(account: str, name: str) -> str:
    """The Data API wants an ARN; the manifest names a secret under the account's prefix."""

    def load() -> str:
        sm = scoped_aws.client("secretsmanager", account)
        try:
            return sm.describe_secret(SecretId=account_secret_id(account, name))["ARN"]
        except sm.exceptions.ResourceNotFoundException:
            raise PluginCallError(f"the secret {name!r} does not exist for this account") from None

    return _arns.get_or_load((account, name), load)


def data_api_parameters(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Bind values in the Data API's typed form."""
    out = []
    for name, value in params.items():
        value = _bindable(value)
        if value is None:
            field = {"isNull": True}
        elif isinstance(value, bool):
            field = {"booleanValue": value}
        elif isinstance(value, int):
            field = {"longValue": value}
        elif isinstance(value, float):
            field = {"doubleValue": value}
        else:
            field = {"stringValue": str(value)}
        out.append({"name": name, "value": field})
    return out


def _data_api_value(field: dict[str, Any]) -> Any:
    if field.get("isNull"):
        return None
    for key in ("stringValue", "longValue", "doubleValue", "booleanValue"):
        if key in field:
            return field[key]
    if "blobValue" in field:
        return json_value(field["blobValue"])
    if "arrayValue" in field:
        array = field["arrayValue"]
        for values in array.values():
            return [(_data_api_value(v) if isinstance(v, dict) else v) for v in values]
    return None


def run_aurora(conn: dict[str, Any], sql: str, params: dict[str, Any], limit: int, timeout: float, context: PluginContext, types: dict[str, str]) -> Rows:
    """ExecuteStatement with the account's secret; the query was checked to be
    a single SELECT when the manifest was applied (and again here)."""
    request: dict[str, Any] = {
        "resourceArn": conn["resourceArn"],
        "secretArn": _secret_arn(context.account, conn["secret"]),
        "sql": sql,
        "parameters": data_api_parameters(params),
        "includeResultMetadata": True,
    }
    if conn.get("database"):
        request["database"] = conn["database"]
    if conn.get("schema"):
        request["schema"] = conn["schema"]
    # Credentials scoped to this account's Aurora clusters and secrets (see scoped_aws).
    client = scoped_aws.client("rds-data", context.account)
    try:
        out = client.execute_statement(**request)
    except client.exceptions.ClientError as exc:
        raise PluginCallError(f"the query failed: {exc.response.get('Error', {}).get('Message', exc)}") from None
    columns = [c.get("label") or c.get("name") or f"column{i}" for i, c in enumerate(out.get("columnMetadata") or [])]
    records = out.get("records") or []
    rows = [[_data_api_value(f) for f in record] for record in records[: limit + 1]]
    if not columns and rows:
        columns = [f"column{i}" for i in range(len(rows[0]))]
    return columns, rows[:limit], len(records) > limit


ENGINES = {"sqlite": run_sqlite, "postgresql": run_postgresql, "mysql": run_mysql, "aurora": run_aurora}
