"""The mcp plugin: a remote MCP server's tools, offered to the model.

    kind: McpPlugin
    metadata: {name: docs, pluginClass: mcp, description: ...}
    spec:
      selector: {directive: always}
      connection:
        url: https://mcp.example.com/mcp      # Streamable HTTP
        secret: docs-mcp-token                # optional: an account Secret, sent as
        authHeader: Authorization             #   `Authorization: Bearer <secret>` (the defaults)
        authScheme: Bearer                    #   or `X-Api-Key: <secret>` with authScheme ""
        allowHosts: [mcp.example.com]         # optional: narrows the operator's egress policy
        timeout: 10
        maxResponseBytes: 1048576
      tools: [search, fetch_page]             # optional allow-list of the server's tool names

The server's tools are listed at apply (an apply that cannot list them is
refused, naming why) and stored with the plugin; in the request path the list
is refreshed every `toolsTtlSeconds` (300) per container, and the stored list
answers while a refresh fails. Each tool is offered as `{plugin}__{tool}`, so
two servers' `search` tools cannot collide with each other or a plugin. A
call runs in the tool loop like any plugin's: under the plugin timeout capped
by the request's deadline, through safe_http (egress at connect and on every
redirect, the byte cap), its failures an error result the model reads.
The MCP client itself is mcp_client.py (why not the SDK's: there).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from typing import Any, ClassVar

from aws_lambda_powertools import Logger
from pydantic import Field, field_validator

from smarter.errors import ManifestError
from smarter.llm.plugins import PluginCallError, PluginContext, PromptOverride, Selector, validate_plugin_name
from smarter.schema import Strict, validate_model, warn

from . import common, mcp_client
from .api import DEFAULT_MAX_RESPONSE_BYTES, HEADER_NAME, MAX_RESPONSE_BYTES, RESERVED_HEADERS

logger = Logger(child=True)

SEPARATOR = "__"
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOLS = 128
MAX_DESCRIPTION = 1024
MAX_SCHEMA_BYTES = 16 * 1024
LIST_TIMEOUT = 10.0
REMOTE_TOOL = "_mcp_tool"  # the key of the per-tool manifest view that names the server's tool


class McpConnectionData(Strict):
    url: str
    secret: str | None = Field(default=None, description="the account Secret whose value is sent in authHeader")
    authHeader: str = "Authorization"
    authScheme: str = "Bearer"
    allowHosts: list[str] = Field(default_factory=list)
    timeout: float = Field(default=10, gt=0, le=300)
    maxResponseBytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1, le=MAX_RESPONSE_BYTES)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return common.http_url(value, "https://mcp.example.com/mcp (the MCP server's Streamable HTTP endpoint)")

    @field_validator("secret")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        return common.secret_name(value)

    @field_validator("authHeader")
    @classmethod
    def _header(cls, value: str) -> str:
        if not HEADER_NAME.match(value) or (value.lower() in RESERVED_HEADERS and value.lower() != "authorization"):
            raise ValueError("a header name such as Authorization or X-Api-Key (not one the plugin sets)")
        return value

    @field_validator("authScheme")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,31}", value):
            raise ValueError("a scheme word such as Bearer, or '' to send the secret alone")
        return value

    @field_validator("allowHosts")
    @classmethod
    def _allow_hosts(cls, hosts: list[str]) -> list[str]:
        return common.allow_hosts(hosts)


class ListedTool(Strict):
    name: str
    description: str = ""
    inputSchema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class McpSpec(Strict):
    selector: Selector = Field(default_factory=Selector)
    prompt: PromptOverride = Field(default_factory=PromptOverride)
    connection: McpConnectionData
    tools: list[str] | None = Field(default=None, description="the server's tool names to offer; all when omitted")
    toolsTtlSeconds: float = Field(default=300, ge=10, le=86400)
    # Written at apply (what the server listed then); any value given is replaced.
    listedTools: list[ListedTool] = Field(default_factory=list)
    listedAt: float | None = None

    @field_validator("tools")
    @classmethod
    def _names(cls, names: list[str] | None) -> list[str] | None:
        if names is not None and (not names or len(names) > MAX_TOOLS or any(not isinstance(n, str) or not 0 < len(n) <= 128 for n in names)):
            raise ValueError(f"1 to {MAX_TOOLS} tool names of the server; omit `tools` to offer every tool")
        return names


def offered_name(plugin: str, tool: str) -> str:
    """`{plugin}__{tool}`, within the 64 characters and the alphabet a tool name may have."""
    name = f"{plugin}{SEPARATOR}{re.sub(r'[^A-Za-z0-9_-]', '_', tool)}"
    if len(name) <= 64 and re.sub(r"[^A-Za-z0-9_-]", "_", tool) == tool:
        return name
    digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
    return f"{name[:55]}_{digest}"


def _checked_tools(raw: list[dict[str, Any]], allow: list[str] | None) -> list[dict[str, Any]]:
    """The server's tools as we keep them: allow-listed, bounded, each with an object schema."""
    out = []
    for tool in raw:
        name = tool.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 128 or (allow is not None and name not in allow):
            continue
        schema = tool.get("inputSchema")
        if not isinstance(schema, dict) or schema.get("type", "object") != "object" or len(json.dumps(schema, default=str)) > MAX_SCHEMA_BYTES:
            logger.warning("an MCP tool with an unusable input schema is left out", extra={"tool": name[:128]})
            continue
        description = tool.get("description") if isinstance(tool.get("description"), str) else ""
        out.append({"name": name, "description": description[:MAX_DESCRIPTION], "inputSchema": {"type": "object", **schema}})
        if len(out) >= MAX_TOOLS:
            break
    return out


class McpPlugin:
    plugin_class: ClassVar[str] = "mcp"
    manifest_kinds: ClassVar[tuple[str, ...]] = ("McpPlugin",)
    connection_kind: ClassVar[str | None] = None

    def __init__(self) -> None:
        self._fresh: dict[tuple[str, str], tuple[float, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    # --- the manifest ---

    def validate(self, manifest: dict[str, Any]) -> dict[str, Any]:
        validate_plugin_name(manifest)
        spec = validate_model(McpSpec, manifest.get("spec"), "spec")
        conn = spec.connection
        common.check_url_at_apply(conn.url, conn.allowHosts, "spec.connection.url")
        out = spec.model_dump(exclude_none=True)
        account = (manifest.get("metadata") or {}).get("account")
        if not account:
            return out  # no account (unit tests, a file checked offline): nothing to list from
        try:
            listed = _checked_tools(mcp_client.list_tools(self._endpoint(account, out), min(conn.timeout, LIST_TIMEOUT)), spec.tools)
        except PluginCallError as exc:  # the Secret is not there yet (it may come in the same file)
            warn("spec.connection.secret", f"{exc}; the tools are listed at first use")
            return out
        except mcp_client.McpError as exc:
            raise ManifestError("spec.connection.url", f"the MCP server's tools could not be listed: {exc}") from None
        if spec.tools is not None and (missing := sorted(set(spec.tools) - {t["name"] for t in listed})):
            warn("spec.tools", f"the server lists no tool named {', '.join(map(repr, missing))}")
        out["listedTools"], out["listedAt"] = listed, time.time()
        return out

    def validate_connection(self, manifest: dict[str, Any]) -> dict[str, Any]:
        raise ManifestError("kind", "an McpPlugin's connection is in its spec.connection")

    # --- the tools ---

    def tools(self, manifest: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        plugin = manifest["metadata"]["name"]
        out = []
        for tool in self._current_tools(manifest):
            view = {**manifest, REMOTE_TOOL: tool["name"]}
            function = {"name": offered_name(plugin, tool["name"]), "description": tool["description"] or f"{tool['name']} (MCP server {plugin})",
                        "parameters": tool["inputSchema"]}
            out.append((view, {"type": "function", "function": function}))
        return out

    def tool(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """The first tool (the interface's one-tool form; the tool loop uses `tools`)."""
        offered = self.tools(manifest)
        if not offered:
            raise PluginCallError(f"the MCP server of {manifest['metadata']['name']!r} lists no tool")
        return offered[0][1]

    def _current_tools(self, manifest: dict[str, Any]) -> list[dict[str, Any]]:
        """The stored list while it is younger than the TTL; then one refresh per TTL and container."""
        spec = manifest["spec"]
        account = manifest["metadata"].get("account") or ""
        ttl = float(spec.get("toolsTtlSeconds") or 300)
        stored = spec.get("listedTools") or []
        if spec.get("listedAt") and time.time() - float(spec["listedAt"]) < ttl:
            return stored
        key = (account, manifest["metadata"]["name"])
        with self._lock:
            fresh = self._fresh.get(key)
        if fresh is not None and fresh[0] > time.monotonic():
            return fresh[1]
        try:
            listed = _checked_tools(mcp_client.list_tools(self._endpoint(account, spec), min(float(spec["connection"].get("timeout", 10)), 5.0)), spec.get("tools"))
        except (mcp_client.McpError, PluginCallError) as exc:
            logger.warning("MCP tools not refreshed; the stored list answers", extra={"plugin": key[1], "reason": str(exc)[:300]})
            listed = fresh[1] if fresh is not None else stored
        with self._lock:
            self._fresh[key] = (time.monotonic() + ttl, listed)
        return listed

    # --- a call ---

    def call(self, manifest: dict[str, Any], arguments: dict[str, Any], context: PluginContext) -> Any:
        remote = manifest.get(REMOTE_TOOL)
        spec = manifest["spec"]
        endpoint = self._endpoint(context.account, spec, context.secret)
        timeout = min(float(spec["connection"].get("timeout", 10)), context.timeout_seconds)
        secrets = [v for v in endpoint.headers.values()]
        try:
            if not isinstance(remote, str):
                # The plugin itself, not one of its tools (`smarter plugin test`): what the server lists now.
                listed = _checked_tools(mcp_client.list_tools(endpoint, timeout), spec.get("tools"))
                return {"tools": [offered_name(manifest["metadata"]["name"], t["name"]) for t in listed]}
            result = mcp_client.call_tool(endpoint, remote, arguments, timeout)
        except mcp_client.McpError as exc:
            raise PluginCallError(common.without(str(exc), secrets)) from None
        text = _text_of(result)
        if result.get("isError"):
            raise PluginCallError(f"the MCP tool {remote!r} failed: {text[:2000]}")
        return text

    def test_arguments(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _endpoint(self, account: str, spec: dict[str, Any], secret=None) -> mcp_client.Endpoint:
        conn = spec["connection"]
        headers: dict[str, str] = {}
        if conn.get("secret"):
            if secret is None:
                from smarter.tenancy.account_secrets import account_secret

                value = account_secret(account, conn["secret"])
            else:
                value = secret(conn["secret"])
            if any(c in value for c in "\r\n\0"):
                raise PluginCallError(f"the secret {conn['secret']!r} holds a line break; a header value cannot")
            scheme = conn.get("authScheme", "Bearer")
            headers[conn.get("authHeader", "Authorization")] = f"{scheme} {value}" if scheme else value
        return mcp_client.Endpoint(
            url=conn["url"],
            headers=headers,
            allow_hosts=tuple(conn.get("allowHosts") or ()),
            max_bytes=int(conn.get("maxResponseBytes") or DEFAULT_MAX_RESPONSE_BYTES),
            credential_headers=tuple(headers),
            owner=f"{account}#{hashlib.sha256(json.dumps(headers, sort_keys=True).encode()).hexdigest()[:16]}",
        )


def _text_of(result: dict[str, Any]) -> str:
    """What the model reads: the text parts; structured content as JSON when there is no text."""
    parts = []
    for item in result.get("content") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "text" and isinstance(item.get("text"), str):
            parts.append(item["text"])
        elif item.get("type") == "resource" and isinstance((item.get("resource") or {}).get("text"), str):
            parts.append(item["resource"]["text"])
        else:
            parts.append(f"[{str(item.get('type'))[:20]} content omitted]")
    if not parts and result.get("structuredContent") is not None:
        return json.dumps(result["structuredContent"], default=str)
    return "\n".join(parts)
