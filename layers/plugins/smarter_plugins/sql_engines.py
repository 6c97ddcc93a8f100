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
import sqlite3
import ssl
import time
import uuid
from typing import Any
from urllib.parse import quote

from smarter.cache import TTLCache
from smarter.llm.plugins import PluginCallError, PluginContext
from smarter.store import aws
from smarter.tenancy.account_secrets import account_secret_id

Rows = tuple[list[str], list[list[Any]], bool]
# A NULL argument is sent with the parameter's declared type, so that
# `{name} IS NULL` alone does not leave PostgreSQL guessing.
PG_TYPES = {"integer": 20, "number": 1700, "boolean": 16, "string": 25}


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


def _sqlite_authorizer(action: int, *_: Any) -> int:
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


def run_sqlite(conn: dict[str, Any], sql: str, params: dict[str, Any], limit: int, timeout: float, context: PluginContext, types: dict[str, str]) -> Rows:
    """Opened read-only (mode=ro, so a missing file is an error, never created),
    with query_only on and an authorizer that denies anything but reading."""
    uri = f"file:{quote(conn['database'])}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=min(timeout, 5.0), check_same_thread=False)
    except sqlite3.Error as exc:
        raise PluginCallError(f"cannot open the database: {exc}") from None
    try:
        _sqlite_functions(db)
        db.execute("PRAGMA query_only = ON")
        db.set_authorizer(_sqlite_authorizer)
        deadline = time.monotonic() + timeout
        db.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        try:
            cursor = db.execute(sql, {k: _bindable(v) for k, v in params.items()})
            rows = cursor.fetchmany(limit + 1)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise PluginCallError(f"the query ran longer than {timeout:g} s") from None
            raise PluginCallError(f"the query failed: {exc}") from None
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


def _pg_ssl(mode: str) -> ssl.SSLContext | None:
    if mode == "disable":
        return None
    context = ssl.create_default_context()
    if mode == "require":  # encrypted, certificate not checked (libpq's sslmode=require)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def run_postgresql(conn: dict[str, Any], sql: str, params: dict[str, Any], limit: int, timeout: float, context: PluginContext, types: dict[str, str]) -> Rows:
    """In a READ ONLY transaction with a statement timeout, through a cursor
    so that only limit + 1 rows ever leave the server; always rolled back."""
    import pg8000.native  # pure Python: no compiled driver in the layer

    user, password = _pg_credentials(conn, context)
    try:
        db = pg8000.native.Connection(
            user,
            host=conn["hostname"],
            port=int(conn.get("port", 5432)),
            database=conn.get("database"),
            password=password,
            # The server's statement_timeout should fire first, with a clear message;
            # the socket timeout is the backstop for a server that does not answer at all.
            timeout=timeout + 1.5,
            ssl_context=_pg_ssl(conn.get("sslMode", "require")),
            application_name="smarter-plugin",
        )
    except pg8000.native.Error as exc:
        raise PluginCallError(f"cannot connect to the database: {_pg_message(exc)}") from None
    except OSError as exc:
        raise PluginCallError(f"cannot connect to the database: {exc.__class__.__name__}: {exc}") from None
    try:
        # Type 0 lets the server infer a value's type from the query, as for a
        # literal (what Smarter's psycopg2 sends). Where the query gives nothing to
        # infer from (`CONCAT('%', {keyword}, '%')`: could not determine data type
        # of parameter), it runs again with each parameter's declared type.
        inferred = {k: PG_TYPES.get(types.get(k, ""), 25) if v is None else 0 for k, v in params.items()}
        declared = {k: PG_TYPES.get(types.get(k, ""), 25) for k in params}
        for oids in (inferred, declared):
            db.run("START TRANSACTION READ ONLY")
            db.run(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
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


# --- Aurora through the RDS Data API -----------------------------------------------------


_arns = TTLCache(lambda: 300.0)


def _secret_arn(account: str, name: str) -> str:
    """The Data API wants an ARN; the manifest names a secret under the account's prefix."""

    def load() -> str:
        sm = aws.client("secretsmanager")
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
    client = aws.client("rds-data")
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


ENGINES = {"sqlite": run_sqlite, "postgresql": run_postgresql, "aurora": run_aurora}
