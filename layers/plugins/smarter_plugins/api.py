"""The api plugin: the model fills in parameters, the plugin calls a REST
endpoint of the plugin's ApiConnection and hands back the answer.

The connection fixes the host (base URL), the credentials (an account
secret) and the limits; the plugin's apiData fixes the endpoint, method,
query, headers and body. The model's arguments only ever fill `{name}`
templates and the query string or JSON body, so it cannot choose the host
or add headers. Every call goes through safe_http (no private addresses).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlencode

from pydantic import Field, field_validator

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

from . import common, safe_http
from .common import (
    check_connection_exists,
    check_plugin_class,
    connection_spec,
    name_values,
    tool_description,
    validate,
)

DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
USER_AGENT = "smarter-serverless-plugin/1"
TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
# Set by the plugin itself, or by the connection's secret: never by a manifest header.
RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "authorization", "proxy-authorization", "te", "upgrade", "accept-encoding"}
BODY_METHODS = ("POST", "PUT", "PATCH")

AUTH_METHODS = ("none", "bearer", "token", "basic", "api_key")
# Smarter's proxy fields: null is accepted, a value refused.
UNSUPPORTED = common.proxy_fields("proxyProtocol", "proxyHost", "proxyPort", "proxyUsername", "proxyPassword")


# Headers a value from a Secret may set: the credential ones the plugin would otherwise reserve.
SECRET_SETTABLE = {"authorization"}


def _check_headers(headers: dict[str, Any], path: str) -> dict[str, Any]:
    """Fixed header values, or `{secret: NAME}`: the value of the account
    Secret NAME, read at call time (never stored in the manifest)."""
    out: dict[str, Any] = {}
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise ManifestError(f"{path}.{name}", "not a valid header name")
        reference = common.secret_value_reference(value, f"{path}.{name}")
        if reference is not None:
            if name.lower() in RESERVED_HEADERS - SECRET_SETTABLE:
                raise ManifestError(f"{path}.{name}", "this header is set by the plugin")
            out[name] = reference
            continue
        if name.lower() in RESERVED_HEADERS:
            if name.lower() in SECRET_SETTABLE:
                raise ManifestError(f"{path}.{name}", common.INLINE_CREDENTIAL_HINT)
            raise ManifestError(f"{path}.{name}", "this header is set by the plugin")
        if common.looks_like_credential(name):
            raise ManifestError(f"{path}.{name}", common.INLINE_CREDENTIAL_HINT)
        text = value if isinstance(value, str) else json.dumps(value)
        if common.value_looks_like_credential(text):
            raise ManifestError(f"{path}.{name}", common.INLINE_CREDENTIAL_HINT)
        if "\r" in text or "\n" in text or "\0" in text:
            raise ManifestError(f"{path}.{name}", "a header value cannot contain line breaks")
        out[name] = text
    return out


# --- ApiConnection ---------------------------------------------------------------------


class ApiConnectionData(Strict):
    baseUrl: str
    authMethod: Literal["none", "bearer", "token", "basic", "api_key"] = "none"
    secret: str | None = Field(default=None, description="the account secret holding the key, token or user:password")
    apiKeyHeader: str = "X-API-Key"
    headers: dict[str, Any] | list[dict[str, Any]] | None = None
    timeout: float = Field(default=10, gt=0, le=300)
    maxResponseBytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1, le=MAX_RESPONSE_BYTES)
    allowHosts: list[str] = Field(default_factory=list, description="when given, the only hosts (host, or host:port for that port only) this connection may reach (redirects included); it narrows the operator's egress policy, never widens it")

    @field_validator("baseUrl")
    @classmethod
    def _url(cls, value: str) -> str:
        return common.http_url(value, "https://api.example.com/v1",
                               query_hint="the base URL has no query or fragment; put query parameters in the plugin's urlParams")

    @field_validator("secret")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        return common.secret_name(value)

    @field_validator("allowHosts")
    @classmethod
    def _allow_hosts(cls, hosts: list[str]) -> list[str]:
        return common.allow_hosts(hosts)


def _smarter_auth_method(connection: Any) -> Any:
    """Smarter's `authenticationMethod` is `authMethod` here (same values)."""
    if not isinstance(connection, dict) or "authenticationMethod" not in connection:
        return connection
    connection = dict(connection)
    method = connection.pop("authenticationMethod")
    if method is None:
        return connection
    if method not in AUTH_METHODS:
        raise ManifestError("spec.connection.authenticationMethod", f"one of {', '.join(AUTH_METHODS)} (as authMethod), got {method!r}")
    if connection.get("authMethod") not in (None, method):
        raise ManifestError("spec.connection.authenticationMethod", f"says {method!r} but authMethod says {connection['authMethod']!r}; keep one")
    connection["authMethod"] = method
    return connection


class ApiConnectionSpec(Strict):
    connection: ApiConnectionData


# --- ApiPlugin -------------------------------------------------------------------------


class ApiData(Strict):
    description: str | None = None
    endpoint: str = Field(min_length=1)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    urlParams: dict[str, Any] | list[dict[str, Any]] | None = None
    headers: dict[str, Any] | list[dict[str, Any]] | None = None
    body: Any = None
    parameters: Any = None
    testValues: Any = None
    limit: int | None = Field(default=None, ge=1, le=10_000)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("endpoint")
    @classmethod
    def _path(cls, value: str) -> str:
        if "://" in value or value.startswith("//"):
            raise ValueError("a path below the connection's baseUrl such as /courses/{course_id}; the host comes from the connection")
        if any(c in value for c in "\r\n\t #"):
            raise ValueError("a URL path cannot contain spaces, line breaks or '#'")
        return value


class ApiSpec(Strict):
    selector: Selector = Field(default_factory=Selector)
    prompt: PromptOverride = Field(default_factory=PromptOverride)
    connection: str = Field(min_length=1)
    apiData: ApiData


def _templates(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(TEMPLATE.findall(value))
    if isinstance(value, dict):
        return set().union(*(_templates(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_templates(v) for v in value)) if value else set()
    return set()


def _fill(value: Any, args: dict[str, Any]) -> Any:
    """`"{name}"` alone becomes the argument itself (typed); inside text it is substituted as text."""
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value)
        if whole:
            return args.get(whole.group(1))
        return TEMPLATE.sub(lambda m: "" if args.get(m.group(1)) is None else str(args[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: _fill(v, args) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, args) for v in value]
    return value


class ApiPlugin:
    plugin_class: ClassVar[str] = "api"
    manifest_kinds: ClassVar[tuple[str, ...]] = ("ApiPlugin",)
    connection_kind: ClassVar[str | None] = "ApiConnection"

    # --- manifests ---

    def validate(self, manifest: dict[str, Any]) -> dict[str, Any]:
        validate_plugin_name(manifest)
        check_plugin_class(manifest, self.plugin_class)
        spec = validate(ApiSpec, manifest.get("spec"), "spec")
        data = spec.apiData
        schema = parameters_schema(data.parameters, "spec.apiData.parameters")
        declared = set(schema["properties"])
        for field in ("endpoint", "urlParams", "headers", "body"):
            unknown = _templates(getattr(data, field)) - declared
            if field == "headers" and _templates(data.headers):
                raise ManifestError("spec.apiData.headers", "headers are fixed; the model's arguments go in the endpoint, urlParams or body")
            if unknown:
                raise ManifestError(f"spec.apiData.{field}", f"{{{sorted(unknown)[0]}}} is not a declared parameter")
        out = spec.model_dump(exclude_none=True)
        url_params = name_values(data.urlParams, "spec.apiData.urlParams", key_names=("key", "name"))
        url_params = common.refuse_inline_credentials(url_params, "spec.apiData.urlParams", templated=_templates)
        out["apiData"].update(
            parameters=schema,
            urlParams=url_params,
            headers=_check_headers(name_values(data.headers, "spec.apiData.headers"), "spec.apiData.headers"),
            testValues=test_values(data.testValues, schema, "spec.apiData.testValues"),
            description=tool_description(manifest, data.description, "spec.apiData.description"),
        )
        found = check_connection_exists(manifest, self.connection_kind)
        conn = ((found or {}).get("spec") or {}).get("connection") or {}
        if conn.get("authMethod", "none") != "none":
            taken = "authorization" if conn["authMethod"] != "api_key" else conn.get("apiKeyHeader", "X-API-Key").lower()
            clash = next((h for h in out["apiData"]["headers"] if h.lower() == taken), None)
            if clash:
                raise ManifestError(f"spec.apiData.headers.{clash}", f"the connection {manifest['spec']['connection']!r} sets this header (authMethod {conn['authMethod']}); keep one of them")
        return out

    def validate_connection(self, manifest: dict[str, Any]) -> dict[str, Any]:
        raw = manifest.get("spec") or {}
        connection = raw.get("connection") if isinstance(raw, dict) else None
        # Smarter's `apiKey` names the Secret (as `secret` does here).
        connection = common.unsupported_unless_null(common.secret_reference(connection, "spec.connection", "apiKey"), "spec.connection", UNSUPPORTED)
        connection = _smarter_auth_method(connection)
        if isinstance(raw, dict) and "connection" in raw:
            raw = {**raw, "connection": connection}
        spec = validate(ApiConnectionSpec, raw, "spec")
        conn = spec.connection
        if conn.authMethod != "none" and not conn.secret:
            raise ManifestError("spec.connection.secret", f"authMethod {conn.authMethod} needs the name of the account secret that holds the credential")
        if conn.authMethod == "api_key" and not HEADER_NAME.match(conn.apiKeyHeader):
            raise ManifestError("spec.connection.apiKeyHeader", "not a valid header name")
        common.check_url_at_apply(conn.baseUrl, conn.allowHosts, "spec.connection.baseUrl")
        out = spec.model_dump(exclude_none=True)
        out["connection"]["headers"] = _check_headers(name_values(conn.headers, "spec.connection.headers"), "spec.connection.headers")
        return out

    # --- the tool ---

    def tool(self, manifest: dict[str, Any]) -> dict[str, Any]:
        data = manifest["spec"]["apiData"]
        return {
            "type": "function",
            "function": {"name": manifest["metadata"]["name"], "description": data["description"], "parameters": data["parameters"]},
        }

    def test_arguments(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return dict(manifest["spec"]["apiData"].get("testValues") or {})

    def call(self, manifest: dict[str, Any], arguments: dict[str, Any], context: PluginContext) -> Any:
        data = manifest["spec"]["apiData"]
        conn = connection_spec(context, manifest["spec"]["connection"], self.connection_kind)
        args = coerce_arguments(data["parameters"], arguments)
        request, secrets = self._build(data, conn, args, context)
        try:
            response = safe_http.fetch(request)
        except safe_http.BlockedAddress as exc:
            raise PluginCallError(common.without(f"refused: {exc}", secrets)) from None
        except safe_http.FetchError as exc:
            raise PluginCallError(common.without(str(exc), secrets)) from None
        return self.result(response, data.get("limit"))

    def build_request(self, data: dict[str, Any], conn: dict[str, Any], args: dict[str, Any], context: PluginContext) -> safe_http.Request:
        return self._build(data, conn, args, context)[0]

    def _build(self, data: dict[str, Any], conn: dict[str, Any], args: dict[str, Any], context: PluginContext) -> tuple[safe_http.Request, list[str]]:
        """The request, and the Secret values it carries (kept out of any error message)."""
        used: set[str] = set()

        def segment(match: re.Match) -> str:
            name = match.group(1)
            used.add(name)
            value = args.get(name)
            if value is None:
                raise PluginCallError(f"{name} is needed to build the URL")
            text = str(value)
            if text in (".", ".."):
                raise PluginCallError(f"{name} cannot be {text!r}")
            return quote(text, safe="")

        path = TEMPLATE.sub(segment, data["endpoint"])
        url = conn["baseUrl"].rstrip("/") + "/" + path.lstrip("/")
        used |= _templates(data.get("urlParams")) | _templates(data.get("body"))

        secret_values: list[str] = []

        def from_secret(value: Any) -> Any:
            if isinstance(value, dict) and set(value) == {"secret"}:
                secret_values.append(context.secret(value["secret"]))
                return secret_values[-1]
            return value

        params = {k: from_secret(v) for k, v in (data.get("urlParams") or {}).items()}
        query = {k: v for k, v in _fill(params, args).items() if v is not None}
        rest = {k: v for k, v in args.items() if k not in used and v is not None}
        method = data.get("method", "GET")
        body_value = _fill(data.get("body"), args)
        if method in BODY_METHODS:
            if rest:
                if body_value is None:
                    body_value = {}
                if not isinstance(body_value, dict):
                    raise PluginCallError("the body is not a JSON object, so arguments cannot be added to it")
                body_value = {**body_value, **rest}
        else:
            query.update(rest)
        if query:
            pairs = [(k, json.dumps(v) if isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool) else str(v)) for k, v in query.items()]
            url += ("&" if "?" in url else "?") + urlencode(pairs)

        fixed = {**conn.get("headers", {}), **data.get("headers", {})}
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **{k: from_secret(v) for k, v in fixed.items()}}
        secret_headers = tuple(k for k, v in fixed.items() if isinstance(v, dict))
        body = None
        if body_value is not None and method in BODY_METHODS:
            body = json.dumps(body_value).encode()
            headers["Content-Type"] = "application/json"
        headers.update(self.auth_headers(conn, context))
        request = safe_http.Request(
            method=method,
            url=url,
            headers=headers,
            body=body,
            timeout=min(float(conn.get("timeout", 10)), context.timeout_seconds),
            max_bytes=int(conn.get("maxResponseBytes", DEFAULT_MAX_RESPONSE_BYTES)),
            allow_hosts=tuple(conn.get("allowHosts", [])),
            credential_headers=((conn.get("apiKeyHeader", "X-API-Key"),) if conn.get("authMethod") == "api_key" else ()) + secret_headers,
        )
        return request, [v for v in secret_values if v]

    @staticmethod
    def auth_headers(conn: dict[str, Any], context: PluginContext) -> dict[str, str]:
        method = conn.get("authMethod", "none")
        if method == "none":
            return {}
        secret = context.secret(conn["secret"])
        if method == "bearer":
            return {"Authorization": f"Bearer {secret}"}
        if method == "token":
            return {"Authorization": f"Token {secret}"}
        if method == "api_key":
            return {conn.get("apiKeyHeader", "X-API-Key"): secret}
        # basic: "user:password", or JSON {"username": ..., "password": ...}
        try:
            parsed = json.loads(secret)
            if isinstance(parsed, dict):
                secret = f"{parsed.get('username', '')}:{parsed.get('password', '')}"
        except ValueError:
            pass
        return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}

    @staticmethod
    def result(response: safe_http.Response, limit: int | None) -> dict[str, Any]:
        content_type = response.headers.get("content-type", "")
        text = response.body.decode("utf-8", errors="replace")
        body: Any = text
        if not response.truncated and ("json" in content_type or text[:1] in ("{", "[")):
            try:
                body = json.loads(text)
            except ValueError:
                pass
        if not (200 <= response.status < 300):
            raise PluginCallError(f"the API answered HTTP {response.status}: {text[:500]}")
        out: dict[str, Any] = {"status": response.status}
        if isinstance(body, list) and limit and len(body) > limit:
            body, out["truncated"] = body[:limit], True
        out["body"] = body
        if response.truncated:
            out["truncated"] = True
            out["note"] = f"the response was cut at {len(response.body)} bytes (the connection's maxResponseBytes)"
        return out
