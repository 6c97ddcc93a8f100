"""A small MCP client (Streamable HTTP) on safe_http, for the mcp plugin kind.

Why not the official SDK's client: `import mcp.client.streamable_http` took
4.9 s (best of 3, `python -X importtime`, mcp 2.3.0: its types for every
protocol revision, httpx2, anyio, starlette), against 0.2 s for this kind
and 1.9 s for the whole /mcp surface with Powertools and boto3 on the same
machine. A function would pay it on the cold start of any request whose
client has an MCP plugin, inside API Gateway's 29 s. It would also bring its own HTTP client,
which would bypass what every plugin call here goes through: the operator's
egress policy at connect and on every redirect, the connect-to-the-checked-
address rule, the call's one deadline and the byte cap (safe_http.py).

What is spoken is the client side of the handshake era, as the SDK's client
speaks it by default: `initialize` (offering 2025-06-18, accepting what the
server picks of the versions below), `notifications/initialized`, then
`tools/list` (paginated) or `tools/call`; `Mcp-Session-Id` and
`MCP-Protocol-Version` on every request after initialize. An answer is JSON
or an SSE stream (read to the end within the deadline and the byte cap; the
response with our request's id is the answer). Sessions are kept per
container for a while and initialized again when the server forgets one (404).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from . import safe_http

PROTOCOL_VERSION = "2025-06-18"
ACCEPTED_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
SESSION_SECONDS = 300.0
MAX_SESSIONS = 256
MAX_PAGES = 10
USER_AGENT = "smarter-serverless-mcp/1"

_ids = itertools.count(1)
_sessions: dict[tuple[str, str], tuple[str | None, str, float]] = {}
_sessions_lock = threading.Lock()


class McpError(Exception):
    """The server could not be reached, or answered with a protocol error."""


class McpRefused(McpError):
    """The egress policy refused an address (at connect or on a redirect)."""


@dataclass
class Endpoint:
    url: str
    headers: dict[str, str]  # the auth header, from the account's Secret
    allow_hosts: tuple[str, ...]
    max_bytes: int
    credential_headers: tuple[str, ...] = ()
    # Who the session belongs to: one account's credentials never share another's session.
    owner: str = ""


def list_tools(endpoint: Endpoint, timeout: float) -> list[dict[str, Any]]:
    """Every tool the server lists (following nextCursor, at most MAX_PAGES pages)."""
    deadline = time.monotonic() + timeout
    tools: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        result = request(endpoint, "tools/list", {"cursor": cursor} if cursor else {}, deadline)
        page = result.get("tools")
        if not isinstance(page, list):
            raise McpError("the server's tools/list answer has no tools list")
        tools.extend(t for t in page if isinstance(t, dict))
        cursor = result.get("nextCursor")
        if not isinstance(cursor, str) or not cursor:
            break
    return tools


def call_tool(endpoint: Endpoint, name: str, arguments: dict[str, Any], timeout: float) -> dict[str, Any]:
    return request(endpoint, "tools/call", {"name": name, "arguments": arguments}, time.monotonic() + timeout)


def request(endpoint: Endpoint, method: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
    """One request in a session (one initialized now when none is kept, or the kept one was forgotten)."""
    key = (endpoint.owner, endpoint.url)
    for attempt in range(2):
        session_id, version = _session(endpoint, key, deadline)
        status, message = _post(endpoint, _rpc(method, params), deadline, session_id, version)
        if status == 404 and session_id is not None and attempt == 0:
            forget(key)  # the server ended the session: one new handshake, then the request again
            continue
        return _result(status, message, method)
    raise McpError("the server keeps ending its sessions")  # pragma: no cover


def forget(key: tuple[str, str]) -> None:
    with _sessions_lock:
        _sessions.pop(key, None)


def _session(endpoint: Endpoint, key: tuple[str, str], deadline: float) -> tuple[str | None, str]:
    with _sessions_lock:
        kept = _sessions.get(key)
    if kept is not None and kept[2] > time.monotonic():
        return kept[0], kept[1]
    init = _rpc("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "smarter-serverless", "version": "1"}})
    status, message, headers = _post(endpoint, init, deadline, None, None, with_headers=True)
    result = _result(status, message, "initialize")
    version = result.get("protocolVersion")
    if version not in ACCEPTED_VERSIONS:
        raise McpError(f"the server speaks MCP {str(version)[:40]!r}; this client speaks {', '.join(ACCEPTED_VERSIONS)}")
    if not isinstance((result.get("capabilities") or {}).get("tools"), dict):
        raise McpError("the server does not offer tools (no tools capability)")
    session_id = headers.get("mcp-session-id")
    if session_id is not None and (not session_id or len(session_id) > 256 or not all(0x21 <= ord(c) <= 0x7E for c in session_id)):
        raise McpError("the server sent an invalid Mcp-Session-Id")
    _post(endpoint, {"jsonrpc": "2.0", "method": "notifications/initialized"}, deadline, session_id, version)
    with _sessions_lock:
        now = time.monotonic()
        if len(_sessions) >= MAX_SESSIONS:  # a container's sessions stay few: drop the expired ones
            for stale in [k for k, (_, _, until) in _sessions.items() if until <= now]:
                del _sessions[stale]
        _sessions[key] = (session_id, version, now + SESSION_SECONDS)
    return session_id, version


def _rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}


def _post(endpoint: Endpoint, message: dict[str, Any], deadline: float, session_id: str | None, version: str | None, *, with_headers: bool = False):
    left = deadline - time.monotonic()
    if left <= 0:
        raise McpError(f"no answer from {endpoint.url} within the timeout")
    headers = {
        **endpoint.headers,
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "User-Agent": USER_AGENT,
    }
    if session_id is not None:
        headers["Mcp-Session-Id"] = session_id
    if version is not None:
        headers["MCP-Protocol-Version"] = version
    req = safe_http.Request("POST", endpoint.url, headers, json.dumps(message).encode(), left, endpoint.max_bytes,
                            allow_hosts=endpoint.allow_hosts, credential_headers=endpoint.credential_headers)
    try:
        response = safe_http.fetch(req)
    except safe_http.BlockedAddress as exc:
        raise McpRefused(f"refused: {exc}") from None
    except safe_http.FetchError as exc:
        raise McpError(str(exc)) from None
    if response.truncated:
        raise McpError(f"the MCP server's answer is larger than {endpoint.max_bytes} bytes (maxResponseBytes)")
    if response.status in safe_http.REDIRECT_STATUSES:
        raise McpError(f"the MCP server redirected {len(response.redirects) + 1} times without answering")
    parsed = None
    if "id" in message and response.status not in (202, 404):
        parsed = _answer(response, message["id"])
    if with_headers:
        return response.status, parsed, response.headers
    return response.status, parsed


def _answer(response: safe_http.Response, request_id: Any) -> dict[str, Any] | None:
    """The JSON-RPC response to our request: the JSON body, or the matching event of an SSE stream."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    text = response.body.decode("utf-8", errors="replace")
    if content_type == "text/event-stream":
        for data in _sse_data(text):
            try:
                message = json.loads(data)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("id") == request_id and ("result" in message or "error" in message):
                return message
        return None
    if content_type == "application/json" or text.lstrip().startswith("{"):
        try:
            message = json.loads(text)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None
    return None


def _sse_data(text: str) -> list[str]:
    events, lines = [], []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            if lines:
                events.append("\n".join(lines))
                lines = []
        elif line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))
    if lines:
        events.append("\n".join(lines))
    return events


def _result(status: int, message: dict[str, Any] | None, method: str) -> dict[str, Any]:
    if message is not None and isinstance(message.get("error"), dict):
        error = message["error"]
        raise McpError(f"the MCP server refused {method}: {str(error.get('message') or '')[:500]} (code {error.get('code')})")
    if status >= 400:
        raise McpError(f"the MCP server answered {method} with HTTP {status}")
    if message is None or not isinstance(message.get("result"), dict):
        raise McpError(f"the MCP server sent no JSON-RPC answer to {method}")
    return message["result"]
