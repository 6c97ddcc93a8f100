"""The sql plugin: one read-only query of the plugin's SqlConnection, with the
model's arguments bound as parameters, answered as JSON rows.

Safety comes in layers. When the manifest is applied: the query must be a
single SELECT (no writes, locks or side-effecting functions) and every
`{name}` must be a declared parameter outside quotes. When it runs: the
arguments are checked against the parameters and bound by the driver, the
database is opened read-only (SQLite mode=ro + authorizer, a PostgreSQL
READ ONLY transaction), and at most `limit` rows come back.
"""

from __future__ import annotations

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
from smarter.schema import Strict

from . import common, sql_engines, sqltext
from .common import check_connection_exists, check_plugin_class, connection_spec, refuse_fields, tool_description, validate
from .sql_engines import json_value

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
ENGINE_ALIASES = {
    "sqlite": "sqlite", "sqlite3": "sqlite", "django.db.backends.sqlite3": "sqlite",
    "postgresql": "postgresql", "postgres": "postgresql", "django.db.backends.postgresql": "postgresql",
    "aurora": "aurora", "aurora-postgresql": "aurora", "aurora-mysql": "aurora", "rds-data": "aurora",
}
CONNECTION_HINTS = {
    "password": "name the account secret that holds the password in `secret` (never the password itself)",
    "authenticationMethod": "not needed: sqlite opens a file, postgresql uses username + secret, aurora uses resourceArn + secret",
    "useSsl": "use sslMode: disable, require or verify-full",
    "poolSize": "connections are opened per call; pooling is not configurable",
    "maxOverflow": "connections are opened per call; pooling is not configurable",
}


class SqlConnectionData(Strict):
    dbEngine: Literal["sqlite", "postgresql", "aurora"]
    database: str | None = None
    hostname: str | None = None
    port: int = Field(default=5432, ge=1, le=65535)
    username: str | None = None
    secret: str | None = None
    sslMode: Literal["disable", "require", "verify-full"] = "require"
    resourceArn: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    timeout: float = Field(default=10, gt=0, le=300)

    @field_validator("dbEngine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ENGINE_ALIASES:
            return ENGINE_ALIASES[value.lower()]
        raise ValueError(f"one of sqlite, postgresql, aurora; got {value!r}")

    @field_validator("secret")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        return common.secret_name(value)

    @model_validator(mode="after")
    def _engine_fields(self) -> "SqlConnectionData":
        needs = {"sqlite": ("database",), "postgresql": ("hostname", "database", "username"), "aurora": ("resourceArn", "secret")}
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


class SqlSpec(Strict):
    selector: Selector = Field(default_factory=Selector)
    prompt: PromptOverride = Field(default_factory=PromptOverride)
    connection: str = Field(min_length=1)
    sqlData: SqlData


# Bind names get a prefix so that no parameter name can collide with a
# driver's own keywords (pg8000's run() takes `sql`, `stream` and `types`).
BIND_PREFIX = "p_"


def check_query(sql: str, declared: set[str], path: str) -> str:
    """The query as the drivers get it (`:name` parameters), or ManifestError naming the field."""
    problem = sqltext.read_only_problem(sql)
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
        check_query(data.sqlQuery, set(schema["properties"]), "spec.sqlData.sqlQuery")
        out = spec.model_dump(exclude_none=True)
        out["sqlData"].update(
            parameters=schema,
            testValues=test_values(data.testValues, schema, "spec.sqlData.testValues"),
            description=tool_description(manifest, data.description, "spec.sqlData.description"),
        )
        check_connection_exists(manifest, self.connection_kind)
        return out

    def validate_connection(self, manifest: dict[str, Any]) -> dict[str, Any]:
        raw = manifest.get("spec") or {}
        refuse_fields(raw.get("connection"), "spec.connection", CONNECTION_HINTS)
        spec = validate(SqlConnectionSpec, raw, "spec")
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
        try:
            # Checked again here: a stored manifest may predate a rule, or have been edited in the table.
            sql = check_query(data["sqlQuery"], set(schema["properties"]), "spec.sqlData.sqlQuery")
        except ManifestError as exc:
            raise PluginCallError(f"the plugin's query is not allowed: {exc.message}") from None
        conn = connection_spec(context, manifest["spec"]["connection"], self.connection_kind)
        args = coerce_arguments(schema, arguments)
        names = sqltext.placeholders(data["sqlQuery"])
        params = {BIND_PREFIX + name: args.get(name) for name in names}
        types = {BIND_PREFIX + name: _json_type(schema["properties"].get(name, {})) for name in names}
        limit = min(int(data.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
        timeout = min(float(conn.get("timeout", 10)), context.timeout_seconds)
        columns, rows, truncated = sql_engines.ENGINES[conn["dbEngine"]](conn, sql, params, limit, timeout, context, types)
        out: dict[str, Any] = {
            "columns": columns,
            "rows": [dict(zip(columns, (json_value(v) for v in row))) for row in rows],
            "row_count": len(rows),
        }
        if truncated:
            out["truncated"] = True
            out["note"] = f"only the first {limit} rows (the plugin's limit)"
        return out
