"""The MCP endpoint on a client's host: `POST /mcp`, the Model Context Protocol's
Streamable HTTP transport, serving the client's plugins as MCP tools.

Agents, IDEs and desktop assistants that speak MCP list and call the same
tools the client's model gets, with the client's API key, on the one pipeline
(host, key and client allow-list, input limits, the journal, limits, CORS,
metrics, errors). What this server is:

- JSON-RPC 2.0 over POST, one message per request, answered with one JSON
  body (`application/json`): the transport's "stateless, JSON responses" mode,
  which is what a Lambda behind API Gateway can do. The handshake-era
  revisions are spoken (2024-11-05 to 2025-11-25, negotiated at `initialize`);
- no sessions: no `Mcp-Session-Id` is issued, so one sent is unknown (404, as
  the spec says for a session the server does not know); DELETE is 405;
- no server-initiated messages: GET (the SSE stream) is 405, as the spec lets
  a server answer; no notifications, no sampling or elicitation requests;
- `tools` only: `initialize`, `ping`, `tools/list`, `tools/call`; any other
  method is -32601. Batches (removed from the spec in 2025-06-18) are -32600.

`tools/list` names every plugin of the client with its JSON Schema, as the
tool loop offers it to the model (search-term selection aside: there is no
prompt to match). `tools/call` runs one through `llm.chat.call_tool`, the tool
loop's own path (argument checks, plugin timeout under the request's deadline,
result cap), journals it and counts it against the key's and client's limits
(`requestsPerMinute`); the journal's command is `mcp.initialize`, `mcp.tools.list`,
`mcp.tools.call`, `mcp.ping` or `mcp.notification`. A tool that fails answers `isError: true` with the
message the model would have read; an unknown tool or malformed params are
JSON-RPC errors (-32602), as the spec says.
"""

from __future__ import annotations

import json
import re
from typing import Any

from smarter.config import settings
from smarter.edge import pipeline
from smarter.edge.pipeline import Answer, Exchange, Surface
from smarter.errors import MethodNotAllowed, NotFound, SmarterError
from smarter.llm import chat
from smarter.store.journal import RequestRecord
from smarter.tenancy import limits

MCP_PATH = "/mcp"
SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"
API_KEY_HEADER = "x-api-key"
# Oldest first; the last is answered to a client that asks for one we do not speak.
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST = PROTOCOL_VERSIONS[-1]
# A client that sends no version header speaks this one (the spec's rule for servers).
ASSUMED_VERSION = "2025-03-26"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNSUPPORTED_VERSION = -32022  # the SDKs' code for an unsupported MCP-Protocol-Version
SERVER_ERROR = -32000  # refusals of ours (auth, limits) that JSON-RPC has no code for

VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]+$")
REQUEST_ID_MAX = 256


class RpcError(SmarterError):
    """A JSON-RPC error: `code` is JSON-RPC's, `status` the HTTP status it goes with."""

    type = "mcp_error"

    def __init__(self, code: int, message: str, *, status: int = 200, data: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message, headers=headers)
        self.code = code
        self.status = status
        self.data = data


def _code_for(error: SmarterError) -> int:
    if isinstance(error, RpcError):
        return error.code
    if error.status >= 500:
        return INTERNAL_ERROR
    if error.type == "bad_request" and "not valid JSON" in error.message:
        return PARSE_ERROR
    if error.status == 400 or error.status == 413:
        return INVALID_REQUEST
    return SERVER_ERROR


class McpSurface(Surface):
    """JSON-RPC errors as the body of every refusal, with the HTTP status that goes with it."""

    thing = "LLMClient"
    command = "mcp"
    allow_headers = ("Authorization", "Content-Type", "Accept", API_KEY_HEADER, VERSION_HEADER, SESSION_HEADER, "Last-Event-ID")
    expose_headers = (SESSION_HEADER, VERSION_HEADER)

    def __init__(self) -> None:
        super().__init__()
        self.request_id: Any = None

    def error_body(self, record: RequestRecord, error: SmarterError) -> dict[str, Any]:
        data = error.data if isinstance(error, RpcError) and error.data is not None else {"type": error.type, "status": error.status, "journal_key": record.key}
        return {"jsonrpc": "2.0", "id": self.request_id, "error": {"code": _code_for(error), "message": error.message, "data": data}}


def handle(raw_event: dict[str, Any], context: Any = None) -> Answer:
    """Answer one request on a client host's /mcp, on the one pipeline."""
    return pipeline.serve(_with_api_key(raw_event), context, McpSurface(), _route)


def _with_api_key(raw_event: dict[str, Any]) -> dict[str, Any]:
    """`x-api-key: <key>` (what many MCP clients configure) as `Authorization: Bearer <key>`,
    when no Authorization header is sent: the one key check then reads it."""
    headers = dict(raw_event.get("headers") or {})
    names = {k.lower(): k for k in headers}
    if "authorization" in names or API_KEY_HEADER not in names:
        return raw_event
    headers["Authorization"] = f"Bearer {str(headers[names[API_KEY_HEADER]]).strip()}"
    multi = dict(raw_event.get("multiValueHeaders") or {})
    if multi:
        multi["Authorization"] = [headers["Authorization"]]
    return {**raw_event, "headers": headers, **({"multiValueHeaders": multi} if multi else {})}


def _route(exchange: Exchange) -> Answer:
    path = (exchange.event.path or "").rstrip("/")
    if path != MCP_PATH:
        raise NotFound(f"no route for {exchange.event.http_method} {exchange.event.path}; this host's MCP endpoint is {MCP_PATH}")
    method = exchange.event.http_method
    if method != "POST":
        # GET would open the server's SSE stream (we send no server-initiated messages);
        # DELETE would end a session (we issue none). The spec's answer to both: 405.
        raise MethodNotAllowed(
            f"{method} is not supported: this MCP server is stateless and answers each POSTed JSON-RPC message with JSON; "
            "it opens no SSE stream and issues no sessions",
            headers={"Allow": "POST, OPTIONS"},
        )
    _check_origin(exchange)
    resolved = exchange.client()
    _check_transport_headers(exchange)
    body = exchange.body()
    message = _message(body)
    surface: McpSurface = exchange.surface  # type: ignore[assignment]
    surface.request_id = message.get("id")
    name = message.get("method")
    if name is None or "id" not in message:
        # A notification (notifications/initialized, cancelled) or a response: accepted, no body.
        exchange.record.command = "mcp.notification"
        return _accepted(exchange)
    # tools/call -> mcp.tools.call (and the metric McpToolsCallRequests); an unknown method is just "mcp".
    exchange.record.command = "mcp." + name.replace("/", ".") if name in METHODS else "mcp"
    params = message.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object")
    if name != "initialize":
        _check_version(exchange)
    handler = METHODS.get(name)
    if handler is None:
        raise RpcError(METHOD_NOT_FOUND, f"method {name[:64]!r} is not supported; this server answers: {', '.join(METHODS)}")
    result = handler(exchange, resolved, params)
    return exchange.json(200, {"jsonrpc": "2.0", "id": message["id"], "result": result}, _version_headers(exchange, name, result))


# --- transport checks ------------------------------------------------------------------


def _check_origin(exchange: Exchange) -> None:
    """The spec's guard against DNS rebinding: a browser's Origin must be one we allow."""
    origin = exchange.header("Origin")
    if origin and origin not in settings().cors_origins:
        raise RpcError(SERVER_ERROR, f"the Origin {origin[:200]!r} is not allowed to call this MCP server", status=403)


def _check_transport_headers(exchange: Exchange) -> None:
    session = exchange.header(SESSION_HEADER)
    if session is not None:
        if not VISIBLE_ASCII.match(session) or len(session) > 256:
            raise RpcError(INVALID_REQUEST, f"{SESSION_HEADER} must be visible ASCII characters", status=400)
        raise RpcError(
            INVALID_REQUEST,
            f"unknown session: this server is stateless and issues no {SESSION_HEADER}; send initialize again without it",
            status=404,
        )
    content_type = (exchange.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json":
        raise RpcError(INVALID_REQUEST, f"Content-Type must be application/json, got {content_type[:100]!r}", status=415)
    accept = (exchange.header("Accept") or "").lower()
    if accept and not any(kind in accept for kind in ("application/json", "*/*", "application/*")):
        raise RpcError(INVALID_REQUEST, "Accept must include application/json: this server answers with JSON", status=406)


def _check_version(exchange: Exchange) -> None:
    version = exchange.header(VERSION_HEADER)
    if version is not None and version.strip() not in PROTOCOL_VERSIONS:
        raise RpcError(
            UNSUPPORTED_VERSION,
            f"unsupported {VERSION_HEADER} {version[:40]!r}; this server speaks {', '.join(PROTOCOL_VERSIONS)}",
            status=400,
            data={"supported": list(PROTOCOL_VERSIONS), "requested": version[:40]},
        )


def _version_headers(exchange: Exchange, method: str, result: Any) -> dict[str, str]:
    if method == "initialize":
        return {VERSION_HEADER: result["protocolVersion"]}
    return {VERSION_HEADER: (exchange.header(VERSION_HEADER) or ASSUMED_VERSION).strip()}


def _message(body: Any) -> dict[str, Any]:
    if isinstance(body, list):
        raise RpcError(INVALID_REQUEST, "JSON-RPC batches are not supported (removed in MCP 2025-06-18): send one message per POST", status=400)
    if not isinstance(body, dict):
        raise RpcError(INVALID_REQUEST, "the body must be one JSON-RPC 2.0 message (a JSON object)", status=400)
    if body.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, 'not a JSON-RPC 2.0 message: "jsonrpc" must be "2.0"', status=400)
    if "id" in body:
        request_id = body["id"]
        # A string or a number; never null, a boolean, or something huge.
        if isinstance(request_id, bool) or not isinstance(request_id, (str, int)) or (isinstance(request_id, str) and len(request_id) > REQUEST_ID_MAX):
            raise RpcError(INVALID_REQUEST, f"id must be a string (at most {REQUEST_ID_MAX} characters) or an integer", status=400)
    method = body.get("method")
    if method is not None and not isinstance(method, str):
        raise RpcError(INVALID_REQUEST, "method must be a string", status=400)
    if method is None and "id" in body and "result" not in body and "error" not in body:
        raise RpcError(INVALID_REQUEST, "a request needs a method", status=400)
    return body


def _accepted(exchange: Exchange) -> Answer:
    """202 Accepted with no body: what the transport answers a notification or a response."""
    answer = exchange.json(202, None)
    answer["body"] = ""
    answer["headers"].pop("Content-Type", None)
    return answer


# --- methods ---------------------------------------------------------------------------


def _initialize(exchange: Exchange, resolved: Any, params: dict[str, Any]) -> dict[str, Any]:
    asked = params.get("protocolVersion")
    if not isinstance(asked, str) or not asked:
        raise RpcError(INVALID_PARAMS, "initialize needs params.protocolVersion (a string such as '2025-06-18')")
    version = asked if asked in PROTOCOL_VERSIONS else LATEST  # the spec: answer one we speak; the client decides
    client = resolved.doc
    return {
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {"name": f"smarter-{resolved.name}", "title": (client.get("ui") or {}).get("appName") or resolved.name, "version": "1"},
        "instructions": f"The tools of the Smarter LLM client {resolved.name!r} (account {resolved.account}).",
    }


def _ping(exchange: Exchange, resolved: Any, params: dict[str, Any]) -> dict[str, Any]:
    return {}


def _mcp_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    out = {"name": function.get("name"), "inputSchema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tools_list(exchange: Exchange, resolved: Any, params: dict[str, Any]) -> dict[str, Any]:
    cursor = params.get("cursor")
    if cursor is not None:
        raise RpcError(INVALID_PARAMS, "invalid cursor: the tool list is answered in one page")
    tools = [_mcp_tool(tool) for _, tool in chat.offered_tools(resolved)]
    exchange.record.request["tools"] = len(tools)
    return {"tools": tools}


def _tools_call(exchange: Exchange, resolved: Any, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise RpcError(INVALID_PARAMS, "tools/call needs params.name (a tool of tools/list)")
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "params.arguments must be an object")
    names = {str((tool.get("function") or {}).get("name")) for _, tool in chat.offered_tools(resolved)}
    if name not in names:
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {name[:64]!r}; the tools are: {', '.join(sorted(names)) or 'none'}")
    limits.reserve_request(exchange.record.plan, exchange.record)
    content, entry = chat.call_tool(resolved, name, arguments, exchange.record)
    failed = entry.get("outcome") != "ok"
    text = content
    if failed:
        try:
            text = str(json.loads(content).get("error") or content)
        except (ValueError, AttributeError):
            pass
    return {"content": [{"type": "text", "text": text}], "isError": failed}


METHODS = {"initialize": _initialize, "ping": _ping, "tools/list": _tools_list, "tools/call": _tools_call}


__all__ = ["MCP_PATH", "McpSurface", "PROTOCOL_VERSIONS", "handle"]
