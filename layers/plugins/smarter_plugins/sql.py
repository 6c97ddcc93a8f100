"""The sql plugin: one read-only query of the plugin's SqlConnection, with the
model's arguments bound as parameters, answered as JSON rows.

Safety comes in layers. When the manifest is applied: the query must parse
(sqlglot) as a single SELECT that calls only allow-listed functions and
every `{name}` must be a declared parameter outside quotes; the connection's
host must pass the operator's egress policy, and a SQLite file must lie in
the account's own directory. When it runs: the same checks again, the
arguments are checked against the parameters and bound by the driver, the
database is opened read-only (SQLite mode=ro + authorizer + a value size
limit, a PostgreSQL or MySQL/MariaDB READ ONLY transaction over verified TLS), and at most
`limit` rows and MAX_RESULT_BYTES come back, each value cut at MAX_VALUE_BYTES.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from smarter.errors import ManifestError
from smarter.llm.plugins import (
    PluginCallError,
    PluginContext,
    PromptOverride,
    Selector,
    coerce_arguments,
    parameters_schema,
    test_values,
    validate_plugin_name,
)
from smarter.schema import Strict, warn

from smarter.tenancy import egress

from . import common, sql_engines, sqltext
from .common import check_connection_exists, check_plugin_class, connection_spec, tool_description, validate
from .sql_engines import json_value

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
ENGINE_ALIASES = {
    "sqlite": "sqlite", "sqlite3": "sqlite", "django.db.backends.sqlite3": "sqlite",
    "postgresql": "postgresql", "postgres": "postgresql", "django.db.backends.postgresql": "postgresql",
    "mysql": "mysql", "mariadb": "mysql", "django.db.backends.mysql": "mysql",
    "aurora": "aurora", "aurora-postgresql": "aurora", "aurora-mysql": "aurora", "rds-data": "aurora",
}
ENGINES = ("sqlite", "postgresql", "mysql", "aurora")
# Smarter's SqlConnection fields that mean nothing here: null is accepted, a value refused.
UNSUPPORTED = {
    "sshKnownHosts": "SSH tunnels are not supported: plugin egress is a network decision (VPC, NAT); see docs/migrating-from-smarter.md",
    **common.proxy_fields("proxyHost", "proxyPort", "proxyUsername", "proxyPassword"),
}
# Smarter's authenticationMethod: plain TCP/IP is what every engine here does.
AUTHENTICATION_METHODS = ("none", "tcpip")
POOLING = ("poolSize", "maxOverflow")


def smarter_connection(raw: Any) -> Any:
    """Smarter's SqlConnection form mapped onto ours: `password` names the
    Secret, `useSsl` becomes sslMode, null TLS/SSH/proxy fields are dropped,
    `authenticationMethod: none|tcpip` is accepted, pooling is ignored with a
    warning. Anything else stays for the model to judge."""
    path = "spec.connection"
    data = common.unsupported_unless_null(common.secret_reference(raw, path, "password"), path, UNSUPPORTED)
    if not isinstance(data, dict):
        return data
    if "authenticationMethod" in data:
        method = data.pop("authenticationMethod")
        if method is not None and method not in AUTHENTICATION_METHODS:
            raise ManifestError(
                f"{path}.authenticationMethod",
                f"only {' or '.join(AUTHENTICATION_METHODS)} (username + secret over TCP/IP); SSH tunnels and LDAP are not supported: "
                "reach the database over the network (VPC peering, a NAT or a private endpoint), see docs/migrating-from-smarter.md",
            )
    for name in POOLING:
        if name in data:
            if data.pop(name) is not None:
                warn(f"{path}.{name}", "ignored: connections are opened per call, there is no pool")
    if "useSsl" in data:
        use_ssl = data.pop("useSsl")
        if not isinstance(use_ssl, bool):
            raise ManifestError(f"{path}.useSsl", "true or false (or use sslMode: disable, require, verify-ca or verify-full)")
        if "sslMode" not in data and data.get("dbEngine") not in ("sqlite", "sqlite3", "django.db.backends.sqlite3"):
            data["sslMode"] = "verify-full" if use_ssl else "disable"
            if not use_ssl:
                warn(f"{path}.useSsl", "false means sslMode: disable, an unencrypted connection; prefer sslMode: verify-full")
    return data


TLS_SECRET_HELP = (
    "names the account Secret that holds the PEM text (a Secret manifest's name), not a file: "
    "apply a Secret whose value is the file's content and name it here"
)


class SqlConnectionData(Strict):
    dbEngine: Literal["sqlite", "postgresql", "mysql", "aurora"]
    database: str | None = None
    hostname: str | None = None
    port: int = Field(default=5432, ge=1, le=65535)
    username: str | None = None
    secret: str | None = None
    # verify-full by default; require and verify-ca check the certificate chain too (require no longer means
    # "encrypted but unverified"), and disable sends nothing over TLS.
    sslMode: Literal["disable", "require", "verify-ca", "verify-full"] = "verify-full"
    # Secrets holding PEM text: the CA that signs the server's certificate, and a client certificate and its key.
    sslCa: str | None = None
    sslCert: str | None = None
    sslKey: str | None = None
    resourceArn: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    timeout: float = Field(default=10, gt=0, le=300)

    @field_validator("dbEngine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ENGINE_ALIASES:
            return ENGINE_ALIASES[value.lower()]
        raise ValueError(f"one of {', '.join(ENGINES)}; got {value!r}")

    @field_validator("secret")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        return common.secret_name(value)

    @field_validator("sslCa", "sslCert", "sslKey")
    @classmethod
    def _tls_secret(cls, value: str | None) -> str | None:
        if value is not None and (not common.SECRET_NAME.fullmatch(value) or ".." in value or "-----BEGIN" in value):
            raise ValueError(TLS_SECRET_HELP)
        return value

    @model_validator(mode="after")
    def _engine_fields(self) -> "SqlConnectionData":
        needs = {"sqlite": ("database",), "postgresql": ("hostname", "database", "username"), "mysql": ("hostname", "database", "username"),
                 "aurora": ("resourceArn", "secret")}
        if self.dbEngine == "mysql" and "port" not in self.model_fields_set:
            self.port = 3306
        if (self.sslCa or self.sslCert or self.sslKey) and self.dbEngine not in ("postgresql", "mysql"):
            raise ValueError(f"sslCa, sslCert and sslKey are for postgresql and mysql connections, not {self.dbEngine}")
        if self.sslMode == "disable" and (self.sslCa or self.sslCert or self.sslKey):
            raise ValueError("sslCa, sslCert and sslKey need TLS: sslMode disable (or useSsl: false) sends nothing over TLS")
        if bool(self.sslCert) != bool(self.sslKey):
            raise ValueError("a client certificate needs both sslCert and sslKey")
        for name in needs[self.dbEngine]:
            if not getattr(self, name):
                raise ValueError(f"a {self.dbEngine} connection needs {name}")
        if self.dbEngine == "aurora" and not re.fullmatch(r"arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster:[A-Za-z0-9-]+", self.resourceArn or ""):
            raise ValueError("resourceArn is an Aurora cluster ARN such as arn:aws:rds:us-east-1:123456789012:cluster:my-cluster")
        return self


class SqlConnectionSpec(Strict):
    connection: SqlConnectionData


class SqlData(Strict):
    description: str | None = None
    sqlQuery: str = Field(min_length=1)
    parameters: Any = None
    testValues: Any = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    @field_validator("limit", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any) -> Any:
        return DEFAULT_LIMIT if value is None else value  # Smarter's `limit: null`: not set


class SqlSpec(Strict):
    selector: Selector = Field(default_factory=Selector)
    prompt: PromptOverride = Field(default_factory=PromptOverride)
    connection: str = Field(min_length=1)
    sqlData: SqlData


# Bind names get a prefix so that no parameter name can collide with a
# driver's own keywords (pg8000's run() takes `sql`, `stream` and `types`).
BIND_PREFIX = "p_"


def check_query(sql: str, declared: set[str], path: str, engine: str | None = None) -> str:
    """The query as the drivers get it (`:name` parameters), or ManifestError naming the field."""
    problem = sqltext.read_only_problem(sql, engine)
    if problem:
        raise ManifestError(path, problem)
    try:
        named = sqltext.to_named(sql, BIND_PREFIX)
    except sqltext.SqlTextError as exc:
        raise ManifestError(path, str(exc)) from None
    unknown = [n for n in sqltext.placeholders(sql) if n not in declared]
    if unknown:
        raise ManifestError(path, f"{{{unknown[0]}}} is not a declared parameter (spec.sqlData.parameters)")
    return named


def _json_type(prop: dict[str, Any]) -> str:
    type_ = prop.get("type", "string")
    return next((t for t in type_ if t != "null"), "string") if isinstance(type_, list) else type_


class SqlPlugin:
    plugin_class: ClassVar[str] = "sql"
    manifest_kinds: ClassVar[tuple[str, ...]] = ("SqlPlugin",)
    connection_kind: ClassVar[str | None] = "SqlConnection"

    def validate(self, manifest: dict[str, Any]) -> dict[str, Any]:
        validate_plugin_name(manifest)
        check_plugin_class(manifest, self.plugin_class)
        spec = validate(SqlSpec, manifest.get("spec"), "spec")
        data = spec.sqlData
        schema = parameters_schema(data.parameters, "spec.sqlData.parameters")
        found = check_connection_exists(manifest, self.connection_kind)
        engine = ((found or {}).get("spec") or {}).get("connection", {}).get("dbEngine")
        check_query(data.sqlQuery, set(schema["properties"]), "spec.sqlData.sqlQuery", engine)
        out = spec.model_dump(exclude_none=True)
        out["sqlData"].update(
            parameters=schema,
            testValues=test_values(data.testValues, schema, "spec.sqlData.testValues"),
            description=tool_description(manifest, data.description, "spec.sqlData.description"),
        )
        return out

    def validate_connection(self, manifest: dict[str, Any]) -> dict[str, Any]:
        raw = manifest.get("spec") or {}
        raw = {**raw, "connection": smarter_connection(raw.get("connection"))} if isinstance(raw, dict) and "connection" in raw else raw
        spec = validate(SqlConnectionSpec, raw, "spec")
        conn = spec.connection
        if conn.dbEngine in ("postgresql", "mysql"):
            reason = egress.check_at_apply(conn.hostname or "", conn.port)
            if reason:
                raise ManifestError("spec.connection.hostname", reason)
        if conn.dbEngine == "sqlite":
            account = (manifest.get("metadata") or {}).get("account") or ""
            try:
                sql_engines.sqlite_path(account, conn.database or "")
            except sql_engines.SqliteRefused as exc:
                raise ManifestError("spec.connection.database", str(exc)) from None
        return spec.model_dump(exclude_none=True, by_alias=True)

    def tool(self, manifest: dict[str, Any]) -> dict[str, Any]:
        data = manifest["spec"]["sqlData"]
        return {
            "type": "function",
            "function": {"name": manifest["metadata"]["name"], "description": data["description"], "parameters": data["parameters"]},
        }

    def test_arguments(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return dict(manifest["spec"]["sqlData"].get("testValues") or {})

    def call(self, manifest: dict[str, Any], arguments: dict[str, Any], context: PluginContext) -> Any:
        data = manifest["spec"]["sqlData"]
        schema = data["parameters"]
        conn = connection_spec(context, manifest["spec"]["connection"], self.connection_kind)
        try:
            # Checked again here: a stored manifest may predate a rule, or have been edited in the table.
            sql = check_query(data["sqlQuery"], set(schema["properties"]), "spec.sqlData.sqlQuery", conn.get("dbEngine"))
        except ManifestError as exc:
            raise PluginCallError(f"the plugin's query is not allowed: {exc.message}") from None
        args = coerce_arguments(schema, arguments)
        names = sqltext.placeholders(data["sqlQuery"])
        params = {BIND_PREFIX + name: args.get(name) for name in names}
        types = {BIND_PREFIX + name: _json_type(schema["properties"].get(name, {})) for name in names}
        limit = min(int(data.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
        timeout = min(float(conn.get("timeout", 10)), context.timeout_seconds)
        columns, rows, truncated = sql_engines.ENGINES[conn["dbEngine"]](conn, sql, params, limit, timeout, context, types)
        return shape_result(columns, rows, truncated, limit)


# What one call may hand back: a value is cut at MAX_VALUE_BYTES, and rows stop
# once the answer reaches MAX_RESULT_BYTES, so that it stays whole JSON under
# the tool loop's cut of 100,000 characters per result.
MAX_VALUE_BYTES = 16 * 1024
MAX_RESULT_BYTES = 64 * 1024


def _capped(value: Any) -> tuple[Any, bool]:
    value = json_value(value)
    if isinstance(value, str) and len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        return value.encode("utf-8")[:MAX_VALUE_BYTES].decode("utf-8", errors="ignore") + " …[cut]", True
    if isinstance(value, (list, dict)):
        text = json.dumps(value, default=str)
        if len(text.encode("utf-8")) > MAX_VALUE_BYTES:
            return text.encode("utf-8")[:MAX_VALUE_BYTES].decode("utf-8", errors="ignore") + " …[cut]", True
    return value, False


def shape_result(columns: list[str], rows: list[list[Any]], truncated: bool, limit: int) -> dict[str, Any]:
    out_rows: list[dict[str, Any]] = []
    size, values_cut, bytes_cut = 2, False, False
    for row in rows:
        shaped = {}
        for column, raw in zip(columns, row):
            shaped[column], cut = _capped(raw)
            values_cut |= cut
        row_bytes = len(json.dumps(shaped, default=str).encode("utf-8")) + 1
        if size + row_bytes > MAX_RESULT_BYTES:
            bytes_cut = True
            break
        size += row_bytes
        out_rows.append(shaped)
    out: dict[str, Any] = {"columns": columns, "rows": out_rows, "row_count": len(out_rows)}
    notes = []
    if truncated:
        notes.append(f"only the first {limit} rows (the plugin's limit)")
    if bytes_cut:
        notes.append(f"only the first {len(out_rows)} rows fit in {MAX_RESULT_BYTES // 1024} KiB")
    if values_cut:
        notes.append(f"values longer than {MAX_VALUE_BYTES // 1024} KiB were cut")
    if truncated or bytes_cut:
        out["truncated"] = True
    if notes:
        out["note"] = "; ".join(notes)
    return out
